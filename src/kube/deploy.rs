//! An atomic deploy of a release: prerequisites, namespace, lease, render (with a
//! cluster-backed `lookup`), record, server-side apply in install order, watch until ready or
//! failed, then prune and mark the revision DEPLOYED; on failure or interrupt, a first install
//! is removed and an upgrade is returned to the previous revision.
//!
//! Entry point for the `up` pipeline and the commands: [`deploy_release`]. Build a
//! [`DeployRequest`] (release name, namespace, chart, values with the images already in them,
//! the images for the record, timeout, cancellation tokens), call it with a connected client and
//! a progress callback, and read the [`DeployOutcome`] (revision, warnings, API-key Secret) or
//! the [`DeployError`] (the reason, and what the rollback did).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use serde_json::{Map, Value as J};
use tokio_util::sync::CancellationToken;

use super::apply::{
    is_kept, is_kong_object, label_object, Applier, ObjectKey, COMPONENT_LABEL, INSTANCE_LABEL,
};
use super::record::{
    is_redacted, now, redact_object, redact_values, RecordEvent, RecordStore, ReleaseRecord,
    ReleaseStatus, KEEP_SECRET, REDACTED_PREFIX,
};
use super::wait::{wait_ready, WaitFor, WaitOutcome, WaitProgress, WORKLOAD_KINDS};
use super::KubeError;
use crate::chart::load::Chart;
use crate::chart::render::{Capabilities, ReleaseInfo};

/// Default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// What to deploy.
pub struct DeployRequest {
    pub release: String,
    pub namespace: String,
    pub chart: Chart,
    /// The user's values (the app's values under `-f`/`--set`). A secret value equal to a
    /// record's redacted fingerprint means "keep the value the cluster has".
    pub values: Map<String, J>,
    /// Component to image reference, for the record.
    pub images: BTreeMap<String, String>,
    pub timeout: Duration,
    /// Why this revision exists ("Install complete", "Redeploy: env LOG_LEVEL", ...).
    pub description: String,
    /// Events of the run so far (the `up` pipeline's build and push stages).
    pub events: Vec<RecordEvent>,
    /// Cancelled by the first Ctrl-C: stop and roll back.
    pub interrupt: CancellationToken,
    /// Cancelled by the second Ctrl-C: stop at once, even mid-rollback.
    pub abort: CancellationToken,
    /// Lease holder identity (see [`super::lease::holder_identity`]).
    pub holder: String,
    /// Where the gateway serves the app, if the caller knows (recorded for `status`).
    pub gateway_url: Option<String>,
    /// How often the release's lease is renewed while deploying.
    pub lease_renew_every: Duration,
}

impl DeployRequest {
    /// A request with defaults: 5 min timeout, fresh tokens, this process as lease holder.
    pub fn new(release: &str, namespace: &str, chart: Chart, values: Map<String, J>) -> Self {
        DeployRequest {
            release: release.to_string(),
            namespace: namespace.to_string(),
            chart,
            values,
            images: BTreeMap::new(),
            timeout: DEFAULT_TIMEOUT,
            description: String::new(),
            events: Vec::new(),
            interrupt: CancellationToken::new(),
            abort: CancellationToken::new(),
            holder: super::lease::holder_identity(),
            gateway_url: None,
            lease_renew_every: super::lease::RENEW_EVERY,
        }
    }
}

/// Progress of a deploy, for the output layer.
#[derive(Debug, Clone, PartialEq)]
pub enum DeployProgress {
    /// A step ("applying 23 objects", "waiting for 2 workloads").
    Step(String),
    /// A component's ready and desired pods.
    Component {
        name: String,
        ready: i64,
        desired: i64,
    },
    Warning(String),
}

/// A finished deploy.
#[derive(Debug, Clone)]
pub struct DeployOutcome {
    pub revision: u32,
    pub record: ReleaseRecord,
    pub warnings: Vec<String>,
    /// Secret holding the Kong consumer's credential.
    pub api_key_secret: Option<String>,
}

/// What a failed deploy left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    /// A first install was removed (and its namespace, if it created it).
    Removed { namespace_deleted: bool },
    /// The previous revision is back and ready.
    Restored { revision: u32 },
    /// The previous revision was re-applied but did not become ready: why.
    RestoreIncomplete { revision: u32, problem: String },
}

/// Why a deploy failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// Nothing was changed (connection, prerequisites, lease, values, chart).
    #[error("{0}")]
    Refused(String),
    /// The deploy ran and failed; the cluster was cleaned up as `cleanup` says.
    #[error("{message}")]
    Failed {
        revision: u32,
        message: String,
        cleanup: Cleanup,
    },
    /// Aborted by a second interrupt; the lease expires on its own.
    #[error("deploy of {release} aborted; the cluster may hold a partly applied revision {revision}: run `kubectl justpush status` and `kubectl justpush rollback` (or deploy again)")]
    Aborted { release: String, revision: u32 },
    /// The release's lease was taken over mid-deploy (this run could not renew it in time), so
    /// another deploy owns the release: nothing is rolled back, which would undo that one.
    #[error("deploy of {release} (revision {revision}) stopped: its lease was taken over by {holder} (this deploy could not renew it within {} s); nothing was rolled back, because that deploy owns the release now: run `kubectl justpush status` once it is done", super::lease::LEASE_SECONDS)]
    LeaseLost {
        release: String,
        revision: u32,
        holder: String,
    },
}

impl From<KubeError> for DeployError {
    fn from(e: KubeError) -> Self {
        DeployError::Refused(e.to_string())
    }
}

/// Whether the values enable Kong (the chart's default is on).
fn kong_enabled(chart: &Chart, values: &Map<String, J>) -> bool {
    values
        .get("kong")
        .and_then(|k| k.get("enabled"))
        .and_then(J::as_bool)
        .or_else(|| chart.values.pointer("/kong/enabled").and_then(J::as_bool))
        .unwrap_or(true)
}

/// Fails unless the cluster serves Kong's CRDs.
pub async fn check_kong(applier: &mut Applier) -> Result<(), KubeError> {
    if applier
        .resource("configuration.konghq.com/v1", "KongPlugin")
        .await?
        .is_none()
    {
        return Err(KubeError::Other(
            "Kong's CRDs (configuration.konghq.com: KongPlugin, KongConsumer) are not installed in this cluster; run `kubectl justpush up` (it installs Kong), install the Kong Ingress Controller, or deploy without the gateway: --set kong.enabled=false".into(),
        ));
    }
    Ok(())
}

/// The workloads to wait for, as `Kind/name`.
fn workloads(objects: &[J]) -> Vec<String> {
    objects
        .iter()
        .filter(|o| {
            let k = o.get("kind").and_then(J::as_str).unwrap_or("");
            WORKLOAD_KINDS.contains(&k)
        })
        .map(super::status::object_ref)
        .collect()
}

/// The chart's objects as JSON, labelled for the release and revision.
async fn prepare_objects(
    applier: &mut Applier,
    manifests: &[crate::chart::manifest::Manifest],
    release: &str,
    namespace: &str,
    revision: u32,
) -> Result<(Vec<J>, Vec<String>), DeployError> {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for m in manifests {
        if m.hook.is_some() {
            warnings.push(format!(
                "{}/{} is a Helm hook ({}); hooks are not run by justpush and it was skipped",
                m.kind,
                m.name,
                m.hook.as_deref().unwrap_or("")
            ));
            continue;
        }
        let obj: J = serde_yaml::from_str(&m.text).map_err(|e| {
            DeployError::Refused(format!(
                "{}: rendered object is not valid YAML: {e}",
                m.source
            ))
        })?;
        if !obj.is_object() {
            continue;
        }
        let mut obj = obj;
        let api_version = obj
            .get("apiVersion")
            .and_then(J::as_str)
            .unwrap_or("")
            .to_string();
        let namespaced = applier.is_namespaced(&api_version, &m.kind).await?;
        label_object(&mut obj, release, revision, namespaced.then_some(namespace));
        out.push(obj);
    }
    Ok((out, warnings))
}

/// Replaces redacted secret values (from a record) with the cluster's current ones.
async fn resolve_redacted(
    values: &mut Map<String, J>,
    previous: Option<&ReleaseRecord>,
    applier: &mut Applier,
) -> Result<Vec<String>, DeployError> {
    let mut warnings = Vec::new();
    // Generated credentials are reused by the chart's lookup when left empty.
    for ptr in [
        "/database/auth/password",
        "/kong/consumer/apiKey",
        "/kong/consumer/jwt/secret",
    ] {
        let mut v = J::Object(std::mem::take(values));
        if let Some(x) = v.pointer_mut(ptr) {
            if x.as_str().is_some_and(|s| s.starts_with(REDACTED_PREFIX)) {
                *x = J::String(String::new());
            }
        }
        *values = match v {
            J::Object(m) => m,
            _ => unreachable!(),
        };
    }
    let Some(J::Object(components)) = values.get_mut("components") else {
        return Ok(warnings);
    };
    for (cname, comp) in components.iter_mut() {
        let Some(J::Object(env)) = comp.get_mut("secretEnv") else {
            continue;
        };
        let mut drop = Vec::new();
        for (var, val) in env.iter_mut() {
            let Some(fp) = val
                .as_str()
                .filter(|s| s.starts_with(REDACTED_PREFIX))
                .map(str::to_string)
            else {
                continue;
            };
            let live = match previous {
                Some(prev) => live_secret_value(applier, prev, cname, var).await?,
                None => None,
            };
            match live {
                // If the cluster's value changed since the record, the cluster wins.
                Some(text) => {
                    *val = J::String(text);
                }
                None if fp == KEEP_SECRET => {
                    warnings.push(format!(
                        "secret variable {var} of component {cname} has no value: set it in this command's environment ({var}=... kubectl justpush deploy) or run `kubectl justpush redeploy --secret {var}`"
                    ));
                    drop.push(var.clone());
                }
                None => {
                    return Err(DeployError::Refused(format!(
                        "secret variable {var} of component {cname} has no value in the cluster to keep; supply it: `kubectl justpush redeploy --secret {var}` (reads the value from stdin)"
                    )))
                }
            }
        }
        for var in drop {
            env.remove(&var);
        }
    }
    Ok(warnings)
}

/// The current value of a component's secret variable, from the Secret the previous revision
/// rendered for that component.
async fn live_secret_value(
    applier: &mut Applier,
    previous: &ReleaseRecord,
    component: &str,
    var: &str,
) -> Result<Option<String>, DeployError> {
    let label = COMPONENT_LABEL.replace('/', "~1");
    for o in &previous.objects {
        if o.get("kind").and_then(J::as_str) != Some("Secret")
            || o.pointer(&format!("/metadata/labels/{label}"))
                .and_then(J::as_str)
                != Some(component)
            || o.pointer(&format!("/data/{var}")).is_none()
                && o.pointer(&format!("/stringData/{var}")).is_none()
        {
            continue;
        }
        let Some(live) = applier.get(&ObjectKey::of(o)).await? else {
            continue;
        };
        if let Some(b64) = live.pointer(&format!("/data/{var}")).and_then(J::as_str) {
            use base64::Engine;
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) {
                return Ok(Some(String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    Ok(None)
}

/// Secrets of the release as the cluster has them, for the chart's `lookup`.
async fn lookup_table(
    client: &kube::Client,
    namespace: &str,
    release: &str,
) -> Result<BTreeMap<String, J>, KubeError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default().labels(&format!("{INSTANCE_LABEL}={release}"));
    let list = super::apply::retry(|| api.list(&lp))
        .await
        .map_err(|e| KubeError::api(format!("reading the Secrets of {release}"), e))?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|s| {
            let name = s.metadata.name.clone()?;
            let mut j = serde_json::to_value(&s).ok()?;
            j["apiVersion"] = "v1".into();
            j["kind"] = "Secret".into();
            Some((name, j))
        })
        .collect())
}

fn render(
    req: &DeployRequest,
    values: &Map<String, J>,
    revision: u32,
    is_upgrade: bool,
    secrets: BTreeMap<String, J>,
) -> Result<crate::chart::RenderedRelease, DeployError> {
    let ns = req.namespace.clone();
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
        &req.chart,
        values,
        &ReleaseInfo {
            name: req.release.clone(),
            namespace: req.namespace.clone(),
            revision: revision as i64,
            is_upgrade,
        },
        &Capabilities::default(),
        ctx,
    )
    .map_err(|e| DeployError::Refused(format!("rendering the chart for {}: {e}", req.release)))
}

fn event(stage: &str, message: impl Into<String>) -> RecordEvent {
    RecordEvent {
        time: now(),
        stage: stage.to_string(),
        message: message.into(),
    }
}

/// Why the forward path stopped.
enum Stop {
    Failed(String),
    Interrupted,
}

/// Deploys a release atomically (see the module docs).
pub async fn deploy_release(
    client: &kube::Client,
    req: DeployRequest,
    progress: &mut (dyn FnMut(DeployProgress) + Send),
) -> Result<DeployOutcome, DeployError> {
    // Before the namespace or the lease: nothing is created for a name that cannot be deployed.
    crate::chart::names::validate_release_name(&req.release)
        .map_err(|e| DeployError::Refused(e.to_string()))?;
    let mut applier = Applier::new(client.clone());
    let ns = req.namespace.clone();
    let release = req.release.clone();
    if kong_enabled(&req.chart, &req.values) {
        check_kong(&mut applier).await?;
    }

    // Namespace.
    let ns_api: Api<Namespace> = Api::all(client.clone());
    let ns_exists = super::apply::retry(|| ns_api.get_opt(&ns))
        .await
        .map_err(|e| KubeError::api(format!("reading namespace {ns}"), e))?
        .is_some();
    let mut namespace_created = false;
    if !ns_exists {
        progress(DeployProgress::Step(format!("creating namespace {ns}")));
        let n = Namespace {
            metadata: ObjectMeta {
                name: Some(ns.clone()),
                labels: Some(
                    [(
                        "app.kubernetes.io/managed-by".to_string(),
                        "kubectl-justpush".to_string(),
                    )]
                    .into(),
                ),
                ..Default::default()
            },
            ..Default::default()
        };
        match ns_api.create(&PostParams::default(), &n).await {
            Ok(_) => namespace_created = true,
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(KubeError::api(format!("creating namespace {ns}"), e).into()),
        }
    }
    let delete_ns = |created: bool| {
        let ns_api = ns_api.clone();
        let ns = ns.clone();
        async move {
            if created {
                let _ = ns_api.delete(&ns, &Default::default()).await;
            }
        }
    };

    let lease = match super::lease::acquire_with(
        client.clone(),
        &ns,
        &release,
        &req.holder,
        req.lease_renew_every,
    )
    .await
    {
        Ok(l) => l,
        Err(e) => {
            delete_ns(namespace_created).await;
            return Err(e.into());
        }
    };
    let result = deploy_locked(
        client,
        &mut applier,
        &req,
        namespace_created,
        &lease,
        progress,
    )
    .await;
    match &result {
        Err(DeployError::Aborted { .. }) => {}
        _ => lease.release().await,
    }
    if let Err(DeployError::Failed {
        cleanup: Cleanup::Removed {
            namespace_deleted: true,
        },
        ..
    }) = &result
    {
        delete_ns(true).await;
    }
    if let Err(DeployError::Refused(_)) = &result {
        // Refused before anything was recorded: the namespace we created is empty. (A refusal
        // later, e.g. a record that could not be saved, must not take a deployed app with it.)
        let recorded = RecordStore::new(client.clone(), &ns, &release)
            .list()
            .await
            .map(|r| !r.is_empty())
            .unwrap_or(true);
        if !recorded {
            delete_ns(namespace_created).await;
        }
    }
    result
}

async fn deploy_locked(
    client: &kube::Client,
    applier: &mut Applier,
    req: &DeployRequest,
    namespace_created: bool,
    lease: &super::lease::HeldLease,
    progress: &mut (dyn FnMut(DeployProgress) + Send),
) -> Result<DeployOutcome, DeployError> {
    let lost = lease.lost();
    let ns = req.namespace.as_str();
    let release = req.release.as_str();
    let store = RecordStore::new(client.clone(), ns, release);
    let mut records = store.list().await?;
    // A run that died mid-deploy left its record in flight: it failed.
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
            store.save(r).await?;
        }
    }
    let revision = records.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
    let previous = records
        .iter()
        .filter(|r| r.status == ReleaseStatus::Deployed)
        .max_by_key(|r| r.revision)
        .cloned();
    let namespace_created = namespace_created
        || (previous.is_none()
            && records.iter().any(|r| r.namespace_created)
            && records.iter().all(|r| r.status == ReleaseStatus::Failed));

    let mut values = req.values.clone();
    let secret_warnings = resolve_redacted(&mut values, previous.as_ref(), applier).await?;
    let secrets = lookup_table(client, ns, release).await?;
    let rendered = render(req, &values, revision, previous.is_some(), secrets)?;
    let (objects, mut warnings) =
        prepare_objects(applier, &rendered.manifests, release, ns, revision).await?;
    warnings.extend(secret_warnings);
    for w in &warnings {
        progress(DeployProgress::Warning(w.clone()));
    }

    let kong_objects: Vec<String> = objects
        .iter()
        .filter(|o| is_kong_object(o))
        .map(super::status::object_ref)
        .collect();
    let api_key_secret = objects
        .iter()
        .find(|o| {
            o.pointer("/metadata/labels/konghq.com~1credential")
                .is_some()
        })
        .and_then(|o| {
            o.pointer("/metadata/name")
                .and_then(J::as_str)
                .map(str::to_string)
        });
    let mut events = req.events.clone();
    events.push(event(
        "Deploy",
        format!("revision {revision}: applying {} objects", objects.len()),
    ));
    let mut record = ReleaseRecord {
        name: release.to_string(),
        namespace: ns.to_string(),
        revision,
        status: ReleaseStatus::Deploying,
        chart_version: req
            .chart
            .metadata
            .get("version")
            .and_then(J::as_str)
            .unwrap_or("")
            .to_string(),
        app_version: req
            .chart
            .metadata
            .get("appVersion")
            .and_then(J::as_str)
            .unwrap_or("")
            .to_string(),
        values: redact_values(&rendered.values),
        objects: objects.iter().map(redact_object).collect(),
        images: req.images.clone(),
        created_at: now(),
        updated_at: now(),
        kong_objects,
        api_key_secret: api_key_secret.clone(),
        warnings: Vec::new(),
        events,
        description: if req.description.is_empty() {
            if previous.is_some() {
                "Upgrade".into()
            } else {
                "Install".into()
            }
        } else {
            req.description.clone()
        },
        namespace_created: namespace_created && previous.is_none(),
        gateway_url: req.gateway_url.clone(),
    };
    store.save(&record).await?;

    // What restoring the previous revision needs that its record does not hold: Secret values.
    let mut live_secrets: BTreeMap<ObjectKey, J> = BTreeMap::new();
    if let Some(prev) = &previous {
        for o in prev.objects.iter().filter(|o| is_redacted(o)) {
            let key = ObjectKey::of(o);
            if let Some(live) = applier.get(&key).await? {
                live_secrets.insert(key, live);
            }
        }
    }

    let since = Timestamp::now();
    let mut created: Vec<ObjectKey> = Vec::new();
    let mut stop: Option<Stop> = None;
    progress(DeployProgress::Step(format!(
        "applying {} objects (revision {revision})",
        objects.len()
    )));
    for obj in &objects {
        if lost.is_cancelled() {
            // Handled below, before success or rollback.
            break;
        }
        if req.interrupt.is_cancelled() {
            stop = Some(Stop::Interrupted);
            break;
        }
        let key = ObjectKey::of(obj);
        let existed = applier.get(&key).await.map(|o| o.is_some());
        match existed {
            Ok(false) => created.push(key.clone()),
            Ok(true) => {}
            Err(e) => {
                stop = Some(Stop::Failed(e.to_string()));
                break;
            }
        }
        if let Err(e) = applier.apply(obj).await {
            let rejected = matches!(e.code(), Some(c) if (400..500).contains(&c));
            if is_kong_object(obj) && rejected {
                let w = format!(
                    "gateway object {key} was rejected by the cluster, so the app runs but this part of the gateway is not configured: {e}"
                );
                progress(DeployProgress::Warning(w.clone()));
                warnings.push(w);
                created.retain(|k| k != &key);
                continue;
            }
            stop = Some(Stop::Failed(e.to_string()));
            break;
        }
    }

    if stop.is_none() && !lost.is_cancelled() {
        let wl = workloads(&objects);
        progress(DeployProgress::Step(format!(
            "waiting for {} workloads (timeout {} s)",
            wl.len(),
            req.timeout.as_secs()
        )));
        let spec = WaitFor {
            namespace: ns.to_string(),
            release: release.to_string(),
            workloads: wl,
            since,
            timeout: req.timeout,
            quota_fails: true,
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut forward = move |p: WaitProgress| {
            let _ = tx.send(p);
        };
        let wait = wait_ready(client, &spec, &req.interrupt, &mut forward);
        tokio::pin!(wait);
        let outcome = loop {
            tokio::select! {
                o = &mut wait => break o,
                Some(p) = rx.recv() => report_wait(p, progress),
                // Checked below: whatever the wait says no longer matters.
                _ = lost.cancelled() => break Ok(WaitOutcome::Interrupted),
            }
        };
        while let Ok(p) = rx.try_recv() {
            report_wait(p, progress);
        }
        if !lost.is_cancelled() {
            match outcome {
                Ok(WaitOutcome::Ready) => {}
                Ok(WaitOutcome::Failed { failure, logs }) => {
                    let mut msg = failure.to_string();
                    if let Some(l) = logs {
                        let lines: Vec<String> = l.lines().map(|x| format!("  | {x}")).collect();
                        msg.push_str(&format!(
                            "\nlast log lines of {}:\n{}",
                            failure.object,
                            lines.join("\n")
                        ));
                    }
                    stop = Some(Stop::Failed(msg));
                }
                Ok(WaitOutcome::TimedOut(pending)) => {
                    let what: Vec<String> = pending
                        .iter()
                        .map(|(k, why)| format!("{k}: {why}"))
                        .collect();
                    stop = Some(Stop::Failed(format!(
                        "not ready after {} s (--timeout): {}",
                        req.timeout.as_secs(),
                        what.join("; ")
                    )));
                }
                Ok(WaitOutcome::Interrupted) => stop = Some(Stop::Interrupted),
                Err(e) => stop = Some(Stop::Failed(e.to_string())),
            }
        }
    }

    // The lease is someone else's now: neither success nor a rollback is this run's to do.
    if lost.is_cancelled() {
        let holder = lease
            .taken_by()
            .unwrap_or_else(|| "another deploy".to_string());
        record.status = ReleaseStatus::Failed;
        record.updated_at = now();
        record.description = format!(
            "{}: stopped, lease taken over by {holder}",
            record.description
        );
        record.warnings = warnings;
        record.events.push(event(
            "Deploy",
            format!("stopped: the lease was taken over by {holder}; not rolled back"),
        ));
        // Best effort: the other deploy may be pruning old records.
        let _ = store.save(&record).await;
        return Err(DeployError::LeaseLost {
            release: release.to_string(),
            revision,
            holder,
        });
    }
    let Some(stop) = stop else {
        // Success: prune what left the chart, then mark the revision.
        if let Some(prev) = &previous {
            let keep: BTreeSet<_> = objects
                .iter()
                .map(|o| ObjectKey::of(o).identity())
                .collect();
            for o in &prev.objects {
                let key = ObjectKey::of(o);
                if keep.contains(&key.identity()) || is_kept(o) {
                    continue;
                }
                progress(DeployProgress::Step(format!(
                    "pruning {key} (no longer in the chart)"
                )));
                if let Err(e) = applier.delete(&key).await {
                    let w = format!("could not prune {key}: {e}");
                    progress(DeployProgress::Warning(w.clone()));
                    warnings.push(w);
                }
            }
            let mut p = prev.clone();
            p.status = ReleaseStatus::Superseded;
            p.updated_at = now();
            store.save(&p).await?;
        }
        record.status = ReleaseStatus::Deployed;
        record.updated_at = now();
        record.warnings = warnings.clone();
        record.events.push(event(
            "Deploy",
            if warnings.is_empty() {
                "deployed".to_string()
            } else {
                format!("deployed with {} warnings", warnings.len())
            },
        ));
        store.save(&record).await?;
        let mut all = store.list().await?;
        all.retain(|r| r.revision != revision);
        all.push(record.clone());
        store.prune(&all).await?;
        return Ok(DeployOutcome {
            revision,
            record,
            warnings,
            api_key_secret,
        });
    };

    let reason = match &stop {
        Stop::Failed(m) => m.clone(),
        Stop::Interrupted => "interrupted (Ctrl-C)".to_string(),
    };
    progress(DeployProgress::Step(format!(
        "revision {revision} failed: rolling back"
    )));
    let abort = || DeployError::Aborted {
        release: release.to_string(),
        revision,
    };
    let cleanup = match &previous {
        None => {
            for key in created.iter().rev() {
                if req.abort.is_cancelled() {
                    return Err(abort());
                }
                if let Err(e) = applier.delete(key).await {
                    progress(DeployProgress::Warning(format!(
                        "could not delete {key}: {e}"
                    )));
                }
            }
            store.delete(revision).await?;
            Cleanup::Removed {
                namespace_deleted: record.namespace_created,
            }
        }
        Some(prev) => {
            let prev_ids: BTreeSet<_> = prev
                .objects
                .iter()
                .map(|o| ObjectKey::of(o).identity())
                .collect();
            for key in created.iter().rev() {
                if !prev_ids.contains(&key.identity()) {
                    if req.abort.is_cancelled() {
                        return Err(abort());
                    }
                    let _ = applier.delete(key).await;
                }
            }
            let mut restore_problem = None;
            let restore_since = Timestamp::now();
            for o in &prev.objects {
                if req.abort.is_cancelled() {
                    return Err(abort());
                }
                let key = ObjectKey::of(o);
                let obj = if is_redacted(o) {
                    match live_secrets.get(&key) {
                        Some(live) => restore_secret(o, live),
                        None => continue,
                    }
                } else {
                    o.clone()
                };
                if let Err(e) = applier.apply(&obj).await {
                    if is_kong_object(o) {
                        continue;
                    }
                    restore_problem = Some(format!("re-applying {key}: {e}"));
                    break;
                }
            }
            if restore_problem.is_none() {
                let spec = WaitFor {
                    namespace: ns.to_string(),
                    release: release.to_string(),
                    workloads: workloads(&prev.objects),
                    since: restore_since,
                    timeout: req.timeout,
                    quota_fails: false,
                };
                let mut ignore = |_p: WaitProgress| {};
                let never = CancellationToken::new();
                let outcome = tokio::select! {
                    _ = req.abort.cancelled() => return Err(abort()),
                    o = wait_ready(client, &spec, &never, &mut ignore) => o,
                };
                match outcome {
                    Ok(WaitOutcome::Ready) => {}
                    Ok(WaitOutcome::Failed { failure, .. }) => {
                        restore_problem = Some(failure.to_string())
                    }
                    Ok(WaitOutcome::TimedOut(p)) => {
                        restore_problem = Some(format!(
                            "not ready: {}",
                            p.iter()
                                .map(|(k, w)| format!("{k}: {w}"))
                                .collect::<Vec<_>>()
                                .join("; ")
                        ))
                    }
                    Ok(WaitOutcome::Interrupted) => {}
                    Err(e) => restore_problem = Some(e.to_string()),
                }
            }
            match restore_problem {
                None => Cleanup::Restored {
                    revision: prev.revision,
                },
                Some(problem) => Cleanup::RestoreIncomplete {
                    revision: prev.revision,
                    problem,
                },
            }
        }
    };
    if previous.is_some() {
        record.status = ReleaseStatus::Failed;
        record.updated_at = now();
        record.description = format!("{}: failed: {reason}", record.description);
        record.warnings = warnings;
        record
            .events
            .push(event("Deploy", format!("failed: {reason}")));
        record
            .events
            .push(event("Rollback", describe_cleanup(&cleanup, ns)));
        store.save(&record).await?;
    }
    let what = match stop {
        Stop::Failed(_) => format!("deploy of {release} (revision {revision}) failed: {reason}"),
        Stop::Interrupted => format!("deploy of {release} (revision {revision}) was interrupted"),
    };
    Err(DeployError::Failed {
        revision,
        message: format!("{what}\n{}", describe_cleanup(&cleanup, ns)),
        cleanup,
    })
}

fn report_wait(p: WaitProgress, progress: &mut (dyn FnMut(DeployProgress) + Send)) {
    match p {
        WaitProgress::Component {
            name,
            ready,
            desired,
        } => progress(DeployProgress::Component {
            name,
            ready,
            desired,
        }),
        WaitProgress::WatchRetry(e) => {
            progress(DeployProgress::Step(format!("{e}; watching again")))
        }
    }
}

/// A recorded Secret with the live data put back (the record holds only fingerprints).
fn restore_secret(recorded: &J, live: &J) -> J {
    let mut o = recorded.clone();
    if let Some(map) = o.as_object_mut() {
        map.remove("stringData");
        if let Some(d) = live.get("data") {
            map.insert("data".into(), d.clone());
        }
    }
    o
}

/// One line on what a failed deploy left behind.
pub fn describe_cleanup(c: &Cleanup, namespace: &str) -> String {
    match c {
        Cleanup::Removed { namespace_deleted: true } => format!(
            "rolled back: the first install was removed, including namespace {namespace} it had created"
        ),
        Cleanup::Removed { .. } => format!(
            "rolled back: the first install was removed; nothing of it is left in namespace {namespace}"
        ),
        Cleanup::Restored { revision } => format!("rolled back: revision {revision} is restored and ready"),
        Cleanup::RestoreIncomplete { revision, problem } => format!(
            "rolling back to revision {revision} did not finish: {problem}; run `kubectl justpush status` and `kubectl justpush doctor`"
        ),
    }
}
