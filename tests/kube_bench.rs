//! Deploy latency benchmark against the fake API server (ignored; run with
//! `scripts/bench-deploy.sh` or `cargo test --test kube_bench -- --ignored --nocapture`).
//! Prints figures; asserts nothing about time.
//!
//! - ready → return: from the moment the fake's last pod of the release turns Ready (seen by
//!   a watcher thread woken on every change) to `deploy_release` returning. Target ≤ 250 ms.
//! - failure → report: from the first pod entering CrashLoopBackOff / ImagePullBackOff
//!   (ErrImagePull) to the deploy reporting the failure (its "failed: rolling back" step).
//!   Target ≤ 2 s.

#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_apiserver::FakeApiServer;
use justpush::chart::load::Chart;
use justpush::kube::action::{deploy_release, DeployProgress, DeployRequest};
use serde_json::{json, Value};

const NS: &str = "bench";

fn request(api_image: &str) -> DeployRequest {
    let values = json!({
        "components": {
            "backend": {"image": {"repository": api_image.split(':').next().unwrap(), "tag": api_image.split(':').nth(1).unwrap()}},
            "frontend": {"image": {"repository": "bench/web", "tag": "1"}},
        }
    });
    let mut req = DeployRequest::new(
        "bench",
        NS,
        Chart::bundled().unwrap(),
        values.as_object().unwrap().clone(),
    );
    req.images = BTreeMap::from([("backend".into(), api_image.into())]);
    req.timeout = Duration::from_secs(60);
    req
}

fn pods(server: &FakeApiServer) -> Vec<Value> {
    server
        .objects_in("v1", "Pod", NS)
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect()
}

fn all_ready_with(server: &FakeApiServer, image: &str) -> bool {
    let ps = pods(server);
    let mine: Vec<&Value> = ps
        .iter()
        .filter(|p| p["spec"]["containers"][0]["image"] == image)
        .collect();
    !mine.is_empty()
        && ps.iter().all(|p| {
            p["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        && server
            .objects_in("apps/v1", "Deployment", NS)
            .iter()
            .all(|d| {
                d["status"]["readyReplicas"] == d["spec"]["replicas"]
                    && d["status"]["updatedReplicas"] == d["spec"]["replicas"]
            })
}

fn any_waiting(server: &FakeApiServer, reasons: &[&str]) -> bool {
    pods(server).iter().any(|p| {
        p["status"]["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                reasons
                    .iter()
                    .any(|r| c["state"]["waiting"]["reason"] == *r)
            })
    })
}

fn stats(label: &str, xs: &mut [Duration], target: &str) {
    xs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: n={} min={:.1} ms median={:.1} ms max={:.1} ms (target {target})",
        xs.len(),
        ms(xs[0]),
        ms(xs[xs.len() / 2]),
        ms(xs[xs.len() - 1])
    );
}

/// Runs a deploy and returns (when it returned, when it reported a failure, if it did).
fn timed_deploy(
    rt: &tokio::runtime::Runtime,
    server: &FakeApiServer,
    req: DeployRequest,
) -> (Instant, Option<Instant>) {
    let failed_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let f = failed_at.clone();
    let _ = rt.block_on(async move {
        let client = server.client();
        let mut progress = move |p: DeployProgress| {
            if let DeployProgress::Step(s) = &p {
                if s.contains("failed: rolling back") {
                    f.lock().unwrap().get_or_insert(Instant::now());
                }
            }
        };
        deploy_release(&client, req, &mut progress).await
    });
    let end = Instant::now();
    let failed = *failed_at.lock().unwrap();
    (end, failed)
}

#[test]
#[ignore = "benchmark: prints figures (scripts/bench-deploy.sh)"]
fn bench_deploy_latencies() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = Arc::new(FakeApiServer::start());
    // Pods turn ready a little after starting, so the deploy is already watching.
    server.scenario(|s| s.ready_delay = Duration::from_millis(200));
    let rounds = 8;

    let mut ready_to_return = Vec::new();
    for i in 1..=rounds {
        let image = format!("bench/api:{i}");
        let s = server.clone();
        let img = image.clone();
        let watcher = std::thread::spawn(move || {
            s.wait_until(Duration::from_secs(60), |s| all_ready_with(s, &img))
                .then(Instant::now)
        });
        let (end, _) = timed_deploy(&rt, &server, request(&image));
        if let Some(ready) = watcher.join().unwrap() {
            ready_to_return.push(end.saturating_duration_since(ready));
        }
    }

    let mut failure_to_report = BTreeMap::new();
    for (label, image, reasons) in [
        (
            "CrashLoopBackOff",
            "bench/api-crashloop",
            &["CrashLoopBackOff"][..],
        ),
        (
            "ImagePullBackOff",
            "bench/api-imagepull",
            &["ErrImagePull", "ImagePullBackOff"][..],
        ),
    ] {
        let mut xs = Vec::new();
        for i in 1..=rounds {
            let image = format!("{image}:{i}");
            let s = server.clone();
            let watcher = std::thread::spawn(move || {
                s.wait_until(Duration::from_secs(60), |s| any_waiting(s, reasons))
                    .then(Instant::now)
            });
            let (_, failed) = timed_deploy(&rt, &server, request(&image));
            if let (Some(entered), Some(reported)) = (watcher.join().unwrap(), failed) {
                xs.push(reported.saturating_duration_since(entered));
            }
        }
        failure_to_report.insert(label, xs);
    }

    println!();
    stats(
        "last pod ready -> deploy returned",
        &mut ready_to_return,
        "<= 250 ms",
    );
    for (label, xs) in failure_to_report.iter_mut() {
        stats(&format!("{label} -> failure reported"), xs, "<= 2 s");
    }
}
