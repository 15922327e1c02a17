//! Go and Rust fixtures built for real with the CI bases (Debian's Go 1.19 and Rust 1.63, no
//! module proxy or crates to fetch) and run as the chart runs them: each must answer its
//! detected health path as user 10001 on a read-only root with no capabilities. Run by
//! scripts/test-docker.sh (`--ignored`).

#[path = "support/fixture_copy.rs"]
mod fixture_copy;
use fixture_copy::copy_dir;
#[path = "support/ci_bases.rs"]
mod ci_bases;
#[path = "support/run_as_chart.rs"]
mod run_as_chart;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::query_parameters::RemoveImageOptionsBuilder;
use bollard::Docker;
use run_as_chart::{build_project, run_as_chart, RunSpec};

/// A copy of a fixture in a temporary directory, so the build's logs and state stay out of
/// the repository.
fn fixture_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(format!("gorust-{name}"));
    copy_dir(&Path::new("tests/fixtures/projects").join(name), &dst);
    (tmp, dst)
}

/// The image `build -o json` reports for the project's only component.
fn built_image(dir: &Path) -> String {
    let (out, json) = build_project(dir, &[]);
    assert!(
        out.status.success(),
        "build of {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = json.expect("build -o json prints JSON");
    json["images"][0]["image"]
        .as_str()
        .unwrap_or_else(|| panic!("no image in {json}"))
        .to_string()
}

/// Builds a fixture, runs it as the chart would and returns the health path's answer body.
async fn build_and_ask(fixture: &str, health_path: &str) -> String {
    let (_tmp, dir) = fixture_copy(fixture);
    let image = built_image(&dir);
    let docker = Docker::connect_with_local_defaults().unwrap();
    let run = run_as_chart(
        &docker,
        &image,
        &RunSpec {
            port: 8080,
            health_path,
            wait: Some(Duration::from_secs(60)),
            ..Default::default()
        },
    )
    .await;
    let _ = docker
        .remove_image(
            &image,
            Some(RemoveImageOptionsBuilder::default().force(true).build()),
            None,
        )
        .await;
    let run = run.unwrap_or_else(|why| panic!("{fixture} did not answer {health_path}: {why}"));
    assert!(
        (200..400).contains(&run.status),
        "{fixture}: {health_path} answered {}: {}",
        run.status,
        run.body
    );
    run.body
}

#[tokio::test]
#[ignore = "needs a Docker engine and the CI base images (scripts/test-docker.sh)"]
async fn go_stdlib_answers_healthz_as_the_chart_runs_it() {
    let body = build_and_ask("go-stdlib", "/healthz").await;
    assert!(body.contains("ok"), "{body}");
}

#[tokio::test]
#[ignore = "needs a Docker engine and the CI base images (scripts/test-docker.sh)"]
async fn go_cgo_runs_its_c_code_on_the_runtime_glibc() {
    // byte_sum("ok") = 'o' + 'k' = 111 + 107, computed by the C function: the binary was
    // built with cgo and runs against the runtime's glibc.
    let body = build_and_ask("go-cgo", "/healthz").await;
    assert!(body.contains("ok 218"), "{body}");
}

#[tokio::test]
#[ignore = "needs a Docker engine and the CI base images (scripts/test-docker.sh)"]
async fn rust_std_answers_healthz_as_the_chart_runs_it() {
    let body = build_and_ask("rust-std", "/healthz").await;
    assert!(body.contains("ok"), "{body}");
}

/// `cargo vendor` output whose crate ships a test key (as TLS crates do): the key is kept in
/// the build context because the crate lists it as published, so cargo's checksum check
/// passes and the build needs no network; the answer comes from the vendored crate.
#[tokio::test]
#[ignore = "needs a Docker engine and the CI base images (scripts/test-docker.sh)"]
async fn rust_with_vendored_crates_builds_offline_with_their_published_test_keys() {
    let body = build_and_ask("rust-vendored", "/healthz").await;
    assert!(body.contains("ok vendored"), "{body}");
}

#[tokio::test]
#[ignore = "needs a Docker engine and the CI base images (scripts/test-docker.sh)"]
async fn go_mod_newer_than_the_builder_fails_first_naming_the_flag() {
    let (_tmp, dir) = fixture_copy("go-stdlib");
    std::fs::write(
        dir.join("go.mod"),
        "module example.com/shop/stockd\n\ngo 1.22\n",
    )
    .unwrap();
    let (out, _) = build_project(&dir, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("go.mod go line declares Go 1.22, but the builder image has Go 1.19"),
        "{stderr}"
    );
    assert!(stderr.contains("--base-image go.builder=IMAGE"), "{stderr}");
}

#[tokio::test]
#[ignore = "needs a Docker engine and the CI base images (scripts/test-docker.sh)"]
async fn rust_version_newer_than_the_builder_fails_first_naming_the_flag() {
    let (_tmp, dir) = fixture_copy("rust-std");
    std::fs::write(
        dir.join("rust-toolchain.toml"),
        "[toolchain]\nchannel = \"1.80.0\"\n",
    )
    .unwrap();
    let (out, _) = build_project(&dir, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "rust-toolchain.toml channel declares Rust 1.80.0, but the builder image has Rust 1.63"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("--base-image rust.builder=IMAGE"),
        "{stderr}"
    );
}
