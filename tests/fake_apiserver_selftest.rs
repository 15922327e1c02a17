//! Self-tests of the fake API server: kube-rs drives it the way the product does (typed `Api`,
//! `DynamicObject` through discovery, server-side apply, `kube::runtime::watcher`), and each
//! test asserts the states a real cluster would show.

#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;

use std::time::Duration;

use fake_apiserver::{condition, deployment, Failure, FakeApiServer, Fault, FaultAnswer, Verb};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::discovery::{Discovery, Scope};
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

fn dep(ns: &str, name: &str, image: &str, replicas: i64) -> Deployment {
    serde_json::from_value(deployment(ns, name, image, replicas)).unwrap()
}

async fn create_ns(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
    )
    .await
    .unwrap();
}

fn api_status(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn discovery_lists_builtin_and_crd_groups_for_kube_rs() {
    let server = FakeApiServer::start();
    let client = server.client();
    let v = client.apiserver_version().await.unwrap();
    assert_eq!(v.major, "1");
    let d = Discovery::new(client.clone()).run().await.unwrap();
    for (group, kind) in [
        ("", "Pod"),
        ("", "Secret"),
        ("apps", "Deployment"),
        ("batch", "CronJob"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("policy", "PodDisruptionBudget"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("coordination.k8s.io", "Lease"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("configuration.konghq.com", "KongPlugin"),
        ("external-secrets.io", "ExternalSecret"),
    ] {
        let g = d
            .get(group)
            .unwrap_or_else(|| panic!("group {group:?} missing"));
        let (ar, caps) = g
            .recommended_kind(kind)
            .unwrap_or_else(|| panic!("{kind} missing"));
        assert_eq!(
            caps.scope,
            if kind == "CustomResourceDefinition" {
                Scope::Cluster
            } else {
                Scope::Namespaced
            },
            "{kind}"
        );
        assert!(
            caps.operations.iter().any(|o| o == "watch"),
            "{kind} watchable"
        );
        let _ = ar;
    }
    let (_, pod_caps) = d.get("").unwrap().recommended_kind("Pod").unwrap();
    assert!(pod_caps.subresources.iter().any(|(r, _)| r.plural == "log"));
    assert!(pod_caps
        .subresources
        .iter()
        .any(|(r, _)| r.plural == "status"));
    assert_eq!(
        d.get("autoscaling").unwrap().preferred_version(),
        Some("v2")
    );
    assert!(
        !d.has_group("metrics.k8s.io"),
        "metrics API is off by default"
    );
    // The aggregated form gives the same answer.
    let agg = Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    assert!(agg
        .get("configuration.konghq.com")
        .unwrap()
        .recommended_kind("KongConsumer")
        .is_some());
    assert!(agg.get("").unwrap().recommended_kind("ConfigMap").is_some());
}

#[tokio::test]
async fn kong_and_metrics_groups_are_switchable() {
    let server = FakeApiServer::builder()
        .without_kong()
        .with_metrics()
        .start();
    let client = server.client();
    let d = Discovery::new(client.clone()).run().await.unwrap();
    assert!(!d.has_group("configuration.konghq.com"));
    assert!(d.has_group("metrics.k8s.io"));
    let plugins = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("configuration.konghq.com", "v1", "KongPlugin"),
        "kongplugins",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &plugins);
    let (code, reason, _) = api_status(api.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    server.set_kong_crds(true);
    server.set_metrics(false);
    let d = Discovery::new(client.clone()).run().await.unwrap();
    assert!(d.has_group("configuration.konghq.com"));
    assert!(!d.has_group("metrics.k8s.io"));
    assert!(api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn get_list_create_replace_and_errors_are_real_status_objects() {
    let server = FakeApiServer::start();
    let client = server.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let (code, reason, msg) = api_status(cms.get("nope").await.unwrap_err());
    assert_eq!(
        (code, reason.as_str(), msg.as_str()),
        (404, "NotFound", "configmaps \"nope\" not found")
    );

    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "a", "labels": {"app": "x", "tier": "web"}}, "data": {"k": "v"}})).unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    let rv1: u64 = created.resource_version().unwrap().parse().unwrap();
    let (code, reason, msg) =
        api_status(cms.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!(
        (code, reason.as_str(), msg.as_str()),
        (409, "AlreadyExists", "configmaps \"a\" already exists")
    );

    let b: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "b", "labels": {"app": "x"}}})).unwrap();
    cms.create(&PostParams::default(), &b).await.unwrap();
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items.iter().map(|c| c.name_any()).collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("app=x,tier=web"))
                .await
                .unwrap()
        ),
        ["a"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("app"))
                .await
                .unwrap()
        ),
        ["a", "b"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("!tier"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().fields("metadata.name=b"))
                .await
                .unwrap()
        ),
        ["b"]
    );

    // PUT with a stale resourceVersion conflicts; with the current one it succeeds.
    let mut stale = created.clone();
    stale.data = Some([("k".to_string(), "v2".to_string())].into());
    let ok = cms
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap();
    assert!(ok.resource_version().unwrap().parse::<u64>().unwrap() > rv1);
    let (code, reason, _) = api_status(
        cms.replace("a", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));

    // Writes into a missing namespace.
    let other: Api<ConfigMap> = Api::namespaced(client.clone(), "missing");
    let (code, reason, msg) =
        api_status(other.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!(
        (code, reason.as_str(), msg.as_str()),
        (404, "NotFound", "namespaces \"missing\" not found")
    );

    // Invalid names are 422 with a cause.
    let bad: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "Bad_Name"}})).unwrap();
    let (code, reason, msg) =
        api_status(cms.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(
        msg.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value"),
        "{msg}"
    );
}

#[tokio::test]
async fn server_side_apply_creates_if_missing_updates_and_drops_fields_it_no_longer_applies() {
    let server = FakeApiServer::start();
    let client = server.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PatchParams::apply("kubectl-justpush").force();
    let v1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"a": "1", "b": "2"}}, "data": {"X": "1", "Y": "2"}});
    let created = cms.patch("cfg", &pp, &Patch::Apply(&v1)).await.unwrap();
    assert_eq!(created.data.as_ref().unwrap()["X"], "1");
    let mf = created.metadata.managed_fields.as_ref().unwrap();
    assert!(mf
        .iter()
        .any(|m| m.manager.as_deref() == Some("kubectl-justpush")
            && m.operation.as_deref() == Some("Apply")));

    // Another writer adds a key; our next apply removes Y (we no longer apply it) and keeps theirs.
    cms.patch(
        "cfg",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"Z": "theirs"}})),
    )
    .await
    .unwrap();
    let v2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"a": "1"}}, "data": {"X": "changed"}});
    let updated = cms.patch("cfg", &pp, &Patch::Apply(&v2)).await.unwrap();
    let data = updated.data.unwrap();
    assert_eq!(data.get("X").map(String::as_str), Some("changed"));
    assert_eq!(data.get("Y"), None);
    assert_eq!(data.get("Z").map(String::as_str), Some("theirs"));
    assert_eq!(updated.metadata.labels.unwrap().get("b"), None);
    assert_eq!(updated.metadata.uid, created.metadata.uid);

    let applies: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.is_apply_by("kubectl-justpush"))
        .collect();
    assert_eq!(applies.len(), 2);
    assert!(applies
        .iter()
        .all(|r| r.force && r.content_type == "application/apply-patch+yaml"));
    assert_eq!(applies[0].code, 201);
    assert_eq!(applies[1].code, 200);

    // Apply without a field manager is refused, as on a real server.
    let (code, _, msg) = api_status(
        cms.patch("cfg", &PatchParams::default(), &Patch::Apply(&v2))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert!(msg.contains("fieldManager"), "{msg}");
}

#[tokio::test]
async fn dynamic_objects_through_discovery_apply_and_delete() {
    let server = FakeApiServer::start();
    let client = server.client();
    let d = Discovery::new(client.clone()).run().await.unwrap();
    let docs = [
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "key"}, "stringData": {"apikey": "s3cret"}}),
        json!({"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin", "metadata": {"name": "auth"}, "plugin": "key-auth"}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    ];
    for doc in &docs {
        let obj: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
        let gvk = kube::api::GroupVersionKind::try_from(obj.types.as_ref().unwrap()).unwrap();
        let (ar, _) = d.resolve_gvk(&gvk).unwrap();
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
        api.patch(
            &obj.name_any(),
            &PatchParams::apply("kubectl-justpush"),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap();
    }
    let secret = server.object("v1", "Secret", "default", "key").unwrap();
    assert_eq!(
        secret["data"]["apikey"], "czNjcmV0",
        "stringData folds into base64 data"
    );
    assert!(secret.get("stringData").is_none());
    let svc = server.object("v1", "Service", "default", "web").unwrap();
    assert!(svc["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .starts_with("10.96."));
    assert_eq!(
        server
            .objects("configuration.konghq.com/v1", "KongPlugin")
            .len(),
        1
    );
}

#[tokio::test]
async fn deployment_rolls_out_to_ready_pods_with_realistic_status() {
    let server = FakeApiServer::start();
    let client = server.client();
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.patch(
        "web",
        &PatchParams::apply("kubectl-justpush"),
        &Patch::Apply(&dep("default", "web", "web:1", 2)),
    )
    .await
    .unwrap();
    let ready = server
        .wait_until_async(WAIT, |s| {
            s.object("apps/v1", "Deployment", "default", "web")
                .is_some_and(|d| {
                    d["status"]["availableReplicas"] == 2
                        && condition(&d, "Progressing")
                            .is_some_and(|c| c["reason"] == "NewReplicaSetAvailable")
                })
        })
        .await;
    assert!(
        ready,
        "deployment never became available: {:#}",
        server
            .object("apps/v1", "Deployment", "default", "web")
            .unwrap()
    );
    let d = api.get("web").await.unwrap();
    let st = d.status.unwrap();
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(
        (
            st.replicas,
            st.updated_replicas,
            st.ready_replicas,
            st.available_replicas
        ),
        (Some(2), Some(2), Some(2), Some(2))
    );
    let avail = st
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Available")
        .unwrap();
    assert_eq!(
        (avail.status.as_str(), avail.reason.as_deref()),
        ("True", Some("MinimumReplicasAvailable"))
    );

    let rss = server.objects("apps/v1", "ReplicaSet");
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(rs["metadata"]["name"], format!("web-{hash}"));
    assert_eq!(
        rs["metadata"]["ownerReferences"][0]["uid"],
        json!(d.metadata.uid)
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let list = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 2);
    for p in &list.items {
        assert_eq!(p.labels()["pod-template-hash"], hash);
        assert_eq!(
            p.owner_references()[0].uid,
            rs["metadata"]["uid"].as_str().unwrap()
        );
        let s = p.status.as_ref().unwrap();
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert!(s
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"));
        assert_eq!(
            p.spec.as_ref().unwrap().node_name.as_deref(),
            Some("fake-node")
        );
    }
}

#[tokio::test]
async fn template_change_makes_a_new_replicaset_and_old_pods_go_after_new_are_ready() {
    let server = FakeApiServer::start();
    let client = server.client();
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pp = PatchParams::apply("kubectl-justpush");
    api.patch(
        "web",
        &pp,
        &Patch::Apply(&dep("default", "web", "web:1", 2)),
    )
    .await
    .unwrap();
    assert!(
        server
            .wait_until_async(WAIT, |s| s
                .pods_of("default", "web")
                .iter()
                .filter(|p| condition(p, "Ready").is_some_and(|c| c["status"] == "True"))
                .count()
                == 2)
            .await
    );
    let old_pods: Vec<String> = server
        .pods_of("default", "web")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();

    // A new image that never becomes ready: old pods must stay (maxUnavailable 0 behaviour).
    server.scenario(|s| {
        s.fail_image("web:2", Failure::NeverReady);
    });
    api.patch(
        "web",
        &pp,
        &Patch::Apply(&dep("default", "web", "web:2", 2)),
    )
    .await
    .unwrap();
    assert!(
        server
            .wait_until_async(WAIT, |s| s.objects("apps/v1", "ReplicaSet").len() == 2
                && s.pods_of("default", "web").len() == 4)
            .await
    );
    let d = server
        .object("apps/v1", "Deployment", "default", "web")
        .unwrap();
    assert_eq!(d["metadata"]["generation"], 2);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    for n in &old_pods {
        assert!(
            server.object("v1", "Pod", "default", n).is_some(),
            "old pod {n} kept while the new ones are not ready"
        );
    }
    // Now the new version works: rolling to web:3 replaces everything.
    api.patch(
        "web",
        &pp,
        &Patch::Apply(&dep("default", "web", "web:3", 2)),
    )
    .await
    .unwrap();
    let done = server
        .wait_until_async(WAIT, |s| {
            let pods = s.pods_of("default", "web");
            pods.len() == 2
                && pods.iter().all(|p| {
                    p["spec"]["containers"][0]["image"] == "web:3"
                        && condition(p, "Ready").is_some_and(|c| c["status"] == "True")
                })
        })
        .await;
    assert!(done, "pods: {:#?}", server.pods_of("default", "web"));
    let d = server
        .object("apps/v1", "Deployment", "default", "web")
        .unwrap();
    assert_eq!(d["status"]["updatedReplicas"], 2);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    let zeroed = server
        .objects("apps/v1", "ReplicaSet")
        .iter()
        .filter(|r| r["spec"]["replicas"] == 0)
        .count();
    assert_eq!(zeroed, 2, "old ReplicaSets are kept scaled to zero");
}

#[tokio::test]
async fn watcher_sees_rollout_and_survives_a_dropped_watch() {
    let server = FakeApiServer::start();
    let client = server.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // The first pods watch ends after 1 event: the watcher must re-watch and still see everything.
    server.drop_watches_after("pods", 1, Some(1));
    let mut stream = watcher(pods.clone(), watcher::Config::default().labels("app=web")).boxed();
    // The initial list is done before anything exists.
    loop {
        match tokio::time::timeout(WAIT, stream.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(watcher::Event::InitDone) => break,
            Some(_) => {}
            None => panic!("watch stream ended"),
        }
    }
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.patch(
        "web",
        &PatchParams::apply("t"),
        &Patch::Apply(&dep("default", "web", "web:1", 1)),
    )
    .await
    .unwrap();
    let mut phases = vec![];
    tokio::time::timeout(WAIT, async {
        while let Some(ev) = stream.try_next().await.unwrap() {
            if let watcher::Event::Apply(p) | watcher::Event::InitApply(p) = ev {
                let s = p.status.clone().unwrap_or_default();
                let ready = s
                    .conditions
                    .as_ref()
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                phases.push((s.phase.unwrap_or_default(), ready));
                if ready {
                    return;
                }
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(phases.last(), Some(&("Running".to_string(), true)));
    let watches = server
        .requests()
        .into_iter()
        .filter(|r| r.verb == Some(Verb::Watch) && r.resource == "pods")
        .count();
    assert!(
        watches >= 2,
        "the dropped watch was re-established ({watches} watches)"
    );
}

#[tokio::test]
async fn raw_watch_replays_from_resource_version_and_expires_after_compaction() {
    let server = FakeApiServer::start();
    let client = server.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let a = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap(),
        )
        .await
        .unwrap();
    let rv = a.resource_version().unwrap();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let mut s = cms
        .watch(&WatchParams::default().timeout(2), &rv)
        .await
        .unwrap()
        .boxed();
    let mut kinds = vec![];
    while let Some(ev) = s.try_next().await.unwrap() {
        match ev {
            WatchEvent::Modified(c) => kinds.push(format!("MODIFIED {}", c.data.unwrap()["k"])),
            WatchEvent::Deleted(_) => {
                kinds.push("DELETED".to_string());
                break;
            }
            other => kinds.push(format!("{other:?}")),
        }
    }
    assert_eq!(kinds, ["MODIFIED v", "DELETED"]);

    server.compact();
    let mut s = cms
        .watch(&WatchParams::default().timeout(2), &rv)
        .await
        .unwrap()
        .boxed();
    match s.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

#[tokio::test]
async fn delete_cascades_through_owner_references() {
    let server = FakeApiServer::start();
    let client = server.client();
    create_ns(&client, "shop").await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    api.patch(
        "web",
        &PatchParams::apply("t"),
        &Patch::Apply(&dep("shop", "web", "web:1", 2)),
    )
    .await
    .unwrap();
    assert!(
        server
            .wait_until_async(WAIT, |s| s.pods_of("shop", "web").len() == 2)
            .await
    );

    // Orphan keeps the ReplicaSet (without owner), Background removes the chain.
    api.delete("web", &DeleteParams::orphan()).await.unwrap();
    let rss = server.objects_in("apps/v1", "ReplicaSet", "shop");
    assert_eq!(rss.len(), 1);
    assert!(rss[0]["metadata"].get("ownerReferences").is_none());
    server.remove(
        "apps/v1",
        "ReplicaSet",
        "shop",
        rss[0]["metadata"]["name"].as_str().unwrap(),
    );
    assert!(
        server.objects_in("v1", "Pod", "shop").is_empty(),
        "pods go with their ReplicaSet"
    );

    api.patch(
        "web",
        &PatchParams::apply("t"),
        &Patch::Apply(&dep("shop", "web", "web:1", 2)),
    )
    .await
    .unwrap();
    assert!(
        server
            .wait_until_async(WAIT, |s| s.pods_of("shop", "web").len() == 2)
            .await
    );
    let res = api
        .delete("web", &DeleteParams::foreground())
        .await
        .unwrap();
    assert!(
        res.is_left(),
        "foreground delete answers with the object being deleted"
    );
    assert!(server
        .objects_in("apps/v1", "ReplicaSet", "shop")
        .is_empty());
    assert!(server.objects_in("v1", "Pod", "shop").is_empty());
    assert!(server
        .object("apps/v1", "Deployment", "shop", "web")
        .is_none());

    // Deleting the namespace removes what is in it.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap(),
    )
    .await
    .unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.delete("shop", &DeleteParams::default()).await.unwrap();
    assert!(server.contents_of("shop").is_empty());
    assert!(nss.get_opt("shop").await.unwrap().is_none());
}

#[tokio::test]
async fn error_injection_answers_chosen_requests() {
    let server = FakeApiServer::start();
    let client = server.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    server.inject(
        Fault::on(&[Verb::Apply], FaultAnswer::Conflict)
            .resource("configmaps")
            .name("x")
            .times(1),
    );
    server.inject(
        Fault::on(
            &[Verb::Get],
            FaultAnswer::Internal("etcdserver: request timed out".into()),
        )
        .resource("ConfigMap")
        .times(1),
    );
    server.inject(Fault::on(&[Verb::List], FaultAnswer::TooManyRequests(1)).times(1));
    server.inject(
        Fault::on(&[Verb::Create], FaultAnswer::Forbidden(None))
            .namespace("default")
            .resource("secrets"),
    );
    server.inject(
        Fault::on(
            &[Verb::Apply],
            FaultAnswer::Invalid(vec![(
                "spec.replicas".into(),
                "Invalid value: -1: must be greater than or equal to 0".into(),
            )]),
        )
        .name("bad"),
    );
    let pp = PatchParams::apply("kubectl-justpush");
    let (code, reason, _) = api_status(cms.patch("x", &pp, &Patch::Apply(&cm)).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    cms.patch("x", &pp, &Patch::Apply(&cm)).await.unwrap(); // only once
    let (code, reason, msg) = api_status(cms.get("x").await.unwrap_err());
    assert_eq!(
        (code, reason.as_str(), msg.as_str()),
        (
            500,
            "InternalError",
            "Internal error occurred: etcdserver: request timed out"
        )
    );
    cms.get("x").await.unwrap();
    // kube-rs retries 429 itself (its default retry policy), so the list succeeds on the retry.
    assert_eq!(
        cms.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    assert!(server
        .requests()
        .iter()
        .any(|r| r.verb == Some(Verb::List) && r.code == 429));
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), "default");
    let (code, _, msg) = api_status(
        secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "s"}})).unwrap(),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 403);
    assert!(msg.contains("cannot create resource \"secrets\""), "{msg}");
    let bad = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}});
    match cms
        .patch("bad", &pp, &Patch::Apply(&bad))
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422);
            let causes = s.details.as_ref().unwrap().causes.clone();
            assert_eq!(causes[0].field, "spec.replicas");
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(server.faults_fired(), vec![1, 1, 1, 1, 1]);
}

#[tokio::test]
async fn kong_admission_rejection_names_the_webhook() {
    let server = FakeApiServer::start();
    let client = server.client();
    server.reject_kind(
        "KongPlugin",
        "validations.kong.konghq.com",
        400,
        "plugin failed schema validation: config.minute: expected a number",
    );
    let d = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, _) = d
        .get("configuration.konghq.com")
        .unwrap()
        .recommended_kind("KongPlugin")
        .unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let obj: DynamicObject = serde_json::from_value(json!({"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin", "metadata": {"name": "rl"}, "plugin": "rate-limiting", "config": {"minute": "x"}})).unwrap();
    let (code, _, msg) = api_status(
        api.patch(
            "rl",
            &PatchParams::apply("kubectl-justpush"),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert_eq!(msg, "admission webhook \"validations.kong.konghq.com\" denied the request: plugin failed schema validation: config.minute: expected a number");
    assert!(server
        .objects("configuration.konghq.com/v1", "KongPlugin")
        .is_empty());
}

#[test]
fn kubeconfig_file_is_accepted_by_kube_rs() {
    let server = FakeApiServer::start();
    let file = server.kubeconfig_file();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(file.path()).unwrap();
        let cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .unwrap();
        assert_eq!(cfg.default_namespace, "default");
        let client = kube::Client::try_from(cfg).unwrap();
        let nss: Api<Namespace> = Api::all(client);
        let names: Vec<String> = nss
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|n| n.name_any())
            .collect();
        assert!(names.contains(&"default".to_string()));
    });
    let reqs = server.requests();
    assert_eq!(
        reqs.last().unwrap().authorization.as_deref(),
        Some("Bearer"),
        "the token from the kubeconfig was sent"
    );
}

#[test]
fn stop_closes_the_port() {
    let mut server = FakeApiServer::start();
    let addr = format!("127.0.0.1:{}", server.port());
    assert!(std::net::TcpStream::connect(&addr).is_ok());
    server.stop();
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

#[allow(dead_code)]
fn _value(_: Value) {}
