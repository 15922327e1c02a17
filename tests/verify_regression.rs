//! The regression suite against the real demo backend — its image built by
//! `kubectl-justpush build --demo` and run as a Docker container (FastAPI on SQLite, the database
//! file on a host directory mounted into it) — behind a test-owned gateway stand-in: an axum
//! reverse proxy that enforces the API key on secured paths, adds RateLimit headers and answers
//! CORS preflight, and that can be told to misbehave, which the suite must catch. The "data
//! survives a restart" check restarts the container (`docker restart`) on the same database.
//!
//! Needs Docker and the bookworm base images (`scripts/test-docker.sh --prepare`) and the demo
//! backend's wheelhouse. Run with `cargo test --test verify_regression -- --ignored`.

#[path = "support/ci_bases.rs"]
mod ci_bases;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, Response, StatusCode};
use bollard::models::{ContainerCreateBody, HealthConfig, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, EventsOptionsBuilder, RemoveContainerOptionsBuilder,
    RestartContainerOptions, StartContainerOptions,
};
use futures::StreamExt;
use justpush::pipeline::ApiKey;
use justpush::verify::regression::{self, BackendRestarter};
use justpush::verify::{spec, CaseResult, Verdict};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const KEY: &str = "test-key-5d1f";

/// The demo backend's image, built once per test process (a cache hit after the Docker tier).
fn backend_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let out = Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
            .args(["build", "--demo", "--component", "backend", "-o", "json"])
            .args(ci_bases::base_image_args())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "building the demo backend failed (run scripts/test-docker.sh --prepare first):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["images"][0]["image"].as_str().unwrap().to_string()
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn docker() -> bollard::Docker {
    justpush::image::docker::DockerEngine::connect()
        .unwrap()
        .client()
        .clone()
}

/// The demo backend as a container on 127.0.0.1:`port`, its SQLite file in `data` (a host
/// directory mounted at /data), so a restarted container finds the same tasks.
struct Backend {
    port: u16,
    data: PathBuf,
    id: String,
}

impl Backend {
    async fn start(data: PathBuf) -> Arc<Backend> {
        // The image runs as a non-root user: the mounted directory must be writable for it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
        let docker = docker();
        let image = backend_image();
        let port = free_port();
        let test = docker
            .inspect_image(image)
            .await
            .unwrap()
            .config
            .and_then(|c| c.healthcheck)
            .and_then(|h| h.test)
            .expect("the generated Dockerfile has a HEALTHCHECK");
        let name = format!("justpush-verify-{port}");
        let c = docker
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                ContainerCreateBody {
                    image: Some(image.to_string()),
                    env: Some(vec![
                        "SQLITE_PATH=/data/tasks.db".into(),
                        "LLM_PROVIDER=none".into(),
                    ]),
                    // The image's own check, every second instead of its production interval.
                    healthcheck: Some(HealthConfig {
                        test: Some(test),
                        interval: Some(1_000_000_000),
                        timeout: Some(5_000_000_000),
                        retries: Some(3),
                        start_period: Some(0),
                        start_interval: None,
                    }),
                    host_config: Some(HostConfig {
                        binds: Some(vec![format!("{}:/data", data.display())]),
                        port_bindings: Some(HashMap::from([(
                            "8000/tcp".to_string(),
                            Some(vec![PortBinding {
                                host_ip: Some("127.0.0.1".into()),
                                host_port: Some(port.to_string()),
                            }]),
                        )])),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let b = Arc::new(Backend {
            port,
            data,
            id: c.id,
        });
        let since = b.now();
        docker
            .start_container(&b.id, None::<StartContainerOptions>)
            .await
            .unwrap();
        b.wait_healthy(&since).await;
        b
    }

    /// Now, for `docker events --since`, to the nanosecond (the engine emits a
    /// `health_status: healthy` event after every passing check, so a whole-second bound would
    /// let one from before a restart through).
    fn now(&self) -> String {
        let t = time::OffsetDateTime::now_utc();
        format!("{}.{:09}", t.unix_timestamp(), t.nanosecond())
    }

    /// Waits for this container's `start` event after `since` and the first passing health check
    /// after it.
    async fn wait_healthy(&self, since: &str) {
        let docker = docker();
        let filters = HashMap::from([
            ("container", vec![self.id.clone()]),
            ("type", vec!["container".to_string()]),
        ]);
        let mut events = docker.events(Some(
            EventsOptionsBuilder::default()
                .since(since)
                .filters(&filters)
                .build(),
        ));
        let healthy = tokio::time::timeout(Duration::from_secs(120), async {
            let mut started = false;
            while let Some(ev) = events.next().await {
                match ev.unwrap().action.unwrap_or_default().as_str() {
                    "start" => started = true,
                    "health_status: healthy" if started => return Ok(()),
                    "die" if started => return Err("the container exited"),
                    _ => {}
                }
            }
            Err("the event stream ended")
        })
        .await;
        match healthy {
            Ok(Ok(())) => {}
            Ok(Err(why)) => panic!("the demo backend: {why}; see `docker logs {}`", self.id),
            Err(_) => panic!("the demo backend was not healthy within 120 s"),
        }
    }

    /// `docker restart`, then healthy again; `lose_data` empties its database first (a lost
    /// volume).
    async fn restart(&self, lose_data: bool) {
        let since = self.now();
        if lose_data {
            docker()
                .stop_container(
                    &self.id,
                    None::<bollard::query_parameters::StopContainerOptions>,
                )
                .await
                .unwrap();
            for f in std::fs::read_dir(&self.data).unwrap().flatten() {
                let _ = std::fs::remove_file(f.path());
            }
        }
        docker()
            .restart_container(&self.id, None::<RestartContainerOptions>)
            .await
            .unwrap();
        self.wait_healthy(&since).await;
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        // Drop runs outside any runtime the test still drives: remove on a thread of its own.
        let id = self.id.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let _ = docker()
                        .remove_container(
                            &id,
                            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                        )
                        .await;
                })
        })
        .join();
    }
}

/// How the gateway stand-in behaves.
#[derive(Clone, Copy, Default)]
struct Behaviour {
    let_through_without_key: bool,
    no_rate_limit_headers: bool,
    no_cors: bool,
}

#[derive(Clone)]
struct Gw {
    upstream: String,
    behaviour: Behaviour,
    client: reqwest::Client,
}

fn public(path: &str) -> bool {
    path == "/api/health" || path == "/openapi.json" || path == "/api/openapi.json"
}

async fn proxy(State(gw): State<Gw>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if parts.method == axum::http::Method::OPTIONS && parts.headers.contains_key("origin") {
        if gw.behaviour.no_cors {
            return Response::builder().status(404).body(Body::empty()).unwrap();
        }
        let origin = parts.headers["origin"].clone();
        return Response::builder()
            .status(StatusCode::NO_CONTENT)
            .header("access-control-allow-origin", origin)
            .header(
                "access-control-allow-methods",
                "GET,POST,PUT,PATCH,DELETE,OPTIONS",
            )
            .header("access-control-allow-headers", "apikey,content-type")
            .body(Body::empty())
            .unwrap();
    }
    let keyed = parts.headers.get("apikey") == Some(&HeaderValue::from_static(KEY));
    if !public(&path) && !keyed && !gw.behaviour.let_through_without_key {
        return Response::builder()
            .status(401)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"message":"No API key found in request"}"#))
            .unwrap();
    }
    let url = format!(
        "{}{}",
        gw.upstream,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let mut up = gw.client.request(parts.method.clone(), &url).body(bytes);
    if let Some(ct) = parts.headers.get("content-type") {
        up = up.header("content-type", ct);
    }
    let resp = match up.send().await {
        Ok(r) => r,
        Err(e) => {
            return Response::builder()
                .status(502)
                .body(Body::from(e.to_string()))
                .unwrap()
        }
    };
    let mut b = Response::builder().status(resp.status().as_u16());
    if let Some(ct) = resp.headers().get("content-type") {
        b = b.header("content-type", ct);
    }
    if keyed && !gw.behaviour.no_rate_limit_headers {
        b = b
            .header("ratelimit-limit", "60")
            .header("ratelimit-remaining", "59")
            .header("x-ratelimit-limit-minute", "60");
    }
    b.body(Body::from(resp.bytes().await.unwrap_or_default()))
        .unwrap()
}

async fn gateway(upstream_port: u16, behaviour: Behaviour) -> String {
    let gw = Gw {
        upstream: format!("http://127.0.0.1:{upstream_port}"),
        behaviour,
        client: reqwest::Client::new(),
    };
    let app = axum::Router::new().fallback(proxy).with_state(gw);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Restarts the backend's container; `lose_data` deletes its database first (a broken PVC).
struct ContainerRestarter {
    backend: Arc<Backend>,
    lose_data: bool,
}

#[async_trait::async_trait(?Send)]
impl BackendRestarter for ContainerRestarter {
    async fn restart_backend(&self) -> Result<String, String> {
        self.backend.restart(self.lose_data).await;
        Ok("restarted the backend container".into())
    }
}

/// The OpenAPI document the running backend serves.
async fn spec_text(backend: &Backend) -> String {
    reqwest::get(format!("http://127.0.0.1:{}/openapi.json", backend.port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn spec_of(backend: &Backend) -> Vec<spec::Operation> {
    spec::parse_spec(&spec_text(backend).await).unwrap()
}

fn target(gw: &str) -> regression::Target {
    regression::Target {
        gateway: gw.to_string(),
        api_key: ApiKey::new(KEY),
        key_header: "apikey".into(),
        origin: "http://localhost:3000".into(),
    }
}

fn verdict(results: &[CaseResult], name: &str) -> Verdict {
    results
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {results:#?}"))
        .verdict
}

fn failed(results: &[CaseResult]) -> Vec<String> {
    results
        .iter()
        .filter(|r| r.verdict == Verdict::Failed)
        .map(|r| format!("{}: {}", r.name, r.detail))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and the bookworm bases (scripts/test-docker.sh --prepare); run with --ignored"]
async fn a_well_behaved_gateway_passes_every_check_including_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start(dir.path().to_path_buf()).await;
    let ops = spec_of(&backend).await;
    assert!(ops
        .iter()
        .any(|o| o.label() == "DELETE /api/tasks/{task_id}" && o.secured));
    assert!(ops
        .iter()
        .any(|o| o.label() == "GET /api/health" && !o.secured));
    let gw = gateway(backend.port, Behaviour::default()).await;
    let restarter = ContainerRestarter {
        backend: backend.clone(),
        lose_data: false,
    };
    let results = regression::run(target(&gw), &ops, Some(&restarter)).await;
    eprintln!("{}", justpush::verify::results_table(&results));
    assert_eq!(failed(&results), Vec::<String>::new());
    for name in [
        "GET /api/tasks without key → 401",
        "GET /api/tasks with key → not 401/403/5xx",
        "DELETE /api/tasks/{task_id} without key → 401",
        "POST /api/chat with key → not 401/403/5xx",
        "GET /api/health (public) reachable without key",
        "rate-limit headers on keyed responses",
        "CORS preflight OPTIONS /api/tasks",
        "demo: create a task by chat",
        "demo: list shows the task",
        "demo: the task is still there after the backend restarts",
        "demo: delete the task by chat",
    ] {
        assert_eq!(verdict(&results, name), Verdict::Passed, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and the bookworm bases (scripts/test-docker.sh --prepare); run with --ignored"]
async fn a_gateway_that_misbehaves_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start(dir.path().to_path_buf()).await;
    let ops = spec_of(&backend).await;

    // Requests without a key get through.
    let open = gateway(
        backend.port,
        Behaviour {
            let_through_without_key: true,
            ..Default::default()
        },
    )
    .await;
    let r = regression::run(target(&open), &ops, None).await;
    assert_eq!(
        verdict(&r, "GET /api/tasks without key → 401"),
        Verdict::Failed
    );
    assert_eq!(
        verdict(&r, "POST /api/chat without key → 401"),
        Verdict::Failed
    );
    assert_eq!(
        verdict(
            &r,
            "demo: the task is still there after the backend restarts"
        ),
        Verdict::Skipped
    );
    assert!(justpush::verify::any_failed(&r));

    // No rate limiting, no CORS.
    let bare = gateway(
        backend.port,
        Behaviour {
            no_rate_limit_headers: true,
            no_cors: true,
            ..Default::default()
        },
    )
    .await;
    let r = regression::run(target(&bare), &ops, None).await;
    assert_eq!(
        verdict(&r, "rate-limit headers on keyed responses"),
        Verdict::Failed
    );
    assert_eq!(
        verdict(&r, "CORS preflight OPTIONS /api/tasks"),
        Verdict::Failed
    );
    assert_eq!(
        verdict(&r, "GET /api/tasks without key → 401"),
        Verdict::Passed
    );

    // A restart that loses the database.
    let good = gateway(backend.port, Behaviour::default()).await;
    let losing = ContainerRestarter {
        backend: backend.clone(),
        lose_data: true,
    };
    let r = regression::run(target(&good), &ops, Some(&losing)).await;
    assert_eq!(
        verdict(
            &r,
            "demo: the task is still there after the backend restarts"
        ),
        Verdict::Failed
    );

    // A wrong key is refused everywhere it matters.
    let mut wrong = target(&good);
    wrong.api_key = ApiKey::new("not-the-key");
    let r = regression::run(wrong, &ops, None).await;
    assert_eq!(
        verdict(&r, "GET /api/tasks with key → not 401/403/5xx"),
        Verdict::Failed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and the bookworm bases (scripts/test-docker.sh --prepare); run with --ignored"]
async fn the_verify_command_prints_a_table_writes_junit_and_sets_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start(dir.path().to_path_buf()).await;
    let spec_file = dir.path().join("openapi.json");
    std::fs::write(&spec_file, spec_text(&backend).await).unwrap();
    let run = |gw: String, junit: PathBuf| {
        let spec_file = spec_file.clone();
        let state = dir.path().join("state");
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
                .args(["verify", "--gateway", &gw, "--spec"])
                .arg(&spec_file)
                .arg("--junit")
                .arg(&junit)
                .env("JUSTPUSH_API_KEY", KEY)
                .env("JUSTPUSH_STATE_DIR", state)
                .env("NO_COLOR", "1")
                .output()
                .unwrap()
        })
    };
    let good = gateway(backend.port, Behaviour::default()).await;
    let junit = dir.path().join("good.xml");
    let out = run(good, junit.clone()).await.unwrap();
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.starts_with("SUITE"), "{table}");
    assert!(table.contains("0 failed"), "{table}");
    assert!(!table.contains(KEY) && !String::from_utf8_lossy(&out.stderr).contains(KEY));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuite name=\"regression\"") && xml.contains("failures=\"0\""));

    let open = gateway(
        backend.port,
        Behaviour {
            let_through_without_key: true,
            ..Default::default()
        },
    )
    .await;
    let junit = dir.path().join("bad.xml");
    let out = run(open, junit.clone()).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("check(s) failed"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure message=\"HTTP 200\""), "{xml}");
}
