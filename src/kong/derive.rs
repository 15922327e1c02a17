//! Gateway derivation: an [`ApiSpec`] plus the gateway settings of `justpush.yaml` become Kong
//! routes and plugins. Pure: no I/O, deterministic output (routes in path then method order,
//! plugins sorted by name), so snapshots and the Admin API diff can rely on it.
//!
//! Conventions follow decK's openapi2kong where it has one (route names, anchored regex paths,
//! regex priorities 200/100, `x-kong-*` extensions); security goes further than decK: apiKey,
//! bearer and basic schemes, OR alternatives (Kong's multiple-authentication pattern with an
//! anonymous consumer) and AND combinations.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::Digest;

use super::spec::{ApiSpec, Diagnostic, KeyLocation, Operation, PathItem, SecurityScheme};
use crate::detect::config::{KongConfig, SchemeEnforcement};

/// Regex priority of routes without path parameters (decK's value).
pub const PRIORITY_PLAIN: i64 = 200;
/// Regex priority of routes with path parameters: below plain ones, so `/pets/mine` wins over
/// `/pets/{id}`.
pub const PRIORITY_WITH_PARAMS: i64 = 100;
/// Kong's regex capture names must be shorter than this (decK rejects 32 and more).
pub const MAX_CAPTURE_NAME: usize = 31;
/// Characters openapi2kong escapes in literal path parts.
const REGEX_SPECIAL: [char; 8] = ['(', ')', '.', '+', '?', '*', '[', '$'];

/// What `justpush.yaml` says about the gateway, as derivation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySettings {
    /// Default rate limits per window; all None = no default rate limiting.
    pub rate_limit: RateWindows,
    /// CORS origins and credentials; None = no CORS plugin.
    pub cors: Option<CorsSettings>,
    /// request-transformer plugin config applied to every route, when configured.
    pub request_transformer: Option<Value>,
    /// response-transformer plugin config applied to every route, when configured.
    pub response_transformer: Option<Value>,
    /// Username of the anonymous consumer used by OR-combined authentication.
    pub anonymous_consumer: String,
    /// `kong.security`: how each named scheme is enforced, replacing the derived plugin.
    pub security: BTreeMap<String, SchemeEnforcement>,
    /// Operations whose security Kong cannot check become public routes (warned about)
    /// instead of refusing the spec.
    pub allow_public: bool,
    /// `hide_credentials` of derived key-auth and basic-auth plugins.
    pub hide_credentials: bool,
    /// Plugins `x-kong-plugin-*` may use beyond the safe ones (`kong.allowPlugins`).
    pub allow_plugins: BTreeSet<String>,
    /// Username of the developer consumer (consumer-scoped plugins may name it).
    pub developer_consumer: String,
}

/// Requests allowed per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RateWindows {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minute: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hour: Option<u32>,
}

impl RateWindows {
    fn is_empty(&self) -> bool {
        self.second.is_none() && self.minute.is_none() && self.hour.is_none()
    }
}

/// Cross-origin settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsSettings {
    pub origins: Vec<String>,
    pub credentials: bool,
}

impl GatewaySettings {
    /// Settings from `justpush.yaml`'s `kong` section; `release` names the anonymous consumer.
    pub fn from_config(kong: &KongConfig, release: &str) -> GatewaySettings {
        GatewaySettings {
            rate_limit: RateWindows {
                second: kong.rate_limit.second,
                minute: kong.rate_limit.minute,
                hour: kong.rate_limit.hour,
            },
            cors: (!kong.cors.origins.is_empty()).then(|| CorsSettings {
                origins: kong.cors.origins.clone(),
                credentials: kong.cors.credentials,
            }),
            request_transformer: kong.request_transformer.clone(),
            response_transformer: kong.response_transformer.clone(),
            anonymous_consumer: format!("{release}-anonymous"),
            security: kong.security.clone(),
            allow_public: kong.allow_public,
            hide_credentials: kong.hide_credentials,
            allow_plugins: kong.allow_plugins.iter().cloned().collect(),
            developer_consumer: super::credentials::consumer_username(release),
        }
    }
}

/// Where a plugin on a route comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginSource {
    /// justpush.yaml defaults (rate limiting, CORS, transformers): on every route.
    Global,
    /// `x-kong-plugin-*` on the document.
    Document,
    /// `x-kong-plugin-*` on the path item.
    Path,
    /// `x-kong-plugin-*` on the operation.
    Operation,
    /// `x-justpush-rate-limit` at some level.
    RateLimitOverride,
    /// Derived from the operation's security requirements.
    Security,
    /// Attached to the anonymous consumer (denies requests no auth plugin identified).
    AnonymousConsumer,
}

/// One plugin instance applying to a route.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plugin {
    /// Kong plugin name (`key-auth`, `rate-limiting`, ...).
    pub name: String,
    pub config: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protocols: Vec<String>,
    #[serde(skip_serializing_if = "is_true")]
    pub enabled: bool,
    pub source: PluginSource,
    /// Username of the consumer the plugin is scoped to (`consumer` of an
    /// `x-kong-plugin-*`): it then applies to that consumer's requests on the route only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
}

fn is_true(b: &bool) -> bool {
    *b
}

/// A credential kind the developer consumer needs for the derived routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    KeyAuth,
    Jwt,
    BasicAuth,
}

impl CredentialKind {
    /// The Kong plugin (and credential type) name.
    pub fn plugin(self) -> &'static str {
        match self {
            CredentialKind::KeyAuth => "key-auth",
            CredentialKind::Jwt => "jwt",
            CredentialKind::BasicAuth => "basic-auth",
        }
    }
}

/// One Kong route.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// Kong route name, decK style (`<api>_<operationId>`).
    pub name: String,
    /// Short DNS-label name for Kubernetes objects (unique within the plan).
    pub k8s_name: String,
    /// `METHOD /path` as written in the spec.
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    pub methods: Vec<String>,
    /// Kong paths (`~/api/pets/(?<petid>[^#?/]+)$`).
    pub paths: Vec<String>,
    pub regex_priority: i64,
    pub strip_path: bool,
    /// How the route authenticates (shown as `public`, `key-auth`, `jwt | key-auth`, ...).
    pub auth: RouteAuth,
    /// Every plugin that applies to the route, global ones included, sorted by name.
    pub plugins: Vec<Plugin>,
    /// Other route fields from `x-kong-route-defaults` (preserve_host, protocols, ...).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub route_fields: Map<String, Value>,
    /// A CORS preflight route (OPTIONS) added for a path whose operations restrict methods.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub preflight: bool,
}

/// How a route authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAuth {
    /// No authentication at the gateway.
    Public,
    /// An operation justpush refuses (the plan is refused before any route is used).
    Refused,
    /// Every one of these Kong plugins must pass (`jwt + key-auth`); one plugin is `All`
    /// of one.
    All(Vec<String>),
    /// Any one of these passes (Kong's multiple-authentication pattern: each plugin takes
    /// the anonymous consumer, which a request-termination plugin then refuses).
    AnyOf(Vec<String>),
}

impl RouteAuth {
    /// Whether a request must authenticate.
    pub fn is_required(&self) -> bool {
        matches!(self, RouteAuth::All(_) | RouteAuth::AnyOf(_))
    }
}

impl std::fmt::Display for RouteAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteAuth::Public => f.write_str("public"),
            RouteAuth::Refused => f.write_str("refused"),
            RouteAuth::All(p) => f.write_str(&p.join(" + ")),
            RouteAuth::AnyOf(p) => f.write_str(&p.join(" | ")),
        }
    }
}

/// As its summary, the form `routes -o json` has always printed.
impl Serialize for RouteAuth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl PartialEq<&str> for RouteAuth {
    fn eq(&self, other: &&str) -> bool {
        let joined = |plugins: &[String], by: &str| {
            let mut parts = other.split(by);
            plugins.iter().all(|p| parts.next() == Some(p.as_str())) && parts.next().is_none()
        };
        match self {
            RouteAuth::Public => *other == "public",
            RouteAuth::Refused => *other == "refused",
            RouteAuth::All(p) => joined(p, " + "),
            RouteAuth::AnyOf(p) => joined(p, " | "),
        }
    }
}

/// The anonymous consumer of OR-combined authentication.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnonymousConsumer {
    pub username: String,
    pub plugins: Vec<Plugin>,
}

/// Everything derived from one spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutePlan {
    /// The API's base name (`x-kong-name` or the slugified title).
    pub api: String,
    pub routes: Vec<Route>,
    /// Credentials the developer consumer needs.
    pub credentials: BTreeSet<CredentialKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous_consumer: Option<AnonymousConsumer>,
    /// `x-kong-service-defaults` of the document.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub service_defaults: Map<String, Value>,
    /// `x-kong-upstream-defaults` of the document.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub upstream_defaults: Map<String, Value>,
    pub warnings: Vec<Diagnostic>,
}

/// Why a spec cannot become routes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{source_name}: at {pointer}: {message}")]
pub struct DeriveError {
    pub source_name: String,
    pub pointer: String,
    pub message: String,
    /// The spec is well-formed but asks for something justpush refuses on safety grounds
    /// (security Kong cannot enforce, plugins not allowed): never fall back to other routes.
    pub refused_by_policy: bool,
}

struct Ctx<'a> {
    spec: &'a ApiSpec,
    settings: &'a GatewaySettings,
    warnings: Vec<Diagnostic>,
    needs_anonymous: bool,
    credentials: BTreeSet<CredentialKind>,
    /// Operations whose security cannot be enforced, reported together at the end.
    refused: Vec<RefusedOperation>,
}

impl Ctx<'_> {
    fn err(&self, pointer: &str, message: impl Into<String>) -> DeriveError {
        DeriveError {
            source_name: self.spec.source.clone(),
            pointer: pointer.to_string(),
            message: message.into(),
            refused_by_policy: false,
        }
    }
    /// An error for what the spec may say but justpush will not do.
    fn refuse(&self, pointer: &str, message: impl Into<String>) -> DeriveError {
        DeriveError {
            refused_by_policy: true,
            ..self.err(pointer, message)
        }
    }
    fn warn(&mut self, pointer: &str, message: impl Into<String>) {
        let d = Diagnostic {
            pointer: pointer.to_string(),
            message: message.into(),
        };
        if !self.warnings.contains(&d) {
            self.warnings.push(d);
        }
    }
}

/// Derives the routes of a spec.
pub fn derive(spec: &ApiSpec, settings: &GatewaySettings) -> Result<RoutePlan, DeriveError> {
    let mut cx = Ctx {
        spec,
        settings,
        warnings: spec.warnings.clone(),
        needs_anonymous: false,
        credentials: BTreeSet::new(),
        refused: Vec::new(),
    };
    let api = match kong_name(&cx, &spec.extensions, "")? {
        Some(n) => slugify(&n),
        None if !spec.title.is_empty() => slugify(&spec.title),
        None => "api".to_string(),
    };
    let api = if api.is_empty() {
        "api".to_string()
    } else {
        api
    };
    let service_defaults =
        x_kong_object(&cx, &spec.extensions, "x-kong-service-defaults", "")?.unwrap_or_default();
    let upstream_defaults =
        x_kong_object(&cx, &spec.extensions, "x-kong-upstream-defaults", "")?.unwrap_or_default();
    let doc_route_defaults = x_kong_object(&cx, &spec.extensions, "x-kong-route-defaults", "")?;
    let doc_plugins = extension_plugins(&cx, &spec.extensions, "", PluginSource::Document)?;
    let doc_rate = rate_override(&cx, &spec.extensions, "")?;

    let mut routes: Vec<Route> = Vec::new();
    let mut op_ids: BTreeMap<String, String> = BTreeMap::new();
    // (method, path with captures blanked) -> operation, to catch routes that would collide.
    let mut matchers: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();

    let mut sorted: Vec<&PathItem> = spec.paths.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for item in sorted {
        let path_name = match kong_name(&cx, &item.extensions, &item.pointer)? {
            Some(n) => slugify(&n),
            None => {
                let mut s = slugify(&item.path);
                if item.path.ends_with('/') && item.path.len() > 1 {
                    s.push('~');
                }
                s
            }
        };
        let path_base = if path_name.is_empty() {
            api.clone()
        } else {
            format!("{api}_{path_name}")
        };
        let path_route_defaults = x_kong_object(
            &cx,
            &item.extensions,
            "x-kong-route-defaults",
            &item.pointer,
        )?
        .or_else(|| doc_route_defaults.clone());
        let path_plugins = merge_by_name(
            &doc_plugins,
            &extension_plugins(&cx, &item.extensions, &item.pointer, PluginSource::Path)?,
        );
        let path_rate = rate_override(&cx, &item.extensions, &item.pointer)?.or(doc_rate);
        let mut has_options = false;
        let mut path_regex = None;
        // Methods in alphabetical order within a path, as decK orders them.
        let mut operations: Vec<&Operation> = item.operations.iter().collect();
        operations.sort_by(|a, b| a.method.cmp(&b.method));
        for op in operations {
            has_options |= op.method == "OPTIONS";
            if let Some(id) = &op.operation_id {
                if let Some(first) = op_ids.insert(id.clone(), op.pointer.clone()) {
                    return Err(cx.err(
                        &op.pointer,
                        format!("operationId `{id}` is also used at {first}; operationIds must be unique (they name the routes)"),
                    ));
                }
            }
            let name = match kong_name(&cx, &op.extensions, &op.pointer)? {
                Some(n) => format!("{path_base}_{}", slugify(&n)),
                None => match &op.operation_id {
                    Some(id) => format!("{api}_{}", slugify(id)),
                    None => format!("{path_base}_{}", slugify(&op.method)),
                },
            };
            if let Some(first) = names.insert(name.clone(), op.pointer.clone()) {
                return Err(cx.err(
                    &op.pointer,
                    format!("route name `{name}` is also produced by {first}; give one of them a different operationId or x-kong-name"),
                ));
            }
            let prefix = op
                .base_path
                .as_deref()
                .or(item.base_path.as_deref())
                .unwrap_or(&spec.base_path);
            let (regex, has_params, blanked) =
                path_to_regex(&cx, prefix, &item.path, &item.pointer)?;
            let key = (op.method.clone(), blanked);
            if let Some(first) = matchers.insert(key, format!("{} {}", op.method, item.path)) {
                return Err(cx.err(
                    &op.pointer,
                    format!(
                        "`{} {}` would produce the same Kong route as `{first}` (the paths differ only in parameter names); keep one of them",
                        op.method, item.path
                    ),
                ));
            }
            let route_defaults =
                x_kong_object(&cx, &op.extensions, "x-kong-route-defaults", &op.pointer)?
                    .or_else(|| path_route_defaults.clone());
            let (regex_priority, strip_path, route_fields) =
                route_settings(&cx, route_defaults, has_params, &op.pointer)?;
            let op_plugins = merge_by_name(
                &path_plugins,
                &extension_plugins(&cx, &op.extensions, &op.pointer, PluginSource::Operation)?,
            );
            let explicit_auth: Vec<String> = op_plugins
                .iter()
                .filter(|p| {
                    p.enabled
                        && super::plugin_rules::facts()
                            .authentication
                            .contains(&p.name)
                })
                .map(|p| p.name.clone())
                .collect();
            let (auth, security_plugins) = security_plugins(
                &mut cx,
                op,
                &format!("{} {}", op.method, item.path),
                &explicit_auth,
            )?;
            let rate = rate_override(&cx, &op.extensions, &op.pointer)?.or(path_rate);
            let plugins = route_plugins(&cx, rate, security_plugins, op_plugins);
            path_regex = Some((regex.clone(), regex_priority, route_fields.clone()));
            routes.push(Route {
                k8s_name: String::new(),
                name,
                operation: format!("{} {}", op.method, item.path),
                operation_id: op.operation_id.clone(),
                methods: vec![op.method.clone()],
                paths: vec![regex],
                regex_priority,
                strip_path,
                auth,
                plugins,
                route_fields,
                preflight: false,
            });
        }
        // Kong matches a preflight request against routes by method too: without an OPTIONS
        // route the CORS plugin never sees it.
        if let (Some(cors), false, Some((regex, priority, fields))) =
            (cors_plugin(&cx), has_options, path_regex)
        {
            let name = format!("{path_base}_preflight");
            routes.push(Route {
                k8s_name: String::new(),
                name,
                operation: format!("OPTIONS {}", item.path),
                operation_id: None,
                methods: vec!["OPTIONS".into()],
                paths: vec![regex],
                regex_priority: priority,
                strip_path: false,
                auth: RouteAuth::Public,
                plugins: vec![cors],
                route_fields: fields,
                preflight: true,
            });
        }
    }
    if !cx.refused.is_empty() {
        return Err(refusal_error(&cx));
    }
    assign_k8s_names(&mut routes, &api);
    let anonymous_consumer = cx.needs_anonymous.then(|| AnonymousConsumer {
        username: settings.anonymous_consumer.clone(),
        plugins: vec![anonymous_termination()],
    });
    if let Some(anon) = &anonymous_consumer {
        for r in routes
            .iter_mut()
            .filter(|r| matches!(r.auth, RouteAuth::AnyOf(_)))
        {
            r.plugins.extend(anon.plugins.iter().cloned());
            r.plugins.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }
    Ok(RoutePlan {
        api,
        routes,
        credentials: cx.credentials,
        anonymous_consumer,
        service_defaults,
        upstream_defaults,
        warnings: cx.warnings,
    })
}

/// decK's name slugs: lower case, anything but letters and digits becomes `-`, runs collapsed.
pub fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// A regex capture name from a path parameter name: lower case, `_` for anything but letters
/// and digits, never starting with a digit.
pub fn capture_name(param: &str) -> String {
    let mut out = String::new();
    for c in param.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_string();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("p{out}")
    } else {
        out
    }
}

/// `prefix + path` as an anchored Kong regex path; also whether it has parameters and the
/// regex with capture names blanked (two paths equal under it match the same requests).
fn path_to_regex(
    cx: &Ctx,
    prefix: &str,
    path: &str,
    pointer: &str,
) -> Result<(String, bool, String), DeriveError> {
    let full = format!("{prefix}{path}");
    let mut regex = String::from("~");
    let mut blanked = String::new();
    let mut seen = BTreeSet::new();
    let mut has_params = false;
    let mut rest = full.as_str();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('{') {
            let Some(end) = after.find('}') else {
                return Err(cx.err(pointer, format!("path `{path}` has an unclosed `{{`")));
            };
            let param = &after[..end];
            let name = capture_name(param);
            if name.is_empty() {
                return Err(cx.err(
                    pointer,
                    format!(
                        "path parameter `{{{param}}}` has no usable name; use letters and digits"
                    ),
                ));
            }
            if name.len() > MAX_CAPTURE_NAME {
                return Err(cx.err(
                    pointer,
                    format!(
                        "path parameter `{param}` becomes the regex capture `{name}` of {} characters; Kong's router accepts at most {MAX_CAPTURE_NAME}: rename the parameter",
                        name.len()
                    ),
                ));
            }
            if !seen.insert(name.clone()) {
                return Err(cx.err(
                    pointer,
                    format!("path `{path}` uses the parameter name `{name}` twice; Kong regex captures must be unique"),
                ));
            }
            regex.push_str(&format!("(?<{name}>[^#?/]+)"));
            blanked.push_str("(?<>[^#?/]+)");
            has_params = true;
            rest = &after[end + 1..];
        } else {
            let c = rest.chars().next().expect("non-empty");
            if REGEX_SPECIAL.contains(&c) {
                regex.push('\\');
                blanked.push('\\');
            }
            regex.push(c);
            blanked.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    regex.push('$');
    blanked.push('$');
    Ok((regex, has_params, blanked))
}

fn kong_name(
    cx: &Ctx,
    ext: &Map<String, Value>,
    pointer: &str,
) -> Result<Option<String>, DeriveError> {
    match ext.get("x-kong-name") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(cx.err(
            &format!("{pointer}/x-kong-name"),
            "x-kong-name must be a string",
        )),
    }
}

/// An `x-kong-*` object, following decK's `$ref: '#/components/x-kong/...'`.
fn x_kong_object(
    cx: &Ctx,
    ext: &Map<String, Value>,
    key: &str,
    pointer: &str,
) -> Result<Option<Map<String, Value>>, DeriveError> {
    let Some(v) = ext.get(key) else {
        return Ok(None);
    };
    let at = format!("{pointer}/{key}");
    let obj = v
        .as_object()
        .ok_or_else(|| cx.err(&at, format!("{key} must be an object")))?;
    match obj.get("$ref") {
        None => Ok(Some(obj.clone())),
        Some(Value::String(r)) => {
            let Some(rest) = r.strip_prefix("#/components/x-kong/") else {
                return Err(cx.err(&at, format!("{key}: references must point into '#/components/x-kong/' (decK's rule), found `{r}`")));
            };
            let target = rest
                .split('/')
                .try_fold(&cx.spec.x_kong_components, |cur, seg| {
                    cur.get(seg.replace("~1", "/").replace("~0", "~"))
                });
            match target.and_then(Value::as_object) {
                Some(o) => Ok(Some(o.clone())),
                None => Err(cx.err(&at, format!("{key}: reference `{r}` points to no object"))),
            }
        }
        Some(_) => Err(cx.err(&at, "$ref must be a string")),
    }
}

fn extension_plugins(
    cx: &Ctx,
    ext: &Map<String, Value>,
    pointer: &str,
    source: PluginSource,
) -> Result<Vec<Plugin>, DeriveError> {
    let mut out = Vec::new();
    for key in ext.keys().filter(|k| k.starts_with("x-kong-plugin-")) {
        let name = key.trim_start_matches("x-kong-plugin-").to_string();
        let at = format!("{pointer}/{key}");
        if name.is_empty() {
            return Err(cx.err(&at, "x-kong-plugin- needs a plugin name after the dash"));
        }
        let obj = x_kong_object(cx, ext, key, pointer)?.unwrap_or_default();
        let config = match obj.get("config") {
            None => json!({}),
            Some(c @ Value::Object(_)) => c.clone(),
            Some(_) => {
                return Err(cx.err(&format!("{at}/config"), "plugin config must be an object"))
            }
        };
        let protocols = match obj.get("protocols") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            Some(_) => {
                return Err(cx.err(
                    &format!("{at}/protocols"),
                    "protocols must be a list of strings",
                ))
            }
        };
        let enabled = obj.get("enabled").and_then(Value::as_bool).unwrap_or(true);
        let consumer = plugin_consumer(cx, &obj, &name, &at)?;
        if let Err(p) =
            super::plugin_rules::check_plugin(&name, &config, &cx.settings.allow_plugins)
        {
            let pointer = format!("{at}{}", p.at);
            return Err(if p.not_allowed {
                cx.refuse(&pointer, p.message)
            } else {
                cx.err(
                    &pointer,
                    format!(
                        "{}; fix the extension (Kong {} would refuse this config)",
                        p.message,
                        super::plugin_rules::facts().kong_version
                    ),
                )
            });
        }
        out.push(Plugin {
            name,
            config,
            protocols,
            enabled,
            source,
            consumer,
        });
    }
    Ok(out)
}

/// The consumer an `x-kong-plugin-*` is scoped to: decK's `consumer` (a username, or
/// `{username: ...}` / `{id: ...}`). Only consumers this release creates can carry the scope
/// in the Kubernetes way (the KongConsumer is annotated with the plugin too), so any other is
/// refused rather than the plugin silently applying to everyone.
fn plugin_consumer(
    cx: &Ctx,
    obj: &Map<String, Value>,
    plugin: &str,
    at: &str,
) -> Result<Option<String>, DeriveError> {
    let Some(v) = obj.get("consumer") else {
        return Ok(None);
    };
    let here = format!("{at}/consumer");
    let name = match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => match o
            .get("username")
            .or_else(|| o.get("name"))
            .or_else(|| o.get("id"))
        {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(cx.err(&here, "consumer must be a username or {username: NAME}")),
        },
        Value::Null => return Ok(None),
        _ => return Err(cx.err(&here, "consumer must be a username or {username: NAME}")),
    };
    if super::plugin_rules::facts().no_consumer.contains(plugin) {
        return Err(cx.err(
            &here,
            format!("Kong does not scope `{plugin}` to a consumer (it runs before a consumer is known, or applies to all of them); remove `consumer`"),
        ));
    }
    let managed = [
        cx.settings.developer_consumer.as_str(),
        cx.settings.anonymous_consumer.as_str(),
    ];
    if !managed.contains(&name.as_str()) {
        return Err(cx.refuse(
            &here,
            format!(
                "consumer `{name}` is not one this release creates ({}); a consumer-scoped plugin needs a consumer justpush manages, or its scope would be lost: name one of those, or remove `consumer` to apply the plugin to every request",
                managed.join(", ")
            ),
        ));
    }
    Ok(Some(name))
}

/// `upper` plugins replace same-named ones of `base` (a consumer-scoped plugin only replaces
/// one scoped to the same consumer).
fn merge_by_name(base: &[Plugin], upper: &[Plugin]) -> Vec<Plugin> {
    let mut out: Vec<Plugin> = base
        .iter()
        .filter(|p| {
            !upper
                .iter()
                .any(|u| u.name == p.name && u.consumer == p.consumer)
        })
        .cloned()
        .collect();
    out.extend(upper.iter().cloned());
    out
}

/// `x-justpush-rate-limit`: `{second, minute, hour}` or `false` (no rate limiting).
fn rate_override(
    cx: &Ctx,
    ext: &Map<String, Value>,
    pointer: &str,
) -> Result<Option<RateWindows>, DeriveError> {
    let Some(v) = ext.get("x-justpush-rate-limit") else {
        return Ok(None);
    };
    let at = format!("{pointer}/x-justpush-rate-limit");
    match v {
        Value::Bool(false) => Ok(Some(RateWindows::default())),
        Value::Object(o) => {
            let mut w = RateWindows::default();
            for (k, v) in o {
                let n = v
                    .as_u64()
                    .filter(|n| *n >= 1 && *n <= u32::MAX as u64)
                    .ok_or_else(|| {
                        cx.err(
                            &format!("{at}/{k}"),
                            "a rate limit must be a positive whole number of requests",
                        )
                    })? as u32;
                match k.as_str() {
                    "second" => w.second = Some(n),
                    "minute" => w.minute = Some(n),
                    "hour" => w.hour = Some(n),
                    other => {
                        return Err(cx.err(
                            &format!("{at}/{other}"),
                            format!(
                                "unknown rate-limit window `{other}`; use second, minute or hour"
                            ),
                        ))
                    }
                }
            }
            if w.is_empty() {
                return Err(cx.err(&at, "x-justpush-rate-limit needs at least one of second, minute, hour (or `false` to turn rate limiting off)"));
            }
            Ok(Some(w))
        }
        _ => Err(cx.err(
            &at,
            "x-justpush-rate-limit must be an object like {minute: 60} or false",
        )),
    }
}

fn route_settings(
    cx: &Ctx,
    defaults: Option<Map<String, Value>>,
    has_params: bool,
    pointer: &str,
) -> Result<(i64, bool, Map<String, Value>), DeriveError> {
    let mut fields = defaults.unwrap_or_default();
    // Foreign keys and what derivation owns are not the defaults' to set (decK drops them too).
    for k in ["service", "paths", "methods", "name", "id", "$ref"] {
        fields.remove(k);
    }
    let priority = match fields.remove("regex_priority") {
        None => {
            if has_params {
                PRIORITY_WITH_PARAMS
            } else {
                PRIORITY_PLAIN
            }
        }
        Some(v) => {
            let p = v.as_i64().ok_or_else(|| {
                cx.err(
                    &format!("{pointer}/x-kong-route-defaults/regex_priority"),
                    "regex_priority must be an integer",
                )
            })?;
            // The default stands for plain paths; parameterised ones go one below (decK).
            if has_params {
                p - 1
            } else {
                p
            }
        }
    };
    let strip = match fields.remove("strip_path") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(cx.err(
                &format!("{pointer}/x-kong-route-defaults/strip_path"),
                "strip_path must be a boolean",
            ))
        }
    };
    Ok((priority, strip, fields))
}

fn cors_plugin(cx: &Ctx) -> Option<Plugin> {
    let cors = cx.settings.cors.as_ref()?;
    let mut headers: Vec<String> = ["Accept", "Authorization", "Content-Type"]
        .map(String::from)
        .to_vec();
    for s in cx.spec.schemes.values() {
        if let SecurityScheme::ApiKey {
            name,
            location: KeyLocation::Header,
        } = s
        {
            if !headers.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                headers.push(name.clone());
            }
        }
    }
    Some(Plugin {
        name: "cors".into(),
        config: json!({
            "origins": cors.origins,
            "methods": ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS"],
            "headers": headers,
            "credentials": cors.credentials,
            "max_age": 3600,
        }),
        protocols: Vec::new(),
        enabled: true,
        source: PluginSource::Global,
        consumer: None,
    })
}

fn rate_limit_plugin(w: RateWindows, source: PluginSource) -> Option<Plugin> {
    if w.is_empty() {
        return None;
    }
    let mut config = serde_json::to_value(w).expect("serialisable");
    config["policy"] = json!("local");
    config["limit_by"] = json!("consumer");
    Some(Plugin {
        name: "rate-limiting".into(),
        config,
        protocols: Vec::new(),
        enabled: true,
        source,
        consumer: None,
    })
}

fn route_plugins(
    cx: &Ctx,
    rate: Option<RateWindows>,
    security: Vec<Plugin>,
    extensions: Vec<Plugin>,
) -> Vec<Plugin> {
    let mut base = Vec::new();
    let rl = match rate {
        Some(w) => rate_limit_plugin(w, PluginSource::RateLimitOverride),
        None => rate_limit_plugin(cx.settings.rate_limit, PluginSource::Global),
    };
    base.extend(rl);
    base.extend(cors_plugin(cx));
    for (name, config) in [
        ("request-transformer", &cx.settings.request_transformer),
        ("response-transformer", &cx.settings.response_transformer),
    ] {
        if let Some(c) = config {
            base.push(Plugin {
                name: name.into(),
                config: c.clone(),
                protocols: Vec::new(),
                enabled: true,
                source: PluginSource::Global,
                consumer: None,
            });
        }
    }
    let with_security = merge_by_name(&base, &security);
    let mut out = merge_by_name(&with_security, &extensions);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// What one security scheme asks of Kong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum AuthNeed {
    Key {
        names: BTreeSet<String>,
        header: bool,
        query: bool,
    },
    Jwt,
    Basic,
}

impl AuthNeed {
    fn kind(&self) -> CredentialKind {
        match self {
            AuthNeed::Key { .. } => CredentialKind::KeyAuth,
            AuthNeed::Jwt => CredentialKind::Jwt,
            AuthNeed::Basic => CredentialKind::BasicAuth,
        }
    }
    fn merge(&mut self, other: &AuthNeed) {
        if let (
            AuthNeed::Key {
                names,
                header,
                query,
            },
            AuthNeed::Key {
                names: n2,
                header: h2,
                query: q2,
            },
        ) = (self, other)
        {
            names.extend(n2.iter().cloned());
            *header |= *h2;
            *query |= *q2;
        }
    }
}

/// What one scheme of a requirement asks of the gateway.
enum SchemeOutcome {
    Need(AuthNeed),
    /// Mapped to `public` in `kong.security`: nothing to check.
    Public,
    /// Nothing in open-source Kong checks it; the text says what the scheme is.
    Unenforceable(String),
}

/// An operation refused because no alternative of its security can be enforced.
#[derive(Debug, Clone)]
struct RefusedOperation {
    operation: String,
    pointer: String,
    /// `name (type)` of every scheme the operation asks for.
    schemes: Vec<String>,
}

/// Where a scheme is defined, for warnings about the scheme itself.
fn scheme_pointer(spec: &ApiSpec, name: &str) -> String {
    let home = match spec.version {
        super::spec::SpecVersion::Swagger2 => "/securityDefinitions",
        _ => "/components/securitySchemes",
    };
    format!("{home}/{}", super::spec::pointer_segment(name))
}

fn scheme_outcome(cx: &mut Ctx, name: &str, req_pointer: &str) -> SchemeOutcome {
    let scheme = cx.spec.schemes[name].clone();
    let api_key = match &scheme {
        SecurityScheme::ApiKey { name, location } => Some((name.clone(), *location)),
        _ => None,
    };
    if let Some(mapping) = cx.settings.security.get(name) {
        return match mapping {
            SchemeEnforcement::KeyAuth => {
                // An apiKey scheme keeps its key name; anything else uses Kong's default
                // header `apikey` (the header the chart's consumer key is sent in).
                let (key, location) =
                    api_key.unwrap_or_else(|| ("apikey".to_string(), KeyLocation::Header));
                SchemeOutcome::Need(AuthNeed::Key {
                    names: BTreeSet::from([key]),
                    header: location != KeyLocation::Query,
                    query: location == KeyLocation::Query,
                })
            }
            SchemeEnforcement::Jwt => SchemeOutcome::Need(AuthNeed::Jwt),
            SchemeEnforcement::BasicAuth => SchemeOutcome::Need(AuthNeed::Basic),
            SchemeEnforcement::Public => SchemeOutcome::Public,
        };
    }
    match scheme {
        SecurityScheme::ApiKey {
            name: key,
            location,
        } => {
            let (header, query) = match location {
                KeyLocation::Header => (true, false),
                KeyLocation::Query => (false, true),
                KeyLocation::Cookie => {
                    cx.warn(
                        req_pointer,
                        format!("apiKey scheme `{name}` sends the key in cookie `{key}`, which Kong's key-auth plugin cannot read (it reads headers, query parameters and bodies); the route requires the key in a `{key}` header or query parameter instead"),
                    );
                    (true, true)
                }
            };
            SchemeOutcome::Need(AuthNeed::Key {
                names: BTreeSet::from([key]),
                header,
                query,
            })
        }
        SecurityScheme::HttpBearer { bearer_format } => {
            let jwt = bearer_format
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case("jwt"));
            if !jwt {
                let said = match &bearer_format {
                    Some(f) => format!("`bearerFormat: {f}`"),
                    None => "no `bearerFormat`".to_string(),
                };
                let at = scheme_pointer(cx.spec, name);
                cx.warn(
                    &at,
                    format!("http bearer scheme `{name}` has {said}, not JWT; justpush enforces it with Kong's jwt plugin, so only JWTs signed with a consumer's jwt credential pass (opaque tokens get 401); confirm with `kong.security: {{{name}: jwt}}` in justpush.yaml, or map it to key-auth, basic-auth or public"),
                );
            }
            SchemeOutcome::Need(AuthNeed::Jwt)
        }
        SecurityScheme::HttpBasic => SchemeOutcome::Need(AuthNeed::Basic),
        SecurityScheme::OAuth2 => SchemeOutcome::Unenforceable("oauth2".into()),
        SecurityScheme::OpenIdConnect => SchemeOutcome::Unenforceable("openIdConnect".into()),
        SecurityScheme::Unsupported(what) => SchemeOutcome::Unenforceable(what),
    }
}

/// The authentication of one operation: a summary (`public`, `key-auth`, `jwt | key-auth`,
/// ...) and the plugins. `explicit_auth` names the auth plugins the spec puts on the
/// operation itself (`x-kong-plugin-jwt`, ...), which then answer for schemes Kong cannot
/// check.
fn security_plugins(
    cx: &mut Ctx,
    op: &Operation,
    what: &str,
    explicit_auth: &[String],
) -> Result<(RouteAuth, Vec<Plugin>), DeriveError> {
    let (reqs, inherited) = match (&op.security, &cx.spec.security) {
        (Some(r), _) => (r.clone(), false),
        (None, Some(r)) => (r.clone(), true),
        (None, None) => return Ok((RouteAuth::Public, Vec::new())),
    };
    let at = if inherited {
        "/security".to_string()
    } else {
        format!("{}/security", op.pointer)
    };
    if reqs.is_empty() {
        return Ok((RouteAuth::Public, Vec::new()));
    }
    if let Some(empty) = reqs.iter().find(|r| r.schemes.is_empty()) {
        cx.warn(
            &empty.pointer,
            format!("`{{}}` in the security of {what} makes authentication optional; Kong lets every request through this route"),
        );
        return Ok((RouteAuth::Public, Vec::new()));
    }
    // Each alternative (OR) as the list of what it needs (AND).
    let mut alternatives: Vec<Vec<AuthNeed>> = Vec::new();
    let mut dropped = Vec::new();
    let mut unenforceable_schemes: Vec<String> = Vec::new();
    let mut public_alternative = None;
    for req in &reqs {
        let mut needs: Vec<AuthNeed> = Vec::new();
        let mut unenforceable = Vec::new();
        for name in req.schemes.keys() {
            let need = match scheme_outcome(cx, name, &req.pointer) {
                SchemeOutcome::Need(n) => n,
                SchemeOutcome::Public => continue,
                SchemeOutcome::Unenforceable(kind) => {
                    let described = format!("{name} ({kind})");
                    if !unenforceable_schemes.contains(&described) {
                        unenforceable_schemes.push(described);
                    }
                    unenforceable.push(name.clone());
                    continue;
                }
            };
            match needs.iter_mut().find(|n| n.kind() == need.kind()) {
                Some(existing) => {
                    cx.warn(
                        &req.pointer,
                        "two apiKey schemes are required together, but Kong runs one key-auth plugin per route: either key is accepted",
                    );
                    existing.merge(&need);
                }
                None => needs.push(need),
            }
        }
        if needs.is_empty() && unenforceable.is_empty() {
            // Every scheme of this alternative is mapped to `public`.
            public_alternative
                .get_or_insert_with(|| req.schemes.keys().cloned().collect::<Vec<_>>().join(", "));
            continue;
        }
        if needs.is_empty() {
            dropped.push((req.pointer.clone(), unenforceable.join(", ")));
            continue;
        }
        if !unenforceable.is_empty() {
            // AND with a scheme Kong cannot check: the checkable part is still enforced, so
            // the route is never public; the rest is the backend's.
            cx.warn(
                &req.pointer,
                format!(
                    "only part of this requirement is checked by Kong (not: {}; the backend must check it, or map it in kong.security)",
                    unenforceable.join(", ")
                ),
            );
        }
        alternatives.push(needs);
    }
    if let Some(schemes) = public_alternative {
        cx.warn(
            &at,
            format!("{what}: kong.security maps {schemes} to public, so this alternative needs no credential and the route is public at the gateway"),
        );
        return Ok((RouteAuth::Public, Vec::new()));
    }
    if alternatives.is_empty() {
        if !explicit_auth.is_empty() {
            // The spec's own x-kong-plugin-* authenticates the operation.
            return Ok((RouteAuth::All(explicit_auth.to_vec()), Vec::new()));
        }
        if cx.settings.allow_public {
            cx.warn(
                &at,
                format!("{what}: Kong cannot check {} and allowPublic is set, so the route is PUBLIC at the gateway (the backend must check it)", unenforceable_schemes.join(", ")),
            );
            return Ok((RouteAuth::Public, Vec::new()));
        }
        cx.refused.push(RefusedOperation {
            operation: what.to_string(),
            pointer: at,
            schemes: unenforceable_schemes,
        });
        return Ok((RouteAuth::Refused, Vec::new()));
    }
    for (d, schemes) in dropped {
        // OR with an alternative Kong cannot check: enforce the others (failing closed for
        // clients that only have the unchecked credential).
        cx.warn(&d, format!("{what}: Kong cannot check this alternative ({schemes}), so requests using only it are refused at the gateway; the other alternatives still work"));
    }
    let (needs, or_combined) = if alternatives.len() == 1 {
        (alternatives.remove(0), false)
    } else if alternatives.iter().all(|a| a.len() == 1) {
        // A | B | ...: one plugin per kind; several apiKeys merge into one key-auth.
        let mut merged: Vec<AuthNeed> = Vec::new();
        for a in alternatives {
            let n = a.into_iter().next().expect("one");
            match merged.iter_mut().find(|m| m.kind() == n.kind()) {
                Some(m) => m.merge(&n),
                None => merged.push(n),
            }
        }
        let or = merged.len() > 1;
        (merged, or)
    } else {
        return Err(cx.err(
            &at,
            "security mixes AND and OR (an alternative requiring several schemes next to other alternatives); Kong's plugins can express A AND B, or A OR B, but not both on one route: split the operation or simplify its security",
        ));
    };
    let mut kinds: Vec<String> = needs
        .iter()
        .map(|n| n.kind().plugin().to_string())
        .collect();
    kinds.sort();
    let summary = if or_combined {
        RouteAuth::AnyOf(kinds)
    } else {
        RouteAuth::All(kinds)
    };
    let anonymous = or_combined.then(|| cx.settings.anonymous_consumer.clone());
    if or_combined {
        cx.needs_anonymous = true;
    }
    let hide = cx.settings.hide_credentials;
    let mut plugins = Vec::new();
    for need in needs {
        cx.credentials.insert(need.kind());
        let mut config = match &need {
            AuthNeed::Key {
                names,
                header,
                query,
            } => json!({
                "key_names": names,
                "key_in_header": header,
                "key_in_query": query,
                "key_in_body": false,
                "hide_credentials": hide,
            }),
            // Kong's jwt plugin has no hide_credentials.
            AuthNeed::Jwt => json!({"claims_to_verify": ["exp"], "key_claim_name": "iss"}),
            AuthNeed::Basic => json!({"hide_credentials": hide}),
        };
        if let Some(a) = &anonymous {
            config["anonymous"] = json!(a);
        }
        plugins.push(Plugin {
            name: need.kind().plugin().into(),
            config,
            protocols: Vec::new(),
            enabled: true,
            source: PluginSource::Security,
            consumer: None,
        });
    }
    Ok((summary, plugins))
}

/// The error for operations whose security no gateway plugin can enforce.
fn refusal_error(cx: &Ctx) -> DeriveError {
    let list: Vec<String> = cx
        .refused
        .iter()
        .map(|r| {
            format!(
                "  {} (at {}): {}",
                r.operation,
                r.pointer,
                r.schemes.join(", ")
            )
        })
        .collect();
    let first = &cx.refused[0];
    let example = first
        .schemes
        .first()
        .and_then(|s| s.split(' ').next())
        .unwrap_or("scheme");
    cx.refuse(
        &first.pointer,
        format!(
            "{} operation(s) require security that open-source Kong cannot enforce, and justpush does not turn them into public routes:\n{}\nfix one of: put an auth plugin on the operation (`x-kong-plugin-jwt`, `x-kong-plugin-key-auth`, ...; Enterprise-only ones such as openid-connect also need kong.allowPlugins); map the scheme in justpush.yaml (`kong.security: {{{example}: jwt}}`, one of key-auth, jwt, basic-auth, public); or accept public routes with --allow-public (or `kong.allowPublic: true`)",
            cx.refused.len(),
            list.join("\n")
        ),
    )
}

/// Kong's multiple-authentication pattern: the anonymous consumer is refused.
fn anonymous_termination() -> Plugin {
    Plugin {
        name: "request-termination".into(),
        config: json!({"status_code": 401, "message": "Unauthorized: send one of the accepted credentials"}),
        protocols: Vec::new(),
        enabled: true,
        source: PluginSource::AnonymousConsumer,
        consumer: None,
    }
}

/// Longest `k8s_name`: the chart puts it after `<fullname>-route-` and shortens the whole
/// keeping a hash, so this only keeps names readable.
pub const MAX_K8S_NAME: usize = 40;

/// Short DNS-label names for Kubernetes objects: the route name without the API prefix, at
/// most [`MAX_K8S_NAME`] characters. A long name keeps its start and gets 10 hex digits of the
/// route name's sha256 (40 bits: thousands of routes sharing a prefix still get distinct
/// names); a name already taken gets a counter, so names are unique within the plan always.
fn assign_k8s_names(routes: &mut [Route], api: &str) {
    let mut used = BTreeSet::new();
    for r in routes.iter_mut() {
        let local = r.name.strip_prefix(&format!("{api}_")).unwrap_or(&r.name);
        let mut base = slugify(local);
        if base.is_empty() {
            base = "route".into();
        }
        let hash: String = sha2::Sha256::digest(r.name.as_bytes())
            .iter()
            .take(5)
            .map(|b| format!("{b:02x}"))
            .collect();
        let shortened = |room: usize, suffix: &str| {
            format!(
                "{}-{suffix}",
                base[..base.len().min(room)].trim_end_matches('-')
            )
        };
        let mut name = if base.len() <= MAX_K8S_NAME && !used.contains(&base) {
            base.clone()
        } else {
            shortened(MAX_K8S_NAME - 11, &hash)
        };
        let mut n = 2;
        while used.contains(&name) {
            let suffix = format!("{hash}-{n}");
            name = shortened(MAX_K8S_NAME - 1 - suffix.len(), &suffix);
            n += 1;
        }
        used.insert(name.clone());
        r.k8s_name = name;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> GatewaySettings {
        GatewaySettings {
            rate_limit: RateWindows {
                second: None,
                minute: Some(60),
                hour: Some(1000),
            },
            cors: None,
            request_transformer: None,
            response_transformer: None,
            anonymous_consumer: "demo-anonymous".into(),
            security: BTreeMap::new(),
            allow_public: false,
            hide_credentials: true,
            allow_plugins: BTreeSet::new(),
            developer_consumer: "demo-developer".into(),
        }
    }

    fn plan(yaml: &str) -> RoutePlan {
        derive(&ApiSpec::parse(yaml, "t.yaml").unwrap(), &settings()).unwrap()
    }

    fn derive_err(yaml: &str) -> String {
        derive(&ApiSpec::parse(yaml, "t.yaml").unwrap(), &settings())
            .unwrap_err()
            .to_string()
    }

    const HEAD: &str = "openapi: 3.0.3\ninfo: {title: Pet Store, version: '1'}\n";

    #[test]
    fn paths_are_anchored_regexes_with_decks_priorities() {
        let p = plan(&format!("{HEAD}servers: [{{url: 'https://x/api'}}]\npaths:\n  /pets: {{get: {{operationId: listPets}}}}\n  /pets/{{petId}}: {{get: {{}}}}\n  /a(b).c: {{get: {{}}}}\n"));
        let got: Vec<_> = p
            .routes
            .iter()
            .map(|r| (r.name.as_str(), r.paths[0].as_str(), r.regex_priority))
            .collect();
        assert_eq!(
            got,
            [
                ("pet-store_a-b-c_get", "~/api/a\\(b\\)\\.c$", 200),
                ("pet-store_listpets", "~/api/pets$", 200),
                (
                    "pet-store_pets-petid_get",
                    "~/api/pets/(?<petid>[^#?/]+)$",
                    100
                ),
            ]
        );
        assert!(p.routes.iter().all(|r| !r.strip_path));
    }

    #[test]
    fn route_defaults_priority_is_lowered_for_parameterised_paths() {
        let p = plan(&format!("{HEAD}x-kong-route-defaults: {{regex_priority: 50, preserve_host: true}}\npaths:\n  /a: {{get: {{}}}}\n  /a/{{id}}: {{get: {{}}}}\n"));
        assert_eq!(p.routes[0].regex_priority, 50);
        assert_eq!(p.routes[1].regex_priority, 49);
        assert_eq!(p.routes[0].route_fields["preserve_host"], json!(true));
    }

    #[test]
    fn long_capture_names_are_rejected() {
        let name = "a".repeat(32);
        let err = derive_err(&format!("{HEAD}paths:\n  /x/{{{name}}}: {{get: {{}}}}\n"));
        assert!(
            err.contains("at most 31") && err.contains("/paths/~1x~1{"),
            "{err}"
        );
        // 31 is fine.
        plan(&format!(
            "{HEAD}paths:\n  /x/{{{}}}: {{get: {{}}}}\n",
            "a".repeat(31)
        ));
    }

    #[test]
    fn colliding_routes_and_duplicate_ids_are_rejected() {
        let err = derive_err(&format!(
            "{HEAD}paths:\n  /p/{{id}}: {{get: {{}}}}\n  /p/{{petId}}: {{get: {{}}}}\n"
        ));
        assert!(err.contains("same Kong route as `GET /p/{id}`"), "{err}");
        let err = derive_err(&format!(
            "{HEAD}paths:\n  /a: {{get: {{operationId: x}}}}\n  /b: {{get: {{operationId: x}}}}\n"
        ));
        assert!(
            err.contains("operationId `x` is also used at /paths/~1a/get"),
            "{err}"
        );
    }

    const SCHEMES: &str = "components:\n  securitySchemes:\n    key: {type: apiKey, in: header, name: X-API-Key}\n    q: {type: apiKey, in: query, name: api_key}\n    bearer: {type: http, scheme: bearer}\n    oidc: {type: openIdConnect, openIdConnectUrl: 'https://id/.well-known/openid-configuration'}\n";

    fn auth_of(security: &str) -> (String, Vec<(String, Value)>, RoutePlan) {
        let p = plan(&format!(
            "{HEAD}{SCHEMES}paths:\n  /a:\n    get:\n      security: {security}\n"
        ));
        let r = &p.routes[0];
        let plugins = r
            .plugins
            .iter()
            .map(|p| (p.name.clone(), p.config.clone()))
            .collect();
        (r.auth.to_string(), plugins, p)
    }

    #[test]
    fn api_key_becomes_key_auth_with_its_name_and_location() {
        let (auth, plugins, p) = auth_of("[{key: []}]");
        assert_eq!(auth, "key-auth");
        let ka = &plugins.iter().find(|(n, _)| n == "key-auth").unwrap().1;
        assert_eq!(ka["key_names"], json!(["X-API-Key"]));
        assert_eq!(
            (ka["key_in_header"].clone(), ka["key_in_query"].clone()),
            (json!(true), json!(false))
        );
        assert!(ka.get("anonymous").is_none());
        assert_eq!(p.credentials, BTreeSet::from([CredentialKind::KeyAuth]));
        assert!(p.anonymous_consumer.is_none());
    }

    #[test]
    fn or_uses_the_anonymous_consumer_pattern() {
        let (auth, plugins, p) = auth_of("[{key: []}, {bearer: []}]");
        assert_eq!(auth, "jwt | key-auth");
        for name in ["key-auth", "jwt"] {
            let c = &plugins.iter().find(|(n, _)| n == name).unwrap().1;
            assert_eq!(c["anonymous"], json!("demo-anonymous"), "{name}");
        }
        assert!(plugins
            .iter()
            .any(|(n, c)| n == "request-termination" && c["status_code"] == json!(401)));
        let anon = p.anonymous_consumer.unwrap();
        assert_eq!(anon.username, "demo-anonymous");
        assert_eq!(anon.plugins[0].name, "request-termination");
    }

    #[test]
    fn and_requires_every_plugin_without_anonymous() {
        let (auth, plugins, p) = auth_of("[{key: [], bearer: []}]");
        assert_eq!(auth, "jwt + key-auth");
        assert!(plugins.iter().all(|(_, c)| c.get("anonymous").is_none()));
        assert!(p.anonymous_consumer.is_none());
        assert_eq!(p.credentials.len(), 2);
    }

    #[test]
    fn two_api_keys_as_alternatives_merge_into_one_key_auth() {
        let (auth, plugins, p) = auth_of("[{key: []}, {q: []}]");
        assert_eq!(auth, "key-auth");
        let ka = &plugins.iter().find(|(n, _)| n == "key-auth").unwrap().1;
        assert_eq!(ka["key_names"], json!(["X-API-Key", "api_key"]));
        assert_eq!(
            (ka["key_in_header"].clone(), ka["key_in_query"].clone()),
            (json!(true), json!(true))
        );
        assert!(p.anonymous_consumer.is_none());
    }

    #[test]
    fn mixed_and_or_is_an_error() {
        let err = derive_err(&format!("{HEAD}{SCHEMES}paths:\n  /a:\n    get:\n      security: [{{key: [], bearer: []}}, {{q: []}}]\n"));
        assert!(
            err.contains("mixes AND and OR") && err.contains("/paths/~1a/get/security"),
            "{err}"
        );
    }

    fn derive_with(yaml: &str, s: &GatewaySettings) -> Result<RoutePlan, String> {
        derive(&ApiSpec::parse(yaml, "t.yaml").unwrap(), s).map_err(|e| e.to_string())
    }

    const OIDC_OPS: &str = "paths:\n  /a:\n    get:\n      security: [{oidc: []}]\n  /b:\n    post:\n      security: [{oidc: []}]\n  /c:\n    get:\n      security: [{key: []}]\n";

    #[test]
    fn unenforceable_security_is_refused_naming_every_operation_and_the_fixes() {
        let err = derive_with(&format!("{HEAD}{SCHEMES}{OIDC_OPS}"), &settings()).unwrap_err();
        for part in [
            "t.yaml: at /paths/~1a/get/security",
            "2 operation(s)",
            "GET /a (at /paths/~1a/get/security): oidc (openIdConnect)",
            "POST /b (at /paths/~1b/post/security)",
            "x-kong-plugin-jwt",
            "kong.security: {oidc: jwt}",
            "--allow-public",
            "kong.allowPublic: true",
        ] {
            assert!(err.contains(part), "{part} not in: {err}");
        }
        // Document-level security is refused at the document's pointer.
        let err = derive_with(
            &format!("{HEAD}{SCHEMES}security: [{{oidc: []}}]\npaths:\n  /a: {{get: {{}}}}\n"),
            &settings(),
        )
        .unwrap_err();
        assert!(err.contains("GET /a (at /security)"), "{err}");
        // mutualTLS and unknown http schemes fail closed too.
        let err = derive_with(&format!("{HEAD}components:\n  securitySchemes:\n    m: {{type: mutualTLS}}\n    d: {{type: http, scheme: digest}}\npaths:\n  /a: {{get: {{security: [{{m: []}}]}}, put: {{security: [{{d: []}}]}}}}\n"), &settings()).unwrap_err();
        assert!(
            err.contains("m (type `mutualTLS`)") && err.contains("d (http scheme `digest`)"),
            "{err}"
        );
    }

    #[test]
    fn allow_public_makes_unenforceable_operations_public_with_a_warning() {
        let mut s = settings();
        s.allow_public = true;
        let p = derive_with(&format!("{HEAD}{SCHEMES}{OIDC_OPS}"), &s).unwrap();
        let auth: Vec<_> = p.routes.iter().map(|r| r.auth.to_string()).collect();
        assert_eq!(auth, ["public", "public", "key-auth"]);
        assert!(
            p.warnings
                .iter()
                .any(|w| w.pointer == "/paths/~1a/get/security"
                    && w.message.contains("PUBLIC at the gateway")),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn kong_security_maps_schemes_to_plugins_or_public() {
        let mut s = settings();
        s.security.insert("oidc".into(), SchemeEnforcement::Jwt);
        let p = derive_with(&format!("{HEAD}{SCHEMES}{OIDC_OPS}"), &s).unwrap();
        assert_eq!(p.routes[0].auth, "jwt");
        assert!(p.credentials.contains(&CredentialKind::Jwt));
        s.security.insert("oidc".into(), SchemeEnforcement::KeyAuth);
        let p = derive_with(&format!("{HEAD}{SCHEMES}{OIDC_OPS}"), &s).unwrap();
        let ka = p.routes[0]
            .plugins
            .iter()
            .find(|p| p.name == "key-auth")
            .unwrap();
        assert_eq!(ka.config["key_names"], json!(["apikey"]));
        s.security.insert("oidc".into(), SchemeEnforcement::Public);
        let p = derive_with(&format!("{HEAD}{SCHEMES}{OIDC_OPS}"), &s).unwrap();
        assert_eq!(p.routes[0].auth, "public");
        assert!(p
            .warnings
            .iter()
            .any(|w| w.message.contains("kong.security maps oidc to public")));
        // A mapping replaces what would be derived for an enforceable scheme too.
        s.security
            .insert("key".into(), SchemeEnforcement::BasicAuth);
        let p = derive_with(&format!("{HEAD}{SCHEMES}{OIDC_OPS}"), &s).unwrap();
        assert_eq!(p.routes[2].auth, "basic-auth");
    }

    #[test]
    fn an_auth_plugin_on_the_operation_answers_for_an_unenforceable_scheme() {
        let p = plan(&format!("{HEAD}{SCHEMES}paths:\n  /a:\n    get:\n      security: [{{oidc: []}}]\n      x-kong-plugin-jwt: {{config: {{claims_to_verify: [exp]}}}}\n"));
        assert_eq!(p.routes[0].auth, "jwt");
        assert!(p.routes[0].plugins.iter().any(|p| p.name == "jwt"));
    }

    #[test]
    fn or_with_an_unenforceable_alternative_enforces_the_other() {
        let (auth, plugins, p) = auth_of("[{oidc: []}, {key: []}]");
        assert_eq!(auth, "key-auth");
        assert!(plugins.iter().any(|(n, _)| n == "key-auth"));
        assert!(p
            .warnings
            .iter()
            .any(|w| w.message.contains("requests using only it are refused")));
    }

    #[test]
    fn bearer_without_jwt_format_is_jwt_with_a_warning_unless_mapped() {
        let (auth, _, p) = auth_of("[{bearer: []}]");
        assert_eq!(auth, "jwt");
        let warned = |p: &RoutePlan| {
            p.warnings.iter().any(|w| {
                w.pointer == "/components/securitySchemes/bearer"
                    && w.message.contains("not JWT")
                    && w.message.contains("kong.security: {bearer: jwt}")
            })
        };
        assert!(warned(&p), "{:?}", p.warnings);
        let mut s = settings();
        s.security.insert("bearer".into(), SchemeEnforcement::Jwt);
        let p = derive_with(
            &format!("{HEAD}{SCHEMES}paths:\n  /a: {{get: {{security: [{{bearer: []}}]}}}}\n"),
            &s,
        )
        .unwrap();
        assert!(!warned(&p));
        let p = plan(&format!("{HEAD}components:\n  securitySchemes:\n    t: {{type: http, scheme: bearer, bearerFormat: JWT}}\npaths:\n  /a: {{get: {{security: [{{t: []}}]}}}}\n"));
        assert_eq!(p.routes[0].auth, "jwt");
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn hide_credentials_follows_the_setting() {
        let mut s = settings();
        let yaml = format!("{HEAD}components:\n  securitySchemes:\n    key: {{type: apiKey, in: header, name: X-Key}}\n    basic: {{type: http, scheme: basic}}\npaths:\n  /a: {{get: {{security: [{{key: [], basic: []}}]}}}}\n");
        let hidden = |p: &RoutePlan| -> Vec<Value> {
            p.routes[0]
                .plugins
                .iter()
                .filter(|p| p.source == PluginSource::Security)
                .map(|p| p.config["hide_credentials"].clone())
                .collect()
        };
        assert_eq!(
            hidden(&derive_with(&yaml, &s).unwrap()),
            [json!(true), json!(true)]
        );
        s.hide_credentials = false;
        assert_eq!(
            hidden(&derive_with(&yaml, &s).unwrap()),
            [json!(false), json!(false)]
        );
    }

    #[test]
    fn empty_security_is_public_and_operation_overrides_document() {
        let p = plan(&format!("{HEAD}{SCHEMES}security: [{{bearer: []}}]\npaths:\n  /a: {{get: {{}}, post: {{security: []}}, put: {{security: [{{key: []}}]}}}}\n"));
        let auth: Vec<_> = p
            .routes
            .iter()
            .map(|r| (r.methods[0].as_str(), r.auth.to_string()))
            .collect();
        assert_eq!(
            auth,
            [("GET", "jwt"), ("POST", "public"), ("PUT", "key-auth")]
                .map(|(m, a)| (m, a.to_string()))
        );
    }

    #[test]
    fn plugins_merge_by_name_down_the_levels_and_rate_limit_overrides() {
        let p = plan(&format!(
            "{HEAD}x-kong-plugin-correlation-id: {{config: {{header_name: X-Doc}}}}\npaths:\n  /a:\n    x-kong-plugin-correlation-id: {{config: {{header_name: X-Path}}}}\n    get:\n      x-justpush-rate-limit: {{minute: 5}}\n    post:\n      x-kong-plugin-correlation-id: {{config: {{header_name: X-Op}}}}\n      x-justpush-rate-limit: false\n  /b: {{get: {{}}}}\n"
        ));
        let find = |i: usize, n: &str| p.routes[i].plugins.iter().find(|p| p.name == n).cloned();
        assert_eq!(
            find(0, "correlation-id").unwrap().config["header_name"],
            "X-Path"
        );
        assert_eq!(
            find(0, "rate-limiting").unwrap().config,
            json!({"minute": 5, "policy": "local", "limit_by": "consumer"})
        );
        assert_eq!(
            find(1, "correlation-id").unwrap().config["header_name"],
            "X-Op"
        );
        assert!(find(1, "rate-limiting").is_none());
        assert_eq!(
            find(2, "correlation-id").unwrap().config["header_name"],
            "X-Doc"
        );
        assert_eq!(find(2, "rate-limiting").unwrap().config["hour"], 1000);
    }

    #[test]
    fn cors_adds_preflight_routes_and_api_key_headers() {
        let mut s = settings();
        s.cors = Some(CorsSettings {
            origins: vec!["https://app.test".into()],
            credentials: true,
        });
        let spec = ApiSpec::parse(
            &format!("{HEAD}{SCHEMES}paths:\n  /a: {{get: {{security: [{{key: []}}]}}}}\n"),
            "t",
        )
        .unwrap();
        let p = derive(&spec, &s).unwrap();
        assert_eq!(p.routes.len(), 2);
        let pre = &p.routes[1];
        assert!(pre.preflight);
        assert_eq!(pre.methods, ["OPTIONS"]);
        assert_eq!(pre.plugins.len(), 1);
        assert!(pre.plugins[0].config["headers"]
            .as_array()
            .unwrap()
            .contains(&json!("X-API-Key")));
    }

    #[test]
    fn x_kong_refs_resolve_into_components() {
        let p = plan(&format!("{HEAD}components:\n  x-kong:\n    pl:\n      cid: {{config: {{header_name: X-Ref}}}}\npaths:\n  /a:\n    get:\n      x-kong-plugin-correlation-id: {{$ref: '#/components/x-kong/pl/cid'}}\n"));
        let cid = p.routes[0]
            .plugins
            .iter()
            .find(|p| p.name == "correlation-id")
            .unwrap();
        assert_eq!(cid.config["header_name"], "X-Ref");
        let err = derive_err(&format!("{HEAD}paths:\n  /a:\n    get:\n      x-kong-plugin-x: {{$ref: '#/components/schemas/a'}}\n"));
        assert!(err.contains("#/components/x-kong/"), "{err}");
    }

    #[test]
    fn transformers_from_justpush_yaml_go_on_every_route() {
        let yaml = "name: shop\ncomponents: [{name: api, path: ., port: 8000}]\nkong:\n  rateLimit: {hour: 100}\n  requestTransformer: {add: {headers: ['X-Via:kong']}}\n  responseTransformer: {remove: {headers: [Server]}}\n";
        let config = crate::detect::config::AppConfig::from_yaml(
            yaml,
            std::path::Path::new("justpush.yaml"),
        )
        .unwrap();
        let s = GatewaySettings::from_config(&config.kong, "shop");
        let spec = ApiSpec::parse(
            &format!("{HEAD}paths:\n  /a: {{get: {{}}, post: {{}}}}\n"),
            "t",
        )
        .unwrap();
        let p = derive(&spec, &s).unwrap();
        for r in p.routes.iter().filter(|r| !r.preflight) {
            let names: Vec<&str> = r.plugins.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(
                names,
                [
                    "cors",
                    "rate-limiting",
                    "request-transformer",
                    "response-transformer"
                ]
            );
            let req = r
                .plugins
                .iter()
                .find(|p| p.name == "request-transformer")
                .unwrap();
            assert_eq!(req.config, json!({"add": {"headers": ["X-Via:kong"]}}));
            let rl = r
                .plugins
                .iter()
                .find(|p| p.name == "rate-limiting")
                .unwrap();
            assert_eq!(
                rl.config,
                json!({"hour": 100, "policy": "local", "limit_by": "consumer"})
            );
        }
        assert_eq!(s.anonymous_consumer, "shop-anonymous");
    }

    #[test]
    fn plugins_are_refused_or_checked_where_the_spec_names_them() {
        let spec = format!("{HEAD}components:\n  x-kong:\n    rl: {{config: {{minute: 5, second: 10}}}}\npaths:\n  /a:\n    get:\n      x-kong-plugin-post-function: {{config: {{access: ['kong.log(1)']}}}}\n");
        let err = derive(&ApiSpec::parse(&spec, "api.yaml").unwrap(), &settings()).unwrap_err();
        assert!(err.refused_by_policy);
        assert_eq!(err.pointer, "/paths/~1a/get/x-kong-plugin-post-function");
        assert!(err.to_string().starts_with("api.yaml: at /paths/~1a/get/x-kong-plugin-post-function: `post-function` runs the Lua code"), "{err}");
        // kong.allowPlugins lets it through, unchecked.
        let mut s = settings();
        s.allow_plugins.insert("post-function".into());
        let p = derive(&ApiSpec::parse(&spec, "api.yaml").unwrap(), &s).unwrap();
        assert!(p.routes[0]
            .plugins
            .iter()
            .any(|p| p.name == "post-function"));
        // A known plugin's config is checked, through decK's $ref too.
        let err = derive_err(&format!("{HEAD}components:\n  x-kong:\n    rl: {{config: {{minute: 5, second: 10}}}}\npaths:\n  /a:\n    x-kong-plugin-rate-limiting: {{$ref: '#/components/x-kong/rl'}}\n    get: {{}}\n"));
        assert!(
            err.contains("at /paths/~1a/x-kong-plugin-rate-limiting/config/minute: rate-limiting: the limit for minute (5) cannot be lower than the limit for second (10)"),
            "{err}"
        );
        // Enterprise-only plugins say so, also at the document level.
        let err = derive_err(&format!("{HEAD}x-kong-plugin-openid-connect: {{config: {{issuer: 'https://id'}}}}\npaths:\n  /a: {{get: {{}}}}\n"));
        assert!(
            err.contains(
                "at /x-kong-plugin-openid-connect: `openid-connect` is a Kong Enterprise plugin"
            ),
            "{err}"
        );
    }

    #[test]
    fn capture_and_slug_names() {
        assert_eq!(capture_name("-to-do"), "to_do");
        assert_eq!(capture_name("Material"), "material");
        assert_eq!(capture_name("1st"), "p1st");
        assert_eq!(slugify("Path parameter test"), "path-parameter-test");
    }
}
