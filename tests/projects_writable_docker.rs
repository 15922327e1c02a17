//! Docker tier for writable paths: fixtures that write beside their code are built for real and
//! run as the chart runs them (user 10001, read-only root). With the detected writable paths
//! mounted, a request that writes answers; without them the app cannot write and fails, so
//! these tests fail if detection stops finding a path. Run by scripts/test-docker.sh.

#[path = "support/fixture_copy.rs"]
mod fixture_copy;
use fixture_copy::copy_dir;
#[path = "support/ci_bases.rs"]
mod ci_bases;
#[path = "support/run_as_chart.rs"]
mod run_as_chart;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StartContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures::StreamExt;
use run_as_chart::{build_project, run_as_chart, RunSpec};

/// Copies the fixture to a directory named with this branch's prefix, so the image name does
/// not collide with other tests' images.
fn copy_fixture(fixture: &str) -> (tempfile::TempDir, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/projects")
        .join(fixture);
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join(format!("writable-{fixture}"));
    copy_dir(&src, &dir);
    (tmp, dir)
}

/// `detect DIR -o json`.
fn detect_json(dir: &Path) -> serde_json::Value {
    let detect = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .args(["detect", dir.to_str().unwrap(), "-o", "json"])
        .output()
        .unwrap();
    serde_json::from_slice(&detect.stdout).unwrap_or_else(|e| {
        panic!(
            "detect -o json: {e}: {}",
            String::from_utf8_lossy(&detect.stderr)
        )
    })
}

/// What a build of the project in `dir` made: the image, the writable paths detection
/// reports, and what the build said on stderr.
struct Built {
    image: String,
    paths: Vec<String>,
    stderr: String,
}

fn build_dir(dir: &Path) -> Built {
    let (out, json) = build_project(dir, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "build of {} failed", dir.display());
    let image = json.unwrap()["images"][0]["image"]
        .as_str()
        .unwrap()
        .to_string();
    let paths = detect_json(dir)["components"][0]["writable_paths"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|w| w["path"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    Built {
        image,
        paths,
        stderr,
    }
}

fn build_fixture(fixture: &str) -> (tempfile::TempDir, String, Vec<String>) {
    let (tmp, dir) = copy_fixture(fixture);
    let built = build_dir(&dir);
    (tmp, built.image, built.paths)
}

/// The owner (`uid:gid`) of each of `paths` in `image`, as `stat` run in it prints them.
async fn owners_in_image(docker: &Docker, image: &str, paths: &[&str]) -> String {
    let name = format!("writable-owners-{}", image.replace(['/', ':', '.'], "-"));
    let _ = docker
        .remove_container(
            &name,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await;
    let mut cmd = vec!["stat".to_string(), "-c".to_string(), "%n %u:%g".to_string()];
    cmd.extend(paths.iter().map(|p| p.to_string()));
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            ContainerCreateBody {
                image: Some(image.to_string()),
                entrypoint: Some(vec![]),
                cmd: Some(cmd),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    docker
        .start_container(&name, None::<StartContainerOptions>)
        .await
        .unwrap();
    let mut waits = docker.wait_container(&name, None::<WaitContainerOptions>);
    while let Some(w) = waits.next().await {
        // A non-zero exit (a path that does not exist) arrives as an error; the log says it.
        if w.is_err() {
            break;
        }
    }
    let mut out = String::new();
    let mut logs = docker.logs(
        &name,
        Some(
            LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .build(),
        ),
    );
    while let Some(Ok(chunk)) = logs.next().await {
        out.push_str(&chunk.to_string());
    }
    let _ = docker
        .remove_container(
            &name,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await;
    out
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

#[tokio::test]
#[ignore = "needs Docker and the CI base images (scripts/test-docker.sh)"]
async fn a_sqlite_file_in_the_app_root_is_warned_by_build_and_works_once_moved() {
    let (_tmp, dir) = copy_fixture("flask-sqlite-root");
    let built = build_dir(&dir);
    assert!(
        built.paths.is_empty(),
        "no volume can cover /app: {:?}",
        built.paths
    );
    for part in ["sqlite:///visits.db", "/app/visits.db", "data/visits.db"] {
        assert!(
            built.stderr.contains(part),
            "build's warning lacks `{part}`: {}",
            built.stderr
        );
    }
    let docker = Docker::connect_with_local_defaults().unwrap();
    let as_detected = RunSpec {
        port: 5000,
        health_path: "/visits",
        writable_paths: &[],
        wait: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    assert!(
        run_as_chart(&docker, &built.image, &as_detected)
            .await
            .is_err(),
        "{} wrote /app/visits.db on a read-only root: the warning would be wrong",
        built.image
    );

    // The fix the warning names: the file in a subdirectory, which detection then mounts.
    let app = dir.join("app.py");
    let code = std::fs::read_to_string(&app).unwrap();
    std::fs::write(
        &app,
        code.replace("sqlite:///visits.db", "sqlite:///data/visits.db"),
    )
    .unwrap();
    let fixed = build_dir(&dir);
    assert_eq!(fixed.paths, ["/app/data"]);
    assert!(
        !fixed.stderr.contains("in the app's own directory"),
        "{}",
        fixed.stderr
    );
    writes_only_with_its_paths(&fixed.image, 5000, "/visits", &fixed.paths, "\"visits\":1").await;
}

#[tokio::test]
#[ignore = "needs Docker and the CI base images (scripts/test-docker.sh)"]
async fn justpush_yaml_writable_list_is_what_the_image_hands_to_the_app_user() {
    let (_tmp, dir) = copy_fixture("node-uploads");
    let detected = detect_json(&dir);
    let component = &detected["components"][0];
    // /app/spool is nothing detection could find: only the file puts it in the image.
    std::fs::write(
        dir.join("justpush.yaml"),
        format!(
            "name: writable-yaml\ncomponents:\n  - name: {}\n    path: .\n    port: {}\n    writable: [/app/uploads, /app/spool]\n",
            component["name"].as_str().unwrap(),
            component["port"]
        ),
    )
    .unwrap();
    let built = build_dir(&dir);
    let docker = Docker::connect_with_local_defaults().unwrap();
    let owners = owners_in_image(&docker, &built.image, &["/app/uploads", "/app/spool"]).await;
    assert!(
        owners.contains("/app/uploads 10001:10001") && owners.contains("/app/spool 10001:10001"),
        "{}: {owners}",
        built.image
    );
    // `detect` shows what build used: the file's list, with its reason.
    let shown = detect_json(&dir);
    let reasons: Vec<(&str, &str)> = shown["components"][0]["writable_paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["path"].as_str().unwrap(), w["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("/app/uploads", "justpush.yaml: writable"),
            ("/app/spool", "justpush.yaml: writable")
        ]
    );
}
