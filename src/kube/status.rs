//! Readiness of a release's objects by kstatus rules (Current / InProgress / Failed), as pure
//! functions over the objects' JSON. Beyond kstatus, pods and events are read for the failures
//! that will not heal by waiting (image pulls, crash loops, OOM kills, unschedulable pods, quota
//! denials), so a deploy can stop in seconds with the reason instead of at its timeout.

use serde::Serialize;
use serde_json::Value as J;

/// What went wrong, in the words a user searches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FailureKind {
    ImagePull,
    CrashLoop,
    OomKilled,
    Unschedulable,
    QuotaDenied,
    ProgressDeadlineExceeded,
    JobFailed,
    PodFailed,
    ConfigError,
    Stalled,
}

/// A failure that waiting will not fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// `Kind/name` of the object that failed (a pod, or the workload for controller failures).
    pub object: String,
    pub kind: FailureKind,
    /// The cluster's own words (waiting reason and message, scheduler message, quota message).
    pub message: String,
    /// The container concerned, when there is one (for fetching its logs).
    pub container: Option<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.container {
            Some(c) => write!(f, "{} (container {c}): {}", self.object, self.message),
            None => write!(f, "{}: {}", self.object, self.message),
        }
    }
}

/// kstatus's verdict on one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Health {
    Current,
    /// Not there yet, and why (shown on timeout).
    InProgress(String),
    Failed(Failure),
}

fn s<'a>(v: &'a J, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(J::as_str).unwrap_or("")
}

fn i(v: &J, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(J::as_i64)
}

/// `Kind/name` of an object.
pub fn object_ref(obj: &J) -> String {
    format!("{}/{}", s(obj, "/kind"), s(obj, "/metadata/name"))
}

fn condition<'a>(obj: &'a J, type_: &str) -> Option<&'a J> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(J::as_str) == Some(type_))
}

fn cond_is(obj: &J, type_: &str, status: &str) -> bool {
    condition(obj, type_).is_some_and(|c| c.get("status").and_then(J::as_str) == Some(status))
}

fn failed(obj: &J, kind: FailureKind, message: String, container: Option<String>) -> Health {
    Health::Failed(Failure {
        object: object_ref(obj),
        kind,
        message,
        container,
    })
}

fn generation_observed(obj: &J) -> Option<Health> {
    let gen = i(obj, "/metadata/generation")?;
    match i(obj, "/status/observedGeneration") {
        Some(o) if o >= gen => None,
        _ => Some(Health::InProgress(format!(
            "the controller has not yet observed generation {gen}"
        ))),
    }
}

/// The kstatus verdict on a release object (not a pod; see [`pod_health`]).
pub fn object_health(obj: &J) -> Health {
    match s(obj, "/kind") {
        "Deployment" => deployment_health(obj),
        "StatefulSet" => statefulset_health(obj),
        "DaemonSet" => daemonset_health(obj),
        "Job" => job_health(obj),
        "Pod" => pod_health(obj),
        "PersistentVolumeClaim" => {
            if s(obj, "/status/phase") == "Bound" {
                Health::Current
            } else {
                Health::InProgress("waiting for the claim to be bound".into())
            }
        }
        "Service" => {
            if s(obj, "/spec/type") == "LoadBalancer"
                && obj
                    .pointer("/status/loadBalancer/ingress")
                    .and_then(J::as_array)
                    .is_none_or(Vec::is_empty)
            {
                Health::InProgress("waiting for a load balancer address".into())
            } else {
                Health::Current
            }
        }
        _ => generic_health(obj),
    }
}

/// kstatus's rules for kinds it does not know: observedGeneration, then the standard
/// `Stalled`, `Reconciling` and `Ready` conditions, if the object has them.
fn generic_health(obj: &J) -> Health {
    if obj.pointer("/status/observedGeneration").is_some() {
        if let Some(h) = generation_observed(obj) {
            return h;
        }
    }
    if cond_is(obj, "Stalled", "True") {
        let msg = condition(obj, "Stalled")
            .map(|c| s(c, "/message").to_string())
            .unwrap_or_default();
        return failed(obj, FailureKind::Stalled, msg, None);
    }
    if cond_is(obj, "Reconciling", "True") {
        return Health::InProgress("reconciling".into());
    }
    if cond_is(obj, "Ready", "False") {
        let msg = condition(obj, "Ready")
            .map(|c| s(c, "/message"))
            .unwrap_or("");
        return Health::InProgress(format!("not ready: {msg}"));
    }
    Health::Current
}

fn deployment_health(obj: &J) -> Health {
    if let Some(h) = generation_observed(obj) {
        return h;
    }
    if let Some(c) = condition(obj, "Progressing") {
        if s(c, "/reason") == "ProgressDeadlineExceeded" {
            return failed(
                obj,
                FailureKind::ProgressDeadlineExceeded,
                format!("ProgressDeadlineExceeded: {}", s(c, "/message")),
                None,
            );
        }
    }
    if let Some(c) = condition(obj, "ReplicaFailure") {
        if s(c, "/status") == "True" {
            return failed(obj, FailureKind::QuotaDenied, replica_failure(c), None);
        }
    }
    let desired = i(obj, "/spec/replicas").unwrap_or(1);
    let updated = i(obj, "/status/updatedReplicas").unwrap_or(0);
    let ready = i(obj, "/status/readyReplicas").unwrap_or(0);
    let available = i(obj, "/status/availableReplicas").unwrap_or(0);
    let total = i(obj, "/status/replicas").unwrap_or(0);
    if updated < desired {
        return Health::InProgress(format!("{updated} of {desired} pods updated"));
    }
    if total > updated {
        return Health::InProgress(format!("{} old pods pending termination", total - updated));
    }
    if available < desired {
        return Health::InProgress(format!("{available} of {desired} pods available"));
    }
    if ready < desired {
        return Health::InProgress(format!("{ready} of {desired} pods ready"));
    }
    Health::Current
}

fn replica_failure(c: &J) -> String {
    format!("{}: {}", s(c, "/reason"), s(c, "/message"))
}

fn statefulset_health(obj: &J) -> Health {
    if let Some(h) = generation_observed(obj) {
        return h;
    }
    let desired = i(obj, "/spec/replicas").unwrap_or(1);
    let ready = i(obj, "/status/readyReplicas").unwrap_or(0);
    let updated = i(obj, "/status/updatedReplicas").unwrap_or(0);
    let current_rev = s(obj, "/status/currentRevision");
    let update_rev = s(obj, "/status/updateRevision");
    let on_delete = s(obj, "/spec/updateStrategy/type") == "OnDelete";
    if !on_delete && updated < desired {
        return Health::InProgress(format!("{updated} of {desired} pods updated"));
    }
    if ready < desired {
        return Health::InProgress(format!("{ready} of {desired} pods ready"));
    }
    if !on_delete && !update_rev.is_empty() && current_rev != update_rev {
        return Health::InProgress(format!("rolling out revision {update_rev}"));
    }
    Health::Current
}

fn daemonset_health(obj: &J) -> Health {
    if let Some(h) = generation_observed(obj) {
        return h;
    }
    let desired = i(obj, "/status/desiredNumberScheduled").unwrap_or(0);
    let ready = i(obj, "/status/numberReady").unwrap_or(0);
    let updated = i(obj, "/status/updatedNumberScheduled").unwrap_or(0);
    if updated < desired || ready < desired {
        return Health::InProgress(format!("{ready} of {desired} pods ready"));
    }
    Health::Current
}

fn job_health(obj: &J) -> Health {
    if let Some(c) = condition(obj, "Failed") {
        if s(c, "/status") == "True" {
            return failed(
                obj,
                FailureKind::JobFailed,
                format!("{}: {}", s(c, "/reason"), s(c, "/message")),
                None,
            );
        }
    }
    if cond_is(obj, "Complete", "True") {
        return Health::Current;
    }
    let succeeded = i(obj, "/status/succeeded").unwrap_or(0);
    let completions = i(obj, "/spec/completions").unwrap_or(1);
    Health::InProgress(format!("{succeeded} of {completions} completions"))
}

const IMAGE_PULL_REASONS: &[&str] = &[
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
];
const CONFIG_REASONS: &[&str] = &["CreateContainerConfigError", "CreateContainerError"];

/// A pod's verdict, failing fast on what waiting will not fix.
pub fn pod_health(pod: &J) -> Health {
    match s(pod, "/status/phase") {
        "Succeeded" => return Health::Current,
        "Failed" => {
            let reason = s(pod, "/status/reason");
            let message = s(pod, "/status/message");
            return failed(
                pod,
                FailureKind::PodFailed,
                format!("pod failed: {reason} {message}").trim().to_string(),
                None,
            );
        }
        _ => {}
    }
    if let Some(c) = condition(pod, "PodScheduled") {
        if s(c, "/status") == "False" && s(c, "/reason") == "Unschedulable" {
            return failed(
                pod,
                FailureKind::Unschedulable,
                format!("Unschedulable: {}", s(c, "/message")),
                None,
            );
        }
    }
    let statuses = ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(J::as_array))
        .flatten();
    for cs in statuses {
        let name = s(cs, "/name").to_string();
        let reason = s(cs, "/state/waiting/reason");
        let message = s(cs, "/state/waiting/message");
        let last_reason = s(cs, "/lastState/terminated/reason");
        let this_reason = s(cs, "/state/terminated/reason");
        if last_reason == "OOMKilled" || this_reason == "OOMKilled" {
            return failed(
                pod,
                FailureKind::OomKilled,
                "OOMKilled: the container used more memory than its limit; raise resources.limits.memory".into(),
                Some(name),
            );
        }
        if IMAGE_PULL_REASONS.contains(&reason) {
            let image = s(cs, "/image");
            return failed(
                pod,
                FailureKind::ImagePull,
                format!("{reason} for image {image}: {message}")
                    .trim_end_matches(": ")
                    .to_string(),
                Some(name),
            );
        }
        if reason == "CrashLoopBackOff" {
            let code = i(cs, "/lastState/terminated/exitCode")
                .map(|c| format!(" (last exit code {c})"))
                .unwrap_or_default();
            return failed(
                pod,
                FailureKind::CrashLoop,
                format!("CrashLoopBackOff{code}: {message}")
                    .trim_end_matches(": ")
                    .to_string(),
                Some(name),
            );
        }
        if CONFIG_REASONS.contains(&reason) {
            return failed(
                pod,
                FailureKind::ConfigError,
                format!("{reason}: {message}"),
                Some(name),
            );
        }
    }
    if cond_is(pod, "Ready", "True") {
        return Health::Current;
    }
    let phase = s(pod, "/status/phase");
    let waiting: Vec<String> = pod
        .pointer("/status/containerStatuses")
        .and_then(J::as_array)
        .into_iter()
        .flatten()
        .filter_map(|cs| {
            let r = s(cs, "/state/waiting/reason");
            (!r.is_empty()).then(|| format!("{}: {r}", s(cs, "/name")))
        })
        .collect();
    if waiting.is_empty() {
        Health::InProgress(format!(
            "pod {}",
            if phase.is_empty() { "Pending" } else { phase }
        ))
    } else {
        Health::InProgress(format!("pod {phase}, {}", waiting.join(", ")))
    }
}

/// A Warning event that means pods cannot be created (quota, LimitRange, admission), as a
/// failure of the object it names.
pub fn event_failure(event: &J) -> Option<Failure> {
    if s(event, "/type") != "Warning" || s(event, "/reason") != "FailedCreate" {
        return None;
    }
    let msg = s(event, "/message");
    let denial = [
        "exceeded quota",
        "forbidden",
        "LimitRange",
        "maximum",
        "minimum",
    ];
    if !denial.iter().any(|d| msg.contains(d)) {
        return None;
    }
    Some(Failure {
        object: format!(
            "{}/{}",
            s(event, "/involvedObject/kind"),
            s(event, "/involvedObject/name")
        ),
        kind: FailureKind::QuotaDenied,
        message: format!("FailedCreate: {msg}"),
        container: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(text: &str) -> J {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn deployment_progresses_to_current() {
        let d = y(r#"
kind: Deployment
metadata: {name: api, generation: 2}
spec: {replicas: 2}
status: {observedGeneration: 1}
"#);
        assert!(matches!(object_health(&d), Health::InProgress(m) if m.contains("generation 2")));
        let d = y(r#"
kind: Deployment
metadata: {name: api, generation: 2}
spec: {replicas: 2}
status: {observedGeneration: 2, replicas: 3, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2}
"#);
        assert_eq!(
            object_health(&d),
            Health::InProgress("1 old pods pending termination".into())
        );
        let d = y(r#"
kind: Deployment
metadata: {name: api, generation: 2}
spec: {replicas: 2}
status: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1}
"#);
        assert_eq!(
            object_health(&d),
            Health::InProgress("1 of 2 pods available".into())
        );
        let d = y(r#"
kind: Deployment
metadata: {name: api, generation: 2}
spec: {replicas: 2}
status: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2}
"#);
        assert_eq!(object_health(&d), Health::Current);
    }

    #[test]
    fn deployment_deadline_and_quota_fail() {
        let d = y(r#"
kind: Deployment
metadata: {name: api, generation: 1}
spec: {replicas: 2}
status:
  observedGeneration: 1
  conditions:
    - {type: Progressing, status: "False", reason: ProgressDeadlineExceeded, message: 'ReplicaSet "api-5d" has timed out progressing.'}
"#);
        let Health::Failed(f) = object_health(&d) else {
            panic!()
        };
        assert_eq!(f.kind, FailureKind::ProgressDeadlineExceeded);
        assert_eq!(f.object, "Deployment/api");
        let d = y(r#"
kind: Deployment
metadata: {name: api, generation: 1}
spec: {replicas: 2}
status:
  observedGeneration: 1
  conditions:
    - {type: ReplicaFailure, status: "True", reason: FailedCreate, message: 'pods "api-5d-x" is forbidden: exceeded quota: q, requested: limits.memory=512Mi'}
"#);
        let Health::Failed(f) = object_health(&d) else {
            panic!()
        };
        assert_eq!(f.kind, FailureKind::QuotaDenied);
        assert!(f.message.contains("exceeded quota"));
    }

    #[test]
    fn pods_fail_fast_with_reasons() {
        let p = y(r#"
kind: Pod
metadata: {name: api-1}
status:
  phase: Pending
  containerStatuses:
    - name: api
      image: todo/api:v2
      state: {waiting: {reason: ImagePullBackOff, message: 'Back-off pulling image "todo/api:v2"'}}
"#);
        let Health::Failed(f) = pod_health(&p) else {
            panic!()
        };
        assert_eq!(f.kind, FailureKind::ImagePull);
        assert_eq!(f.container.as_deref(), Some("api"));
        assert!(f.message.contains("todo/api:v2"));

        let p = y(r#"
kind: Pod
metadata: {name: api-1}
status:
  phase: Running
  containerStatuses:
    - name: api
      state: {waiting: {reason: CrashLoopBackOff, message: back-off 10s}}
      lastState: {terminated: {exitCode: 3, reason: Error}}
"#);
        let Health::Failed(f) = pod_health(&p) else {
            panic!()
        };
        assert_eq!(f.kind, FailureKind::CrashLoop);
        assert!(f.message.contains("exit code 3"), "{}", f.message);

        let p = y(r#"
kind: Pod
metadata: {name: api-1}
status:
  phase: Running
  containerStatuses:
    - name: api
      state: {running: {}}
      lastState: {terminated: {exitCode: 137, reason: OOMKilled}}
"#);
        let Health::Failed(f) = pod_health(&p) else {
            panic!()
        };
        assert_eq!(f.kind, FailureKind::OomKilled);

        let p = y(r#"
kind: Pod
metadata: {name: api-1}
status:
  phase: Pending
  conditions:
    - {type: PodScheduled, status: "False", reason: Unschedulable, message: '0/1 nodes are available: 1 Insufficient memory.'}
"#);
        let Health::Failed(f) = pod_health(&p) else {
            panic!()
        };
        assert_eq!(f.kind, FailureKind::Unschedulable);
        assert!(f.message.contains("Insufficient memory"));
    }

    #[test]
    fn pods_in_progress_and_ready() {
        let p = y(r#"
kind: Pod
metadata: {name: api-1}
status:
  phase: Pending
  containerStatuses:
    - {name: api, state: {waiting: {reason: ContainerCreating}}}
"#);
        assert_eq!(
            pod_health(&p),
            Health::InProgress("pod Pending, api: ContainerCreating".into())
        );
        let p = y(r#"
kind: Pod
metadata: {name: api-1}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
  containerStatuses: [{name: api, state: {running: {}}}]
"#);
        assert_eq!(pod_health(&p), Health::Current);
    }

    #[test]
    fn statefulset_job_pvc_and_generic() {
        let ss = y(r#"
kind: StatefulSet
metadata: {name: db, generation: 1}
spec: {replicas: 1}
status: {observedGeneration: 1, readyReplicas: 1, updatedReplicas: 1, currentRevision: db-1, updateRevision: db-2}
"#);
        assert!(matches!(object_health(&ss), Health::InProgress(m) if m.contains("db-2")));
        let job = y(r#"
kind: Job
metadata: {name: migrate}
status:
  conditions: [{type: Failed, status: "True", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}]
"#);
        assert!(
            matches!(object_health(&job), Health::Failed(f) if f.kind == FailureKind::JobFailed)
        );
        let pvc = y("kind: PersistentVolumeClaim\nmetadata: {name: d}\nstatus: {phase: Pending}\n");
        assert!(matches!(object_health(&pvc), Health::InProgress(_)));
        let cm = y("kind: ConfigMap\nmetadata: {name: c}\n");
        assert_eq!(object_health(&cm), Health::Current);
        let cr = y(r#"
kind: KongPlugin
metadata: {name: p, generation: 1}
status: {observedGeneration: 1, conditions: [{type: Ready, status: "False", message: invalid}]}
"#);
        assert!(matches!(object_health(&cr), Health::InProgress(_)));
    }

    #[test]
    fn quota_events_become_failures() {
        let e = y(r#"
kind: Event
type: Warning
reason: FailedCreate
involvedObject: {kind: ReplicaSet, name: todo-api-5d}
message: 'Error creating: pods "todo-api-5d-x" is forbidden: exceeded quota: todo, requested: pods=1'
"#);
        let f = event_failure(&e).unwrap();
        assert_eq!(f.object, "ReplicaSet/todo-api-5d");
        assert_eq!(f.kind, FailureKind::QuotaDenied);
        let e = y("kind: Event\ntype: Normal\nreason: Scheduled\nmessage: ok\n");
        assert!(event_failure(&e).is_none());
    }
}
