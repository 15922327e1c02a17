//! The whole `up` pipeline through the real binary against the fake Kubernetes API server,
//! with real Docker builds, the real registry on 127.0.0.1:5000 and a test-owned gateway
//! stand-in: success (the demo stack), and a failure at each stage with its cleanup.
//!
//! Needs Docker, the bookworm base images, the registry and the demo backend's wheelhouse
//! (`scripts/test-docker.sh --prepare` makes all four):
//! `cargo test --test up_fake_cluster -- --ignored`.

#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;
#[path = "support/http_stand_in.rs"]
mod http_stand_in;

use fake_apiserver::{Failure, FakeApiServer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REGISTRY: &str = "127.0.0.1:5000";
const HOST_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn kong_chart_dir() -> PathBuf {
    std::env::var_os("JUSTPUSH_KONG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kong"))
        .join("chart-kong-3.4.1")
}

/// A gateway stand-in: 401 without an `apikey` header, the given status with one (or always
/// `broken` when set).
fn gateway(with_key: u16, broken: Option<u16>) -> String {
    http_stand_in::serve(axum::Router::new().fallback(
        move |req: axum::http::Request<axum::body::Body>| async move {
            let code = match broken {
                Some(c) => c,
                None if req.headers().contains_key("apikey") => with_key,
                None => 401,
            };
            axum::http::StatusCode::from_u16(code).unwrap()
        },
    ))
}

struct Run {
    out: Output,
    state: tempfile::TempDir,
}

impl Drop for Run {
    /// Images of the one-off test projects are removed (the demo's are kept: they are the
    /// cache the next run reuses).
    fn drop(&mut self) {
        let refs: Vec<String> = String::from_utf8_lossy(&self.out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| {
                e["stage"] == "build" && e["status"] == "succeeded" && !e["component"].is_null()
            })
            .filter_map(|e| e["message"].as_str().map(str::to_string))
            .filter(|r| r.starts_with("justpush/api:"))
            .collect();
        if refs.is_empty() {
            return;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use justpush::image::ImageBackend;
            let engine = justpush::image::docker::DockerEngine::connect().unwrap();
            for r in refs {
                let _ = engine.remove(&format!("{REGISTRY}/{r}")).await;
                let _ = engine.remove(&r).await;
            }
        });
    }
}

impl Run {
    fn events(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    fn failed_stage(&self) -> Option<String> {
        self.events()
            .iter()
            .find(|e| e["status"] == "failed")
            .map(|e| e["stage"].as_str().unwrap().to_string())
    }
    fn run_log(&self) -> String {
        let dir = self.state.path().join("runs");
        let f = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .find(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
            .expect("a run log");
        std::fs::read_to_string(f.path()).unwrap()
    }
}

fn up(server: &FakeApiServer, source: &[&str], extra: &[&str]) -> Run {
    up_as(server, source, extra, true)
}

/// The registry this tier pushes to must be there; say so plainly when it is not.
fn require_registry() {
    assert!(
        std::net::TcpStream::connect(REGISTRY).is_ok(),
        "no registry on {REGISTRY}: run scripts/test-docker.sh --prepare (it starts one)"
    );
}

/// The `up` command line of these tests (bases, offline Kong chart, the test registry).
fn up_args(source: &[&str], extra: &[&str], json: bool) -> Vec<String> {
    let mut args: Vec<String> = vec!["up".into()];
    args.extend(source.iter().map(|s| s.to_string()));
    args.extend(
        [
            "--cluster",
            "current",
            "--kong-chart",
            kong_chart_dir().to_str().unwrap(),
            "--timeout",
            "60s",
            "--ca-bundle",
            HOST_CA,
        ]
        .map(String::from),
    );
    if json {
        args.extend(["-o".to_string(), "json".to_string()]);
    }
    for b in [
        format!(
            "python={}",
            env_or("JUSTPUSH_TEST_BASE_PYTHON", "justpush-ci/python:bookworm")
        ),
        format!(
            "node.builder={}",
            env_or(
                "JUSTPUSH_TEST_BASE_NODE_BUILD",
                "justpush-ci/node-build:bookworm"
            )
        ),
        format!(
            "node.runtime={}",
            env_or("JUSTPUSH_TEST_BASE_NODE", "justpush-ci/node:bookworm")
        ),
    ] {
        args.push("--base-image".into());
        args.push(b);
    }
    if !extra.contains(&"--registry") {
        args.extend(["--registry".to_string(), REGISTRY.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn up_as(server: &FakeApiServer, source: &[&str], extra: &[&str], json: bool) -> Run {
    require_registry();
    let state = tempfile::tempdir().unwrap();
    let kubeconfig = state.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, "default");
    let args = up_args(source, extra, json);
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .args(&args)
        .env("KUBECONFIG", &kubeconfig)
        .env("JUSTPUSH_STATE_DIR", state.path())
        .env("JUSTPUSH_CACHE_DIR", state.path().join("cache"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    eprintln!("stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    Run { out, state }
}

/// `up` on a terminal: run under script(1), which gives it a pseudo-terminal for stdin, stdout
/// and stderr, and returns everything the terminal received, with its exit code.
fn up_on_terminal(
    server: &FakeApiServer,
    source: &[&str],
    extra: &[&str],
) -> (Option<i32>, String) {
    let state = tempfile::tempdir().unwrap();
    let kubeconfig = state.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, "default");
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    let mut line = quote(env!("CARGO_BIN_EXE_kubectl-justpush"));
    for a in up_args(source, extra, false) {
        line.push(' ');
        line.push_str(&quote(&a));
    }
    let out = Command::new("script")
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .env("KUBECONFIG", &kubeconfig)
        .env("JUSTPUSH_STATE_DIR", state.path())
        .env("JUSTPUSH_CACHE_DIR", state.path().join("cache"))
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script(1) from util-linux");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("terminal:\n{text}");
    (out.status.code(), text)
}

/// A one-component project with its own Dockerfile (fast to build); `run` is its RUN line.
fn small_project(run: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let api = d.path().join("api");
    std::fs::create_dir(&api).unwrap();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::fs::write(api.join("app.txt"), format!("{nonce}\n")).unwrap();
    std::fs::write(
        api.join("Dockerfile"),
        format!(
            "FROM {}\nCOPY app.txt /srv/app.txt\n{run}\nEXPOSE 8000\nCMD [\"python3\", \"-m\", \"http.server\", \"8000\", \"-d\", \"/srv\"]\n",
            env_or("JUSTPUSH_TEST_BASE_PYTHON", "justpush-ci/python:bookworm")
        ),
    )
    .unwrap();
    d
}

fn deployments_in(server: &FakeApiServer, ns: &str) -> Vec<String> {
    server
        .objects_in("apps/v1", "Deployment", ns)
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
#[ignore = "needs Docker, the bookworm base images and the registry on 127.0.0.1:5000 (scripts/test-docker.sh)"]
fn up_demo_goes_from_source_to_a_checked_gateway() {
    let server = FakeApiServer::start();
    let gw = gateway(200, None);
    let run = up(&server, &["--demo"], &["--gateway", &gw]);
    assert!(run.out.status.success(), "{}", run.stderr());
    let events = run.events();
    let result = events.last().unwrap();
    assert_eq!(result["result"], "succeeded", "{result}");
    assert_eq!(result["gateway"], gw.as_str());
    let key = result["api_key"].as_str().unwrap().to_string();
    assert!(key.len() >= 32, "a generated key");
    for stage in ["build", "cluster", "kong", "push", "deploy", "configure"] {
        assert!(
            events.iter().any(|e| e["stage"] == stage
                && e["component"].is_null()
                && (e["status"] == "succeeded" || e["status"] == "skipped")),
            "{stage} finished"
        );
    }
    let images: Vec<&str> = result["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference"].as_str().unwrap())
        .collect();
    assert_eq!(images.len(), 2);
    assert!(
        images
            .iter()
            .all(|i| i.starts_with("127.0.0.1:5000/justpush/")),
        "{images:?}"
    );
    // Kong was installed from its chart, the app from ours, with the pushed images.
    assert!(deployments_in(&server, "kong").contains(&"kong-kong".to_string()));
    let app = server.objects_in("apps/v1", "Deployment", "demo");
    assert_eq!(app.len(), 2, "{:?}", deployments_in(&server, "demo"));
    for d in &app {
        let image = d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap();
        assert!(images.contains(&image), "{image} in {images:?}");
    }
    // The run's events are kept on disk and in the release record, and the key is in neither.
    let log = run.run_log();
    assert!(log.lines().count() >= 20);
    assert!(!log.contains(&key));
    let secret = server
        .object("v1", "Secret", "demo", "justpush.release.v1.demo.v1")
        .expect("the release record of revision 1");
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(secret).unwrap();
    let record = justpush::kube::record::from_secret(&secret).unwrap();
    let stages: Vec<&str> = record.events.iter().map(|e| e.stage.as_str()).collect();
    for s in ["Build", "Push", "Deploy", "Configure"] {
        assert!(stages.contains(&s), "{s} events in the record: {stages:?}");
    }
    assert!(!serde_json::to_string(&record).unwrap().contains(&key));
    assert_eq!(
        String::from_utf8_lossy(&run.out.stdout)
            .matches(&key)
            .count(),
        1,
        "the key is shown once"
    );
    // verify finds the gateway the run remembered.
    let last: Value = serde_json::from_str(
        &std::fs::read_to_string(run.state.path().join("last-run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(last["gateway"], gw.as_str());
    assert_eq!(last["release"], "demo");

    // `deploy` of the same project and images makes the same gateway objects as `up` did:
    // the values are made in one place (routes from the OpenAPI document the probe read,
    // kept in the state dir's spec cache for these images).
    let mut deploy = Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"));
    deploy
        .args(["deploy", "--demo", "-n", "demo-again", "--timeout", "60s"])
        .env("KUBECONFIG", run.state.path().join("kubeconfig"))
        .env("JUSTPUSH_STATE_DIR", run.state.path())
        .env("NO_COLOR", "1");
    for i in result["images"].as_array().unwrap() {
        deploy.arg("--image").arg(format!(
            "{}={}",
            i["component"].as_str().unwrap(),
            i["reference"].as_str().unwrap()
        ));
    }
    let out = deploy.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gateway_objects = |ns: &str| {
        let mut seen = std::collections::BTreeMap::new();
        for (api_version, kind, part) in [
            ("networking.k8s.io/v1", "Ingress", "spec"),
            ("configuration.konghq.com/v1", "KongPlugin", "config"),
        ] {
            for o in server.objects_in(api_version, kind, ns) {
                let name = o["metadata"]["name"].as_str().unwrap().to_string();
                let body = (o[part].clone(), o["plugin"].clone());
                seen.insert(format!("{kind}/{name}"), body);
            }
        }
        seen
    };
    let by_up = gateway_objects("demo");
    assert!(
        by_up.keys().filter(|k| k.starts_with("Ingress/")).count() > 2,
        "routes from the spec, not only the prefix route: {:?}",
        by_up.keys()
    );
    assert_eq!(gateway_objects("demo-again"), by_up);

    // Again, as a person would see it: images up to date, Kong kept, a second revision.
    let again = up_as(&server, &["--demo"], &["--gateway", &gw], false);
    assert!(again.out.status.success(), "{}", again.stderr());
    let err = again.stderr();
    assert!(err.contains("[kong] skipped"), "{err}");
    assert!(err.contains("is up to date"), "{err}");
    assert!(
        err.contains("[deploy] done") && err.contains("revision 2"),
        "{err}"
    );
    let text = String::from_utf8_lossy(&again.out.stdout);
    assert!(text.contains(&format!("gateway:  {gw}")), "{text}");
    assert!(
        text.contains("API key:  unchanged since it was created") && !text.contains(&key),
        "the key is not shown again: {text}"
    );
    assert!(text.contains("kubectl justpush verify"), "{text}");
    assert!(server
        .object("v1", "Secret", "demo", "justpush.release.v1.demo.v2")
        .is_some());

    // And on a terminal: one line per stage and component, redrawn in place (cursor up, clear
    // line) as it progresses, in colour, ending with every stage marked done.
    let (code, screen) = up_on_terminal(&server, &["--demo"], &["--gateway", &gw]);
    assert_eq!(code, Some(0), "{screen}");
    let cursor_ups: Vec<usize> = screen
        .match_indices("\x1b[")
        .filter(|(i, _)| {
            let rest = &screen[i + 2..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            digits > 0 && rest[digits..].starts_with('A')
        })
        .map(|(i, _)| i)
        .collect();
    assert!(
        cursor_ups.len() >= 3 && screen.contains("\r\x1b[2K"),
        "redrawn in place: {screen:?}"
    );
    assert!(screen.contains("\x1b[32m✓"), "green marks: {screen:?}");
    // The last frame (after the last cursor-up): every stage there, none still running.
    let last_frame = &screen[*cursor_ups.last().unwrap()..];
    for stage in ["Build", "Push", "Deploy", "Configure"] {
        assert!(
            last_frame.contains(stage),
            "{stage} in the last frame: {last_frame:?}"
        );
    }
    assert!(
        !last_frame.contains('…'),
        "nothing still running: {last_frame:?}"
    );
    assert!(screen.contains(&format!("gateway:  {gw}")), "{screen}");
    assert!(server
        .object("v1", "Secret", "demo", "justpush.release.v1.demo.v3")
        .is_some());

    // verify --suite restart through the binary: the release and gateway from the last run,
    // the key from the release's credential Secret, pods deleted and recreated by the fake.
    let spec = again.state.path().join("openapi.json");
    std::fs::write(
        &spec,
        r#"{"openapi":"3.1.0","security":[{"apiKey":[]}],"paths":{"/api/tasks":{"get":{}}}}"#,
    )
    .unwrap();
    let junit = again.state.path().join("restart.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .args([
            "verify",
            "--suite",
            "restart",
            "--load-interval-ms",
            "50",
            "--spec",
        ])
        .arg(&spec)
        .arg("--junit")
        .arg(&junit)
        .env("KUBECONFIG", again.state.path().join("kubeconfig"))
        .env("JUSTPUSH_STATE_DIR", again.state.path())
        .env_remove("JUSTPUSH_API_KEY")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for c in ["backend", "frontend"] {
        assert!(
            table.contains(&format!(
                "demo-justpush-{c}: no failed requests while a pod restarts"
            )),
            "{table}"
        );
    }
    assert!(
        table.contains("database restart keeps data") && table.contains("skip"),
        "{table}"
    );
    assert!(std::fs::read_to_string(&junit)
        .unwrap()
        .contains("<testsuite name=\"restart\""));
}

#[test]
#[ignore = "needs Docker, the bookworm base images and the registry on 127.0.0.1:5000 (scripts/test-docker.sh)"]
fn a_failed_build_touches_no_cluster_and_leaves_no_image() {
    let server = FakeApiServer::start();
    let project = small_project("RUN echo failing on purpose && exit 3");
    let gw = gateway(200, None);
    let run = up(
        &server,
        &[project.path().to_str().unwrap()],
        &["--gateway", &gw],
    );
    assert_eq!(run.out.status.code(), Some(1));
    assert_eq!(run.failed_stage().as_deref(), Some("build"));
    assert!(
        run.stderr().contains("Build failed (api)"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("log: "), "{}", run.stderr());
    assert!(
        run.stderr().contains("nothing was created"),
        "{}",
        run.stderr()
    );
    let writes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert!(writes.is_empty(), "the cluster was not touched: {writes:?}");
}

#[test]
#[ignore = "needs Docker, the bookworm base images and the registry on 127.0.0.1:5000 (scripts/test-docker.sh)"]
fn a_failed_push_changes_nothing_of_the_app() {
    let server = FakeApiServer::start();
    let project = small_project("RUN test -s /srv/app.txt");
    let gw = gateway(200, None);
    let run = up(
        &server,
        &[project.path().to_str().unwrap()],
        &["--gateway", &gw, "--registry", "127.0.0.1:9"],
    );
    assert_eq!(run.out.status.code(), Some(1));
    assert_eq!(run.failed_stage().as_deref(), Some("push"));
    assert!(
        run.stderr().contains("nothing in the cluster was changed"),
        "{}",
        run.stderr()
    );
    let ns = run.events().iter().find_map(|e| {
        e["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("release "))
            .map(|m| m.to_string())
    });
    assert!(ns.is_none(), "Deploy never started");
    assert!(server
        .objects("apps/v1", "Deployment")
        .iter()
        .all(|d| d["metadata"]["namespace"] == "kong"));
}

#[test]
#[ignore = "needs Docker, the bookworm base images and the registry on 127.0.0.1:5000 (scripts/test-docker.sh)"]
fn a_failed_deploy_is_rolled_back_and_says_why() {
    let server = FakeApiServer::builder()
        .scenario(|s| {
            s.fail_image("justpush/api", Failure::CrashLoop);
            s.image_logs(
                "justpush/api",
                &[
                    "Traceback (most recent call last):",
                    "KeyError: 'DATABASE_URL'",
                ],
            );
        })
        .start();
    let project = small_project("RUN test -s /srv/app.txt");
    let gw = gateway(200, None);
    let run = up(
        &server,
        &[project.path().to_str().unwrap()],
        &["--gateway", &gw],
    );
    assert_eq!(run.out.status.code(), Some(1));
    assert_eq!(run.failed_stage().as_deref(), Some("deploy"));
    let err = run.stderr();
    assert!(
        err.contains("CrashLoopBackOff") || err.contains("crash"),
        "{err}"
    );
    assert!(
        err.contains("the objects this install created were deleted"),
        "{err}"
    );
    let release = run
        .events()
        .iter()
        .find_map(|e| {
            e["message"]
                .as_str()
                .and_then(|m| m.strip_prefix("release "))
                .map(|m| m.split(' ').next().unwrap().to_string())
        })
        .unwrap();
    let left: Vec<String> = server
        .objects("apps/v1", "Deployment")
        .iter()
        .filter(|d| d["metadata"]["namespace"] != "kong")
        .map(|d| d["metadata"]["name"].to_string())
        .collect();
    assert!(left.is_empty(), "release {release} removed, left: {left:?}");
}

#[test]
#[ignore = "needs Docker, the bookworm base images and the registry on 127.0.0.1:5000 (scripts/test-docker.sh)"]
fn a_gateway_that_never_serves_the_routes_leaves_the_app_running_with_a_warning() {
    let server = FakeApiServer::start();
    let project = small_project("RUN test -s /srv/app.txt");
    let gw = gateway(200, Some(404));
    let run = up(
        &server,
        &[project.path().to_str().unwrap()],
        &["--gateway", &gw, "--gateway-timeout", "3s"],
    );
    assert_eq!(run.out.status.code(), Some(1));
    let err = run.stderr();
    assert!(err.contains("the app is running"), "{err}");
    assert!(err.contains("404 without the key"), "{err}");
    assert!(run
        .events()
        .iter()
        .any(|e| e["stage"] == "configure" && e["status"] == "warning"));
    let app: Vec<Value> = server
        .objects("apps/v1", "Deployment")
        .into_iter()
        .filter(|d| d["metadata"]["namespace"] != "kong")
        .collect();
    assert_eq!(app.len(), 1, "the app stays deployed");
}
