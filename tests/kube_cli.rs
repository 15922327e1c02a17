//! The cluster commands through the real binary: against the fake API server (a kubeconfig
//! pointing at it), and without a reachable cluster (each command fails, naming the kubeconfig
//! or the server).

#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use fake_apiserver::FakeApiServer;
use serde_json::Value;

const NS: &str = "shop";

/// The app both the CLI tests and the deploy scenarios deploy.
const APP: &str = include_str!("fixtures/apps/todo-justpush.yaml");

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"));
    c.env_remove("KUBECONFIG").env("NO_COLOR", "1");
    c
}

fn run(kubeconfig: &Path, args: &[&str], cwd: &Path) -> Output {
    bin()
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["-n", NS])
        .args(args)
        .current_dir(cwd)
        .env("API_TOKEN", "s3cret-token")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("justpush.yaml"), APP).unwrap();
    dir
}

fn deploy(kc: &Path, dir: &Path, api_image: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "deploy",
        ".",
        "--image",
        api_image,
        "--image",
        "web=todo/web:1",
        "--timeout",
        "30s",
    ];
    args.extend_from_slice(extra);
    run(kc, &args, dir)
}

fn api_deployment(server: &FakeApiServer) -> Value {
    server
        .objects_in("apps/v1", "Deployment", NS)
        .into_iter()
        .find(|d| d["metadata"]["name"].as_str().unwrap().ends_with("-api"))
        .expect("the api Deployment")
}

#[test]
fn deploy_status_history_and_delete_through_the_binary() {
    let server = FakeApiServer::start();
    let kc = server.kubeconfig_file();
    let dir = project();
    let o = deploy(kc.path(), dir.path(), "api=todo/api:1", &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("release todo revision 1 DEPLOYED in namespace shop"),
        "{}",
        text(&o)
    );
    assert!(out.contains("API key: kubectl get secret"), "{}", text(&o));
    // The secret's value reached the cluster but never the output or the record.
    assert!(!text(&o).contains("s3cret-token"));

    let o = run(kc.path(), &["status", "-o", "json"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["revision"], 1);
    assert_eq!(s["status"], "DEPLOYED");
    let comps: Vec<&str> = s["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(comps, vec!["api", "web"]);
    assert_eq!(s["components"][0]["ready"], 2);
    assert_eq!(s["components"][0]["pods"].as_array().unwrap().len(), 2);
    let o = run(kc.path(), &["status"], dir.path());
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("COMPONENT"),
        "{}",
        text(&o)
    );

    let o = deploy(kc.path(), dir.path(), "api=todo/api:2", &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(kc.path(), &["history"], dir.path());
    let h = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        h.contains("SUPERSEDED") && h.contains("DEPLOYED"),
        "{}",
        text(&o)
    );

    let o = run(kc.path(), &["delete"], dir.path());
    assert_eq!(
        o.status.code(),
        Some(2),
        "without --yes and no answer: {}",
        text(&o)
    );
    assert!(!server.objects_in("apps/v1", "Deployment", NS).is_empty());
    let o = run(kc.path(), &["delete", "--yes"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(server.objects_in("apps/v1", "Deployment", NS).is_empty());
}

#[test]
fn failed_deploy_through_the_binary_exits_1_with_the_reason() {
    let server = FakeApiServer::start();
    let kc = server.kubeconfig_file();
    let dir = project();
    let o = deploy(kc.path(), dir.path(), "api=todo/api-imagepull:1", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ImagePullBackOff") || err.contains("ErrImagePull"),
        "{}",
        text(&o)
    );
    assert!(err.contains("first install was removed"), "{}", text(&o));
}

#[test]
fn redeploy_with_changed_env_rolls_the_pods() {
    let server = FakeApiServer::start();
    let kc = server.kubeconfig_file();
    let dir = project();
    let o = deploy(kc.path(), dir.path(), "api=todo/api:1", &[]);
    assert!(o.status.success(), "{}", text(&o));
    let before = api_deployment(&server);
    let pods_before: Vec<String> = server
        .objects_in("v1", "Pod", NS)
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    let o = run(
        kc.path(),
        &["redeploy", "--component", "api", "--env", "LOG_LEVEL=debug"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let after = api_deployment(&server);
    let ann =
        |d: &Value| d["spec"]["template"]["metadata"]["annotations"]["checksum/config"].clone();
    assert_ne!(
        ann(&before),
        ann(&after),
        "the pod template changed, so pods roll"
    );
    let cm = server
        .objects_in("v1", "ConfigMap", NS)
        .into_iter()
        .find(|c| c["metadata"]["name"].as_str().unwrap().ends_with("-api"))
        .unwrap();
    assert_eq!(cm["data"]["LOG_LEVEL"], "debug");
    // The api's pods are new ones; the secret value was kept from the cluster.
    let api_pods: Vec<String> = server
        .objects_in("v1", "Pod", NS)
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/component"] == "api")
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(api_pods.len(), 2);
    assert!(
        api_pods.iter().all(|p| !pods_before.contains(p)),
        "{api_pods:?} {pods_before:?}"
    );
    let token = api_secret_value(&server, "API_TOKEN");
    assert_eq!(token, b"s3cret-token");
}

/// A value of the api component's Secret, decoded.
fn api_secret_value(server: &FakeApiServer, key: &str) -> Vec<u8> {
    let secret = server
        .objects_in("v1", "Secret", NS)
        .into_iter()
        .find(|s| s["metadata"]["name"].as_str().unwrap().ends_with("-api"))
        .expect("the api component's Secret");
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(secret["data"][key].as_str().unwrap())
        .unwrap()
}

#[test]
fn redeploy_secret_is_read_from_stdin_not_argv() {
    let server = FakeApiServer::start();
    let kc = server.kubeconfig_file();
    let dir = project();
    assert!(deploy(kc.path(), dir.path(), "api=todo/api:1", &[])
        .status
        .success());
    let mut child = bin()
        .arg("--kubeconfig")
        .arg(kc.path())
        .args([
            "-n",
            NS,
            "redeploy",
            "--component",
            "api",
            "--secret",
            "API_TOKEN",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"rotated-value\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("rotated-value"));
    let token = api_secret_value(&server, "API_TOKEN");
    assert_eq!(token, b"rotated-value");
}

#[test]
fn rollback_to_a_chosen_revision() {
    let server = FakeApiServer::start();
    let kc = server.kubeconfig_file();
    let dir = project();
    for img in ["api=todo/api:1", "api=todo/api:2", "api=todo/api:3"] {
        let o = deploy(kc.path(), dir.path(), img, &[]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let image = |s: &FakeApiServer| {
        api_deployment(s)["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(image(&server), "todo/api:3");
    let o = run(kc.path(), &["rollback", "1"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(image(&server), "todo/api:1");
    let o = run(kc.path(), &["history", "-o", "json"], dir.path());
    let h: Value = serde_json::from_slice(&o.stdout).unwrap();
    let st: Vec<(u64, String)> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["revision"].as_u64().unwrap(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        st,
        vec![
            (1, "SUPERSEDED".into()),
            (2, "SUPERSEDED".into()),
            (3, "ROLLED_BACK".into()),
            (4, "DEPLOYED".into())
        ]
    );
    assert!(h[3]["description"]
        .as_str()
        .unwrap()
        .contains("Rollback to 1"));
    // Without a revision: the last good one before the current (3 was rolled back from, so 2).
    let o = run(kc.path(), &["rollback"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(image(&server), "todo/api:2");
    let o = run(kc.path(), &["rollback", "9"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn scale_without_an_hpa_sets_replicas_and_reports_pods() {
    let server = FakeApiServer::start();
    let kc = server.kubeconfig_file();
    let dir = project();
    assert!(deploy(kc.path(), dir.path(), "api=todo/api:1", &[])
        .status
        .success());
    let o = run(kc.path(), &["scale", "api", "4"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(api_deployment(&server)["spec"]["replicas"], 4);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(out.matches("todo-justpush-api-").count(), 4, "{}", text(&o));
    assert!(out.contains("(revision 2)"), "{}", text(&o));
    // Scaling is a revision: a redeploy starts from it instead of undoing it.
    let o = run(
        kc.path(),
        &["redeploy", "--component", "api", "--env", "LOG_LEVEL=debug"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(api_deployment(&server)["spec"]["replicas"], 4);
    let o = run(kc.path(), &["scale", "nope", "2"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no component nope"));
}

#[test]
fn scale_with_an_hpa_raises_its_minimum() {
    let server = FakeApiServer::start();
    let kc = server.kubeconfig_file();
    let dir = project();
    let o = deploy(
        kc.path(),
        dir.path(),
        "api=todo/api:1",
        &["--set", "components.api.autoscaling.enabled=true"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(kc.path(), &["scale", "api", "3"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let hpa = server
        .objects_in("autoscaling/v2", "HorizontalPodAutoscaler", NS)
        .into_iter()
        .find(|h| h["metadata"]["name"].as_str().unwrap().ends_with("-api"))
        .unwrap();
    assert_eq!(hpa["spec"]["minReplicas"], 3);
    assert_eq!(hpa["spec"]["maxReplicas"], 5);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("minReplicas is now 3"),
        "{}",
        text(&o)
    );
}

#[test]
fn delete_leaves_only_pvcs() {
    let server = FakeApiServer::start();
    let kc = server.kubeconfig_file();
    let dir = project();
    let o = deploy(
        kc.path(),
        dir.path(),
        "api=todo/api:1",
        &[
            "--set",
            "database.enabled=true",
            "--set",
            "components.api.usesDatabase=true",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let pvcs_before = server.objects_in("v1", "PersistentVolumeClaim", NS).len();
    assert!(pvcs_before > 0, "the backup PVC at least");
    let o = run(kc.path(), &["delete", "--yes"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let left: Vec<(String, String)> = server
        .contents_of(NS)
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "Event" | "Pod" | "ReplicaSet"))
        .collect();
    assert!(
        left.iter().all(|(k, _)| k == "PersistentVolumeClaim"),
        "{left:?}"
    );
    assert_eq!(left.len(), pvcs_before);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("kept"),
        "{}",
        text(&o)
    );
    // Nothing running is left: pods are gone or going.
    assert!(server
        .objects_in("v1", "Pod", NS)
        .iter()
        .all(|p| p["metadata"]["deletionTimestamp"].is_string()));
}

#[test]
fn doctor_reports_and_logs_merge_pods() {
    let server = FakeApiServer::start();
    server.scenario(|s| {
        s.image_logs("todo/api", &["api started"]);
    });
    let kc = server.kubeconfig_file();
    let dir = project();
    assert!(deploy(kc.path(), dir.path(), "api=todo/api:1", &[])
        .status
        .success());
    let o = run(kc.path(), &["doctor", "-o", "json"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let f: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(f.is_array());
    let o = run(kc.path(), &["logs", "--component", "api"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("api started")).collect();
    assert_eq!(lines.len(), 2, "{}", text(&o));
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("api/todo-justpush-api-")),
        "{out}"
    );
}

/// The running pods of a component and their (only) container: `(pod, container)`.
fn component_pods(server: &FakeApiServer, component: &str) -> Vec<(String, String)> {
    let mut pods: Vec<(String, String)> = server
        .objects_in("v1", "Pod", NS)
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap()
                .contains(&format!("-{component}-"))
        })
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["spec"]["containers"][0]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    pods.sort();
    pods
}

/// The lines of `out` that come from this pod, in order, without the prefix.
fn lines_of<'a>(out: &'a str, prefix: &str) -> Vec<&'a str> {
    out.lines()
        .filter_map(|l| l.strip_prefix(&format!("{prefix} | ")))
        .collect()
}

/// The query strings of the log requests made for this pod.
fn log_queries(server: &FakeApiServer, pod: &str) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.subresource.as_deref() == Some("log") && r.name == pod)
        .map(|r| r.query)
        .collect()
}

/// The app deployed on a fake cluster whose containers print `logs` (image → lines): the server,
/// its kubeconfig and the project directory.
fn deployed_with_logs(
    logs: &[(&str, &[&str])],
) -> (
    FakeApiServer,
    fake_apiserver::KubeconfigFile,
    tempfile::TempDir,
) {
    let server = FakeApiServer::start();
    server.scenario(|s| {
        for (image, lines) in logs {
            s.image_logs(image, lines);
        }
    });
    let kc = server.kubeconfig_file();
    let dir = project();
    let o = deploy(kc.path(), dir.path(), "api=todo/api:1", &[]);
    assert!(o.status.success(), "{}", text(&o));
    (server, kc, dir)
}

#[test]
fn logs_tail_gives_the_last_lines_of_each_container() {
    let (server, kc, dir) = deployed_with_logs(&[
        ("todo/api", &["a1", "a2", "a3", "a4", "a5"]),
        ("todo/web", &["w1", "w2", "w3"]),
    ]);
    let o = run(kc.path(), &["logs", "--tail", "2"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let api = component_pods(&server, "api");
    let web = component_pods(&server, "web");
    assert_eq!((api.len(), web.len()), (2, 2), "{api:?} {web:?}");
    for (pod, _) in &api {
        assert_eq!(
            lines_of(&out, &format!("api/{pod}")),
            vec!["a4", "a5"],
            "{out}"
        );
        assert!(log_queries(&server, pod)
            .iter()
            .all(|q| q.contains("tailLines=2")));
    }
    for (pod, _) in &web {
        assert_eq!(
            lines_of(&out, &format!("web/{pod}")),
            vec!["w2", "w3"],
            "{out}"
        );
    }
    // Nothing but those 8 lines.
    assert_eq!(out.lines().count(), 8, "{out}");

    // --tail 0: no lines at all; a negative count is refused before anything runs.
    let o = run(kc.path(), &["logs", "--tail", "0"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "", "{}", text(&o));
    let o = run(kc.path(), &["logs", "--tail", "-1"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--tail")
            && String::from_utf8_lossy(&o.stderr).contains("0 or more"),
        "{}",
        text(&o)
    );
}

#[test]
fn logs_since_sends_since_seconds_and_drops_older_lines() {
    let (server, kc, dir) = deployed_with_logs(&[("todo/api", &["api started"])]);
    let api = component_pods(&server, "api");
    for (pod, c) in &api {
        server.append_log_aged(NS, pod, c, "two hours ago", Duration::from_secs(7200));
        server.append_log(NS, pod, c, "just now");
    }
    let o = run(
        kc.path(),
        &["logs", "--component", "api", "--since", "1h"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    for (pod, _) in &api {
        assert_eq!(
            lines_of(&out, &format!("api/{pod}")),
            vec!["api started", "just now"],
            "{out}"
        );
        let q = log_queries(&server, pod);
        assert!(
            !q.is_empty() && q.iter().all(|q| q.contains("sinceSeconds=3600")),
            "{q:?}"
        );
    }
    // Without --since the old line is there (so the filter, not its absence, dropped it).
    let o = run(kc.path(), &["logs", "--component", "api"], dir.path());
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    for (pod, _) in &api {
        assert_eq!(
            lines_of(&out, &format!("api/{pod}")),
            vec!["api started", "two hours ago", "just now"],
            "{out}"
        );
    }
    // A compound duration, and a sub-second one (the API wants at least 1 second).
    let o = run(kc.path(), &["logs", "--since", "1h30m"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(log_queries(&server, &api[0].0)
        .iter()
        .any(|q| q.contains("sinceSeconds=5400")));
    let o = run(
        kc.path(),
        &["logs", "--component", "api", "--since", "500ms"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("unavailable"),
        "{}",
        text(&o)
    );
    assert!(log_queries(&server, &api[0].0)
        .iter()
        .any(|q| q.contains("sinceSeconds=1")));
}

#[test]
fn logs_component_shows_only_that_components_pods() {
    let (server, kc, dir) =
        deployed_with_logs(&[("todo/api", &["api started"]), ("todo/web", &["web ready"])]);
    let o = run(kc.path(), &["logs", "--component", "web"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let web = component_pods(&server, "web");
    let mut expected: Vec<String> = web
        .iter()
        .map(|(p, _)| format!("web/{p} | web ready"))
        .collect();
    let mut got: Vec<String> = out.lines().map(String::from).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "{}", text(&o));
    // No api pod's log was even asked for.
    for (pod, _) in component_pods(&server, "api") {
        assert!(log_queries(&server, &pod).is_empty());
    }
    // A component the release does not have is an error naming the ones it has.
    let o = run(kc.path(), &["logs", "--component", "wbe"], dir.path());
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--component wbe") && err.contains("api, web"),
        "{}",
        text(&o)
    );
    assert!(o.stdout.is_empty(), "{}", text(&o));
    // Without --component both are merged.
    let o = run(kc.path(), &["logs"], dir.path());
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        out.lines().filter(|l| l.starts_with("api/")).count(),
        2,
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("web/")).count(),
        2,
        "{out}"
    );
}

#[test]
fn logs_fails_when_no_log_can_be_read_and_when_no_pod_has_started() {
    use fake_apiserver::{Fault, FaultAnswer, Verb};
    let (server, kc, dir) =
        deployed_with_logs(&[("todo/api", &["api started"]), ("todo/web", &["web ready"])]);

    // Every pods/log request refused: each is shown, and the command fails.
    server.inject(
        Fault::on(
            &[Verb::Get],
            FaultAnswer::Internal("kubelet unreachable".into()),
        )
        .subresource("log"),
    );
    let o = run(kc.path(), &["logs"], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("(logs unavailable:") && l.contains("kubelet unreachable"))
            .count(),
        4,
        "{out}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no logs of release") && err.contains("4 container(s)"),
        "{err}"
    );

    // One refused, three read: a partial answer is printed and is a success.
    server.clear_faults();
    server.inject(
        Fault::on(
            &[Verb::Get],
            FaultAnswer::Internal("kubelet unreachable".into()),
        )
        .subresource("log")
        .times(1),
    );
    let o = run(kc.path(), &["logs"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("(logs unavailable:"))
            .count(),
        1,
        "{out}"
    );
    assert_eq!(out.lines().count(), 4, "{out}");

    // No started pod for the component: an error that says where to look, not silence.
    server.clear_faults();
    let o = run(kc.path(), &["scale", "api", "0"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        server.wait_until(Duration::from_secs(30), |s| component_pods(s, "api")
            .is_empty())
    );
    let o = run(kc.path(), &["logs", "--component", "api"], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no started pods for component api") && err.contains("justpush status"),
        "{err}"
    );
}

#[test]
fn logs_with_a_bad_since_is_a_usage_error_naming_the_flag_and_the_form() {
    let dir = project();
    let o = bin()
        .args(["logs", "--name", "todo", "--since", "yesterday"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--since"), "{}", text(&o));
    assert!(err.contains("yesterday"), "{}", text(&o));
    assert!(err.contains("5m"), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
}

/// Every cluster command, with the arguments it needs to get as far as connecting.
const COMMANDS: &[&[&str]] = &[
    &["deploy", ".", "--image", "api=a:1"],
    &["status", "--name", "todo"],
    &["logs", "--name", "todo"],
    &["scale", "api", "2", "--name", "todo"],
    &["redeploy", "--name", "todo", "--env", "A=B"],
    &["rollback", "--name", "todo"],
    &["history", "--name", "todo"],
    &["delete", "--name", "todo", "--yes"],
    &["doctor", "--name", "todo"],
];

#[test]
fn without_a_reachable_cluster_each_command_fails_naming_the_server_and_kubeconfig() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = project();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: http://127.0.0.1:{port}\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\ncurrent-context: gone\n"),
    )
    .unwrap();
    for args in COMMANDS {
        let o = run(&kc, args, dir.path());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(
            err.contains(&format!("127.0.0.1:{port}")),
            "{args:?}: {}",
            text(&o)
        );
        assert!(
            err.contains(&kc.display().to_string()),
            "{args:?}: {}",
            text(&o)
        );
        assert!(
            err.contains("cannot reach the Kubernetes API server"),
            "{args:?}: {}",
            text(&o)
        );
    }
}

#[test]
fn a_missing_kubeconfig_is_named() {
    let dir = project();
    let kc = dir.path().join("no-such-kubeconfig");
    for args in COMMANDS {
        let o = run(&kc, args, dir.path());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(
            err.contains(&kc.display().to_string()) && err.contains("does not exist"),
            "{args:?}: {}",
            text(&o)
        );
    }
}

#[test]
fn deploy_demo_detects_the_bundled_stack() {
    let server = FakeApiServer::start();
    let kc = server.kubeconfig_file();
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        kc.path(),
        &[
            "deploy",
            "--demo",
            "--image",
            "backend=demo/backend:1",
            "--image",
            "frontend=demo/frontend:1",
            "-o",
            "json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["release"], "demo");
    assert_eq!(out["status"], "DEPLOYED");
    let mut images: Vec<String> = server
        .objects_in("apps/v1", "Deployment", NS)
        .iter()
        .map(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    images.sort();
    assert_eq!(images, vec!["demo/backend:1", "demo/frontend:1"]);
    let o = run(
        kc.path(),
        &["deploy", "--demo", "--image", "db=x:1"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("backend, frontend")
            || String::from_utf8_lossy(&o.stderr).contains("frontend, backend"),
        "{}",
        text(&o)
    );
}

#[test]
fn ctrl_c_during_deploy_rolls_back() {
    let server = FakeApiServer::start();
    let kc = server.kubeconfig_file();
    let dir = project();
    assert!(deploy(kc.path(), dir.path(), "api=todo/api:1", &[])
        .status
        .success());
    let child = bin()
        .arg("--kubeconfig")
        .arg(kc.path())
        .args([
            "-n",
            NS,
            "deploy",
            ".",
            "--image",
            "api=todo/api-neverready:2",
            "--image",
            "web=todo/web:1",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let applied = server.wait_until(std::time::Duration::from_secs(30), |s| {
        api_deployment(s)["spec"]["template"]["spec"]["containers"][0]["image"]
            == "todo/api-neverready:2"
    });
    assert!(applied);
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    // 130 = 128 + SIGINT: the exit status of a command stopped by Ctrl-C, rollback or not.
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("interrupted") && err.contains("revision 1 is restored"),
        "{}",
        text(&o)
    );
    assert_eq!(
        api_deployment(&server)["spec"]["template"]["spec"]["containers"][0]["image"],
        "todo/api:1"
    );
}

#[test]
fn doctor_names_a_crashing_pod_with_a_fix() {
    let server = FakeApiServer::start();
    let kc = server.kubeconfig_file();
    let dir = project();
    assert!(deploy(kc.path(), dir.path(), "api=todo/api:1", &[])
        .status
        .success());
    // After the deploy, the api starts crashing: its replacement pod crash-loops.
    server.scenario(|s| {
        s.fail_image("todo/api:1", fake_apiserver::Failure::CrashLoop);
    });
    let victim = server
        .objects_in("v1", "Pod", NS)
        .into_iter()
        .find(|p| p["metadata"]["labels"]["app.kubernetes.io/component"] == "api")
        .unwrap();
    server.remove(
        "v1",
        "Pod",
        NS,
        victim["metadata"]["name"].as_str().unwrap(),
    );
    let crashing = server.wait_until(std::time::Duration::from_secs(20), |s| {
        s.objects_in("v1", "Pod", NS).iter().any(|p| {
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        })
    });
    assert!(crashing);
    let o = run(kc.path(), &["doctor", "-o", "json"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let f: Value = serde_json::from_slice(&o.stdout).unwrap();
    let crit = f
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["severity"] == "critical")
        .unwrap_or_else(|| panic!("{f:#}"));
    assert!(
        crit["object"]
            .as_str()
            .unwrap()
            .starts_with("Pod/todo-justpush-api-"),
        "{f:#}"
    );
    assert!(
        crit["problem"]
            .as_str()
            .unwrap()
            .contains("CrashLoopBackOff"),
        "{f:#}"
    );
    assert!(
        crit["recommendation"].as_str().unwrap().contains("logs"),
        "{f:#}"
    );
    let o = run(kc.path(), &["doctor"], dir.path());
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("[critical] Pod/todo-justpush-api-"),
        "{}",
        text(&o)
    );
}

/// Issue 9 item 6: an invalid release name (flag or justpush.yaml) and an overflowing
/// `--timeout` are refused (exit 2) before the namespace is created or the lease taken.
#[test]
fn invalid_release_names_and_durations_are_refused_before_anything_is_created() {
    let server = FakeApiServer::start();
    let kc = server.kubeconfig_file();
    let dir = project();
    let e40 = "é".repeat(40);
    for bad in [
        e40.as_str(),
        "UPPER",
        "a..b",
        "../../x",
        "-a",
        "a\nkind: Secret",
    ] {
        let flag = format!("--name={bad}");
        let o = deploy(kc.path(), dir.path(), "api=todo/api:1", &[&flag]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o));
        assert!(text(&o).contains("--name: release name"), "{}", text(&o));
    }
    for d in ["99999999999999999h", "18446744073709551616s", "1e309s"] {
        let o = deploy(kc.path(), dir.path(), "api=todo/api:1", &["--timeout", d]);
        assert_eq!(o.status.code(), Some(2), "{d}: {}", text(&o));
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
    }
    let bad_yaml = tempfile::tempdir().unwrap();
    std::fs::write(
        bad_yaml.path().join("justpush.yaml"),
        APP.replacen("name: todo", "name: Todo_App", 1),
    )
    .unwrap();
    let o = deploy(kc.path(), bad_yaml.path(), "api=todo/api:1", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("`name`: release name \"Todo_App\""),
        "{}",
        text(&o)
    );
    for (rec_kind, what) in [("Namespace", "namespace"), ("Lease", "lease")] {
        let made: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET" && r.path.to_lowercase().contains(&format!("/{what}s")))
            .collect();
        assert!(made.is_empty(), "a {rec_kind} was written: {made:?}");
    }
    assert!(!server
        .objects("v1", "Namespace")
        .iter()
        .any(|n| n["metadata"]["name"] == NS));
    assert!(server
        .objects_in("coordination.k8s.io/v1", "Lease", NS)
        .is_empty());
}
