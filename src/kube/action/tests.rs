//! The deploy action's phases over the in-memory fakes: every scenario ends with an
//! assertion over the whole end state (every object with its content, Secret values
//! decoded, the namespaces, every record's status, the lease), not only over the result.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value as J;

use super::fake::{FakeCluster, FakeReleases};
use super::*;
use crate::chart::app_values::app_values;
use crate::detect::config::AppConfig;
use crate::kube::status::{Failure, FailureKind};

const NS: &str = "shop";
const RELEASE: &str = "todo";
const HOLDER: &str = "test-run";

fn app() -> AppConfig {
    AppConfig::from_yaml(
        include_str!("../../../tests/fixtures/apps/todo-justpush.yaml"),
        Path::new("justpush.yaml"),
    )
    .unwrap()
}

/// A deploy of the two-component app with the api's image and its secret's value.
fn request(api_image: &str, api_token: &str) -> DeployRequest {
    let images = BTreeMap::from([
        ("api".to_string(), api_image.to_string()),
        ("web".to_string(), "web:1".to_string()),
    ]);
    let secrets = BTreeMap::from([(
        "api".to_string(),
        BTreeMap::from([("API_TOKEN".to_string(), api_token.to_string())]),
    )]);
    let values = app_values(&app(), &images, &secrets).unwrap().values;
    let mut req = DeployRequest::new(RELEASE, NS, Chart::bundled().unwrap(), values);
    req.images = images;
    req.holder = HOLDER.into();
    req.timeout = Duration::from_secs(30);
    req
}

async fn run(
    cluster: &mut FakeCluster,
    store: &FakeReleases,
    req: DeployRequest,
) -> (Result<DeployOutcome, DeployError>, Vec<DeployProgress>) {
    let mut seen = Vec::new();
    let mut progress = |p: DeployProgress| seen.push(p);
    let r = deploy(cluster, store, req, &mut progress).await;
    (r, seen)
}

fn statuses(store: &FakeReleases) -> Vec<(u32, ReleaseStatus)> {
    store
        .records()
        .iter()
        .map(|r| (r.revision, r.status))
        .collect()
}

fn crash(object: &str) -> WaitOutcome {
    WaitOutcome::Failed {
        failure: Failure {
            object: object.into(),
            kind: FailureKind::CrashLoop,
            message: "back-off restarting failed container".into(),
            container: Some("app".into()),
        },
        logs: Some("Traceback: KeyError: 'DATABASE_URL'".into()),
    }
}

/// The api component's Secret, by its label.
fn api_secret_name(cluster: &FakeCluster) -> String {
    cluster
        .objects
        .iter()
        .find(|(k, o)| {
            k.kind == "Secret"
                && o.pointer("/metadata/labels/app.kubernetes.io~1component")
                    .and_then(J::as_str)
                    == Some("api")
                && o.pointer("/data/API_TOKEN").is_some()
        })
        .map(|(k, _)| k.name.clone())
        .expect("the api component has a Secret with API_TOKEN")
}

fn api_image(cluster: &FakeCluster) -> String {
    let (_, d) = cluster
        .objects
        .iter()
        .find(|(k, _)| k.kind == "Deployment" && k.name.ends_with("api"))
        .unwrap();
    d.pointer("/spec/template/spec/containers/0/image")
        .and_then(J::as_str)
        .unwrap()
        .to_string()
}

/// The keys of a first install's objects, in apply order (deployed on a cluster of its own).
async fn first_install_keys() -> Vec<ObjectKey> {
    let mut c = FakeCluster::with_kong();
    let (r, _) = run(&mut c, &FakeReleases::default(), request("api:1", "one")).await;
    r.unwrap()
        .record
        .objects
        .iter()
        .map(ObjectKey::of)
        .collect()
}

/// A cluster and store with revision 1 deployed (API_TOKEN=one, api:1).
async fn deployed_v1() -> (FakeCluster, FakeReleases) {
    let mut cluster = FakeCluster::with_kong();
    let store = FakeReleases::default();
    let (r, _) = run(&mut cluster, &store, request("api:1", "one")).await;
    r.expect("revision 1 deploys");
    (cluster, store)
}

#[tokio::test]
async fn a_first_install_applies_every_object_and_records_one_deployed_revision() {
    let (cluster, store) = deployed_v1().await;
    let kinds: BTreeSet<&str> = cluster.objects.keys().map(|k| k.kind.as_str()).collect();
    for kind in ["Deployment", "Service", "Secret", "ConfigMap", "KongPlugin"] {
        assert!(kinds.contains(kind), "{kind} missing: {kinds:?}");
    }
    assert_eq!(
        cluster.secret_data(&api_secret_name(&cluster)).unwrap()["API_TOKEN"],
        "one"
    );
    assert_eq!(cluster.namespaces, BTreeSet::from([NS.to_string()]));
    assert_eq!(statuses(&store), vec![(1, ReleaseStatus::Deployed)]);
    let record = &store.records()[0];
    assert_eq!(record.objects.len(), cluster.objects.len());
    // The record holds fingerprints, never the value.
    assert!(!serde_json::to_string(record).unwrap().contains("\"one\""));
    assert!(record.namespace_created);
    assert_eq!(*store.lease.lock().unwrap(), None);
}

#[tokio::test]
async fn a_failed_first_install_leaves_nothing_not_even_the_namespace_it_made() {
    let mut cluster = FakeCluster::with_kong();
    cluster.waits.push_back(crash("Pod/todo-api-1"));
    let store = FakeReleases::default();
    let (r, _) = run(&mut cluster, &store, request("api:1", "one")).await;
    let Err(DeployError::Failed {
        cleanup, message, ..
    }) = r
    else {
        panic!("expected Failed, got {r:?}")
    };
    assert_eq!(
        cleanup,
        Cleanup::Removed {
            namespace_deleted: true
        }
    );
    assert!(message.contains("KeyError: 'DATABASE_URL'"), "{message}");
    assert_eq!(cluster.by_name(), BTreeMap::new());
    assert!(cluster.namespaces.is_empty());
    assert_eq!(statuses(&store), vec![]);
    assert_eq!(*store.lease.lock().unwrap(), None);
}

#[tokio::test]
async fn a_failed_upgrade_brings_back_every_object_and_the_previous_secret_value() {
    let (mut cluster, store) = deployed_v1().await;
    let before = cluster.by_name();
    let secret = api_secret_name(&cluster);
    cluster.waits.push_back(crash("Pod/todo-api-2"));
    let (r, _) = run(&mut cluster, &store, request("api:2", "two")).await;
    let Err(DeployError::Failed { cleanup, .. }) = r else {
        panic!("expected Failed, got {r:?}")
    };
    assert_eq!(cleanup, Cleanup::Restored { revision: 1 });
    assert_eq!(cluster.secret_data(&secret).unwrap()["API_TOKEN"], "one");
    assert_eq!(api_image(&cluster), "api:1");
    assert_eq!(cluster.by_name(), before);
    assert_eq!(
        statuses(&store),
        vec![(1, ReleaseStatus::Deployed), (2, ReleaseStatus::Failed)]
    );
    // The restore was awaited, on revision 1's workloads.
    // Waits: revision 1, revision 2, then the restore of revision 1's workloads.
    assert_eq!(cluster.waited.len(), 3);
    assert!(!cluster.waited[2].quota_fails);
    assert_eq!(cluster.waited[2].workloads, cluster.waited[0].workloads);
    assert_eq!(*store.lease.lock().unwrap(), None);
}

#[tokio::test]
async fn a_successful_upgrade_changes_the_secret_and_supersedes_the_previous_revision() {
    let (mut cluster, store) = deployed_v1().await;
    let secret = api_secret_name(&cluster);
    let (r, _) = run(&mut cluster, &store, request("api:2", "two")).await;
    assert_eq!(r.unwrap().revision, 2);
    assert_eq!(cluster.secret_data(&secret).unwrap()["API_TOKEN"], "two");
    assert_eq!(api_image(&cluster), "api:2");
    assert_eq!(
        statuses(&store),
        vec![(1, ReleaseStatus::Superseded), (2, ReleaseStatus::Deployed)]
    );
}

#[tokio::test]
async fn a_restore_that_does_not_become_ready_is_reported_incomplete() {
    let (mut cluster, store) = deployed_v1().await;
    cluster.waits.push_back(crash("Pod/todo-api-2"));
    cluster.waits.push_back(WaitOutcome::TimedOut(vec![(
        "Deployment/todo-api".into(),
        "1/2 ready".into(),
    )]));
    let (r, _) = run(&mut cluster, &store, request("api:2", "two")).await;
    let Err(DeployError::Failed {
        cleanup, message, ..
    }) = r
    else {
        panic!("expected Failed, got {r:?}")
    };
    assert!(
        matches!(&cleanup, Cleanup::RestoreIncomplete { revision: 1, problem } if problem.contains("1/2 ready")),
        "{cleanup:?}"
    );
    assert!(message.contains("did not finish"), "{message}");
    // The objects are revision 1's again, though not ready.
    assert_eq!(api_image(&cluster), "api:1");
    assert_eq!(
        statuses(&store),
        vec![(1, ReleaseStatus::Deployed), (2, ReleaseStatus::Failed)]
    );
}

#[tokio::test]
async fn a_live_secret_gone_before_the_restore_is_named_not_skipped() {
    let (mut cluster, store) = deployed_v1().await;
    let secret = api_secret_name(&cluster);
    cluster
        .objects
        .retain(|k, _| !(k.kind == "Secret" && k.name == secret));
    cluster.waits.push_back(crash("Pod/todo-api-2"));
    let (r, _) = run(&mut cluster, &store, request("api:2", "two")).await;
    let Err(DeployError::Failed { cleanup, .. }) = r else {
        panic!("expected Failed, got {r:?}")
    };
    let Cleanup::RestoreIncomplete { revision, problem } = &cleanup else {
        panic!("expected RestoreIncomplete, got {cleanup:?}")
    };
    assert_eq!(*revision, 1);
    assert!(problem.contains(&format!("Secret/{secret}")), "{problem}");
    assert!(problem.contains("redeploy --secret"), "{problem}");
    // Revision 2's value is not left behind under revision 1's name either.
    assert_eq!(cluster.secret_data(&secret).unwrap()["API_TOKEN"], "two");
}

#[tokio::test]
async fn a_failed_delete_during_cleanup_is_reported_with_what_is_left() {
    let mut cluster = FakeCluster::with_kong();
    // The namespace is the user's: it stays, and what could not be deleted stays in it.
    cluster.namespaces.insert(NS.into());
    cluster.waits.push_back(crash("Pod/todo-api-1"));
    let store = FakeReleases::default();
    let api_deployment = first_install_keys()
        .await
        .into_iter()
        .find(|k| k.kind == "Deployment" && k.name.ends_with("api"))
        .unwrap();
    cluster
        .fail_delete
        .insert(format!("Deployment/{}", api_deployment.name));
    let (r, _) = run(&mut cluster, &store, request("api:1", "one")).await;
    let Err(DeployError::Failed {
        cleanup, message, ..
    }) = r
    else {
        panic!("expected Failed, got {r:?}")
    };
    let Cleanup::RemovalIncomplete { left } = &cleanup else {
        panic!("expected RemovalIncomplete, got {cleanup:?}")
    };
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with(&api_deployment.to_string()), "{left:?}");
    assert!(message.contains("did not finish"), "{message}");
    assert_eq!(
        cluster.by_name().into_keys().collect::<Vec<_>>(),
        vec![format!("Deployment/{}", api_deployment.name)]
    );
    assert_eq!(cluster.namespaces, BTreeSet::from([NS.to_string()]));
    assert_eq!(statuses(&store), vec![]);
    assert_eq!(*store.lease.lock().unwrap(), None);
}

#[tokio::test]
async fn a_namespace_that_cannot_be_deleted_is_named_with_the_record_left() {
    let mut cluster = FakeCluster::with_kong();
    cluster.fail_delete_namespace = true;
    cluster.waits.push_back(crash("Pod/todo-api-1"));
    let store = FakeReleases::default();
    store.fail_delete.lock().unwrap().insert(1);
    let (r, _) = run(&mut cluster, &store, request("api:1", "one")).await;
    let Err(DeployError::Failed { cleanup, .. }) = r else {
        panic!("expected Failed, got {r:?}")
    };
    let Cleanup::RemovalIncomplete { left } = &cleanup else {
        panic!("expected RemovalIncomplete, got {cleanup:?}")
    };
    let record = crate::kube::record::record_name(RELEASE, 1);
    assert!(
        left[0].starts_with(&format!("release record {record}")),
        "{left:?}"
    );
    assert!(left[1].starts_with(&format!("namespace {NS}")), "{left:?}");
    assert_eq!(cluster.by_name(), BTreeMap::new());
    assert_eq!(statuses(&store), vec![(1, ReleaseStatus::Deploying)]);
}

#[tokio::test]
async fn records_a_dead_run_left_in_flight_are_marked_failed() {
    let (mut cluster, store) = deployed_v1().await;
    let mut dead = store.records()[0].clone();
    dead.revision = 2;
    dead.status = ReleaseStatus::Deploying;
    store.save(&dead).await.unwrap();
    let (r, _) = run(&mut cluster, &store, request("api:3", "three")).await;
    assert_eq!(r.unwrap().revision, 3);
    assert_eq!(
        statuses(&store),
        vec![
            (1, ReleaseStatus::Superseded),
            (2, ReleaseStatus::Failed),
            (3, ReleaseStatus::Deployed)
        ]
    );
    assert!(store.records()[1].description.contains("interrupted"));
}

#[tokio::test]
async fn an_api_error_mid_apply_rolls_the_upgrade_back() {
    for code in [422, 0] {
        let (mut cluster, store) = deployed_v1().await;
        let before = cluster.by_name();
        let api = before
            .keys()
            .find(|k| k.starts_with("Deployment/") && k.ends_with("api"))
            .unwrap()
            .clone();
        cluster.fail_apply.insert(api, code);
        let (r, _) = run(&mut cluster, &store, request("api:2", "two")).await;
        let Err(DeployError::Failed {
            cleanup, message, ..
        }) = r
        else {
            panic!("expected Failed, got {r:?}")
        };
        let why = if code == 0 {
            "connection reset"
        } else {
            "injected fault (422)"
        };
        assert!(message.contains(why), "{message}");
        // Re-applying revision 1's Deployment fails too, and says so.
        let Cleanup::RestoreIncomplete { problem, .. } = &cleanup else {
            panic!("expected RestoreIncomplete, got {cleanup:?}")
        };
        assert!(problem.contains("re-applying Deployment"), "{problem}");
        assert_eq!(
            statuses(&store),
            vec![(1, ReleaseStatus::Deployed), (2, ReleaseStatus::Failed)]
        );
        assert_eq!(*store.lease.lock().unwrap(), None);
    }
}

#[tokio::test]
async fn a_lost_connection_mid_first_install_removes_what_was_applied() {
    let mut cluster = FakeCluster::with_kong();
    let store = FakeReleases::default();
    let last = first_install_keys().await.pop().unwrap();
    cluster
        .fail_apply
        .insert(format!("{}/{}", last.kind, last.name), 0);
    let (r, _) = run(&mut cluster, &store, request("api:1", "one")).await;
    let Err(DeployError::Failed { cleanup, .. }) = r else {
        panic!("expected Failed, got {r:?}")
    };
    assert_eq!(
        cleanup,
        Cleanup::Removed {
            namespace_deleted: true
        }
    );
    assert_eq!(cluster.by_name(), BTreeMap::new());
    assert!(cluster.namespaces.is_empty());
    assert_eq!(statuses(&store), vec![]);
}

#[tokio::test]
async fn a_gateway_object_the_cluster_rejects_is_a_warning_and_the_app_deploys() {
    let mut cluster = FakeCluster::with_kong();
    let store = FakeReleases::default();
    let plugin = first_install_keys()
        .await
        .into_iter()
        .find(|k| k.kind == "KongPlugin")
        .unwrap();
    cluster
        .fail_apply
        .insert(format!("KongPlugin/{}", plugin.name), 422);
    let (r, seen) = run(&mut cluster, &store, request("api:1", "one")).await;
    let o = r.unwrap();
    assert!(
        o.warnings.iter().any(|w| w.contains("gateway object")),
        "{:?}",
        o.warnings
    );
    assert!(seen
        .iter()
        .any(|p| matches!(p, DeployProgress::Warning(w) if w.contains(&plugin.name))));
    assert!(!cluster.objects.contains_key(&plugin));
    assert!(seen
        .iter()
        .any(|p| matches!(p, DeployProgress::Step(s) if s.starts_with("applying ") && s.ends_with("(revision 1)"))));
    assert_eq!(statuses(&store), vec![(1, ReleaseStatus::Deployed)]);
}

#[tokio::test]
async fn a_failed_job_fails_the_deploy_like_a_crash() {
    let mut cluster = FakeCluster::with_kong();
    cluster.waits.push_back(WaitOutcome::Failed {
        failure: Failure {
            object: "Job/todo-migrate".into(),
            kind: FailureKind::JobFailed,
            message: "BackoffLimitExceeded".into(),
            container: None,
        },
        logs: None,
    });
    let store = FakeReleases::default();
    let (r, _) = run(&mut cluster, &store, request("api:1", "one")).await;
    let Err(DeployError::Failed { message, .. }) = r else {
        panic!("expected Failed, got {r:?}")
    };
    assert!(message.contains("BackoffLimitExceeded"), "{message}");
    assert_eq!(cluster.by_name(), BTreeMap::new());
    assert_eq!(statuses(&store), vec![]);
}

#[tokio::test]
async fn an_interrupt_while_waiting_rolls_back_and_says_it_was_interrupted() {
    let (mut cluster, store) = deployed_v1().await;
    let before = cluster.by_name();
    let req = request("api:2", "two");
    let interrupt = req.interrupt.clone();
    cluster.during_wait = Some(Box::new(move || interrupt.cancel()));
    let (r, _) = run(&mut cluster, &store, req).await;
    let Err(DeployError::Failed {
        cleanup, message, ..
    }) = r
    else {
        panic!("expected Failed, got {r:?}")
    };
    assert!(message.contains("was interrupted"), "{message}");
    assert_eq!(cleanup, Cleanup::Restored { revision: 1 });
    assert_eq!(cluster.by_name(), before);
    assert_eq!(
        statuses(&store),
        vec![(1, ReleaseStatus::Deployed), (2, ReleaseStatus::Failed)]
    );
    assert_eq!(*store.lease.lock().unwrap(), None);
}

#[tokio::test]
async fn a_second_interrupt_aborts_at_once_and_leaves_the_lease_to_expire() {
    let mut cluster = FakeCluster::with_kong();
    let store = FakeReleases::default();
    let req = request("api:1", "one");
    let (interrupt, abort) = (req.interrupt.clone(), req.abort.clone());
    cluster.during_wait = Some(Box::new(move || {
        interrupt.cancel();
        abort.cancel();
    }));
    let (r, _) = run(&mut cluster, &store, req).await;
    assert!(
        matches!(r, Err(DeployError::Aborted { revision: 1, .. })),
        "{r:?}"
    );
    // Nothing was undone: the objects stay, the record says DEPLOYING, the lease is held.
    let recorded: BTreeSet<String> = store.records()[0]
        .objects
        .iter()
        .map(|o| {
            let k = ObjectKey::of(o);
            format!("{}/{}", k.kind, k.name)
        })
        .collect();
    assert_eq!(
        cluster.by_name().into_keys().collect::<BTreeSet<_>>(),
        recorded
    );
    assert_eq!(statuses(&store), vec![(1, ReleaseStatus::Deploying)]);
    assert_eq!(store.lease.lock().unwrap().as_deref(), Some(HOLDER));
}

#[tokio::test]
async fn a_lease_taken_over_mid_deploy_rolls_nothing_back() {
    let (mut cluster, store) = deployed_v1().await;
    let other = store.clone();
    cluster.during_wait = Some(Box::new(move || other.lease_taken_by("other-run")));
    let (r, _) = run(&mut cluster, &store, request("api:2", "two")).await;
    let Err(DeployError::LeaseLost {
        holder, revision, ..
    }) = r
    else {
        panic!("expected LeaseLost, got {r:?}")
    };
    assert_eq!((holder.as_str(), revision), ("other-run", 2));
    // Revision 2's objects stay (the other deploy owns the release now).
    assert_eq!(api_image(&cluster), "api:2");
    assert_eq!(
        statuses(&store),
        vec![(1, ReleaseStatus::Deployed), (2, ReleaseStatus::Failed)]
    );
    assert_eq!(store.lease.lock().unwrap().as_deref(), Some("other-run"));
}

#[tokio::test]
async fn a_deploy_while_another_holds_the_lease_is_refused_and_creates_nothing() {
    let mut cluster = FakeCluster::with_kong();
    let store = FakeReleases::default();
    *store.lease.lock().unwrap() = Some("other-run".into());
    let (r, _) = run(&mut cluster, &store, request("api:1", "one")).await;
    let Err(DeployError::Refused(m)) = r else {
        panic!("expected Refused, got {r:?}")
    };
    assert!(m.contains("other-run"), "{m}");
    assert_eq!(cluster.by_name(), BTreeMap::new());
    assert!(
        cluster.namespaces.is_empty(),
        "the namespace it made is gone"
    );
    assert_eq!(statuses(&store), vec![]);
    assert_eq!(store.lease.lock().unwrap().as_deref(), Some("other-run"));
}

#[tokio::test]
async fn a_cluster_without_kong_is_refused_before_the_namespace() {
    let mut cluster = FakeCluster::default();
    let store = FakeReleases::default();
    let (r, _) = run(&mut cluster, &store, request("api:1", "one")).await;
    let Err(DeployError::Refused(m)) = r else {
        panic!("expected Refused, got {r:?}")
    };
    assert!(m.contains("kong.enabled=false"), "{m}");
    assert!(cluster.namespaces.is_empty());
    assert_eq!(*store.lease.lock().unwrap(), None);
}

#[tokio::test]
async fn a_release_name_kubernetes_cannot_hold_is_refused_before_anything() {
    let mut cluster = FakeCluster::with_kong();
    let store = FakeReleases::default();
    let mut req = request("api:1", "one");
    req.release = "Not_A_Name".into();
    let (r, _) = run(&mut cluster, &store, req).await;
    assert!(matches!(r, Err(DeployError::Refused(_))), "{r:?}");
    assert!(cluster.namespaces.is_empty());
    assert_eq!(*store.lease.lock().unwrap(), None);
}
