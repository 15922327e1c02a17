"""The LLM path, with httpx.MockTransport standing in for the providers."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.llm import LLMError, LLMParser, from_settings
from app.main import create_app

from .conftest import FIXED_TODAY

OPENAI_KEY = "sk-test-0penai-SECRET-value"
GEMINI_KEY = "gm-test-gemini-SECRET-value"


def openai_reply(content: str | dict) -> httpx.Response:
    text = content if isinstance(content, str) else json.dumps(content)
    return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": text}}]})


def gemini_reply(content: str | dict) -> httpx.Response:
    text = content if isinstance(content, str) else json.dumps(content)
    return httpx.Response(200, json={"candidates": [{"content": {"parts": [{"text": text}]}}]})


def make_client(tmp_path, handler, **keys):
    settings = Settings(sqlite_path=str(tmp_path / "tasks.db"), **keys)
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    app = create_app(settings, today=lambda: FIXED_TODAY, llm_transport=httpx.MockTransport(recording))
    return TestClient(app), seen


def test_openai_command_is_used(tmp_path):
    def handler(request):
        return openai_reply({"action": "add", "title": "buy oat milk", "due_date": "2025-01-16",
                             "task_id": None, "filter": None})

    client, seen = make_client(tmp_path, handler, openai_api_key=OPENAI_KEY)
    with client:
        response = client.post("/api/chat", json={"message": "I must get oat milk by tomorrow"})
    assert response.status_code == 200
    assert response.headers["x-chat-engine"] == "openai"
    body = response.json()
    assert body["action"] == "add"
    assert body["task"]["title"] == "buy oat milk"
    assert body["task"]["due_date"] == "2025-01-16"

    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert OPENAI_KEY not in str(request.url)
    payload = json.loads(request.content)
    assert payload["response_format"] == {"type": "json_object"}
    assert payload["temperature"] == 0
    system = payload["messages"][0]["content"]
    assert "2025-01-15 (Wednesday)" in system
    assert "exactly one JSON object" in system
    assert payload["messages"][1] == {"role": "user", "content": "I must get oat milk by tomorrow"}


def test_gemini_command_is_used(tmp_path):
    def handler(request):
        return gemini_reply({"action": "list", "title": None, "due_date": None, "task_id": None,
                             "filter": "done"})

    client, seen = make_client(tmp_path, handler, gemini_api_key=GEMINI_KEY)
    with client:
        client.post("/api/tasks", json={"title": "old", "done": True})
        client.post("/api/tasks", json={"title": "new"})
        response = client.post("/api/chat", json={"message": "what have I finished?"})
    assert response.headers["x-chat-engine"] == "gemini"
    body = response.json()
    assert body["action"] == "list"
    assert [t["title"] for t in body["tasks"]] == ["old"]

    (request,) = seen
    assert request.url.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert request.headers["x-goog-api-key"] == GEMINI_KEY
    assert GEMINI_KEY not in str(request.url)
    payload = json.loads(request.content)
    assert payload["generationConfig"]["responseMimeType"] == "application/json"
    assert "2025-01-15" in payload["systemInstruction"]["parts"][0]["text"]


def _raise(exc):
    def handler(request):
        raise exc
    return handler


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (lambda r: httpx.Response(500, json={"error": "boom"}), "openai answered HTTP 500"),
        (lambda r: httpx.Response(401, json={"error": {"message": f"bad key {OPENAI_KEY}"}}),
         "openai answered HTTP 401"),
        (_raise(httpx.ReadTimeout("slow")), "openai timed out"),
        (_raise(httpx.ConnectError(f"cannot connect with {OPENAI_KEY}")), "openai request failed: ConnectError"),
        (lambda r: openai_reply("Sure! I added buy milk for you."), "did not answer with JSON"),
        (lambda r: openai_reply("```json\n{\"action\": \"list\"}\n```"), "did not answer with JSON"),
        (lambda r: openai_reply("[1, 2]"), "not an object"),
        (lambda r: openai_reply({"action": "explode"}), "invalid command (fields: action)"),
        (lambda r: openai_reply({"action": "add", "title": None}), "'add' without a title"),
        (lambda r: openai_reply({"action": "list", "mood": "happy"}), "invalid command (fields: mood)"),
        (lambda r: openai_reply({"action": "add", "title": "x", "due_date": "soon"}), "fields: due_date"),
        (lambda r: httpx.Response(200, json={"unexpected": True}), "unexpected shape (KeyError)"),
        (lambda r: httpx.Response(200, text="<html>proxy error</html>"), "unexpected shape"),
    ],
)
def test_fallback_to_rules_on_any_llm_error(tmp_path, app_log, handler, reason):
    client, seen = make_client(tmp_path, handler, openai_api_key=OPENAI_KEY)
    with client:
        response = client.post("/api/chat", json={"message": "add buy milk tomorrow"})
    assert response.status_code == 200
    assert response.headers["x-chat-engine"] == "rules"
    body = response.json()
    assert body["action"] == "add"
    assert body["task"]["title"] == "buy milk"
    assert body["task"]["due_date"] == "2025-01-16"
    assert len(seen) == 1
    warnings = [r.getMessage() for r in app_log.records if r.name == "justpush.app"]
    assert any("using the rule-based parser" in w and reason in w for w in warnings), warnings
    assert OPENAI_KEY not in app_log.text


def test_parser_resolves_complete_by_title(tmp_path):
    def handler(request):
        return openai_reply({"action": "complete", "title": "milk", "task_id": None})

    client, _ = make_client(tmp_path, handler, openai_api_key=OPENAI_KEY)
    with client:
        client.post("/api/tasks", json={"title": "buy milk"})
        body = client.post("/api/chat", json={"message": "got the milk"}).json()
    assert body["action"] == "complete"
    assert body["task"]["done"] is True


def test_provider_choice():
    assert from_settings(Settings()) is None
    assert from_settings(Settings(openai_api_key="a")).provider == "openai"
    assert from_settings(Settings(gemini_api_key="b")).provider == "gemini"
    both = Settings(openai_api_key="a", gemini_api_key="b")
    assert from_settings(both).provider == "openai"
    assert from_settings(Settings(openai_api_key="a", gemini_api_key="b", llm_provider="gemini")).provider == "gemini"
    assert from_settings(Settings(openai_api_key="a", llm_provider="none")) is None
    assert from_settings(Settings(openai_api_key="a", llm_provider="gemini")) is None


def test_key_never_in_repr_or_errors():
    parser = LLMParser("openai", OPENAI_KEY, "m", "https://llm.invalid/v1", 1.0,
                       transport=httpx.MockTransport(_raise(httpx.ConnectError(f"no route {OPENAI_KEY}"))))
    assert OPENAI_KEY not in repr(parser)
    assert OPENAI_KEY not in repr(Settings(openai_api_key=OPENAI_KEY, gemini_api_key=GEMINI_KEY))
    with pytest.raises(LLMError) as info:
        parser.parse("add x", date(2025, 1, 15))
    assert OPENAI_KEY not in str(info.value)
    assert "***" in str(info.value)
