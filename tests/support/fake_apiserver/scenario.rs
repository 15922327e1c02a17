//! What the scenario controller does with workloads: failure modes chosen by image, by pod
//! labels or by owning workload, readiness delays, and the container logs pods start with.

use std::time::Duration;

use super::store::LabelSelector;

/// How the pods of a workload misbehave.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// `ErrImagePull`, then `ImagePullBackOff` (pod Pending, container waiting).
    ImagePull,
    /// The container exits 1 and restarts: `CrashLoopBackOff`, restartCount rising,
    /// lastState.terminated (reason Error), logs served from the container's lines.
    CrashLoop,
    /// Like CrashLoop, with lastState.terminated.reason `OOMKilled` (exit code 137).
    OomKilled,
    /// Pod Pending, PodScheduled False reason Unschedulable with this scheduler message.
    Unschedulable(String),
    /// The ReplicaSet/StatefulSet/Job cannot create pods: ReplicaFailure/FailedCreate with
    /// `pods "<name>" is forbidden: exceeded quota: <this>`.
    QuotaExceeded(String),
    /// Running but never Ready (readiness probe failing).
    NeverReady,
    /// Ready only after this delay.
    SlowReady(Duration),
    /// (Jobs) the pod exits 1; the Job retries up to backoffLimit, then Failed/BackoffLimitExceeded.
    JobFails,
}

impl Failure {
    /// Unschedulable with the scheduler's usual "Insufficient memory" message.
    pub fn unschedulable() -> Self {
        Failure::Unschedulable(
            "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.".into(),
        )
    }

    /// Quota exceeded on pods count against quota `quota`.
    pub fn quota(quota: &str) -> Self {
        Failure::QuotaExceeded(format!(
            "{quota}, requested: limits.memory=512Mi, used: limits.memory=1Gi, limited: limits.memory=1Gi"
        ))
    }
}

/// Which pods a failure rule applies to.
#[derive(Clone, Debug)]
pub enum Target {
    /// A container image containing this text.
    Image(String),
    /// Pods whose labels match this selector.
    Pods(String),
    /// Pods owned (directly or through a ReplicaSet) by the workload `namespace/name`.
    Workload(String, String),
}

/// One failure rule.
#[derive(Clone, Debug)]
pub struct FailureRule {
    pub target: Target,
    pub failure: Failure,
}

/// Scenario settings (mutate them through `FakeApiServer::scenario`).
#[derive(Clone, Debug)]
pub struct Scenario {
    pub rules: Vec<FailureRule>,
    /// Failures chosen by image name words (`crashloop`, `imagepull`/`doesnotexist`, `oom`,
    /// `unschedulable`, `quota`, `neverready`, `jobfail`); on by default.
    pub image_words: bool,
    /// Delay before a started container turns Ready (all pods).
    pub ready_delay: Duration,
    /// Time between crash restarts (doubles per restart, like the kubelet's back-off).
    pub crash_interval: Duration,
    /// Restarts stop being counted after this many (keeps event streams finite).
    pub max_restarts: u32,
    /// A Deployment not complete after this long gets Progressing=False/ProgressDeadlineExceeded
    /// (None: never; the real 600 s default never elapses in a test).
    pub progress_deadline: Option<Duration>,
    /// Lines every new container starts with, by image substring.
    pub image_logs: Vec<(String, Vec<String>)>,
    /// The controller stops acting (objects stay as written), as with a dead controller manager.
    pub paused: bool,
    /// Job pods run this long before completing.
    pub job_duration: Duration,
    /// How long a deleted namespace stays Terminating before its contents and itself go.
    pub namespace_termination: Duration,
    /// Deleted pods stay Terminating (deletionTimestamp set) this long; zero = removed at once.
    pub pod_termination: Duration,
    /// Simulate the External Secrets Operator (when its CRDs are installed); on by default.
    pub external_secrets_controller: bool,
    /// What the HPA `namespace/name` would recommend from metrics (before min/max clamping).
    pub hpa_wanted: Vec<(String, String, i64)>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            rules: vec![],
            image_words: true,
            ready_delay: Duration::ZERO,
            crash_interval: Duration::from_millis(100),
            max_restarts: 5,
            progress_deadline: None,
            image_logs: vec![],
            paused: false,
            job_duration: Duration::ZERO,
            hpa_wanted: vec![],
            external_secrets_controller: true,
            namespace_termination: Duration::ZERO,
            pod_termination: Duration::ZERO,
        }
    }
}

impl Scenario {
    /// Pods using an image containing `image` fail this way.
    pub fn fail_image(&mut self, image: &str, failure: Failure) -> &mut Self {
        self.rules.push(FailureRule {
            target: Target::Image(image.into()),
            failure,
        });
        self
    }

    /// Pods matching the label selector fail this way (e.g. `app.kubernetes.io/component=backend`).
    pub fn fail_pods(&mut self, selector: &str, failure: Failure) -> &mut Self {
        self.rules.push(FailureRule {
            target: Target::Pods(selector.into()),
            failure,
        });
        self
    }

    /// Pods of the workload (Deployment, StatefulSet, Job, ReplicaSet) `ns/name` fail this way.
    pub fn fail_workload(&mut self, ns: &str, name: &str, failure: Failure) -> &mut Self {
        self.rules.push(FailureRule {
            target: Target::Workload(ns.into(), name.into()),
            failure,
        });
        self
    }

    /// Removes every failure rule (later pods behave).
    pub fn clear_failures(&mut self) -> &mut Self {
        self.rules.clear();
        self
    }

    /// The HPA `ns/name` recommends `replicas` (as if load said so; clamped to min/max).
    pub fn hpa_recommends(&mut self, ns: &str, name: &str, replicas: i64) -> &mut Self {
        self.hpa_wanted.retain(|(n, m, _)| !(n == ns && m == name));
        self.hpa_wanted.push((ns.into(), name.into(), replicas));
        self
    }

    /// Containers of images containing `image` start with these log lines.
    pub fn image_logs(&mut self, image: &str, lines: &[&str]) -> &mut Self {
        self.image_logs
            .push((image.into(), lines.iter().map(|s| s.to_string()).collect()));
        self
    }

    /// The failure for a pod with these images, labels and owning workloads (`ns/name`).
    pub fn failure_for(
        &self,
        images: &[String],
        labels: &serde_json::Value,
        ns: &str,
        owners: &[String],
    ) -> Option<Failure> {
        for r in &self.rules {
            let hit = match &r.target {
                Target::Image(i) => images.iter().any(|im| im.contains(i.as_str())),
                Target::Pods(sel) => LabelSelector::parse(sel)
                    .map(|s| s.matches(labels))
                    .unwrap_or(false),
                Target::Workload(wns, name) => wns == ns && owners.iter().any(|o| o == name),
            };
            if hit {
                return Some(r.failure.clone());
            }
        }
        if self.image_words {
            for im in images {
                let l = im.to_lowercase();
                // Only the repository part decides (a registry host may contain anything).
                let repo = l.rsplit('/').next().unwrap_or(&l);
                if repo.contains("crashloop") {
                    return Some(Failure::CrashLoop);
                }
                if repo.contains("imagepull") || repo.contains("doesnotexist") {
                    return Some(Failure::ImagePull);
                }
                if repo.contains("oom") {
                    return Some(Failure::OomKilled);
                }
                if repo.contains("unschedulable") {
                    return Some(Failure::unschedulable());
                }
                if repo.contains("quota") {
                    return Some(Failure::quota("compute-quota"));
                }
                if repo.contains("neverready") {
                    return Some(Failure::NeverReady);
                }
                if repo.contains("jobfail") {
                    return Some(Failure::JobFails);
                }
            }
        }
        None
    }

    pub fn logs_for(&self, image: &str) -> Vec<String> {
        self.image_logs
            .iter()
            .filter(|(i, _)| image.contains(i.as_str()))
            .flat_map(|(_, l)| l.clone())
            .collect()
    }
}
