//! `credentials` against the fake Kubernetes API server: the key is shown again without any
//! write, replaced only with --rotate (and said so), a missing credential is a clear error,
//! and a jwt credential yields a token signed with its stored secret.

#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;

use base64::Engine;
use fake_apiserver::{FakeApiServer, Verb};
use justpush::kong::credentials::hmac_sha256;
use serde_json::{json, Value};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-justpush");

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn decoded(secret: &Value, field: &str) -> String {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(secret["data"][field].as_str().unwrap())
        .unwrap();
    String::from_utf8(raw).unwrap()
}

fn credential_secret(name: &str, kind: &str, data: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "apps", "labels": {"konghq.com/credential": kind}},
        "type": "Opaque", "data": data,
    })
}

fn cluster() -> FakeApiServer {
    let server = FakeApiServer::start();
    server.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}));
    server
}

fn run(server: &FakeApiServer, args: &[&str]) -> Output {
    let kubeconfig = server.kubeconfig_file();
    Command::new(BIN)
        .args(["credentials", "--kubeconfig"])
        .arg(kubeconfig.path())
        .args(["--name", "demo", "-n", "apps"])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn writes(server: &FakeApiServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| {
            matches!(
                r.verb,
                Some(Verb::Apply | Verb::Patch | Verb::Update | Verb::Create | Verb::Delete)
            )
        })
        .count()
}

#[test]
fn shows_the_key_again_without_writing() {
    let server = cluster();
    server.put(credential_secret(
        "demo-justpush-consumer-key-auth",
        "key-auth",
        json!({"key": b64("the-existing-key-0123456789")}),
    ));
    let out = run(&server, &["-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["credentials"][0]["key"], "the-existing-key-0123456789");
    assert_eq!(v["credentials"][0]["outcome"], "kept");
    assert_eq!(writes(&server), 0, "showing must not write");
    assert!(String::from_utf8_lossy(&out.stderr).is_empty());
}

#[test]
fn rotate_replaces_the_key_loudly() {
    let server = cluster();
    server.put(credential_secret(
        "demo-justpush-consumer-key-auth",
        "key-auth",
        json!({"key": b64("the-existing-key-0123456789")}),
    ));
    let out = run(&server, &["--rotate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rotated the key-auth credential")
            && stderr.contains("old one stops working"),
        "{stderr}"
    );
    let secret = server
        .object("v1", "Secret", "apps", "demo-justpush-consumer-key-auth")
        .unwrap();
    let key = decoded(&secret, "key");
    assert_ne!(key, "the-existing-key-0123456789");
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&key)
            .unwrap()
            .len(),
        32
    );
    assert_eq!(
        secret["metadata"]["labels"]["konghq.com/credential"],
        "key-auth"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&key), "the new key is printed");
    assert!(
        !stderr.contains(&key),
        "the key never goes to the log stream"
    );
    assert!(server
        .requests()
        .iter()
        .any(|r| r.is_apply_by("kubectl-justpush") && r.name == "demo-justpush-consumer-key-auth"));
    // Showing it afterwards gives the rotated key.
    let again = run(&server, &["-o", "json"]);
    let v: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["credentials"][0]["key"], key.as_str());
}

#[test]
fn a_missing_credential_is_a_clear_error() {
    let server = cluster();
    let out = run(&server, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no consumer credential found for release demo in namespace apps"),
        "{stderr}"
    );
    assert_eq!(writes(&server), 0);
}

#[test]
fn a_damaged_credential_is_not_replaced_without_rotate() {
    let server = cluster();
    server.put(credential_secret(
        "demo-justpush-consumer-key-auth",
        "key-auth",
        json!({"key": ""}),
    ));
    let out = run(&server, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rotate"));
    assert_eq!(writes(&server), 0);
}

#[test]
fn jwt_credential_mints_a_token_signed_with_the_stored_secret() {
    let server = cluster();
    let secret = "s3cr3t-".repeat(8);
    server.put(credential_secret(
        "demo-justpush-consumer-jwt",
        "jwt",
        json!({"key": b64("mobile-app"), "algorithm": b64("HS256"), "secret": b64(&secret)}),
    ));
    let out = run(&server, &["--type", "jwt", "-o", "json", "--ttl", "600"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = v["credentials"][0]["token"].as_str().unwrap();
    assert!(
        v["credentials"][0].get("hs256Secret").is_none(),
        "the secret only with --show-secret"
    );
    let parts: Vec<&str> = token.split('.').collect();
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims: Value = serde_json::from_slice(&b64url.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["iss"], "mobile-app");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
    let signature = b64url.encode(hmac_sha256(
        secret.as_bytes(),
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
    ));
    assert_eq!(parts[2], signature);
    let text = run(&server, &["--type", "jwt"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("Authorization: Bearer"));
}
