//! `doctor`: a health report with recommendations, computed from collected objects by rules
//! (no AI): failing or pending pods and why, restarts and OOM kills, containers without probes
//! or limits, HPAs pinned at their maximum, quota pressure, and the Kong Ingress Controller's
//! refusals of the release's gateway objects.

use serde::Serialize;
use serde_json::Value as J;

use super::manage::Collected;
use super::status::{pod_health, FailureKind, Health};

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One problem and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// `Kind/name`.
    pub object: String,
    pub problem: String,
    pub recommendation: String,
}

fn s<'a>(v: &'a J, p: &str) -> &'a str {
    v.pointer(p).and_then(J::as_str).unwrap_or("")
}

/// Restarts from which a container counts as unstable.
pub const RESTART_WARNING: i64 = 3;
/// Used/hard ratio from which a quota counts as under pressure.
pub const QUOTA_PRESSURE: f64 = 0.8;

/// A Kubernetes quantity as a number (cores, bytes, counts).
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let suffixes: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suf, mult) in suffixes {
        if let Some(n) = q.strip_suffix(suf) {
            return n.parse::<f64>().ok().map(|x| x * mult);
        }
    }
    q.parse().ok()
}

fn recommendation(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::ImagePull => "check the image name and tag, that it was pushed or loaded into the cluster (kind load / the local registry), and imagePullSecrets for private registries",
        FailureKind::CrashLoop => "read the crash with `kubectl justpush logs --component <name>`; usual causes are a missing environment variable or secret, a wrong port, or a failing database connection",
        FailureKind::OomKilled => "raise components.<name>.resources.limits.memory (or reduce the app's memory use)",
        FailureKind::Unschedulable => "lower the resource requests, add nodes, or relax nodeSelector/affinity/tolerations",
        FailureKind::QuotaDenied => "raise quota.hard in the values, or lower the pods' requests/limits or replica counts",
        FailureKind::ProgressDeadlineExceeded => "look at the new pods' state (`kubectl justpush status`); roll back with `kubectl justpush rollback`",
        FailureKind::JobFailed | FailureKind::PodFailed => "read the pod's logs and exit code",
        FailureKind::ConfigError => "a referenced ConfigMap or Secret key is missing: check env and secretEnv",
        FailureKind::Stalled => "read the object's conditions with kubectl describe",
    }
}

/// The report over what was collected, most severe first.
pub fn diagnose(c: &Collected) -> Vec<Finding> {
    let mut out = Vec::new();
    pod_findings(&c.pods, &mut out);
    workload_findings(&c.workloads, &mut out);
    hpa_findings(&c.hpas, &mut out);
    quota_findings(&c.quotas, &mut out);
    out.extend(kong_rejections(
        &c.events,
        &c.release_objects,
        c.revision_since.as_deref(),
    ));
    out.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.object.cmp(&b.object)));
    out
}

/// Failed and pending pods, restarts, OOM kills.
fn pod_findings(pods: &[J], out: &mut Vec<Finding>) {
    for pod in pods {
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let name = format!("Pod/{}", s(pod, "/metadata/name"));
        match pod_health(pod) {
            Health::Failed(f) => out.push(Finding {
                severity: Severity::Critical,
                object: name.clone(),
                problem: f.message.clone(),
                recommendation: recommendation(f.kind).to_string(),
            }),
            Health::InProgress(why) if s(pod, "/status/phase") == "Pending" => out.push(Finding {
                severity: Severity::Warning,
                object: name.clone(),
                problem: format!("pending: {why}"),
                recommendation: "wait for scheduling and image pulls; if it stays pending, see its events (kubectl describe pod)".into(),
            }),
            _ => {}
        }
        for cs in pod
            .pointer("/status/containerStatuses")
            .and_then(J::as_array)
            .into_iter()
            .flatten()
        {
            let restarts = cs.get("restartCount").and_then(J::as_i64).unwrap_or(0);
            let oom = s(cs, "/lastState/terminated/reason") == "OOMKilled";
            if restarts >= RESTART_WARNING && !oom {
                out.push(Finding {
                    severity: Severity::Warning,
                    object: name.clone(),
                    problem: format!("container {} restarted {restarts} times", s(cs, "/name")),
                    recommendation: "read its previous logs (kubectl logs --previous) and check the liveness probe's timing".into(),
                });
            }
            if oom
                && !out
                    .iter()
                    .any(|f| f.object == name && f.problem.contains("OOM"))
            {
                out.push(Finding {
                    severity: Severity::Warning,
                    object: name.clone(),
                    problem: format!(
                        "container {} was OOM-killed ({restarts} restarts)",
                        s(cs, "/name")
                    ),
                    recommendation: recommendation(FailureKind::OomKilled).into(),
                });
            }
        }
    }
}

/// Containers without probes or limits.
fn workload_findings(workloads: &[J], out: &mut Vec<Finding>) {
    for w in workloads {
        let wref = format!("{}/{}", s(w, "/kind"), s(w, "/metadata/name"));
        for ct in w
            .pointer("/spec/template/spec/containers")
            .and_then(J::as_array)
            .into_iter()
            .flatten()
        {
            let cname = s(ct, "/name");
            let missing: Vec<&str> = ["readinessProbe", "livenessProbe"]
                .into_iter()
                .filter(|p| ct.get(*p).is_none())
                .collect();
            if !missing.is_empty() {
                out.push(Finding {
                    severity: Severity::Warning,
                    object: wref.clone(),
                    problem: format!("container {cname} has no {}", missing.join(" or ")),
                    recommendation:
                        "set healthPath to an endpoint that answers 200 when the app is ready"
                            .into(),
                });
            }
            if ct.pointer("/resources/limits/memory").is_none()
                || ct.pointer("/resources/limits/cpu").is_none()
            {
                out.push(Finding {
                    severity: Severity::Warning,
                    object: wref.clone(),
                    problem: format!("container {cname} has no CPU or memory limit"),
                    recommendation: "set resources.limits so one pod cannot starve the node (and the quota admits it)".into(),
                });
            }
        }
    }
}

/// HPAs pinned at their maximum.
fn hpa_findings(hpas: &[J], out: &mut Vec<Finding>) {
    for h in hpas {
        let max = h
            .pointer("/spec/maxReplicas")
            .and_then(J::as_i64)
            .unwrap_or(0);
        let cur = h
            .pointer("/status/currentReplicas")
            .and_then(J::as_i64)
            .unwrap_or(0);
        if max > 0 && cur >= max {
            out.push(Finding {
                severity: Severity::Warning,
                object: format!("HorizontalPodAutoscaler/{}", s(h, "/metadata/name")),
                problem: format!("pinned at its maximum of {max} replicas"),
                recommendation: "raise autoscaling.maxReplicas (within the quota) or make the app cheaper per request".into(),
            });
        }
    }
}

/// Quotas near or at their limits.
fn quota_findings(quotas: &[J], out: &mut Vec<Finding>) {
    for q in quotas {
        let Some(hard) = q.pointer("/status/hard").and_then(J::as_object) else {
            continue;
        };
        for (res, h) in hard {
            let used = q
                .pointer(&format!("/status/used/{}", res.replace('/', "~1")))
                .and_then(J::as_str)
                .and_then(parse_quantity);
            let (Some(used), Some(hv)) = (used, h.as_str().and_then(parse_quantity)) else {
                continue;
            };
            if hv > 0.0 && used / hv >= QUOTA_PRESSURE {
                out.push(Finding {
                    severity: if used >= hv { Severity::Critical } else { Severity::Warning },
                    object: format!("ResourceQuota/{}", s(q, "/metadata/name")),
                    problem: format!("{res}: {} of {} used ({:.0}%)", s(q, &format!("/status/used/{}", res.replace('/', "~1"))), h.as_str().unwrap_or(""), used / hv * 100.0),
                    recommendation: "raise quota.hard for this resource, or lower requests/replicas; new pods are refused at the limit".into(),
                });
            }
        }
    }
}

/// The reasons of the Events the Kong Ingress Controller puts on an object whose configuration
/// it could not translate, or that Kong refused.
pub const KONG_REJECTION_REASONS: [&str; 2] = [
    "KongConfigurationTranslationFailed",
    "KongConfigurationApplyFailed",
];

fn event_time(e: &J) -> Option<time::OffsetDateTime> {
    [
        "/lastTimestamp",
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| e.pointer(p).and_then(J::as_str))
    .and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    })
}

/// Kong's refusals of the release's own objects (`Kind/name`), newer than `since` (the current
/// revision's deploy: KIC does not clear old Events when a fix lands), one finding per object
/// and message. The route or plugin such an object carries is not in effect.
pub fn kong_rejections(events: &[J], objects: &[String], since: Option<&str>) -> Vec<Finding> {
    // Event times (lastTimestamp, firstTimestamp) have whole seconds: compare at that
    // precision, or a refusal in the deploy's first second would look older than it.
    let since = since.and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .ok()
            .and_then(|t| t.replace_nanosecond(0).ok())
    });
    let mut out: Vec<Finding> = Vec::new();
    for e in events {
        if !KONG_REJECTION_REASONS.contains(&s(e, "/reason")) {
            continue;
        }
        let object = format!(
            "{}/{}",
            s(e, "/involvedObject/kind"),
            s(e, "/involvedObject/name")
        );
        if !objects.contains(&object) {
            continue;
        }
        if let (Some(since), Some(at)) = (since, event_time(e)) {
            if at < since {
                continue;
            }
        }
        let problem = format!("Kong refused its configuration: {}", s(e, "/message"));
        if out
            .iter()
            .any(|f| f.object == object && f.problem == problem)
        {
            continue;
        }
        out.push(Finding {
            severity: Severity::Critical,
            object,
            problem,
            recommendation: "fix the route or plugin it defines (the OpenAPI spec's x-kong-* extensions or the kong values) and deploy again; until then Kong serves the last configuration it accepted".into(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(t: &str) -> J {
        serde_yaml::from_str(t).unwrap()
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("2Gi"), Some(2.0 * 1024f64.powi(3)));
        assert_eq!(parse_quantity("40"), Some(40.0));
        assert_eq!(parse_quantity("x"), None);
    }

    #[test]
    fn finds_problems_with_fixes() {
        let c = Collected {
            pods: vec![
                y(r#"
kind: Pod
metadata: {name: api-1}
status:
  phase: Running
  containerStatuses: [{name: api, restartCount: 5, state: {waiting: {reason: CrashLoopBackOff}}, lastState: {terminated: {exitCode: 1, reason: Error}}}]
"#),
                y(r#"
kind: Pod
metadata: {name: web-1}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
  containerStatuses: [{name: web, restartCount: 1, state: {running: {}}, lastState: {terminated: {exitCode: 137, reason: OOMKilled}}}]
"#),
            ],
            workloads: vec![y(r#"
kind: Deployment
metadata: {name: api}
spec: {template: {spec: {containers: [{name: api, readinessProbe: {}, resources: {limits: {cpu: "1"}}}]}}}
"#)],
            hpas: vec![y(r#"
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec: {maxReplicas: 5}
status: {currentReplicas: 5}
"#)],
            quotas: vec![y(r#"
kind: ResourceQuota
metadata: {name: q}
status: {hard: {pods: "10", limits.memory: 4Gi}, used: {pods: "9", limits.memory: 1Gi}}
"#)],
            ..Default::default()
        };
        let f = diagnose(&c);
        let text: Vec<String> = f
            .iter()
            .map(|x| format!("{} {} {}", x.severity.as_str(), x.object, x.problem))
            .collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("critical Pod/api-1") && t.contains("CrashLoopBackOff")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("Pod/api-1") && t.contains("restarted 5 times")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("Pod/web-1") && t.contains("OOM")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("no livenessProbe")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("no CPU or memory limit")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("pinned at its maximum of 5")),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.contains("pods: 9 of 10")), "{text:?}");
        assert!(
            !text
                .iter()
                .any(|t| t.contains("ResourceQuota") && t.contains("limits.memory")),
            "{text:?}"
        );
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(diagnose(&Collected::default()).is_empty());
    }

    #[test]
    fn kong_refusals_of_the_release_since_its_deploy_are_findings_once_each() {
        let ev = |reason: &str, kind: &str, name: &str, at: &str, msg: &str| {
            serde_json::json!({"reason": reason, "type": "Warning", "message": msg,
                "involvedObject": {"kind": kind, "name": name}, "lastTimestamp": at})
        };
        let events = vec![
            ev(
                "KongConfigurationApplyFailed",
                "KongPlugin",
                "todo-rl",
                "2026-12-01T10:00:05Z",
                "invalid config.minute: expected an integer",
            ),
            // The same refusal again (KIC repeats it every sync).
            ev(
                "KongConfigurationApplyFailed",
                "KongPlugin",
                "todo-rl",
                "2026-12-01T10:00:09Z",
                "invalid config.minute: expected an integer",
            ),
            ev(
                "KongConfigurationTranslationFailed",
                "Ingress",
                "todo-api",
                "2026-12-01T10:00:06Z",
                "service todo-api has no port 81",
            ),
            // Before this revision: fixed since.
            ev(
                "KongConfigurationApplyFailed",
                "Ingress",
                "todo-web",
                "2026-12-01T09:59:00Z",
                "old",
            ),
            // Not the release's object, and not a refusal.
            ev(
                "KongConfigurationApplyFailed",
                "Ingress",
                "other-app",
                "2026-12-01T10:00:07Z",
                "theirs",
            ),
            ev(
                "Sync",
                "Ingress",
                "todo-api",
                "2026-12-01T10:00:08Z",
                "synced",
            ),
        ];
        let objects: Vec<String> = ["KongPlugin/todo-rl", "Ingress/todo-api", "Ingress/todo-web"]
            .map(String::from)
            .to_vec();
        let f = kong_rejections(&events, &objects, Some("2026-12-01T10:00:00.5Z"));
        let got: Vec<(&str, &str)> = f
            .iter()
            .map(|x| (x.object.as_str(), x.problem.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "KongPlugin/todo-rl",
                    "Kong refused its configuration: invalid config.minute: expected an integer"
                ),
                (
                    "Ingress/todo-api",
                    "Kong refused its configuration: service todo-api has no port 81"
                ),
            ]
        );
        assert!(f.iter().all(|x| x.severity == Severity::Critical));
        // An event in the deploy's first second counts (event times have whole seconds).
        let same_second = [ev(
            "KongConfigurationApplyFailed",
            "Ingress",
            "todo-api",
            "2026-12-01T10:00:00Z",
            "x",
        )];
        assert_eq!(
            kong_rejections(&same_second, &objects, Some("2026-12-01T10:00:00.5Z")).len(),
            1
        );
        // Without a revision time every matching refusal counts.
        assert_eq!(kong_rejections(&events, &objects, None).len(), 3);
    }
}
