import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  API_KEY_STORAGE,
  ApiError,
  bodyMessage,
  createApiClient,
  describeHttpError,
  describeNetworkError,
  joinUrl,
  loadApiKey,
  saveApiKey,
  shortStatus,
} from "../lib/api.mjs";

/** A fetch that records calls and answers with the given status/body. */
function fakeFetch(status, body, headers = { "content-type": "application/json" }) {
  const calls = [];
  const impl = async (url, init) => {
    calls.push({ url, init });
    const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
    return new Response(status === 204 ? null : text, { status, headers });
  };
  return { impl, calls };
}

describe("joinUrl", () => {
  it("keeps relative paths by default", () => {
    assert.equal(joinUrl("", "/api/tasks"), "/api/tasks");
    assert.equal(joinUrl(undefined, "/api/tasks"), "/api/tasks");
  });
  it("joins a base without doubling slashes", () => {
    assert.equal(joinUrl("http://gw.local:8080/", "/api/tasks"), "http://gw.local:8080/api/tasks");
    assert.equal(joinUrl("http://gw.local/demo//", "api/chat"), "http://gw.local/demo/api/chat");
  });
});

describe("error mapping", () => {
  it("401 without a key asks for one", () => {
    const err = describeHttpError(401, { message: "No API key found in request" }, { hasKey: false });
    assert.equal(err.kind, "unauthorized");
    assert.match(err.message, /needs an API key/);
    assert.match(err.message, /kubectl justpush up/);
  });
  it("401 with a key says the key was rejected", () => {
    const err = describeHttpError(401, { message: "Invalid authentication credentials" }, { hasKey: true });
    assert.equal(err.kind, "unauthorized");
    assert.match(err.message, /rejected the API key/);
  });
  it("Kong's missing route is not a missing task", () => {
    assert.equal(describeHttpError(404, { message: "no Route matched with those values" }).kind, "no_route");
    const gone = describeHttpError(404, { detail: "task 9 not found" });
    assert.equal(gone.kind, "not_found");
    assert.match(gone.message, /task 9 not found/);
  });
  it("422 lists the invalid fields", () => {
    const err = describeHttpError(422, {
      detail: [{ loc: ["body", "title"], msg: "String should have at least 1 character", type: "string_too_short" }],
    });
    assert.equal(err.kind, "validation");
    assert.match(err.message, /title: String should have at least 1 character/);
  });
  it("429 mentions Retry-After", () => {
    const err = describeHttpError(429, { message: "API rate limit exceeded" }, { retryAfter: "7" });
    assert.equal(err.kind, "rate_limited");
    assert.match(err.message, /7 s/);
  });
  it("503 from the backend's database is told apart from the gateway", () => {
    const db = describeHttpError(503, { detail: "database unavailable: connection refused" });
    assert.equal(db.kind, "database");
    assert.match(db.message, /database is unavailable: connection refused/);
    const health = describeHttpError(503, { status: "error", database: "postgresql", reason: "database query failed: x" });
    assert.equal(health.kind, "database");
    for (const status of [502, 503, 504]) {
      const gw = describeHttpError(status, { message: "failure to get a peer from the ring-balancer" });
      assert.equal(gw.kind, "gateway");
      assert.match(gw.message, /cannot reach the backend service/);
    }
  });
  it("500 is a backend failure", () => {
    assert.equal(describeHttpError(500, "Internal Server Error").kind, "server");
  });
  it("network errors say the API is unreachable and where", () => {
    const err = describeNetworkError(new TypeError("fetch failed"), { base: "" });
    assert.equal(err.kind, "unreachable");
    assert.match(err.message, /Cannot reach the API at this site's \/api path/);
    const remote = describeNetworkError(new TypeError("Failed to fetch"), { base: "http://gw.example:8000" });
    assert.match(remote.message, /http:\/\/gw\.example:8000/);
  });
  it("aborts are time-outs", () => {
    const abort = new DOMException("aborted", "AbortError");
    const err = describeNetworkError(abort, { timeoutMs: 5000 });
    assert.equal(err.kind, "timeout");
    assert.match(err.message, /within 5 s/);
  });
  it("bodyMessage understands FastAPI and Kong bodies", () => {
    assert.equal(bodyMessage({ detail: "x" }), "x");
    assert.equal(bodyMessage({ message: "y" }), "y");
    assert.equal(bodyMessage(null), "");
    assert.equal(bodyMessage("plain"), "plain");
  });
});

describe("shortStatus", () => {
  it("names what is down in a few words", () => {
    assert.equal(shortStatus(describeNetworkError(new TypeError("fetch failed"))), "Backend unreachable");
    assert.equal(shortStatus(describeHttpError(502, {})), "Gateway cannot reach the backend (502)");
    assert.equal(shortStatus(describeHttpError(503, { detail: "database unavailable: x" })), "Backend up, database down");
    assert.equal(shortStatus(describeHttpError(401, {})), "API key needed");
    assert.equal(shortStatus(describeHttpError(500, {})), "Backend error (500)");
    assert.equal(shortStatus(new Error("x")), "Backend error");
  });
});

describe("createApiClient", () => {
  it("sends the apikey header only when a key is set", async () => {
    const withKey = fakeFetch(200, []);
    await createApiClient({ apiKey: " k-123 ", fetchImpl: withKey.impl }).listTasks();
    assert.equal(withKey.calls[0].url, "/api/tasks");
    assert.equal(withKey.calls[0].init.headers.apikey, "k-123");

    const without = fakeFetch(200, []);
    await createApiClient({ fetchImpl: without.impl }).listTasks();
    assert.equal("apikey" in without.calls[0].init.headers, false);
  });

  it("posts JSON and returns the parsed answer", async () => {
    const task = { id: 1, title: "buy milk", done: false, due_date: null, created_at: "", updated_at: "" };
    const f = fakeFetch(201, task);
    const client = createApiClient({ base: "http://gw:8000", fetchImpl: f.impl });
    assert.deepEqual(await client.createTask({ title: "buy milk" }), task);
    assert.equal(f.calls[0].url, "http://gw:8000/api/tasks");
    assert.equal(f.calls[0].init.method, "POST");
    assert.equal(f.calls[0].init.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(f.calls[0].init.body), { title: "buy milk" });
  });

  it("uses PATCH for updates, DELETE with 204 for deletes, POST for chat", async () => {
    const patch = fakeFetch(200, { id: 3, done: true });
    await createApiClient({ fetchImpl: patch.impl }).updateTask(3, { done: true });
    assert.equal(patch.calls[0].init.method, "PATCH");
    assert.equal(patch.calls[0].url, "/api/tasks/3");

    const del = fakeFetch(204);
    assert.equal(await createApiClient({ fetchImpl: del.impl }).deleteTask(3), null);
    assert.equal(del.calls[0].init.method, "DELETE");

    const chat = fakeFetch(200, { reply: "ok", action: "list", task: null, tasks: [] });
    const result = await createApiClient({ fetchImpl: chat.impl }).chat("list");
    assert.equal(result.action, "list");
    assert.deepEqual(JSON.parse(chat.calls[0].init.body), { message: "list" });
  });

  it("throws ApiError with the mapped kind", async () => {
    const f = fakeFetch(401, { message: "No API key found in request" });
    await assert.rejects(createApiClient({ fetchImpl: f.impl }).listTasks(), (err) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.kind, "unauthorized");
      assert.equal(err.status, 401);
      return true;
    });
  });

  it("maps a rejected fetch to 'unreachable'", async () => {
    const impl = async () => {
      throw new TypeError("fetch failed");
    };
    await assert.rejects(createApiClient({ fetchImpl: impl }).health(), { kind: "unreachable" });
  });

  it("times out with 'timeout'", async () => {
    const impl = (_url, init) =>
      new Promise((_resolve, reject) => {
        init.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      });
    await assert.rejects(createApiClient({ fetchImpl: impl, timeoutMs: 20 }).listTasks(), { kind: "timeout" });
  });

  it("rejects HTML where JSON was expected", async () => {
    const f = fakeFetch(200, "<!doctype html><p>hello</p>", { "content-type": "text/html; charset=utf-8" });
    await assert.rejects(createApiClient({ fetchImpl: f.impl }).listTasks(), (err) => {
      assert.equal(err.kind, "bad_response");
      assert.match(err.message, /text\/html/);
      return true;
    });
  });
});

describe("API key storage", () => {
  function memoryStorage() {
    const data = new Map();
    return {
      data,
      getItem: (k) => (data.has(k) ? data.get(k) : null),
      setItem: (k, v) => data.set(k, v),
      removeItem: (k) => data.delete(k),
    };
  }
  it("saves trimmed keys and clears empty ones", () => {
    const s = memoryStorage();
    assert.equal(saveApiKey(s, "  abc "), "abc");
    assert.equal(s.data.get(API_KEY_STORAGE), "abc");
    assert.equal(loadApiKey(s), "abc");
    saveApiKey(s, "   ");
    assert.equal(s.data.has(API_KEY_STORAGE), false);
    assert.equal(loadApiKey(s), "");
  });
  it("survives missing or throwing storage", () => {
    assert.equal(loadApiKey(undefined), "");
    const broken = { getItem() { throw new Error("denied"); }, setItem() { throw new Error("denied"); }, removeItem() {} };
    assert.equal(loadApiKey(broken), "");
    assert.equal(saveApiKey(broken, "k"), "k");
  });
});
