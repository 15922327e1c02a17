//! Docker tier for Node projects (issue 10): each Node fixture is built for real with the CI
//! bases (Debian bookworm's nodejs 18) and run as the chart runs it (user 10001, read-only
//! root, no capabilities), and must answer its health path; a project declaring a Node the
//! bases do not have fails in the builder with a message that names the fix.
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

use bollard::query_parameters::RemoveImageOptionsBuilder;
use bollard::Docker;
use run_as_chart::{build_project, run_as_chart, RunSpec};

/// A copy of fixture `name` (the build may leave logs in the project directory).
fn fixture_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    copy_dir(&Path::new("tests/fixtures/projects").join(name), &dir);
    (tmp, dir)
}

/// Builds fixture `name`, runs its one image as the chart would and returns the answer body.
async fn build_and_run(name: &str, port: u16, health_path: &str) -> String {
    let (_tmp, dir) = fixture_copy(name);
    let (out, json) = build_project(&dir, &[]);
    assert!(out.status.success(), "building {name} failed");
    let json = json.expect("build -o json prints JSON");
    let image = json["images"][0]["image"]
        .as_str()
        .expect("the build names its image")
        .to_string();
    let docker = Docker::connect_with_local_defaults().unwrap();
    let spec = RunSpec {
        port,
        health_path,
        wait: Some(Duration::from_secs(60)),
        ..RunSpec::default()
    };
    let run = run_as_chart(&docker, &image, &spec).await;
    let _ = docker
        .remove_image(
            &image,
            Some(RemoveImageOptionsBuilder::default().force(true).build()),
            None,
        )
        .await;
    let run =
        run.unwrap_or_else(|why| panic!("{name} ({image}) did not answer {health_path}: {why}"));
    assert!(
        (200..400).contains(&run.status),
        "{name} answered {health_path} with {}: {}",
        run.status,
        run.body
    );
    run.body
}

/// `nodemon server.js` as the start script: the image starts `node server.js` after dev
/// dependencies (nodemon among them) are pruned, and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn express_with_a_dev_tool_start_script_runs_pruned() {
    let body = build_and_run("express-devstart", 3000, "/healthz").await;
    assert!(body.contains("\"ok\":true"), "{body}");
}

/// An N-API addon compiled by node-gyp in the builder (python3, make, g++ and Debian's node
/// headers; nothing downloaded from nodejs.org), loaded by the runtime image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn a_native_addon_compiles_in_the_builder_and_loads_at_run_time() {
    let body = build_and_run("node-native", 8080, "/health").await;
    // The addon's byte sum of "justpush".
    let expected: u32 = "justpush".bytes().map(u32::from).sum();
    assert!(body.contains(&format!("\"checksum\":{expected}")), "{body}");
}

/// `engines.node: ^18.17` passes the builder's version check on Debian's node 18.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn a_project_declaring_node_18_builds_on_the_node_18_bases() {
    let body = build_and_run("node-engines", 8080, "/healthz").await;
    assert!(body.contains("\"node\":\"18."), "{body}");
}

/// `engines.node: >=22` on the node 18 CI bases: the builder's first step fails, and the
/// error names the declaration, the file, the node found and the flags that override.
#[test]
#[ignore]
fn a_project_declaring_node_22_fails_early_on_the_node_18_bases() {
    let (_tmp, dir) = fixture_copy("node-engines");
    let pkg = dir.join("package.json");
    let text = std::fs::read_to_string(&pkg)
        .unwrap()
        .replace("^18.17", ">=22");
    std::fs::write(&pkg, text).unwrap();
    let (out, _) = build_project(&dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "package.json engines.node declares >=22",
        "the builder image has node 18.",
        "--base-image node.builder=IMAGE --base-image node.runtime=IMAGE",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
    // It failed before dependencies were installed.
    assert!(!stderr.contains("npm install"), "{stderr}");
}
