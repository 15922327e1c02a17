import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http from "node:http";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("../healthcheck.mjs", import.meta.url));

function run(env) {
  return new Promise((resolve) => {
    execFile(process.execPath, [script], { env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code : 0, stdout, stderr }));
  });
}

function serve(status) {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: status === 200 ? "ok" : "error", path: req.url }));
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

describe("healthcheck.mjs", () => {
  it("exits 0 on 200 from /api/health at $PORT", async () => {
    const server = await serve(200);
    try {
      const result = await run({ PORT: String(server.address().port), HEALTHCHECK_URL: "" });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /healthy: 200 .*"path":"\/api\/health"/);
    } finally {
      server.close();
    }
  });
  it("exits 1 on an error status", async () => {
    const server = await serve(503);
    try {
      const result = await run({ HEALTHCHECK_URL: `http://127.0.0.1:${server.address().port}/api/health` });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /answered 503/);
    } finally {
      server.close();
    }
  });
  it("exits 1 when nothing listens", async () => {
    const server = await serve(200);
    const port = server.address().port;
    await new Promise((r) => server.close(r));
    const result = await run({ HEALTHCHECK_URL: `http://127.0.0.1:${port}/api/health` });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /unreachable/);
  });
});
