//! Derived routes as values of the bundled chart (the Kubernetes way): `kong.routes` entries
//! with Kong regex paths (`/~` prefix, pathType ImplementationSpecific), methods, regex
//! priorities and per-route plugin lists; `kong.plugins` with one KongPlugin per distinct plugin
//! configuration; the anonymous consumer; the consumer's credential types. Pure.

use serde_json::{json, Map, Value};
use sha2::Digest;

use super::derive::{GatewaySettings, Plugin, PluginSource, RoutePlan};

/// KIC's default prefix marking an Ingress path as a regex.
pub const KIC_REGEX_PREFIX: &str = "/~";

/// Route fields from `x-kong-route-defaults` that KIC exposes as Ingress annotations.
const ROUTE_FIELD_ANNOTATIONS: [(&str, &str); 6] = [
    ("preserve_host", "konghq.com/preserve-host"),
    ("protocols", "konghq.com/protocols"),
    (
        "https_redirect_status_code",
        "konghq.com/https-redirect-status-code",
    ),
    ("request_buffering", "konghq.com/request-buffering"),
    ("response_buffering", "konghq.com/response-buffering"),
    ("path_handling", "konghq.com/path-handling"),
];

/// The chart values (to be layered under the user's) that render `plan` for `component`.
/// Also returns warnings about what the Kubernetes way cannot carry.
pub fn chart_values(
    plan: &RoutePlan,
    settings: &GatewaySettings,
    component: &str,
) -> (Value, Vec<String>) {
    let mut warnings = Vec::new();
    let service = service_values(plan, &mut warnings);
    let mut plugins = Map::new();
    let mut routes = Vec::new();
    // Consumer-scoped plugins, by consumer username: KIC applies a KongPlugin referenced by
    // both an Ingress and a KongConsumer to that consumer's requests on that route only.
    let mut scoped: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in &plan.routes {
        let mut refs = Vec::new();
        for p in r
            .plugins
            .iter()
            .filter(|p| p.source != PluginSource::AnonymousConsumer)
        {
            let key = register(&mut plugins, p);
            if let Some(c) = &p.consumer {
                let keys = scoped.entry(c.clone()).or_default();
                if !keys.contains(&key) {
                    keys.push(key.clone());
                }
            }
            refs.push(json!(key));
        }
        let mut annotations = Map::new();
        for (field, value) in &r.route_fields {
            match ROUTE_FIELD_ANNOTATIONS.iter().find(|(f, _)| f == field) {
                Some((_, annotation)) => {
                    let text = match value {
                        Value::Array(a) => a.iter().map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())).collect::<Vec<_>>().join(","),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    annotations.insert((*annotation).to_string(), json!(text));
                }
                None => warnings.push(format!(
                    "route {}: x-kong-route-defaults field `{field}` has no Kong Ingress Controller annotation and is left out (the Admin API mode applies it)",
                    r.name
                )),
            }
        }
        let mut route = json!({
            "name": r.k8s_name,
            "paths": r.paths.iter().map(|p| format!("{KIC_REGEX_PREFIX}{}", p.trim_start_matches('~'))).collect::<Vec<_>>(),
            "pathType": "ImplementationSpecific",
            "methods": r.methods,
            "regexPriority": r.regex_priority,
            "stripPath": r.strip_path,
            "component": component,
            "plugins": refs,
        });
        if !annotations.is_empty() {
            route["annotations"] = Value::Object(annotations);
        }
        routes.push(route);
    }
    let mut kong = json!({
        "routes": routes,
        "keepComponentRoutes": true,
        "plugins": {},
        "consumer": {
            "extraCredentials": plan.credentials.iter().map(|c| c.plugin()).collect::<Vec<_>>(),
        },
        "rateLimiting": rate_limiting_values(settings),
        "cors": match &settings.cors {
            Some(c) => json!({"enabled": true, "origins": c.origins, "credentials": c.credentials}),
            None => json!({"enabled": false}),
        },
    });
    let mut anonymous_refs: Vec<String> = Vec::new();
    if let Some(anon) = &plan.anonymous_consumer {
        anonymous_refs = anon
            .plugins
            .iter()
            .map(|p| register(&mut plugins, p))
            .collect();
    }
    if let Some(keys) = scoped.remove(&settings.anonymous_consumer) {
        anonymous_refs.extend(keys);
    }
    if plan.anonymous_consumer.is_some() || !anonymous_refs.is_empty() {
        kong["anonymousConsumer"] = json!({"enabled": true, "username": settings.anonymous_consumer, "plugins": anonymous_refs});
    }
    if let Some(keys) = scoped.remove(&settings.developer_consumer) {
        kong["consumer"]["plugins"] = json!(keys);
    }
    for (consumer, keys) in scoped {
        // derive only lets the release's own consumers be named; say so if that ever changes.
        warnings.push(format!(
            "plugins {} are scoped to consumer {consumer}, which this chart does not render; they are left out",
            keys.join(", ")
        ));
        for k in keys {
            plugins.remove(&k);
        }
    }
    kong["plugins"] = Value::Object(plugins);
    if !service.is_empty() {
        kong["services"] = json!({ component: service });
    }
    (json!({ "kong": kong }), warnings)
}

/// `x-kong-service-defaults` fields KIC reads as annotations of the Kubernetes Service.
const SERVICE_FIELD_ANNOTATIONS: [(&str, &str); 4] = [
    ("connect_timeout", "konghq.com/connect-timeout"),
    ("read_timeout", "konghq.com/read-timeout"),
    ("write_timeout", "konghq.com/write-timeout"),
    ("retries", "konghq.com/retries"),
];

/// Where the service is: the component's Kubernetes Service decides, not the spec.
const SERVICE_ORIGIN_FIELDS: [&str; 7] = ["name", "url", "host", "port", "protocol", "path", "id"];

/// The component's `kong.services` entry: Service annotations from `x-kong-service-defaults`
/// and a KongUpstreamPolicy spec from `x-kong-upstream-defaults` (KIC's Kubernetes-native forms
/// of decK's service and upstream fields). What has no such form is a warning.
fn service_values(plan: &RoutePlan, warnings: &mut Vec<String>) -> Map<String, Value> {
    let mut annotations = Map::new();
    for (field, value) in &plan.service_defaults {
        if let Some((_, a)) = SERVICE_FIELD_ANNOTATIONS.iter().find(|(f, _)| f == field) {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            annotations.insert((*a).to_string(), json!(text));
        } else if SERVICE_ORIGIN_FIELDS.contains(&field.as_str()) || field == "tags" {
            warnings.push(format!(
                "x-kong-service-defaults field `{field}` is left out: the component's Kubernetes Service is where Kong sends requests"
            ));
        } else {
            warnings.push(format!(
                "x-kong-service-defaults field `{field}` has no Kong Ingress Controller annotation and is left out (the Admin API mode applies it)"
            ));
        }
    }
    let mut out = Map::new();
    if !annotations.is_empty() {
        out.insert("annotations".into(), Value::Object(annotations));
    }
    let policy = upstream_policy(&plan.upstream_defaults, warnings);
    if !policy.is_empty() {
        out.insert("upstreamPolicy".into(), Value::Object(policy));
    }
    out
}

/// decK's upstream fields as a KongUpstreamPolicy spec (configuration.konghq.com/v1beta1):
/// `hash_on` + `hash_on_<kind>` become `hashOn: {<kind>: NAME}` (or `{input: ip|consumer|path}`),
/// health checks keep their shape in camelCase.
fn upstream_policy(
    defaults: &Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Map<String, Value> {
    let mut spec = Map::new();
    let mut used: Vec<&str> = Vec::new();
    for (field, key) in [("algorithm", "algorithm"), ("slots", "slots")] {
        if let Some(v) = defaults.get(field) {
            spec.insert(key.into(), v.clone());
            used.push(field);
        }
    }
    if let Some(h) = defaults.get("healthchecks") {
        spec.insert("healthchecks".into(), camel_keys(h));
        used.push("healthchecks");
    }
    for (prefix, key) in [("hash_on", "hashOn"), ("hash_fallback", "hashOnFallback")] {
        let Some(kind) = defaults.get(prefix).and_then(Value::as_str) else {
            continue;
        };
        used.push(prefix);
        let hash = match kind {
            "none" => continue,
            "ip" | "consumer" | "path" => json!({"input": kind}),
            "cookie" => {
                // Kong has one cookie (and path) for hashing and its fallback.
                let mut h = json!({"cookie": defaults.get("hash_on_cookie")});
                if let Some(p) = defaults.get("hash_on_cookie_path") {
                    h["cookiePath"] = p.clone();
                }
                h
            }
            "header" | "query_arg" | "uri_capture" => {
                let arg = defaults.get(&format!("{prefix}_{kind}"));
                let camel = camel_case(kind);
                json!({ camel: arg })
            }
            other => {
                warnings.push(format!(
                    "x-kong-upstream-defaults {prefix}: `{other}` is not a hash input Kong knows and is left out"
                ));
                continue;
            }
        };
        spec.insert(key.into(), hash);
    }
    for field in defaults.keys() {
        let arg_of_hash = ["hash_on_", "hash_fallback_"]
            .iter()
            .any(|p| field.starts_with(p));
        if !used.contains(&field.as_str())
            && !arg_of_hash
            && !matches!(field.as_str(), "name" | "id" | "tags" | "targets")
        {
            warnings.push(format!(
                "x-kong-upstream-defaults field `{field}` has no KongUpstreamPolicy field and is left out (the Admin API mode applies it)"
            ));
        }
    }
    spec
}

/// `snake_case` → `camelCase`.
fn camel_case(s: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in s.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A value with every object key in camelCase (header names in `headers` are kept as given).
fn camel_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if k == "headers" {
                        v.clone()
                    } else {
                        camel_keys(v)
                    };
                    (camel_case(k), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(camel_keys).collect()),
        other => other.clone(),
    }
}

/// The chart's built-in rate-limiting plugin (used by the other components' routes) set to
/// the same windows as the derived routes' default.
fn rate_limiting_values(settings: &GatewaySettings) -> Value {
    let w = settings.rate_limit;
    if w.second.is_none() && w.minute.is_none() && w.hour.is_none() {
        return json!({"enabled": false});
    }
    let mut v = json!({"enabled": true, "minute": w.minute, "hour": w.hour});
    if let Some(s) = w.second {
        v["second"] = json!(s);
    }
    v
}

/// Adds a plugin to the `kong.plugins` map under a name derived from its content (so equal
/// configurations share one KongPlugin) and returns that name.
fn register(plugins: &mut Map<String, Value>, p: &Plugin) -> String {
    let mut body = json!({"plugin": p.name, "config": p.config});
    if !p.protocols.is_empty() {
        body["protocols"] = json!(p.protocols);
    }
    if !p.enabled {
        body["disabled"] = json!(true);
    }
    // A consumer-scoped plugin needs its own KongPlugin: one shared with unscoped routes would
    // become consumer-scoped on them too.
    let mut hashed = body.to_string();
    if let Some(c) = &p.consumer {
        hashed.push_str("\nconsumer:");
        hashed.push_str(c);
    }
    let digest = sha2::Sha256::digest(hashed.as_bytes());
    let hash: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
    let mut base: String = p
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    base.truncate(40);
    let mut key = format!("{}-{hash}", base.trim_end_matches('-'));
    if plugins.get(&key).is_some_and(|existing| *existing != body) {
        // Two configurations whose 24-bit hashes meet: the second gets a longer one rather
        // than replacing the first (which routes already refer to).
        let long: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        key = format!("{}-{long}", base.trim_end_matches('-'));
    }
    plugins.insert(key.clone(), body);
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::app_values::merge_values;
    use crate::kong::derive::{derive, CorsSettings, RateWindows};
    use crate::kong::spec::ApiSpec;

    fn settings() -> GatewaySettings {
        GatewaySettings {
            rate_limit: RateWindows {
                second: None,
                minute: Some(60),
                hour: None,
            },
            cors: Some(CorsSettings {
                origins: vec!["*".into()],
                credentials: false,
            }),
            request_transformer: None,
            response_transformer: None,
            anonymous_consumer: "demo-anonymous".into(),
            security: Default::default(),
            allow_public: false,
            hide_credentials: true,
            allow_plugins: Default::default(),
            developer_consumer: "demo-developer".into(),
        }
    }

    #[test]
    fn routes_become_regex_ingress_routes_sharing_equal_plugins() {
        let spec = ApiSpec::parse(
            "openapi: 3.0.0\ninfo: {title: t, version: '1'}\nservers: [{url: /api}]\ncomponents:\n  securitySchemes:\n    k: {type: apiKey, in: header, name: apikey}\n    b: {type: http, scheme: bearer}\nsecurity: [{k: []}, {b: []}]\nx-kong-route-defaults: {preserve_host: true, snis: [a]}\npaths:\n  /pets: {get: {operationId: list}, post: {operationId: add}}\n",
            "t.yaml",
        )
        .unwrap();
        let plan = derive(&spec, &settings()).unwrap();
        let (v, warnings) = chart_values(&plan, &settings(), "backend");
        let routes = v["kong"]["routes"].as_array().unwrap();
        assert_eq!(routes.len(), 3, "two operations and the preflight route");
        assert_eq!(routes[0]["paths"], json!(["/~/api/pets$"]));
        assert_eq!(routes[0]["pathType"], "ImplementationSpecific");
        assert_eq!(routes[0]["annotations"]["konghq.com/preserve-host"], "true");
        assert!(
            warnings.iter().any(|w| w.contains("`snis`")),
            "{warnings:?}"
        );
        // list and add share their plugin objects; the termination sits on the consumer only.
        assert_eq!(routes[0]["plugins"], routes[1]["plugins"]);
        let plugins = v["kong"]["plugins"].as_object().unwrap();
        let names: Vec<&str> = plugins
            .values()
            .map(|p| p["plugin"].as_str().unwrap())
            .collect();
        assert_eq!(
            names
                .iter()
                .filter(|n| **n == "request-termination")
                .count(),
            1
        );
        let anon = &v["kong"]["anonymousConsumer"];
        assert_eq!(anon["username"], "demo-anonymous");
        let term = anon["plugins"][0].as_str().unwrap();
        assert!(!routes[0]["plugins"]
            .as_array()
            .unwrap()
            .contains(&json!(term)));
        assert_eq!(
            v["kong"]["consumer"]["extraCredentials"],
            json!(["key-auth", "jwt"])
        );
    }

    fn plan_with(service: Value, upstream: Value) -> (Value, Vec<String>) {
        let spec = ApiSpec::parse(
            &format!(
                "openapi: 3.0.0\ninfo: {{title: t, version: '1'}}\nx-kong-service-defaults: {service}\nx-kong-upstream-defaults: {upstream}\npaths:\n  /pets: {{get: {{operationId: list}}}}\n"
            ),
            "t.yaml",
        )
        .unwrap();
        let plan = derive(&spec, &settings()).unwrap();
        chart_values(&plan, &settings(), "backend")
    }

    #[test]
    fn service_defaults_become_service_annotations_and_origin_fields_are_refused() {
        let (v, warnings) = plan_with(
            json!({"connect_timeout": 5000, "write_timeout": "7000", "retries": 2, "protocol": "https", "tls_verify": true}),
            json!({}),
        );
        assert_eq!(
            v["kong"]["services"]["backend"],
            json!({"annotations": {
                "konghq.com/connect-timeout": "5000",
                "konghq.com/write-timeout": "7000",
                "konghq.com/retries": "2"}})
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("`protocol`")
                && warnings[0].contains("Kubernetes Service is where Kong sends"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].contains("`tls_verify`")
                && warnings[1].contains("Admin API mode applies it"),
            "{warnings:?}"
        );
    }

    #[test]
    fn upstream_defaults_become_a_kong_upstream_policy_spec() {
        let (v, warnings) = plan_with(
            json!({}),
            json!({"algorithm": "consistent-hashing", "slots": 100,
                "hash_on": "cookie", "hash_on_cookie": "sid", "hash_on_cookie_path": "/app",
                "hash_fallback": "query_arg", "hash_fallback_query_arg": "user",
                "healthchecks": {"threshold": 25, "active": {"https_verify_certificate": false,
                    "headers": {"X-Probe_Id": ["1"]}, "unhealthy": {"tcp_failures": 2}}},
                "host_header": "api.internal"}),
        );
        assert_eq!(
            v["kong"]["services"]["backend"]["upstreamPolicy"],
            json!({"algorithm": "consistent-hashing", "slots": 100,
                "hashOn": {"cookie": "sid", "cookiePath": "/app"},
                "hashOnFallback": {"queryArg": "user"},
                "healthchecks": {"threshold": 25, "active": {"httpsVerifyCertificate": false,
                    "headers": {"X-Probe_Id": ["1"]}, "unhealthy": {"tcpFailures": 2}}}})
        );
        assert!(v["kong"]["services"]["backend"]
            .get("annotations")
            .is_none());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("`host_header`"), "{warnings:?}");

        // Hashing on the client IP is an input; `none` is no hashing at all.
        let (v, warnings) = plan_with(json!({}), json!({"hash_on": "ip", "hash_fallback": "none"}));
        assert_eq!(
            v["kong"]["services"]["backend"]["upstreamPolicy"],
            json!({"hashOn": {"input": "ip"}})
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        // Nothing set: no kong.services entry at all.
        let (v, _) = plan_with(json!({}), json!({}));
        assert!(v["kong"].get("services").is_none());
    }

    #[test]
    fn merge_is_deep_for_maps_only() {
        let mut base = json!({"a": {"b": 1, "c": [1]}, "d": 1})
            .as_object()
            .unwrap()
            .clone();
        merge_values(
            &mut base,
            json!({"a": {"c": [2]}, "e": 2}).as_object().unwrap(),
        );
        assert_eq!(
            Value::Object(base),
            json!({"a": {"b": 1, "c": [2]}, "d": 1, "e": 2})
        );
    }
}
