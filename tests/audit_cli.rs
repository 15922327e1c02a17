//! The audit log through the real binary against the fake API server: each changing command
//! appends exactly one line with its action and outcome, and no secret value reaches the file.

#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use fake_apiserver::FakeApiServer;
use serde_json::{json, Value};

const NS: &str = "shop";
const APP: &str = include_str!("fixtures/apps/todo-justpush.yaml");
const REGISTRY_PASSWORD: &str = "registry-pw-4242";
const STDIN_SECRET: &str = "stdin-secret-9191";

fn bin(state: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"));
    c.env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .env("JUSTPUSH_STATE_DIR", state)
        .env("JUSTPUSH_REGISTRY_PASSWORD", REGISTRY_PASSWORD)
        .env("USER", "auditor");
    c
}

fn run(state: &Path, kc: &Path, args: &[&str], cwd: &Path, stdin: Option<&str>) -> Output {
    let mut c = bin(state);
    c.arg("--kubeconfig")
        .arg(kc)
        .args(["-n", NS])
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn records(state: &Path) -> Vec<Value> {
    std::fs::read_to_string(state.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs a command and checks it appended exactly one record with this action and outcome.
fn expect_one(state: &Path, o: &Output, action: &str, status: &str) -> Value {
    let all = records(state);
    let last = all.last().cloned().unwrap_or(Value::Null);
    assert_eq!(last["action"], action, "{}\n{last}", text(o));
    assert_eq!(last["outcome"]["status"], status, "{}\n{last}", text(o));
    last
}

#[test]
fn each_changing_command_appends_one_line_without_secrets() {
    let state = tempfile::tempdir().unwrap();
    let st = state.path();
    let server = FakeApiServer::start();
    let kc = server.kubeconfig_file();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("justpush.yaml"), APP).unwrap();
    let d = dir.path();
    let deploy = |img: &str| {
        run(
            st,
            kc.path(),
            &[
                "deploy",
                ".",
                "--image",
                img,
                "--image",
                "web=todo/web:1",
                "--timeout",
                "30s",
            ],
            d,
            None,
        )
    };
    let count = std::cell::Cell::new(0);
    let step = |o: &Output, action: &str, status: &str| {
        count.set(count.get() + 1);
        assert_eq!(
            records(st).len(),
            count.get(),
            "one line per command: {}",
            text(o)
        );
        expect_one(st, o, action, status)
    };

    let o = deploy("api=todo/api:1");
    assert!(o.status.success(), "{}", text(&o));
    let r = step(&o, "deploy", "ok");
    assert_eq!(r["user"]["os"], "auditor");
    assert_eq!(r["target"]["namespace"], NS);
    assert!(
        r["inputs"]
            .to_string()
            .contains("api=todo/api:1,web=todo/web:1"),
        "{r}"
    );
    assert!(r["time"].as_str().unwrap().ends_with('Z'), "{r}");

    let o = deploy("api=todo/api:2");
    step(&o, "deploy", "ok");

    // Read-only commands leave no line.
    let o = run(st, kc.path(), &["history"], d, None);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(records(st).len(), count.get());

    let o = run(
        st,
        kc.path(),
        &["redeploy", "--component", "api", "--secret", "API_TOKEN"],
        d,
        Some(&format!("{STDIN_SECRET}\n")),
    );
    assert!(o.status.success(), "{}", text(&o));
    let r = step(&o, "redeploy", "ok");
    assert_eq!(r["inputs"]["secret"], "[redacted]", "{r}");

    let o = run(st, kc.path(), &["scale", "api", "3"], d, None);
    assert!(o.status.success(), "{}", text(&o));
    step(&o, "scale", "ok");
    let o = run(st, kc.path(), &["scale", "nope", "2"], d, None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let r = step(&o, "scale", "failed");
    assert!(
        r["outcome"]["message"].as_str().unwrap().contains("nope"),
        "{r}"
    );

    let o = run(st, kc.path(), &["rollback", "1"], d, None);
    assert!(o.status.success(), "{}", text(&o));
    step(&o, "rollback", "ok");

    let o = run(st, kc.path(), &["delete", "--yes"], d, None);
    step(
        &o,
        "delete",
        if o.status.success() { "ok" } else { "failed" },
    );

    // credentials --rotate on a release that has a key-auth credential.
    server.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}));
    use base64::Engine;
    server.put(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "demo-justpush-consumer-key-auth", "namespace": "apps",
                     "labels": {"konghq.com/credential": "key-auth"}},
        "type": "Opaque",
        "data": {"key": base64::engine::general_purpose::STANDARD.encode("old-key-0123456789")},
    }));
    let mut c = bin(st);
    let o = c
        .args(["credentials", "--kubeconfig"])
        .arg(kc.path())
        .args(["--name", "demo", "-n", "apps", "--rotate", "-o", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let new_key = v["credentials"][0]["key"].as_str().unwrap().to_string();
    step(&o, "credentials rotate", "ok");

    // A build without Docker fails, and says so in the log.
    let o = bin(st)
        .args(["build", "."])
        .current_dir(d)
        .env("DOCKER_HOST", format!("unix://{}/no.sock", st.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    step(&o, "build", "failed");

    let whole = std::fs::read_to_string(st.join("audit.jsonl")).unwrap();
    for secret in [STDIN_SECRET, REGISTRY_PASSWORD, new_key.as_str()] {
        assert!(
            !whole.contains(secret),
            "`{secret}` is in the audit log:\n{whole}"
        );
    }

    // Reading it back: JSON array filtered by action; text table.
    let o = bin(st)
        .args(["audit", "--action", "scale", "-o", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    let o = bin(st).args(["audit", "--since", "1h"]).output().unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    assert_eq!(table.lines().count(), count.get() + 1, "{table}");
}

#[test]
fn audit_reader_rejects_a_bad_since_and_skips_corrupt_lines() {
    let state = tempfile::tempdir().unwrap();
    let st = state.path();
    let o = bin(st)
        .args(["audit", "--since", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("RFC 3339"),
        "{}",
        text(&o)
    );
    std::fs::write(
        st.join("audit.jsonl"),
        concat!(
            r#"{"time":"2026-12-03T15:00:00Z","user":{"os":"me"},"action":"scale","target":{},"inputs":{},"outcome":{"status":"ok"}}"#,
            "\n{broken\n",
            r#"{"time":"2026-12-03T16:00:00Z","user":{"os":"me"},"action":"deploy","target":{},"inputs":{},"outcome":{"status":"ok"}}"#,
            "\n"
        ),
    )
    .unwrap();
    let o = bin(st)
        .args(["audit", "--since", "2026-12-03T15:30:00Z", "-o", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["action"], "deploy");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("line 2"),
        "{}",
        text(&o)
    );
}

#[test]
fn an_unwritable_audit_log_is_a_warning_not_the_result() {
    let state = tempfile::tempdir().unwrap();
    // The state "directory" is a file: the audit write must fail.
    let blocked = state.path().join("file");
    std::fs::write(&blocked, "").unwrap();
    let o = bin(&blocked)
        .args(["build", "."])
        .current_dir(state.path())
        .env("DOCKER_HOST", "unix:///nonexistent/no.sock")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(err.contains("writing the audit log"), "{}", text(&o));
}
