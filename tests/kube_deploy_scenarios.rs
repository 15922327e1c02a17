//! Deploy scenarios against the fake API server: the library entry point
//! (`justpush::kube::action::deploy_release`) with the bundled chart and an app of two
//! components (web + api), each test named after what it covers.

#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use fake_apiserver::{FakeApiServer, Fault, FaultAnswer, Verb};
use justpush::chart::app_values::app_values;
use justpush::chart::load::Chart;
use justpush::detect::config::AppConfig;
use justpush::kube::action::{
    deploy_release, Cleanup, DeployError, DeployOutcome, DeployProgress, DeployRequest,
};
use justpush::kube::record::{RecordStore, ReleaseStatus};
use serde_json::{json, Value};

const NS: &str = "shop";
const RELEASE: &str = "todo";

fn app() -> AppConfig {
    AppConfig::from_yaml(
        include_str!("fixtures/apps/todo-justpush.yaml"),
        Path::new("justpush.yaml"),
    )
    .unwrap()
}

fn request(api_image: &str, web_image: &str) -> DeployRequest {
    request_with(api_image, web_image, |_| {})
}

fn request_with(
    api_image: &str,
    web_image: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> DeployRequest {
    request_with_token(api_image, web_image, "t0ken-value", edit)
}

/// A request whose api component's secret API_TOKEN is `token`.
fn request_with_token(
    api_image: &str,
    web_image: &str,
    token: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> DeployRequest {
    let images = BTreeMap::from([
        ("api".to_string(), api_image.to_string()),
        ("web".to_string(), web_image.to_string()),
    ]);
    let secrets = BTreeMap::from([(
        "api".to_string(),
        BTreeMap::from([("API_TOKEN".to_string(), token.to_string())]),
    )]);
    let mut values = app_values(&app(), &images, &secrets).unwrap().values;
    edit(&mut values);
    let mut req = DeployRequest::new(RELEASE, NS, Chart::bundled().unwrap(), values);
    req.images = images;
    req.timeout = Duration::from_secs(30);
    req
}

async fn deploy(server: &FakeApiServer, req: DeployRequest) -> Result<DeployOutcome, DeployError> {
    let client = server.client();
    let mut events = Vec::new();
    let t0 = std::time::Instant::now();
    let mut progress = |p: DeployProgress| {
        if std::env::var_os("SCENARIO_DEBUG").is_some() {
            eprintln!("{:?} {p:?}", t0.elapsed());
        }
        events.push(p)
    };
    deploy_release(&client, req, &mut progress).await
}

fn deployment_images(server: &FakeApiServer) -> BTreeMap<String, String> {
    server
        .objects_in("apps/v1", "Deployment", NS)
        .iter()
        .map(|d| {
            (
                d["metadata"]["name"].as_str().unwrap().to_string(),
                d["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

async fn records(server: &FakeApiServer) -> Vec<justpush::kube::record::ReleaseRecord> {
    RecordStore::new(server.client(), NS, RELEASE)
        .list()
        .await
        .unwrap()
}

/// Each record's revision and status, oldest first.
async fn statuses(server: &FakeApiServer) -> Vec<(u32, ReleaseStatus)> {
    records(server)
        .await
        .iter()
        .map(|r| (r.revision, r.status))
        .collect()
}

/// Kind/name of every object in the namespace except pods, ReplicaSets and events (what the
/// controllers add) and release records (checked on their own with [`records`]), for
/// comparisons. Leases are in: a deploy that ends, however it ends, leaves none.
fn app_objects(server: &FakeApiServer) -> Vec<(String, String)> {
    server
        .contents_of(NS)
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "Pod" | "ReplicaSet" | "Event"))
        // Records are Secrets named justpush.release.v1.*; the lease is justpush.release.*.
        .filter(|(k, n)| !(k == "Secret" && n.starts_with("justpush.release.")))
        .collect()
}

/// The spec-level content of the release's objects (what a restore must bring back exactly).
fn specs(server: &FakeApiServer) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (av, kind) in [
        ("apps/v1", "Deployment"),
        ("v1", "ConfigMap"),
        ("v1", "Service"),
        ("v1", "Secret"),
    ] {
        for o in server.objects_in(av, kind, NS) {
            let name = o["metadata"]["name"].as_str().unwrap().to_string();
            if name.starts_with("justpush.release") {
                continue;
            }
            let body = match kind {
                "Deployment" => o["spec"]["template"].clone(),
                "ConfigMap" | "Secret" => o["data"].clone(),
                _ => o["spec"]["ports"].clone(),
            };
            out.insert(format!("{kind}/{name}"), body);
        }
    }
    out
}

#[tokio::test]
async fn first_install_success() {
    let server = FakeApiServer::start();
    let out = deploy(&server, request("todo/api:1", "todo/web:1"))
        .await
        .expect("the first install succeeds");
    assert_eq!(out.revision, 1);
    assert_eq!(out.record.status, ReleaseStatus::Deployed);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let images = deployment_images(&server);
    assert_eq!(images.len(), 2, "{images:?}");
    assert!(images.values().any(|i| i == "todo/api:1"));
    // Server-side apply by our field manager, namespace created, every object labelled.
    let reqs = server.requests();
    assert!(reqs
        .iter()
        .any(|r| r.is_apply_by("kubectl-justpush") && r.force));
    assert!(server.object("v1", "Namespace", "", NS).is_some());
    for d in server.objects_in("apps/v1", "Deployment", NS) {
        assert_eq!(d["metadata"]["labels"]["justpush.dev/release"], RELEASE);
        assert_eq!(d["metadata"]["annotations"]["justpush.dev/revision"], "1");
    }
    // Install order: the ConfigMaps and Secrets exist before the Deployments are applied.
    let applied: Vec<String> = reqs
        .iter()
        .filter(|r| r.is_apply_by("kubectl-justpush"))
        .map(|r| r.kind.clone())
        .collect();
    let first_deploy = applied.iter().position(|k| k == "Deployment").unwrap();
    let last_cm = applied.iter().rposition(|k| k == "ConfigMap").unwrap();
    assert!(last_cm < first_deploy, "{applied:?}");
    // The record: DEPLOYED, secrets never in clear, the lease released.
    let recs = records(&server).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].status, ReleaseStatus::Deployed);
    assert!(recs[0].namespace_created);
    let text = serde_json::to_string(&recs[0]).unwrap();
    assert!(!text.contains("t0ken-value"));
    assert!(!text.contains(&base64_of("t0ken-value")));
    assert!(recs[0].api_key_secret.is_some());
    assert!(!recs[0].kong_objects.is_empty());
    let secret = server
        .object("v1", "Secret", NS, "justpush.release.v1.todo.v1")
        .unwrap();
    assert_eq!(secret["type"], "justpush.dev/release.v1");
    assert_eq!(secret["metadata"]["labels"]["status"], "DEPLOYED");
    assert!(server
        .object(
            "coordination.k8s.io/v1",
            "Lease",
            NS,
            "justpush.release.todo"
        )
        .is_none());
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn upgrade_success_supersedes_and_keeps_the_api_key() {
    let server = FakeApiServer::start();
    let first = deploy(&server, request("todo/api:1", "todo/web:1"))
        .await
        .unwrap();
    let key_secret = first.api_key_secret.clone().unwrap();
    let key1 = server.object("v1", "Secret", NS, &key_secret).unwrap()["data"]["key"].clone();
    let out = deploy(&server, request("todo/api:2", "todo/web:1"))
        .await
        .expect("the upgrade succeeds");
    assert_eq!(out.revision, 2);
    assert!(deployment_images(&server)
        .values()
        .any(|i| i == "todo/api:2"));
    let recs = records(&server).await;
    let st: Vec<_> = recs.iter().map(|r| (r.revision, r.status)).collect();
    assert_eq!(
        st,
        vec![(1, ReleaseStatus::Superseded), (2, ReleaseStatus::Deployed)]
    );
    // The generated API key survives the upgrade (the chart's lookup sees the live Secret).
    let key2 = server.object("v1", "Secret", NS, &key_secret).unwrap()["data"]["key"].clone();
    assert_eq!(key1, key2);
    // Only the new pods are running for the api.
    let api_images: Vec<String> = server
        .objects_in("v1", "Pod", NS)
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/component"] == "api")
        .map(|p| {
            p["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(api_images, vec!["todo/api:2".to_string(); 2]);
}

async fn failing_first_install(failure_image: &str) -> String {
    let server = FakeApiServer::start();
    let err = deploy(&server, request(failure_image, "todo/web:1"))
        .await
        .expect_err("the deploy fails");
    let DeployError::Failed {
        cleanup, message, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        cleanup,
        &Cleanup::Removed {
            namespace_deleted: true
        },
        "{message}"
    );
    // Nothing left: the namespace it created is gone, and with it everything.
    assert!(
        server.object("v1", "Namespace", "", NS).is_none()
            || server.object("v1", "Namespace", "", NS).unwrap()["metadata"]["deletionTimestamp"]
                .is_string(),
        "namespace still there"
    );
    assert!(
        app_objects(&server).is_empty(),
        "{:?}",
        app_objects(&server)
    );
    assert!(records(&server).await.is_empty());
    message.clone()
}

#[tokio::test]
async fn crashloop_on_first_install_removes_everything_and_shows_logs() {
    let server_msg = {
        let server = FakeApiServer::start();
        server.scenario(|s| {
            s.image_logs(
                "api-crashloop",
                &[
                    "Traceback (most recent call last):",
                    "KeyError: 'DATABASE_URL'",
                ],
            );
        });
        let err = deploy(&server, request("todo/api-crashloop:1", "todo/web:1"))
            .await
            .unwrap_err();
        assert!(
            app_objects(&server).is_empty(),
            "{:?}",
            app_objects(&server)
        );
        err.to_string()
    };
    assert!(server_msg.contains("CrashLoopBackOff"), "{server_msg}");
    assert!(
        server_msg.contains("KeyError: 'DATABASE_URL'"),
        "{server_msg}"
    );
    assert!(server_msg.contains("Pod/todo-"), "{server_msg}");
    assert!(
        server_msg.contains("first install was removed"),
        "{server_msg}"
    );
}

#[tokio::test]
async fn imagepull_on_first_install_removes_everything() {
    let msg = failing_first_install("todo/api-doesnotexist:1").await;
    assert!(
        msg.contains("ImagePullBackOff") || msg.contains("ErrImagePull"),
        "{msg}"
    );
    assert!(msg.contains("todo/api-doesnotexist:1"), "{msg}");
}

#[tokio::test]
async fn oom_on_first_install_removes_everything() {
    let msg = failing_first_install("todo/api-oom:1").await;
    assert!(msg.contains("OOMKilled"), "{msg}");
}

#[tokio::test]
async fn unschedulable_on_first_install_removes_everything() {
    let msg = failing_first_install("todo/api-unschedulable:1").await;
    assert!(
        msg.contains("Unschedulable") && msg.contains("Insufficient memory"),
        "{msg}"
    );
}

#[tokio::test]
async fn quota_on_first_install_removes_everything() {
    let msg = failing_first_install("todo/api-quota:1").await;
    assert!(msg.contains("exceeded quota"), "{msg}");
}

async fn failing_upgrade(failure_image: &str) -> String {
    let server = FakeApiServer::start();
    deploy(&server, request("todo/api:1", "todo/web:1"))
        .await
        .unwrap();
    let before_objects = app_objects(&server);
    let before = specs(&server);
    // The failed revision changes the secret's value too: the restore must bring the old
    // value back, not keep the new one under the old revision's name.
    let err = deploy(
        &server,
        request_with_token(failure_image, "todo/web:1", "n3w-t0ken", |v| {
            // The failed revision also adds a plain variable and a component.
            v["components"]["api"]["env"]["NEW_FLAG"] = json!("1");
            v["components"]["worker"] = json!({"enabled": true, "image": {"repository": "todo/worker", "tag": "1"}, "exposed": false});
        }),
    )
    .await
    .expect_err("the upgrade fails");
    let DeployError::Failed {
        cleanup, message, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(cleanup, &Cleanup::Restored { revision: 1 }, "{message}");
    assert_eq!(app_objects(&server), before_objects);
    assert_eq!(specs(&server), before);
    let api_secret = before
        .iter()
        .find(|(k, v)| k.starts_with("Secret/") && v.get("API_TOKEN").is_some())
        .map(|(_, v)| v["API_TOKEN"].clone())
        .expect("the api component's Secret");
    assert_eq!(api_secret, json!(base64_of("t0ken-value")));
    let recs = records(&server).await;
    let st: Vec<_> = recs.iter().map(|r| (r.revision, r.status)).collect();
    assert_eq!(
        st,
        vec![(1, ReleaseStatus::Deployed), (2, ReleaseStatus::Failed)]
    );
    message.clone()
}

#[tokio::test]
async fn crashloop_on_upgrade_restores_the_previous_revision_exactly() {
    let msg = failing_upgrade("todo/api-crashloop:2").await;
    assert!(msg.contains("CrashLoopBackOff"), "{msg}");
}

#[tokio::test]
async fn imagepull_on_upgrade_restores_the_previous_revision_exactly() {
    let msg = failing_upgrade("todo/api-imagepull:2").await;
    assert!(
        msg.contains("ImagePull") || msg.contains("ErrImagePull"),
        "{msg}"
    );
}

#[tokio::test]
async fn oom_on_upgrade_restores_the_previous_revision_exactly() {
    let msg = failing_upgrade("todo/api-oom:2").await;
    assert!(msg.contains("OOMKilled"), "{msg}");
}

#[tokio::test]
async fn unschedulable_on_upgrade_restores_the_previous_revision_exactly() {
    let msg = failing_upgrade("todo/api-unschedulable:2").await;
    assert!(msg.contains("Unschedulable"), "{msg}");
}

#[tokio::test]
async fn quota_on_upgrade_restores_the_previous_revision_exactly() {
    let msg = failing_upgrade("todo/api-quota:2").await;
    assert!(msg.contains("exceeded quota"), "{msg}");
}

#[tokio::test]
async fn kong_resource_rejected_keeps_the_app_with_a_warning() {
    let server = FakeApiServer::start();
    server.reject_kind(
        "KongPlugin",
        "validations.kong.konghq.com",
        400,
        "plugin rate-limiting: config.minute: expected a number",
    );
    let out = deploy(&server, request("todo/api:1", "todo/web:1"))
        .await
        .expect("the app deploys despite the gateway");
    assert_eq!(out.record.status, ReleaseStatus::Deployed);
    assert!(!out.warnings.is_empty());
    let w = out.warnings.join("\n");
    assert!(w.contains("KongPlugin/"), "{w}");
    assert!(w.contains("config.minute: expected a number"), "{w}");
    assert_eq!(deployment_images(&server).len(), 2);
    assert_eq!(records(&server).await[0].warnings, out.warnings);
}

#[tokio::test]
async fn missing_kong_crds_refuse_the_deploy_before_changing_anything() {
    let server = FakeApiServer::builder().without_kong().start();
    let err = deploy(&server, request("todo/api:1", "todo/web:1"))
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::Refused(_)));
    assert!(err.to_string().contains("kubectl justpush up"), "{err}");
    assert!(server.object("v1", "Namespace", "", NS).is_none());
}

#[tokio::test]
async fn concurrent_deploy_refused_naming_the_holder() {
    let server = FakeApiServer::start();
    server.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    server.put(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "justpush.release.todo", "namespace": NS},
        "spec": {"holderIdentity": "alice@laptop pid 4242", "leaseDurationSeconds": 60, "acquireTime": now, "renewTime": now}
    }));
    let err = deploy(&server, request("todo/api:1", "todo/web:1"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("alice@laptop pid 4242"), "{err}");
    // Nothing but alice's lease, still hers; no record; the namespace (there before) stays.
    assert_eq!(
        app_objects(&server),
        vec![("Lease".to_string(), "justpush.release.todo".to_string())]
    );
    let lease = server
        .object(
            "coordination.k8s.io/v1",
            "Lease",
            NS,
            "justpush.release.todo",
        )
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "alice@laptop pid 4242");
    assert!(records(&server).await.is_empty());
    assert!(server.object("v1", "Namespace", "", NS).is_some());
}

#[tokio::test]
async fn stale_lease_is_taken_over() {
    let server = FakeApiServer::start();
    server.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
    server.put(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "justpush.release.todo", "namespace": NS},
        "spec": {"holderIdentity": "bob@ci pid 1", "leaseDurationSeconds": 60,
                 "renewTime": "2020-01-01T00:00:00.000000Z"}
    }));
    deploy(&server, request("todo/api:1", "todo/web:1"))
        .await
        .expect("an expired lease does not block");
    // Taken over, then released: bob's stale lease is gone, revision 1 is deployed.
    assert!(!app_objects(&server).iter().any(|(k, _)| k == "Lease"));
    let st = statuses(&server).await;
    assert_eq!(st, vec![(1, ReleaseStatus::Deployed)]);
}

/// Starts a deploy whose api image (`todo/api-neverready:2`) never turns ready, and returns once
/// its Deployment is applied, so the test can act while the deploy waits.
async fn start_never_ready_deploy(
    server: &FakeApiServer,
    req: DeployRequest,
) -> tokio::task::JoinHandle<Result<DeployOutcome, DeployError>> {
    let client = server.client();
    let task = tokio::spawn(async move {
        let mut sink = |_p: DeployProgress| {};
        deploy_release(&client, req, &mut sink).await
    });
    let applied = server
        .wait_until_async(Duration::from_secs(20), |s| {
            s.objects_in("apps/v1", "Deployment", NS).iter().any(|d| {
                d["spec"]["template"]["spec"]["containers"][0]["image"] == "todo/api-neverready:2"
            })
        })
        .await;
    assert!(applied, "the never-ready revision was never applied");
    task
}

#[tokio::test]
async fn a_lease_taken_over_mid_deploy_stops_it_without_rolling_back() {
    let server = FakeApiServer::start();
    deploy(&server, request("todo/api:1", "todo/web:1"))
        .await
        .unwrap();
    // Revision 2 never turns ready; while it waits, another deploy takes the lease over (as
    // after this one could not renew it for a whole lease duration).
    let mut req = request("todo/api-neverready:2", "todo/web:1");
    req.lease_renew_every = Duration::from_millis(100);
    let task = start_never_ready_deploy(&server, req).await;
    let mut lease = server
        .object(
            "coordination.k8s.io/v1",
            "Lease",
            NS,
            "justpush.release.todo",
        )
        .expect("the deploy holds the lease");
    lease["spec"]["holderIdentity"] = json!("carol@ci pid 7");
    server.put(lease);

    let err = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the deploy notices within a few renewals, long before its 30 s timeout")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, DeployError::LeaseLost { revision: 2, holder, .. } if holder == "carol@ci pid 7"),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was rolled back"), "{err}");
    // Revision 2's objects stay (the new holder decides), its record says why, and the lease
    // is still carol's.
    assert!(
        deployment_images(&server)
            .values()
            .any(|i| i == "todo/api-neverready:2"),
        "{:?}",
        deployment_images(&server)
    );
    let recs = records(&server).await;
    let r2 = recs.iter().find(|r| r.revision == 2).unwrap();
    assert_eq!(r2.status, ReleaseStatus::Failed);
    assert!(
        r2.description
            .contains("lease taken over by carol@ci pid 7"),
        "{}",
        r2.description
    );
    assert_eq!(
        server
            .object(
                "coordination.k8s.io/v1",
                "Lease",
                NS,
                "justpush.release.todo"
            )
            .unwrap()["spec"]["holderIdentity"],
        "carol@ci pid 7"
    );
}

#[tokio::test]
async fn interrupted_deploy_rolled_back() {
    let server = FakeApiServer::start();
    deploy(&server, request("todo/api:1", "todo/web:1"))
        .await
        .unwrap();
    let before = specs(&server);
    let before_objects = app_objects(&server);
    // The new api never turns ready; the test interrupts once its Deployment is applied.
    let req = request("todo/api-neverready:2", "todo/web:1");
    let interrupt = req.interrupt.clone();
    let task = start_never_ready_deploy(&server, req).await;
    interrupt.cancel();
    let err = task.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("interrupted"), "{err}");
    assert!(
        matches!(
            err,
            DeployError::Failed {
                cleanup: Cleanup::Restored { revision: 1 },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(specs(&server), before);
    assert_eq!(
        app_objects(&server),
        before_objects,
        "no lease left, nothing added"
    );
    let st = statuses(&server).await;
    assert_eq!(
        st,
        vec![(1, ReleaseStatus::Deployed), (2, ReleaseStatus::Failed)]
    );
}

#[tokio::test]
async fn prune_of_a_removed_component() {
    let server = FakeApiServer::start();
    deploy(
        &server,
        request_with("todo/api:1", "todo/web:1", |v| {
            v["components"]["worker"] = json!({"enabled": true, "image": {"repository": "todo/worker", "tag": "1"}, "exposed": false});
        }),
    )
    .await
    .unwrap();
    let has_worker = |s: &FakeApiServer| app_objects(s).iter().any(|(_, n)| n.ends_with("-worker"));
    assert!(has_worker(&server));
    deploy(&server, request("todo/api:1", "todo/web:1"))
        .await
        .unwrap();
    assert!(!has_worker(&server), "{:?}", app_objects(&server));
    assert_eq!(deployment_images(&server).len(), 2);
}

#[tokio::test]
async fn api_errors_and_a_dropped_watch_survived() {
    let server = FakeApiServer::start();
    // Long enough for the pod watch to be dropped and re-established before the workloads
    // turn ready, even on a loaded machine (at 300 ms a full parallel run once finished the
    // deploy before the first pod watch was made).
    server.scenario(|s| s.ready_delay = Duration::from_millis(1500));
    server.inject(
        Fault::on(
            &[Verb::Apply],
            FaultAnswer::Internal("etcd leader changed".into()),
        )
        .resource("deployments")
        .times(2),
    );
    server.inject(Fault::on(&[Verb::Get], FaultAnswer::TooManyRequests(0)).times(2));
    server.drop_watches_after("deployments", 1, Some(2));
    server.drop_watches_after("pods", 2, Some(2));
    let out = deploy(&server, request("todo/api:1", "todo/web:1"))
        .await
        .expect("transient errors and dropped watches do not fail the deploy");
    assert_eq!(out.record.status, ReleaseStatus::Deployed);
    // The dropped watches were re-established (more than one watch request each).
    for resource in ["pods", "deployments"] {
        let watches = server
            .requests()
            .iter()
            .filter(|r| r.verb == Some(Verb::Watch) && r.resource == resource)
            .count();
        assert!(watches >= 2, "{resource}: {watches} watch requests");
    }
    assert!(
        server.faults_fired().iter().all(|n| *n > 0),
        "{:?}",
        server.faults_fired()
    );
}

#[tokio::test]
async fn timeout_names_what_is_not_ready_and_why() {
    let server = FakeApiServer::start();
    let mut req = request("todo/api-neverready:1", "todo/web:1");
    req.timeout = Duration::from_secs(2);
    let err = deploy(&server, req).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("not ready after 2 s"), "{msg}");
    assert!(msg.contains("Deployment/todo-"), "{msg}");
    assert!(msg.contains("api"), "{msg}");
    // A first install: removed with the namespace it made, records and lease included.
    assert!(
        app_objects(&server).is_empty(),
        "{:?}",
        app_objects(&server)
    );
    assert!(records(&server).await.is_empty());
}

#[tokio::test]
async fn second_interrupt_aborts_at_once() {
    let server = FakeApiServer::start();
    deploy(&server, request("todo/api:1", "todo/web:1"))
        .await
        .unwrap();
    let req = request("todo/api-neverready:2", "todo/web:1");
    let (interrupt, abort) = (req.interrupt.clone(), req.abort.clone());
    // Both "Ctrl-C"s before the deploy starts: it stops at the first step of the rollback.
    interrupt.cancel();
    abort.cancel();
    let err = deploy(&server, req).await.unwrap_err();
    assert!(
        matches!(err, DeployError::Aborted { revision: 2, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("kubectl justpush rollback"),
        "{err}"
    );
    // Nothing undone: revision 2's record is left DEPLOYING (the next deploy marks it
    // failed), and the lease stays to expire, so no one else deploys over the half-state.
    let st = statuses(&server).await;
    assert_eq!(
        st,
        vec![(1, ReleaseStatus::Deployed), (2, ReleaseStatus::Deploying)]
    );
    assert!(app_objects(&server).iter().any(|(k, _)| k == "Lease"));
}

#[tokio::test]
async fn history_keeps_the_last_ten_revisions() {
    let server = FakeApiServer::start();
    for i in 1..=12 {
        deploy(&server, request(&format!("todo/api:{i}"), "todo/web:1"))
            .await
            .unwrap();
    }
    let revs: Vec<u32> = records(&server).await.iter().map(|r| r.revision).collect();
    assert_eq!(revs, (3..=12).collect::<Vec<_>>());
}

#[tokio::test]
async fn status_shows_pods_and_metrics_when_the_metrics_api_exists() {
    let server = FakeApiServer::builder().with_metrics().start();
    let mut req = request("todo/api:1", "todo/web:1");
    req.gateway_url = Some("http://localhost:8080".into());
    deploy(&server, req).await.unwrap();
    let s = justpush::kube::manage::status(&server.client(), NS, RELEASE)
        .await
        .unwrap();
    assert_eq!(s.components.len(), 2);
    assert_eq!(s.gateway_url.as_deref(), Some("http://localhost:8080"));
    assert_eq!(s.images["api"], "todo/api:1");
    let api = s.components.iter().find(|c| c.name == "api").unwrap();
    assert_eq!((api.desired, api.ready), (2, 2));
    assert_eq!(api.pods.len(), 2);
    assert!(api.pods.iter().all(|p| p.ready && p.phase == "Running"));
    assert!(
        api.pods
            .iter()
            .all(|p| p.cpu.is_some() && p.memory.is_some()),
        "{:?}",
        api.pods
    );
    // Without the metrics API, no usage and no error.
    server.set_metrics(false);
    let s = justpush::kube::manage::status(&server.client(), NS, RELEASE)
        .await
        .unwrap();
    assert!(s
        .components
        .iter()
        .all(|c| c.pods.iter().all(|p| p.cpu.is_none())));
}

#[tokio::test]
async fn logs_follow_merges_pods_and_picks_up_new_ones() {
    let server = FakeApiServer::start();
    server.scenario(|s| {
        s.image_logs("todo/api", &["api up"]);
    });
    deploy(&server, request("todo/api:1", "todo/web:1"))
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = tokio_util::sync::CancellationToken::new();
    let opts = justpush::kube::manage::LogOptions {
        follow: true,
        component: Some("api".into()),
        ..Default::default()
    };
    let client = server.client();
    let stop2 = stop.clone();
    let task = tokio::spawn(async move {
        justpush::kube::manage::stream_logs(&client, NS, RELEASE, &opts, tx, stop2).await
    });
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2 {
        let line = rx.recv().await.unwrap();
        assert!(
            line.starts_with("api/todo-justpush-api-") && line.ends_with("| api up"),
            "{line}"
        );
        seen.insert(line);
    }
    // A third pod appears: its lines join the stream.
    // (Scaled behind the release's back, through the scale subresource: this is about logs.)
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(server.client(), NS);
    let api = server
        .objects_in("apps/v1", "Deployment", NS)
        .into_iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .find(|n| n.ends_with("-api"))
        .unwrap();
    deployments
        .patch_scale(
            &api,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    while seen.len() < 3 {
        let line = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("the new pod's log line")
            .unwrap();
        seen.insert(line);
    }
    // Lines appended later to a followed pod arrive too.
    let pod = seen
        .iter()
        .next()
        .unwrap()
        .split(" | ")
        .next()
        .unwrap()
        .trim_start_matches("api/")
        .to_string();
    server.append_log(NS, &pod, "api", "later line");
    loop {
        let line = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("the appended line")
            .unwrap();
        if line.ends_with("| later line") {
            assert!(line.contains(&pod));
            break;
        }
    }
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn failed_first_install_in_an_existing_namespace_deletes_only_what_it_created() {
    let server = FakeApiServer::start();
    server.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
    server.put(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "someone-elses", "namespace": NS}, "data": {"a": "b"}}));
    let err = deploy(&server, request("todo/api-crashloop:1", "todo/web:1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DeployError::Failed {
                cleanup: Cleanup::Removed {
                    namespace_deleted: false
                },
                ..
            }
        ),
        "{err}"
    );
    assert!(server.object("v1", "Namespace", "", NS).is_some());
    assert_eq!(
        app_objects(&server),
        vec![("ConfigMap".to_string(), "someone-elses".to_string())]
    );
    assert!(records(&server).await.is_empty());
}

#[tokio::test]
async fn lease_is_held_and_renewed_while_deploying_then_released() {
    let server = FakeApiServer::start();
    server.scenario(|s| s.ready_delay = Duration::from_millis(1500));
    let mut req = request("todo/api:1", "todo/web:1");
    req.lease_renew_every = Duration::from_millis(200);
    req.holder = "tester@host pid 1".into();
    let client = server.client();
    let task = tokio::spawn(async move {
        let mut sink = |_p: DeployProgress| {};
        deploy_release(&client, req, &mut sink).await
    });
    let lease = |s: &FakeApiServer| {
        s.object(
            "coordination.k8s.io/v1",
            "Lease",
            NS,
            "justpush.release.todo",
        )
    };
    let renewed = server
        .wait_until_async(Duration::from_secs(20), |s| {
            lease(s).is_some_and(|l| {
                l["spec"]["holderIdentity"] == "tester@host pid 1"
                    && l["spec"]["renewTime"] != l["spec"]["acquireTime"]
            })
        })
        .await;
    assert!(
        renewed,
        "the lease was not renewed while deploying: {:?}",
        lease(&server)
    );
    task.await.unwrap().unwrap();
    assert!(lease(&server).is_none(), "released after the deploy");
}

#[tokio::test]
async fn two_deploys_at_once_one_wins_the_other_names_it() {
    let server = FakeApiServer::start();
    server.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
    server.scenario(|s| s.ready_delay = Duration::from_millis(1000));
    let run = |holder: &str, image: &str| {
        let mut req = request(image, "todo/web:1");
        req.holder = holder.into();
        let client = server.client();
        tokio::spawn(async move {
            let mut sink = |_p: DeployProgress| {};
            deploy_release(&client, req, &mut sink).await
        })
    };
    let a = run("a@host pid 1", "todo/api:1");
    let b = run("b@host pid 2", "todo/api:2");
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    match (&a, &b) {
        (Ok(_), Err(e)) => assert!(e.to_string().contains("a@host pid 1"), "{e}"),
        (Err(e), Ok(_)) => assert!(e.to_string().contains("b@host pid 2"), "{e}"),
        other => panic!("exactly one deploy must win: {other:?}"),
    }
    assert_eq!(records(&server).await.len(), 1);
}
