//! A release's values, made in one place for every command that deploys an app (`up`,
//! `deploy`; `redeploy`, `rollback` and `scale` start from a recorded revision's values, which
//! were made here): layered, later wins,
//!
//! 1. Kong routes and plugins from each component's OpenAPI document (the project's file, or
//!    the one read from the built image at run time);
//! 2. the app's own values from `justpush.yaml` (images, env, secrets, probes, volumes...);
//! 3. what the Build stage's probe found (port, health path), when it ran;
//! 4. the user's `-f`/`--set` values.
//!
//! Pure: the caller reads the project, the spec cache and the environment.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value as J};

use super::app_values::{app_values, apply_probe, merge_values, AppValuesError};
use crate::detect::config::AppConfig;
use crate::detect::OpenApi;
use crate::image::probe::ProbeResult;
use crate::kong::derive::{derive, GatewaySettings};
use crate::kong::spec::ApiSpec;

/// What a release's values are made from.
#[derive(Default)]
pub struct ValueSources<'a> {
    /// The project directory (OpenAPI files are read inside it only).
    pub root: Option<&'a Path>,
    pub images: BTreeMap<String, String>,
    /// Component → secret variable → value, for this deploy.
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
    /// Component → OpenAPI document served at run time (read from the built image or the
    /// running service, cached per image).
    pub runtime_specs: BTreeMap<String, String>,
    /// Component → what the probe of its built image found.
    pub probes: BTreeMap<String, ProbeResult>,
    /// The user's `-f`/`--set` values.
    pub user: Map<String, J>,
}

/// Values, and the notes to show about them once.
#[derive(Debug, Default)]
pub struct ReleaseValues {
    pub values: Map<String, J>,
    /// Components that keep the chart's prefix route, and why; gateway settings adapted.
    pub route_notes: Vec<String>,
    /// Settings of `justpush.yaml` the chart cannot express exactly, with what was done.
    pub app_notes: Vec<String>,
}

/// Why no values could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValuesError {
    #[error(transparent)]
    App(#[from] AppValuesError),
    /// A component's OpenAPI document asks for what the gateway policy refuses.
    #[error("{0}")]
    Routes(String),
}

/// The values of a release of `app` (see the module docs for the layers).
pub fn release_values(
    app: &AppConfig,
    sources: &ValueSources<'_>,
) -> Result<ReleaseValues, ValuesError> {
    let av = app_values(app, &sources.images, &sources.secrets)?;
    let (mut values, route_notes) = match sources.root {
        Some(root) => {
            route_values(root, app, &sources.runtime_specs).map_err(ValuesError::Routes)?
        }
        None => (Map::new(), Vec::new()),
    };
    merge_values(&mut values, &av.values);
    for (component, result) in &sources.probes {
        apply_probe(&mut values, component, result);
    }
    merge_values(&mut values, &sources.user);
    Ok(ReleaseValues {
        values,
        route_notes,
        app_notes: av.notes,
    })
}

/// Kong route values from each component's OpenAPI document, and notes on components that
/// keep the chart's prefix route. Err when a document asks for what the gateway policy
/// refuses (a route the spec secures that Kong cannot enforce).
pub fn route_values(
    root: &Path,
    app: &AppConfig,
    runtime: &BTreeMap<String, String>,
) -> Result<(Map<String, J>, Vec<String>), String> {
    let mut values = Map::new();
    let mut notes = Vec::new();
    let settings = GatewaySettings::from_config(&app.kong, &app.name);
    for c in &app.components {
        let loaded = match &c.openapi {
            Some(OpenApi::File(f)) => Some(ApiSpec::load_in_project(root, &root.join(f))),
            Some(OpenApi::Runtime(p)) => runtime
                .get(&c.name)
                .map(|text| ApiSpec::parse(text, &format!("{}{p}", c.name))),
            None => None,
        };
        let spec = match (&c.openapi, loaded) {
            (_, Some(Ok(spec))) => spec,
            (_, Some(Err(e))) => {
                notes.push(format!(
                    "{}: routes from the chart's defaults, the spec did not load: {e}",
                    c.name
                ));
                continue;
            }
            (Some(OpenApi::Runtime(p)), None) => {
                notes.push(format!(
                    "{}: its OpenAPI document is served at runtime ({p}); Kong gets the chart's prefix route until it is read",
                    c.name
                ));
                continue;
            }
            (_, None) => continue,
        };
        match derive(&spec, &settings) {
            Ok(plan) => {
                let (overlay, warnings) =
                    crate::kong::chart_values::chart_values(&plan, &settings, &c.name);
                notes.extend(warnings);
                if let Some(o) = overlay.as_object() {
                    merge_values(&mut values, o);
                }
            }
            Err(e) if e.refused_by_policy => return Err(format!("{}: {e}", c.name)),
            Err(e) => notes.push(format!("{}: routes from the chart's defaults: {e}", c.name)),
        }
    }
    Ok((values, notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app() -> AppConfig {
        AppConfig::from_yaml(
            "name: shop\ncomponents:\n  - name: api\n    path: .\n    port: 8000\n    health: /healthz\n    openapi: {file: openapi.json}\n    route: {path: /api, auth: true}\n",
            Path::new("justpush.yaml"),
        )
        .unwrap()
    }

    #[test]
    fn layers_routes_then_the_app_then_the_user() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("openapi.json"),
            r#"{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{"/api/items":{"get":{"operationId":"list"}}}}"#,
        )
        .unwrap();
        let sources = ValueSources {
            root: Some(dir.path()),
            images: BTreeMap::from([("api".into(), "shop/api:1".into())]),
            user: json!({"components": {"api": {"replicas": 5}}})
                .as_object()
                .cloned()
                .unwrap(),
            ..Default::default()
        };
        let v = release_values(&app(), &sources).unwrap().values;
        assert_eq!(v["components"]["api"]["replicas"], 5, "the user's last");
        assert_eq!(v["components"]["api"]["image"]["repository"], "shop/api");
        let routes = serde_json::to_string(&v["kong"]).unwrap();
        assert!(
            routes.contains("/api/items"),
            "routes from the spec: {routes}"
        );
        // Without a project, no routes from it.
        let bare = ValueSources {
            images: sources.images.clone(),
            ..Default::default()
        };
        let v = release_values(&app(), &bare).unwrap().values;
        assert!(!serde_json::to_string(&v).unwrap().contains("/api/items"));
    }
}
