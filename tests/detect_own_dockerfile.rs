//! A project's own Dockerfile through the real binary: `detect` shows what is wrong with it
//! (root, another port than the sources, files a clean checkout lacks, no HEALTHCHECK) and
//! uses its port, with exit code 0; a hostile one does not hang or crash it. In the Docker
//! tier (`--ignored`, scripts/test-docker.sh): init → build keeps applying `--base-image` and
//! `--ca-bundle` to an unedited init Dockerfile, and an edited one still builds on the chosen
//! base images (as build arguments) with a warning about the CA bundle.

#[path = "support/fixture_copy.rs"]
mod fixture_copy;
use fixture_copy::copy_dir;
#[path = "support/ci_bases.rs"]
mod ci_bases;
#[path = "support/run_as_chart.rs"]
mod run_as_chart;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bollard::query_parameters::RemoveImageOptionsBuilder;
use bollard::Docker;
use run_as_chart::{build_project, run_as_chart, RunSpec};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-justpush");

fn justpush(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const FIXTURE: &str = "tests/fixtures/projects/own-dockerfile-root";

#[test]
fn detect_warns_about_root_port_and_an_ignored_copy_and_uses_the_dockerfiles_port() {
    let out = justpush(&["detect", FIXTURE]);
    let stderr = text(&out.stderr);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for expected in [
        "warning: ledger: Dockerfile serves on port 8080 (its EXPOSE) but detection found 3000 (server.js); using 8080, the Dockerfile's",
        "warning: ledger: Dockerfile line 6: COPY dist is ignored by .gitignore, so a clean checkout cannot build it",
        "warning: ledger: Dockerfile runs as root (its final stage sets no USER)",
        "warning: ledger: Dockerfile has no HEALTHCHECK; the chart's probes still GET /healthz",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(
        stdout.contains("ledger: port 8080 from Dockerfile EXPOSE; health /healthz from server.js"),
        "{stdout}"
    );

    let out = justpush(&["detect", FIXTURE, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &json["components"][0];
    assert_eq!(c["port"], 8080);
    assert_eq!(c["port_source"], "Dockerfile EXPOSE");
    assert_eq!(c["health"], "/healthz");
    assert_eq!(c["health_source"], "server.js");
    assert_eq!(c["warnings"].as_array().unwrap().len(), 4, "{c}");
}

#[test]
fn a_generated_component_says_where_port_and_health_were_found() {
    let out = justpush(&["detect", "tests/fixtures/projects/go-stdlib", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &json["components"][0];
    assert_eq!(c["port_source"], "main.go");
    assert_eq!(c["health_source"], "main.go");
    assert!(c.get("warnings").is_none(), "{c}");
    let out = justpush(&["detect", "tests/fixtures/projects/static", "-o", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["components"][0]["health_source"],
        "guessed: no health route in the sources"
    );
}

#[test]
fn a_hostile_dockerfile_neither_hangs_nor_crashes_detect() {
    let dir = tempfile::tempdir().unwrap();
    // Under the tree's 512 KiB read limit, so it is parsed: endless continuations, a huge
    // variable expanded many times, an unterminated JSON command, a port out of range.
    let mut hostile = String::from("ARG X=");
    hostile.push_str(&"y".repeat(1000));
    hostile.push_str("\nFROM scratch\nUSER ");
    hostile.push_str(&"${X}".repeat(5000));
    hostile.push_str("\nEXPOSE 99999999\nCMD [\"unterminated\n");
    hostile.push_str(&"RUN a \\\n".repeat(20_000));
    hostile.push_str(&"COPY a b\n".repeat(12_000));
    std::fs::write(dir.path().join("Dockerfile"), &hostile).unwrap();
    let out = justpush(&["detect", dir.path().to_str().unwrap(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("has more than 10000 instructions; only the first 10000 were checked"),
        "{stderr}"
    );
}

/// A copy of the go-stdlib fixture with its own module name, so its images do not collide with
/// other tests' (`justpush/owndf-stockd:...`).
fn go_project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("owndf-stockd");
    copy_dir(Path::new("tests/fixtures/projects/go-stdlib"), &dir);
    std::fs::write(
        dir.join("go.mod"),
        "module example.com/owndf-stockd\n\ngo 1.19\n",
    )
    .unwrap();
    (tmp, dir)
}

async fn answers_healthz(docker: &Docker, image: &str) {
    let run = run_as_chart(
        docker,
        image,
        &RunSpec {
            port: 8080,
            health_path: "/healthz",
            wait: Some(Duration::from_secs(60)),
            ..Default::default()
        },
    )
    .await;
    let _ = docker
        .remove_image(
            image,
            Some(RemoveImageOptionsBuilder::default().force(true).build()),
            None,
        )
        .await;
    let run = run.unwrap_or_else(|why| panic!("{image} did not answer /healthz: {why}"));
    assert!(
        (200..400).contains(&run.status),
        "{}: {}",
        run.status,
        run.body
    );
}

fn image_of(out: &Output, json: Option<serde_json::Value>) -> String {
    assert!(out.status.success(), "build failed: {}", text(&out.stderr));
    let json = json.expect("build -o json prints JSON");
    json["images"][0]["image"].as_str().unwrap().to_string()
}

#[tokio::test]
#[ignore = "needs a Docker engine and the CI base images (scripts/test-docker.sh)"]
async fn init_then_build_applies_the_flags_and_an_edited_file_still_gets_the_base_images() {
    let docker = Docker::connect_with_local_defaults().unwrap();
    let (_tmp, dir) = go_project();
    let out = justpush(&["init", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dockerfile = dir.join("Dockerfile");
    let written = std::fs::read_to_string(&dockerfile).unwrap();
    assert!(
        written.lines().next().unwrap().contains(" sha256:"),
        "{written}"
    );

    // Unedited: regenerated with the CI bases and the CA bundle (its default base images are
    // Docker Hub's, which this machine cannot pull, so ignoring the flags fails the build).
    let (out, json) = build_project(&dir, &["--tag", "owndf-unedited"]);
    let image = image_of(&out, json);
    assert!(
        !text(&out.stderr).contains("--ca-bundle is not applied"),
        "{}",
        text(&out.stderr)
    );
    answers_healthz(&docker, &image).await;

    // Edited: the user's now; the base images arrive as build arguments, the CA bundle cannot.
    std::fs::write(&dockerfile, format!("{written}LABEL team=stock\n")).unwrap();
    let (out, json) = build_project(&dir, &["--tag", "owndf-edited"]);
    let image = image_of(&out, json);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--ca-bundle is not applied: Dockerfile was written by `kubectl justpush init` and edited since")
            && stderr.contains("delete it and run `kubectl justpush init` again"),
        "{stderr}"
    );
    let labels = docker
        .inspect_image(&image)
        .await
        .unwrap()
        .config
        .and_then(|c| c.labels)
        .unwrap_or_default();
    assert_eq!(
        labels.get("team").map(String::as_str),
        Some("stock"),
        "the edited file was built"
    );
    answers_healthz(&docker, &image).await;
}
