// @ts-check
/**
 * API client for the justpush demo backend, as seen through the Kong gateway.
 *
 * Pure module (no React, no DOM): `npm test` runs it under Node's built-in test runner with a
 * fake fetch. Every failure becomes an ApiError whose `message` is written for the person using
 * the page, and whose `kind` tells the UI what happened.
 */

export const API_KEY_STORAGE = "justpush.apiKey";

/**
 * @typedef {{ id: number, title: string, done: boolean, due_date: string | null,
 *             created_at: string, updated_at: string }} Task
 * @typedef {{ reply: string, action: string, task: Task | null, tasks: Task[] | null }} ChatResult
 * @typedef {{ status: string, database?: string, reason?: string }} Health
 * @typedef {"unreachable" | "timeout" | "unauthorized" | "forbidden" | "not_found" | "no_route"
 *   | "validation" | "rate_limited" | "gateway" | "database" | "server" | "bad_response"} ErrorKind
 */

export class ApiError extends Error {
  /**
   * @param {ErrorKind} kind
   * @param {string} message
   * @param {{ status?: number, url?: string }} [extra]
   */
  constructor(kind, message, extra = {}) {
    super(message);
    this.name = "ApiError";
    /** @type {ErrorKind} */
    this.kind = kind;
    /** @type {number | undefined} */
    this.status = extra.status;
    /** @type {string | undefined} */
    this.url = extra.url;
  }
}

/**
 * Join the configured base ("" = same origin, "https://gw.example", "https://gw/prefix/")
 * and an absolute API path ("/api/tasks").
 * @param {string | undefined | null} base
 * @param {string} path
 */
export function joinUrl(base, path) {
  const b = (base || "").trim().replace(/\/+$/, "");
  const p = path.startsWith("/") ? path : `/${path}`;
  return `${b}${p}`;
}

/** @param {string | undefined | null} base */
function where(base) {
  const b = (base || "").trim();
  return b ? b : "this site's /api path";
}

/**
 * The text of a FastAPI or Kong error body, if there is one.
 * @param {unknown} body
 * @returns {string}
 */
export function bodyMessage(body) {
  if (!body || typeof body !== "object") return typeof body === "string" ? body.slice(0, 200) : "";
  const o = /** @type {Record<string, unknown>} */ (body);
  if (typeof o.detail === "string") return o.detail;
  if (Array.isArray(o.detail)) {
    return o.detail
      .map((d) => {
        if (!d || typeof d !== "object") return String(d);
        const e = /** @type {{ loc?: unknown[], msg?: string }} */ (d);
        const loc = Array.isArray(e.loc) ? e.loc.filter((x) => x !== "body").join(".") : "";
        return loc ? `${loc}: ${e.msg ?? "invalid"}` : `${e.msg ?? "invalid"}`;
      })
      .join("; ");
  }
  if (typeof o.message === "string") return o.message;
  if (typeof o.reason === "string") return o.reason;
  return "";
}

/**
 * Turn an HTTP error status (and its parsed body) into a friendly, specific ApiError.
 * @param {number} status
 * @param {unknown} body
 * @param {{ hasKey?: boolean, url?: string, base?: string, retryAfter?: string | null }} [ctx]
 */
export function describeHttpError(status, body, ctx = {}) {
  const msg = bodyMessage(body);
  const extra = { status, url: ctx.url };
  if (status === 401) {
    return ctx.hasKey
      ? new ApiError("unauthorized",
          "The gateway rejected the API key (401). Check that it matches the key printed by " +
          "`kubectl justpush up`, then save it again.", extra)
      : new ApiError("unauthorized",
          "This API needs an API key (401). Paste the key printed by `kubectl justpush up` into " +
          "the API key field and save it.", extra);
  }
  if (status === 403) {
    return new ApiError("forbidden",
      `The gateway refused this request (403)${msg ? `: ${msg}` : ""}. The API key may not be allowed to call this route.`,
      extra);
  }
  if (status === 404) {
    if (/no route matched/i.test(msg)) {
      return new ApiError("no_route",
        `The gateway has no route for ${ctx.url ?? "this path"} (404). Is the demo API deployed? ` +
        "Check `kubectl justpush status`.", extra);
    }
    return new ApiError("not_found", msg ? `Not found: ${msg}.` : "Not found (404): it may have been deleted.", extra);
  }
  if (status === 422 || status === 400) {
    return new ApiError("validation", `The API did not accept the request: ${msg || `HTTP ${status}`}.`, extra);
  }
  if (status === 429) {
    const wait = ctx.retryAfter ? ` Try again in ${ctx.retryAfter} s.` : " Wait a moment and try again.";
    return new ApiError("rate_limited", `Too many requests: the gateway's rate limit was reached (429).${wait}`, extra);
  }
  if (status === 503 && /^database unavailable/i.test(msg)) {
    return new ApiError("database", `The backend is running but its database is unavailable: ${msg.replace(/^database unavailable:\s*/i, "")}.`, extra);
  }
  if (status === 503 && body && typeof body === "object" && "database" in body) {
    return new ApiError("database", `The backend is running but its database check fails${msg ? `: ${msg}` : ""}.`, extra);
  }
  if (status === 502 || status === 503 || status === 504) {
    return new ApiError("gateway",
      `The gateway cannot reach the backend service (${status}${msg ? `: ${msg}` : ""}). ` +
      "The backend pods may be starting or failing: check `kubectl justpush status` and `kubectl justpush logs`.",
      extra);
  }
  if (status >= 500) {
    return new ApiError("server", `The backend failed (${status})${msg ? `: ${msg}` : ""}. See \`kubectl justpush logs\`.`, extra);
  }
  return new ApiError("server", `Unexpected answer from the API (HTTP ${status})${msg ? `: ${msg}` : ""}.`, extra);
}

/**
 * Turn a fetch rejection (network down, DNS, CORS, time-out) into an ApiError.
 * @param {unknown} err
 * @param {{ base?: string, url?: string, timeoutMs?: number }} [ctx]
 */
export function describeNetworkError(err, ctx = {}) {
  if (err instanceof ApiError) return err;
  const name = err && typeof err === "object" && "name" in err ? String(err.name) : "";
  if (name === "AbortError" || name === "TimeoutError") {
    return new ApiError("timeout",
      `The API at ${where(ctx.base)} did not answer within ${Math.round((ctx.timeoutMs ?? 15000) / 1000)} s. ` +
      "The backend may be overloaded or restarting.", { url: ctx.url });
  }
  return new ApiError("unreachable",
    `Cannot reach the API at ${where(ctx.base)}: the gateway or backend is unreachable. ` +
    "Check that the cluster is running (`kubectl justpush status`) and, if the API lives on another " +
    "host, that NEXT_PUBLIC_API_BASE points at the gateway URL.", { url: ctx.url });
}

/**
 * @param {{ base?: string, apiKey?: string, fetchImpl?: typeof fetch, timeoutMs?: number }} [options]
 */
export function createApiClient(options = {}) {
  const base = options.base ?? "";
  const apiKey = (options.apiKey ?? "").trim();
  const fetchImpl = options.fetchImpl ?? globalThis.fetch.bind(globalThis);
  const timeoutMs = options.timeoutMs ?? 15000;

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @returns {Promise<any>}
   */
  async function request(method, path, body) {
    const url = joinUrl(base, path);
    /** @type {Record<string, string>} */
    const headers = { accept: "application/json" };
    if (apiKey) headers.apikey = apiKey;
    if (body !== undefined) headers["content-type"] = "application/json";
    const controller = typeof AbortController === "function" ? new AbortController() : null;
    const timer = controller ? setTimeout(() => controller.abort(), timeoutMs) : null;
    /** @type {Response} */
    let response;
    try {
      response = await fetchImpl(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller?.signal,
        cache: "no-store",
      });
    } catch (err) {
      throw describeNetworkError(err, { base, url, timeoutMs });
    } finally {
      if (timer) clearTimeout(timer);
    }
    const type = response.headers.get("content-type") || "";
    /** @type {unknown} */
    let parsed = null;
    let text = "";
    if (response.status !== 204) {
      text = await response.text();
      if (type.includes("json") && text) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = null;
        }
      }
    }
    if (!response.ok) {
      throw describeHttpError(response.status, parsed ?? text, {
        hasKey: Boolean(apiKey), url, base, retryAfter: response.headers.get("retry-after"),
      });
    }
    if (response.status === 204) return null;
    if (!type.includes("json") || (text && parsed === null)) {
      throw new ApiError("bad_response",
        `Expected JSON from ${url} but got ${type.split(";")[0] || "an empty answer"}. ` +
        "Is NEXT_PUBLIC_API_BASE (or the gateway route) pointing at the API?", { status: response.status, url });
    }
    return parsed;
  }

  return {
    /** @returns {Promise<Health>} */
    health: () => request("GET", "/api/health"),
    /** @returns {Promise<Task[]>} */
    listTasks: () => request("GET", "/api/tasks"),
    /** @param {{ title: string, due_date?: string | null, done?: boolean }} input @returns {Promise<Task>} */
    createTask: (input) => request("POST", "/api/tasks", input),
    /** @param {number} id @param {{ title?: string, done?: boolean, due_date?: string | null }} patch @returns {Promise<Task>} */
    updateTask: (id, patch) => request("PATCH", `/api/tasks/${encodeURIComponent(String(id))}`, patch),
    /** @param {number} id @returns {Promise<null>} */
    deleteTask: (id) => request("DELETE", `/api/tasks/${encodeURIComponent(String(id))}`),
    /** @param {string} message @returns {Promise<ChatResult>} */
    chat: (message) => request("POST", "/api/chat", { message }),
  };
}

/**
 * A few words for a status line ("Backend unreachable"); the full message goes in the banner.
 * @param {unknown} err
 */
export function shortStatus(err) {
  if (!(err instanceof ApiError)) return "Backend error";
  switch (err.kind) {
    case "unreachable": return "Backend unreachable";
    case "timeout": return "Backend not answering";
    case "gateway": return `Gateway cannot reach the backend (${err.status})`;
    case "no_route": return "No gateway route to the API";
    case "database": return "Backend up, database down";
    case "unauthorized": return "API key needed";
    case "rate_limited": return "Rate limited";
    default: return err.status ? `Backend error (${err.status})` : "Backend error";
  }
}

/**
 * @param {{ getItem(k: string): string | null } | null | undefined} storage
 * @returns {string}
 */
export function loadApiKey(storage) {
  try {
    return (storage?.getItem(API_KEY_STORAGE) ?? "").trim();
  } catch {
    return "";
  }
}

/**
 * @param {{ setItem(k: string, v: string): void, removeItem(k: string): void } | null | undefined} storage
 * @param {string} key
 */
export function saveApiKey(storage, key) {
  const value = key.trim();
  try {
    if (value) storage?.setItem(API_KEY_STORAGE, value);
    else storage?.removeItem(API_KEY_STORAGE);
  } catch {
    // private mode or storage disabled: the key lives for this page only
  }
  return value;
}
