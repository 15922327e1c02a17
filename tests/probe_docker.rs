//! Docker tier for the build's probe (issue 10, item 1): `build` runs each image it built as
//! the chart will (user 10001, read-only root, no capabilities, tmpfs /tmp), finds the port it
//! really listens on and a health path that answers, records both in `-o json`, and fails the
//! component's build when the container exits. What the probe found is then checked by the
//! shared `run_as_chart` helper, code that is not the probe's own.
//!
//! `#[ignore]`d: run by scripts/test-docker.sh with `--ignored`.

#[path = "support/fixture_copy.rs"]
mod fixture_copy;
use fixture_copy::copy_dir;
#[path = "support/ci_bases.rs"]
mod ci_bases;
#[path = "support/run_as_chart.rs"]
mod run_as_chart;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveImageOptionsBuilder};
use bollard::Docker;
use run_as_chart::{build_project, run_as_chart, RunSpec};

/// A copy of the probe fixture (builds leave logs in the project directory).
fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("probe-stdlib");
    copy_dir(Path::new("tests/fixtures/projects/probe-stdlib"), &dir);
    (tmp, dir)
}

fn docker() -> Docker {
    Docker::connect_with_local_defaults().unwrap()
}

async fn remove_image(docker: &Docker, image: &str) {
    let _ = docker
        .remove_image(
            image,
            Some(RemoveImageOptionsBuilder::default().force(true).build()),
            None,
        )
        .await;
}

/// Probe containers of these components still present (running or not).
async fn leftover_probe_containers(docker: &Docker, component: &str) -> Vec<String> {
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&[("label", vec!["io.justpush.probe"])].into())
        .build();
    docker
        .list_containers(Some(options))
        .await
        .unwrap()
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .filter(|n| n.contains(&format!("justpush-probe-{component}-")))
        .collect()
}

/// Builds one component of the fixture; its `images[0]` row.
fn build_one(dir: &Path, component: &str, extra: &[&str]) -> serde_json::Value {
    let mut flags = vec!["--component", component];
    flags.extend(extra);
    let (out, json) = build_project(dir, &flags);
    assert!(out.status.success(), "building {component} failed");
    json.expect("build -o json prints JSON")["images"][0].clone()
}

/// Runs the image as the chart would on the port and path the probe recorded.
async fn answers_as_recorded(image: &str, port: u16, path: &str) {
    let docker = docker();
    let run = run_as_chart(
        &docker,
        image,
        &RunSpec {
            port,
            health_path: path,
            env: &[("PORT", &port.to_string())],
            wait: Some(Duration::from_secs(60)),
            ..RunSpec::default()
        },
    )
    .await;
    remove_image(&docker, image).await;
    let run = run.unwrap_or_else(|why| panic!("{image} did not answer {path} on {port}: {why}"));
    assert!((200..400).contains(&run.status), "{image}: {}", run.status);
}

/// `/` answers 404 (detection's fallback would roll every deploy back); the probe finds
/// `/healthz`, says why, and lists what it tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn the_probe_finds_healthz_when_the_root_answers_404() {
    let (_tmp, dir) = fixture_copy();
    let row = build_one(&dir, "probe-healthz", &[]);
    let probe = &row["probe"];
    assert_eq!(probe["port"], 8000, "{probe:#}");
    assert_eq!(probe["health"]["kind"], "http", "{probe:#}");
    assert_eq!(probe["health"]["path"], "/healthz", "{probe:#}");
    assert_eq!(probe["health"]["status"], 200, "{probe:#}");
    let tried: Vec<(String, serde_json::Value)> = probe["tried"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["what"].as_str().unwrap().to_string(), a["answer"].clone()))
        .collect();
    assert!(
        tried.contains(&("GET /health".into(), serde_json::json!({"status": 404}))),
        "{tried:?}"
    );
    assert!(
        !tried.iter().any(|(w, _)| w == "GET /"),
        "stops at the first path that answers: {tried:?}"
    );
    let image = row["image"].as_str().unwrap();
    answers_as_recorded(image, 8000, "/healthz").await;
    assert!(leftover_probe_containers(&docker(), "probe-healthz")
        .await
        .is_empty());
}

/// The app listens on 8123, a port computed at run time: detection says 8000, the probe
/// finds 8123 (from the container's own socket table) and says the detected one is silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn the_probe_finds_the_port_the_app_really_listens_on() {
    let (_tmp, dir) = fixture_copy();
    let row = build_one(&dir, "probe-elsewhere", &[]);
    let probe = &row["probe"];
    assert_eq!(probe["port"], 8123, "{probe:#}");
    let why = probe["port_why"].as_str().unwrap();
    assert!(why.contains("8000"), "{why}");
    assert_eq!(probe["health"]["path"], "/health", "{probe:#}");
    answers_as_recorded(row["image"].as_str().unwrap(), 8123, "/health").await;
}

/// A container that exits at start fails its build: exit code 1, the container's exit code
/// and last log line, the `--no-probe` hint; the image this run built is removed and no
/// probe container is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn an_app_that_exits_at_start_fails_the_build_with_its_exit_code_and_log() {
    let (_tmp, dir) = fixture_copy();
    let (out, _) = build_project(&dir, &["--component", "probe-crashes", "--no-cache"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "the container exited with code 3",
        "fatal: SETTINGS_FILE is not set",
        "user 10001:10001, read-only root",
        "--no-probe",
        "1 of 1 image builds failed",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
    let docker = docker();
    assert!(leftover_probe_containers(&docker, "probe-crashes")
        .await
        .is_empty());
    let images = docker
        .list_images(None::<bollard::query_parameters::ListImagesOptions>)
        .await
        .unwrap();
    let tags: Vec<String> = images.into_iter().flat_map(|i| i.repo_tags).collect();
    assert!(
        !tags
            .iter()
            .any(|t| t.starts_with("justpush/probe-crashes:")),
        "{tags:?}"
    );

    // --no-probe builds it and records no probe.
    let row = build_one(&dir, "probe-crashes", &["--no-probe"]);
    assert!(row.get("probe").is_none(), "{row:#}");
    remove_image(&docker, row["image"].as_str().unwrap()).await;
}

/// justpush.yaml's port is the user's word: checked, not searched. A pinned port the app does
/// not listen on fails with the port it does listen on and the fix; a pinned health path
/// that answers 404 fails with the path that answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn pinned_port_and_health_are_checked_and_the_error_names_what_answers() {
    let (_tmp, dir) = fixture_copy();
    let config = |port: u16, health: &str| {
        format!("name: probe\ncomponents:\n  - name: probe-elsewhere\n    path: services/probe-elsewhere\n    port: {port}\n    health: {health}\n")
    };
    std::fs::write(dir.join("justpush.yaml"), config(8000, "/")).unwrap();
    let (out, _) = build_project(&dir, &["--component", "probe-elsewhere"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("port 8000 (pinned in justpush.yaml) does not listen")
            && stderr.contains("set `port: 8123` in justpush.yaml"),
        "{stderr}"
    );

    std::fs::write(dir.join("justpush.yaml"), config(8123, "/ready")).unwrap();
    let (out, _) = build_project(&dir, &["--component", "probe-elsewhere"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/ready (pinned in justpush.yaml) answered HTTP 404 on port 8123")
            && stderr.contains("/health (HTTP 200)"),
        "{stderr}"
    );

    std::fs::write(dir.join("justpush.yaml"), config(8123, "/health")).unwrap();
    let row = build_one(&dir, "probe-elsewhere", &[]);
    assert_eq!(row["probe"]["port"], 8123);
    assert!(row["probe"]["health"]["why"]
        .as_str()
        .unwrap()
        .contains("pinned"));
    remove_image(&docker(), row["image"].as_str().unwrap()).await;
}

/// The demo backend (FastAPI) serves its OpenAPI document: the probe reads and checks it
/// (`probe.openapi`), and finds its health route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn the_demo_backend_serves_its_runtime_openapi_document_to_the_probe() {
    let mut args: Vec<String> = vec![
        "build".into(),
        "--demo".into(),
        "--component".into(),
        "backend".into(),
    ];
    args.extend(ci_bases::base_image_args());
    args.extend(["-o".to_string(), "json".to_string()]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .args(&args)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let probe = &json["images"][0]["probe"];
    assert_eq!(probe["openapi"], "/openapi.json", "{probe:#}");
    assert_eq!(probe["port"], 8000, "{probe:#}");
    assert_eq!(probe["health"]["kind"], "http", "{probe:#}");
    assert!(stderr.contains("Probed backend: port 8000"), "{stderr}");
}
