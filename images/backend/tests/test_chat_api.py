def chat(client, message):
    response = client.post("/api/chat", json={"message": message})
    assert response.status_code == 200, response.text
    assert response.headers["x-chat-engine"] == "rules"
    body = response.json()
    assert set(body) == {"reply", "action", "task", "tasks"}
    return body


def test_add_list_complete_delete(client):
    added = chat(client, "add buy milk tomorrow")
    assert added["action"] == "add"
    assert added["task"]["title"] == "buy milk"
    assert added["task"]["due_date"] == "2025-01-16"
    assert added["tasks"] is None
    assert "buy milk" in added["reply"]
    task_id = added["task"]["id"]

    chat(client, "add call mom on friday")
    listed = chat(client, "list")
    assert listed["action"] == "list"
    assert [t["title"] for t in listed["tasks"]] == ["buy milk", "call mom"]
    assert "You have 2 tasks" in listed["reply"]

    done = chat(client, f"complete {task_id}")
    assert done["action"] == "complete"
    assert done["task"]["done"] is True
    again = chat(client, f"done {task_id}")
    assert "already done" in again["reply"]

    assert [t["title"] for t in chat(client, "show done")["tasks"]] == ["buy milk"]
    assert [t["title"] for t in chat(client, "show pending")["tasks"]] == ["call mom"]

    by_title = chat(client, "finish call mom")
    assert by_title["action"] == "complete"
    assert by_title["task"]["title"] == "call mom"

    removed = chat(client, f"delete {task_id}")
    assert removed["action"] == "delete"
    assert removed["task"]["id"] == task_id
    assert client.get(f"/api/tasks/{task_id}").status_code == 404


def test_chat_changes_are_visible_through_rest(client):
    added = chat(client, "add water plants")
    assert client.get(f"/api/tasks/{added['task']['id']}").json()["title"] == "water plants"


def test_missing_and_ambiguous_targets(client):
    missing = chat(client, "complete 42")
    assert missing["action"] == "not_found"
    assert "#42" in missing["reply"]
    assert chat(client, "delete dragons")["action"] == "not_found"

    chat(client, "add buy milk")
    chat(client, "add buy bread")
    ambiguous = chat(client, "complete buy")
    assert ambiguous["action"] == "help"
    assert len(ambiguous["tasks"]) == 2
    assert "Which one?" in ambiguous["reply"]


def test_empty_list_and_help(client):
    empty = chat(client, "list")
    assert empty["tasks"] == []
    assert "no tasks" in empty["reply"]
    assert chat(client, "sing me a song")["action"] == "help"


def test_chat_validation(client):
    assert client.post("/api/chat", json={}).status_code == 422
    assert client.post("/api/chat", json={"message": ""}).status_code == 422
    assert client.post("/api/chat", json={"message": "   "}).status_code == 422
    assert client.post("/api/chat", json={"message": "x" * 501}).status_code == 422
    assert client.post("/api/chat", json={"message": "hi", "extra": 1}).status_code == 422
