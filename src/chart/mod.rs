//! The bundled Helm chart and the in-process Helm renderer.
pub mod app_values;
pub mod load;
pub mod manifest;
pub mod names;
pub mod release_values;
pub mod render;
pub mod strvals;
pub mod template;
pub mod values;

use load::Chart;
use serde_json::Value as J;

/// The chart with only the subcharts its dependencies enable (Helm's ProcessDependencies):
/// conditions and tags are read from the values coalesced over the whole tree.
pub fn enabled_chart(
    chart: &Chart,
    user: &serde_json::Map<String, J>,
) -> Result<Chart, values::ValuesError> {
    let all = values::coalesce_chart(&chart_values(chart), user)?.values;
    let all = J::Object(all);
    let mut pruned = chart.clone();
    pruned.subcharts.retain(|sub| {
        chart
            .dependencies
            .iter()
            .find(|d| d.name == sub.name)
            .is_none_or(|d| dependency_enabled(d, &all))
    });
    let subs: Result<Vec<Chart>, _> = pruned
        .subcharts
        .iter()
        .map(|sub| {
            let key = render::dep_key(chart, &sub.name);
            let section = match all.get(&key) {
                Some(J::Object(m)) => m.clone(),
                _ => Default::default(),
            };
            enabled_chart(sub, &section)
        })
        .collect();
    pruned.subcharts = subs?;
    // An aliased dependency is a copy of the chart under the alias's name (Helm's
    // ProcessDependencies), so `.Chart.Name` and template paths use the alias.
    for sub in &mut pruned.subcharts {
        let alias = chart
            .dependencies
            .iter()
            .find(|d| d.name == sub.name)
            .and_then(|d| d.alias.clone());
        if let Some(alias) = alias {
            sub.name = alias.clone();
            if let J::Object(m) = &mut sub.metadata {
                m.insert("name".into(), J::String(alias));
            }
        }
    }
    Ok(pruned)
}

/// The values tree of a chart, as the values module coalesces it.
fn chart_values(chart: &Chart) -> values::ChartValues {
    values::ChartValues {
        name: chart.name.clone(),
        defaults: chart.values.as_object().cloned().unwrap_or_default(),
        schema: chart.schema.clone(),
        subcharts: chart
            .subcharts
            .iter()
            .map(|s| {
                let mut v = chart_values(s);
                v.name = render::dep_key(chart, &s.name);
                v
            })
            .collect(),
    }
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
            let set: Vec<bool> = dep
                .tags
                .iter()
                .filter_map(|t| tags.get(t).and_then(J::as_bool))
                .collect();
            if !set.is_empty() {
                return set.iter().any(|b| *b);
            }
        }
    }
    true
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChartError {
    #[error(transparent)]
    Load(#[from] load::LoadError),
    #[error(transparent)]
    Values(#[from] values::ValuesError),
    #[error("rendering chart {chart}: {source}")]
    Template {
        chart: String,
        source: Box<template::TemplateError>,
    },
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
pub fn render_release(
    chart: &Chart,
    user_values: &serde_json::Map<String, J>,
    release: &render::ReleaseInfo,
    caps: &render::Capabilities,
) -> Result<RenderedRelease, ChartError> {
    render_release_with(
        chart,
        user_values,
        release,
        caps,
        template::FuncContext::default(),
    )
}

/// [`render_release`] with a function context (a cluster-backed `lookup` for deploys).
pub fn render_release_with(
    chart: &Chart,
    user_values: &serde_json::Map<String, J>,
    release: &render::ReleaseInfo,
    caps: &render::Capabilities,
    ctx: template::FuncContext,
) -> Result<RenderedRelease, ChartError> {
    let chart = &enabled_chart(chart, user_values)?;
    let tree = chart_values(chart);
    let coalesced = values::coalesce_chart(&tree, user_values)?;
    values::validate_chart_values(&tree, &coalesced.values)?;
    let values = J::Object(coalesced.values);
    let rendered = render::render(chart, &values, release, caps, ctx).map_err(|source| {
        ChartError::Template {
            chart: chart.name.clone(),
            source: Box::new(source),
        }
    })?;
    let notes = rendered
        .get(&format!("{}/templates/NOTES.txt", chart.name))
        .cloned();
    let manifests = manifest::split_manifests(&rendered)
        .and_then(|m| manifest::check_unique_objects(&m, &release.namespace).map(|()| m))
        .map_err(|message| ChartError::Manifest {
            chart: chart.name.clone(),
            message,
        })?;
    Ok(RenderedRelease {
        manifests,
        notes,
        values,
    })
}
