//! The deploy scenarios of tests/kube_deploy_scenarios.rs and tests/kube_cli.rs against a real
//! cluster (kind with Kong installed). Ignored by default; run with
//!
//! ```sh
//! JUSTPUSH_E2E_KUBECONFIG=~/.kube/config cargo test --test e2e_kube -- --ignored --test-threads 2
//! ```
//!
//! Settings (environment): `JUSTPUSH_E2E_KUBECONFIG` (required), `JUSTPUSH_E2E_CONTEXT`,
//! `JUSTPUSH_E2E_IMAGE` (an HTTP server image that runs as a non-root UID, default
//! `nginxinc/nginx-unprivileged:1.27-alpine`), `JUSTPUSH_E2E_PORT` (8080) and
//! `JUSTPUSH_E2E_HEALTH` (`/`). Every test works in its own namespace and deletes it.

use std::time::Duration;

use justpush::chart::load::Chart;
use justpush::kube::action::{
    deploy_release, Cleanup, DeployError, DeployOutcome, DeployProgress, DeployRequest,
};
use justpush::kube::record::{RecordStore, ReleaseStatus};
use justpush::kube::{connect, manage, Cluster, Target};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams};
use serde_json::{json, Map, Value};

const RELEASE: &str = "e2e";

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

async fn cluster(ns: &str) -> Cluster {
    let kc = std::env::var("JUSTPUSH_E2E_KUBECONFIG").expect(
        "set JUSTPUSH_E2E_KUBECONFIG to the kubeconfig of a disposable cluster with Kong installed (see e2e/README.md)",
    );
    connect(&Target {
        kubeconfig: Some(kc.into()),
        context: std::env::var("JUSTPUSH_E2E_CONTEXT").ok(),
        namespace: Some(ns.to_string()),
    })
    .await
    .expect("the e2e cluster is reachable")
}

fn unique_ns(test: &str) -> String {
    let n: u32 = rand::random::<u32>() % 100_000;
    format!("jp-e2e-{test}-{n}")
}

/// Values for one component (`api`) serving HTTP, with the chart's default components off.
fn values(edit: impl FnOnce(&mut Value)) -> Map<String, Value> {
    let image = env(
        "JUSTPUSH_E2E_IMAGE",
        "nginxinc/nginx-unprivileged:1.27-alpine",
    );
    let (repo, tag) = image.rsplit_once(':').unwrap_or((&image, "latest"));
    let port: u16 = env("JUSTPUSH_E2E_PORT", "8080").parse().unwrap();
    let mut v = json!({
        "components": {
            "frontend": {"enabled": false},
            "backend": {"enabled": false},
            "api": {
                "image": {"repository": repo, "tag": tag},
                "port": port,
                "healthPath": env("JUSTPUSH_E2E_HEALTH", "/"),
                "path": "/",
                "replicas": 2,
                "writablePaths": ["/var/cache/nginx", "/var/run"],
                "env": {"GREETING": "hello"},
                "progressDeadlineSeconds": 60,
            }
        }
    });
    edit(&mut v);
    v.as_object().unwrap().clone()
}

fn request(ns: &str, values: Map<String, Value>) -> DeployRequest {
    let mut req = DeployRequest::new(RELEASE, ns, Chart::bundled().unwrap(), values);
    req.timeout = Duration::from_secs(180);
    req
}

async fn deploy(c: &Cluster, req: DeployRequest) -> Result<DeployOutcome, DeployError> {
    let mut log = |p: DeployProgress| eprintln!("{p:?}");
    deploy_release(&c.client, req, &mut log).await
}

/// Scales the api component as `kubectl justpush scale api N` does: a new revision.
async fn scale(c: &Cluster, ns: &str, replicas: i64) -> (DeployOutcome, Option<String>) {
    let records = RecordStore::new(c.client.clone(), ns, RELEASE)
        .list()
        .await
        .unwrap();
    let last = records
        .iter()
        .filter(|r| r.status == ReleaseStatus::Deployed)
        .max_by_key(|r| r.revision)
        .unwrap();
    let (mut req, note) =
        manage::scale_request(last, Chart::bundled().unwrap(), "api", replicas).unwrap();
    req.timeout = Duration::from_secs(120);
    (deploy(c, req).await.unwrap(), note)
}

async fn cleanup(c: &Cluster, ns: &str) {
    let api: Api<Namespace> = Api::all(c.client.clone());
    let _ = api.delete(ns, &Default::default()).await;
}

async fn api_template(c: &Cluster, ns: &str) -> Value {
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), ns);
    let list = api.list(&ListParams::default()).await.unwrap();
    let d = list
        .items
        .into_iter()
        .find(|d| d.metadata.name.as_deref().unwrap_or("").ends_with("-api"))
        .expect("the api Deployment");
    serde_json::to_value(d.spec.unwrap().template).unwrap()
}

async fn deployments(c: &Cluster, ns: &str) -> usize {
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .map(|l| l.items.len())
        .unwrap_or(0)
}

async fn namespace_gone(c: &Cluster, ns: &str) -> bool {
    let api: Api<Namespace> = Api::all(c.client.clone());
    match api.get_opt(ns).await.unwrap() {
        None => true,
        Some(n) => n.metadata.deletion_timestamp.is_some(),
    }
}

#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_first_install_and_upgrade_success() {
    let ns = unique_ns("install");
    let c = cluster(&ns).await;
    let out = deploy(&c, request(&ns, values(|_| {})))
        .await
        .expect("install");
    assert_eq!(out.record.status, ReleaseStatus::Deployed);
    let out = deploy(
        &c,
        request(
            &ns,
            values(|v| v["components"]["api"]["env"]["GREETING"] = json!("hi")),
        ),
    )
    .await
    .expect("upgrade");
    assert_eq!(out.revision, 2);
    let recs = RecordStore::new(c.client.clone(), &ns, RELEASE)
        .list()
        .await
        .unwrap();
    assert_eq!(recs[0].status, ReleaseStatus::Superseded);
    let s = manage::status(&c.client, &ns, RELEASE).await.unwrap();
    assert_eq!(s.components[0].ready, 2);
    cleanup(&c, &ns).await;
}

async fn first_install_fails(test: &str, edit: impl FnOnce(&mut Value), expect: &[&str]) {
    let ns = unique_ns(test);
    let c = cluster(&ns).await;
    let err = deploy(&c, request(&ns, values(edit))).await.unwrap_err();
    let msg = err.to_string();
    assert!(expect.iter().any(|e| msg.contains(e)), "{msg}");
    assert!(
        matches!(
            err,
            DeployError::Failed {
                cleanup: Cleanup::Removed {
                    namespace_deleted: true
                },
                ..
            }
        ),
        "{msg}"
    );
    assert!(namespace_gone(&c, &ns).await);
}

async fn upgrade_fails(test: &str, edit: impl FnOnce(&mut Value), expect: &[&str]) {
    let ns = unique_ns(test);
    let c = cluster(&ns).await;
    deploy(&c, request(&ns, values(|_| {})))
        .await
        .expect("install");
    let before = api_template(&c, &ns).await;
    let err = deploy(&c, request(&ns, values(edit))).await.unwrap_err();
    let msg = err.to_string();
    assert!(expect.iter().any(|e| msg.contains(e)), "{msg}");
    assert!(
        matches!(
            err,
            DeployError::Failed {
                cleanup: Cleanup::Restored { revision: 1 },
                ..
            }
        ),
        "{msg}"
    );
    let mut after = api_template(&c, &ns).await;
    // The revision annotation lives on the Deployment, not the template: templates compare.
    after["metadata"]["annotations"]
        .as_object_mut()
        .map(|a| a.remove("kubectl.kubernetes.io/restartedAt"));
    assert_eq!(after, before);
    cleanup(&c, &ns).await;
}

fn crash(v: &mut Value) {
    v["components"]["api"]["command"] = json!(["sh", "-c", "echo e2e-crash-marker; exit 3"]);
}
fn bad_image(v: &mut Value) {
    v["components"]["api"]["image"] =
        json!({"repository": "justpush.invalid/does-not-exist", "tag": "1"});
}
fn oom(v: &mut Value) {
    v["components"]["api"]["command"] = json!(["sh", "-c", "a=x; while true; do a=\"$a$a\"; done"]);
    v["components"]["api"]["resources"] = json!({"requests": {"memory": "16Mi", "cpu": "50m"}, "limits": {"memory": "16Mi", "cpu": "500m"}});
}
fn unschedulable(v: &mut Value) {
    v["components"]["api"]["nodeSelector"] = json!({"justpush.dev/no-such-node": "true"});
}
fn quota(v: &mut Value) {
    v["quota"] = json!({"hard": {"pods": "1"}});
}

#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_crashloop_on_first_install_removes_everything() {
    first_install_fails("crash1", crash, &["CrashLoopBackOff"]).await;
}
#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_imagepull_on_first_install_removes_everything() {
    first_install_fails("pull1", bad_image, &["ImagePullBackOff", "ErrImagePull"]).await;
}
#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_oom_on_first_install_removes_everything() {
    first_install_fails("oom1", oom, &["OOMKilled"]).await;
}
#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_unschedulable_on_first_install_removes_everything() {
    first_install_fails("sched1", unschedulable, &["Unschedulable"]).await;
}
#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_quota_on_first_install_removes_everything() {
    first_install_fails("quota1", quota, &["exceeded quota"]).await;
}
#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_crashloop_on_upgrade_restores_the_previous_revision() {
    upgrade_fails("crash2", crash, &["CrashLoopBackOff"]).await;
}
#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_imagepull_on_upgrade_restores_the_previous_revision() {
    upgrade_fails("pull2", bad_image, &["ImagePullBackOff", "ErrImagePull"]).await;
}
#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_oom_on_upgrade_restores_the_previous_revision() {
    upgrade_fails("oom2", oom, &["OOMKilled"]).await;
}
#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_unschedulable_on_upgrade_restores_the_previous_revision() {
    upgrade_fails("sched2", unschedulable, &["Unschedulable"]).await;
}
#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_quota_on_upgrade_restores_the_previous_revision() {
    // Two replicas already run: a quota of 2 pods refuses the surge pod of the new revision.
    upgrade_fails(
        "quota2",
        |v| {
            v["quota"] = json!({"hard": {"pods": "2"}});
            v["components"]["api"]["env"]["GREETING"] = json!("changed");
        },
        &["exceeded quota"],
    )
    .await;
}

#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_kong_resource_rejected_keeps_the_app() {
    // Kong's admission webhook refuses a redis rate-limiting plugin without a redis host.
    let ns = unique_ns("kong");
    let c = cluster(&ns).await;
    let out = deploy(
        &c,
        request(
            &ns,
            values(|v| v["kong"] = json!({"rateLimiting": {"policy": "redis"}})),
        ),
    )
    .await
    .expect("the app deploys");
    assert_eq!(out.record.status, ReleaseStatus::Deployed);
    assert!(
        out.warnings.iter().any(|w| w.contains("KongPlugin/")),
        "{:?}",
        out.warnings
    );
    cleanup(&c, &ns).await;
}

#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_concurrent_deploy_refused() {
    let ns = unique_ns("lease");
    let c = cluster(&ns).await;
    deploy(&c, request(&ns, values(|_| {}))).await.unwrap();
    let held = justpush::kube::lease::acquire(c.client.clone(), &ns, RELEASE, "someone@else pid 7")
        .await
        .unwrap();
    let err = deploy(&c, request(&ns, values(|_| {}))).await.unwrap_err();
    assert!(err.to_string().contains("someone@else pid 7"), "{err}");
    held.release().await;
    cleanup(&c, &ns).await;
}

#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_interrupted_deploy_rolled_back() {
    let ns = unique_ns("interrupt");
    let c = cluster(&ns).await;
    deploy(&c, request(&ns, values(|_| {}))).await.unwrap();
    let before = api_template(&c, &ns).await;
    let req = request(
        &ns,
        values(|v| v["components"]["api"]["healthPath"] = json!("/never-ready")),
    );
    let token = req.interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        token.cancel();
    });
    let err = deploy(&c, req).await.unwrap_err();
    assert!(err.to_string().contains("interrupted"), "{err}");
    assert_eq!(api_template(&c, &ns).await, before);
    cleanup(&c, &ns).await;
}

#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_scale_redeploy_rollback_prune_and_delete() {
    let ns = unique_ns("manage");
    let c = cluster(&ns).await;
    deploy(
        &c,
        request(
            &ns,
            values(|v| {
                v["components"]["worker"] = v["components"]["api"].clone();
                v["components"]["worker"]["exposed"] = json!(false);
                v["database"] = json!({"enabled": true, "backup": {"enabled": true}});
            }),
        ),
    )
    .await
    .unwrap();
    // Scale without an HPA.
    let (r, _) = scale(&c, &ns, 3).await;
    assert_eq!(r.record.description, "Scale api to 3");
    assert_eq!(
        manage::running_pods(&c.client, &ns, RELEASE, "api")
            .await
            .unwrap()
            .len(),
        3
    );
    // Redeploy with a changed env rolls the pods (prunes the worker too).
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    let names =
        |l: Vec<Pod>| -> Vec<String> { l.into_iter().filter_map(|p| p.metadata.name).collect() };
    let before = names(
        pods.list(&ListParams::default().labels("app.kubernetes.io/component=api"))
            .await
            .unwrap()
            .items,
    );
    deploy(
        &c,
        request(
            &ns,
            values(|v| {
                v["components"]["api"]["env"]["GREETING"] = json!("changed");
                v["database"] = json!({"enabled": true, "backup": {"enabled": true}});
            }),
        ),
    )
    .await
    .unwrap();
    let after = names(
        pods.list(&ListParams::default().labels("app.kubernetes.io/component=api"))
            .await
            .unwrap()
            .items,
    );
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "{before:?} {after:?}"
    );
    assert_eq!(deployments(&c, &ns).await, 1, "the worker was pruned");
    // Scale with an HPA.
    deploy(
        &c,
        request(
            &ns,
            values(|v| {
                v["components"]["api"]["autoscaling"] =
                    json!({"enabled": true, "minReplicas": 2, "maxReplicas": 4});
                v["database"] = json!({"enabled": true, "backup": {"enabled": true}});
            }),
        ),
    )
    .await
    .unwrap();
    let (_, note) = scale(&c, &ns, 3).await;
    assert!(note.unwrap().contains("minReplicas is now 3"));
    // Delete leaves only the PVCs.
    let report = manage::delete_release(&c.client, &ns, RELEASE, false)
        .await
        .unwrap();
    assert!(report
        .kept
        .iter()
        .all(|k| k.starts_with("PersistentVolumeClaim/")));
    assert!(!report.kept.is_empty());
    assert_eq!(deployments(&c, &ns).await, 0);
    cleanup(&c, &ns).await;
}

#[tokio::test]
#[ignore = "needs a real cluster: JUSTPUSH_E2E_KUBECONFIG"]
async fn e2e_rollback_to_a_chosen_revision() {
    let ns = unique_ns("rollback");
    let c = cluster(&ns).await;
    for g in ["one", "two", "three"] {
        deploy(
            &c,
            request(
                &ns,
                values(|v| v["components"]["api"]["env"]["GREETING"] = json!(g)),
            ),
        )
        .await
        .unwrap();
    }
    let recs = RecordStore::new(c.client.clone(), &ns, RELEASE)
        .list()
        .await
        .unwrap();
    let first = recs.iter().find(|r| r.revision == 1).unwrap();
    let mut req = request(&ns, first.values.as_object().unwrap().clone());
    req.description = "Rollback to 1".into();
    let out = deploy(&c, req).await.unwrap();
    assert_eq!(out.revision, 4);
    assert_eq!(
        out.record.values["components"]["api"]["env"]["GREETING"],
        "one"
    );
    cleanup(&c, &ns).await;
}
