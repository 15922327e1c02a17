"""Against a real PostgreSQL server: scripts/test-demo.sh starts one on 127.0.0.1 and sets
TEST_DATABASE_URL; without it these tests are skipped with the reason shown by `pytest -ra`."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.config import Settings
from app.main import create_app

from .conftest import FIXED_TODAY

URL = os.environ.get("TEST_DATABASE_URL", "")

pytestmark = pytest.mark.skipif(
    not URL,
    reason="TEST_DATABASE_URL is not set (scripts/test-demo.sh starts PostgreSQL on 127.0.0.1 "
    "when the postgresql package is installed or installable)",
)


@pytest.fixture
def pg_client():
    app = create_app(Settings(database_url=URL), today=lambda: FIXED_TODAY)
    with TestClient(app) as client:
        with client.app.state.db.engine.begin() as conn:
            conn.execute(text("TRUNCATE tasks RESTART IDENTITY"))
        yield client


def test_health_reports_postgresql(pg_client):
    response = pg_client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "postgresql"}


def test_crud_and_chat_on_postgresql(pg_client):
    created = pg_client.post("/api/tasks", json={"title": "pg task", "due_date": "2025-03-01"})
    assert created.status_code == 201
    task = created.json()
    assert task["id"] == 1
    assert task["created_at"].endswith(("Z", "+00:00"))
    assert pg_client.patch(f"/api/tasks/{task['id']}", json={"done": True}).json()["done"] is True

    chat = pg_client.post("/api/chat", json={"message": "add buy milk tomorrow"}).json()
    assert chat["task"]["due_date"] == "2025-01-16"
    listed = pg_client.post("/api/chat", json={"message": "show pending"}).json()
    assert [t["title"] for t in listed["tasks"]] == ["buy milk"]
    assert pg_client.post("/api/chat", json={"message": "complete MILK"}).json()["task"]["done"] is True
    assert pg_client.delete(f"/api/tasks/{task['id']}").status_code == 204
    assert [t["title"] for t in pg_client.get("/api/tasks").json()] == ["buy milk"]


def test_postgres_url_forms(pg_client):
    # postgresql+psycopg:// is accepted as well as postgresql://
    alt = URL.replace("postgresql://", "postgresql+psycopg://", 1)
    app = create_app(Settings(database_url=alt))
    with TestClient(app) as client:
        assert client.get("/api/health").json()["database"] == "postgresql"
