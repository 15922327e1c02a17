//! The regression suite, through the gateway and driven by the OpenAPI spec: every secured
//! operation refuses a request without the key (401) and serves one with it (no 401/403/5xx);
//! public operations answer without a key; rate-limit headers are present; CORS preflight is
//! answered; and, for the demo stack, a task made by chat is listed, survives a backend
//! restart, and is deleted.
//!
//! Keyed probes never change existing data: path parameters name ids that do not exist and
//! bodies are empty objects (which the app rejects as invalid).

use super::spec::Operation;
use super::CaseResult;
use crate::pipeline::ApiKey;
use async_trait::async_trait;
use std::time::{Duration, Instant};

const SUITE: &str = "regression";

/// Where and how to call the app.
#[derive(Debug, Clone)]
pub struct Target {
    /// The gateway's base URL, without a trailing slash.
    pub gateway: String,
    pub api_key: ApiKey,
    /// The header the key travels in (Kong key-auth: `apikey`).
    pub key_header: String,
    /// The page origin used for the CORS preflight.
    pub origin: String,
}

/// Restarts the backend's pods and returns once they are Ready again (the data check).
#[async_trait(?Send)]
pub trait BackendRestarter {
    /// Returns what was restarted, for the report.
    async fn restart_backend(&self) -> Result<String, String>;
}

struct Http {
    client: reqwest::Client,
    t: Target,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Http {
    async fn send(
        &self,
        method: &str,
        path: &str,
        with_key: bool,
        body: Option<serde_json::Value>,
    ) -> Result<Answer, String> {
        let m = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let url = format!("{}{}", self.t.gateway, path);
        let mut req = self.client.request(m, &url);
        if with_key {
            req = req.header(self.t.key_header.as_str(), self.t.api_key.expose());
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

fn has_body(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH")
}

/// The rate-limit headers Kong's plugins send (IETF draft names and Kong's own).
pub fn rate_limit_headers(h: &reqwest::header::HeaderMap) -> Vec<String> {
    h.keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("ratelimit-") || k.starts_with("x-ratelimit-"))
        .collect()
}

/// Runs the suite. `restarter` is `None` when there is no cluster access; the restart check is
/// then skipped (and said so).
pub async fn run(
    target: Target,
    ops: &[Operation],
    restarter: Option<&dyn BackendRestarter>,
) -> Vec<CaseResult> {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => return vec![CaseResult::new(SUITE, "HTTP client", false, e.to_string())],
    };
    let http = Http { client, t: target };
    let mut results = Vec::new();
    let mut keyed_sample: Option<(String, reqwest::header::HeaderMap)> = None;

    for op in ops
        .iter()
        .filter(|o| o.method != "OPTIONS" && o.method != "HEAD")
    {
        let path = op.probe_path();
        let body = has_body(&op.method).then(|| serde_json::json!({}));
        if op.secured {
            let t0 = Instant::now();
            let r = http.send(&op.method, &path, false, body.clone()).await;
            results.push(
                match r {
                    Ok(a) => CaseResult::new(
                        SUITE,
                        format!("{} without key → 401", op.label()),
                        a.status == 401,
                        format!("HTTP {}", a.status),
                    ),
                    Err(e) => CaseResult::new(
                        SUITE,
                        format!("{} without key → 401", op.label()),
                        false,
                        e,
                    ),
                }
                .took(t0.elapsed()),
            );
            let t0 = Instant::now();
            let name = format!("{} with key → not 401/403/5xx", op.label());
            let r = http.send(&op.method, &path, true, body).await;
            results.push(
                match r {
                    Ok(a) => {
                        let ok = a.status != 401 && a.status != 403 && a.status < 500;
                        if ok && keyed_sample.is_none() {
                            keyed_sample = Some((op.label(), a.headers.clone()));
                        }
                        CaseResult::new(SUITE, name, ok, format!("HTTP {}", a.status))
                    }
                    Err(e) => CaseResult::new(SUITE, name, false, e),
                }
                .took(t0.elapsed()),
            );
        } else {
            let t0 = Instant::now();
            let name = format!("{} (public) reachable without key", op.label());
            let r = http.send(&op.method, &path, false, body).await;
            results.push(
                match r {
                    Ok(a) => CaseResult::new(
                        SUITE,
                        name,
                        a.status != 401 && a.status != 403 && a.status < 500,
                        format!("HTTP {}", a.status),
                    ),
                    Err(e) => CaseResult::new(SUITE, name, false, e),
                }
                .took(t0.elapsed()),
            );
        }
    }

    results.push(match &keyed_sample {
        Some((label, headers)) => {
            let found = rate_limit_headers(headers);
            CaseResult::new(
                SUITE,
                "rate-limit headers on keyed responses",
                !found.is_empty(),
                if found.is_empty() {
                    format!("{label}: no RateLimit-* or X-RateLimit-* header")
                } else {
                    format!("{label}: {}", found.join(", "))
                },
            )
        }
        None => CaseResult::new(
            SUITE,
            "rate-limit headers on keyed responses",
            false,
            "no keyed request succeeded, so no response to read the headers from",
        ),
    });

    if let Some(op) = ops.iter().find(|o| o.secured).or(ops.first()) {
        let t0 = Instant::now();
        let url = format!("{}{}", http.t.gateway, op.probe_path());
        let r = http
            .client
            .request(reqwest::Method::OPTIONS, &url)
            .header("Origin", http.t.origin.as_str())
            .header("Access-Control-Request-Method", op.method.as_str())
            .header("Access-Control-Request-Headers", http.t.key_header.as_str())
            .send()
            .await;
        let name = format!("CORS preflight OPTIONS {}", op.path);
        results.push(
            match r {
                Ok(resp) => {
                    let s = resp.status().as_u16();
                    let allow = resp
                        .headers()
                        .get("access-control-allow-origin")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let ok = (200..300).contains(&s) && allow.is_some();
                    CaseResult::new(
                        SUITE,
                        name,
                        ok,
                        format!(
                            "HTTP {s}, Access-Control-Allow-Origin: {}",
                            allow.as_deref().unwrap_or("(missing)")
                        ),
                    )
                }
                Err(e) => CaseResult::new(SUITE, name, false, e.to_string()),
            }
            .took(t0.elapsed()),
        );
    }

    let is = |m: &str, p: &str| ops.iter().any(|o| o.method == m && o.path == p);
    if is("POST", "/api/chat") && is("GET", "/api/tasks") {
        results.extend(demo_flows(&http, restarter).await);
    }
    results
}

/// The demo stack's flows: create by chat, list, survive a restart, delete by chat.
async fn demo_flows(http: &Http, restarter: Option<&dyn BackendRestarter>) -> Vec<CaseResult> {
    let mut out = Vec::new();
    let nonce = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let title = format!("justpush verify {nonce}");
    let t0 = Instant::now();
    let created = http
        .send(
            "POST",
            "/api/chat",
            true,
            Some(serde_json::json!({ "message": format!("add {title}") })),
        )
        .await;
    let id = match created {
        Ok(a) if a.status == 200 => {
            let v: serde_json::Value = serde_json::from_str(&a.body).unwrap_or_default();
            let id = v["task"]["id"].as_i64();
            out.push(
                CaseResult::new(
                    SUITE,
                    "demo: create a task by chat",
                    v["action"] == "add" && id.is_some(),
                    format!("action {}, task id {:?}", v["action"], id),
                )
                .took(t0.elapsed()),
            );
            id
        }
        Ok(a) => {
            out.push(
                CaseResult::new(
                    SUITE,
                    "demo: create a task by chat",
                    false,
                    format!(
                        "HTTP {}: {}",
                        a.status,
                        a.body.chars().take(200).collect::<String>()
                    ),
                )
                .took(t0.elapsed()),
            );
            None
        }
        Err(e) => {
            out.push(CaseResult::new(
                SUITE,
                "demo: create a task by chat",
                false,
                e,
            ));
            None
        }
    };
    let Some(id) = id else {
        out.push(CaseResult::skipped(
            SUITE,
            "demo: list shows the task",
            "no task was created",
        ));
        return out;
    };
    let listed = |a: &Answer| -> bool {
        serde_json::from_str::<serde_json::Value>(&a.body)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .is_some_and(|l| {
                l.iter()
                    .any(|t| t["id"].as_i64() == Some(id) && t["title"] == title.as_str())
            })
    };
    let t0 = Instant::now();
    out.push(
        match http.send("GET", "/api/tasks", true, None).await {
            Ok(a) => CaseResult::new(
                SUITE,
                "demo: list shows the task",
                a.status == 200 && listed(&a),
                format!("HTTP {}", a.status),
            ),
            Err(e) => CaseResult::new(SUITE, "demo: list shows the task", false, e),
        }
        .took(t0.elapsed()),
    );
    match restarter {
        Some(r) => {
            let t0 = Instant::now();
            let name = "demo: the task is still there after the backend restarts";
            match r.restart_backend().await {
                Ok(what) => {
                    let after = http.send("GET", "/api/tasks", true, None).await;
                    out.push(
                        match after {
                            Ok(a) => CaseResult::new(
                                SUITE,
                                name,
                                a.status == 200 && listed(&a),
                                format!("{what}; then HTTP {}", a.status),
                            ),
                            Err(e) => {
                                CaseResult::new(SUITE, name, false, format!("{what}; then {e}"))
                            }
                        }
                        .took(t0.elapsed()),
                    );
                }
                Err(e) => out.push(
                    CaseResult::new(SUITE, name, false, format!("restarting the backend: {e}"))
                        .took(t0.elapsed()),
                ),
            }
        }
        None => out.push(CaseResult::skipped(
            SUITE,
            "demo: the task is still there after the backend restarts",
            "no cluster access to restart the backend",
        )),
    }
    let t0 = Instant::now();
    let deleted = http
        .send(
            "POST",
            "/api/chat",
            true,
            Some(serde_json::json!({ "message": format!("delete #{id}") })),
        )
        .await;
    let gone = http
        .send("GET", &format!("/api/tasks/{id}"), true, None)
        .await;
    out.push(
        match (deleted, gone) {
            (Ok(d), Ok(g)) => {
                let v: serde_json::Value = serde_json::from_str(&d.body).unwrap_or_default();
                CaseResult::new(
                    SUITE,
                    "demo: delete the task by chat",
                    d.status == 200 && v["action"] == "delete" && g.status == 404,
                    format!(
                        "chat HTTP {} action {}, then GET HTTP {}",
                        d.status, v["action"], g.status
                    ),
                )
            }
            (Err(e), _) | (_, Err(e)) => {
                CaseResult::new(SUITE, "demo: delete the task by chat", false, e)
            }
        }
        .took(t0.elapsed()),
    );
    out
}
