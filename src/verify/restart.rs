//! The pod-restart suite: under steady, bounded load through the gateway, delete one pod of
//! each Deployment, count the requests that failed and time the recovery to Ready (targets: 0
//! failures with 2 replicas, PDB and readiness; ≤ 30 s, seed 003 SC-008); then restart the
//! database pod and check that data written before is still there. The cluster is reached
//! through [`PodOps`]; [`KubePodOps`] is the kube-rs implementation.

use super::CaseResult;
use crate::pipeline::ApiKey;
use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SUITE: &str = "restart";
/// Recovery target (seed 003 SC-008).
pub const RECOVERY_TARGET: Duration = Duration::from_secs(30);
/// How long to wait for a recovery before calling it failed.
pub const RECOVERY_TIMEOUT: Duration = Duration::from_secs(180);

/// A workload of the release.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub name: String,
    pub replicas: i32,
    /// The release's database (Postgres): restarted last, checked for data loss.
    pub database: bool,
}

/// A deleted pod: a StatefulSet's replacement has the same name, so it is told apart by UID.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedPod {
    pub name: String,
    pub uid: String,
}

impl std::fmt::Display for DeletedPod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// What the suite needs from the cluster.
#[async_trait(?Send)]
pub trait PodOps {
    /// The release's Deployments (and the database's workload).
    async fn workloads(&self) -> Result<Vec<Workload>, String>;
    /// Deletes one running pod of the workload.
    async fn delete_one_pod(&self, workload: &str) -> Result<DeletedPod, String>;
    /// Waits until `deleted` is gone and the workload has all its replicas Ready again
    /// (`None`: just all replicas Ready).
    async fn wait_recovered(
        &self,
        workload: &str,
        deleted: Option<&DeletedPod>,
        timeout: Duration,
    ) -> Result<(), String>;
}

/// Writes a record before the database restart and looks for it after.
#[async_trait(?Send)]
pub trait DataProbe {
    async fn write(&self) -> Result<String, String>;
    async fn present(&self, token: &str) -> Result<bool, String>;
}

/// Steady load: one request every `interval` to `url`, counting failures (transport errors
/// and 5xx).
#[derive(Debug, Clone)]
pub struct Load {
    pub url: String,
    pub api_key: Option<ApiKey>,
    pub key_header: String,
    pub interval: Duration,
}

/// Counts of a load run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadCount {
    pub sent: u64,
    pub failed: u64,
}

struct Running {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(&self) -> Running {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (s, se, f) = (stop.clone(), sent.clone(), failed.clone());
        let me = self.clone();
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("HTTP client");
            // A bounded rate: the interval ticks whether or not the last request was slow.
            let mut tick = tokio::time::interval(me.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !s.load(Ordering::SeqCst) {
                tick.tick().await;
                let mut req = client.get(&me.url);
                if let Some(k) = &me.api_key {
                    req = req.header(me.key_header.as_str(), k.expose());
                }
                se.fetch_add(1, Ordering::SeqCst);
                match req.send().await {
                    Ok(r) if r.status().as_u16() < 500 => {}
                    _ => {
                        f.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        });
        Running {
            stop,
            sent,
            failed,
            task,
        }
    }
}

impl Running {
    async fn finish(self) -> LoadCount {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        LoadCount {
            sent: self.sent.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
        }
    }
}

/// Runs the suite.
pub async fn run(ops: &dyn PodOps, load: &Load, data: Option<&dyn DataProbe>) -> Vec<CaseResult> {
    let mut out = Vec::new();
    let workloads = match ops.workloads().await {
        Ok(w) => w,
        Err(e) => {
            return vec![CaseResult::new(
                SUITE,
                "list the release's workloads",
                false,
                e,
            )];
        }
    };
    if workloads.is_empty() {
        return vec![CaseResult::new(
            SUITE,
            "list the release's workloads",
            false,
            "the release has no Deployments",
        )];
    }
    for w in workloads.iter().filter(|w| !w.database) {
        let running = load.start();
        let t0 = Instant::now();
        let outcome = match ops.delete_one_pod(&w.name).await {
            Ok(pod) => ops
                .wait_recovered(&w.name, Some(&pod), RECOVERY_TIMEOUT)
                .await
                .map(|()| (pod, t0.elapsed())),
            Err(e) => Err(e),
        };
        // Keep the load a moment past Ready: failures right after recovery count too.
        tokio::time::sleep(load.interval * 2).await;
        let count = running.finish().await;
        match outcome {
            Ok((pod, took)) => {
                out.push(
                    CaseResult::new(
                        SUITE,
                        format!("{}: no failed requests while a pod restarts", w.name),
                        count.failed == 0,
                        format!(
                            "{} of {} requests failed ({} replica(s)); deleted {pod}",
                            count.failed, count.sent, w.replicas
                        ),
                    )
                    .took(took),
                );
                out.push(
                    CaseResult::new(
                        SUITE,
                        format!(
                            "{}: Ready again within {} s",
                            w.name,
                            RECOVERY_TARGET.as_secs()
                        ),
                        took <= RECOVERY_TARGET,
                        format!("recovered in {:.1} s", took.as_secs_f64()),
                    )
                    .took(took),
                );
            }
            Err(e) => out.push(
                CaseResult::new(SUITE, format!("{}: pod restart", w.name), false, e)
                    .took(t0.elapsed()),
            ),
        }
    }
    match workloads.iter().find(|w| w.database) {
        None => out.push(CaseResult::skipped(
            SUITE,
            "database restart keeps data",
            "the release has no database",
        )),
        Some(db) => {
            let t0 = Instant::now();
            let name = format!("{}: database restart keeps data", db.name);
            let Some(probe) = data else {
                out.push(CaseResult::skipped(
                    SUITE,
                    name,
                    "no data probe for this app",
                ));
                return out;
            };
            let result = async {
                let token = probe
                    .write()
                    .await
                    .map_err(|e| format!("writing before: {e}"))?;
                let pod = ops.delete_one_pod(&db.name).await?;
                ops.wait_recovered(&db.name, Some(&pod), RECOVERY_TIMEOUT)
                    .await?;
                // The app may need a moment to reconnect; ask a few times.
                for _ in 0..10 {
                    match probe.present(&token).await {
                        Ok(true) => {
                            return Ok(format!("record {token} still there after deleting {pod}"))
                        }
                        Ok(false) => {
                            return Err(format!("record {token} is gone after deleting {pod}"))
                        }
                        Err(_) => tokio::time::sleep(Duration::from_secs(2)).await,
                    }
                }
                Err(format!("the app did not answer after deleting {pod}"))
            }
            .await;
            out.push(
                match result {
                    Ok(d) => CaseResult::new(SUITE, name, true, d),
                    Err(e) => CaseResult::new(SUITE, name, false, e),
                }
                .took(t0.elapsed()),
            );
        }
    }
    out
}

/// The demo's data probe: a task created through the gateway, looked up after.
pub struct TaskProbe {
    pub gateway: String,
    pub api_key: ApiKey,
    pub key_header: String,
}

#[async_trait(?Send)]
impl DataProbe for TaskProbe {
    async fn write(&self) -> Result<String, String> {
        let r = reqwest::Client::new()
            .post(format!("{}/api/tasks", self.gateway))
            .header(self.key_header.as_str(), self.api_key.expose())
            .json(&serde_json::json!({"title": "justpush restart check"}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
        v["id"]
            .as_i64()
            .map(|i| i.to_string())
            .ok_or_else(|| format!("no task id in {v}"))
    }
    async fn present(&self, token: &str) -> Result<bool, String> {
        let r = reqwest::Client::new()
            .get(format!("{}/api/tasks/{token}", self.gateway))
            .header(self.key_header.as_str(), self.api_key.expose())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match r.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            s => Err(format!("HTTP {s}")),
        }
    }
}

/// [`PodOps`] over kube-rs for one release's namespace.
pub struct KubePodOps {
    pub client: kube::Client,
    pub namespace: String,
    /// `app.kubernetes.io/instance` of the release.
    pub release: String,
}

fn pod_ready(p: &k8s_openapi::api::core::v1::Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

impl KubePodOps {
    async fn selector(&self, workload: &str) -> Result<(String, i32), String> {
        use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
        let deps: kube::Api<Deployment> =
            kube::Api::namespaced(self.client.clone(), &self.namespace);
        let (labels, replicas) = match deps.get_opt(workload).await.map_err(|e| e.to_string())? {
            Some(d) => {
                let spec = d.spec.unwrap_or_default();
                (
                    spec.selector.match_labels.unwrap_or_default(),
                    spec.replicas.unwrap_or(1),
                )
            }
            None => {
                let sts: kube::Api<StatefulSet> =
                    kube::Api::namespaced(self.client.clone(), &self.namespace);
                let s = sts
                    .get(workload)
                    .await
                    .map_err(|e| format!("workload {workload}: {e}"))?;
                let spec = s.spec.unwrap_or_default();
                (
                    spec.selector.match_labels.unwrap_or_default(),
                    spec.replicas.unwrap_or(1),
                )
            }
        };
        let sel = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        Ok((sel, replicas))
    }
}

/// A workload is the database when the chart labels it so (or it is named for Postgres).
pub fn is_database(name: &str, labels: &std::collections::BTreeMap<String, String>) -> bool {
    labels
        .get("app.kubernetes.io/component")
        .is_some_and(|c| c == "database" || c == "postgres" || c == "postgresql")
        || name.contains("postgres")
}

#[async_trait(?Send)]
impl PodOps for KubePodOps {
    async fn workloads(&self) -> Result<Vec<Workload>, String> {
        use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
        let lp = kube::api::ListParams::default()
            .labels(&format!("app.kubernetes.io/instance={}", self.release));
        let deps: kube::Api<Deployment> =
            kube::Api::namespaced(self.client.clone(), &self.namespace);
        let mut out: Vec<Workload> = deps
            .list(&lp)
            .await
            .map_err(|e| format!("listing Deployments in {}: {e}", self.namespace))?
            .items
            .into_iter()
            .map(|d| {
                let name = d.metadata.name.clone().unwrap_or_default();
                Workload {
                    database: is_database(&name, &d.metadata.labels.clone().unwrap_or_default()),
                    replicas: d.spec.and_then(|s| s.replicas).unwrap_or(1),
                    name,
                }
            })
            .collect();
        let sts: kube::Api<StatefulSet> =
            kube::Api::namespaced(self.client.clone(), &self.namespace);
        if let Ok(list) = sts.list(&lp).await {
            out.extend(list.items.into_iter().map(|s| {
                let name = s.metadata.name.clone().unwrap_or_default();
                Workload {
                    database: is_database(&name, &s.metadata.labels.clone().unwrap_or_default()),
                    replicas: s.spec.and_then(|s| s.replicas).unwrap_or(1),
                    name,
                }
            }));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn delete_one_pod(&self, workload: &str) -> Result<DeletedPod, String> {
        use k8s_openapi::api::core::v1::Pod;
        let (sel, _) = self.selector(workload).await?;
        let pods: kube::Api<Pod> = kube::Api::namespaced(self.client.clone(), &self.namespace);
        let list = pods
            .list(&kube::api::ListParams::default().labels(&sel))
            .await
            .map_err(|e| format!("listing pods of {workload}: {e}"))?;
        let pod = list
            .items
            .iter()
            .find(|p| pod_ready(p))
            .map(|p| DeletedPod {
                name: p.metadata.name.clone().unwrap_or_default(),
                uid: p.metadata.uid.clone().unwrap_or_default(),
            })
            .ok_or_else(|| format!("{workload} has no Ready pod to delete"))?;
        pods.delete(&pod.name, &Default::default())
            .await
            .map_err(|e| format!("deleting pod {}: {e}", pod.name))?;
        Ok(pod)
    }

    async fn wait_recovered(
        &self,
        workload: &str,
        deleted: Option<&DeletedPod>,
        timeout: Duration,
    ) -> Result<(), String> {
        use futures::StreamExt;
        use k8s_openapi::api::core::v1::Pod;
        use kube::runtime::watcher;
        let (sel, replicas) = self.selector(workload).await?;
        let pods: kube::Api<Pod> = kube::Api::namespaced(self.client.clone(), &self.namespace);
        let mut state: std::collections::BTreeMap<String, bool> = Default::default();
        let stream = watcher(pods, watcher::Config::default().labels(&sel));
        let wait = async {
            futures::pin_mut!(stream);
            let mut init: std::collections::BTreeMap<String, bool> = Default::default();
            while let Some(ev) = stream.next().await {
                match ev.map_err(|e| e.to_string())? {
                    watcher::Event::Init => init.clear(),
                    watcher::Event::InitApply(p) => {
                        init.insert(p.metadata.uid.clone().unwrap_or_default(), pod_ready(&p));
                    }
                    watcher::Event::InitDone => state = std::mem::take(&mut init),
                    watcher::Event::Apply(p) => {
                        state.insert(p.metadata.uid.clone().unwrap_or_default(), pod_ready(&p));
                    }
                    watcher::Event::Delete(p) => {
                        state.remove(&p.metadata.uid.clone().unwrap_or_default());
                    }
                }
                let gone = deleted.is_none_or(|d| !state.contains_key(&d.uid));
                let ready = state.values().filter(|r| **r).count();
                if gone && ready as i32 >= replicas {
                    return Ok(());
                }
            }
            Err("the pod watch ended".to_string())
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| {
            format!(
                "{workload} did not have {replicas} Ready pod(s) within {} s{}",
                timeout.as_secs(),
                deleted
                    .map(|d| format!(" after deleting {d}"))
                    .unwrap_or_default()
            )
        })?
    }
}
