//! A fake Kong Admin API owned by the tests: real HTTP (axum on 127.0.0.1, random port), state
//! kept in memory, Kong's shapes where the sync relies on them: `{data, next, offset}` pages
//! with `size`/`offset`/`tags` (comma = all of), nested creation endpoints
//! (`/services/{name}/routes`, `/routes/{name}/plugins`, `/consumers/{name}/key-auth`, ...),
//! PATCH merging nested records, DELETE cascading to plugins and credentials and refusing a
//! service that routes still use, UNIQUE violations as 409, defaults filled in on write, hashed
//! basic-auth passwords, `Kong-Admin-Token` checks (401; 403 for a read-only token on writes),
//! and injectable 5xx answers.
//!
//! ```ignore
//! #[path = "support/fake_kong_admin.rs"]
//! mod fake_kong_admin;
//! let kong = fake_kong_admin::FakeKong::start(fake_kong_admin::Options { page_size: 2, ..Default::default() });
//! kong.url(); kong.insert("services", json!({...})); kong.all("routes"); kong.writes();
//! ```

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use sha2::Digest;

#[derive(Clone, Default)]
pub struct Options {
    /// Largest page the server returns (Kong's default is 100); small values force paging.
    pub page_size: usize,
    /// Token every request must carry (None: no auth).
    pub token: Option<String>,
    /// A token that may only read.
    pub read_only_token: Option<String>,
}

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub status: u16,
}

#[derive(Default)]
struct Store {
    options: Options,
    entities: BTreeMap<String, Vec<Value>>,
    next_id: u64,
    fail_next: u32,
    seen: Vec<Seen>,
}

pub struct FakeKong {
    state: Arc<Mutex<Store>>,
    addr: std::net::SocketAddr,
    _thread: std::thread::JoinHandle<()>,
}

const COLLECTIONS: [&str; 9] = [
    "upstreams",
    "targets",
    "services",
    "routes",
    "consumers",
    "plugins",
    "key-auths",
    "jwts",
    "basic-auths",
];

impl FakeKong {
    /// Starts the server on its own thread and runtime; returns once it listens.
    pub fn start(options: Options) -> FakeKong {
        let mut store = Store {
            options,
            ..Default::default()
        };
        if store.options.page_size == 0 {
            store.options.page_size = 100;
        }
        for c in COLLECTIONS {
            store.entities.insert(c.to_string(), Vec::new());
        }
        let state = Arc::new(Mutex::new(store));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(handle).with_state(st);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        FakeKong {
            state,
            addr,
            _thread: thread,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next `n` requests with 500.
    pub fn fail_next(&self, n: u32) {
        self.state.lock().unwrap().fail_next = n;
    }

    /// Stores an object directly (someone else's objects, or ours from a previous run).
    pub fn insert(&self, collection: &str, mut obj: Value) -> Value {
        let mut st = self.state.lock().unwrap();
        st.next_id += 1;
        if obj.get("id").is_none() {
            obj["id"] = json!(format!("00000000-0000-4000-8000-{:012}", st.next_id));
        }
        st.entities.get_mut(collection).unwrap().push(obj.clone());
        obj
    }

    pub fn all(&self, collection: &str) -> Vec<Value> {
        self.state.lock().unwrap().entities[collection].clone()
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Successful writes (POST, PATCH, PUT, DELETE) so far.
    pub fn writes(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method != "GET" && r.status < 300)
            .count()
    }

    /// Every object of every collection, for before/after comparisons.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<Value>> {
        self.state.lock().unwrap().entities.clone()
    }
}

fn answer(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

async fn handle(
    State(state): State<Arc<Mutex<Store>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = state.lock().unwrap();
    let path = uri.path().to_string();
    let (status, out) = route(&mut st, &method, &uri, &headers, &body);
    st.seen.push(Seen {
        method: method.to_string(),
        path,
        status,
    });
    if status == 204 {
        return StatusCode::NO_CONTENT.into_response();
    }
    answer(status, out)
}

fn route(
    st: &mut Store,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> (u16, Value) {
    if let Some(token) = &st.options.token {
        let sent = headers
            .get("kong-admin-token")
            .and_then(|v| v.to_str().ok());
        let read_only = st.options.read_only_token.as_deref();
        match sent {
            Some(t) if t == token => {}
            Some(t) if Some(t) == read_only => {
                if method != Method::GET {
                    return (403, json!({"message": "Forbidden: read-only token"}));
                }
            }
            _ => {
                return (
                    401,
                    json!({"message": "Invalid credentials. Token or User credentials required"}),
                )
            }
        }
    }
    if st.fail_next > 0 {
        st.fail_next -= 1;
        return (500, json!({"message": "An unexpected error occurred"}));
    }
    let query: BTreeMap<String, String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    let segs: Vec<&str> = uri
        .path()
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).unwrap_or(json!({}))
    };
    match (method.as_str(), segs.as_slice()) {
        // Targets exist only under their upstream (no top-level listing, as in Kong).
        ("GET", ["targets"]) => (404, json!({"message": "Not found"})),
        ("GET", ["upstreams", key, "targets"]) => {
            let Some(up) = find(st, "upstreams", key) else {
                return (404, json!({"message": "Not found"}));
            };
            let mut q = query.clone();
            q.insert(
                "__upstream".into(),
                up["id"].as_str().unwrap_or_default().to_string(),
            );
            list(st, "targets", &q)
        }
        ("PATCH", ["upstreams", _, "targets", id]) => patch(st, "targets", id, body),
        ("DELETE", ["upstreams", _, "targets", id]) => delete(st, "targets", id),
        ("GET", [collection]) if COLLECTIONS.contains(collection) => list(st, collection, &query),
        ("POST", [collection]) if COLLECTIONS.contains(collection) => {
            create(st, collection, body, None)
        }
        ("POST", [parent, key, child]) => {
            let (parent_collection, fk) = match *parent {
                "upstreams" => ("upstreams", "upstream"),
                "services" => ("services", "service"),
                "routes" => ("routes", "route"),
                "consumers" => ("consumers", "consumer"),
                _ => return (404, json!({"message": "Not found"})),
            };
            let Some(parent_id) = find(st, parent_collection, key).map(|v| v["id"].clone()) else {
                return (404, json!({"message": "Not found"}));
            };
            let collection = match *child {
                "targets" if *parent == "upstreams" => "targets",
                "routes" => "routes",
                "plugins" => "plugins",
                "key-auth" => "key-auths",
                "jwt" => "jwts",
                "basic-auth" => "basic-auths",
                _ => return (404, json!({"message": "Not found"})),
            };
            create(st, collection, body, Some((fk, parent_id)))
        }
        ("GET", [collection, key]) if COLLECTIONS.contains(collection) => {
            match find(st, collection, key) {
                Some(v) => (200, v),
                None => (404, json!({"message": "Not found"})),
            }
        }
        ("PATCH", [collection, key]) if COLLECTIONS.contains(collection) => {
            patch(st, collection, key, body)
        }
        ("DELETE", [collection, key]) if COLLECTIONS.contains(collection) => {
            delete(st, collection, key)
        }
        _ => (404, json!({"message": "Not found"})),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn name_field(collection: &str) -> Option<&'static str> {
    match collection {
        "services" | "routes" | "upstreams" => Some("name"),
        "consumers" => Some("username"),
        _ => None,
    }
}

fn find(st: &Store, collection: &str, key: &str) -> Option<Value> {
    let field = name_field(collection);
    st.entities[collection]
        .iter()
        .find(|v| v["id"] == key || field.is_some_and(|f| v[f] == key))
        .cloned()
}

fn has_tags(v: &Value, wanted: &str) -> bool {
    let tags: Vec<&str> = v
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    wanted.split(',').all(|t| tags.contains(&t))
}

fn list(st: &Store, collection: &str, query: &BTreeMap<String, String>) -> (u16, Value) {
    let size = query
        .get("size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100)
        .min(st.options.page_size)
        .max(1);
    let start: usize = match query.get("offset") {
        None => 0,
        Some(o) => match o.strip_prefix("page-").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return (400, json!({"message": "invalid offset"})),
        },
    };
    let items: Vec<&Value> = st.entities[collection]
        .iter()
        .filter(|v| query.get("tags").is_none_or(|t| has_tags(v, t)))
        .filter(|v| {
            query
                .get("__upstream")
                .is_none_or(|u| v["upstream"]["id"] == u.as_str())
        })
        .collect();
    let page: Vec<Value> = items
        .iter()
        .skip(start)
        .take(size)
        .map(|v| (*v).clone())
        .collect();
    let mut out = json!({"data": page, "next": null});
    if start + size < items.len() {
        let offset = format!("page-{}", start + size);
        out["next"] = json!(format!("/{collection}?offset={offset}&size={size}"));
        out["offset"] = json!(offset);
    }
    (200, out)
}

fn unique_key(collection: &str, v: &Value) -> Option<String> {
    match collection {
        "services" | "routes" | "upstreams" => v["name"].as_str().map(|n| format!("name={n}")),
        "targets" => Some(format!("upstream={} target={}", v["upstream"], v["target"])),
        "consumers" => v["username"].as_str().map(|n| format!("username={n}")),
        "key-auths" | "jwts" => v["key"].as_str().map(|k| format!("key={k}")),
        "plugins" => Some(format!(
            "name={} route={} consumer={} service={}",
            v["name"], v["route"], v["consumer"], v["service"]
        )),
        _ => None,
    }
}

fn with_defaults(collection: &str, v: &mut Value) {
    let obj = v.as_object_mut().unwrap();
    obj.entry("created_at").or_insert(json!(1_700_000_000));
    obj.entry("tags").or_insert(Value::Null);
    match collection {
        "services" => {
            obj.entry("path").or_insert(Value::Null);
            obj.entry("retries").or_insert(json!(5));
            obj.entry("connect_timeout").or_insert(json!(60000));
        }
        "routes" => {
            obj.entry("protocols").or_insert(json!(["http", "https"]));
            obj.entry("preserve_host").or_insert(json!(false));
            obj.entry("hosts").or_insert(Value::Null);
        }
        "plugins" => {
            obj.entry("enabled").or_insert(json!(true));
            obj.entry("protocols")
                .or_insert(json!(["grpc", "grpcs", "http", "https"]));
            let config = obj.entry("config").or_insert(json!({}));
            if let Some(c) = config.as_object_mut() {
                c.entry("kong_filled_default").or_insert(json!(null));
            }
            for fk in ["route", "service", "consumer"] {
                obj.entry(fk).or_insert(Value::Null);
            }
        }
        "jwts" => {
            obj.entry("algorithm").or_insert(json!("HS256"));
        }
        "upstreams" => {
            obj.entry("algorithm").or_insert(json!("round-robin"));
            obj.entry("slots").or_insert(json!(10000));
        }
        "targets" => {
            obj.entry("weight").or_insert(json!(100));
        }
        _ => {}
    }
}

fn create(
    st: &mut Store,
    collection: &str,
    mut body: Value,
    parent: Option<(&str, Value)>,
) -> (u16, Value) {
    if !body.is_object() {
        return (400, json!({"message": "body must be an object"}));
    }
    if let Some((fk, id)) = parent {
        body[fk] = json!({"id": id});
    }
    if collection == "routes" && body.get("service").is_none_or(Value::is_null) {
        return (
            400,
            json!({"message": "schema violation (service: required field missing)"}),
        );
    }
    if collection == "basic-auths" {
        // Kong stores a salted hash, never the password.
        let consumer = body["consumer"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let pw = body["password"].as_str().unwrap_or_default().to_string();
        let hash = sha2::Sha256::digest(format!("{pw}{consumer}").as_bytes());
        body["password"] = json!(hash.iter().map(|b| format!("{b:02x}")).collect::<String>());
    }
    with_defaults(collection, &mut body);
    if let Some(k) = unique_key(collection, &body) {
        if st.entities[collection]
            .iter()
            .any(|v| unique_key(collection, v).as_deref() == Some(&k))
        {
            return (
                409,
                json!({"message": format!("UNIQUE violation detected on '{{{k}}}'"), "code": 5}),
            );
        }
    }
    st.next_id += 1;
    body["id"] = json!(format!("00000000-0000-4000-8000-{:012}", st.next_id));
    st.entities.get_mut(collection).unwrap().push(body.clone());
    (201, body)
}

fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(bv) if bv.is_object() && v.is_object() => merge(bv, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn patch(st: &mut Store, collection: &str, key: &str, body: Value) -> (u16, Value) {
    let Some(current) = find(st, collection, key) else {
        return (404, json!({"message": "Not found"}));
    };
    let mut updated = current.clone();
    merge(&mut updated, &body);
    updated["id"] = current["id"].clone();
    if let Some(k) = unique_key(collection, &updated) {
        if st.entities[collection]
            .iter()
            .any(|v| v["id"] != current["id"] && unique_key(collection, v).as_deref() == Some(&k))
        {
            return (
                409,
                json!({"message": format!("UNIQUE violation detected on '{{{k}}}'")}),
            );
        }
    }
    let items = st.entities.get_mut(collection).unwrap();
    let slot = items.iter_mut().find(|v| v["id"] == current["id"]).unwrap();
    *slot = updated.clone();
    (200, updated)
}

fn delete(st: &mut Store, collection: &str, key: &str) -> (u16, Value) {
    let Some(current) = find(st, collection, key) else {
        return (404, json!({"message": "Not found"}));
    };
    let id = current["id"].clone();
    if collection == "services"
        && st.entities["routes"]
            .iter()
            .any(|r| r["service"]["id"] == id)
    {
        return (
            400,
            json!({"message": "an existing 'routes' entity references this 'services' entity"}),
        );
    }
    st.entities
        .get_mut(collection)
        .unwrap()
        .retain(|v| v["id"] != id);
    let fk = match collection {
        "routes" => Some("route"),
        "consumers" => Some("consumer"),
        "services" => Some("service"),
        "upstreams" => Some("upstream"),
        _ => None,
    };
    if let Some(fk) = fk {
        for c in ["plugins", "key-auths", "jwts", "basic-auths", "targets"] {
            st.entities
                .get_mut(c)
                .unwrap()
                .retain(|v| v[fk]["id"] != id);
        }
    }
    (204, Value::Null)
}
