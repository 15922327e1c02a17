//! `down` with recording stand-ins for kind and minikube on PATH.

use std::path::Path;
use std::process::Command;

/// Writes a stand-in program that appends its arguments to LOG and answers `get clusters` /
/// `profile list` with the given listing.
fn stand_in(dir: &Path, name: &str, listing: &str) {
    let script = format!(
        "#!/bin/sh\necho \"{name} $*\" >> \"$STANDIN_LOG\"\ncase \"$*\" in\n  \"get clusters\"|\"profile list -o json\") printf '%s\\n' '{listing}';;\nesac\nexit 0\n"
    );
    let p = dir.join(name);
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn down(bin_dir: &Path, log: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .arg("down")
        .args(args)
        .env("PATH", bin_dir)
        .env("STANDIN_LOG", log)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn down_deletes_the_kind_cluster_with_yes() {
    let dir = tempfile::tempdir().unwrap();
    stand_in(dir.path(), "kind", "justpush");
    let log = dir.path().join("log");
    let out = down(dir.path(), &log, &["--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls,
        "kind get clusters\nkind delete cluster --name justpush\n"
    );
}

#[test]
fn down_without_a_cluster_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    stand_in(dir.path(), "kind", "other");
    let log = dir.path().join("log");
    let out = down(dir.path(), &log, &["--yes"]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "kind get clusters\n"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn down_refuses_without_confirmation_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    stand_in(dir.path(), "kind", "justpush");
    let log = dir.path().join("log");
    let out = down(dir.path(), &log, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(!log.exists(), "nothing may run before confirmation");
}

#[test]
fn down_minikube_deletes_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    stand_in(dir.path(), "minikube", r#"{"valid":[{"Name":"justpush"}]}"#);
    let log = dir.path().join("log");
    let out = down(dir.path(), &log, &["--cluster", "minikube", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "minikube profile list -o json\nminikube delete -p justpush\n"
    );
}

#[test]
fn down_without_the_tool_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = down(dir.path(), &dir.path().join("log"), &["--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("kind is not installed") && e.contains("install kind"),
        "{e}"
    );
}
