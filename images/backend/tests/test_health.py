from sqlalchemy import create_engine


def test_health_ok_on_sqlite(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "sqlite"}


def test_health_needs_no_api_key(client):
    response = client.get("/api/health", headers={})
    assert response.status_code == 200


def test_health_503_when_database_fails(client, app_log):
    db = client.app.state.db
    db.engine = create_engine("sqlite:////nonexistent-dir/justpush/tasks.db")
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == "sqlite"
    assert body["reason"].startswith("database query failed: ")
    assert "unable to open database file" in body["reason"]
    assert "health: database check failed" in app_log.text


def test_task_routes_answer_503_when_database_fails(client):
    client.app.state.db.engine = create_engine("sqlite:////nonexistent-dir/justpush/tasks.db")
    response = client.get("/api/tasks")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("database unavailable: ")


def test_one_access_log_line_per_request_without_secrets(client, app_log):
    client.get("/api/tasks?token=abc", headers={"apikey": "very-secret-key"})
    lines = [r.getMessage() for r in app_log.records if r.name == "justpush.access"]
    assert len(lines) == 1
    assert lines[0].startswith("GET /api/tasks 200 ")
    assert "very-secret-key" not in app_log.text
    assert "token=abc" not in app_log.text


def test_cors_only_when_configured(tmp_path):
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    preflight = {"origin": "http://page.example", "access-control-request-method": "POST",
                 "access-control-request-headers": "apikey,content-type"}
    app = create_app(Settings(sqlite_path=str(tmp_path / "a.db"), cors_origins=("http://page.example",)))
    with TestClient(app) as client:
        response = client.options("/api/tasks", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "http://page.example"
        assert "apikey" in response.headers["access-control-allow-headers"].lower()
    plain = create_app(Settings(sqlite_path=str(tmp_path / "b.db")))
    with TestClient(plain) as client:
        assert "access-control-allow-origin" not in client.get("/api/health", headers={"origin": "http://x"}).headers
