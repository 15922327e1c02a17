//! `routes` and `render --openapi` through the real binary: table and machine output,
//! warnings on stderr, a spec found through a project's justpush.yaml, and a spec fetched
//! from a running service's /openapi.json (an axum server owned by the test).

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-justpush");

fn run(args: &[&str], dir: Option<&std::path::Path>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("NO_COLOR", "1");
    cmd.current_dir(dir.unwrap_or(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))));
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn table_is_the_default_and_warnings_go_to_stderr() {
    let out = run(
        &[
            "routes",
            "tests/fixtures/openapi/security-apikey-cookie.yaml",
            "-o",
            "table",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("PLUGINS"),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("session-api_me ")
            && l.contains("~/me$")
            && l.contains("key-auth")),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("cannot read"),
        "{}",
        text(&out.stderr)
    );
    assert!(!stdout.contains("warning"));
}

#[test]
fn json_lists_every_plugin_of_every_route() {
    let out = run(
        &[
            "routes",
            "tests/fixtures/openapi/petstore-3.0.yaml",
            "-o",
            "json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let routes = v["routes"].as_array().unwrap();
    let create = routes
        .iter()
        .find(|r| r["name"] == "swagger-petstore_createpets")
        .unwrap();
    assert_eq!(create["methods"], serde_json::json!(["POST"]));
    assert_eq!(create["paths"], serde_json::json!(["~/api/pets$"]));
    let names: Vec<&str> = create["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["cors", "key-auth", "rate-limiting"],
        "global ones included"
    );
    assert!(v["warnings"].as_array().unwrap().is_empty());
}

#[test]
fn a_bad_spec_exits_2_with_its_location() {
    let out = run(&["routes", "tests/fixtures/openapi/bad-syntax.json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad-syntax.json:6:3: invalid JSON"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_project_directory_names_its_spec_and_component() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        "tests/fixtures/openapi/security-bearer.yaml",
        dir.path().join("api.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("justpush.yaml"),
        "name: shop\ncomponents:\n  - name: orders\n    path: .\n    port: 9000\n    openapi: {file: api.yaml}\n",
    )
    .unwrap();
    let out = run(&["routes", ".", "-o", "json"], Some(dir.path()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["routes"][0]["name"], "tokens_listorders");
    let out = run(
        &[
            "render",
            "--openapi",
            ".",
            "--name",
            "shop",
            "--set",
            "components.orders.image.repository=shop/orders",
            "--set",
            "components.orders.port=9000",
        ],
        Some(dir.path()),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("name: shop-justpush-route-listorders"),
        "{stdout}"
    );
    assert!(
        stdout.contains("name: shop-justpush-orders\n"),
        "the Ingress targets the project's component"
    );
}

#[test]
fn a_spec_is_fetched_from_a_running_service() {
    let spec = std::fs::read_to_string("tests/fixtures/openapi/fastapi-demo-backend.json").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/openapi.json",
        axum::routing::get(move || {
            let spec = spec.clone();
            async move { ([("content-type", "application/json")], spec) }
        }),
    );
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("http://{addr}/openapi.json");
    let out = run(&["routes", "--url", &url, "-o", "json"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let health = v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["operation"] == "GET /api/health")
        .unwrap();
    assert_eq!(health["auth"], "public");
    let tasks = v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["operation"] == "POST /api/tasks")
        .unwrap();
    assert_eq!(tasks["auth"], "key-auth");
    let missing = run(
        &["routes", "--url", &format!("http://{addr}/nope.json")],
        None,
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("HTTP 404"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn the_release_name_defaults_to_the_one_in_justpush_yaml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        "tests/fixtures/openapi/security-or.yaml",
        dir.path().join("api.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("justpush.yaml"),
        "name: shop\ncomponents:\n  - name: api\n    path: .\n    port: 8000\n",
    )
    .unwrap();
    let out = run(&["routes", "api.yaml", "-o", "json"], Some(dir.path()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["anonymousConsumer"]["username"], "shop-anonymous");
    let flagged = run(
        &["routes", "api.yaml", "-o", "json", "--name", "other"],
        Some(dir.path()),
    );
    let v: serde_json::Value = serde_json::from_slice(&flagged.stdout).unwrap();
    assert_eq!(v["anonymousConsumer"]["username"], "other-anonymous");
}

#[test]
fn unenforceable_security_exits_2_unless_public_routes_are_allowed() {
    let spec = "tests/fixtures/openapi/security-oauth2-oidc.yaml";
    let out = run(&["routes", spec], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(spec)
            && stderr.contains("GET /profile")
            && stderr.contains("oidc (openIdConnect)")
            && stderr.contains("--allow-public"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));

    let out = run(&["routes", spec, "--allow-public", "-o", "json"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["routes"][0]["auth"], "public");
    assert!(
        text(&out.stderr).contains("PUBLIC at the gateway"),
        "{}",
        text(&out.stderr)
    );

    // `render --openapi` refuses alike, before rendering anything.
    let out = run(&["render", "--openapi", spec], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let out = run(&["render", "--openapi", spec, "--allow-public"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // justpush.yaml's kong.allowPublic does the same as the flag.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("justpush.yaml");
    std::fs::write(
        &config,
        "name: idp\ncomponents: [{name: api, path: ., port: 8000}]\nkong: {allowPublic: true}\n",
    )
    .unwrap();
    let out = run(
        &["routes", spec, "--config", config.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}
