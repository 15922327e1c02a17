// Container health check: `node healthcheck.mjs` exits 0 when /api/health answers 200.
// No dependencies (Node >= 18 has fetch); copy it next to the standalone server.js.
const port = process.env.PORT || "3000";
const url = process.env.HEALTHCHECK_URL || `http://127.0.0.1:${port}/api/health`;
const timeoutMs = Number(process.env.HEALTHCHECK_TIMEOUT_MS || 3000);

try {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = (await response.text()).slice(0, 300);
  if (response.ok) {
    console.log(`healthy: ${response.status} ${body}`);
    process.exit(0);
  }
  console.error(`unhealthy: ${url} answered ${response.status} ${body}`);
} catch (err) {
  console.error(`unhealthy: ${url} unreachable (${err && err.cause ? err.cause.code || err.cause.message : err})`);
}
process.exit(1);
