"""Optional LLM front end for the chat endpoint (OpenAI or Gemini over plain HTTPS with httpx).

The model is asked for one strict JSON object; anything else (HTTP error, time-out, invalid JSON,
a command that does not validate) raises LLMError and the caller falls back to the deterministic
parser. API keys travel only in request headers and are never logged.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .chat import Intent
from .config import Settings

log = logging.getLogger("justpush.llm")

INSTRUCTION = """You convert one message sent to a to-do list assistant into a command.
Today is {today} ({weekday}).
Reply with exactly one JSON object and nothing else: no prose, no code fences.
The object has exactly these keys:
  "action":   one of "add", "list", "complete", "delete", "help"
  "title":    for "add": the task text without any date words; for "complete"/"delete" when the
              user names the task by words instead of a number: those words; otherwise null
  "due_date": for "add" when the message gives a date (today, tomorrow, a weekday name, a date):
              that date as "YYYY-MM-DD" (a weekday name means the next such day after today);
              otherwise null
  "task_id":  for "complete"/"delete": the task number the user gave, as an integer; otherwise null
  "filter":   for "list": "all", "pending" or "done"; otherwise null
Use "help" when the message is none of these commands."""


class LLMError(RuntimeError):
    """The model could not be used for this message; the text is safe to log."""


class LLMCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)

    action: Literal["add", "list", "complete", "delete", "help"]
    title: str | None = None
    due_date: date | None = None
    task_id: int | None = None
    filter: Literal["all", "pending", "done"] | None = None

    @field_validator("title")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        return value[:200] or None

    def to_intent(self) -> Intent:
        if self.action == "add":
            if not self.title:
                raise LLMError("model returned 'add' without a title")
            return Intent("add", title=self.title, due_date=self.due_date)
        if self.action in ("complete", "delete"):
            if self.task_id is None and not self.title:
                raise LLMError(f"model returned '{self.action}' without task_id or title")
            if self.task_id is not None and self.task_id < 1:
                raise LLMError("model returned a task_id below 1")
            return Intent(self.action, task_id=self.task_id,
                          title=None if self.task_id is not None else self.title)
        if self.action == "list":
            return Intent("list", filter=self.filter or "all")
        return Intent("help")


class LLMParser:
    def __init__(self, provider: str, api_key: str, model: str, base_url: str, timeout: float,
                 transport: httpx.BaseTransport | None = None):
        if provider not in ("openai", "gemini"):
            raise ValueError(f"unknown LLM provider {provider!r}")
        self.provider = provider
        self._key = api_key
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def __repr__(self) -> str:  # never show the key
        return f"LLMParser(provider={self.provider!r}, model={self.model!r})"

    def close(self) -> None:
        self._client.close()

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def parse(self, message: str, today: date) -> Intent:
        instruction = INSTRUCTION.format(today=today.isoformat(), weekday=today.strftime("%A"))
        try:
            if self.provider == "openai":
                content = self._openai(instruction, message)
            else:
                content = self._gemini(instruction, message)
        except httpx.HTTPStatusError as exc:
            raise LLMError(f"{self.provider} answered HTTP {exc.response.status_code}") from None
        except httpx.TimeoutException:
            raise LLMError(f"{self.provider} timed out") from None
        except httpx.HTTPError as exc:
            raise LLMError(self._redact(f"{self.provider} request failed: {type(exc).__name__}: {exc}")) from None
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise LLMError(f"{self.provider} response had an unexpected shape ({type(exc).__name__})") from None
        try:
            data = json.loads(content)
        except (TypeError, ValueError):
            raise LLMError(f"{self.provider} did not answer with JSON") from None
        if not isinstance(data, dict):
            raise LLMError(f"{self.provider} answered JSON that is not an object")
        try:
            command = LLMCommand.model_validate(data)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in err["loc"]) or "object" for err in exc.errors())
            raise LLMError(f"{self.provider} answered an invalid command (fields: {fields})") from None
        return command.to_intent()

    def _openai(self, instruction: str, message: str) -> str:
        response = self._client.post(
            f"{self.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {self._key}"},
            json={
                "model": self.model,
                "temperature": 0,
                "response_format": {"type": "json_object"},
                "messages": [
                    {"role": "system", "content": instruction},
                    {"role": "user", "content": message},
                ],
            },
        )
        response.raise_for_status()
        return response.json()["choices"][0]["message"]["content"]

    def _gemini(self, instruction: str, message: str) -> str:
        response = self._client.post(
            f"{self.base_url}/models/{self.model}:generateContent",
            headers={"x-goog-api-key": self._key},
            json={
                "systemInstruction": {"parts": [{"text": instruction}]},
                "contents": [{"role": "user", "parts": [{"text": message}]}],
                "generationConfig": {"temperature": 0, "responseMimeType": "application/json"},
            },
        )
        response.raise_for_status()
        return response.json()["candidates"][0]["content"]["parts"][0]["text"]


def from_settings(settings: Settings, transport: httpx.BaseTransport | None = None) -> LLMParser | None:
    """The configured LLM, or None for the deterministic parser only.

    LLM_PROVIDER (openai|gemini|none) picks one explicitly; otherwise the first key present wins,
    OPENAI_API_KEY before GEMINI_API_KEY.
    """
    choice = settings.llm_provider
    if choice in ("none", "off", "rules"):
        return None
    if choice not in ("", "openai", "gemini"):
        log.warning("LLM_PROVIDER=%s is not one of openai, gemini, none; choosing by the keys present", choice)
        choice = ""
    if choice in ("", "openai") and settings.openai_api_key:
        return LLMParser("openai", settings.openai_api_key, settings.openai_model,
                         settings.openai_base_url, settings.llm_timeout, transport)
    if choice in ("", "gemini") and settings.gemini_api_key:
        return LLMParser("gemini", settings.gemini_api_key, settings.gemini_model,
                         settings.gemini_base_url, settings.llm_timeout, transport)
    if choice:
        log.warning("LLM_PROVIDER=%s but its API key variable is empty; using the rule-based parser", choice)
    return None
