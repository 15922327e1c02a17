//! Admin API mode: an idempotent sync of an external Kong (services, routes, plugins,
//! consumers, credentials) through its Admin API. Like decK's select-tags, only objects
//! carrying our ownership tags (`justpush` and `justpush-release:<name>`) are ever read,
//! changed or deleted. The desired state and the diff are pure; [`AdminClient`] is the thin
//! HTTP shell (retries with backoff on 5xx and connection errors, clear 401/403/409 errors).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use super::credentials::{consumer_username, plan_credential, CredentialError, CredentialPlan};
use super::derive::{CredentialKind, PluginSource, RoutePlan};

/// The tag on everything justpush creates in Kong.
pub const OWNER_TAG: &str = "justpush";

/// The tag naming the release an object belongs to.
pub fn release_tag(release: &str) -> String {
    format!("justpush-release:{release}")
}

/// Kong entity types, in creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntityKind {
    Upstream,
    Target,
    Service,
    Route,
    Consumer,
    Plugin,
    KeyAuth,
    Jwt,
    BasicAuth,
}

impl EntityKind {
    /// Collection path of the Admin API.
    pub fn collection(self) -> &'static str {
        match self {
            EntityKind::Upstream => "upstreams",
            EntityKind::Target => "targets",
            EntityKind::Service => "services",
            EntityKind::Route => "routes",
            EntityKind::Consumer => "consumers",
            EntityKind::Plugin => "plugins",
            EntityKind::KeyAuth => "key-auths",
            EntityKind::Jwt => "jwts",
            EntityKind::BasicAuth => "basic-auths",
        }
    }
    fn credential(kind: CredentialKind) -> EntityKind {
        match kind {
            CredentialKind::KeyAuth => EntityKind::KeyAuth,
            CredentialKind::Jwt => EntityKind::Jwt,
            CredentialKind::BasicAuth => EntityKind::BasicAuth,
        }
    }
    /// Fields whose values are secrets (never shown in diffs).
    fn secret_fields(self) -> &'static [&'static str] {
        match self {
            EntityKind::KeyAuth => &["key"],
            EntityKind::Jwt => &["secret"],
            EntityKind::BasicAuth => &["password"],
            _ => &[],
        }
    }
}

/// What an entity hangs off (for the nested creation endpoint).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum Parent {
    Upstream(String),
    Service(String),
    Route(String),
    Consumer(String),
}

impl Parent {
    fn path(&self) -> String {
        match self {
            Parent::Upstream(n) => format!("upstreams/{n}"),
            Parent::Service(n) => format!("services/{n}"),
            Parent::Route(n) => format!("routes/{n}"),
            Parent::Consumer(n) => format!("consumers/{n}"),
        }
    }
}

/// One Kong object: desired (no id) or current (with id).
#[derive(Clone, PartialEq)]
pub struct Entity {
    pub kind: EntityKind,
    /// Natural key: name, username, or `<parent>/<plugin>`.
    pub key: String,
    pub parent: Option<Parent>,
    /// The fields justpush manages (current entities: everything Kong returned).
    pub body: Value,
    pub id: Option<String>,
}

impl std::fmt::Debug for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {} (id {:?})", self.kind, self.key, self.id)
    }
}

/// Desired versus current: what a sync does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    pub create: Vec<Entity>,
    /// (desired, current id, changed top-level fields)
    pub update: Vec<(Entity, String, Vec<String>)>,
    pub delete: Vec<Entity>,
    pub unchanged: usize,
}

impl Diff {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }

    /// One line per change, secrets left out: `create route demo_listpets`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.create {
            out.push(format!("create {} {}", kind_name(e.kind), e.key));
        }
        for (e, _, fields) in &self.update {
            out.push(format!(
                "update {} {} ({})",
                kind_name(e.kind),
                e.key,
                fields.join(", ")
            ));
        }
        for e in &self.delete {
            out.push(format!("delete {} {}", kind_name(e.kind), e.key));
        }
        out
    }
}

fn kind_name(k: EntityKind) -> &'static str {
    match k {
        EntityKind::Upstream => "upstream",
        EntityKind::Target => "target",
        EntityKind::Service => "service",
        EntityKind::Route => "route",
        EntityKind::Consumer => "consumer",
        EntityKind::Plugin => "plugin",
        EntityKind::KeyAuth => "key-auth credential",
        EntityKind::Jwt => "jwt credential",
        EntityKind::BasicAuth => "basic-auth credential",
    }
}

/// What a sync should make of the plan.
#[derive(Debug, Clone)]
pub struct SyncTarget<'a> {
    pub release: &'a str,
    /// Upstream the service proxies to, `http://host:port` (routes carry the full path).
    pub upstream: &'a str,
    pub plan: &'a RoutePlan,
}

/// The desired Kong objects of a plan, with the consumer credentials already decided.
pub fn desired_state(target: &SyncTarget, credentials: &[CredentialPlan]) -> Vec<Entity> {
    let tags = json!([OWNER_TAG, release_tag(target.release)]);
    let service_name = format!("{}-{}", target.release, target.plan.api);
    // Kong stores a service URL as protocol, host and port (and answers with those), so they
    // are what is compared.
    let (protocol, host, port) = split_origin(target.upstream);
    let mut service = json!({"name": service_name, "protocol": protocol, "host": host, "port": port, "tags": tags});
    for (k, v) in &target.plan.service_defaults {
        if !matches!(
            k.as_str(),
            "name"
                | "url"
                | "host"
                | "port"
                | "protocol"
                | "path"
                | "tags"
                | "id"
                | "routes"
                | "plugins"
        ) {
            service[k] = v.clone();
        }
    }
    let mut out = Vec::new();
    if !target.plan.upstream_defaults.is_empty() {
        // decK's shape: the service points at an upstream that carries the defaults, with the
        // given origin as its target.
        let upstream_name = format!("{service_name}-upstream");
        let mut upstream = json!({"name": upstream_name, "tags": tags});
        for (k, v) in &target.plan.upstream_defaults {
            if !matches!(k.as_str(), "name" | "id" | "tags" | "targets") {
                upstream[k] = v.clone();
            }
        }
        out.push(Entity {
            kind: EntityKind::Upstream,
            key: upstream_name.clone(),
            parent: None,
            body: upstream,
            id: None,
        });
        let target_addr = format!("{host}:{port}");
        out.push(Entity {
            kind: EntityKind::Target,
            key: format!("{upstream_name}/{target_addr}"),
            parent: Some(Parent::Upstream(upstream_name.clone())),
            body: json!({"target": target_addr, "weight": 100, "tags": tags}),
            id: None,
        });
        service["host"] = json!(upstream_name);
    }
    out.push(Entity {
        kind: EntityKind::Service,
        key: service_name.clone(),
        parent: None,
        body: service,
        id: None,
    });
    let consumer = consumer_username(target.release);
    out.push(Entity {
        kind: EntityKind::Consumer,
        key: consumer.clone(),
        parent: None,
        body: json!({"username": consumer, "tags": tags}),
        id: None,
    });
    for c in credentials {
        let mut body = json!({"tags": tags});
        for (k, v) in &c.data {
            body[k] = json!(v);
        }
        out.push(Entity {
            kind: EntityKind::credential(c.kind),
            key: format!("{consumer}/{}", c.kind.plugin()),
            parent: Some(Parent::Consumer(consumer.clone())),
            body,
            id: None,
        });
    }
    if let Some(anon) = &target.plan.anonymous_consumer {
        out.push(Entity {
            kind: EntityKind::Consumer,
            key: anon.username.clone(),
            parent: None,
            body: json!({"username": anon.username, "tags": tags}),
            id: None,
        });
        for p in &anon.plugins {
            out.push(plugin_entity(
                p.name.as_str(),
                &p.config,
                &p.protocols,
                p.enabled,
                Parent::Consumer(anon.username.clone()),
                &tags,
            ));
        }
    }
    for r in &target.plan.routes {
        let mut body = json!({
            "name": r.name,
            "paths": r.paths,
            "methods": r.methods,
            "regex_priority": r.regex_priority,
            "strip_path": r.strip_path,
            "tags": tags,
        });
        for (k, v) in &r.route_fields {
            body[k] = v.clone();
        }
        out.push(Entity {
            kind: EntityKind::Route,
            key: r.name.clone(),
            parent: Some(Parent::Service(service_name.clone())),
            body,
            id: None,
        });
        for p in r
            .plugins
            .iter()
            .filter(|p| p.source != PluginSource::AnonymousConsumer)
        {
            out.push(plugin_entity(
                &p.name,
                &p.config,
                &p.protocols,
                p.enabled,
                Parent::Route(r.name.clone()),
                &tags,
            ));
        }
    }
    out
}

/// `https://h:8443/x` → ("https", "h", 8443); the path is ignored (routes carry full paths).
pub fn split_origin(url: &str) -> (String, String, u16) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let hostport = rest.split('/').next().unwrap_or_default();
    let default = if scheme == "https" { 443 } else { 80 };
    match hostport.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (
            scheme.to_string(),
            h.to_string(),
            p.parse().unwrap_or(default),
        ),
        _ => (scheme.to_string(), hostport.to_string(), default),
    }
}

fn plugin_entity(
    name: &str,
    config: &Value,
    protocols: &[String],
    enabled: bool,
    parent: Parent,
    tags: &Value,
) -> Entity {
    let owner = match &parent {
        Parent::Upstream(n) | Parent::Service(n) | Parent::Route(n) | Parent::Consumer(n) => {
            n.clone()
        }
    };
    let mut body = json!({"name": name, "config": config, "enabled": enabled, "tags": tags});
    if !protocols.is_empty() {
        body["protocols"] = json!(protocols);
    }
    Entity {
        kind: EntityKind::Plugin,
        key: format!("{owner}/{name}"),
        parent: Some(parent),
        body,
        id: None,
    }
}

/// True when every field of `desired` has the same value in `current` (objects compared
/// recursively on desired's keys only, since Kong fills in defaults; lists and scalars exactly).
pub fn covers(current: &Value, desired: &Value) -> bool {
    match (current, desired) {
        (Value::Object(c), Value::Object(d)) => d.iter().all(|(k, dv)| match c.get(k) {
            Some(cv) => covers(cv, dv),
            None => dv.is_null(),
        }),
        (Value::Array(c), Value::Array(d))
            if d.iter().all(Value::is_string) && c.iter().all(Value::is_string) =>
        {
            // Kong returns sets (tags, methods) in its own order.
            let mut a: Vec<&str> = c.iter().filter_map(Value::as_str).collect();
            let mut b: Vec<&str> = d.iter().filter_map(Value::as_str).collect();
            if a.len() != b.len() {
                return false;
            }
            a.sort();
            b.sort();
            a == b
        }
        (c, d) => c == d,
    }
}

/// The pure diff: create what is desired and absent, update what differs, delete what is
/// ours and no longer desired. `current` holds only objects carrying the release tag.
pub fn diff(desired: &[Entity], current: &[Entity]) -> Diff {
    let mut out = Diff::default();
    let index: BTreeMap<(EntityKind, &str), &Entity> = current
        .iter()
        .map(|e| ((e.kind, e.key.as_str()), e))
        .collect();
    for d in desired {
        match index.get(&(d.kind, d.key.as_str())) {
            None => out.create.push(d.clone()),
            Some(c) => {
                if covers(&c.body, &d.body) {
                    out.unchanged += 1;
                } else {
                    let fields: Vec<String> = d
                        .body
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .filter(|(k, v)| {
                                    !c.body.get(k.as_str()).is_some_and(|cv| covers(cv, v))
                                })
                                .map(|(k, _)| k.clone())
                                .collect()
                        })
                        .unwrap_or_default();
                    out.update
                        .push((d.clone(), c.id.clone().unwrap_or_default(), fields));
                }
            }
        }
    }
    let wanted: std::collections::BTreeSet<(EntityKind, &str)> =
        desired.iter().map(|e| (e.kind, e.key.as_str())).collect();
    for c in current {
        if !wanted.contains(&(c.kind, c.key.as_str())) {
            out.delete.push(c.clone());
        }
    }
    // Dependants go first: plugins and credentials, then routes and consumers, then services.
    out.delete.sort_by_key(|e| std::cmp::Reverse(e.kind));
    out.create.sort_by_key(|e| e.kind);
    out
}

/// Current objects from the Admin API's JSON, keyed as [`desired_state`] keys them.
pub fn current_state(raw: &BTreeMap<EntityKind, Vec<Value>>) -> Vec<Entity> {
    let id_of = |v: &Value| v.get("id").and_then(Value::as_str).map(String::from);
    let names = |kind: EntityKind, field: &str| -> BTreeMap<String, String> {
        raw.get(&kind)
            .into_iter()
            .flatten()
            .filter_map(|v| Some((id_of(v)?, v.get(field)?.as_str()?.to_string())))
            .collect()
    };
    let services = names(EntityKind::Service, "name");
    let upstreams = names(EntityKind::Upstream, "name");
    let routes = names(EntityKind::Route, "name");
    let consumers = names(EntityKind::Consumer, "username");
    let fk = |v: &Value, field: &str| {
        v.get(field)
            .and_then(|f| f.get("id"))
            .and_then(Value::as_str)
            .map(String::from)
    };
    let mut out = Vec::new();
    for (kind, items) in raw {
        for v in items {
            let (key, parent) = match kind {
                EntityKind::Service | EntityKind::Upstream => {
                    (v["name"].as_str().unwrap_or_default().to_string(), None)
                }
                EntityKind::Target => {
                    let u = fk(v, "upstream")
                        .and_then(|id| upstreams.get(&id).cloned())
                        .unwrap_or_default();
                    (
                        format!("{u}/{}", v["target"].as_str().unwrap_or_default()),
                        Some(Parent::Upstream(u)),
                    )
                }
                EntityKind::Consumer => {
                    (v["username"].as_str().unwrap_or_default().to_string(), None)
                }
                EntityKind::Route => {
                    let svc = fk(v, "service")
                        .and_then(|id| services.get(&id).cloned())
                        .unwrap_or_default();
                    (
                        v["name"].as_str().unwrap_or_default().to_string(),
                        Some(Parent::Service(svc)),
                    )
                }
                EntityKind::Plugin => {
                    let name = v["name"].as_str().unwrap_or_default();
                    let parent = if let Some(r) = fk(v, "route") {
                        Parent::Route(routes.get(&r).cloned().unwrap_or(r))
                    } else if let Some(c) = fk(v, "consumer") {
                        Parent::Consumer(consumers.get(&c).cloned().unwrap_or(c))
                    } else if let Some(s) = fk(v, "service") {
                        Parent::Service(services.get(&s).cloned().unwrap_or(s))
                    } else {
                        Parent::Service(String::new())
                    };
                    let owner = match &parent {
                        Parent::Upstream(n)
                        | Parent::Service(n)
                        | Parent::Route(n)
                        | Parent::Consumer(n) => n.clone(),
                    };
                    (format!("{owner}/{name}"), Some(parent))
                }
                EntityKind::KeyAuth | EntityKind::Jwt | EntityKind::BasicAuth => {
                    let c = fk(v, "consumer")
                        .and_then(|id| consumers.get(&id).cloned())
                        .unwrap_or_default();
                    let plugin = match kind {
                        EntityKind::KeyAuth => "key-auth",
                        EntityKind::Jwt => "jwt",
                        _ => "basic-auth",
                    };
                    (format!("{c}/{plugin}"), Some(Parent::Consumer(c)))
                }
            };
            out.push(Entity {
                kind: *kind,
                key,
                parent,
                body: v.clone(),
                id: id_of(v),
            });
        }
    }
    out
}

/// The consumer's credentials for a sync: what Kong holds is kept, missing ones generated.
pub fn plan_credentials(
    release: &str,
    kinds: &[CredentialKind],
    current: &[Entity],
) -> Result<Vec<CredentialPlan>, CredentialError> {
    let consumer = consumer_username(release);
    kinds
        .iter()
        .map(|kind| {
            let key = format!("{consumer}/{}", kind.plugin());
            let existing = current
                .iter()
                .find(|e| e.kind == EntityKind::credential(*kind) && e.key == key)
                .map(|e| {
                    let fields: &[&str] = match kind {
                        CredentialKind::KeyAuth => &["key"],
                        CredentialKind::Jwt => &["key", "secret", "algorithm"],
                        CredentialKind::BasicAuth => &["username", "password"],
                    };
                    fields
                        .iter()
                        .filter_map(|f| {
                            Some((f.to_string(), e.body.get(*f)?.as_str()?.to_string()))
                        })
                        .collect::<BTreeMap<_, _>>()
                });
            // Kong stores basic-auth passwords hashed: an existing one is kept as it is (the
            // entity is then left alone, see `credential_is_kept`).
            plan_credential(
                *kind,
                &key,
                existing.as_ref(),
                &consumer,
                false,
                &mut rand::rngs::OsRng,
            )
        })
        .collect()
}

/// Why the Admin API could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    #[error("cannot reach the Kong Admin API at {url}: {message}; check kong.adminUrl (or --admin-url) and that Kong's admin listener is reachable from here")]
    Unreachable { url: String, message: String },
    #[error("the Kong Admin API at {url} refused the request (401 Unauthorized): set the admin token in JUSTPUSH_KONG_ADMIN_TOKEN or kong.adminToken in justpush.yaml")]
    Unauthorized { url: String },
    #[error("the Kong Admin API denied {method} {path} (403 Forbidden): the admin token lacks permission for it; use a token (RBAC user) that may write services, routes, plugins and consumers")]
    Forbidden { method: String, path: String },
    #[error("Kong refused {method} {path} (409 Conflict): {message}; an object with that name already exists without justpush's tags (justpush never takes over objects it did not create): rename or remove it, or tag it `{OWNER_TAG}`")]
    Conflict {
        method: String,
        path: String,
        message: String,
    },
    #[error("Kong answered {method} {path} with {status}: {message}")]
    Status {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("the Kong Admin API at {url} kept failing after {attempts} attempts: {message}")]
    GaveUp {
        url: String,
        attempts: u32,
        message: String,
    },
    #[error(transparent)]
    Credential(#[from] CredentialError),
}

/// The Admin API over HTTP.
pub struct AdminClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    /// Attempts per request on 5xx and connection errors.
    pub attempts: u32,
    /// First backoff; doubles after each failed attempt.
    pub backoff: Duration,
}

impl AdminClient {
    /// A client for `base` (e.g. `http://kong-admin:8001`); the token is sent as
    /// `Kong-Admin-Token`.
    pub fn new(base: &str, token: Option<String>) -> Result<AdminClient, AdminError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| AdminError::Unreachable {
                url: base.into(),
                message: e.to_string(),
            })?;
        Ok(AdminClient {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
            attempts: 4,
            backoff: Duration::from_millis(250),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AdminError> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let mut delay = self.backoff;
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            let mut req = self.http.request(method.clone(), &url);
            if let Some(t) = &self.token {
                req = req.header("Kong-Admin-Token", t);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            match req.send().await {
                Err(e) => {
                    last = e.to_string();
                    if attempt == self.attempts {
                        return Err(AdminError::Unreachable {
                            url: self.base.clone(),
                            message: last,
                        });
                    }
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let text = resp.text().await.unwrap_or_default();
                    let message = || {
                        // Kong echoes field values (a UNIQUE violation names the key): never
                        // repeat what Kong says about credentials.
                        if is_credential_path(path) {
                            return "(details withheld: they may contain the credential)"
                                .to_string();
                        }
                        serde_json::from_str::<Value>(&text)
                            .ok()
                            .and_then(|v| {
                                v.get("message").and_then(Value::as_str).map(String::from)
                            })
                            .unwrap_or_else(|| text.chars().take(300).collect())
                    };
                    match status {
                        200..=299 => {
                            return Ok(if text.is_empty() {
                                Value::Null
                            } else {
                                serde_json::from_str(&text).unwrap_or(Value::Null)
                            })
                        }
                        401 => {
                            return Err(AdminError::Unauthorized {
                                url: self.base.clone(),
                            })
                        }
                        403 => {
                            return Err(AdminError::Forbidden {
                                method: method.to_string(),
                                path: path.into(),
                            })
                        }
                        409 => {
                            return Err(AdminError::Conflict {
                                method: method.to_string(),
                                path: path.into(),
                                message: message(),
                            })
                        }
                        500..=599 => last = format!("HTTP {status}: {}", message()),
                        _ => {
                            return Err(AdminError::Status {
                                method: method.to_string(),
                                path: path.into(),
                                status,
                                message: message(),
                            })
                        }
                    }
                }
            }
            if attempt < self.attempts {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
        Err(AdminError::GaveUp {
            url: self.base.clone(),
            attempts: self.attempts,
            message: last,
        })
    }

    /// Every object of a collection carrying `tag`, following Kong's `offset` pagination.
    pub async fn list_tagged(&self, kind: EntityKind, tag: &str) -> Result<Vec<Value>, AdminError> {
        self.list_paged(kind.collection(), Some(tag)).await
    }

    async fn list_paged(
        &self,
        collection: &str,
        tag: Option<&str>,
    ) -> Result<Vec<Value>, AdminError> {
        let mut out = Vec::new();
        let mut offset: Option<String> = None;
        loop {
            let mut path = format!("{collection}?size=100");
            if let Some(t) = tag {
                path.push_str(&format!("&tags={}", urlencode(t)));
            }
            if let Some(o) = &offset {
                path.push_str(&format!("&offset={}", urlencode(o)));
            }
            let page = self.call(reqwest::Method::GET, &path, None).await?;
            out.extend(
                page.get("data")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            match page.get("offset").and_then(Value::as_str) {
                Some(o) if !o.is_empty() => offset = Some(o.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The release's objects, as the diff wants them.
    pub async fn current(&self, release: &str) -> Result<Vec<Entity>, AdminError> {
        let tag = release_tag(release);
        let mut raw = BTreeMap::new();
        let upstreams = self.list_tagged(EntityKind::Upstream, &tag).await?;
        let mut targets = Vec::new();
        for u in &upstreams {
            let id = u.get("id").and_then(Value::as_str).unwrap_or_default();
            // Targets are listed per upstream; only ours count.
            targets.extend(
                self.list_paged(&format!("upstreams/{id}/targets"), Some(&tag))
                    .await?,
            );
        }
        raw.insert(EntityKind::Upstream, upstreams);
        raw.insert(EntityKind::Target, targets);
        for kind in [
            EntityKind::Service,
            EntityKind::Route,
            EntityKind::Consumer,
            EntityKind::Plugin,
            EntityKind::KeyAuth,
            EntityKind::Jwt,
            EntityKind::BasicAuth,
        ] {
            raw.insert(kind, self.list_tagged(kind, &tag).await?);
        }
        Ok(current_state(&raw))
    }

    /// Applies a diff: creations in dependency order, updates, then deletions.
    pub async fn apply(&self, diff: &Diff) -> Result<(), AdminError> {
        for e in &diff.create {
            let path = match (&e.parent, e.kind) {
                (Some(p), EntityKind::KeyAuth) => format!("{}/key-auth", p.path()),
                (Some(p), EntityKind::Jwt) => format!("{}/jwt", p.path()),
                (Some(p), EntityKind::BasicAuth) => format!("{}/basic-auth", p.path()),
                (Some(p), kind) => format!("{}/{}", p.path(), kind.collection()),
                (None, kind) => kind.collection().to_string(),
            };
            self.call(reqwest::Method::POST, &path, Some(&e.body))
                .await?;
        }
        for (e, id, _) in &diff.update {
            self.call(reqwest::Method::PATCH, &entity_path(e, id), Some(&e.body))
                .await?;
        }
        for e in &diff.delete {
            let id = e.id.as_deref().unwrap_or_default();
            match self
                .call(reqwest::Method::DELETE, &entity_path(e, id), None)
                .await
            {
                // Gone already (Kong cascades, or someone was quicker): that is what we wanted.
                Err(AdminError::Status { status: 404, .. }) => {}
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }
}

/// Paths whose requests and answers carry credential values.
fn is_credential_path(path: &str) -> bool {
    ["key-auth", "jwt", "basic-auth"]
        .iter()
        .any(|c| path.split(['/', '?']).any(|seg| seg.starts_with(c)))
}

/// An entity's own path: targets live under their upstream.
fn entity_path(e: &Entity, id: &str) -> String {
    match (&e.parent, e.kind) {
        (Some(p @ Parent::Upstream(_)), EntityKind::Target) => format!("{}/targets/{id}", p.path()),
        _ => format!("{}/{id}", e.kind.collection()),
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Kong hashes basic-auth passwords: the stored value never equals the plain one, so a kept
/// basic-auth credential is compared on its username only.
pub fn without_unverifiable_fields(desired: &mut [Entity], current: &[Entity]) {
    for d in desired
        .iter_mut()
        .filter(|d| d.kind == EntityKind::BasicAuth)
    {
        if current.iter().any(|c| c.kind == d.kind && c.key == d.key) {
            if let Some(m) = d.body.as_object_mut() {
                m.remove("password");
            }
        }
    }
}

/// Redacts secret fields of an entity body (for `-o json` of a dry run).
pub fn redacted(e: &Entity) -> Value {
    let mut body = e.body.clone();
    if let Some(m) = body.as_object_mut() {
        for f in e.kind.secret_fields() {
            if m.contains_key(*f) {
                m.insert((*f).into(), json!("<redacted>"));
            }
        }
    }
    body
}

/// What a sync found and did.
#[derive(Debug)]
pub struct SyncOutcome {
    pub diff: Diff,
    /// The consumer's credentials (new ones are to be shown to the user once).
    pub credentials: Vec<CredentialPlan>,
    pub applied: bool,
}

/// Syncs the release's objects to the plan (or, with `dry_run`, only computes the diff).
pub async fn sync(
    client: &AdminClient,
    target: &SyncTarget<'_>,
    dry_run: bool,
) -> Result<SyncOutcome, AdminError> {
    let current = client.current(target.release).await?;
    let mut kinds: Vec<CredentialKind> = target.plan.credentials.iter().copied().collect();
    if kinds.is_empty() {
        // A consumer without any credential is of no use; key-auth is the product's default.
        kinds.push(CredentialKind::KeyAuth);
    }
    let credentials = plan_credentials(target.release, &kinds, &current)?;
    let mut desired = desired_state(target, &credentials);
    without_unverifiable_fields(&mut desired, &current);
    let diff = diff(&desired, &current);
    if !dry_run {
        client.apply(&diff).await?;
    }
    Ok(SyncOutcome {
        diff,
        credentials,
        applied: !dry_run,
    })
}

/// Deletes every object of the release (only ones carrying its tag).
pub async fn delete_release(
    client: &AdminClient,
    release: &str,
    dry_run: bool,
) -> Result<Diff, AdminError> {
    let current = client.current(release).await?;
    let diff = diff(&[], &current);
    if !dry_run {
        client.apply(&diff).await?;
    }
    Ok(diff)
}

/// Plain `Map` helper for tests and callers building raw state.
pub fn raw_state(pairs: Vec<(EntityKind, Vec<Value>)>) -> BTreeMap<EntityKind, Vec<Value>> {
    pairs.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::config::KongConfig;
    use crate::kong::derive::{derive, GatewaySettings};
    use crate::kong::spec::ApiSpec;

    fn plan() -> RoutePlan {
        let spec = ApiSpec::parse(
            "openapi: 3.0.0\ninfo: {title: Pets, version: '1'}\ncomponents:\n  securitySchemes:\n    k: {type: apiKey, in: header, name: apikey}\n    b: {type: http, scheme: bearer}\nsecurity: [{k: []}, {b: []}]\npaths:\n  /pets: {get: {operationId: list}}\n  /pets/{id}: {delete: {operationId: remove}}\n",
            "t",
        )
        .unwrap();
        derive(
            &spec,
            &GatewaySettings::from_config(&KongConfig::default(), "demo"),
        )
        .unwrap()
    }

    fn creds() -> Vec<CredentialPlan> {
        plan_credentials("demo", &[CredentialKind::KeyAuth], &[]).unwrap()
    }

    /// The desired state of release demo for `plan()`, and the credentials it was made with
    /// (their keys are fresh each time `creds()` runs).
    fn demo_desired() -> (Vec<Entity>, Vec<CredentialPlan>) {
        let c = creds();
        let desired = desired_state(
            &SyncTarget {
                release: "demo",
                upstream: "http://api:8000",
                plan: &plan(),
            },
            &c,
        );
        (desired, c)
    }

    /// What Kong would return for the desired objects: ids, foreign keys, filled defaults.
    fn as_kong_would_store(desired: &[Entity]) -> BTreeMap<EntityKind, Vec<Value>> {
        let mut ids = BTreeMap::new();
        let mut raw: BTreeMap<EntityKind, Vec<Value>> = BTreeMap::new();
        for (i, e) in desired.iter().enumerate() {
            let id = format!("id-{i}");
            ids.insert(e.key.clone(), id.clone());
            let mut v = e.body.clone();
            v["id"] = json!(id);
            v["created_at"] = json!(1);
            if let Some(c) = v.get_mut("config").and_then(Value::as_object_mut) {
                c.insert("a_kong_default".into(), json!(null));
            }
            if let Some(p) = &e.parent {
                let (field, name) = match p {
                    Parent::Upstream(n) => ("upstream", n),
                    Parent::Service(n) => ("service", n),
                    Parent::Route(n) => ("route", n),
                    Parent::Consumer(n) => ("consumer", n),
                };
                v[field] = json!({"id": ids[name]});
            }
            raw.entry(e.kind).or_default().push(v);
        }
        raw
    }

    #[test]
    fn first_sync_creates_everything_in_dependency_order() {
        let (desired, c) = demo_desired();
        let d = diff(&desired, &[]);
        assert!(d.update.is_empty() && d.delete.is_empty());
        let kinds: Vec<EntityKind> = d.create.iter().map(|e| e.kind).collect();
        let mut sorted = kinds.clone();
        sorted.sort();
        assert_eq!(kinds, sorted);
        assert!(d.create.iter().all(|e| covers(
            &e.body["tags"],
            &json!(["justpush", "justpush-release:demo"])
        )));
        assert!(d
            .lines()
            .iter()
            .any(|l| l == "create consumer demo-anonymous"));
        assert!(!d.lines().join("\n").contains(c[0].data["key"].as_str()));
    }

    #[test]
    fn a_second_diff_against_the_stored_state_is_empty() {
        let (desired, _) = demo_desired();
        let current = current_state(&as_kong_would_store(&desired));
        let d = diff(&desired, &current);
        assert!(d.is_empty(), "{:?}", d.lines());
        assert_eq!(d.unchanged, desired.len());
    }

    #[test]
    fn changes_and_removals_are_found() {
        let (desired, _) = demo_desired();
        let mut raw = as_kong_would_store(&desired);
        raw.get_mut(&EntityKind::Route).unwrap()[0]["regex_priority"] = json!(5);
        raw.get_mut(&EntityKind::Route)
            .unwrap()
            .push(json!({"id": "old", "name": "gone", "tags": ["justpush"]}));
        let d = diff(&desired, &current_state(&raw));
        assert_eq!(
            d.lines(),
            vec![
                format!(
                    "update route {} (regex_priority)",
                    desired
                        .iter()
                        .find(|e| e.kind == EntityKind::Route)
                        .unwrap()
                        .key
                ),
                "delete route gone".to_string()
            ]
        );
    }

    #[test]
    fn existing_credentials_are_kept() {
        let raw = raw_state(vec![
            (
                EntityKind::Consumer,
                vec![json!({"id": "c1", "username": "demo-developer"})],
            ),
            (
                EntityKind::KeyAuth,
                vec![json!({"id": "k1", "key": "kept-key-123", "consumer": {"id": "c1"}})],
            ),
        ]);
        let plans = plan_credentials(
            "demo",
            &[CredentialKind::KeyAuth, CredentialKind::Jwt],
            &current_state(&raw),
        )
        .unwrap();
        assert_eq!(plans[0].data["key"], "kept-key-123");
        assert_eq!(plans[1].outcome, crate::kong::credentials::Outcome::Created);
    }

    #[test]
    fn upstream_defaults_put_an_upstream_between_service_and_origin() {
        let mut p = plan();
        p.upstream_defaults.insert("slots".into(), json!(100));
        let desired = desired_state(
            &SyncTarget {
                release: "demo",
                upstream: "https://api.internal:8443/x",
                plan: &p,
            },
            &creds(),
        );
        let kinds: Vec<EntityKind> = desired.iter().take(3).map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EntityKind::Upstream,
                EntityKind::Target,
                EntityKind::Service
            ]
        );
        assert_eq!(desired[1].body["target"], "api.internal:8443");
        assert_eq!(desired[2].body["host"], "demo-pets-upstream");
        assert_eq!(desired[2].body["protocol"], "https");
        let current = current_state(&as_kong_would_store(&desired));
        assert!(diff(&desired, &current).is_empty());
    }

    #[test]
    fn credential_paths_are_recognised() {
        assert!(is_credential_path("consumers/demo-developer/key-auth"));
        assert!(is_credential_path("key-auths/123"));
        assert!(is_credential_path("jwts?size=100&tags=x"));
        assert!(!is_credential_path("routes/demo_jwtish"));
        assert!(!is_credential_path("plugins/1"));
    }

    #[test]
    fn covers_ignores_kong_defaults_but_not_differences() {
        assert!(covers(
            &json!({"a": 1, "b": {"c": 2, "d": 3}}),
            &json!({"b": {"c": 2}})
        ));
        assert!(!covers(&json!({"b": {"c": 2}}), &json!({"b": {"c": 3}})));
        assert!(covers(&json!({"t": ["b", "a"]}), &json!({"t": ["a", "b"]})));
        assert!(!covers(&json!({"t": ["a"]}), &json!({"t": ["a", "b"]})));
    }
}
