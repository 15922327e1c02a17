//! From the app's settings (`justpush.yaml` or detection) and the images built for it to the
//! bundled chart's values. Pure: no cluster, no files. Secret values are never read here; the
//! caller passes what it was given at deploy time and gets back the names still missing.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value as J};

use crate::detect::config::{AppConfig, AuthType, ComponentConfig};
use crate::detect::Framework;

/// Components the bundled chart defines by default; absent from the app, they are disabled.
const CHART_DEFAULT_COMPONENTS: &[&str] = &["frontend", "backend"];

/// The chart values for an app, and what could not be filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct AppValues {
    /// Values to layer under the user's `-f`/`--set` values.
    pub values: Map<String, J>,
    /// `component/VAR` of secret variables that were given no value.
    pub missing_secrets: Vec<String>,
    /// Settings the chart cannot express exactly, with what was done instead.
    pub notes: Vec<String>,
}

/// Why an image reference cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum AppValuesError {
    #[error("image for component {component}: `{image}` is not an image reference (expected REPOSITORY[:TAG] or REPOSITORY@sha256:DIGEST)")]
    BadImage { component: String, image: String },
    #[error("--image names component `{component}`, which the app does not have (components: {known}); use one of those names")]
    UnknownComponent { component: String, known: String },
}

/// Splits an image reference into the chart's `repository` and `tag`. A digest reference keeps
/// `@sha256` in the repository so the chart's `repo:tag` prints it back unchanged.
pub fn split_image(image: &str) -> Option<(String, String)> {
    let image = image.trim();
    if image.is_empty() || image.contains(char::is_whitespace) {
        return None;
    }
    if let Some((repo, digest)) = image.split_once('@') {
        let (algo, hex) = digest.split_once(':')?;
        if repo.is_empty() || algo.is_empty() || hex.is_empty() {
            return None;
        }
        return Some((format!("{repo}@{algo}"), hex.to_string()));
    }
    // A colon after the last slash is a tag; one before it is a registry port.
    let last_slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            let (repo, tag) = (&image[..at], &image[at + 1..]);
            if repo.is_empty() || tag.is_empty() {
                return None;
            }
            Some((repo.to_string(), tag.to_string()))
        }
        None => Some((image.to_string(), "latest".to_string())),
    }
}

fn is_frontend(c: &ComponentConfig) -> bool {
    c.framework.is_some_and(Framework::is_frontend)
        || c.language == Some(crate::detect::Language::Static)
}

/// Puts what the probe of a component's image found into chart values made by [`app_values`]:
/// the port it listens on, and its health check (an HTTP path, or `healthCheck: tcp` when no
/// path answered 2xx/3xx).
pub fn apply_probe(
    values: &mut Map<String, J>,
    component: &str,
    result: &crate::image::probe::ProbeResult,
) {
    let Some(J::Object(comp)) = values
        .get_mut("components")
        .and_then(|c| c.as_object_mut())
        .and_then(|c| c.get_mut(component))
    else {
        return;
    };
    comp.insert("port".into(), json!(result.port));
    match result.health_path() {
        Some(path) => {
            comp.insert("healthPath".into(), json!(path));
            comp.insert("healthCheck".into(), json!("http"));
        }
        None => {
            comp.insert("healthCheck".into(), json!("tcp"));
        }
    }
}

/// Builds the chart values. `images` maps component names to built image references;
/// `secrets` maps component names to the secret variables' values supplied for this deploy.
pub fn app_values(
    app: &AppConfig,
    images: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<AppValues, AppValuesError> {
    let known: Vec<&str> = app.components.iter().map(|c| c.name.as_str()).collect();
    if let Some(unknown) = images.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(AppValuesError::UnknownComponent {
            component: unknown.clone(),
            known: known.join(", "),
        });
    }
    let mut missing_secrets = Vec::new();
    let mut notes = Vec::new();
    let mut components = Map::new();
    let backends: Vec<String> = app
        .components
        .iter()
        .filter(|c| !is_frontend(c))
        .map(|c| c.name.clone())
        .collect();
    let strip_any = app
        .components
        .iter()
        .any(|c| c.route.as_ref().is_some_and(|r| r.strip_path));

    for c in &app.components {
        let mut env = Map::new();
        let mut secret_env = Map::new();
        for e in &c.env {
            if e.secret {
                match secrets.get(&c.name).and_then(|m| m.get(&e.name)) {
                    Some(v) => {
                        secret_env.insert(e.name.clone(), J::String(v.clone()));
                    }
                    None => missing_secrets.push(format!("{}/{}", c.name, e.name)),
                }
            } else if let Some(v) = &e.value {
                env.insert(e.name.clone(), J::String(v.clone()));
            }
        }
        let mut comp = Map::new();
        comp.insert("enabled".into(), J::Bool(true));
        if let Some(image) = images.get(&c.name) {
            let (repository, tag) = split_image(image).ok_or_else(|| AppValuesError::BadImage {
                component: c.name.clone(),
                image: image.clone(),
            })?;
            comp.insert(
                "image".into(),
                json!({"repository": repository, "tag": tag}),
            );
        } else {
            // Without a built image, the conventional local name of `up`'s builds.
            comp.insert(
                "image".into(),
                json!({"repository": format!("{}/{}", app.name, c.name), "tag": "latest"}),
            );
        }
        comp.insert("port".into(), json!(c.port));
        comp.insert("replicas".into(), json!(c.replicas));
        comp.insert("healthPath".into(), json!(c.health));
        if let Some(init) = &c.init_command {
            comp.insert("initCommand".into(), json!(init));
        }
        comp.insert(
            "resources".into(),
            json!({
                "requests": {"cpu": c.resources.requests.cpu, "memory": c.resources.requests.memory},
                "limits": {"cpu": c.resources.limits.cpu, "memory": c.resources.limits.memory},
            }),
        );
        comp.insert("env".into(), J::Object(env));
        comp.insert("secretEnv".into(), J::Object(secret_env));
        match &c.route {
            Some(r) => {
                comp.insert("exposed".into(), J::Bool(true));
                comp.insert("path".into(), json!(r.path));
                comp.insert("authRequired".into(), J::Bool(r.auth));
            }
            None => {
                comp.insert("exposed".into(), J::Bool(false));
                comp.insert("authRequired".into(), J::Bool(false));
            }
        }
        // Frontends render on the server too: they call the app's APIs.
        let talks: Vec<J> = if is_frontend(c) {
            backends.iter().map(|b| J::String(b.clone())).collect()
        } else {
            Vec::new()
        };
        comp.insert("talksTo".into(), J::Array(talks));
        comp.insert("usesDatabase".into(), J::Bool(false));
        if let Some(paths) = c.writable.as_ref().filter(|p| !p.is_empty()) {
            comp.insert("writablePaths".into(), json!(paths));
        }
        if let Some(p) = &c.persistence {
            comp.insert(
                "persistence".into(),
                json!({"enabled": true, "size": p.size}),
            );
        }
        components.insert(c.name.clone(), J::Object(comp));
    }
    for name in CHART_DEFAULT_COMPONENTS {
        if !components.contains_key(*name) {
            components.insert((*name).into(), json!({"enabled": false}));
        }
    }

    let mut kong = Map::new();
    let auth = match app.kong.auth {
        AuthType::KeyAuth => "key-auth",
        AuthType::Jwt => "jwt",
        AuthType::None => "none",
    };
    kong.insert("auth".into(), json!({"type": auth}));
    let rl = &app.kong.rate_limit;
    let mut rate = Map::new();
    let mut minute = rl.minute;
    if let Some(s) = rl.second {
        let per_minute = s.saturating_mul(60);
        notes.push(format!(
            "kong.rateLimit.second {s} is enforced as {per_minute} per minute (the chart counts per minute and hour)"
        ));
        minute = Some(minute.map_or(per_minute, |m| m.min(per_minute)));
    }
    rate.insert(
        "enabled".into(),
        J::Bool(minute.is_some() || rl.hour.is_some()),
    );
    if let Some(m) = minute {
        rate.insert("minute".into(), json!(m));
    }
    if let Some(h) = rl.hour {
        rate.insert("hour".into(), json!(h));
    }
    kong.insert("rateLimiting".into(), J::Object(rate));
    kong.insert(
        "cors".into(),
        json!({"origins": app.kong.cors.origins, "credentials": app.kong.cors.credentials}),
    );
    if strip_any {
        // Per-route stripPath needs explicit routes; they keep each component's plugins.
        let routes: Vec<J> = app
            .components
            .iter()
            .filter_map(|c| {
                c.route.as_ref().map(|r| {
                    json!({"name": c.name, "paths": [r.path], "component": c.name, "stripPath": r.strip_path})
                })
            })
            .collect();
        kong.insert("routes".into(), J::Array(routes));
    }

    let mut values = Map::new();
    values.insert("components".into(), J::Object(components));
    values.insert("kong".into(), J::Object(kong));
    Ok(AppValues {
        values,
        missing_secrets,
        notes,
    })
}

/// Layers `over` onto `base`: maps merge key by key, anything else is replaced (Helm's rule for
/// user value files).
pub fn merge_values(base: &mut Map<String, J>, over: &Map<String, J>) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(J::Object(b)), J::Object(o)) => merge_values(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::load::Chart;
    use crate::chart::render::{Capabilities, ReleaseInfo};
    use std::path::Path;

    fn app() -> AppConfig {
        AppConfig::from_yaml(
            r#"
name: todo
components:
  - name: web
    path: web
    framework: nextjs
    language: node
    port: 3000
    health: /
    route: {path: /, auth: false}
  - name: api
    path: api
    language: python
    framework: fastapi
    port: 8000
    health: /api/health
    replicas: 3
    env:
      - {name: LOG_LEVEL, value: debug}
      - {name: OPENAI_API_KEY, secret: true}
      - {name: STRIPE_KEY, secret: true}
    route: {path: /api, auth: true}
    initCommand: [python3, manage.py, migrate, --noinput]
  - name: worker
    path: worker
    language: python
    port: 9000
    initCommand: []
kong:
  auth: jwt
  rateLimit: {minute: 30, hour: 1000}
"#,
            Path::new("justpush.yaml"),
        )
        .unwrap()
    }

    fn render(values: &Map<String, J>) -> crate::chart::RenderedRelease {
        crate::chart::render_release(
            &Chart::bundled().unwrap(),
            values,
            &ReleaseInfo {
                name: "todo".into(),
                namespace: "apps".into(),
                revision: 1,
                is_upgrade: false,
            },
            &Capabilities::default(),
        )
        .expect("the chart accepts the app's values")
    }

    #[test]
    fn splits_image_references() {
        assert_eq!(
            split_image("127.0.0.1:5000/todo/api:abc123"),
            Some(("127.0.0.1:5000/todo/api".into(), "abc123".into()))
        );
        assert_eq!(
            split_image("localhost:5000/api"),
            Some(("localhost:5000/api".into(), "latest".into()))
        );
        assert_eq!(
            split_image("api@sha256:0123"),
            Some(("api@sha256".into(), "0123".into()))
        );
        assert_eq!(split_image("api:"), None);
        assert_eq!(split_image("a b"), None);
        assert_eq!(split_image(""), None);
    }

    #[test]
    fn maps_components_env_secrets_routes_and_kong() {
        let images = BTreeMap::from([
            ("api".to_string(), "reg:5000/todo/api:v1".to_string()),
            ("web".to_string(), "todo/web:v1".to_string()),
        ]);
        let secrets = BTreeMap::from([(
            "api".to_string(),
            BTreeMap::from([("OPENAI_API_KEY".to_string(), "sk-123".to_string())]),
        )]);
        let v = app_values(&app(), &images, &secrets).unwrap();
        let c = &v.values["components"];
        assert_eq!(
            c["api"]["image"],
            json!({"repository": "reg:5000/todo/api", "tag": "v1"})
        );
        assert_eq!(c["api"]["env"], json!({"LOG_LEVEL": "debug"}));
        assert_eq!(c["api"]["secretEnv"], json!({"OPENAI_API_KEY": "sk-123"}));
        assert_eq!(c["api"]["replicas"], json!(3));
        assert_eq!(c["api"]["path"], json!("/api"));
        assert_eq!(c["api"]["authRequired"], json!(true));
        assert_eq!(c["web"]["talksTo"], json!(["api", "worker"]));
        assert_eq!(c["worker"]["exposed"], json!(false));
        assert_eq!(c["worker"]["image"]["repository"], json!("todo/worker"));
        assert_eq!(c["frontend"], json!({"enabled": false}));
        assert_eq!(c["backend"], json!({"enabled": false}));
        assert_eq!(v.missing_secrets, vec!["api/STRIPE_KEY".to_string()]);
        assert_eq!(v.values["kong"]["auth"]["type"], json!("jwt"));
        assert_eq!(
            v.values["kong"]["rateLimiting"],
            json!({"enabled": true, "minute": 30, "hour": 1000})
        );
        assert!(v.values["kong"].get("routes").is_none());
    }

    #[test]
    fn writable_paths_become_volumes_and_persistence_a_claim() {
        let mut config = app();
        config.components[0].writable = Some(vec!["/app/.next/cache".into()]);
        config.components[1].writable = Some(vec!["/app/instance".into(), "/app/logs".into()]);
        config.components[1].replicas = 1;
        config.components[1].persistence =
            Some(crate::detect::config::PersistenceConfig { size: "2Gi".into() });
        let v = app_values(&config, &BTreeMap::new(), &BTreeMap::new()).unwrap();
        let mut values = v.values.clone();
        values["components"]["api"]["secretEnv"] =
            json!({"OPENAI_API_KEY": "x", "STRIPE_KEY": "y"});
        let r = render(&values);
        let find = |kind: &str, suffix: &str| {
            r.manifests
                .iter()
                .find(|m| m.kind == kind && m.name.ends_with(suffix))
                .map(|m| m.text.clone())
        };
        let web = find("Deployment", "-web").unwrap();
        assert!(web.contains("mountPath: /app/.next/cache"), "{web}");
        assert!(web.contains("emptyDir"), "{web}");
        let api = find("Deployment", "-api").unwrap();
        // A claim per path, mounted whole (no subPath: the kubelet would make it root's).
        assert!(!api.contains("subPath"), "{api}");
        for claim in [
            "todo-justpush-api-app-instance",
            "todo-justpush-api-app-logs",
        ] {
            assert!(api.contains(&format!("claimName: {claim}")), "{api}");
            let text = find("PersistentVolumeClaim", claim).expect("a claim per path");
            assert!(text.contains("storage: \"2Gi\""), "{text}");
            assert!(text.contains("ReadWriteOnce"), "{text}");
        }
        assert!(!r
            .manifests
            .iter()
            .any(|m| m.kind == "PersistentVolumeClaim" && m.name.contains("-web-")));
    }

    #[test]
    fn rendered_values_pass_the_chart_schema_and_reach_the_objects() {
        let images = BTreeMap::from([("api".to_string(), "todo/api:v7".to_string())]);
        let secrets = BTreeMap::from([(
            "api".to_string(),
            BTreeMap::from([("OPENAI_API_KEY".to_string(), "sk-123".to_string())]),
        )]);
        let v = app_values(&app(), &images, &secrets).unwrap();
        let r = render(&v.values);
        let deployments: Vec<&str> = r
            .manifests
            .iter()
            .filter(|m| m.kind == "Deployment")
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(deployments.len(), 3, "{deployments:?}");
        let api = r
            .manifests
            .iter()
            .find(|m| m.kind == "Deployment" && m.name.ends_with("-api"))
            .unwrap();
        assert!(
            api.text.contains("image: \"todo/api:v7\"") || api.text.contains("image: todo/api:v7"),
            "{}",
            api.text
        );
        assert!(api.text.contains("replicas: 3"), "{}", api.text);
        // justpush.yaml's initCommand becomes the init container; `[]` means none.
        assert!(
            api.text.contains("initContainers:") && api.text.contains("- migrate"),
            "{}",
            api.text
        );
        let worker = r
            .manifests
            .iter()
            .find(|m| m.kind == "Deployment" && m.name.ends_with("-worker"))
            .unwrap();
        assert!(!worker.text.contains("initContainers"), "{}", worker.text);
        let secret = r
            .manifests
            .iter()
            .find(|m| m.kind == "Secret" && m.name.ends_with("-api"))
            .expect("the api's secret env Secret");
        assert!(secret.text.contains("OPENAI_API_KEY"));
        let cm = r
            .manifests
            .iter()
            .find(|m| m.kind == "ConfigMap" && m.name.ends_with("-api"))
            .unwrap();
        assert!(cm.text.contains("LOG_LEVEL"));
        assert!(!cm.text.contains("sk-123"));
    }

    fn probed(
        port: u16,
        health: crate::image::probe::HealthCheck,
    ) -> crate::image::probe::ProbeResult {
        crate::image::probe::ProbeResult {
            port,
            port_why: "listening".into(),
            health,
            openapi: None,
            tried: Vec::new(),
            throwaway_secrets: Vec::new(),
        }
    }

    #[test]
    fn probe_results_set_port_and_health_check_and_render_http_or_tcp_probes() {
        use crate::image::probe::HealthCheck;
        let mut v = app_values(&app(), &BTreeMap::new(), &BTreeMap::new()).unwrap();
        apply_probe(
            &mut v.values,
            "api",
            &probed(
                8001,
                HealthCheck::Http {
                    path: "/healthz".into(),
                    status: 200,
                    why: "x".into(),
                },
            ),
        );
        apply_probe(
            &mut v.values,
            "worker",
            &probed(9100, HealthCheck::Tcp { why: "y".into() }),
        );
        apply_probe(
            &mut v.values,
            "nosuch",
            &probed(1, HealthCheck::Tcp { why: "z".into() }),
        );
        let c = &v.values["components"];
        assert_eq!(
            (c["api"]["port"].clone(), c["api"]["healthPath"].clone()),
            (json!(8001), json!("/healthz"))
        );
        assert_eq!(c["worker"]["healthCheck"], json!("tcp"));
        assert!(c.get("nosuch").is_none());
        let r = render(&v.values);
        let deployment = |suffix: &str| {
            r.manifests
                .iter()
                .find(|m| m.kind == "Deployment" && m.name.ends_with(suffix))
                .unwrap()
                .text
                .clone()
        };
        let api = deployment("-api");
        assert!(
            api.contains("path: /healthz") && api.contains("containerPort: 8001"),
            "{api}"
        );
        assert!(!api.contains("tcpSocket"), "{api}");
        let worker = deployment("-worker");
        assert_eq!(
            worker.matches("tcpSocket").count(),
            3,
            "startup, readiness, liveness: {worker}"
        );
        assert!(!worker.contains("httpGet"), "{worker}");
    }

    #[test]
    fn strip_path_routes_become_explicit_routes_that_render() {
        let mut a = app();
        a.components[2].route = Some(crate::detect::config::RouteConfig {
            path: "/worker".into(),
            strip_path: true,
            auth: true,
        });
        let v = app_values(&a, &BTreeMap::new(), &BTreeMap::new()).unwrap();
        let routes = v.values["kong"]["routes"].as_array().unwrap();
        assert_eq!(routes.len(), 3);
        assert_eq!(routes[2]["stripPath"], json!(true));
        render(&v.values);
    }

    #[test]
    fn unknown_image_component_and_bad_reference_are_errors() {
        let images = BTreeMap::from([("db".to_string(), "x:1".to_string())]);
        let e = app_values(&app(), &images, &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("web, api, worker"), "{e}");
        let images = BTreeMap::from([("api".to_string(), "x:".to_string())]);
        let e = app_values(&app(), &images, &BTreeMap::new()).unwrap_err();
        assert!(matches!(e, AppValuesError::BadImage { .. }));
    }

    #[test]
    fn merge_keeps_untouched_keys_and_replaces_leaves() {
        let mut base = json!({"a": {"b": 1, "c": [1]}, "d": 1})
            .as_object()
            .unwrap()
            .clone();
        let over = json!({"a": {"c": [2]}, "e": 3})
            .as_object()
            .unwrap()
            .clone();
        merge_values(&mut base, &over);
        assert_eq!(
            J::Object(base),
            json!({"a": {"b": 1, "c": [2]}, "d": 1, "e": 3})
        );
    }
}
