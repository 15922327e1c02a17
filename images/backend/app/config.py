"""Settings read from the environment (Kubernetes ConfigMaps and Secrets arrive as variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return max(minimum, int(raw))
    except ValueError:
        return default


def _float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return max(minimum, float(raw))
    except ValueError:
        return default


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    sqlite_path: str = "/tmp/tasks.db"
    db_connect_attempts: int = 5
    db_connect_delay: float = 1.0
    db_connect_timeout: int = 5
    openai_api_key: str = field(default="", repr=False)
    gemini_api_key: str = field(default="", repr=False)
    llm_provider: str = ""
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-4o-mini"
    gemini_base_url: str = "https://generativelanguage.googleapis.com/v1beta"
    gemini_model: str = "gemini-2.0-flash"
    llm_timeout: float = 10.0
    log_level: str = "INFO"
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        return cls(
            database_url=env.get("DATABASE_URL", "").strip(),
            sqlite_path=env.get("SQLITE_PATH", "").strip() or "/tmp/tasks.db",
            db_connect_attempts=_int("DB_CONNECT_ATTEMPTS", 5, minimum=1),
            db_connect_delay=_float("DB_CONNECT_DELAY", 1.0),
            db_connect_timeout=_int("DB_CONNECT_TIMEOUT", 5, minimum=1),
            openai_api_key=env.get("OPENAI_API_KEY", "").strip(),
            gemini_api_key=env.get("GEMINI_API_KEY", "").strip(),
            llm_provider=env.get("LLM_PROVIDER", "").strip().lower(),
            openai_base_url=env.get("OPENAI_BASE_URL", "").strip().rstrip("/")
            or "https://api.openai.com/v1",
            openai_model=env.get("OPENAI_MODEL", "").strip() or "gpt-4o-mini",
            gemini_base_url=env.get("GEMINI_BASE_URL", "").strip().rstrip("/")
            or "https://generativelanguage.googleapis.com/v1beta",
            gemini_model=env.get("GEMINI_MODEL", "").strip() or "gemini-2.0-flash",
            llm_timeout=_float("LLM_TIMEOUT_SECONDS", 10.0, minimum=0.5),
            log_level=(env.get("LOG_LEVEL", "").strip() or "INFO").upper(),
            cors_origins=tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()),
        )
