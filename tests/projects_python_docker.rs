//! Docker tier for Python projects (issue 10): each Python fixture is built for real with the
//! CI bases (Debian bookworm's python3 3.11, no compiler) and run as the chart runs it (user
//! 10001, read-only root, no capabilities), and must answer its health path; a project
//! declaring a Python the bases do not have fails first in the builder, naming the fix.
//!
//! `#[ignore]`d: run by scripts/test-docker.sh with `--ignored`.

#[path = "support/ci_bases.rs"]
mod ci_bases;
#[path = "support/fixture_copy.rs"]
mod fixture_copy;
#[path = "support/run_as_chart.rs"]
mod run_as_chart;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::query_parameters::RemoveImageOptionsBuilder;
use bollard::Docker;
use fixture_copy::copy_dir;
use run_as_chart::{build_project, run_as_chart, RunSpec};

/// A copy of a fixture in a temporary directory named `python-…` (so images built here do
/// not collide with other suites'), keeping build state out of the repository.
fn fixture_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(format!("python-{name}"));
    copy_dir(&Path::new("tests/fixtures/projects").join(name), &dst);
    (tmp, dst)
}

/// The image `build -o json` reports for the project's only component.
fn built_image(dir: &Path) -> String {
    built_row(dir)["image"]
        .as_str()
        .unwrap_or_else(|| panic!("no image in the build result"))
        .to_string()
}

/// The `build -o json` row of the project's only component (image, probe result).
fn built_row(dir: &Path) -> serde_json::Value {
    let (out, json) = build_project(dir, &[]);
    assert!(
        out.status.success(),
        "build of {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = json.expect("build -o json prints JSON");
    json["images"][0].clone()
}

/// Runs a built image as the chart would and returns the health path's answer body; the
/// image is removed afterwards.
async fn ask(image: &str, spec: &RunSpec<'_>) -> String {
    let docker = Docker::connect_with_local_defaults().unwrap();
    let run = run_as_chart(&docker, image, spec).await;
    let _ = docker
        .remove_image(
            image,
            Some(RemoveImageOptionsBuilder::default().force(true).build()),
            None,
        )
        .await;
    let run =
        run.unwrap_or_else(|why| panic!("{image} did not answer {}: {why}", spec.health_path));
    assert!(
        (200..400).contains(&run.status),
        "{image}: {} answered {}: {}",
        spec.health_path,
        run.status,
        run.body
    );
    run.body
}

/// Builds a fixture and asks its health path on `port`.
async fn build_and_ask(fixture: &str, port: u16, health_path: &str) -> String {
    let (_tmp, dir) = fixture_copy(fixture);
    let image = built_image(&dir);
    ask(
        &image,
        &RunSpec {
            port,
            health_path,
            wait: Some(Duration::from_secs(90)),
            ..Default::default()
        },
    )
    .await
}

#[tokio::test]
#[ignore = "needs a Docker engine and the CI base images (scripts/test-docker.sh)"]
async fn python_version_file_declaring_the_bases_python_builds_and_answers() {
    let body = build_and_ask("python-version", 5000, "/healthz").await;
    assert!(body.contains("\"python\":\"3.11\""), "{body}");
}

#[tokio::test]
#[ignore = "needs a Docker engine and the CI base images (scripts/test-docker.sh)"]
async fn an_sdist_only_pin_compiles_in_the_builder_and_runs_without_a_compiler() {
    // mmh3 3.0.0 has no CPython 3.11 wheel: without build-essential and Python's headers in
    // the builder, pip fails; the answer carries the compiled extension's hash.
    let body = build_and_ask("python-sdist", 5000, "/healthz").await;
    assert!(body.contains("\"hash\":"), "{body}");
}

#[tokio::test]
#[ignore = "needs a Docker engine and the CI base images (scripts/test-docker.sh)"]
async fn requires_python_newer_than_the_builder_fails_first_naming_the_flags() {
    let (_tmp, dir) = fixture_copy("python-version");
    std::fs::remove_file(dir.join(".python-version")).unwrap();
    std::fs::write(
        dir.join("pyproject.toml"),
        "[project]\nname = \"python-version\"\nversion = \"1.0.0\"\nrequires-python = \">=3.13\"\n",
    )
    .unwrap();
    let (out, _) = build_project(&dir, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "pyproject.toml [project] requires-python declares Python >=3.13, but the builder image has Python 3.11.2"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("--base-image python.builder=IMAGE --base-image python.runtime=IMAGE"),
        "{stderr}"
    );
}

#[tokio::test]
#[ignore = "needs a Docker engine and the CI base images (scripts/test-docker.sh)"]
async fn django_sqlite_collects_static_at_build_and_answers_with_its_database() {
    // The settings require DJANGO_SECRET_KEY at import: the build's collectstatic gets a
    // placeholder, the probe (which never sees a real secret) a throwaway value on its second
    // run, and the run here the value a deploy would put in the Secret.
    let (_tmp, dir) = fixture_copy("django-sqlite");
    let row = built_row(&dir);
    let probe = &row["probe"];
    assert_eq!(probe["health"]["path"], "/healthz", "{row}");
    assert_eq!(
        probe["throwaway_secrets"],
        serde_json::json!(["DJANGO_SECRET_KEY"]),
        "{row}"
    );
    let image = row["image"].as_str().unwrap().to_string();
    let body = ask(
        &image,
        &RunSpec {
            port: 8000,
            health_path: "/healthz",
            writable_paths: &["/app/data"],
            env: &[("DJANGO_SECRET_KEY", "test-only-secret")],
            wait: Some(Duration::from_secs(90)),
        },
    )
    .await;
    assert!(body.contains("\"static_collected\": true"), "{body}");
}
