//! The regression suite against the real demo backend (images/backend, FastAPI on SQLite, run
//! with its venv) behind a test-owned gateway stand-in: an axum reverse proxy that enforces the
//! API key on secured paths, adds RateLimit headers and answers CORS preflight — and that can
//! be told to misbehave, which the suite must catch. The "data survives a restart" check kills
//! and restarts the backend process on the same database file.
//!
//! Needs the backend's venv: `scripts/test-demo.sh` creates `.cache/backend-venv`; or set
//! JUSTPUSH_DEMO_PYTHON to a Python with the backend's dependencies. Run with
//! `cargo test --test verify_regression -- --ignored`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, Response, StatusCode};
use justpush::pipeline::ApiKey;
use justpush::verify::regression::{self, BackendRestarter};
use justpush::verify::{spec, CaseResult, Verdict};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

const KEY: &str = "test-key-5d1f";

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("JUSTPUSH_DEMO_PYTHON") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/backend-venv/bin/python");
    assert!(
        p.exists(),
        "the demo backend's venv is missing at {}: run scripts/test-demo.sh, or set JUSTPUSH_DEMO_PYTHON",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The demo backend as a child process; started again on the same port and database file.
struct Backend {
    port: u16,
    db: PathBuf,
    child: Mutex<Option<Child>>,
}

impl Backend {
    fn start(db: PathBuf) -> Arc<Backend> {
        let b = Arc::new(Backend {
            port: free_port(),
            db,
            child: Mutex::new(None),
        });
        b.spawn();
        b
    }

    /// Starts uvicorn and returns once it says it is serving (its own start-up event).
    fn spawn(&self) {
        let mut child = Command::new(python())
            .args(["-m", "app"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("images/backend"))
            .env("HOST", "127.0.0.1")
            .env("PORT", self.port.to_string())
            .env("SQLITE_PATH", &self.db)
            .env_remove("DATABASE_URL")
            .env("LLM_PROVIDER", "none")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the demo backend");
        let err = child.stderr.take().unwrap();
        let mut lines = BufReader::new(err).lines();
        let mut seen = String::new();
        loop {
            match lines.next() {
                Some(Ok(l)) => {
                    seen.push_str(&l);
                    seen.push('\n');
                    if l.contains("Uvicorn running on") {
                        break;
                    }
                }
                _ => panic!("the demo backend exited during start-up:\n{seen}"),
            }
        }
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        *self.child.lock().unwrap() = Some(child);
    }

    fn stop(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
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

/// Restarts the backend process; `lose_data` deletes its database first (a broken PVC).
struct ProcessRestarter {
    backend: Arc<Backend>,
    lose_data: bool,
}

#[async_trait::async_trait(?Send)]
impl BackendRestarter for ProcessRestarter {
    async fn restart_backend(&self) -> Result<String, String> {
        let b = self.backend.clone();
        let lose = self.lose_data;
        tokio::task::spawn_blocking(move || {
            b.stop();
            if lose {
                let _ = std::fs::remove_file(&b.db);
            }
            b.spawn();
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok("restarted the backend process".into())
    }
}

async fn spec_of(backend: &Backend) -> Vec<spec::Operation> {
    let text = reqwest::get(format!("http://127.0.0.1:{}/openapi.json", backend.port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    spec::parse_spec(&text).unwrap()
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
#[ignore = "needs the demo backend venv (scripts/test-demo.sh); run with --ignored"]
async fn a_well_behaved_gateway_passes_every_check_including_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start(dir.path().join("tasks.db"));
    let ops = spec_of(&backend).await;
    assert!(ops
        .iter()
        .any(|o| o.label() == "DELETE /api/tasks/{task_id}" && o.secured));
    assert!(ops
        .iter()
        .any(|o| o.label() == "GET /api/health" && !o.secured));
    let gw = gateway(backend.port, Behaviour::default()).await;
    let restarter = ProcessRestarter {
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
#[ignore = "needs the demo backend venv (scripts/test-demo.sh); run with --ignored"]
async fn a_gateway_that_misbehaves_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start(dir.path().join("tasks.db"));
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
    let losing = ProcessRestarter {
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
#[ignore = "needs the demo backend venv (scripts/test-demo.sh); run with --ignored"]
async fn the_verify_command_prints_a_table_writes_junit_and_sets_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start(dir.path().join("tasks.db"));
    let spec_file = dir.path().join("openapi.json");
    let text = reqwest::get(format!("http://127.0.0.1:{}/openapi.json", backend.port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(&spec_file, text).unwrap();
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
