//! Docker tier for writable paths: fixtures that write beside their code are built for real and
//! run as the chart runs them (user 10001, read-only root). With the detected writable paths
//! mounted, a request that writes answers; without them the app cannot write and fails, so
//! these tests fail if detection stops finding a path. Run by scripts/test-docker.sh.

#[path = "support/ci_bases.rs"]
mod ci_bases;
#[path = "support/run_as_chart.rs"]
mod run_as_chart;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use run_as_chart::{build_project, run_as_chart, RunSpec};

/// Copies the fixture to a directory named with this branch's prefix, so the image name does
/// not collide with other tests' images, and builds it; the image and the detected paths.
fn build_fixture(fixture: &str) -> (tempfile::TempDir, String, Vec<String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/projects")
        .join(fixture);
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join(format!("writable-{fixture}"));
    copy_dir(&src, &dir);
    let (out, json) = build_project(&dir, &[]);
    assert!(out.status.success(), "build of {fixture} failed");
    let image = json.unwrap()["images"][0]["image"]
        .as_str()
        .unwrap()
        .to_string();
    let detect = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .args(["detect", dir.to_str().unwrap(), "-o", "json"])
        .output()
        .unwrap();
    let detected: serde_json::Value = serde_json::from_slice(&detect.stdout).unwrap_or_else(|e| {
        panic!(
            "detect -o json: {e}: {}",
            String::from_utf8_lossy(&detect.stderr)
        )
    });
    let paths = detected["components"][0]["writable_paths"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|w| w["path"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    (tmp, image, paths)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs `image` with and without `paths`, asking the route that writes.
async fn writes_only_with_its_paths(
    image: &str,
    port: u16,
    route: &str,
    paths: &[String],
    wrote: &str,
) {
    let docker = Docker::connect_with_local_defaults().unwrap();
    let mounted: Vec<&str> = paths.iter().map(String::as_str).collect();
    let spec = RunSpec {
        port,
        health_path: route,
        writable_paths: &mounted,
        wait: Some(Duration::from_secs(120)),
        ..Default::default()
    };
    let run = run_as_chart(&docker, image, &spec)
        .await
        .unwrap_or_else(|why| panic!("{image} with {mounted:?} did not answer {route}: {why}"));
    assert!(
        run.body.contains(wrote),
        "{image}: {route} answered {}",
        run.body
    );

    let bare = RunSpec {
        writable_paths: &[],
        wait: Some(Duration::from_secs(60)),
        ..spec
    };
    assert!(
        run_as_chart(&docker, image, &bare).await.is_err(),
        "{image} answered {route} without its writable paths: the test cannot tell them apart"
    );
}

#[tokio::test]
#[ignore = "needs Docker and the CI base images (scripts/test-docker.sh)"]
async fn flask_writes_sqlite_to_instance_and_logs_only_with_those_paths() {
    let (_tmp, image, paths) = build_fixture("flask-instance");
    assert_eq!(paths, ["/app/instance", "/app/logs"]);
    writes_only_with_its_paths(&image, 5000, "/notes", &paths, "\"notes\":1").await;
}

#[tokio::test]
#[ignore = "needs Docker and the CI base images (scripts/test-docker.sh)"]
async fn node_stores_uploads_only_with_that_path() {
    let (_tmp, image, paths) = build_fixture("node-uploads");
    assert_eq!(paths, ["/app/uploads"]);
    writes_only_with_its_paths(&image, 3000, "/upload", &paths, "\"stored\":1").await;
}
