//! The bundled Helm chart and the in-process Helm renderer.
pub mod load;
pub mod manifest;
pub mod render;
pub mod template;

use load::Chart;
use serde_json::Value as J;

/// Helm's CoalesceValues plus ProcessDependencies: the chart's defaults under the user's
/// values (a `null` deletes a default), each enabled subchart's section merged over its own
/// defaults with the parent's `global` copied down; subcharts disabled by their `condition` or
/// `tags` lose their section (and so are not rendered).
pub fn coalesce_chart_values(chart: &Chart, user: &J) -> J {
    let mut v = coalesce(user, &chart.values);
    let globals = v.get("global").cloned().unwrap_or(J::Object(Default::default()));
    for sub in &chart.subcharts {
        let key = render::dep_key(chart, &sub.name);
        let dep = chart.dependencies.iter().find(|d| d.name == sub.name);
        if let Some(dep) = dep {
            if !dependency_enabled(dep, &v) {
                if let J::Object(m) = &mut v {
                    m.remove(&key);
                }
                continue;
            }
        }
        let mut section = v.get(&key).cloned().unwrap_or(J::Object(Default::default()));
        if let J::Object(m) = &mut section {
            let sub_globals = m.get("global").cloned().unwrap_or(J::Object(Default::default()));
            m.insert("global".into(), coalesce(&globals, &sub_globals));
        }
        let merged = coalesce_chart_values(sub, &section);
        if let J::Object(m) = &mut v {
            m.insert(key, merged);
        }
    }
    v
}

fn dependency_enabled(dep: &load::Dependency, values: &J) -> bool {
    if let Some(cond) = &dep.condition {
        // The first condition path that resolves to a bool decides.
        for path in cond.split(',').map(str::trim) {
            let ptr = format!("/{}", path.replace('.', "/"));
            if let Some(J::Bool(b)) = values.pointer(&ptr) {
                return *b;
            }
        }
    }
    if !dep.tags.is_empty() {
        if let Some(J::Object(tags)) = values.get("tags") {
            let set: Vec<bool> = dep.tags.iter().filter_map(|t| tags.get(t).and_then(J::as_bool)).collect();
            if !set.is_empty() {
                return set.iter().any(|b| *b);
            }
        }
    }
    true
}

fn coalesce(user: &J, defaults: &J) -> J {
    match (user, defaults) {
        (J::Object(u), J::Object(d)) => {
            let mut out = u.clone();
            for (k, dv) in d {
                match u.get(k) {
                    None => {
                        out.insert(k.clone(), dv.clone());
                    }
                    Some(J::Null) => {
                        out.remove(k);
                    }
                    Some(uv @ J::Object(_)) if dv.is_object() => {
                        out.insert(k.clone(), coalesce(uv, dv));
                    }
                    Some(_) => {}
                }
            }
            // A null the user set with no default to delete is dropped too.
            out.retain(|_, v| !v.is_null());
            J::Object(out)
        }
        (J::Null, d) => d.clone(),
        (u, _) => u.clone(),
    }
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChartError {
    #[error(transparent)]
    Load(#[from] load::LoadError),
    #[error("{0}")]
    Values(String),
    #[error("rendering chart {chart}: {source}")]
    Template { chart: String, source: template::TemplateError },
    #[error("rendering chart {chart}: {message}")]
    Manifest { chart: String, message: String },
}

/// A rendered release: ordered manifests, NOTES.txt, and the values used.
#[derive(Debug)]
pub struct RenderedRelease {
    pub manifests: Vec<manifest::Manifest>,
    pub notes: Option<String>,
    pub values: J,
}

/// Coalesces values, validates them against the chart's schema, renders and orders the result.
pub fn render_release(chart: &Chart, user_values: &J, release: &render::ReleaseInfo, caps: &render::Capabilities) -> Result<RenderedRelease, ChartError> {
    let values = coalesce_chart_values(chart, user_values);
    let rendered = render::render(chart, &values, release, caps, template::FuncContext::default())
        .map_err(|source| ChartError::Template { chart: chart.name.clone(), source })?;
    let notes = rendered.get(&format!("{}/templates/NOTES.txt", chart.name)).cloned();
    let manifests = manifest::split_manifests(&rendered).map_err(|message| ChartError::Manifest { chart: chart.name.clone(), message })?;
    Ok(RenderedRelease { manifests, notes, values })
}
