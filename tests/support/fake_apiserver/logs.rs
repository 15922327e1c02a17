//! `GET /api/v1/namespaces/{ns}/pods/{name}/log`: container choice, tailLines, sinceSeconds,
//! timestamps, previous, follow (lines streamed as they are appended), and the errors the
//! kubelet gives for containers that have not started.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures::channel::mpsc;
use futures::SinkExt;
use serde_json::{json, Value};

use super::errors::{self, ApiError};
use super::{LogLine, Shared};

fn err(e: ApiError) -> Response {
    Response::builder()
        .status(e.code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&e.body).unwrap()))
        .unwrap()
}

fn fmt_line(l: &LogLine, timestamps: bool) -> String {
    if timestamps {
        let t = l
            .time
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        format!("{t} {}\n", l.text)
    } else {
        format!("{}\n", l.text)
    }
}

/// The container to read and why not, if it cannot be read.
fn pick_container(pod: &Value, name: &str, wanted: Option<&String>) -> Result<String, ApiError> {
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect();
    let c = match wanted {
        Some(c) => {
            if !containers.contains(c) {
                return Err(errors::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.clone()
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(errors::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )))
        }
    };
    let st = pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == c.as_str()).cloned());
    match st {
        None => Err(errors::bad_request(format!(
            "container \"{c}\" in pod \"{name}\" is waiting to start: ContainerCreating"
        ))),
        Some(s) => {
            let restarted = s["restartCount"].as_i64().unwrap_or(0) > 0;
            if let Some(w) = s["state"]["waiting"].as_object() {
                let reason = w
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .unwrap_or("ContainerCreating");
                if !restarted {
                    let m = match reason {
                        "ImagePullBackOff" | "ErrImagePull" => {
                            format!("container \"{c}\" in pod \"{name}\" is waiting to start: trying and failing to pull image")
                        }
                        r => {
                            format!("container \"{c}\" in pod \"{name}\" is waiting to start: {r}")
                        }
                    };
                    return Err(errors::bad_request(m));
                }
            }
            Ok(c)
        }
    }
}

pub fn log_response(
    shared: Arc<Shared>,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
) -> Response {
    let (container, lines) = {
        let st = shared.state.lock().unwrap();
        let rt = st.store.type_for("", "pods").unwrap();
        let Some(pod) = st.store.get(&rt, ns, name) else {
            return err(errors::not_found(&rt, name));
        };
        let c = match pick_container(pod, name, q.get("container")) {
            Ok(c) => c,
            Err(e) => return err(e),
        };
        let lines = st
            .logs
            .get(&(ns.to_string(), name.to_string(), c.clone()))
            .cloned()
            .unwrap_or_default();
        (c, lines)
    };
    let timestamps = q.get("timestamps").is_some_and(|v| v == "true");
    let since = q.get("sinceSeconds").and_then(|s| s.parse::<i64>().ok());
    // As the real server's PodLogOptions validation.
    if since.is_some_and(|s| s < 1) {
        return err(errors::bad_request(
            "sinceSeconds: Invalid value: must be greater than 0",
        ));
    }
    let tail = match q.get("tailLines").map(|s| s.parse::<i64>()) {
        None => None,
        Some(Ok(t)) if t >= 0 => Some(t as usize),
        Some(_) => {
            return err(errors::bad_request(
                "tailLines: Invalid value: must be greater than or equal to 0",
            ))
        }
    };
    let now = time::OffsetDateTime::now_utc();
    // The latest run's output, or with `previous` the run before it (as the kubelet keeps the
    // log of the last terminated instance).
    let latest = lines.iter().map(|l| l.run).max().unwrap_or(0);
    let run = if q.get("previous").is_some_and(|v| v == "true") {
        if latest == 0 {
            return err(errors::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        }
        latest - 1
    } else {
        latest
    };
    let mut selected: Vec<&LogLine> = lines
        .iter()
        .filter(|l| l.run == run)
        .filter(|l| since.is_none_or(|s| (now - l.time).whole_seconds() <= s))
        .collect();
    if let Some(t) = tail {
        let skip = selected.len().saturating_sub(t);
        selected.drain(..skip);
    }
    let text: String = selected.iter().map(|l| fmt_line(l, timestamps)).collect();
    let follow = q.get("follow").is_some_and(|v| v == "true");
    if !follow {
        return Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body(Body::from(text))
            .unwrap();
    }
    let (mut tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let ns = ns.to_string();
    let name = name.to_string();
    let mut seen = lines.len();
    tokio::spawn(async move {
        let mut changed = shared.changed.subscribe();
        let mut dropper = shared.drop_watches.subscribe();
        if !text.is_empty() && tx.send(Ok(Bytes::from(text))).await.is_err() {
            return;
        }
        loop {
            let (new, pod_gone) = {
                let st = shared.state.lock().unwrap();
                let rt = st.store.type_for("", "pods").unwrap();
                let gone = st
                    .store
                    .get(&rt, &ns, &name)
                    .is_none_or(|p| p["metadata"]["uid"] == json!(null));
                let all = st
                    .logs
                    .get(&(ns.clone(), name.clone(), container.clone()))
                    .cloned()
                    .unwrap_or_default();
                let new: String = all
                    .iter()
                    .skip(seen)
                    .map(|l| fmt_line(l, timestamps))
                    .collect();
                seen = all.len();
                (new, gone)
            };
            if !new.is_empty() && tx.send(Ok(Bytes::from(new))).await.is_err() {
                return;
            }
            if pod_gone {
                return;
            }
            tokio::select! {
                r = changed.recv() => if let Err(tokio::sync::broadcast::error::RecvError::Closed) = r { return },
                _ = dropper.recv() => return,
            }
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(Body::from_stream(rx))
        .unwrap()
}
