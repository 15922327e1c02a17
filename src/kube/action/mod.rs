//! The deploy action: one release revision from chart and values to ready, or rolled back.
//! `up`, `deploy`, `redeploy`, `rollback` and `scale` (and the dashboard and MCP after them)
//! all deploy through [`deploy`], in phases as Helm's `pkg/action` upgrade runs them:
//!
//! 1. **refuse early**: release name, Kong's CRDs when the values use the gateway;
//! 2. **begin**: namespace (created if missing, and then removed again on a failed first
//!    install), the release's lease;
//! 3. **prepare**: records left in flight by a dead run are marked failed, redacted secret
//!    values are resolved from the cluster, the chart is rendered ([`revision`], pure) and the
//!    revision is recorded as DEPLOYING;
//! 4. **apply** the objects in install order (server-side apply), noting what did not exist;
//! 5. **await** the workloads (kstatus rules, fail fast on crash loops, quota, image pulls);
//! 6. **commit**: prune what left the chart, supersede the previous revision, mark DEPLOYED;
//! 7. or **roll back**: a first install is removed (its namespace too, if it made it), an
//!    upgrade gets the previous revision's objects and Secret values back and is awaited.
//!
//! The phases run over two interfaces ([`ports`]): [`ClusterOps`] for the app's objects and
//! [`ReleaseStore`] for records and the lease. [`deploy_release`] runs them over kube-rs
//! ([`kube_ops`]); the phase tests run them over in-memory fakes.

pub mod kube_ops;
pub mod ports;
pub mod revision;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value as J};
use tokio_util::sync::CancellationToken;

use self::kube_ops::{KubeCluster, KubeReleases};
pub use self::ports::{ClusterOps, HeldRelease, ReleaseStore};
use self::revision::{
    event, fail_in_flight, kong_enabled, parse_objects, prepare_revision, render_revision,
    restore_secret, revision_record, workloads, RecordInputs, Revision, RevisionInputs,
};
use super::apply::{is_kept, is_kong_object, ObjectKey, COMPONENT_LABEL};
use super::record::{
    is_redacted, now, record_name, RecordEvent, ReleaseRecord, ReleaseStatus, KEEP_SECRET,
    REDACTED_PREFIX,
};
use super::wait::{WaitFor, WaitOutcome, WaitProgress};
use super::KubeError;
use crate::chart::load::Chart;

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
    /// Removing a first install failed part-way: what is left in the cluster, and why.
    RemovalIncomplete { left: Vec<String> },
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

/// Why Kong is needed and how to get it.
const KONG_MISSING: &str = "Kong's CRDs (configuration.konghq.com: KongPlugin, KongConsumer) are not installed in this cluster; run `kubectl justpush up` (it installs Kong), install the Kong Ingress Controller, or deploy without the gateway: --set kong.enabled=false";

/// Deploys a release atomically over kube-rs (see the module docs).
pub async fn deploy_release(
    client: &kube::Client,
    req: DeployRequest,
    progress: &mut (dyn FnMut(DeployProgress) + Send),
) -> Result<DeployOutcome, DeployError> {
    let mut cluster = KubeCluster::new(client);
    let store = KubeReleases::new(client, &req.namespace, &req.release);
    deploy(&mut cluster, &store, req, progress).await
}

/// Deploys a release atomically over any [`ClusterOps`] and [`ReleaseStore`].
pub async fn deploy(
    cluster: &mut (dyn ClusterOps + '_),
    store: &(dyn ReleaseStore + '_),
    req: DeployRequest,
    progress: &mut (dyn FnMut(DeployProgress) + Send),
) -> Result<DeployOutcome, DeployError> {
    // Before the namespace or the lease: nothing is created for a name that cannot be deployed.
    crate::chart::names::validate_release_name(&req.release)
        .map_err(|e| DeployError::Refused(e.to_string()))?;
    if kong_enabled(&req.chart, &req.values) && !cluster.serves_kong().await? {
        return Err(DeployError::Refused(KONG_MISSING.into()));
    }
    let namespace_created = cluster.ensure_namespace(&req.namespace).await?;
    if namespace_created {
        progress(DeployProgress::Step(format!(
            "created namespace {}",
            req.namespace
        )));
    }
    let lease = match store
        .acquire_lease(&req.holder, req.lease_renew_every)
        .await
    {
        Ok(l) => l,
        Err(e) => {
            if namespace_created {
                let _ = cluster.delete_namespace(&req.namespace).await;
            }
            return Err(e.into());
        }
    };
    let run = Run {
        req: &req,
        lease: lease.as_ref(),
        lost: lease.lost(),
    };
    let result = run
        .locked(cluster, store, namespace_created, progress)
        .await;
    match &result {
        // Aborted: the lease expires on its own, the user wanted out at once.
        Err(DeployError::Aborted { .. }) => {}
        _ => lease.release().await,
    }
    if let Err(DeployError::Refused(_)) = &result {
        // Refused before anything was recorded: the namespace we created is empty. (A refusal
        // later, e.g. a record that could not be saved, must not take a deployed app with it.)
        let recorded = store.list().await.map(|r| !r.is_empty()).unwrap_or(true);
        if namespace_created && !recorded {
            let _ = cluster.delete_namespace(&req.namespace).await;
        }
    }
    result
}

/// Why the forward path stopped.
enum Stop {
    Failed(String),
    Interrupted,
}

/// What the records say before this revision.
struct History {
    revision: u32,
    previous: Option<ReleaseRecord>,
    /// Whether an earlier failed first install created the namespace (so removing this one
    /// removes the namespace too).
    namespace_created_before: bool,
}

/// One deploy's request and its lease, for the phases.
struct Run<'a> {
    req: &'a DeployRequest,
    lease: &'a dyn HeldRelease,
    /// Cancelled once the lease is someone else's.
    lost: CancellationToken,
}

impl Run<'_> {
    fn release(&self) -> &str {
        &self.req.release
    }

    fn ns(&self) -> &str {
        &self.req.namespace
    }

    async fn locked(
        &self,
        cluster: &mut (dyn ClusterOps + '_),
        store: &(dyn ReleaseStore + '_),
        namespace_created: bool,
        progress: &mut (dyn FnMut(DeployProgress) + Send),
    ) -> Result<DeployOutcome, DeployError> {
        let history = self.history(store).await?;
        let (prepared, mut warnings) = self.prepare(cluster, &history).await?;
        for w in &warnings {
            progress(DeployProgress::Warning(w.clone()));
        }
        let mut record = revision_record(
            self.release(),
            self.ns(),
            history.revision,
            &prepared,
            RecordInputs {
                chart: &self.req.chart,
                images: &self.req.images,
                description: &self.req.description,
                events: self.req.events.clone(),
                is_upgrade: history.previous.is_some(),
                namespace_created: namespace_created || history.namespace_created_before,
                gateway_url: self.req.gateway_url.clone(),
            },
        );
        store.save(&record).await?;
        // What restoring the previous revision needs that its record does not hold.
        let live_secrets = match &history.previous {
            Some(prev) => live_secrets(cluster, prev).await?,
            None => BTreeMap::new(),
        };

        let since = Timestamp::now();
        let (created, mut stop) = self
            .apply(
                cluster,
                &prepared.objects,
                history.revision,
                &mut warnings,
                progress,
            )
            .await;
        if stop.is_none() && !self.lost.is_cancelled() {
            stop = self
                .await_ready(cluster, &prepared.objects, since, progress)
                .await;
        }
        record.warnings = warnings;
        if self.lost.is_cancelled() {
            return Err(self.lease_lost(store, record).await);
        }
        match stop {
            None => {
                self.commit(cluster, store, &history, &prepared, record, progress)
                    .await
            }
            Some(stop) => {
                let cleanup = self
                    .roll_back(
                        cluster,
                        store,
                        &history,
                        &record,
                        &created,
                        &live_secrets,
                        progress,
                    )
                    .await?;
                Err(self.failed(store, &history, record, stop, cleanup).await?)
            }
        }
    }

    /// Reads the records: marks those a dead run left in flight as failed, numbers the new
    /// revision and finds the one to return to.
    async fn history(&self, store: &(dyn ReleaseStore + '_)) -> Result<History, DeployError> {
        let mut records = store.list().await?;
        for r in fail_in_flight(&mut records) {
            store.save(&r).await?;
        }
        let previous = records
            .iter()
            .filter(|r| r.status == ReleaseStatus::Deployed)
            .max_by_key(|r| r.revision)
            .cloned();
        Ok(History {
            revision: records.iter().map(|r| r.revision).max().unwrap_or(0) + 1,
            namespace_created_before: previous.is_none()
                && records.iter().any(|r| r.namespace_created)
                && records.iter().all(|r| r.status == ReleaseStatus::Failed),
            previous,
        })
    }

    /// Resolves redacted values, renders and labels the revision.
    async fn prepare(
        &self,
        cluster: &mut (dyn ClusterOps + '_),
        history: &History,
    ) -> Result<(Revision, Vec<String>), DeployError> {
        let mut values = self.req.values.clone();
        let secret_warnings =
            resolve_redacted(&mut values, history.previous.as_ref(), cluster).await?;
        let secrets = cluster.release_secrets(self.ns(), self.release()).await?;
        let rendered = render_revision(RevisionInputs {
            release: self.release(),
            namespace: self.ns(),
            chart: &self.req.chart,
            values: &values,
            revision: history.revision,
            is_upgrade: history.previous.is_some(),
            secrets,
        })?;
        let parsed = parse_objects(&rendered)?;
        let mut cluster_scoped = BTreeSet::new();
        for (api_version, kind) in parsed.kinds() {
            if !cluster.is_namespaced(&api_version, &kind).await? {
                cluster_scoped.insert((api_version, kind));
            }
        }
        let prepared = prepare_revision(
            parsed,
            rendered.values,
            self.release(),
            self.ns(),
            history.revision,
            &cluster_scoped,
        );
        let mut warnings = prepared.warnings.clone();
        warnings.extend(secret_warnings);
        Ok((prepared, warnings))
    }

    /// Applies the objects in order; returns the ones that did not exist before and why it
    /// stopped, if it did. A gateway object the cluster rejects (4xx) is a warning: the app
    /// runs without that part of the gateway.
    async fn apply(
        &self,
        cluster: &mut (dyn ClusterOps + '_),
        objects: &[J],
        revision: u32,
        warnings: &mut Vec<String>,
        progress: &mut (dyn FnMut(DeployProgress) + Send),
    ) -> (Vec<ObjectKey>, Option<Stop>) {
        let mut created = Vec::new();
        progress(DeployProgress::Step(format!(
            "applying {} objects (revision {revision})",
            objects.len()
        )));
        for obj in objects {
            if self.lost.is_cancelled() {
                // Handled by the caller, before success or rollback.
                break;
            }
            if self.req.interrupt.is_cancelled() {
                return (created, Some(Stop::Interrupted));
            }
            let key = ObjectKey::of(obj);
            match cluster.get(&key).await {
                Ok(None) => created.push(key.clone()),
                Ok(Some(_)) => {}
                Err(e) => return (created, Some(Stop::Failed(e.to_string()))),
            }
            if let Err(e) = cluster.apply(obj).await {
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
                return (created, Some(Stop::Failed(e.to_string())));
            }
        }
        (created, None)
    }

    /// Waits for the workloads; None when they are ready (or the lease was lost, which the
    /// caller handles).
    async fn await_ready(
        &self,
        cluster: &mut (dyn ClusterOps + '_),
        objects: &[J],
        since: Timestamp,
        progress: &mut (dyn FnMut(DeployProgress) + Send),
    ) -> Option<Stop> {
        let spec = WaitFor {
            namespace: self.ns().to_string(),
            release: self.release().to_string(),
            workloads: workloads(objects),
            since,
            timeout: self.req.timeout,
            quota_fails: true,
        };
        progress(DeployProgress::Step(format!(
            "waiting for {} workloads (timeout {} s)",
            spec.workloads.len(),
            self.req.timeout.as_secs()
        )));
        let mut forward = |p: WaitProgress| report_wait(p, progress);
        let outcome = tokio::select! {
            o = cluster.wait_ready(&spec, &self.req.interrupt, &mut forward) => o,
            // Whatever the wait says no longer matters.
            _ = self.lost.cancelled() => return None,
        };
        match outcome {
            Ok(WaitOutcome::Ready) => None,
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
                Some(Stop::Failed(msg))
            }
            Ok(WaitOutcome::TimedOut(pending)) => Some(Stop::Failed(format!(
                "not ready after {} s (--timeout): {}",
                self.req.timeout.as_secs(),
                describe_pending(&pending)
            ))),
            Ok(WaitOutcome::Interrupted) => Some(Stop::Interrupted),
            Err(e) => Some(Stop::Failed(e.to_string())),
        }
    }

    /// The lease is someone else's now: neither success nor a rollback is this run's to do.
    async fn lease_lost(
        &self,
        store: &(dyn ReleaseStore + '_),
        mut record: ReleaseRecord,
    ) -> DeployError {
        let holder = self
            .lease
            .taken_by()
            .unwrap_or_else(|| "another deploy".to_string());
        record.status = ReleaseStatus::Failed;
        record.updated_at = now();
        record.description = format!(
            "{}: stopped, lease taken over by {holder}",
            record.description
        );
        record.events.push(event(
            "Deploy",
            format!("stopped: the lease was taken over by {holder}; not rolled back"),
        ));
        // Best effort: the other deploy may be pruning old records.
        let _ = store.save(&record).await;
        DeployError::LeaseLost {
            release: self.release().to_string(),
            revision: record.revision,
            holder,
        }
    }

    /// Success: prunes what left the chart, supersedes the previous revision, marks this one
    /// DEPLOYED and drops records beyond the kept history.
    async fn commit(
        &self,
        cluster: &mut (dyn ClusterOps + '_),
        store: &(dyn ReleaseStore + '_),
        history: &History,
        prepared: &Revision,
        mut record: ReleaseRecord,
        progress: &mut (dyn FnMut(DeployProgress) + Send),
    ) -> Result<DeployOutcome, DeployError> {
        if let Some(prev) = &history.previous {
            let keep: BTreeSet<_> = prepared
                .objects
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
                if let Err(e) = cluster.delete(&key).await {
                    let w = format!("could not prune {key}: {e}");
                    progress(DeployProgress::Warning(w.clone()));
                    record.warnings.push(w);
                }
            }
            let mut p = prev.clone();
            p.status = ReleaseStatus::Superseded;
            p.updated_at = now();
            store.save(&p).await?;
        }
        record.status = ReleaseStatus::Deployed;
        record.updated_at = now();
        record.events.push(event(
            "Deploy",
            match record.warnings.len() {
                0 => "deployed".to_string(),
                n => format!("deployed with {n} warnings"),
            },
        ));
        store.save(&record).await?;
        let mut all = store.list().await?;
        all.retain(|r| r.revision != record.revision);
        all.push(record.clone());
        store.prune(&all).await?;
        Ok(DeployOutcome {
            revision: record.revision,
            warnings: record.warnings.clone(),
            api_key_secret: prepared.api_key_secret.clone(),
            record,
        })
    }

    fn aborted(&self, revision: u32) -> DeployError {
        DeployError::Aborted {
            release: self.release().to_string(),
            revision,
        }
    }

    /// Undoes a failed revision: removes a first install, or brings the previous revision
    /// back. Err only when a second interrupt aborts it.
    #[allow(clippy::too_many_arguments)]
    async fn roll_back(
        &self,
        cluster: &mut (dyn ClusterOps + '_),
        store: &(dyn ReleaseStore + '_),
        history: &History,
        record: &ReleaseRecord,
        created: &[ObjectKey],
        live_secrets: &BTreeMap<ObjectKey, J>,
        progress: &mut (dyn FnMut(DeployProgress) + Send),
    ) -> Result<Cleanup, DeployError> {
        progress(DeployProgress::Step(format!(
            "revision {} failed: rolling back",
            record.revision
        )));
        match &history.previous {
            None => self.remove_install(cluster, store, record, created).await,
            Some(prev) => {
                self.restore(cluster, record.revision, prev, created, live_secrets)
                    .await
            }
        }
    }

    /// Removes what a failed first install created, its record, and the namespace if this
    /// install (or an earlier failed one) created it. What cannot be removed is named.
    async fn remove_install(
        &self,
        cluster: &mut (dyn ClusterOps + '_),
        store: &(dyn ReleaseStore + '_),
        record: &ReleaseRecord,
        created: &[ObjectKey],
    ) -> Result<Cleanup, DeployError> {
        let mut left = Vec::new();
        for key in created.iter().rev() {
            if self.req.abort.is_cancelled() {
                return Err(self.aborted(record.revision));
            }
            if let Err(e) = cluster.delete(key).await {
                left.push(format!("{key} (deleting it failed: {e})"));
            }
        }
        if let Err(e) = store.delete(record.revision).await {
            left.push(format!(
                "release record {} (deleting it failed: {e})",
                record_name(self.release(), record.revision)
            ));
        }
        if record.namespace_created {
            // Whatever is left goes with the namespace.
            match cluster.delete_namespace(self.ns()).await {
                Ok(()) => left.clear(),
                Err(e) => left.push(format!("namespace {} (deleting it failed: {e})", self.ns())),
            }
        }
        Ok(if left.is_empty() {
            Cleanup::Removed {
                namespace_deleted: record.namespace_created,
            }
        } else {
            Cleanup::RemovalIncomplete { left }
        })
    }

    /// Re-applies the previous revision (its Secrets with the values the cluster had before
    /// this run) after deleting what this run created that it did not have, and waits for it.
    async fn restore(
        &self,
        cluster: &mut (dyn ClusterOps + '_),
        revision: u32,
        prev: &ReleaseRecord,
        created: &[ObjectKey],
        live_secrets: &BTreeMap<ObjectKey, J>,
    ) -> Result<Cleanup, DeployError> {
        let prev_ids: BTreeSet<_> = prev
            .objects
            .iter()
            .map(|o| ObjectKey::of(o).identity())
            .collect();
        let mut problems = Vec::new();
        for key in created.iter().rev() {
            if !prev_ids.contains(&key.identity()) {
                if self.req.abort.is_cancelled() {
                    return Err(self.aborted(revision));
                }
                if let Err(e) = cluster.delete(key).await {
                    problems.push(format!("{key} of the failed revision is left: {e}"));
                }
            }
        }
        let restore_since = Timestamp::now();
        for o in &prev.objects {
            if self.req.abort.is_cancelled() {
                return Err(self.aborted(revision));
            }
            let key = ObjectKey::of(o);
            let obj = match (is_redacted(o), live_secrets.get(&key)) {
                (false, _) => o.clone(),
                (true, Some(live)) => restore_secret(o, live),
                (true, None) => {
                    problems.push(format!(
                        "{key} was not in the cluster when this deploy started, and its values are not in the record: set them again (`kubectl justpush redeploy --secret NAME`)"
                    ));
                    continue;
                }
            };
            if let Err(e) = cluster.apply(&obj).await {
                if is_kong_object(o) {
                    continue;
                }
                problems.push(format!("re-applying {key}: {e}"));
                break;
            }
        }
        if problems.is_empty() {
            if let Some(p) = self
                .await_restored(cluster, revision, prev, restore_since)
                .await?
            {
                problems.push(p);
            }
        }
        Ok(if problems.is_empty() {
            Cleanup::Restored {
                revision: prev.revision,
            }
        } else {
            Cleanup::RestoreIncomplete {
                revision: prev.revision,
                problem: problems.join("; "),
            }
        })
    }

    /// Waits for the restored revision (a first interrupt no longer stops it, a second
    /// aborts); the problem, if it did not become ready.
    async fn await_restored(
        &self,
        cluster: &mut (dyn ClusterOps + '_),
        revision: u32,
        prev: &ReleaseRecord,
        since: Timestamp,
    ) -> Result<Option<String>, DeployError> {
        let spec = WaitFor {
            namespace: self.ns().to_string(),
            release: self.release().to_string(),
            workloads: workloads(&prev.objects),
            since,
            timeout: self.req.timeout,
            quota_fails: false,
        };
        let mut ignore = |_p: WaitProgress| {};
        let never = CancellationToken::new();
        let outcome = tokio::select! {
            _ = self.req.abort.cancelled() => return Err(self.aborted(revision)),
            o = cluster.wait_ready(&spec, &never, &mut ignore) => o,
        };
        Ok(match outcome {
            Ok(WaitOutcome::Ready) | Ok(WaitOutcome::Interrupted) => None,
            Ok(WaitOutcome::Failed { failure, .. }) => Some(failure.to_string()),
            Ok(WaitOutcome::TimedOut(p)) => Some(format!("not ready: {}", describe_pending(&p))),
            Err(e) => Some(e.to_string()),
        })
    }

    /// Records the failure (an upgrade's record stays, as FAILED) and builds the error.
    async fn failed(
        &self,
        store: &(dyn ReleaseStore + '_),
        history: &History,
        mut record: ReleaseRecord,
        stop: Stop,
        cleanup: Cleanup,
    ) -> Result<DeployError, DeployError> {
        let release = self.release();
        let revision = record.revision;
        let reason = match &stop {
            Stop::Failed(m) => m.clone(),
            Stop::Interrupted => "interrupted (Ctrl-C)".to_string(),
        };
        if history.previous.is_some() {
            record.status = ReleaseStatus::Failed;
            record.updated_at = now();
            record.description = format!("{}: failed: {reason}", record.description);
            record
                .events
                .push(event("Deploy", format!("failed: {reason}")));
            record
                .events
                .push(event("Rollback", describe_cleanup(&cleanup, self.ns())));
            store.save(&record).await?;
        }
        let what = match stop {
            Stop::Failed(_) => {
                format!("deploy of {release} (revision {revision}) failed: {reason}")
            }
            Stop::Interrupted => {
                format!("deploy of {release} (revision {revision}) was interrupted")
            }
        };
        Ok(DeployError::Failed {
            revision,
            message: format!("{what}\n{}", describe_cleanup(&cleanup, self.ns())),
            cleanup,
        })
    }
}

fn describe_pending(pending: &[(String, String)]) -> String {
    pending
        .iter()
        .map(|(k, why)| format!("{k}: {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The previous revision's Secrets as the cluster has them now (the record holds only
/// fingerprints of their values).
async fn live_secrets(
    cluster: &mut (dyn ClusterOps + '_),
    prev: &ReleaseRecord,
) -> Result<BTreeMap<ObjectKey, J>, DeployError> {
    let mut out = BTreeMap::new();
    for o in prev.objects.iter().filter(|o| is_redacted(o)) {
        let key = ObjectKey::of(o);
        if let Some(live) = cluster.get(&key).await? {
            out.insert(key, live);
        }
    }
    Ok(out)
}

/// Replaces redacted secret values (from a record) with the cluster's current ones.
async fn resolve_redacted(
    values: &mut Map<String, J>,
    previous: Option<&ReleaseRecord>,
    cluster: &mut (dyn ClusterOps + '_),
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
        if let J::Object(m) = v {
            *values = m;
        }
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
                Some(prev) => live_secret_value(cluster, prev, cname, var).await?,
                None => None,
            };
            match live {
                // If the cluster's value changed since the record, the cluster wins.
                Some(text) => *val = J::String(text),
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
    cluster: &mut (dyn ClusterOps + '_),
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
        let Some(live) = cluster.get(&ObjectKey::of(o)).await? else {
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
        Cleanup::RemovalIncomplete { left } => format!(
            "rolling back did not finish: left in namespace {namespace}: {}; delete them with `kubectl justpush delete` (or kubectl delete)",
            left.join("; ")
        ),
    }
}
