"""Storage: SQLAlchemy 2 on PostgreSQL (psycopg 3) when DATABASE_URL is set, SQLite otherwise."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import Boolean, Date, DateTime, Engine, Integer, String, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .config import Settings

log = logging.getLogger("justpush.db")

FIX_HINT = (
    "use postgresql://USER:PASSWORD@HOST:5432/DBNAME (or postgresql+psycopg://...), "
    "or unset DATABASE_URL to use SQLite at SQLITE_PATH"
)


class StartupError(RuntimeError):
    """The service cannot start; the message names the variable, the problem and the fix."""


class Base(DeclarativeBase):
    pass


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    done: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_utcnow, onupdate=_utcnow
    )


@dataclass(frozen=True)
class Target:
    """Where the data lives, resolved from the environment."""

    url: URL
    backend: str  # "sqlite" | "postgresql"
    source: str  # the variable that chose it

    def describe(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite file {self.url.database}"
        return self.url.set(drivername="postgresql").render_as_string(hide_password=True)


def resolve_target(settings: Settings) -> Target:
    """Turn DATABASE_URL / SQLITE_PATH into a SQLAlchemy URL, or raise StartupError."""
    raw = settings.database_url
    if not raw:
        path = Path(settings.sqlite_path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(
                f"SQLITE_PATH={settings.sqlite_path}: cannot create directory {path.parent} "
                f"({exc.strerror}). Fix: point SQLITE_PATH at a writable location "
                f"(for example /tmp/tasks.db) or set DATABASE_URL to a PostgreSQL database."
            ) from None
        return Target(URL.create("sqlite", database=str(path)), "sqlite", "SQLITE_PATH")

    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if not scheme:
        raise StartupError(
            f"DATABASE_URL is not a URL (no scheme://). Fix: {FIX_HINT}."
        )
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError) as exc:
        raise StartupError(f"DATABASE_URL could not be parsed ({exc}). Fix: {FIX_HINT}.") from None

    if scheme in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg3"):
        url = url.set(drivername="postgresql+psycopg")
        if not url.host and not url.query.get("host"):
            raise StartupError(f"DATABASE_URL has no host name. Fix: {FIX_HINT}.")
        return Target(url, "postgresql", "DATABASE_URL")
    if scheme.startswith("postgresql+"):
        driver = scheme.split("+", 1)[1]
        raise StartupError(
            f"DATABASE_URL asks for the PostgreSQL driver '{driver}', which this image does not "
            f"ship (it has psycopg 3). Fix: {FIX_HINT}."
        )
    if scheme == "sqlite":
        return Target(url, "sqlite", "DATABASE_URL")
    raise StartupError(
        f"DATABASE_URL uses the unsupported scheme '{scheme}' (supported: postgresql, sqlite). "
        f"Fix: {FIX_HINT}."
    )


class Database:
    def __init__(self, engine: Engine, backend: str):
        self.engine = engine
        self.backend = backend
        self.sessions = sessionmaker(bind=engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessions(bind=self.engine)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(target: Target, settings: Settings) -> Engine:
    if target.backend == "sqlite":
        return create_engine(
            target.url,
            connect_args={"check_same_thread": False, "timeout": 15},
        )
    return create_engine(
        target.url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={"connect_timeout": settings.db_connect_timeout},
    )


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


def connect(settings: Settings, sleep=time.sleep) -> Database:
    """Resolve, connect with a bounded retry, create tables. Raises StartupError on failure."""
    target = resolve_target(settings)
    engine = make_engine(target, settings)
    db = Database(engine, target.backend)
    attempts = settings.db_connect_attempts if target.backend == "postgresql" else 1
    delay = settings.db_connect_delay
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            db.ping()
            break
        except Exception as exc:  # noqa: BLE001 - any driver error means "cannot use it"
            last = _first_line(exc)
            if attempt < attempts:
                log.warning(
                    "database not reachable yet (attempt %d/%d, retrying in %.1fs): %s",
                    attempt, attempts, delay, last,
                )
                sleep(delay)
                delay = min(delay * 2, 5.0)
    else:
        engine.dispose()
        if target.backend == "sqlite":
            raise StartupError(
                f"{target.source}: cannot open {target.describe()} ({last}). Fix: point "
                f"{target.source} at a writable file, or set DATABASE_URL to a PostgreSQL database."
            )
        raise StartupError(
            f"DATABASE_URL: cannot connect to {target.describe()} after {attempts} attempt(s) "
            f"({last}). Fix: check host, port, database name and credentials in DATABASE_URL and "
            f"that the database is running and reachable from this pod, or unset DATABASE_URL to "
            f"use SQLite."
        )
    try:
        Base.metadata.create_all(engine)
    except Exception as exc:  # noqa: BLE001
        engine.dispose()
        raise StartupError(
            f"{target.source}: connected to {target.describe()} but could not create the tasks "
            f"table ({_first_line(exc)}). Fix: grant the user CREATE on the database/schema."
        ) from None
    log.info("database ready: %s", target.describe())
    return db
