"""Start-up as Kubernetes runs it: `uvicorn app.main:app` / `python -m app` in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from app.config import Settings
from app.db import StartupError, connect, resolve_target

BACKEND = Path(__file__).resolve().parents[1]
SECRET = "s3cret-PASSWORD"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_uvicorn(env_extra: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OPENAI_API_KEY", "GEMINI_API_KEY")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(free_port())],
        cwd=BACKEND, env=env, capture_output=True, text=True, timeout=timeout,
    )


def test_unsupported_scheme_fails_fast_with_a_clear_message():
    result = run_uvicorn({"DATABASE_URL": f"mysql://app:{SECRET}@db:3306/todo"})
    assert result.returncode != 0
    log = result.stdout + result.stderr
    assert "startup failed: DATABASE_URL uses the unsupported scheme 'mysql'" in log
    assert "Fix: use postgresql://" in log
    assert "Traceback" not in log
    assert SECRET not in log


def test_unreachable_database_fails_after_bounded_retry():
    port = free_port()  # nothing listens there
    started = time.monotonic()
    result = run_uvicorn({
        "DATABASE_URL": f"postgresql://app:{SECRET}@127.0.0.1:{port}/todo",
        "DB_CONNECT_ATTEMPTS": "3",
        "DB_CONNECT_DELAY": "0.1",
    })
    assert result.returncode != 0
    assert time.monotonic() - started < 45
    log = result.stdout + result.stderr
    assert log.count("database not reachable yet") == 2
    assert f"DATABASE_URL: cannot connect to postgresql://app:***@127.0.0.1:{port}/todo after 3 attempt(s)" in log
    assert "Fix: check host, port" in log
    assert "Traceback" not in log
    assert SECRET not in log


def test_unavailable_driver_is_named():
    result = run_uvicorn({"DATABASE_URL": "postgresql+asyncpg://app:pw@db/todo"})
    assert result.returncode != 0
    assert "PostgreSQL driver 'asyncpg'" in result.stderr


@pytest.mark.parametrize(
    ("url", "driver", "backend"),
    [
        ("postgresql://u:p@db:5432/todo", "postgresql+psycopg", "postgresql"),
        ("postgresql+psycopg://u:p@db/todo", "postgresql+psycopg", "postgresql"),
        ("postgres://u:p@db/todo?sslmode=require", "postgresql+psycopg", "postgresql"),
        ("sqlite:////tmp/x.db", "sqlite", "sqlite"),
    ],
)
def test_resolve_target_accepts(url, driver, backend):
    target = resolve_target(Settings(database_url=url))
    assert (target.url.drivername, target.backend, target.source) == (driver, backend, "DATABASE_URL")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:p@db/todo", "unsupported scheme 'mysql'"),
        ("db.example:5432/todo", "is not a URL"),
        ("postgresql+psycopg2://u:p@db/todo", "driver 'psycopg2'"),
        ("postgresql:///todo", "no host name"),
        ("postgresql://u:p@db:notaport/todo", "could not be parsed"),
    ],
)
def test_resolve_target_rejects(url, message):
    with pytest.raises(StartupError) as info:
        resolve_target(Settings(database_url=url))
    assert message in str(info.value)
    assert str(info.value).startswith("DATABASE_URL")
    assert "Fix:" in str(info.value)


def test_sqlite_default_path_and_unwritable_path(tmp_path):
    assert resolve_target(Settings()).url.database == "/tmp/tasks.db"
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StartupError) as info:
        resolve_target(Settings(sqlite_path=str(blocker / "sub" / "tasks.db")))
    assert str(info.value).startswith("SQLITE_PATH=")


def test_retry_is_bounded_with_backoff():
    delays: list[float] = []
    settings = Settings(database_url=f"postgresql://u:p@127.0.0.1:{free_port()}/x",
                        db_connect_attempts=4, db_connect_delay=1.5, db_connect_timeout=2)
    with pytest.raises(StartupError):
        connect(settings, sleep=delays.append)
    assert delays == [1.5, 3.0, 5.0]


def test_python_m_app_honours_port_and_logs_one_line_per_request(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OPENAI_API_KEY", "GEMINI_API_KEY")}
    env.update({"PORT": str(port), "HOST": "127.0.0.1", "SQLITE_PATH": str(tmp_path / "t.db")})
    proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=BACKEND, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as resp:
                    body = json.loads(resp.read())
                break
            except OSError:
                time.sleep(0.2)
        assert body == {"status": "ok", "database": "sqlite"}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/tasks", data=b'{"title": "from a real server"}',
            headers={"content-type": "application/json", "apikey": "key-that-must-not-be-logged"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 201
        check = subprocess.run([sys.executable, "-m", "app.healthcheck"], cwd=BACKEND, env=env,
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        assert check.stdout.startswith("healthy: 200")
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    access = [line for line in output.splitlines() if "justpush.access" in line]
    assert len(access) == 3, output
    assert "GET /api/health 200" in access[0]
    assert "POST /api/tasks 201" in access[1]
    assert "GET /api/health 200" in access[2]
    assert "key-that-must-not-be-logged" not in output
    assert '"GET /api/health HTTP/1.1"' not in output  # uvicorn's own access log is off


def test_healthcheck_fails_when_nothing_listens():
    env = dict(os.environ, PORT=str(free_port()))
    check = subprocess.run([sys.executable, "-m", "app.healthcheck"], cwd=BACKEND, env=env,
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 1
    assert "unhealthy" in check.stderr
