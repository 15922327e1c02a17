//! Paths a project names, through the real binary: a `justpush.yaml` path that leaves the
//! project stops `up` before anything is built, a spec that symlinks out of the project is
//! refused without its content showing, a chart template that symlinks out is not rendered,
//! and a broken kubeconfig never prints its token.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-justpush");
/// Stands for a secret: it must never appear in anything the binary prints.
const CANARY: &str = "CANARY-7d1e-secret-material";

fn run(args: &[&str], home: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .env("HOME", home)
        .env("JUSTPUSH_STATE_DIR", home.join("state"))
        .env("JUSTPUSH_CACHE_DIR", home.join("cache"))
        .env("KUBECONFIG", home.join("no-kubeconfig"))
        .env("PATH", home.join("bin"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A deployable project (an existing Dockerfile) with the given justpush.yaml component line.
fn project_with(dir: &Path, component_field: &str) {
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nEXPOSE 8080\nCMD [\"/app\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("justpush.yaml"),
        format!("name: shop\ncomponents:\n  - name: api\n    path: .\n    port: 8080\n    {component_field}\n"),
    )
    .unwrap();
}

#[test]
fn up_refuses_a_config_path_outside_the_project_before_anything_runs() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    project_with(project.path(), "openapi: {file: /etc/passwd}");
    let out = run(
        &["up", "--dry-run", project.path().to_str().unwrap()],
        home.path(),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("components.api.openapi.file"), "{stderr}");
    assert!(stderr.contains("absolute path"), "{stderr}");
    assert!(!stderr.contains("root:"), "{stderr}");
    assert!(text(&out.stdout).is_empty());
}

/// `detect` is where a project is checked before `up`: a justpush.yaml that `up` refuses (a
/// path outside the project, or a justpush.yaml that is not a readable file) is refused here too
/// instead of being ignored.
#[test]
fn detect_refuses_the_justpush_yaml_that_up_would_refuse() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    project_with(project.path(), "openapi: {file: ../../etc/passwd}");
    let out = run(&["detect", project.path().to_str().unwrap()], home.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("components.api.openapi.file"), "{stderr}");
    assert!(text(&out.stdout).is_empty());

    let odd = tempfile::tempdir().unwrap();
    std::fs::write(odd.path().join("main.py"), "print(1)\n").unwrap();
    std::fs::create_dir(odd.path().join("justpush.yaml")).unwrap();
    let out = run(&["detect", odd.path().to_str().unwrap()], home.path());
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a directory named justpush.yaml: {stderr}"
    );
    assert!(stderr.contains("justpush.yaml"), "{stderr}");
}

#[test]
fn routes_refuses_a_project_spec_that_symlinks_out_and_never_prints_it() {
    let home = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.yaml"),
        format!("token: {CANARY}\n"),
    )
    .unwrap();
    let project = tempfile::tempdir().unwrap();
    project_with(project.path(), "openapi: {file: openapi.yaml}");
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        project.path().join("openapi.yaml"),
    )
    .unwrap();
    let out = run(&["routes", project.path().to_str().unwrap()], home.path());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("outside the project"), "{stderr}");
    assert!(stderr.contains("openapi.yaml"), "{stderr}");
    assert!(
        !stdout.contains(CANARY) && !stderr.contains(CANARY),
        "{stdout}{stderr}"
    );
}

#[test]
fn render_refuses_a_chart_template_that_symlinks_out_of_the_chart() {
    let home = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("passwd"),
        format!("root:{CANARY}:0:0\n"),
    )
    .unwrap();
    let chart = tempfile::tempdir().unwrap();
    std::fs::create_dir(chart.path().join("templates")).unwrap();
    std::fs::write(
        chart.path().join("Chart.yaml"),
        "apiVersion: v2\nname: t\nversion: 0.1.0\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("passwd"),
        chart.path().join("templates/cm.yaml"),
    )
    .unwrap();
    let out = run(&["render", chart.path().to_str().unwrap()], home.path());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(matches!(out.status.code(), Some(1 | 2)), "{stderr}");
    assert!(stderr.contains("templates/cm.yaml"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!stderr.contains(CANARY), "{stderr}");
}

#[test]
fn a_broken_kubeconfig_never_prints_its_token() {
    let home = tempfile::tempdir().unwrap();
    for (name, broken) in [
        ("unclosed.yaml", format!("apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: \"{CANARY}\n    client-key-data: x\n")),
        ("wrong-type.yaml", format!("apiVersion: v1\nkind: Config\nusers: {CANARY}\n")),
        ("flow.yaml", format!("apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    client-key-data: [{CANARY}: {{\n")),
    ] {
        let file = home.path().join(name);
        std::fs::write(&file, broken).unwrap();
        for command in [&["status"][..], &["credentials"][..]] {
            let mut args = command.to_vec();
            args.extend(["--kubeconfig", file.to_str().unwrap()]);
            let out = run(&args, home.path());
            let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
            assert!(matches!(out.status.code(), Some(1 | 2)), "{args:?}: {stderr}");
            assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY), "{args:?}: {stderr}");
            assert!(stderr.contains(name) && stderr.contains("line"), "{args:?}: {stderr}");
        }
    }
}

/// An exec plugin's stdout is where it puts the token: kube-rs quotes it when it does not parse
/// (and quotes stdout and the arguments when the plugin fails), so it must not reach the user.
#[test]
fn a_kubeconfig_exec_plugins_output_and_arguments_are_never_printed() {
    let home = tempfile::tempdir().unwrap();
    for (name, command, args) in [
        // Prints the token as plain text instead of an ExecCredential.
        ("exec-parse.yaml", "/bin/echo", format!("[{CANARY}]")),
        // Prints the token, then fails; the token is also in its arguments.
        (
            "exec-fails.yaml",
            "/bin/sh",
            format!("[-c, 'echo {CANARY}; echo plugin broke >&2; exit 3', {CANARY}]"),
        ),
    ] {
        let file = home.path().join(name);
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"https://127.0.0.1:9\"}}}}]\n\
             users: [{{name: u, user: {{exec: {{apiVersion: client.authentication.k8s.io/v1, command: {command}, args: {args}}}}}}}]\n\
             contexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"
        );
        std::fs::write(&file, kubeconfig).unwrap();
        let out = run(
            &[
                "status",
                "--name",
                "a",
                "-vvv",
                "--kubeconfig",
                file.to_str().unwrap(),
            ],
            home.path(),
        );
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(matches!(out.status.code(), Some(1 | 2)), "{name}: {stderr}");
        assert!(
            !stdout.contains(CANARY) && !stderr.contains(CANARY),
            "{name}: {stderr}"
        );
        assert!(stderr.contains("exec plugin"), "{name}: {stderr}");
        if name == "exec-fails.yaml" {
            assert!(
                stderr.contains("plugin broke"),
                "its stderr helps and is shown: {stderr}"
            );
        }
    }
}

#[test]
fn a_kubeconfig_that_is_a_fifo_is_refused_without_blocking() {
    let home = tempfile::tempdir().unwrap();
    let fifo = home.path().join("kubeconfig");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let out = run(
        &["status", "--kubeconfig", fifo.to_str().unwrap()],
        home.path(),
    );
    let stderr = text(&out.stderr);
    assert!(matches!(out.status.code(), Some(1 | 2)), "{stderr}");
    assert!(stderr.contains("FIFO"), "{stderr}");
}
