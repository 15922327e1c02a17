//! The HTTP face: URL parsing into (type, namespace, name, subresource), verbs, error injection,
//! the request log, JSON answers, watch streams and pod log streams.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use futures::channel::mpsc;
use futures::SinkExt;
use serde_json::{json, Value};

use super::errors::{self, ApiError};
use super::faults::{FaultAnswer, Verb};
use super::resources::{self, ResourceType};
use super::store::{
    ChangeType, FieldSelector, Key, LabelSelector, PatchKind, Propagation, Store, Writer,
};
use super::{RequestRecord, Shared};

fn json_response(code: u16, body: &Value) -> Response {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn error_response(e: &ApiError) -> Response {
    let mut r = json_response(e.code, &e.body);
    if let Some(s) = e.retry_after {
        r.headers_mut()
            .insert("retry-after", s.to_string().parse().unwrap());
    }
    r
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// A parsed resource URL.
struct Target {
    rt: ResourceType,
    ns: String,
    name: Option<String>,
    sub: Option<String>,
}

enum Route {
    Doc(Value),
    Resource(Target),
}

fn route(store: &Store, path: &str, accept: &str) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let types = store.types();
    let aggregated = accept.contains("as=APIGroupDiscoveryList");
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["version"] => return Ok(Route::Doc(resources::version_doc())),
        ["healthz"] | ["livez"] | ["readyz"] => return Ok(Route::Doc(json!("ok"))),
        ["api"] if aggregated => return Ok(Route::Doc(resources::aggregated_doc(&types, true))),
        ["api"] => return Ok(Route::Doc(resources::core_versions_doc())),
        ["apis"] if aggregated => return Ok(Route::Doc(resources::aggregated_doc(&types, false))),
        ["apis"] => return Ok(Route::Doc(resources::group_list_doc(&types))),
        ["api", v] => {
            return resources::resource_list_doc(&types, "", v)
                .map(Route::Doc)
                .ok_or_else(errors::path_not_found)
        }
        ["apis", g] => {
            return resources::group_doc(&types, g)
                .map(Route::Doc)
                .ok_or_else(errors::path_not_found)
        }
        ["apis", g, v] => {
            return resources::resource_list_doc(&types, g, v)
                .map(Route::Doc)
                .ok_or_else(errors::path_not_found)
        }
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(errors::path_not_found()),
    };
    let find = |plural: &str| {
        store
            .type_at(group, version, plural)
            .ok_or_else(errors::path_not_found)
    };
    let t = |rt: ResourceType, ns: &str, name: Option<&&str>, sub: Option<&&str>| {
        Route::Resource(Target {
            rt,
            ns: ns.to_string(),
            name: name.map(|s| s.to_string()),
            sub: sub.map(|s| s.to_string()),
        })
    };
    // namespaces/{ns}/{plural}/... when {plural} is a namespaced type; otherwise the
    // namespaces resource itself.
    if rest.len() >= 3 && rest[0] == "namespaces" {
        if let Some(rt) = store
            .type_at(group, version, rest[2])
            .filter(|r| r.namespaced)
        {
            if rest.len() > 5 {
                return Err(errors::path_not_found());
            }
            return Ok(t(rt, rest[1], rest.get(3), rest.get(4)));
        }
    }
    if rest.is_empty() || rest.len() > 3 {
        return Err(errors::path_not_found());
    }
    let rt = find(rest[0])?;
    Ok(t(rt, "", rest.get(1), rest.get(2)))
}

fn content_type(h: &HeaderMap) -> String {
    h.get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn parse_body(ct: &str, body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    if ct.contains("yaml") {
        serde_yaml::from_slice::<Value>(body)
            .map_err(|e| errors::bad_request(format!("error decoding YAML: {e}")))
    } else {
        serde_json::from_slice(body)
            .map_err(|e| errors::bad_request(format!("error decoding JSON: {e}")))
    }
}

/// The one handler: everything the fake serves goes through here.
pub async fn handle(
    shared: Arc<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut q = parse_query(uri.query());
    // Without fieldManager the API server names the manager after the user agent (up to '/').
    let ua = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    q.insert(
        DEFAULT_MANAGER.into(),
        ua.split('/').next().unwrap_or("unknown").to_string(),
    );
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let ct = content_type(&headers);
    let mut rec = RequestRecord {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        verb: None,
        group: String::new(),
        version: String::new(),
        resource: String::new(),
        kind: String::new(),
        namespace: String::new(),
        name: String::new(),
        subresource: None,
        field_manager: q.get("fieldManager").cloned(),
        force: q.get("force").is_some_and(|v| v == "true"),
        dry_run: q.contains_key("dryRun"),
        content_type: ct.clone(),
        code: 0,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(' ').next().unwrap_or_default().to_string()),
        user_agent: headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: Value::Null,
    };
    if let Some((ns, svc, tail)) = super::proxy::parse(uri.path()) {
        rec.namespace = ns.clone();
        rec.resource = "services".into();
        rec.kind = "Service".into();
        rec.version = "v1".into();
        rec.name = super::proxy::split_service(&svc)
            .map(|(name, _)| name.to_string())
            .unwrap_or_default();
        rec.subresource = Some("proxy".into());
        let answer =
            super::proxy::respond(shared.clone(), method, &ns, &svc, &tail, uri.query(), body)
                .await;
        let r = answer.unwrap_or_else(|e| error_response(&e));
        rec.code = r.status().as_u16();
        shared.record(rec);
        return r;
    }
    let routed = {
        let st = shared.state.lock().unwrap();
        route(&st.store, uri.path(), &accept)
    };
    let target = match routed {
        Ok(Route::Doc(d)) => {
            if method != Method::GET {
                let e = errors::method_not_allowed();
                rec.code = e.code;
                shared.record(rec);
                return error_response(&e);
            }
            rec.code = 200;
            shared.record(rec);
            let mut r = json_response(200, &d);
            if d["kind"] == "APIGroupDiscoveryList" {
                // Clients (kubectl) recognise aggregated discovery by the answer's media type.
                r.headers_mut().insert(
                    "content-type",
                    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
                        .parse()
                        .unwrap(),
                );
            }
            return r;
        }
        Ok(Route::Resource(t)) => t,
        Err(e) => {
            rec.code = e.code;
            shared.record(rec);
            return error_response(&e);
        }
    };
    let watch = q.get("watch").is_some_and(|v| v == "true" || v == "1");
    let verb = match (&method, target.name.is_some()) {
        (&Method::GET, false) if watch => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::GET, true) => Verb::Get,
        (&Method::POST, _) => Verb::Create,
        (&Method::PUT, true) => Verb::Update,
        (&Method::PATCH, true) if ct == "application/apply-patch+yaml" => Verb::Apply,
        (&Method::PATCH, true) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        (&Method::DELETE, false) => Verb::DeleteCollection,
        _ => {
            let e = errors::method_not_allowed();
            rec.code = e.code;
            shared.record(rec);
            return error_response(&e);
        }
    };
    let parsed_body = match parse_body(&ct, &body) {
        Ok(b) => b,
        Err(e) => {
            rec.code = e.code;
            shared.record(rec);
            return error_response(&e);
        }
    };
    // POST to a named URL is a subresource create (pods/x/eviction) or bad.
    let name_for_match = target.name.clone().unwrap_or_else(|| {
        parsed_body["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    });
    rec.verb = Some(verb);
    rec.group = target.rt.group.clone();
    rec.version = target.rt.version.clone();
    rec.resource = target.rt.plural.clone();
    rec.kind = target.rt.kind.clone();
    rec.namespace = target.ns.clone();
    rec.name = name_for_match.clone();
    rec.subresource = target.sub.clone();
    if verb.is_write() {
        rec.body = parsed_body.clone();
    }
    // Error injection.
    enum Injected {
        Error(ApiError),
        Delay(Duration),
        Reset,
    }
    let injected = {
        let mut st = shared.state.lock().unwrap();
        let mut hit = None;
        for f in st.faults.iter_mut() {
            if f.matches(
                verb,
                &target.rt,
                &target.ns,
                &name_for_match,
                target.sub.as_deref(),
            ) {
                if f.skip > 0 {
                    f.skip -= 1;
                    continue;
                }
                if let Some(r) = f.remaining.as_mut() {
                    *r -= 1;
                }
                f.fired += 1;
                hit = Some(match &f.answer {
                    FaultAnswer::Delay(d) => Injected::Delay(*d),
                    FaultAnswer::ConnectionReset => Injected::Reset,
                    _ => Injected::Error(f.error(verb, &target.rt, &target.ns, &name_for_match)),
                });
                break;
            }
        }
        hit
    };
    match injected {
        Some(Injected::Error(e)) => {
            rec.code = e.code;
            shared.record(rec);
            return error_response(&e);
        }
        Some(Injected::Reset) => {
            rec.code = 200;
            shared.record(rec);
            let body = futures::stream::iter(vec![
                Ok(Bytes::from_static(b"{\"kind\":")),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected connection reset",
                )),
            ]);
            return Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from_stream(body))
                .unwrap();
        }
        Some(Injected::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    if verb == Verb::Watch {
        rec.code = 200;
        shared.record(rec);
        return watch_response(shared, target, q);
    }
    if target.sub.as_deref() == Some("log") && verb == Verb::Get {
        let r = super::logs::log_response(
            shared.clone(),
            &target.ns,
            target.name.as_deref().unwrap(),
            &q,
        );
        rec.code = r.status().as_u16();
        shared.record(rec);
        return r;
    }
    let result = {
        let mut st = shared.state.lock().unwrap();
        let dry = q.contains_key("dryRun");
        if dry {
            let mut copy = st.store.clone();
            serve(&mut copy, &target, verb, &q, parsed_body, &ct)
        } else {
            serve(&mut st.store, &target, verb, &q, parsed_body, &ct)
        }
    };
    shared.notify();
    match result {
        Ok((code, v)) => {
            rec.code = code;
            shared.record(rec);
            json_response(code, &v)
        }
        Err(e) => {
            rec.code = e.code;
            shared.record(rec);
            error_response(&e)
        }
    }
}

fn selectors(q: &HashMap<String, String>) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let ls = LabelSelector::parse(
        q.get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )
    .map_err(|e| errors::bad_request(format!("unable to parse requirement: {e}")))?;
    let fs = FieldSelector::parse(
        q.get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )
    .map_err(errors::bad_request)?;
    Ok((ls, fs))
}

fn list_body(store: &Store, rt: &ResourceType, items: Vec<Value>) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .map(|o| {
            if rt.custom {
                Store::serve(rt, &o)
            } else {
                let mut o = o;
                if let Some(m) = o.as_object_mut() {
                    m.remove("apiVersion");
                    m.remove("kind");
                }
                o
            }
        })
        .collect();
    json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": {"resourceVersion": store.rv.to_string()}, "items": items})
}

fn scale_of(obj: &Value) -> Value {
    let sel = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"], "uid": obj["metadata"]["uid"],
            "resourceVersion": obj["metadata"]["resourceVersion"], "creationTimestamp": obj["metadata"]["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"]},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": sel},
    })
}

/// Query key (not a real parameter) carrying the user-agent-derived default field manager.
const DEFAULT_MANAGER: &str = "\u{0}default-manager";

fn writer(q: &HashMap<String, String>, verb: Verb) -> Writer {
    Writer {
        manager: q
            .get("fieldManager")
            .or_else(|| q.get(DEFAULT_MANAGER))
            .cloned()
            .unwrap_or_else(|| "unknown".to_string()),
        apply: verb == Verb::Apply,
        subresource: None,
        force: q.get("force").is_some_and(|v| v == "true"),
        applied: None,
    }
}

/// Serves one non-watch request against the store: (HTTP code, body).
fn serve(
    store: &mut Store,
    t: &Target,
    verb: Verb,
    q: &HashMap<String, String>,
    body: Value,
    ct: &str,
) -> Result<(u16, Value), ApiError> {
    let rt = &t.rt;
    let name = t.name.as_deref().unwrap_or_default();
    let status = t.sub.as_deref() == Some("status");
    if rt.group == "metrics.k8s.io" {
        return super::controller::serve_metrics(store, rt, &t.ns, t.name.as_deref(), q);
    }
    if let Some(sub) = t.sub.as_deref() {
        let ok = sub == "status"
            || (sub == "scale" && rt.subresources.contains(&"scale"))
            || (sub == "eviction" && rt.plural == "pods");
        if !ok || !rt.subresources.contains(&sub) {
            return Err(errors::path_not_found());
        }
    }
    if rt.namespaced && t.ns.is_empty() && !matches!(verb, Verb::List | Verb::Watch) {
        return Err(errors::path_not_found());
    }
    let serve_one = |o: &Value| Store::serve(rt, o);
    match (verb, t.sub.as_deref()) {
        (Verb::List, _) => {
            let (ls, fs) = selectors(q)?;
            let items: Vec<Value> = store
                .list(rt, &t.ns)
                .into_iter()
                .filter(|o| ls.matches(&o["metadata"]["labels"]) && fs.matches(o))
                .collect();
            // Pagination: `limit` and an opaque `continue` token (here the offset).
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD;
            let start = match q.get("continue").filter(|c| !c.is_empty()) {
                Some(c) => b64
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| {
                        s.strip_prefix("offset:")
                            .and_then(|n| n.parse::<usize>().ok())
                    })
                    .ok_or_else(|| {
                        errors::bad_request("continue key is not valid: illegal base64 data")
                    })?,
                None => 0,
            };
            let limit = q
                .get("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .filter(|l| *l > 0);
            let total = items.len();
            let page: Vec<Value> = match limit {
                Some(l) => items.into_iter().skip(start).take(l).collect(),
                None => items.into_iter().skip(start).collect(),
            };
            let end = start + page.len();
            let mut body = list_body(store, rt, page);
            if end < total {
                body["metadata"]["continue"] = json!(b64.encode(format!("offset:{end}")));
                body["metadata"]["remainingItemCount"] = json!(total - end);
            }
            Ok((200, body))
        }
        (Verb::Get, Some("scale")) => {
            let o = store
                .get(rt, &t.ns, name)
                .ok_or_else(|| errors::not_found(rt, name))?;
            Ok((200, scale_of(o)))
        }
        (Verb::Get, _) => store
            .get(rt, &t.ns, name)
            .map(|o| (200, serve_one(o)))
            .ok_or_else(|| errors::not_found(rt, name)),
        (Verb::Create, Some("eviction")) => {
            store.delete(rt, &t.ns, name, None, None, None)?;
            Ok((
                201,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        (Verb::Create, _) => {
            if t.name.is_some() {
                return Err(errors::method_not_allowed());
            }
            let o = store.create(rt, &t.ns, body, &writer(q, verb))?;
            Ok((201, serve_one(&o)))
        }
        (Verb::Update | Verb::Patch | Verb::Apply, Some("scale")) => {
            let cur = store
                .get(rt, &t.ns, name)
                .cloned()
                .ok_or_else(|| errors::not_found(rt, name))?;
            let mut scale = scale_of(&cur);
            match verb {
                Verb::Update => scale = body,
                Verb::Patch if ct == "application/json-patch+json" => {
                    super::store::json_patch(&mut scale, &body).map_err(errors::bad_request)?
                }
                _ => super::store::merge_patch(&mut scale, &body, false),
            }
            let replicas = scale["spec"]["replicas"]
                .as_i64()
                .ok_or_else(|| errors::bad_request("spec.replicas is required"))?;
            let mut next = cur.clone();
            next["spec"]["replicas"] = json!(replicas);
            let o = store.replace(rt, &t.ns, name, next, &writer(q, Verb::Update), false)?;
            Ok((200, scale_of(&o)))
        }
        (Verb::Update, _) => {
            let existed = store.get(rt, &t.ns, name).is_some();
            let o = store.replace(rt, &t.ns, name, body, &writer(q, verb), status)?;
            Ok((if existed { 200 } else { 201 }, serve_one(&o)))
        }
        (Verb::Apply, _) => {
            let existed = store.get(rt, &t.ns, name).is_some();
            if !q.contains_key("fieldManager") {
                return Err(errors::bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"));
            }
            let o = store.apply(rt, &t.ns, name, body, &writer(q, verb), status)?;
            Ok((if existed { 200 } else { 201 }, serve_one(&o)))
        }
        (Verb::Patch, _) => {
            let kind = match ct {
                "application/merge-patch+json" => PatchKind::Merge,
                "application/strategic-merge-patch+json" => {
                    if rt.custom {
                        return Err(errors::unsupported_media(ct));
                    }
                    PatchKind::Strategic
                }
                "application/json-patch+json" => PatchKind::Json,
                other => return Err(errors::unsupported_media(other)),
            };
            let o = store.patch(rt, &t.ns, name, kind, &body, &writer(q, verb), status)?;
            Ok((200, serve_one(&o)))
        }
        (Verb::Delete, _) => {
            let prop_s = q
                .get("propagationPolicy")
                .cloned()
                .or_else(|| body["propagationPolicy"].as_str().map(String::from));
            let prop = match prop_s.as_deref() {
                None | Some("") => None,
                Some(p) => Some(Propagation::parse(p).ok_or_else(|| {
                    errors::bad_request(format!("unsupported propagationPolicy {p:?}"))
                })?),
            };
            let orphan = body["orphanDependents"].as_bool() == Some(true);
            let prop = if orphan {
                Some(Propagation::Orphan)
            } else {
                prop
            };
            let (v, done) = store.delete(
                rt,
                &t.ns,
                name,
                prop,
                body["preconditions"]["uid"].as_str(),
                body["preconditions"]["resourceVersion"].as_str(),
            )?;
            let v = if v["kind"] == "Status" {
                v
            } else {
                serve_one(&v)
            };
            Ok((if done { 200 } else { 202 }, v))
        }
        (Verb::DeleteCollection, _) => {
            let (ls, fs) = selectors(q)?;
            let victims: Vec<Value> = store
                .list(rt, &t.ns)
                .into_iter()
                .filter(|o| ls.matches(&o["metadata"]["labels"]) && fs.matches(o))
                .collect();
            let mut gone = vec![];
            for v in victims {
                let ns = v["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let n = v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if store.delete(rt, &ns, &n, None, None, None).is_ok() {
                    gone.push(v);
                }
            }
            Ok((200, list_body(store, rt, gone)))
        }
        (Verb::Watch, _) => unreachable!("watches are streamed"),
    }
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Value {
    let mut md = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": md}})
}

fn line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap();
    b.push(b'\n');
    Bytes::from(b)
}

/// Counts a watch cut by a drop rule.
fn cut(shared: &Shared, rule: Option<(usize, usize)>) {
    if let Some((i, _)) = rule {
        if let Some(d) = shared.state.lock().unwrap().watch_drops.get_mut(i) {
            d.cut += 1;
        }
    }
}

fn watch_response(shared: Arc<Shared>, t: Target, q: HashMap<String, String>) -> Response {
    let (mut tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let rt = t.rt.clone();
    let (ls, fs) = match selectors(&q) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|v| v == "true");
    let initial = q.get("sendInitialEvents").is_some_and(|v| v == "true");
    let rv_param = q.get("resourceVersion").cloned().unwrap_or_default();
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let ns = t.ns.clone();
    // Which drop rule applies to this watch.
    let drop_after = {
        let mut st = shared.state.lock().unwrap();
        let mut n = None;
        for (i, d) in st.watch_drops.iter_mut().enumerate() {
            let hit = d
                .resource
                .as_ref()
                .is_none_or(|r| *r == rt.plural || *r == rt.kind)
                && d.remaining != Some(0);
            if hit {
                if let Some(r) = d.remaining.as_mut() {
                    *r -= 1;
                }
                n = Some((i, d.after_events));
                break;
            }
        }
        n
    };
    tokio::spawn(async move {
        let mut changed = shared.changed.subscribe();
        let mut dropper = shared.drop_watches.subscribe();
        let mut bookmark_now = shared.bookmark.subscribe();
        let matches = |k: &Key, o: &Value| {
            k.group == rt.group
                && k.plural == rt.plural
                && (ns.is_empty() || k.namespace == ns)
                && ls.matches(&o["metadata"]["labels"])
                && fs.matches(o)
        };
        let mut sent = 0usize;
        let mut out: Vec<Value> = vec![];
        let mut last = 0;
        let start_error: Option<Value> = {
            let st = shared.state.lock().unwrap();
            let store = &st.store;
            if rv_param.is_empty() || rv_param == "0" || initial {
                for (k, o) in &store.objects {
                    if matches(k, o) {
                        out.push(json!({"type": "ADDED", "object": Store::serve(&rt, o)}));
                    }
                }
                last = store.rv;
                if initial && bookmarks {
                    out.push(bookmark(&rt, last, true));
                }
                None
            } else {
                match rv_param.parse::<u64>() {
                    Err(_) => Some(
                        errors::bad_request(format!("invalid resource version {rv_param:?}")).body,
                    ),
                    Ok(n) if n < store.compacted => Some(errors::gone(n, store.compacted + 1).body),
                    Ok(n) => {
                        last = n;
                        None
                    }
                }
            }
        };
        if let Some(e) = start_error {
            let _ = tx
                .send(Ok(line(&json!({"type": "ERROR", "object": e}))))
                .await;
            return;
        }
        let deadline = timeout.map(|d| tokio::time::Instant::now() + d);
        loop {
            // Replay what happened after `last`.
            {
                let st = shared.state.lock().unwrap();
                let h = &st.store.history;
                let from = h.partition_point(|c| c.rv <= last);
                for c in &h[from..] {
                    let now_in = matches(&c.key, &c.object);
                    let was_in = c.prev.as_ref().is_some_and(|p| matches(&c.key, p));
                    // Selector semantics of the watch cache: entering the selection is ADDED,
                    // leaving it is DELETED.
                    let kind = match (c.kind, was_in, now_in) {
                        (ChangeType::Deleted, true, _) => Some("DELETED"),
                        (ChangeType::Deleted, false, _) => None,
                        (_, false, true) => Some("ADDED"),
                        (_, true, true) => Some("MODIFIED"),
                        (_, true, false) => Some("DELETED"),
                        (_, false, false) => None,
                    };
                    if let Some(k) = kind {
                        out.push(json!({"type": k, "object": Store::serve(&rt, &c.object)}));
                    }
                }
                last = last.max(st.store.rv);
            }
            for ev in out.drain(..) {
                if drop_after.is_some_and(|(_, n)| sent >= n) {
                    cut(&shared, drop_after);
                    return;
                }
                if tx.send(Ok(line(&ev))).await.is_err() {
                    return;
                }
                if ev["type"] != "BOOKMARK" {
                    sent += 1;
                }
            }
            if drop_after.is_some_and(|(_, n)| sent >= n) {
                cut(&shared, drop_after);
                return;
            }
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => futures::future::pending().await,
                }
            };
            tokio::select! {
                r = changed.recv() => {
                    if let Err(tokio::sync::broadcast::error::RecvError::Closed) = r { return; }
                }
                _ = dropper.recv() => return,
                _ = bookmark_now.recv() => {
                    if bookmarks {
                        let rv = shared.state.lock().unwrap().store.rv;
                        out.push(bookmark(&rt, rv, false));
                    }
                }
                _ = sleep => {
                    if bookmarks {
                        let rv = shared.state.lock().unwrap().store.rv;
                        let _ = tx.send(Ok(line(&bookmark(&rt, rv, false)))).await;
                    }
                    return;
                }
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("transfer-encoding", "chunked")
        .body(Body::from_stream(rx))
        .unwrap()
}
