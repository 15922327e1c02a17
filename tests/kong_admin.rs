//! `kong sync` / `kong delete` (the real binary) against a fake Kong Admin API owned by the
//! test (real HTTP, state kept, paging): a second sync changes nothing, objects without our
//! tags are never touched, and 401, 403, 409, 5xx and an unreachable Kong are reported.

#[path = "support/fake_kong_admin.rs"]
mod fake_kong_admin;

use fake_kong_admin::{FakeKong, Options};
use serde_json::{json, Value};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-justpush");
const SPEC: &str = "tests/fixtures/openapi/security-or.yaml";

fn kong(args: &[&str], url: &str, token: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("kong")
        .args(args)
        .args(["--admin-url", url, "--name", "demo"])
        .env("NO_COLOR", "1")
        .env_remove("JUSTPUSH_KONG_ADMIN_TOKEN");
    if let Some(t) = token {
        cmd.env("JUSTPUSH_KONG_ADMIN_TOKEN", t);
    }
    cmd.output().unwrap()
}

fn sync(k: &FakeKong, spec: &str, extra: &[&str]) -> Output {
    let mut args = vec!["sync", spec, "--upstream", "http://backend.internal:8000"];
    args.extend_from_slice(extra);
    kong(&args, &k.url(), None)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Someone else's objects: an untagged service with a route and plugin, an untagged consumer,
/// and a consumer of another justpush release.
fn foreign_objects(k: &FakeKong) {
    let svc = k.insert(
        "services",
        json!({"name": "legacy", "host": "legacy", "port": 80, "protocol": "http", "tags": null}),
    );
    let route = k.insert("routes", json!({"name": "legacy-route", "paths": ["/legacy"], "service": {"id": svc["id"]}, "tags": ["team-a"]}));
    k.insert("plugins", json!({"name": "rate-limiting", "config": {"minute": 1}, "route": {"id": route["id"]}, "tags": null}));
    k.insert("consumers", json!({"username": "someone", "tags": null}));
    k.insert(
        "consumers",
        json!({"username": "other-developer", "tags": ["justpush", "justpush-release:other"]}),
    );
}

fn ours(v: &Value) -> bool {
    v["tags"]
        .as_array()
        .is_some_and(|t| t.contains(&json!("justpush-release:demo")))
}

#[test]
fn sync_is_idempotent_pages_through_results_and_leaves_foreign_objects_alone() {
    // Pages of 2 make every listing span several pages.
    let k = FakeKong::start(Options {
        page_size: 2,
        ..Default::default()
    });
    foreign_objects(&k);
    let foreign_before: Vec<Value> = k
        .snapshot()
        .values()
        .flatten()
        .filter(|v| !ours(v))
        .cloned()
        .collect();

    let first = sync(&k, SPEC, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let out = stdout(&first);
    assert!(out.contains("create service demo-either-way"), "{out}");
    assert!(out.contains("create route either-way_listreports"), "{out}");
    assert!(out.contains("create consumer demo-anonymous"), "{out}");
    assert!(
        out.contains("consumer API key (keep it; shown once): "),
        "{out}"
    );
    let routes: Vec<Value> = k.all("routes").into_iter().filter(ours).collect();
    assert_eq!(routes.len(), 3, "two operations and the preflight route");
    let list = routes
        .iter()
        .find(|r| r["name"] == "either-way_listreports")
        .unwrap();
    assert_eq!(list["paths"], json!(["~/reports$"]));
    assert_eq!(list["regex_priority"], 200);
    assert_eq!(list["strip_path"], false);
    let plugins: Vec<Value> = k
        .all("plugins")
        .into_iter()
        .filter(|p| ours(p) && p["route"]["id"] == list["id"])
        .collect();
    let mut names: Vec<&str> = plugins
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["cors", "jwt", "key-auth", "rate-limiting"]);
    let anon = k
        .all("consumers")
        .into_iter()
        .find(|c| c["username"] == "demo-anonymous")
        .unwrap();
    assert!(plugins
        .iter()
        .filter(|p| p["name"] != "cors" && p["name"] != "rate-limiting")
        .all(|p| p["config"]["anonymous"] == "demo-anonymous"));
    let termination = k
        .all("plugins")
        .into_iter()
        .find(|p| p["consumer"]["id"] == anon["id"])
        .unwrap();
    assert_eq!(termination["name"], "request-termination");
    let key = k.all("key-auths")[0]["key"].as_str().unwrap().to_string();
    assert!(out.contains(&key));

    let writes = k.writes();
    let second = sync(&k, SPEC, &[]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(k.writes(), writes, "a second sync writes nothing");
    assert!(stdout(&second).trim().is_empty(), "{}", stdout(&second));
    assert!(stderr(&second).contains("Unchanged"), "{}", stderr(&second));
    assert_eq!(
        k.all("key-auths")[0]["key"],
        key.as_str(),
        "the key is kept"
    );

    let deleted = kong(&["delete"], &k.url(), None);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let left: Vec<Value> = k.snapshot().values().flatten().cloned().collect();
    assert!(
        left.iter().all(|v| !ours(v)),
        "delete removes everything of the release"
    );
    assert_eq!(
        left, foreign_before,
        "objects without our tags are never touched"
    );
}

#[test]
fn dry_run_lists_changes_without_writing_and_a_changed_spec_updates_and_deletes() {
    let k = FakeKong::start(Options::default());
    let dry = sync(&k, SPEC, &["--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stdout(&dry).contains("create route"), "{}", stdout(&dry));
    assert_eq!(k.writes(), 0);
    assert!(
        !stdout(&dry).contains("shown once"),
        "a dry run makes no key"
    );

    assert!(sync(&k, SPEC, &[]).status.success());
    // Same release, another spec: the old routes go, the new ones come, shared objects stay.
    let changed = sync(
        &k,
        "tests/fixtures/openapi/security-and.yaml",
        &["-o", "json"],
    );
    assert!(changed.status.success(), "{}", stderr(&changed));
    let report: Value = serde_json::from_slice(&changed.stdout).unwrap();
    let changes: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        changes.contains(&"delete route either-way_listreports"),
        "{changes:?}"
    );
    assert!(
        changes.contains(&"create route both-ways_purgeusers"),
        "{changes:?}"
    );
    assert!(
        changes.contains(&"delete consumer demo-anonymous"),
        "{changes:?}"
    );
    assert!(
        changes.contains(&"create service demo-both-ways"),
        "{changes:?}"
    );
    let routes: Vec<String> = k
        .all("routes")
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        routes,
        ["both-ways_purgeusers", "both-ways_admin-users_preflight"]
    );
}

#[test]
fn retries_5xx_answers_with_backoff() {
    let k = FakeKong::start(Options::default());
    k.fail_next(2);
    let out = sync(&k, SPEC, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(k.requests().iter().filter(|r| r.status == 500).count(), 2);
    assert!(!k.all("routes").is_empty());
}

#[test]
fn persistent_5xx_gives_up_with_the_last_answer() {
    let k = FakeKong::start(Options::default());
    k.fail_next(100);
    let out = sync(&k, SPEC, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("kept failing after 4 attempts") && stderr(&out).contains("HTTP 500"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn wrong_token_is_401_and_read_only_token_403() {
    let k = FakeKong::start(Options {
        token: Some("admin-secret".into()),
        read_only_token: Some("viewer".into()),
        ..Default::default()
    });
    let spec_args = ["sync", SPEC, "--upstream", "http://b:80"];
    let none = kong(&spec_args, &k.url(), None);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        stderr(&none).contains("401 Unauthorized")
            && stderr(&none).contains("JUSTPUSH_KONG_ADMIN_TOKEN"),
        "{}",
        stderr(&none)
    );
    let viewer = kong(&spec_args, &k.url(), Some("viewer"));
    assert_eq!(viewer.status.code(), Some(2));
    assert!(
        stderr(&viewer).contains("403 Forbidden") && stderr(&viewer).contains("POST services"),
        "{}",
        stderr(&viewer)
    );
    assert!(
        !stderr(&viewer).contains("viewer"),
        "the token never appears in output"
    );
    let admin = kong(&spec_args, &k.url(), Some("admin-secret"));
    assert!(admin.status.success(), "{}", stderr(&admin));
    assert!(!stdout(&admin).contains("admin-secret") && !stderr(&admin).contains("admin-secret"));
}

#[test]
fn an_untagged_object_with_our_name_is_a_409_not_a_takeover() {
    let k = FakeKong::start(Options::default());
    k.insert(
        "services",
        json!({"name": "demo-either-way", "host": "x", "port": 80, "protocol": "http"}),
    );
    let before = k.snapshot();
    let out = sync(&k, SPEC, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("409 Conflict") && err.contains("without justpush's tags"),
        "{err}"
    );
    assert_eq!(
        k.snapshot()["services"],
        before["services"],
        "the foreign service is untouched"
    );
}

#[test]
fn an_unreachable_kong_is_reported() {
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = kong(
        &["sync", SPEC, "--upstream", "http://b:80"],
        &format!("http://127.0.0.1:{port}"),
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot reach the Kong Admin API")
            && stderr(&out).contains("kong.adminUrl"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn admin_url_is_required() {
    let out = Command::new(BIN)
        .args(["kong", "sync", SPEC, "--upstream", "http://b:80"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--admin-url"), "{}", stderr(&out));
}

#[test]
fn upstream_defaults_become_an_upstream_with_the_target() {
    let k = FakeKong::start(Options {
        page_size: 1,
        ..Default::default()
    });
    let spec = "tests/fixtures/openapi/deck-extensions.yaml";
    let first = sync(&k, spec, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let upstreams = k.all("upstreams");
    assert_eq!(upstreams.len(), 1);
    assert_eq!(upstreams[0]["name"], "demo-ext-upstream");
    assert_eq!(
        upstreams[0]["slots"], 1000,
        "x-kong-upstream-defaults applied"
    );
    let targets = k.all("targets");
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0]["target"], "backend.internal:8000");
    assert_eq!(targets[0]["upstream"]["id"], upstreams[0]["id"]);
    let service = &k.all("services")[0];
    assert_eq!(service["host"], "demo-ext-upstream");
    assert_eq!(
        (
            service["connect_timeout"].clone(),
            service["retries"].clone()
        ),
        (json!(5000), json!(3)),
        "x-kong-service-defaults applied"
    );
    let writes = k.writes();
    let second = sync(&k, spec, &[]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(k.writes(), writes, "{}", stdout(&second));
    let deleted = kong(&["delete"], &k.url(), None);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    assert!(
        k.all("upstreams").is_empty()
            && k.all("targets").is_empty()
            && k.all("services").is_empty()
    );
}
