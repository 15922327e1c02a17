//! Waiting for a release to become ready, driven by watches (workloads, pods, events) that
//! kube-rs re-establishes when they drop. The verdict over what the watches have seen is a pure
//! function ([`evaluate`]); the loop around it only feeds it and reports progress.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, LogParams};
use kube::discovery::ApiResource;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use serde_json::Value as J;
use tokio_util::sync::CancellationToken;

use super::apply::{COMPONENT_LABEL, INSTANCE_LABEL, RELEASE_LABEL};
use super::status::{event_failure, object_health, pod_health, Failure, Health};
use super::KubeError;

/// Kinds whose readiness is waited for (everything else is ready once applied).
pub const WORKLOAD_KINDS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet", "Job"];

/// What the watches have seen.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// Workloads by `Kind/name`.
    pub workloads: BTreeMap<String, J>,
    /// Pods by name.
    pub pods: BTreeMap<String, J>,
    /// Warning events by uid (or name).
    pub events: BTreeMap<String, J>,
}

/// The verdict on a release.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Ready,
    Failed(Failure),
    /// Not ready yet: `Kind/name` and why.
    Pending(Vec<(String, String)>),
}

fn created_at(obj: &J) -> Option<Timestamp> {
    obj.pointer("/metadata/creationTimestamp")
        .and_then(J::as_str)
        .and_then(|s| s.parse().ok())
}

fn event_time(e: &J) -> Option<Timestamp> {
    [
        "/lastTimestamp",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .filter_map(|p| e.pointer(p).and_then(J::as_str))
    .find_map(|s| s.parse().ok())
}

/// Whether a pod or event is from this deploy (created at or after `since`, to the second).
fn is_recent(t: Option<Timestamp>, since: Timestamp) -> bool {
    t.is_none_or(|t| t.as_second() >= since.as_second())
}

/// The verdict over what was seen: a failure of any expected workload, of any pod created
/// since the deploy began, or a quota/LimitRange denial event for a workload, wins; then every
/// expected workload must be Current.
pub fn evaluate(seen: &Observed, expected: &[String], since: Timestamp) -> Verdict {
    evaluate_with(seen, expected, since, true)
}

/// [`evaluate`], optionally treating quota denials as not-yet-ready instead of failures: while
/// a rollback restores the previous revision, the failed revision's ReplicaSet keeps reporting
/// the denial until it is scaled down, and the restored pods get the quota it frees.
pub fn evaluate_with(
    seen: &Observed,
    expected: &[String],
    since: Timestamp,
    quota_fails: bool,
) -> Verdict {
    let denial = |f: &Failure| !quota_fails && f.kind == super::status::FailureKind::QuotaDenied;
    for key in expected {
        if let Some(obj) = seen.workloads.get(key) {
            if let Health::Failed(f) = object_health(obj) {
                if !denial(&f) {
                    return Verdict::Failed(f);
                }
            }
        }
    }
    for pod in seen.pods.values() {
        if pod.pointer("/metadata/deletionTimestamp").is_some()
            || !is_recent(created_at(pod), since)
        {
            continue;
        }
        if let Health::Failed(f) = pod_health(pod) {
            return Verdict::Failed(f);
        }
    }
    let names: Vec<&str> = expected
        .iter()
        .filter_map(|k| k.split_once('/').map(|(_, n)| n))
        .collect();
    for e in seen.events.values() {
        if !is_recent(event_time(e), since) {
            continue;
        }
        let Some(f) = event_failure(e) else { continue };
        if denial(&f) {
            continue;
        }
        let target = f.object.split_once('/').map(|(_, n)| n).unwrap_or("");
        // ReplicaSets are named `<deployment>-<hash>`.
        if names
            .iter()
            .any(|n| target == *n || target.strip_prefix(n).is_some_and(|r| r.starts_with('-')))
        {
            return Verdict::Failed(f);
        }
    }
    let mut pending = Vec::new();
    for key in expected {
        match seen.workloads.get(key).map(object_health) {
            None => pending.push((key.clone(), "not seen in the cluster yet".to_string())),
            Some(Health::Failed(f)) => pending.push((key.clone(), f.message)),
            Some(Health::InProgress(why)) => {
                let pods = pod_reasons(seen, key, since);
                let why = if pods.is_empty() {
                    why
                } else {
                    format!("{why}; {pods}")
                };
                pending.push((key.clone(), why));
            }
            Some(_) => {}
        }
    }
    if pending.is_empty() {
        Verdict::Ready
    } else {
        Verdict::Pending(pending)
    }
}

/// Why the pods of a workload are not ready yet, for timeout messages.
fn pod_reasons(seen: &Observed, key: &str, since: Timestamp) -> String {
    let Some(obj) = seen.workloads.get(key) else {
        return String::new();
    };
    let component = obj
        .pointer(&format!(
            "/metadata/labels/{}",
            COMPONENT_LABEL.replace('/', "~1")
        ))
        .and_then(J::as_str);
    let mut out = Vec::new();
    for (name, pod) in &seen.pods {
        let pc = pod
            .pointer(&format!(
                "/metadata/labels/{}",
                COMPONENT_LABEL.replace('/', "~1")
            ))
            .and_then(J::as_str);
        if pc != component || component.is_none() || !is_recent(created_at(pod), since) {
            continue;
        }
        if let Health::InProgress(why) = pod_health(pod) {
            out.push(format!("pod {name}: {why}"));
        }
    }
    out.join("; ")
}

/// Per-component `ready/desired` from the workloads seen.
pub fn component_progress(seen: &Observed) -> BTreeMap<String, (i64, i64)> {
    let mut out = BTreeMap::new();
    for obj in seen.workloads.values() {
        let comp = obj
            .pointer(&format!(
                "/metadata/labels/{}",
                COMPONENT_LABEL.replace('/', "~1")
            ))
            .and_then(J::as_str)
            .unwrap_or_else(|| {
                obj.pointer("/metadata/name")
                    .and_then(J::as_str)
                    .unwrap_or("")
            });
        let desired = obj
            .pointer("/spec/replicas")
            .and_then(J::as_i64)
            .unwrap_or(1);
        let ready = obj
            .pointer("/status/readyReplicas")
            .and_then(J::as_i64)
            .unwrap_or(0);
        let e = out.entry(comp.to_string()).or_insert((0, 0));
        e.0 += ready;
        e.1 += desired;
    }
    out
}

/// How a wait ended.
#[derive(Debug, Clone)]
pub enum WaitOutcome {
    Ready,
    /// Failed fast; `logs` are the container's last lines for crash loops.
    Failed {
        failure: Failure,
        logs: Option<String>,
    },
    /// Still not ready at the deadline: `Kind/name` and why.
    TimedOut(Vec<(String, String)>),
    Interrupted,
}

/// Progress while waiting.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitProgress {
    /// A component's ready and desired pods.
    Component {
        name: String,
        ready: i64,
        desired: i64,
    },
    /// A watch failed and is being re-established.
    WatchRetry(String),
}

enum Seen {
    Workload(Event<DynamicObject>),
    Pod(Event<DynamicObject>),
    Event(Event<DynamicObject>),
    Error(String),
}

fn stream_of(
    client: &kube::Client,
    ns: &str,
    ar: ApiResource,
    selector: Option<String>,
    wrap: fn(Event<DynamicObject>) -> Seen,
) -> std::pin::Pin<Box<dyn Stream<Item = Seen> + Send>> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let mut cfg = watcher::Config::default();
    if let Some(s) = selector {
        cfg = cfg.labels(&s);
    }
    let kind = ar.kind.clone();
    Box::pin(
        watcher::watcher(api, cfg)
            .default_backoff()
            .map(move |r| match r {
                Ok(ev) => wrap(fix_kind(ev, &ar)),
                Err(e) => Seen::Error(format!("watching {kind}: {e}")),
            }),
    )
}

/// Watch events of lists and some servers leave out apiVersion/kind: put them back.
fn fix_kind(ev: Event<DynamicObject>, ar: &ApiResource) -> Event<DynamicObject> {
    let fix = |mut o: DynamicObject| {
        if o.types.is_none() {
            o.types = Some(kube::core::TypeMeta {
                api_version: ar.api_version.clone(),
                kind: ar.kind.clone(),
            });
        }
        o
    };
    match ev {
        Event::Apply(o) => Event::Apply(fix(o)),
        Event::InitApply(o) => Event::InitApply(fix(o)),
        Event::Delete(o) => Event::Delete(fix(o)),
        other => other,
    }
}

fn to_json(o: &DynamicObject) -> J {
    serde_json::to_value(o).unwrap_or(J::Null)
}

fn key_of(o: &J) -> String {
    super::status::object_ref(o)
}

fn update(map: &mut BTreeMap<String, J>, ev: Event<DynamicObject>, key: fn(&J) -> String) {
    match ev {
        Event::Init => map.clear(),
        Event::InitDone => {}
        Event::Apply(o) | Event::InitApply(o) => {
            let j = to_json(&o);
            map.insert(key(&j), j);
        }
        Event::Delete(o) => {
            let j = to_json(&o);
            map.remove(&key(&j));
        }
    }
}

fn pod_key(o: &J) -> String {
    o.pointer("/metadata/name")
        .and_then(J::as_str)
        .unwrap_or("")
        .to_string()
}

fn event_key(o: &J) -> String {
    o.pointer("/metadata/uid")
        .or_else(|| o.pointer("/metadata/name"))
        .and_then(J::as_str)
        .unwrap_or("")
        .to_string()
}

/// What to wait for.
#[derive(Debug, Clone)]
pub struct WaitFor {
    pub namespace: String,
    pub release: String,
    /// `Kind/name` of the workloads that must become Current.
    pub workloads: Vec<String>,
    /// Pods and events older than this are not this deploy's.
    pub since: Timestamp,
    pub timeout: Duration,
    /// Whether a quota denial fails the wait (false while restoring a previous revision).
    pub quota_fails: bool,
}

/// Watches until the release is ready, fails, times out, or is interrupted.
pub async fn wait_ready(
    client: &kube::Client,
    spec: &WaitFor,
    interrupt: &CancellationToken,
    progress: &mut (dyn FnMut(WaitProgress) + Send),
) -> Result<WaitOutcome, KubeError> {
    if spec.workloads.is_empty() {
        return Ok(WaitOutcome::Ready);
    }
    let ns = spec.namespace.as_str();
    let mut streams = Vec::new();
    let kinds: Vec<&str> = WORKLOAD_KINDS
        .iter()
        .copied()
        .filter(|k| {
            spec.workloads
                .iter()
                .any(|w| w.starts_with(&format!("{k}/")))
        })
        .collect();
    let sel = format!("{RELEASE_LABEL}={}", spec.release);
    for kind in kinds {
        let ar = match kind {
            "Deployment" => ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&()),
            "StatefulSet" => ApiResource::erase::<k8s_openapi::api::apps::v1::StatefulSet>(&()),
            "DaemonSet" => ApiResource::erase::<k8s_openapi::api::apps::v1::DaemonSet>(&()),
            _ => ApiResource::erase::<k8s_openapi::api::batch::v1::Job>(&()),
        };
        streams.push(stream_of(client, ns, ar, Some(sel.clone()), Seen::Workload));
    }
    streams.push(stream_of(
        client,
        ns,
        ApiResource::erase::<Pod>(&()),
        Some(format!("{INSTANCE_LABEL}={}", spec.release)),
        Seen::Pod,
    ));
    streams.push(stream_of(
        client,
        ns,
        ApiResource::erase::<k8s_openapi::api::core::v1::Event>(&()),
        None,
        Seen::Event,
    ));
    let mut all = futures::stream::select_all(streams);
    let mut seen = Observed::default();
    let mut last_progress = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + spec.timeout;
    loop {
        let item = tokio::select! {
            biased;
            _ = interrupt.cancelled() => return Ok(WaitOutcome::Interrupted),
            _ = tokio::time::sleep_until(deadline) => {
                let pending = match evaluate_with(&seen, &spec.workloads, spec.since, spec.quota_fails) {
                    Verdict::Pending(p) => p,
                    Verdict::Ready => return Ok(WaitOutcome::Ready),
                    Verdict::Failed(f) => return Ok(failed_with_logs(client, ns, f).await),
                };
                return Ok(WaitOutcome::TimedOut(pending));
            }
            item = all.next() => item,
        };
        let Some(item) = item else {
            return Err(KubeError::Other("every watch of the release ended".into()));
        };
        match item {
            Seen::Workload(ev) => update(&mut seen.workloads, ev, key_of),
            Seen::Pod(ev) => update(&mut seen.pods, ev, pod_key),
            Seen::Event(ev) => {
                update(&mut seen.events, ev, event_key);
                seen.events
                    .retain(|_, e| e.get("type").and_then(J::as_str) == Some("Warning"));
            }
            Seen::Error(e) => {
                progress(WaitProgress::WatchRetry(e));
                continue;
            }
        }
        let now = component_progress(&seen);
        for (name, (ready, desired)) in &now {
            if last_progress.get(name) != Some(&(*ready, *desired)) {
                progress(WaitProgress::Component {
                    name: name.clone(),
                    ready: *ready,
                    desired: *desired,
                });
            }
        }
        last_progress = now;
        match evaluate_with(&seen, &spec.workloads, spec.since, spec.quota_fails) {
            Verdict::Ready => return Ok(WaitOutcome::Ready),
            Verdict::Failed(f) => return Ok(failed_with_logs(client, ns, f).await),
            Verdict::Pending(_) => {}
        }
    }
}

async fn failed_with_logs(client: &kube::Client, ns: &str, failure: Failure) -> WaitOutcome {
    let logs = match (&failure.kind, &failure.container) {
        (
            super::status::FailureKind::CrashLoop | super::status::FailureKind::OomKilled,
            Some(c),
        ) => {
            let pod = failure.object.trim_start_matches("Pod/");
            last_log_lines(client, ns, pod, c, 20).await
        }
        _ => None,
    };
    WaitOutcome::Failed { failure, logs }
}

/// The last lines a container printed (its previous run first, as crash loops need).
pub async fn last_log_lines(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    container: &str,
    lines: i64,
) -> Option<String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    for previous in [true, false] {
        let lp = LogParams {
            container: Some(container.to_string()),
            previous,
            tail_lines: Some(lines),
            ..Default::default()
        };
        let fetch = tokio::time::timeout(Duration::from_secs(3), api.logs(pod, &lp));
        if let Ok(Ok(text)) = fetch.await {
            if !text.trim().is_empty() {
                return Some(text);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(t: &str) -> J {
        serde_yaml::from_str(t).unwrap()
    }

    fn since() -> Timestamp {
        "2026-01-01T00:00:10Z".parse().unwrap()
    }

    fn ready_deploy() -> J {
        y(r#"
kind: Deployment
metadata: {name: api, generation: 1, labels: {app.kubernetes.io/component: api}}
spec: {replicas: 2}
status: {observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2}
"#)
    }

    #[test]
    fn ready_when_every_workload_is_current() {
        let mut seen = Observed::default();
        let expected = vec!["Deployment/api".to_string()];
        assert!(
            matches!(evaluate(&seen, &expected, since()), Verdict::Pending(p) if p[0].1.contains("not seen"))
        );
        seen.workloads
            .insert("Deployment/api".into(), ready_deploy());
        assert_eq!(evaluate(&seen, &expected, since()), Verdict::Ready);
        assert_eq!(component_progress(&seen)["api"], (2, 2));
    }

    #[test]
    fn old_pods_do_not_fail_a_new_deploy() {
        let mut seen = Observed::default();
        seen.workloads
            .insert("Deployment/api".into(), ready_deploy());
        let crash = |created: &str| {
            y(&format!(
                r#"
kind: Pod
metadata: {{name: api-1, creationTimestamp: "{created}", labels: {{app.kubernetes.io/component: api}}}}
status:
  phase: Running
  containerStatuses: [{{name: api, state: {{waiting: {{reason: CrashLoopBackOff}}}}}}]
"#
            ))
        };
        seen.pods
            .insert("api-1".into(), crash("2026-01-01T00:00:05Z"));
        let expected = vec!["Deployment/api".to_string()];
        assert_eq!(evaluate(&seen, &expected, since()), Verdict::Ready);
        seen.pods
            .insert("api-1".into(), crash("2026-01-01T00:00:10Z"));
        assert!(
            matches!(evaluate(&seen, &expected, since()), Verdict::Failed(f) if f.object == "Pod/api-1")
        );
    }

    #[test]
    fn quota_event_of_a_replicaset_fails_its_deployment() {
        let mut seen = Observed::default();
        let mut d = ready_deploy();
        d["status"]["readyReplicas"] = 0.into();
        d["status"]["availableReplicas"] = 0.into();
        seen.workloads.insert("Deployment/api".into(), d);
        seen.events.insert(
            "e1".into(),
            y(r#"
kind: Event
type: Warning
reason: FailedCreate
lastTimestamp: "2026-01-01T00:00:11Z"
involvedObject: {kind: ReplicaSet, name: api-7c9}
message: 'pods "api-7c9-x" is forbidden: exceeded quota: q'
"#),
        );
        let expected = vec!["Deployment/api".to_string()];
        assert!(
            matches!(evaluate(&seen, &expected, since()), Verdict::Failed(f) if f.message.contains("exceeded quota"))
        );
        // Another workload's events are not ours.
        let expected_other = vec!["Deployment/ap".to_string()];
        assert!(matches!(
            evaluate(&seen, &expected_other, since()),
            Verdict::Pending(_)
        ));
        // While restoring, a denial is a reason to wait, not a failure.
        assert!(matches!(
            evaluate_with(&seen, &expected, since(), false),
            Verdict::Pending(_)
        ));
    }

    #[test]
    fn pending_names_the_pods_and_why() {
        let mut seen = Observed::default();
        let mut d = ready_deploy();
        d["status"]["readyReplicas"] = 1.into();
        d["status"]["availableReplicas"] = 1.into();
        seen.workloads.insert("Deployment/api".into(), d);
        seen.pods.insert("api-2".into(), y(r#"
kind: Pod
metadata: {name: api-2, creationTimestamp: "2026-01-01T00:00:12Z", labels: {app.kubernetes.io/component: api}}
status: {phase: Running, conditions: [{type: Ready, status: "False"}]}
"#));
        let Verdict::Pending(p) = evaluate(&seen, &["Deployment/api".to_string()], since()) else {
            panic!()
        };
        assert_eq!(p[0].0, "Deployment/api");
        assert!(
            p[0].1.contains("1 of 2 pods available") && p[0].1.contains("pod api-2: pod Running"),
            "{}",
            p[0].1
        );
    }
}
