import pytest


def create(client, **body):
    response = client.post("/api/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_crud_round_trip(client):
    assert client.get("/api/tasks").json() == []

    task = create(client, title="  buy milk  ", due_date="2025-01-16")
    assert task["title"] == "buy milk"
    assert task["done"] is False
    assert task["due_date"] == "2025-01-16"
    assert task["id"] >= 1
    assert task["created_at"].endswith(("+00:00", "Z"))

    got = client.get(f"/api/tasks/{task['id']}")
    assert got.status_code == 200
    assert got.json() == task

    patched = client.patch(f"/api/tasks/{task['id']}", json={"done": True})
    assert patched.status_code == 200
    assert patched.json()["done"] is True
    assert patched.json()["title"] == "buy milk"
    assert patched.json()["due_date"] == "2025-01-16"

    moved = client.patch(f"/api/tasks/{task['id']}", json={"due_date": "2025-02-01", "title": "buy oat milk"})
    assert moved.json()["due_date"] == "2025-02-01"
    assert moved.json()["title"] == "buy oat milk"

    cleared = client.patch(f"/api/tasks/{task['id']}", json={"due_date": None})
    assert cleared.json()["due_date"] is None

    replaced = client.put(f"/api/tasks/{task['id']}", json={"title": "call mom"})
    assert replaced.status_code == 200
    assert replaced.json()["title"] == "call mom"
    assert replaced.json()["done"] is False

    assert [t["id"] for t in client.get("/api/tasks").json()] == [task["id"]]

    deleted = client.delete(f"/api/tasks/{task['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert client.get(f"/api/tasks/{task['id']}").status_code == 404
    assert client.get("/api/tasks").json() == []


def test_list_filters_and_order(client):
    a = create(client, title="a")
    b = create(client, title="b", done=True)
    c = create(client, title="c")
    assert [t["id"] for t in client.get("/api/tasks").json()] == [a["id"], b["id"], c["id"]]
    assert [t["id"] for t in client.get("/api/tasks?done=true").json()] == [b["id"]]
    assert [t["id"] for t in client.get("/api/tasks?done=false").json()] == [a["id"], c["id"]]


@pytest.mark.parametrize("method", ["get", "patch", "put", "delete"])
def test_missing_task_is_404(client, method):
    kwargs = {"json": {"title": "x"}} if method in ("patch", "put") else {}
    response = getattr(client, method)("/api/tasks/999", **kwargs)
    assert response.status_code == 404
    assert response.json() == {"detail": "task 999 not found"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": 42},
        {"title": "ok", "due_date": "tomorrow"},
        {"title": "ok", "due_date": "2025-02-30"},
        {"title": "ok", "done": "maybe"},
        {"title": "ok", "priority": "high"},
    ],
)
def test_create_validation_is_422(client, body):
    response = client.post("/api/tasks", json=body)
    assert response.status_code == 422, response.text


def test_update_validation(client):
    task = create(client, title="t")
    assert client.patch(f"/api/tasks/{task['id']}", json={"title": None}).status_code == 422
    assert client.patch(f"/api/tasks/{task['id']}", json={"done": None}).status_code == 422
    assert client.patch(f"/api/tasks/{task['id']}", json={"title": ""}).status_code == 422
    assert client.patch(f"/api/tasks/{task['id']}", json={"colour": "red"}).status_code == 422
    assert client.put(f"/api/tasks/{task['id']}", json={"done": True}).status_code == 422
    assert client.get("/api/tasks/0").status_code == 422
    assert client.get("/api/tasks/abc").status_code == 422
    assert client.patch(f"/api/tasks/{task['id']}", json={}).json()["title"] == "t"
