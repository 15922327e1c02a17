//! What the management commands read and change: a release's status (pure assembly over
//! collected objects), delete (PVCs kept unless asked), scale (HPA-aware), and merged logs.

use std::collections::BTreeMap;

use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams, LogParams};
use serde::Serialize;
use serde_json::{json, Value as J};

use super::apply::{is_kept, Applier, ObjectKey, COMPONENT_LABEL, INSTANCE_LABEL, RELEASE_LABEL};
use super::record::{RecordStore, ReleaseRecord, ReleaseStatus, RECORD_TYPE};
use super::status::{object_health, Health};
use super::KubeError;

/// Names of the releases with records in a namespace.
pub async fn release_names(client: &kube::Client, ns: &str) -> Result<Vec<String>, KubeError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let list = api
        .list(&ListParams::default().labels("owner=justpush"))
        .await
        .map_err(|e| KubeError::api(format!("listing releases in namespace {ns}"), e))?;
    let mut names: Vec<String> = list
        .items
        .iter()
        .filter(|s| s.type_.as_deref() == Some(RECORD_TYPE))
        .filter_map(|s| s.metadata.labels.as_ref()?.get("name").cloned())
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The newest DEPLOYED record, else the newest of any status.
pub fn current_record(records: &[ReleaseRecord]) -> Option<&ReleaseRecord> {
    records
        .iter()
        .filter(|r| r.status == ReleaseStatus::Deployed)
        .max_by_key(|r| r.revision)
        .or_else(|| records.iter().max_by_key(|r| r.revision))
}

/// One pod in `status`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodReport {
    pub name: String,
    pub phase: String,
    pub ready: bool,
    pub restarts: i64,
    /// The last termination (`OOMKilled`, `Error (exit 1)`), if any.
    pub last_state: Option<String>,
    /// Why it is not ready, if it is not.
    pub problem: Option<String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
}

/// An HPA in `status`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HpaReport {
    pub min_replicas: i64,
    pub max_replicas: i64,
    pub current_replicas: i64,
    pub desired_replicas: i64,
}

/// One component in `status`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ComponentReport {
    pub name: String,
    /// `Deployment/x` or `StatefulSet/x`.
    pub workload: String,
    pub desired: i64,
    pub ready: i64,
    pub available: i64,
    pub health: String,
    pub images: Vec<String>,
    pub hpa: Option<HpaReport>,
    pub pods: Vec<PodReport>,
}

/// Kong's refusals of the release's current objects (see [`super::doctor::kong_rejections`]).
pub async fn kong_rejections(
    client: &kube::Client,
    ns: &str,
    release: &str,
) -> Result<Vec<super::doctor::Finding>, KubeError> {
    let c = collect(client, ns, release).await?;
    Ok(super::doctor::kong_rejections(
        &c.events,
        &c.release_objects,
        c.revision_since.as_deref(),
    ))
}

/// `status` of a release.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub release: String,
    pub namespace: String,
    pub revision: u32,
    pub status: String,
    pub updated: String,
    pub images: BTreeMap<String, String>,
    pub components: Vec<ComponentReport>,
    pub gateway_url: Option<String>,
    pub api_key_secret: Option<String>,
    pub warnings: Vec<String>,
}

fn s<'a>(v: &'a J, p: &str) -> &'a str {
    v.pointer(p).and_then(J::as_str).unwrap_or("")
}

fn label<'a>(v: &'a J, key: &str) -> &'a str {
    s(v, &format!("/metadata/labels/{}", key.replace('/', "~1")))
}

/// A pod's line in `status` (pure).
pub fn pod_report(pod: &J, metrics: Option<&J>) -> PodReport {
    let statuses: Vec<&J> = pod
        .pointer("/status/containerStatuses")
        .and_then(J::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let restarts = statuses
        .iter()
        .map(|c| c.get("restartCount").and_then(J::as_i64).unwrap_or(0))
        .sum();
    let last_state = statuses.iter().find_map(|c| {
        let t = c.pointer("/lastState/terminated")?;
        let reason = s(t, "/reason");
        let code = t.get("exitCode").and_then(J::as_i64).unwrap_or(0);
        Some(format!("{reason} (exit {code})"))
    });
    let health = super::status::pod_health(pod);
    let problem = match &health {
        Health::Current => None,
        Health::InProgress(w) => Some(w.clone()),
        Health::Failed(f) => Some(f.message.clone()),
    };
    let (cpu, memory) = metrics
        .map(|m| {
            let containers = m
                .get("containers")
                .and_then(J::as_array)
                .cloned()
                .unwrap_or_default();
            let join = |k: &str| {
                let v: Vec<String> = containers
                    .iter()
                    .filter_map(|c| {
                        c.pointer(&format!("/usage/{k}"))
                            .and_then(J::as_str)
                            .map(str::to_string)
                    })
                    .collect();
                (!v.is_empty()).then(|| v.join("+"))
            };
            (join("cpu"), join("memory"))
        })
        .unwrap_or((None, None));
    PodReport {
        name: s(pod, "/metadata/name").to_string(),
        phase: s(pod, "/status/phase").to_string(),
        ready: matches!(health, Health::Current),
        restarts,
        last_state,
        problem,
        cpu,
        memory,
    }
}

/// Assembles `status` from the record and the collected objects (pure).
pub fn build_status(
    record: &ReleaseRecord,
    workloads: &[J],
    pods: &[J],
    hpas: &[J],
    metrics: &[J],
    ingresses: &[J],
) -> StatusReport {
    let mut components = Vec::new();
    for w in workloads {
        let comp = label(w, COMPONENT_LABEL);
        let name = if comp.is_empty() {
            s(w, "/metadata/name")
        } else {
            comp
        };
        let wname = s(w, "/metadata/name");
        let kind = s(w, "/kind");
        let hpa = hpas
            .iter()
            .find(|h| {
                s(h, "/spec/scaleTargetRef/name") == wname
                    && s(h, "/spec/scaleTargetRef/kind") == kind
            })
            .map(|h| HpaReport {
                min_replicas: h
                    .pointer("/spec/minReplicas")
                    .and_then(J::as_i64)
                    .unwrap_or(1),
                max_replicas: h
                    .pointer("/spec/maxReplicas")
                    .and_then(J::as_i64)
                    .unwrap_or(0),
                current_replicas: h
                    .pointer("/status/currentReplicas")
                    .and_then(J::as_i64)
                    .unwrap_or(0),
                desired_replicas: h
                    .pointer("/status/desiredReplicas")
                    .and_then(J::as_i64)
                    .unwrap_or(0),
            });
        let mut my_pods: Vec<PodReport> = pods
            .iter()
            .filter(|p| !comp.is_empty() && label(p, COMPONENT_LABEL) == comp)
            .map(|p| {
                let m = metrics
                    .iter()
                    .find(|m| s(m, "/metadata/name") == s(p, "/metadata/name"));
                pod_report(p, m)
            })
            .collect();
        my_pods.sort_by(|a, b| a.name.cmp(&b.name));
        let images = w
            .pointer("/spec/template/spec/containers")
            .and_then(J::as_array)
            .map(|cs| cs.iter().map(|c| s(c, "/image").to_string()).collect())
            .unwrap_or_default();
        let health = match object_health(w) {
            Health::Current => "Current".to_string(),
            Health::InProgress(why) => format!("InProgress: {why}"),
            Health::Failed(f) => format!("Failed: {}", f.message),
        };
        components.push(ComponentReport {
            name: name.to_string(),
            workload: format!("{kind}/{wname}"),
            desired: w.pointer("/spec/replicas").and_then(J::as_i64).unwrap_or(1),
            ready: w
                .pointer("/status/readyReplicas")
                .and_then(J::as_i64)
                .unwrap_or(0),
            available: w
                .pointer("/status/availableReplicas")
                .and_then(J::as_i64)
                .unwrap_or_else(|| {
                    w.pointer("/status/readyReplicas")
                        .and_then(J::as_i64)
                        .unwrap_or(0)
                }),
            health,
            images,
            hpa,
            pods: my_pods,
        });
    }
    components.sort_by(|a, b| a.name.cmp(&b.name));
    let gateway_url = record.gateway_url.clone().or_else(|| {
        ingresses.iter().find_map(|i| {
            let lb = i.pointer("/status/loadBalancer/ingress/0")?;
            let host = lb.get("hostname").or_else(|| lb.get("ip"))?.as_str()?;
            Some(format!("http://{host}"))
        })
    });
    StatusReport {
        release: record.name.clone(),
        namespace: record.namespace.clone(),
        revision: record.revision,
        status: record.status.as_str().to_string(),
        updated: record.updated_at.clone(),
        images: record.images.clone(),
        components,
        gateway_url,
        api_key_secret: record.api_key_secret.clone(),
        warnings: record.warnings.clone(),
    }
}

/// What the cluster holds for a release, for `status` and `doctor`.
#[derive(Debug, Default, Clone)]
pub struct Collected {
    pub workloads: Vec<J>,
    pub pods: Vec<J>,
    pub hpas: Vec<J>,
    pub metrics: Vec<J>,
    pub ingresses: Vec<J>,
    pub quotas: Vec<J>,
    pub events: Vec<J>,
    /// `Kind/name` of every object of the current revision.
    pub release_objects: Vec<String>,
    /// When the current revision was deployed (RFC 3339).
    pub revision_since: Option<String>,
}

/// Reads the release's objects from the cluster.
pub async fn collect(
    client: &kube::Client,
    ns: &str,
    release: &str,
) -> Result<Collected, KubeError> {
    let mut a = Applier::new(client.clone());
    let rel = format!("{RELEASE_LABEL}={release}");
    let inst = format!("{INSTANCE_LABEL}={release}");
    let mut c = Collected::default();
    for kind in ["Deployment", "StatefulSet"] {
        c.workloads
            .extend(a.list("apps/v1", kind, Some(ns), &rel).await?);
    }
    c.pods = a.list("v1", "Pod", Some(ns), &inst).await?;
    c.hpas = a
        .list("autoscaling/v2", "HorizontalPodAutoscaler", Some(ns), &rel)
        .await?;
    c.ingresses = a
        .list("networking.k8s.io/v1", "Ingress", Some(ns), &rel)
        .await?;
    c.quotas = a.list("v1", "ResourceQuota", Some(ns), "").await?;
    c.events = a.list("v1", "Event", Some(ns), "").await?;
    let records = RecordStore::new(client.clone(), ns, release).list().await?;
    if let Some(r) = current_record(&records) {
        c.release_objects = r.objects.iter().map(super::status::object_ref).collect();
        c.revision_since = Some(r.created_at.clone());
    }
    // The metrics API is optional: absent or failing, status shows no usage.
    c.metrics = a
        .list("metrics.k8s.io/v1beta1", "PodMetrics", Some(ns), &inst)
        .await
        .unwrap_or_default();
    Ok(c)
}

/// `status` of a release.
pub async fn status(
    client: &kube::Client,
    ns: &str,
    release: &str,
) -> Result<StatusReport, KubeError> {
    let records = RecordStore::new(client.clone(), ns, release).list().await?;
    let record = current_record(&records).ok_or_else(|| {
        KubeError::Other(format!(
            "release {release} has no records in namespace {ns}; deploy it with `kubectl justpush deploy` (or pass -n/--name)"
        ))
    })?;
    let c = collect(client, ns, release).await?;
    Ok(build_status(
        record,
        &c.workloads,
        &c.pods,
        &c.hpas,
        &c.metrics,
        &c.ingresses,
    ))
}

/// What `delete` did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteReport {
    pub deleted: Vec<String>,
    pub kept: Vec<String>,
    pub namespace_deleted: bool,
}

/// Deletes everything of a release (objects of every revision, Kong objects, records, lease);
/// PersistentVolumeClaims stay unless `purge_data`.
pub async fn delete_release(
    client: &kube::Client,
    ns: &str,
    release: &str,
    purge_data: bool,
) -> Result<DeleteReport, KubeError> {
    let store = RecordStore::new(client.clone(), ns, release);
    let records = store.list().await?;
    if records.is_empty() {
        return Err(KubeError::Other(format!(
            "release {release} has no records in namespace {ns}; nothing to delete (check -n and --name)"
        )));
    }
    let mut a = Applier::new(client.clone());
    let mut report = DeleteReport::default();
    let mut seen = std::collections::BTreeSet::new();
    let mut objects: Vec<J> = Vec::new();
    for r in records.iter().rev() {
        for o in &r.objects {
            if seen.insert(ObjectKey::of(o).identity()) {
                objects.push(o.clone());
            }
        }
    }
    // Reverse install order: workloads before what they use.
    objects.reverse();
    for o in &objects {
        let key = ObjectKey::of(o);
        let is_pvc = key.kind == "PersistentVolumeClaim";
        if (is_pvc || is_kept(o)) && !purge_data {
            report.kept.push(key.to_string());
            continue;
        }
        a.delete(&key).await?;
        report.deleted.push(key.to_string());
    }
    // StatefulSets' claims are not in the manifest.
    let pvcs = a
        .list(
            "v1",
            "PersistentVolumeClaim",
            Some(ns),
            &format!("{INSTANCE_LABEL}={release}"),
        )
        .await?;
    for p in pvcs {
        let key = ObjectKey::of(&p);
        let name = key.to_string();
        if purge_data {
            a.delete(&key).await?;
            if !report.deleted.contains(&name) {
                report.deleted.push(name);
            }
        } else if !report.kept.contains(&name) {
            report.kept.push(name);
        }
    }
    for r in &records {
        store.delete(r.revision).await?;
    }
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), ns);
    let _ = leases
        .delete(&super::lease::lease_name(release), &Default::default())
        .await;
    let created_ns = records.iter().any(|r| r.namespace_created);
    if created_ns && report.kept.is_empty() {
        let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        match nss.delete(ns, &Default::default()).await {
            Ok(_) => report.namespace_deleted = true,
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(KubeError::api(format!("deleting namespace {ns}"), e)),
        }
    }
    Ok(report)
}

/// What `scale` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleReport {
    pub component: String,
    pub workload: String,
    pub replicas: i64,
    /// The revision that runs them.
    pub revision: u32,
    /// What was done about an HPA, if the component has one.
    pub hpa_note: Option<String>,
    pub running_pods: Vec<String>,
}

/// What scaling a component with an HPA means (pure): the new min/max, and what to tell.
pub fn hpa_plan(min: i64, max: i64, n: i64) -> (i64, i64, String) {
    if n <= max {
        (n, max, format!(
            "the component has a HorizontalPodAutoscaler: its minReplicas is now {n} (was {min}), so at least {n} pods run and it may still scale up to {max}"
        ))
    } else {
        (n, n, format!(
            "the component has a HorizontalPodAutoscaler: minReplicas and maxReplicas are now {n} (were {min} and {max}), which pins it at {n} pods"
        ))
    }
}

/// The values of a new revision that runs `replicas` pods of `component` (pure): its replica
/// count, and through its HPA when it has one (see [`hpa_plan`]). The note says what was done
/// about the HPA. Scaling is a revision like any other, so the next deploy, redeploy or
/// rollback starts from it instead of undoing it.
pub fn scale_values(
    values: &mut serde_json::Map<String, J>,
    release: &str,
    component: &str,
    replicas: i64,
) -> Result<Option<String>, String> {
    let defaults = values
        .get("componentDefaults")
        .and_then(|d| d.get("autoscaling"))
        .cloned();
    let comp = values
        .get_mut("components")
        .and_then(|c| c.get_mut(component))
        .filter(|c| c.get("enabled").and_then(J::as_bool) != Some(false))
        .and_then(J::as_object_mut)
        .ok_or_else(|| {
            format!(
                "release {release} has no component {component}; `kubectl justpush status` lists the components"
            )
        })?;
    comp.insert("replicas".into(), json!(replicas));
    // A component's autoscaling falls back, key by key, to the chart's componentDefaults.
    let own = comp.get("autoscaling").cloned().unwrap_or(J::Null);
    let setting = |key: &str| {
        own.get(key)
            .or_else(|| defaults.as_ref().and_then(|d| d.get(key)))
            .cloned()
    };
    if setting("enabled").and_then(|e| e.as_bool()) != Some(true) {
        return Ok(None);
    }
    let min = setting("minReplicas").and_then(|v| v.as_i64()).unwrap_or(1);
    let max = setting("maxReplicas")
        .and_then(|v| v.as_i64())
        .unwrap_or(min);
    let (new_min, new_max, note) = hpa_plan(min, max, replicas);
    let hpa = comp
        .entry("autoscaling")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| format!("components.{component}.autoscaling is not a map"))?;
    hpa.insert("minReplicas".into(), json!(new_min));
    hpa.insert("maxReplicas".into(), json!(new_max));
    Ok(Some(note))
}

/// The deploy request that scales `component` of the release whose deployed revision is
/// `last` (pure), and the note on its HPA. Run it like any deploy request.
pub fn scale_request(
    last: &ReleaseRecord,
    chart: crate::chart::load::Chart,
    component: &str,
    replicas: i64,
) -> Result<(crate::kube::action::DeployRequest, Option<String>), String> {
    let mut values = last.values.as_object().cloned().unwrap_or_default();
    let note = scale_values(&mut values, &last.name, component, replicas)?;
    let mut req =
        crate::kube::action::DeployRequest::new(&last.name, &last.namespace, chart, values);
    req.images = last.images.clone();
    req.description = format!("Scale {component} to {replicas}");
    Ok((req, note))
}

/// The component's workload (`Kind/name`) among a revision's objects.
pub fn component_workload(objects: &[J], component: &str) -> Option<String> {
    let label = COMPONENT_LABEL.replace('/', "~1");
    objects
        .iter()
        .filter(|o| matches!(s(o, "/kind"), "Deployment" | "StatefulSet"))
        .find(|o| s(o, &format!("/metadata/labels/{label}")) == component)
        .map(super::status::object_ref)
}

/// The names of a component's running (ready, not terminating) pods, sorted.
pub async fn running_pods(
    client: &kube::Client,
    ns: &str,
    release: &str,
    component: &str,
) -> Result<Vec<String>, KubeError> {
    let mut a = Applier::new(client.clone());
    let pods = a
        .list(
            "v1",
            "Pod",
            Some(ns),
            &format!("{INSTANCE_LABEL}={release},{COMPONENT_LABEL}={component}"),
        )
        .await?;
    let mut running: Vec<String> = pods
        .iter()
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
        .filter(|p| matches!(super::status::pod_health(p), Health::Current))
        .map(|p| s(p, "/metadata/name").to_string())
        .collect();
    running.sort();
    Ok(running)
}

/// Options of `logs`.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub component: Option<String>,
    pub since_seconds: Option<i64>,
    pub tail: Option<i64>,
}

/// The components of a release, read from its Deployments' and StatefulSets' labels.
async fn workload_components(
    client: &kube::Client,
    ns: &str,
    release: &str,
) -> Result<std::collections::BTreeSet<String>, KubeError> {
    let mut a = Applier::new(client.clone());
    let sel = format!("{RELEASE_LABEL}={release}");
    let mut out = std::collections::BTreeSet::new();
    for kind in ["Deployment", "StatefulSet"] {
        for w in a.list("apps/v1", kind, Some(ns), &sel).await? {
            if let Some(c) = w["metadata"]["labels"][COMPONENT_LABEL].as_str() {
                out.insert(c.to_string());
            }
        }
    }
    Ok(out)
}

/// Starts reading a running pod's containers' logs (once per pod), each line to `tx` as
/// `component/pod | line`; each task answers whether the API gave its logs.
fn read_pod_logs(
    pods: &Api<Pod>,
    p: &Pod,
    opts: &LogOptions,
    tx: &tokio::sync::mpsc::UnboundedSender<String>,
    tasks: &mut tokio::task::JoinSet<bool>,
    started: &mut std::collections::BTreeSet<String>,
) {
    let name = p.metadata.name.clone().unwrap_or_default();
    let running = p
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|ph| ph != "Pending");
    if !running || !started.insert(name.clone()) {
        return;
    }
    let comp = p
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(COMPONENT_LABEL).cloned())
        .unwrap_or_default();
    let containers: Vec<String> = p
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    for container in containers {
        let pods = pods.clone();
        let tx = tx.clone();
        let prefix = if comp.is_empty() {
            name.clone()
        } else {
            format!("{comp}/{name}")
        };
        let lp = LogParams {
            container: Some(container),
            follow: opts.follow,
            since_seconds: opts.since_seconds,
            tail_lines: opts.tail,
            ..Default::default()
        };
        let name = name.clone();
        tasks.spawn(async move {
            match pods.log_stream(&name, &lp).await {
                Ok(stream) => {
                    let mut lines = stream.lines();
                    while let Some(Ok(line)) = lines.next().await {
                        if tx.send(format!("{prefix} | {line}")).is_err() {
                            break;
                        }
                    }
                    true
                }
                Err(e) => {
                    let _ = tx.send(format!("{prefix} | (logs unavailable: {e})"));
                    false
                }
            }
        });
    }
}

/// Waits for every log task: Ok when at least one container's logs were read.
async fn all_read(
    mut tasks: tokio::task::JoinSet<bool>,
    ns: &str,
    release: &str,
) -> Result<(), KubeError> {
    let (mut read, mut unavailable) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(true) => read += 1,
            _ => unavailable += 1,
        }
    }
    // Some containers' logs is a partial answer worth printing; none is a failure.
    if read == 0 {
        return Err(KubeError::Other(format!(
            "no logs of release {release} in namespace {ns} could be read ({unavailable} container(s), each refused as printed above); check that the API server can reach the nodes' kubelets and that you may get pods/log"
        )));
    }
    Ok(())
}

/// Streams the logs of every pod of a release as `component/pod | line`, sending each line to
/// `tx`; with `follow`, pods that appear later are followed too. Ends when not following and
/// every pod's log is read, or when `stop` is cancelled.
pub async fn stream_logs(
    client: &kube::Client,
    ns: &str,
    release: &str,
    opts: &LogOptions,
    tx: tokio::sync::mpsc::UnboundedSender<String>,
    stop: tokio_util::sync::CancellationToken,
) -> Result<(), KubeError> {
    let mut sel = format!("{INSTANCE_LABEL}={release}");
    if let Some(c) = &opts.component {
        // A misspelt component would otherwise print nothing and look like a quiet app.
        let known = workload_components(client, ns, release).await?;
        if !known.contains(c) {
            let list: Vec<&str> = known.iter().map(String::as_str).collect();
            return Err(KubeError::Other(format!(
                "--component {c}: release {release} in namespace {ns} has no such component (it has: {})",
                if list.is_empty() { "none".to_string() } else { list.join(", ") }
            )));
        }
        sel.push_str(&format!(",{COMPONENT_LABEL}={c}"));
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    // Each log stream's task answers whether the API gave its logs.
    let mut tasks = tokio::task::JoinSet::new();
    let mut started = std::collections::BTreeSet::new();
    let list = pods
        .list(&ListParams::default().labels(&sel))
        .await
        .map_err(|e| KubeError::api(format!("listing the pods of {release}"), e))?;
    for p in &list.items {
        read_pod_logs(&pods, p, opts, &tx, &mut tasks, &mut started);
    }
    if !opts.follow {
        if tasks.is_empty() {
            // Nothing to read is not success: say why there is no output and where to look.
            return Err(KubeError::Other(format!(
                "release {release} in namespace {ns} has no started pods{} to read logs from; run `kubectl justpush status` (and `kubectl justpush doctor`) to see why, or `logs --follow` to wait for them",
                opts.component.as_deref().map(|c| format!(" for component {c}")).unwrap_or_default()
            )));
        }
        return all_read(tasks, ns, release).await;
    }
    let cfg = kube::runtime::watcher::Config::default().labels(&sel);
    let mut w = Box::pin(kube::runtime::watcher(pods.clone(), cfg).default_backoff_applied());
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            ev = w.next() => match ev {
                Some(Ok(p)) => read_pod_logs(&pods, &p, opts, &tx, &mut tasks, &mut started),
                Some(Err(_)) => continue,
                None => break,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.abort_all();
    Ok(())
}

trait BackoffApplied: futures::Stream + Sized {
    fn default_backoff_applied(
        self,
    ) -> impl futures::Stream<Item = Result<Pod, kube::runtime::watcher::Error>> + Send;
}

impl<S> BackoffApplied for S
where
    S: futures::Stream<
            Item = Result<kube::runtime::watcher::Event<Pod>, kube::runtime::watcher::Error>,
        > + Send
        + 'static,
{
    fn default_backoff_applied(
        self,
    ) -> impl futures::Stream<Item = Result<Pod, kube::runtime::watcher::Error>> + Send {
        use kube::runtime::WatchStreamExt;
        self.default_backoff().applied_objects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::record::now;

    fn y(t: &str) -> J {
        serde_yaml::from_str(t).unwrap()
    }

    fn record() -> ReleaseRecord {
        ReleaseRecord {
            name: "todo".into(),
            namespace: "apps".into(),
            revision: 2,
            status: ReleaseStatus::Deployed,
            chart_version: "0.1.0".into(),
            app_version: "0.1.0".into(),
            values: json!({}),
            objects: vec![],
            images: BTreeMap::from([("api".into(), "todo/api:v2".into())]),
            created_at: now(),
            updated_at: now(),
            kong_objects: vec![],
            api_key_secret: Some("todo-key".into()),
            warnings: vec![],
            events: vec![],
            description: String::new(),
            namespace_created: false,
            gateway_url: None,
        }
    }

    #[test]
    fn status_assembles_components_pods_hpa_and_metrics() {
        let d = y(r#"
kind: Deployment
metadata: {name: todo-justpush-api, generation: 1, labels: {app.kubernetes.io/component: api}}
spec: {replicas: 2, template: {spec: {containers: [{name: api, image: "todo/api:v2"}]}}}
status: {observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1}
"#);
        let p1 = y(r#"
kind: Pod
metadata: {name: api-a, labels: {app.kubernetes.io/component: api}}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
  containerStatuses: [{name: api, restartCount: 2, state: {running: {}}, lastState: {terminated: {reason: OOMKilled, exitCode: 137}}}]
"#);
        let p2 = y(r#"
kind: Pod
metadata: {name: api-b, labels: {app.kubernetes.io/component: api}}
status: {phase: Pending}
"#);
        let hpa = y(r#"
kind: HorizontalPodAutoscaler
metadata: {name: todo-justpush-api}
spec: {minReplicas: 2, maxReplicas: 5, scaleTargetRef: {kind: Deployment, name: todo-justpush-api}}
status: {currentReplicas: 2, desiredReplicas: 2}
"#);
        let m = y(r#"
kind: PodMetrics
metadata: {name: api-a}
containers: [{name: api, usage: {cpu: 12m, memory: 80Mi}}]
"#);
        let r = build_status(&record(), &[d], &[p2, p1], &[hpa], &[m], &[]);
        let c = &r.components[0];
        assert_eq!((c.desired, c.ready, c.available), (2, 1, 1));
        assert_eq!(c.images, vec!["todo/api:v2".to_string()]);
        assert_eq!(c.hpa.as_ref().unwrap().max_replicas, 5);
        assert_eq!(c.pods[0].name, "api-a");
        assert_eq!(c.pods[0].restarts, 2);
        assert_eq!(
            c.pods[0].last_state.as_deref(),
            Some("OOMKilled (exit 137)")
        );
        assert_eq!(c.pods[0].cpu.as_deref(), Some("12m"));
        assert!(!c.pods[1].ready);
        assert!(c.health.starts_with("InProgress"));
        assert_eq!(r.revision, 2);
    }

    #[test]
    fn hpa_plans() {
        assert_eq!(hpa_plan(2, 5, 4).0, 4);
        assert_eq!(hpa_plan(2, 5, 4).1, 5);
        let (min, max, text) = hpa_plan(2, 5, 8);
        assert_eq!((min, max), (8, 8));
        assert!(text.contains("pins"));
    }

    #[test]
    fn scale_values_change_the_replicas_and_the_hpa_bounds_of_that_component_only() {
        let mut v = json!({"componentDefaults": {"autoscaling": {"enabled": false, "minReplicas": 2, "maxReplicas": 5}},
            "components": {
            "api": {"replicas": 2, "autoscaling": {"enabled": true, "maxReplicas": 5}},
            "web": {"replicas": 2},
            "old": {"enabled": false, "replicas": 1}
        }})
        .as_object()
        .cloned()
        .unwrap();
        let note = scale_values(&mut v, "todo", "api", 7).unwrap();
        assert!(note.unwrap().contains("pins it at 7"));
        assert_eq!(v["components"]["api"]["replicas"], 7);
        assert_eq!(v["components"]["api"]["autoscaling"]["minReplicas"], 7);
        assert_eq!(v["components"]["api"]["autoscaling"]["maxReplicas"], 7);
        assert_eq!(v["components"]["web"]["replicas"], 2);
        // Within the bounds (minReplicas from componentDefaults): only the minimum moves.
        v["components"]["api"]["autoscaling"]["maxReplicas"] = json!(9);
        assert!(scale_values(&mut v, "todo", "api", 3)
            .unwrap()
            .unwrap()
            .contains("up to 9"));
        assert_eq!(v["components"]["api"]["autoscaling"]["minReplicas"], 3);
        assert_eq!(v["components"]["api"]["autoscaling"]["maxReplicas"], 9);
        assert_eq!(scale_values(&mut v, "todo", "web", 3).unwrap(), None);
        assert_eq!(v["components"]["web"]["replicas"], 3);
        for missing in ["nope", "old"] {
            let e = scale_values(&mut v, "todo", missing, 3).unwrap_err();
            assert!(e.contains(&format!("no component {missing}")), "{e}");
        }
    }
}
