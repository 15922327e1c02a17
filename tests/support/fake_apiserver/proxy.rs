//! The service proxy subresource, `/api/v1/namespaces/{ns}/services/{name}[:{port}]/proxy/{path}`:
//! forwarded over real HTTP to an upstream the test registers for the Service
//! ([`super::FakeApiServer::proxy_service`]) and answered with the upstream's status, headers and
//! body as they came, as the real API server relays a pod's answer.
//!
//! As the real server: a Service that does not exist is 404 NotFound; a port the Service does not
//! have, or a Service with no ready pod behind its selector (or no registered upstream, which is
//! the fake's "no endpoints"), is 503 ServiceUnavailable "no endpoints available for service".

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

use super::errors::{self, ApiError};
use super::Shared;

/// `(namespace, service with its optional port, path after proxy/)` when `path` is a service
/// proxy URL.
pub fn parse(path: &str) -> Option<(String, String, String)> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let (ns, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("services/")?;
    let (svc, rest) = rest.split_once('/')?;
    let tail = if rest == "proxy" {
        ""
    } else {
        rest.strip_prefix("proxy/")?
    };
    Some((ns.to_string(), svc.to_string(), tail.to_string()))
}

fn no_endpoints(name: &str) -> ApiError {
    ApiError::new(
        503,
        "ServiceUnavailable",
        format!("no endpoints available for service \"{name}\""),
        json!({}),
    )
}

fn ready(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn selects(selector: &Value, pod: &Value) -> bool {
    selector.as_object().is_some_and(|sel| {
        !sel.is_empty() && sel.iter().all(|(k, v)| &pod["metadata"]["labels"][k] == v)
    })
}

/// `name`, `name:port` or `scheme:name:port` (the port a name or a number) as its parts.
pub fn split_service(svc_port: &str) -> Result<(&str, Option<&str>), ApiError> {
    let parts: Vec<&str> = svc_port.split(':').collect();
    match parts.as_slice() {
        [n] => Ok((n, None)),
        [n, p] => Ok((n, Some(p))),
        [_scheme, n, p] => Ok((n, Some(p))),
        _ => Err(errors::bad_request(format!(
            "invalid service name {svc_port:?}"
        ))),
    }
}

/// Where to send a proxied request: the upstream base URL, or why there is none.
fn upstream(shared: &Shared, ns: &str, svc_port: &str) -> Result<String, ApiError> {
    let (name, port) = split_service(svc_port)?;
    let st = shared.state.lock().unwrap();
    let svc_rt = st.store.type_for("", "services").unwrap();
    let Some(svc) = st.store.get(&svc_rt, ns, name) else {
        return Err(errors::not_found(&svc_rt, name));
    };
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let port_known = match port {
        None => ports.len() == 1,
        Some(p) => ports
            .iter()
            .any(|sp| sp["name"] == p || sp["port"].as_u64().is_some_and(|n| n.to_string() == p)),
    };
    if !port_known {
        return Err(no_endpoints(svc_port));
    }
    let pod_rt = st.store.type_for("", "pods").unwrap();
    let selector = &svc["spec"]["selector"];
    if !st
        .store
        .list(&pod_rt, ns)
        .iter()
        .any(|p| selects(selector, p) && ready(p))
    {
        return Err(no_endpoints(name));
    }
    st.service_upstreams
        .get(&(ns.to_string(), name.to_string()))
        .cloned()
        .ok_or_else(|| no_endpoints(name))
}

/// Answers one service proxy request.
pub async fn respond(
    shared: Arc<Shared>,
    method: Method,
    ns: &str,
    svc_port: &str,
    tail: &str,
    query: Option<&str>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let base = upstream(&shared, ns, svc_port)?;
    let mut url = format!("{}/{tail}", base.trim_end_matches('/'));
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    let m = reqwest::Method::from_bytes(method.as_str().as_bytes())
        .map_err(|e| errors::bad_request(e.to_string()))?;
    let answer = reqwest::Client::new()
        .request(m, &url)
        .body(body.to_vec())
        .send()
        .await
        // The real server's answer when the pod refuses the connection.
        .map_err(|e| errors::internal(&format!("error trying to reach service: {e}")))?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = answer
        .bytes()
        .await
        .map_err(|e| errors::internal(&format!("error reading from service: {e}")))?;
    let mut r = Response::builder().status(status);
    if let Some(ct) = content_type {
        r = r.header("content-type", ct);
    }
    Ok(r.body(Body::from(bytes)).unwrap())
}
