//! The pod-restart suite against the fake API server: its scenario controller recreates deleted
//! pods (Ready after a delay), the kube-rs `KubePodOps` deletes and watches them, and a gateway
//! stand-in answers 503 while a workload has no Ready pod — so one replica shows failed
//! requests and two replicas show none.

#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;

use async_trait::async_trait;
use fake_apiserver::FakeApiServer;
use justpush::verify::restart::{self, DataProbe, KubePodOps, Load, PodOps};
use justpush::verify::{CaseResult, Verdict};
use serde_json::json;
use std::cell::RefCell;
use std::time::Duration;

const NS: &str = "demo";

fn deployment(name: &str, replicas: i64, component: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": {
            "app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": component}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "app.kubernetes.io/instance": "demo"}},
                "spec": {"containers": [{"name": "main", "image": format!("justpush/{name}:1")}]}
            }
        }
    })
}

fn statefulset(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": NS, "labels": {
            "app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "database"}},
        "spec": {
            "replicas": 1,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "postgres", "image": "postgres:16"}]}
            }
        }
    })
}

/// A gateway stand-in that answers 503 while `workload` has no Ready pod.
async fn gateway(client: kube::Client, selector: &'static str) -> String {
    use k8s_openapi::api::core::v1::Pod;
    let app = axum::Router::new().fallback(move || {
        let client = client.clone();
        async move {
            let pods: kube::Api<Pod> = kube::Api::namespaced(client, NS);
            let list = pods
                .list(&kube::api::ListParams::default().labels(selector))
                .await
                .map(|l| l.items)
                .unwrap_or_default();
            let ready = list.iter().any(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            });
            if ready {
                axum::http::StatusCode::OK
            } else {
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            }
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}/api/tasks")
}

struct Probe {
    written: RefCell<Vec<String>>,
    lose: bool,
}

#[async_trait(?Send)]
impl DataProbe for Probe {
    async fn write(&self) -> Result<String, String> {
        self.written.borrow_mut().push("42".into());
        Ok("42".into())
    }
    async fn present(&self, token: &str) -> Result<bool, String> {
        Ok(!self.lose && self.written.borrow().iter().any(|t| t == token))
    }
}

fn verdict(r: &[CaseResult], name: &str) -> (Verdict, String) {
    let c = r
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name:?} in {r:#?}"));
    (c.verdict, c.detail.clone())
}

async fn setup(backend_replicas: i64) -> (FakeApiServer, KubePodOps, Load) {
    let server = FakeApiServer::builder()
        .scenario(|s| s.ready_delay = Duration::from_millis(800))
        .start();
    server.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
    server.put(deployment("demo-backend", backend_replicas, "backend"));
    server.put(deployment("demo-frontend", 2, "frontend"));
    server.put(statefulset("demo-postgres"));
    let client = server.client();
    let ops = KubePodOps {
        client: client.clone(),
        namespace: NS.into(),
        release: "demo".into(),
    };
    // Everything Ready before the suite starts.
    for w in ["demo-backend", "demo-frontend", "demo-postgres"] {
        ops.wait_recovered(w, None, Duration::from_secs(20))
            .await
            .unwrap();
    }
    let url = gateway(client, "app=demo-backend").await;
    let load = Load {
        url,
        api_key: None,
        key_header: "apikey".into(),
        interval: Duration::from_millis(50),
    };
    (server, ops, load)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_ride_out_a_pod_deletion_and_the_database_keeps_its_data() {
    let (server, ops, load) = setup(2).await;
    let workloads = ops.workloads().await.unwrap();
    let names: Vec<(&str, bool)> = workloads
        .iter()
        .map(|w| (w.name.as_str(), w.database))
        .collect();
    assert_eq!(
        names,
        vec![
            ("demo-backend", false),
            ("demo-frontend", false),
            ("demo-postgres", true)
        ]
    );
    let probe = Probe {
        written: RefCell::new(vec![]),
        lose: false,
    };
    let before: Vec<String> = server
        .pods_of(NS, "demo-backend")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    let results = restart::run(&ops, &load, Some(&probe)).await;
    eprintln!("{}", justpush::verify::results_table(&results));
    let (v, d) = verdict(
        &results,
        "demo-backend: no failed requests while a pod restarts",
    );
    assert_eq!(v, Verdict::Passed, "{d}");
    assert!(d.starts_with("0 of "), "{d}");
    let (v, d) = verdict(&results, "demo-backend: Ready again within 30 s");
    assert_eq!(v, Verdict::Passed, "{d}");
    let (v, d) = verdict(&results, "demo-postgres: database restart keeps data");
    assert_eq!(v, Verdict::Passed, "{d}");
    // A pod really was deleted and replaced.
    let after: Vec<String> = server
        .pods_of(NS, "demo-backend")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(after.len(), 2);
    assert!(
        before.iter().any(|p| !after.contains(p)),
        "{before:?} → {after:?}"
    );
    assert!(server
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" && r.resource == "pods"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_drops_requests_and_lost_data_is_reported() {
    let (_server, ops, load) = setup(1).await;
    let probe = Probe {
        written: RefCell::new(vec![]),
        lose: true,
    };
    let results = restart::run(&ops, &load, Some(&probe)).await;
    eprintln!("{}", justpush::verify::results_table(&results));
    let (v, d) = verdict(
        &results,
        "demo-backend: no failed requests while a pod restarts",
    );
    assert_eq!(v, Verdict::Failed, "{d}");
    assert!(d.contains("(1 replica(s))"), "{d}");
    let (v, d) = verdict(&results, "demo-postgres: database restart keeps data");
    assert_eq!(v, Verdict::Failed);
    assert!(d.contains("is gone after deleting demo-postgres-0"), "{d}");
    assert!(justpush::verify::any_failed(&results));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_never_comes_back_fails_the_recovery_check() {
    let server = FakeApiServer::start();
    server.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
    server.put(deployment("demo-backend", 1, "backend"));
    let ops = KubePodOps {
        client: server.client(),
        namespace: NS.into(),
        release: "demo".into(),
    };
    ops.wait_recovered("demo-backend", None, Duration::from_secs(20))
        .await
        .unwrap();
    // From now on, new pods of this image never turn Ready.
    server.scenario(|s| {
        s.fail_image("justpush/demo-backend", fake_apiserver::Failure::NeverReady);
    });
    let pod = ops.delete_one_pod("demo-backend").await.unwrap();
    let e = ops
        .wait_recovered("demo-backend", Some(&pod), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(e.contains("did not have 1 Ready pod(s) within 2 s"), "{e}");
}
