//! The pure part of a deploy: a revision prepared from the chart, the values and what the
//! cluster told (its Secrets for `lookup`, which kinds are namespaced), with no I/O. Every
//! caller of the action gets its objects, record and warnings from here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as J};

use super::DeployError;
use crate::chart::load::Chart;
use crate::chart::render::{Capabilities, ReleaseInfo};
use crate::chart::RenderedRelease;
use crate::kube::apply::{is_kong_object, label_object};
use crate::kube::record::{
    now, redact_object, redact_values, RecordEvent, ReleaseRecord, ReleaseStatus,
};
use crate::kube::wait::WORKLOAD_KINDS;

/// What a revision is made from.
pub struct RevisionInputs<'a> {
    pub release: &'a str,
    pub namespace: &'a str,
    pub chart: &'a Chart,
    /// The values with redacted secrets already resolved.
    pub values: &'a Map<String, J>,
    pub revision: u32,
    pub is_upgrade: bool,
    /// The release's Secrets as the cluster has them, for the chart's `lookup`.
    pub secrets: BTreeMap<String, J>,
}

/// A revision ready to apply.
#[derive(Debug, Clone)]
pub struct Revision {
    /// The objects, labelled for the release and revision, in install order.
    pub objects: Vec<J>,
    /// The values the chart rendered with (defaults coalesced).
    pub values: J,
    /// Skipped hooks and the like.
    pub warnings: Vec<String>,
    /// The Secret holding the Kong consumer's credential, if the chart made one.
    pub api_key_secret: Option<String>,
}

/// Renders the chart for a revision; `lookup` answers from `inputs.secrets` only.
pub fn render_revision(inputs: RevisionInputs<'_>) -> Result<RenderedRelease, DeployError> {
    let ns = inputs.namespace.to_string();
    let secrets = inputs.secrets;
    let ctx = crate::chart::template::FuncContext {
        lookup: Some(Box::new(move |api_version, kind, namespace, name| {
            use crate::chart::template::Value;
            if api_version == "v1" && kind == "Secret" && (namespace == ns || namespace.is_empty())
            {
                if let Some(s) = secrets.get(name) {
                    return Ok(Value::from_json_values(s));
                }
            }
            Ok(Value::from_json_values(&J::Object(Map::new())))
        })),
        ..Default::default()
    };
    crate::chart::render_release_with(
        inputs.chart,
        inputs.values,
        &ReleaseInfo {
            name: inputs.release.to_string(),
            namespace: inputs.namespace.to_string(),
            revision: inputs.revision as i64,
            is_upgrade: inputs.is_upgrade,
        },
        &Capabilities::default(),
        ctx,
    )
    .map_err(|e| DeployError::Refused(format!("rendering the chart for {}: {e}", inputs.release)))
}

/// The rendered objects as JSON, in install order, parsed once for the steps below.
pub struct ParsedRevision {
    pub objects: Vec<J>,
    /// Helm hooks skipped.
    pub warnings: Vec<String>,
}

impl ParsedRevision {
    /// The `(apiVersion, kind)` pairs of the objects, to ask the cluster which are namespaced.
    pub fn kinds(&self) -> BTreeSet<(String, String)> {
        self.objects.iter().map(kind_of).collect()
    }
}

fn kind_of(obj: &J) -> (String, String) {
    let text = |key: &str| obj.get(key).and_then(J::as_str).unwrap_or("").to_string();
    (text("apiVersion"), text("kind"))
}

/// Parses the rendered documents; Helm hooks are skipped with a warning, documents that are
/// not objects (empty ones) are dropped.
pub fn parse_objects(rendered: &RenderedRelease) -> Result<ParsedRevision, DeployError> {
    let mut objects = Vec::new();
    let mut warnings = Vec::new();
    for m in &rendered.manifests {
        if let Some(hook) = &m.hook {
            warnings.push(format!(
                "{}/{} is a Helm hook ({hook}); hooks are not run by justpush and it was skipped",
                m.kind, m.name
            ));
            continue;
        }
        let obj: J = serde_yaml::from_str(&m.text).map_err(|e| {
            DeployError::Refused(format!(
                "{}: rendered object is not valid YAML: {e}",
                m.source
            ))
        })?;
        if obj.is_object() {
            objects.push(obj);
        }
    }
    Ok(ParsedRevision { objects, warnings })
}

/// The parsed objects labelled for the release and revision; `cluster_scoped` holds the
/// `(apiVersion, kind)` pairs that get no namespace. `values` are the values the chart
/// rendered with.
pub fn prepare_revision(
    parsed: ParsedRevision,
    values: J,
    release: &str,
    namespace: &str,
    revision: u32,
    cluster_scoped: &BTreeSet<(String, String)>,
) -> Revision {
    let ParsedRevision {
        mut objects,
        warnings,
    } = parsed;
    for obj in &mut objects {
        let namespaced = !cluster_scoped.contains(&kind_of(obj));
        label_object(obj, release, revision, namespaced.then_some(namespace));
    }
    let api_key_secret = objects
        .iter()
        .find(|o| {
            o.pointer("/metadata/labels/konghq.com~1credential")
                .is_some()
        })
        .and_then(|o| o.pointer("/metadata/name").and_then(J::as_str))
        .map(str::to_string);
    Revision {
        objects,
        values,
        warnings,
        api_key_secret,
    }
}

/// What the record of a new revision says besides its objects.
pub struct RecordInputs<'a> {
    pub chart: &'a Chart,
    pub images: &'a BTreeMap<String, String>,
    pub description: &'a str,
    pub events: Vec<RecordEvent>,
    pub is_upgrade: bool,
    pub namespace_created: bool,
    pub gateway_url: Option<String>,
}

/// The record of a revision being deployed (status Deploying), secrets redacted.
pub fn revision_record(
    release: &str,
    namespace: &str,
    revision: u32,
    prepared: &Revision,
    inputs: RecordInputs<'_>,
) -> ReleaseRecord {
    let meta = |key: &str| {
        inputs
            .chart
            .metadata
            .get(key)
            .and_then(J::as_str)
            .unwrap_or("")
            .to_string()
    };
    let description = match (inputs.description.is_empty(), inputs.is_upgrade) {
        (false, _) => inputs.description.to_string(),
        (true, true) => "Upgrade".into(),
        (true, false) => "Install".into(),
    };
    let mut events = inputs.events;
    events.push(event(
        "Deploy",
        format!(
            "revision {revision}: applying {} objects",
            prepared.objects.len()
        ),
    ));
    ReleaseRecord {
        name: release.to_string(),
        namespace: namespace.to_string(),
        revision,
        status: ReleaseStatus::Deploying,
        chart_version: meta("version"),
        app_version: meta("appVersion"),
        values: redact_values(&prepared.values),
        objects: prepared.objects.iter().map(redact_object).collect(),
        images: inputs.images.clone(),
        created_at: now(),
        updated_at: now(),
        kong_objects: prepared
            .objects
            .iter()
            .filter(|o| is_kong_object(o))
            .map(crate::kube::status::object_ref)
            .collect(),
        api_key_secret: prepared.api_key_secret.clone(),
        warnings: Vec::new(),
        events,
        description,
        namespace_created: inputs.namespace_created && !inputs.is_upgrade,
        gateway_url: inputs.gateway_url,
    }
}

/// A record event now.
pub fn event(stage: &str, message: impl Into<String>) -> RecordEvent {
    RecordEvent {
        time: now(),
        stage: stage.to_string(),
        message: message.into(),
    }
}

/// The workloads to wait for, as `Kind/name`.
pub fn workloads(objects: &[J]) -> Vec<String> {
    objects
        .iter()
        .filter(|o| {
            let k = o.get("kind").and_then(J::as_str).unwrap_or("");
            WORKLOAD_KINDS.contains(&k)
        })
        .map(crate::kube::status::object_ref)
        .collect()
}

/// A recorded Secret with the live data put back (the record holds only fingerprints).
pub fn restore_secret(recorded: &J, live: &J) -> J {
    let mut o = recorded.clone();
    if let Some(map) = o.as_object_mut() {
        map.remove("stringData");
        if let Some(d) = live.get("data") {
            map.insert("data".into(), d.clone());
        }
    }
    o
}

/// Whether the values enable Kong (the chart's default is on).
pub fn kong_enabled(chart: &Chart, values: &Map<String, J>) -> bool {
    values
        .get("kong")
        .and_then(|k| k.get("enabled"))
        .and_then(J::as_bool)
        .or_else(|| chart.values.pointer("/kong/enabled").and_then(J::as_bool))
        .unwrap_or(true)
}

/// Records left in flight by a run that died (Pending, Building, Deploying) marked Failed;
/// returns the ones changed.
pub fn fail_in_flight(records: &mut [ReleaseRecord]) -> Vec<ReleaseRecord> {
    let mut changed = Vec::new();
    for r in records.iter_mut() {
        if matches!(
            r.status,
            ReleaseStatus::Pending | ReleaseStatus::Building | ReleaseStatus::Deploying
        ) {
            r.status = ReleaseStatus::Failed;
            r.description = format!(
                "{} (interrupted: the run that held the lease stopped)",
                r.description
            );
            r.updated_at = now();
            changed.push(r.clone());
        }
    }
    changed
}
