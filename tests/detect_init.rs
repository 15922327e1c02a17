//! `init` on copies of the fixtures: what it writes, what it keeps, and that `justpush.yaml`
//! reads back.

use std::path::{Path, PathBuf};

use justpush::detect::config::{AppConfig, AuthType};
use justpush::dockerfile::init::{init, InitOptions, SkipReason};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn project(fixture: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(fixture);
    copy_dir(&Path::new("tests/fixtures/projects").join(fixture), &dir);
    (tmp, dir)
}

fn paths(list: &[PathBuf]) -> Vec<String> {
    list.iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn init_writes_dockerfiles_dockerignores_and_settings() {
    let (_tmp, dir) = project("monorepo");
    let report = init(&dir, &InitOptions::default()).unwrap();
    assert_eq!(
        paths(&report.written),
        [
            "backend/Dockerfile",
            "backend/.dockerignore",
            "frontend/Dockerfile",
            "frontend/.dockerignore",
            "justpush.yaml"
        ]
    );
    assert!(report.skipped.is_empty());
    let yaml = std::fs::read_to_string(dir.join("justpush.yaml")).unwrap();
    insta::assert_snapshot!("init__monorepo__justpush_yaml", yaml);
    let config = AppConfig::load(&dir.join("justpush.yaml")).unwrap();
    assert_eq!(config, report.config);
    assert_eq!(config.name, "monorepo");
    assert_eq!(config.kong.auth, AuthType::KeyAuth);
    // Secrets are listed by name only.
    let backend = &config.components[0];
    assert!(backend
        .env
        .iter()
        .any(|e| e.name == "GEMINI_API_KEY" && e.secret && e.value.is_none()));
    assert!(
        !yaml.contains("postgresql://"),
        "values from .env.example must not leak"
    );

    // Unedited, init's Dockerfiles are still justpush's: `build` regenerates them with its
    // current flags (base images, CA bundle). Once edited, a file is the component's own.
    let again = justpush::detect::detect(&dir).unwrap();
    assert!(again
        .components
        .iter()
        .all(|c| c.dockerfile == justpush::detect::DockerfileSource::Generated));
    let backend_dockerfile = dir.join("backend/Dockerfile");
    let text = std::fs::read_to_string(&backend_dockerfile).unwrap();
    std::fs::write(&backend_dockerfile, format!("{text}LABEL edited=yes\n")).unwrap();
    let edited = justpush::detect::detect(&dir).unwrap();
    let source = |name: &str| {
        edited
            .components
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .dockerfile
    };
    assert_eq!(
        source("backend"),
        justpush::detect::DockerfileSource::Existing
    );
    assert_eq!(
        source("frontend"),
        justpush::detect::DockerfileSource::Generated
    );
}

#[test]
fn init_never_overwrites_without_force() {
    let (_tmp, dir) = project("express");
    init(&dir, &InitOptions::default()).unwrap();
    std::fs::write(dir.join("justpush.yaml"), "# edited by hand\n").unwrap();
    let report = init(&dir, &InitOptions::default()).unwrap();
    assert!(report.written.is_empty(), "{:?}", report.written);
    // The file it cannot read is named, not silently passed over.
    let warning = report.config_warning.as_deref().unwrap_or_default();
    assert!(warning.contains("missing field `name`"), "{warning:?}");
    let skipped: Vec<(String, SkipReason)> = report
        .skipped
        .iter()
        .map(|s| (s.path.to_string_lossy().into_owned(), s.reason))
        .collect();
    // init's unedited Dockerfile is still justpush's, so it is skipped as an existing file
    // (no --force), not as the user's own.
    assert_eq!(
        skipped,
        [
            ("Dockerfile".to_string(), SkipReason::Exists),
            (".dockerignore".to_string(), SkipReason::Exists),
            ("justpush.yaml".to_string(), SkipReason::Exists),
        ]
    );
    // Edited, it is the user's own.
    let text = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        text.replace("EXPOSE", "EXPOSE 9999\nEXPOSE"),
    )
    .unwrap();
    let report = init(&dir, &InitOptions::default()).unwrap();
    assert!(report.written.is_empty(), "{:?}", report.written);
    assert_eq!(report.skipped[0].reason, SkipReason::OwnDockerfile);
    assert_eq!(
        std::fs::read_to_string(dir.join("justpush.yaml")).unwrap(),
        "# edited by hand\n"
    );
}

#[test]
fn force_regenerates_own_files_but_keeps_hand_written_dockerfiles() {
    let (_tmp, dir) = project("compose");
    init(&dir, &InitOptions::default()).unwrap();
    let hand_written = std::fs::read_to_string(dir.join("api/Dockerfile")).unwrap();
    std::fs::write(
        dir.join("web/Dockerfile"),
        "# Generated by justpush (stale)\n",
    )
    .unwrap();

    let report = init(
        &dir,
        &InitOptions {
            force: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        paths(&report.written),
        [
            "web/Dockerfile",
            "web/.dockerignore",
            "api/.dockerignore",
            "justpush.yaml"
        ]
    );
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].reason, SkipReason::OwnDockerfile);
    assert_eq!(
        std::fs::read_to_string(dir.join("api/Dockerfile")).unwrap(),
        hand_written
    );
    let web = std::fs::read_to_string(dir.join("web/Dockerfile")).unwrap();
    assert!(web.contains("EXPOSE 3000"), "{web}");
}

#[test]
fn init_reports_detection_errors() {
    let (_tmp, dir) = project("empty");
    let err = init(&dir, &InitOptions::default()).unwrap_err();
    assert!(err.to_string().contains("nothing deployable"), "{err}");
    assert!(!dir.join("justpush.yaml").exists());
}

#[test]
fn init_writes_detected_writable_paths_and_follows_an_existing_list() {
    let (_tmp, dir) = project("flask-instance");
    init(&dir, &InitOptions::default()).unwrap();
    let config = AppConfig::load(&dir.join("justpush.yaml")).unwrap();
    assert_eq!(
        config.components[0].writable.as_deref(),
        Some(&["/app/instance".to_string(), "/app/logs".to_string()][..])
    );
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("mkdir -p /app/instance /app/logs"),
        "{dockerfile}"
    );

    // The user's list replaces detection's in the Dockerfile that `init --force` writes again.
    let yaml = std::fs::read_to_string(dir.join("justpush.yaml"))
        .unwrap()
        .replace("- /app/instance\n", "- /app/spool\n");
    std::fs::write(dir.join("justpush.yaml"), &yaml).unwrap();
    init(
        &dir,
        &InitOptions {
            force: true,
            ..Default::default()
        },
    )
    .unwrap();
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("mkdir -p /app/spool /app/logs")
            && dockerfile.contains("chown 10001:10001 /app/spool /app/logs"),
        "{dockerfile}"
    );
}

fn justpush(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn detect_warns_about_a_write_into_the_app_directory_in_text_and_json() {
    let (_tmp, dir) = project("flask-sqlite-root");
    let dir_arg = dir.to_str().unwrap();
    let text = justpush(&["detect", dir_arg]);
    assert!(text.status.success());
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(
        stderr.contains("warning")
            && stderr.contains("flask-sqlite-root: app.py: SQLite file `sqlite:///visits.db` writes /app/visits.db"),
        "{stderr}"
    );
    let json = justpush(&["detect", dir_arg, "-o", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let component = &value["components"][0];
    assert_eq!(component["name"], "flask-sqlite-root");
    assert!(component["warnings"][0]
        .as_str()
        .unwrap()
        .contains("data/visits.db"));
}

#[test]
fn a_writable_path_leaving_the_app_is_refused_by_detect_with_exit_2() {
    let (_tmp, dir) = project("flask-instance");
    std::fs::write(
        dir.join("justpush.yaml"),
        "name: notes\ncomponents:\n  - name: flask-instance\n    path: .\n    port: 5000\n    writable: [/app/../etc]\n",
    )
    .unwrap();
    let out = justpush(&["detect", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`flask-instance`") && stderr.contains("`/app/../etc`"),
        "{stderr}"
    );
}
