PROTECTED = {
    ("/api/tasks", "get"), ("/api/tasks", "post"),
    ("/api/tasks/{task_id}", "get"), ("/api/tasks/{task_id}", "patch"),
    ("/api/tasks/{task_id}", "put"), ("/api/tasks/{task_id}", "delete"),
    ("/api/chat", "post"),
}


def test_document_and_security_scheme(client):
    doc = client.get("/openapi.json").json()
    assert doc["info"]["title"] == "justpush demo API"
    assert doc["openapi"].startswith("3.")
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiKey"]["type"] == "apiKey"
    assert schemes["apiKey"]["in"] == "header"
    assert schemes["apiKey"]["name"] == "apikey"


def test_security_per_operation(client):
    doc = client.get("/openapi.json").json()
    operations = {(path, method): op for path, item in doc["paths"].items() for method, op in item.items()}
    assert set(operations) == PROTECTED | {("/api/health", "get")}
    for key in PROTECTED:
        assert operations[key]["security"] == [{"apiKey": []}], key
    assert operations[("/api/health", "get")]["security"] == []


def test_served_under_api_too(client):
    assert client.app.openapi_url == "/openapi.json"
    assert client.get("/api/openapi.json").json() == client.get("/openapi.json").json()
    assert "/api/openapi.json" not in client.get("/openapi.json").json()["paths"]
