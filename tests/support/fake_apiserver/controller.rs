//! The scenario controller: plays the controller manager (Deployment, ReplicaSet, StatefulSet,
//! Job, HPA, PVC binder, quota status), the scheduler and the kubelet (pod phases, container
//! states, restarts, logs, events). It runs on every change (and on its own timers for delays
//! and crash back-offs) until nothing more changes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::errors::{self, ApiError};
use super::quota;
use super::resources::ResourceType;
use super::scenario::Failure;
use super::store::{fnv, now_rfc3339, random_suffix, safe_encode, Store, Writer};
use super::{LogLine, Shared, State};

const KCM: &str = "kube-controller-manager";
const KUBELET: &str = "kubelet";

/// What the kubelet remembers about a pod.
#[derive(Clone, Debug)]
struct PodRt {
    stage: u32,
    next_at: Option<Instant>,
    ready_at: Option<Instant>,
    restarts: u32,
}

/// Controller memory that is not in the objects.
#[derive(Default)]
pub struct Runtime {
    pods: HashMap<String, PodRt>,
    rollout_started: HashMap<(String, String), Instant>,
    terminating_since: HashMap<String, Instant>,
    counter: u64,
    events: HashMap<(String, String), String>,
    pod_ip: u32,
    /// The name a ReplicaSet's refused pod had: retries reuse it, so a persistent refusal
    /// rewrites nothing (a fresh name per attempt changed the condition each reconcile).
    refused_pod: HashMap<String, String>,
    /// After a refused pod creation, the owner retries at this time (doubling back-off, as the
    /// controllers' work queues do), so a persistent refusal does not spin the controller.
    create_backoff: HashMap<String, (Instant, Duration)>,
}

/// The controller loop (a task on the server's runtime).
pub async fn run(shared: Arc<Shared>) {
    let mut rx = shared.changed.subscribe();
    loop {
        let (next, changed, seen) = {
            let mut st = shared.state.lock().unwrap();
            let before = st.store.rv;
            let next = if st.scenario.paused {
                None
            } else {
                reconcile(&mut st)
            };
            (next, st.store.rv != before, st.store.rv)
        };
        if changed {
            shared.notify();
        }
        let sleep = async {
            match next {
                Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                None => futures::future::pending().await,
            }
        };
        tokio::pin!(sleep);
        // Wake for a change we have not reconciled yet (our own notifications carry `seen`), a
        // scenario change (sent with rv 0 by the test side, so always > nothing) or a timer.
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(rv) if rv <= seen && rv != 0 => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    _ => break,
                },
                _ = &mut sleep => break,
            }
        }
    }
}

fn rtype(st: &State, group: &str, plural: &str) -> ResourceType {
    st.store.type_for(group, plural).unwrap()
}

fn earliest(a: &mut Option<Instant>, b: Option<Instant>) {
    if let Some(b) = b {
        *a = Some(a.map_or(b, |a| a.min(b)));
    }
}

/// Runs every controller until a fixed point; returns when it next has to act on its own.
pub fn reconcile(st: &mut State) -> Option<Instant> {
    let mut next = None;
    for _ in 0..50 {
        let before = st.store.rv;
        next = None;
        earliest(&mut next, deployments(st));
        earliest(&mut next, replicasets(st));
        earliest(&mut next, statefulsets(st));
        earliest(&mut next, jobs(st));
        earliest(&mut next, pods(st));
        pvcs(st);
        endpoints(st);
        crds(st);
        pdbs(st);
        if st.scenario.external_secrets_controller {
            external_secrets(st);
        }
        hpas(st);
        quotas(st);
        earliest(&mut next, terminations(st));
        if st.store.rv == before {
            break;
        }
    }
    let live: HashSet<String> = st
        .store
        .objects
        .values()
        .filter_map(|o| o["metadata"]["uid"].as_str().map(String::from))
        .collect();
    st.runtime.pods.retain(|uid, _| live.contains(uid));
    next
}

fn uid(o: &Value) -> String {
    o["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
fn name(o: &Value) -> String {
    o["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
fn ns(o: &Value) -> String {
    o["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
fn deleting(o: &Value) -> bool {
    !o["metadata"]["deletionTimestamp"].is_null()
}

fn owned_by<'a>(objs: &'a [Value], owner: &str) -> Vec<&'a Value> {
    objs.iter()
        .filter(|o| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|r| {
                    r.iter()
                        .any(|x| x["uid"] == owner && x["controller"] == true)
                })
        })
        .collect()
}

fn owner_ref(api_version: &str, kind: &str, o: &Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name(o), "uid": uid(o), "controller": true, "blockOwnerDeletion": true})
}

/// Sorts keys recursively so equal templates hash equally whatever their field order.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn template_hash(t: &Value) -> String {
    safe_encode(fnv(canonical(t).to_string().as_bytes()), 10)
}

/// Sets a condition, keeping lastTransitionTime when the status did not change.
fn set_condition(
    conds: &mut Vec<Value>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    with_update_time: bool,
) {
    let now = now_rfc3339();
    match conds.iter_mut().find(|c| c["type"] == type_) {
        Some(c) => {
            let transition = c["status"] != status;
            let changed = transition || c["reason"] != reason || c["message"] != message;
            if transition {
                c["lastTransitionTime"] = json!(now);
            }
            if changed && with_update_time {
                c["lastUpdateTime"] = json!(now);
            }
            c["status"] = json!(status);
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
        None => {
            let mut c = json!({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": now});
            if with_update_time {
                c["lastUpdateTime"] = json!(now);
            }
            conds.push(c);
        }
    }
}

fn conditions_of(o: &Value) -> Vec<Value> {
    o["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn write_status(st: &mut State, rt: &ResourceType, obj: &Value, status: Value) {
    if obj["status"] == status {
        return;
    }
    let mut o = obj.clone();
    o["status"] = status;
    st.store.controller_write(rt, o, true, KCM);
}

/// Emits (or counts again) an Event about `obj`.
pub fn event(
    st: &mut State,
    obj: &Value,
    kind: &str,
    type_: &str,
    reason: &str,
    message: &str,
    component: &str,
) {
    let evrt = rtype(st, "", "events");
    // Pod-creation failures name a fresh random pod each attempt: aggregate them by reason, as
    // the API server's event aggregator does for similar events.
    let key = if reason == "FailedCreate" {
        (uid(obj), format!("{reason}/{type_}"))
    } else {
        (uid(obj), format!("{reason}/{message}"))
    };
    let namespace = if ns(obj).is_empty() {
        "default".to_string()
    } else {
        ns(obj)
    };
    let now = now_rfc3339();
    if let Some(evname) = st.runtime.events.get(&key).cloned() {
        if let Some(mut ev) = st.store.get(&evrt, &namespace, &evname).cloned() {
            // Like the kubelet's and controllers' event aggregation: repeating the same event
            // within the same second writes nothing (otherwise every reconcile of a failing
            // object writes, which wakes the controller again: a hot loop).
            if ev["lastTimestamp"] == json!(now) {
                return;
            }
            ev["count"] = json!(ev["count"].as_i64().unwrap_or(1) + 1);
            ev["message"] = json!(message);
            ev["lastTimestamp"] = json!(now);
            st.store.controller_write(&evrt, ev, false, component);
            return;
        }
    }
    st.runtime.counter += 1;
    let evname = format!(
        "{}.{:x}",
        name(obj),
        fnv(format!("{}{}{}", uid(obj), reason, st.runtime.counter).as_bytes()) & 0xffff_ffff_ffff
    );
    let api_version = obj["apiVersion"].as_str().unwrap_or("v1").to_string();
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": evname, "namespace": namespace},
        "involvedObject": {"kind": kind, "namespace": ns(obj), "name": name(obj), "uid": uid(obj), "apiVersion": api_version},
        "reason": reason, "message": message, "type": type_, "count": 1,
        "source": {"component": component}, "reportingComponent": component,
        "firstTimestamp": now, "lastTimestamp": now,
    });
    if st
        .store
        .create(&evrt, &namespace, ev, &Writer::update(component))
        .is_ok()
    {
        st.runtime.events.insert(key, evname);
    }
}

fn int_or_percent(v: &Value, total: i64, round_up: bool) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) if s.ends_with('%') => {
            let p: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
            let x = p * total as f64 / 100.0;
            if round_up {
                x.ceil() as i64
            } else {
                x.floor() as i64
            }
        }
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn deployments(st: &mut State) -> Option<Instant> {
    let drt = rtype(st, "apps", "deployments");
    let rsrt = rtype(st, "apps", "replicasets");
    let mut next = None;
    for d in st.store.list(&drt, "") {
        if deleting(&d) {
            continue;
        }
        let (dns, dname, duid) = (ns(&d), name(&d), uid(&d));
        let template = d["spec"]["template"].clone();
        let hash = template_hash(&template);
        let rs_name = format!("{dname}-{hash}");
        let all_rs = st.store.list(&rsrt, &dns);
        let mine: Vec<Value> = owned_by(&all_rs, &duid).into_iter().cloned().collect();
        let max_rev = mine
            .iter()
            .filter_map(|r| {
                r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .and_then(|s| s.parse::<i64>().ok())
            })
            .max()
            .unwrap_or(0);
        let desired = d["spec"]["replicas"].as_i64().unwrap_or(1);
        let recreate = d["spec"]["strategy"]["type"] == "Recreate";
        let paused = d["spec"]["paused"] == true;
        let old: Vec<&Value> = mine.iter().filter(|r| name(r) != rs_name).collect();
        let old_pods: i64 = old
            .iter()
            .map(|r| r["status"]["replicas"].as_i64().unwrap_or(0))
            .sum();
        let mut new_rs = mine.iter().find(|r| name(r) == rs_name).cloned();
        let mut just_created = false;
        if new_rs.is_none() && !paused {
            let mut labels = template["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(hash);
            let mut tmpl = template.clone();
            tmpl["metadata"]["labels"] = labels.clone();
            let mut selector = d["spec"]["selector"].clone();
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let old_spec: i64 = old.iter().map(|r| spec_replicas(r)).sum();
            let replicas = if old_spec > 0 || (recreate && old_pods > 0) {
                0
            } else {
                desired
            };
            let rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": dns, "labels": labels,
                    "annotations": {"deployment.kubernetes.io/revision": (max_rev + 1).to_string(), "deployment.kubernetes.io/desired-replicas": desired.to_string()},
                    "ownerReferences": [owner_ref("apps/v1", "Deployment", &d)]},
                "spec": {"replicas": replicas, "selector": selector, "template": tmpl, "minReadySeconds": d["spec"]["minReadySeconds"].as_i64().unwrap_or(0)}
            });
            if let Ok(created) = st.store.create(&rsrt, &dns, rs, &Writer::update(KCM)) {
                event(
                    st,
                    &d,
                    "Deployment",
                    "Normal",
                    "ScalingReplicaSet",
                    &format!("Scaled up replica set {rs_name} from 0 to {replicas}"),
                    "deployment-controller",
                );
                new_rs = Some(created);
                just_created = true;
            }
        }
        let Some(mut nrs) = new_rs else { continue };
        let started = *st
            .runtime
            .rollout_started
            .entry((duid.clone(), hash.clone()))
            .or_insert_with(Instant::now);
        // A rollback re-uses an old ReplicaSet: it becomes the newest revision.
        let rev = nrs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        if rev < max_rev {
            let mut o = nrs.clone();
            o["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                json!((max_rev + 1).to_string());
            if let Some(w) = st.store.controller_write(&rsrt, o, false, KCM) {
                nrs = w;
            }
        }
        let new_rev = nrs["metadata"]["annotations"]["deployment.kubernetes.io/revision"].clone();
        if !paused {
            let rev_of = |r: &Value| {
                r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .and_then(|s| s.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            let mut olds: Vec<Value> = old.iter().map(|o| (*o).clone()).collect();
            olds.sort_by_key(rev_of);
            let new_target = if recreate {
                for o in olds.iter_mut() {
                    scale_rs(st, &rsrt, &d, o, 0);
                }
                if old_pods > 0 {
                    0
                } else {
                    desired
                }
            } else {
                rolling_targets(&d, &nrs, &olds, desired)
            };
            if spec_replicas(&nrs) != new_target
                || nrs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"]
                    != desired.to_string().as_str()
            {
                let mut o = nrs.clone();
                o["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                    json!(desired.to_string());
                if let Some(w) = st.store.controller_write(&rsrt, o, false, KCM) {
                    nrs = w;
                }
                scale_rs(st, &rsrt, &d, &mut nrs, new_target);
            }
            if !recreate {
                scale_down_old(st, &rsrt, &d, &nrs, &mut olds, desired);
            }
        }
        // Deployment status from its ReplicaSets as they are now.
        let all_rs = st.store.list(&rsrt, &dns);
        let mine: Vec<Value> = owned_by(&all_rs, &duid).into_iter().cloned().collect();
        let sum = |f: &str| {
            mine.iter()
                .map(|r| r["status"][f].as_i64().unwrap_or(0))
                .sum::<i64>()
        };
        let replicas = sum("replicas");
        let ready = sum("readyReplicas");
        let available = sum("availableReplicas");
        let nrs = mine
            .iter()
            .find(|r| name(r) == rs_name)
            .cloned()
            .unwrap_or(nrs);
        let updated = nrs["status"]["replicas"].as_i64().unwrap_or(0);
        let new_available = nrs["status"]["availableReplicas"].as_i64().unwrap_or(0);
        let max_unavailable = if recreate || desired == 0 {
            0
        } else {
            int_or_percent(
                &d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
                desired,
                false,
            )
        };
        let complete = updated == desired && replicas == desired && new_available == desired;
        let mut conds = conditions_of(&d);
        if available >= desired - max_unavailable {
            set_condition(
                &mut conds,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                true,
            );
        } else {
            set_condition(
                &mut conds,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                true,
            );
        }
        let deadline_hit = st
            .scenario
            .progress_deadline
            .is_some_and(|pd| started.elapsed() >= pd);
        let was_exceeded = conds.iter().any(|c| {
            c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded" && !just_created
        });
        if complete {
            set_condition(
                &mut conds,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                true,
            );
        } else if (deadline_hit || was_exceeded) && !paused {
            set_condition(
                &mut conds,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
                true,
            );
        } else if just_created {
            set_condition(
                &mut conds,
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                &format!("Created new replica set \"{rs_name}\""),
                true,
            );
        } else {
            set_condition(
                &mut conds,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                &format!("ReplicaSet \"{rs_name}\" is progressing."),
                true,
            );
            if let Some(pd) = st.scenario.progress_deadline {
                earliest(&mut next, Some(started + pd));
            }
        }
        match conditions_of(&nrs)
            .into_iter()
            .find(|c| c["type"] == "ReplicaFailure" && c["status"] == "True")
        {
            Some(f) => set_condition(
                &mut conds,
                "ReplicaFailure",
                "True",
                f["reason"].as_str().unwrap_or("FailedCreate"),
                f["message"].as_str().unwrap_or_default(),
                true,
            ),
            None => conds.retain(|c| c["type"] != "ReplicaFailure"),
        }
        let mut status = json!({
            "observedGeneration": d["metadata"]["generation"], "replicas": replicas, "updatedReplicas": updated,
            "readyReplicas": ready, "availableReplicas": available, "conditions": conds,
        });
        if desired - available > 0 {
            status["unavailableReplicas"] = json!(desired - available);
        }
        for f in [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
        ] {
            if status[f] == 0 {
                status.as_object_mut().unwrap().remove(f);
            }
        }
        // The revision annotation lives in the Deployment's metadata.
        let mut d2 = d.clone();
        if d2["metadata"]["annotations"]["deployment.kubernetes.io/revision"] != new_rev {
            d2["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = new_rev;
            if let Some(w) = st.store.controller_write(&drt, d2.clone(), false, KCM) {
                d2 = w;
            }
        }
        write_status(st, &drt, &d2, status);
    }
    next
}

fn spec_replicas(r: &Value) -> i64 {
    r["spec"]["replicas"].as_i64().unwrap_or(0)
}

fn available(r: &Value) -> i64 {
    r["status"]["availableReplicas"].as_i64().unwrap_or(0)
}

/// Sets a ReplicaSet's replicas (and says so in an event, as the deployment controller does).
fn scale_rs(st: &mut State, rsrt: &ResourceType, d: &Value, rs: &mut Value, to: i64) {
    let from = spec_replicas(rs);
    if from == to {
        return;
    }
    let mut x = rs.clone();
    x["spec"]["replicas"] = json!(to);
    if let Some(w) = st.store.controller_write(rsrt, x, false, KCM) {
        *rs = w;
    }
    let verb = if to > from { "up" } else { "down" };
    event(
        st,
        d,
        "Deployment",
        "Normal",
        "ScalingReplicaSet",
        &format!("Scaled {verb} replica set {} from {from} to {to}", name(rs)),
        "deployment-controller",
    );
}

/// maxSurge and maxUnavailable resolved against the desired count (Kubernetes rounds surge up
/// and unavailability down, and forbids both being zero).
fn surge_and_unavailable(d: &Value, desired: i64) -> (i64, i64) {
    let ru = &d["spec"]["strategy"]["rollingUpdate"];
    let pct = json!("25%");
    let surge_v = if ru["maxSurge"].is_null() {
        &pct
    } else {
        &ru["maxSurge"]
    };
    let unav_v = if ru["maxUnavailable"].is_null() {
        &pct
    } else {
        &ru["maxUnavailable"]
    };
    let surge = int_or_percent(surge_v, desired, true);
    let mut unavailable = int_or_percent(unav_v, desired, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// The new ReplicaSet's size under RollingUpdate: grow up to desired + maxSurge pods in total.
fn rolling_targets(d: &Value, nrs: &Value, olds: &[Value], desired: i64) -> i64 {
    let old_spec: i64 = olds.iter().map(spec_replicas).sum();
    let new_spec = spec_replicas(nrs);
    if old_spec == 0 || new_spec > desired {
        return desired;
    }
    let (surge, _) = surge_and_unavailable(d, desired);
    let max_total = desired + surge;
    let current = old_spec + new_spec;
    if current >= max_total {
        new_spec
    } else {
        new_spec + (max_total - current).min(desired - new_spec)
    }
}

/// Old ReplicaSets shrink while at least desired - maxUnavailable pods stay available:
/// unhealthy old pods first, then healthy ones as new pods become available.
fn scale_down_old(
    st: &mut State,
    rsrt: &ResourceType,
    d: &Value,
    nrs: &Value,
    olds: &mut [Value],
    desired: i64,
) {
    let (_, max_unavailable) = surge_and_unavailable(d, desired);
    let all_pods: i64 = olds.iter().map(spec_replicas).sum::<i64>() + spec_replicas(nrs);
    let min_available = desired - max_unavailable;
    let new_unavailable = (spec_replicas(nrs) - available(nrs)).max(0);
    let mut max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return;
    }
    for o in olds.iter_mut() {
        if max_scaled_down <= 0 {
            break;
        }
        let unhealthy = spec_replicas(o) - available(o);
        if unhealthy <= 0 {
            continue;
        }
        let down = unhealthy.min(max_scaled_down);
        let to = spec_replicas(o) - down;
        scale_rs(st, rsrt, d, o, to);
        max_scaled_down -= down;
    }
    let available_all: i64 = olds.iter().map(available).sum::<i64>() + available(nrs);
    let mut total_down = (available_all - min_available).min(max_scaled_down);
    for o in olds.iter_mut() {
        if total_down <= 0 {
            break;
        }
        let down = spec_replicas(o).min(total_down);
        if down == 0 {
            continue;
        }
        let to = spec_replicas(o) - down;
        scale_rs(st, rsrt, d, o, to);
        total_down -= down;
    }
}

fn images_of(template_spec: &Value) -> Vec<String> {
    template_spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["image"].as_str().map(String::from))
        .collect()
}

/// Names of the workloads a pod (or pod template) belongs to, through ReplicaSets.
fn owner_names(st: &State, namespace: &str, refs: &Value) -> Vec<String> {
    let mut out = vec![];
    for r in refs.as_array().into_iter().flatten() {
        out.push(r["name"].as_str().unwrap_or_default().to_string());
        if r["kind"] == "ReplicaSet" {
            let rsrt = rtype(st, "apps", "replicasets");
            if let Some(rs) = st
                .store
                .get(&rsrt, namespace, r["name"].as_str().unwrap_or_default())
            {
                for o in rs["metadata"]["ownerReferences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    out.push(o["name"].as_str().unwrap_or_default().to_string());
                }
            }
        }
    }
    out
}

/// UIDs that own pods for the workload `name`: itself and its ReplicaSets.
pub fn owner_uids_for(store: &Store, namespace: &str, workload: &str) -> Vec<String> {
    let mut out = vec![];
    for (g, p) in [
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("batch", "jobs"),
        ("apps", "replicasets"),
    ] {
        let rt = store.type_for(g, p).unwrap();
        if let Some(o) = store.get(&rt, namespace, workload) {
            out.push(uid(o));
        }
    }
    let rsrt = store.type_for("apps", "replicasets").unwrap();
    for rs in store.list(&rsrt, namespace) {
        if rs["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| out.iter().any(|u| x["uid"] == u.as_str())))
        {
            out.push(uid(&rs));
        }
    }
    out
}

/// The failure planned for pods of this template (quota rules apply at pod creation).
fn template_failure(
    st: &State,
    namespace: &str,
    template: &Value,
    owner_refs: &Value,
    extra_owner: &str,
) -> Option<Failure> {
    let mut owners = owner_names(st, namespace, owner_refs);
    owners.push(extra_owner.to_string());
    st.scenario.failure_for(
        &images_of(&template["spec"]),
        &template["metadata"]["labels"],
        namespace,
        &owners,
    )
}

/// Creates a pod from a template, as a controller does: a scenario quota failure or the real
/// quota/LimitRange admission can refuse it.
fn create_pod(
    st: &mut State,
    namespace: &str,
    pod: Value,
    planned: &Option<Failure>,
) -> Result<Value, ApiError> {
    let prt = rtype(st, "", "pods");
    if let Some(Failure::QuotaExceeded(msg)) = planned {
        return Err(errors::forbidden(
            &prt,
            &name(&pod),
            "create",
            namespace,
            Some(&format!("exceeded quota: {msg}")),
        ));
    }
    st.store.create(&prt, namespace, pod, &Writer::update(KCM))
}

fn pod_from_template(
    template: &Value,
    pod_name: &str,
    namespace: &str,
    owner: Value,
    extra_labels: &[(&str, String)],
) -> Value {
    let mut labels = template["metadata"]["labels"].clone();
    if labels.is_null() {
        labels = json!({});
    }
    for (k, v) in extra_labels {
        labels[*k] = json!(v);
    }
    let mut md = json!({"name": pod_name, "namespace": namespace, "labels": labels, "ownerReferences": [owner]});
    if !template["metadata"]["annotations"].is_null() {
        md["annotations"] = template["metadata"]["annotations"].clone();
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": template["spec"].clone()})
}

fn pod_ready(p: &Value) -> bool {
    conditions_of(p)
        .iter()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Whether pod creation for `owner` may be tried now (false while backing off after a refusal).
fn may_create(st: &State, owner: &str, next: &mut Option<Instant>) -> bool {
    match st.runtime.create_backoff.get(owner) {
        Some((at, _)) if *at > Instant::now() => {
            earliest(next, Some(*at));
            false
        }
        _ => true,
    }
}

fn creation_refused(st: &mut State, owner: &str, next: &mut Option<Instant>) {
    let delay = st
        .runtime
        .create_backoff
        .get(owner)
        .map(|(_, d)| (*d * 2).min(Duration::from_secs(5)))
        .unwrap_or(Duration::from_millis(100));
    let at = Instant::now() + delay;
    st.runtime
        .create_backoff
        .insert(owner.to_string(), (at, delay));
    earliest(next, Some(at));
}

fn replicasets(st: &mut State) -> Option<Instant> {
    let mut next = None;
    let rsrt = rtype(st, "apps", "replicasets");
    let prt = rtype(st, "", "pods");
    for rs in st.store.list(&rsrt, "") {
        if deleting(&rs) {
            continue;
        }
        let (rns, rname, ruid) = (ns(&rs), name(&rs), uid(&rs));
        let desired = rs["spec"]["replicas"].as_i64().unwrap_or(1);
        let all_pods = st.store.list(&prt, &rns);
        let pods: Vec<Value> = owned_by(&all_pods, &ruid)
            .into_iter()
            .filter(|p| !deleting(p))
            .cloned()
            .collect();
        let mut conds = conditions_of(&rs);
        let template = rs["spec"]["template"].clone();
        let planned = template_failure(
            st,
            &rns,
            &template,
            &rs["metadata"]["ownerReferences"],
            &rname,
        );
        if (pods.len() as i64) < desired && !may_create(st, &ruid, &mut next) {
            // Backing off after a refusal: the ReplicaFailure condition stays as it is.
        } else if (pods.len() as i64) < desired {
            let mut failed = None;
            for _ in 0..(desired - pods.len() as i64) {
                let pname = match st.runtime.refused_pod.get(&ruid) {
                    Some(n) => n.clone(),
                    None => {
                        st.runtime.counter += 1;
                        format!(
                            "{rname}-{}",
                            random_suffix(&format!("{ruid}{}", st.runtime.counter))
                        )
                    }
                };
                let pod = pod_from_template(
                    &template,
                    &pname,
                    &rns,
                    owner_ref("apps/v1", "ReplicaSet", &rs),
                    &[],
                );
                match create_pod(st, &rns, pod, &planned) {
                    Ok(_) => {
                        st.runtime.refused_pod.remove(&ruid);
                        st.runtime.create_backoff.remove(&ruid);
                    }
                    Err(e) => {
                        st.runtime.refused_pod.insert(ruid.clone(), pname);
                        creation_refused(st, &ruid, &mut next);
                        failed = Some(e.message().to_string());
                        break;
                    }
                }
            }
            match failed {
                Some(m) => {
                    set_condition(
                        &mut conds,
                        "ReplicaFailure",
                        "True",
                        "FailedCreate",
                        &m,
                        false,
                    );
                    event(
                        st,
                        &rs,
                        "ReplicaSet",
                        "Warning",
                        "FailedCreate",
                        &format!("Error creating: {m}"),
                        "replicaset-controller",
                    );
                }
                None => conds.retain(|c| c["type"] != "ReplicaFailure"),
            }
        } else if (pods.len() as i64) > desired {
            let mut victims = pods.clone();
            // Not-ready pods go first, then the newest.
            victims.sort_by_key(|p| {
                (
                    pod_ready(p),
                    std::cmp::Reverse(
                        p["metadata"]["creationTimestamp"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    ),
                )
            });
            for v in victims.iter().take(pods.len() - desired as usize) {
                let _ = st.store.delete(&prt, &rns, &name(v), None, None, None);
            }
            conds.retain(|c| c["type"] != "ReplicaFailure");
        } else {
            conds.retain(|c| c["type"] != "ReplicaFailure");
        }
        let all_pods = st.store.list(&prt, &rns);
        let pods: Vec<&Value> = owned_by(&all_pods, &ruid)
            .into_iter()
            .filter(|p| !deleting(p))
            .collect();
        let ready = pods.iter().filter(|p| pod_ready(p)).count() as i64;
        let mut status = json!({"replicas": pods.len(), "fullyLabeledReplicas": pods.len(), "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": rs["metadata"]["generation"]});
        if !conds.is_empty() {
            status["conditions"] = json!(conds);
        }
        for f in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] {
            if status[f] == 0 {
                status.as_object_mut().unwrap().remove(f);
            }
        }
        write_status(st, &rsrt, &rs, status);
    }
    next
}

fn statefulsets(st: &mut State) -> Option<Instant> {
    let mut next = None;
    let srt = rtype(st, "apps", "statefulsets");
    let prt = rtype(st, "", "pods");
    let pvcrt = rtype(st, "", "persistentvolumeclaims");
    for s in st.store.list(&srt, "") {
        if deleting(&s) {
            continue;
        }
        let (sns, sname, suid) = (ns(&s), name(&s), uid(&s));
        let desired = s["spec"]["replicas"].as_i64().unwrap_or(1);
        let template = s["spec"]["template"].clone();
        let revision = format!("{sname}-{}", template_hash(&template));
        let parallel = s["spec"]["podManagementPolicy"] == "Parallel";
        let planned = template_failure(st, &sns, &template, &Value::Null, &sname);
        let mut create_error = None;
        for i in 0..desired {
            let pname = format!("{sname}-{i}");
            if st.store.get(&prt, &sns, &pname).is_some() {
                continue;
            }
            if !parallel && i > 0 {
                let prev_ready = st
                    .store
                    .get(&prt, &sns, &format!("{sname}-{}", i - 1))
                    .is_some_and(pod_ready);
                if !prev_ready {
                    break;
                }
            }
            let mut tmpl = template.clone();
            for vct in s["spec"]["volumeClaimTemplates"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let claim = format!("{}-{pname}", name(&vct));
                if st.store.get(&pvcrt, &sns, &claim).is_none() {
                    let mut pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": claim, "namespace": sns, "labels": template["metadata"]["labels"]},
                        "spec": vct["spec"].clone()});
                    if pvc["metadata"]["labels"].is_null() {
                        pvc["metadata"].as_object_mut().unwrap().remove("labels");
                    }
                    let _ = st.store.create(&pvcrt, &sns, pvc, &Writer::update(KCM));
                }
                let vols = tmpl["spec"]
                    .as_object_mut()
                    .unwrap()
                    .entry("volumes")
                    .or_insert_with(|| json!([]));
                if let Some(a) = vols.as_array_mut() {
                    a.push(
                        json!({"name": name(&vct), "persistentVolumeClaim": {"claimName": claim}}),
                    );
                }
            }
            let mut pod = pod_from_template(
                &tmpl,
                &pname,
                &sns,
                owner_ref("apps/v1", "StatefulSet", &s),
                &[
                    ("controller-revision-hash", revision.clone()),
                    ("statefulset.kubernetes.io/pod-name", pname.clone()),
                    ("apps.kubernetes.io/pod-index", i.to_string()),
                ],
            );
            pod["spec"]["hostname"] = json!(pname);
            if let Some(svc) = s["spec"]["serviceName"].as_str() {
                pod["spec"]["subdomain"] = json!(svc);
            }
            if !may_create(st, &suid, &mut next) {
                break;
            }
            match create_pod(st, &sns, pod, &planned) {
                Ok(_) => {
                    st.runtime.create_backoff.remove(&suid);
                    event(
                        st,
                        &s,
                        "StatefulSet",
                        "Normal",
                        "SuccessfulCreate",
                        &format!("create Pod {pname} in StatefulSet {sname} successful"),
                        "statefulset-controller",
                    );
                }
                Err(e) => {
                    creation_refused(st, &suid, &mut next);
                    create_error = Some(e.message().to_string());
                    break;
                }
            }
            if !parallel {
                break;
            }
        }
        if let Some(m) = &create_error {
            event(
                st,
                &s,
                "StatefulSet",
                "Warning",
                "FailedCreate",
                &format!("create Pod {sname}-? in StatefulSet {sname} failed error: {m}"),
                "statefulset-controller",
            );
        }
        let all = st.store.list(&prt, &sns);
        let mut pods: Vec<Value> = owned_by(&all, &suid)
            .into_iter()
            .filter(|p| !deleting(p))
            .cloned()
            .collect();
        pods.sort_by_key(|p| {
            p["metadata"]["labels"]["apps.kubernetes.io/pod-index"]
                .as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0)
        });
        // Scale down from the highest ordinal.
        for p in pods.iter().rev() {
            let idx: i64 = p["metadata"]["labels"]["apps.kubernetes.io/pod-index"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if idx >= desired {
                let _ = st.store.delete(&prt, &sns, &name(p), None, None, None);
            }
        }
        pods.retain(|p| {
            p["metadata"]["labels"]["apps.kubernetes.io/pod-index"]
                .as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0)
                < desired
        });
        // Rolling update: replace the highest outdated pod once all are ready.
        let rolling = s["spec"]["updateStrategy"]["type"] != "OnDelete";
        let all_ready = pods.len() as i64 == desired && pods.iter().all(pod_ready);
        if rolling && all_ready {
            if let Some(p) = pods
                .iter()
                .rev()
                .find(|p| p["metadata"]["labels"]["controller-revision-hash"] != revision.as_str())
            {
                let _ = st.store.delete(&prt, &sns, &name(p), None, None, None);
            }
        }
        let ready = pods.iter().filter(|p| pod_ready(p)).count();
        let updated = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] == revision.as_str())
            .count();
        let prev_current = s["status"]["currentRevision"].as_str().map(String::from);
        let current_rev = if updated as i64 == desired && ready as i64 == desired {
            revision.clone()
        } else {
            prev_current.clone().unwrap_or_else(|| revision.clone())
        };
        let current = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] == current_rev.as_str())
            .count();
        let status = json!({
            "observedGeneration": s["metadata"]["generation"], "replicas": pods.len(), "readyReplicas": ready,
            "currentReplicas": current, "updatedReplicas": updated, "availableReplicas": ready,
            "currentRevision": current_rev, "updateRevision": revision, "collisionCount": 0,
        });
        write_status(st, &srt, &s, status);
    }
    next
}

fn jobs(st: &mut State) -> Option<Instant> {
    let mut next = None;
    let jrt = rtype(st, "batch", "jobs");
    let prt = rtype(st, "", "pods");
    for j in st.store.list(&jrt, "") {
        if deleting(&j) {
            continue;
        }
        let finished = conditions_of(&j)
            .iter()
            .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True");
        if finished || j["spec"]["suspend"] == true {
            continue;
        }
        let (jns, jname, juid) = (ns(&j), name(&j), uid(&j));
        let all = st.store.list(&prt, &jns);
        let pods: Vec<Value> = owned_by(&all, &juid).into_iter().cloned().collect();
        let phase = |p: &Value| {
            p["status"]["phase"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
        let failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i64;
        let active: Vec<&Value> = pods
            .iter()
            .filter(|p| phase(p) != "Succeeded" && phase(p) != "Failed" && !deleting(p))
            .collect();
        let completions = j["spec"]["completions"].as_i64().unwrap_or(1);
        let parallelism = j["spec"]["parallelism"].as_i64().unwrap_or(1);
        let backoff = j["spec"]["backoffLimit"].as_i64().unwrap_or(6);
        let mut conds = conditions_of(&j);
        let now = now_rfc3339();
        let mut status = j["status"].clone();
        if status.is_null() {
            status = json!({});
        }
        if status["startTime"].is_null() {
            status["startTime"] = json!(now);
        }
        let mut active_n = active.len() as i64;
        if succeeded >= completions {
            set_condition(
                &mut conds,
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                false,
            );
            set_condition(
                &mut conds,
                "Complete",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                false,
            );
            status["completionTime"] = json!(now);
            event(
                st,
                &j,
                "Job",
                "Normal",
                "Completed",
                "Job completed",
                "job-controller",
            );
        } else if failed > backoff {
            set_condition(
                &mut conds,
                "FailureTarget",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                false,
            );
            set_condition(
                &mut conds,
                "Failed",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                false,
            );
            for p in &active {
                let _ = st.store.delete(&prt, &jns, &name(p), None, None, None);
            }
            active_n = 0;
            event(
                st,
                &j,
                "Job",
                "Warning",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                "job-controller",
            );
        } else {
            let want = parallelism.min(completions - succeeded) - active.len() as i64;
            let template = j["spec"]["template"].clone();
            let planned = template_failure(st, &jns, &template, &Value::Null, &jname);
            for _ in 0..want.max(0) {
                st.runtime.counter += 1;
                let pname = format!(
                    "{jname}-{}",
                    random_suffix(&format!("{juid}{}", st.runtime.counter))
                );
                let pod = pod_from_template(
                    &template,
                    &pname,
                    &jns,
                    owner_ref("batch/v1", "Job", &j),
                    &[
                        ("batch.kubernetes.io/job-name", jname.clone()),
                        ("job-name", jname.clone()),
                        ("batch.kubernetes.io/controller-uid", juid.clone()),
                        ("controller-uid", juid.clone()),
                    ],
                );
                if !may_create(st, &juid, &mut next) {
                    break;
                }
                match create_pod(st, &jns, pod, &planned) {
                    Ok(_) => {
                        st.runtime.create_backoff.remove(&juid);
                        active_n += 1;
                        event(
                            st,
                            &j,
                            "Job",
                            "Normal",
                            "SuccessfulCreate",
                            &format!("Created pod: {pname}"),
                            "job-controller",
                        );
                    }
                    Err(e) => {
                        creation_refused(st, &juid, &mut next);
                        event(
                            st,
                            &j,
                            "Job",
                            "Warning",
                            "FailedCreate",
                            &format!("Error creating: {}", e.message()),
                            "job-controller",
                        );
                        break;
                    }
                }
            }
        }
        status["active"] = json!(active_n);
        status["succeeded"] = json!(succeeded);
        status["failed"] = json!(failed);
        status["ready"] = json!(active.iter().filter(|p| pod_ready(p)).count());
        status["terminating"] = json!(0);
        status["uncountedTerminatedPods"] = json!({});
        if !conds.is_empty() {
            status["conditions"] = json!(conds);
        }
        for f in ["active", "succeeded", "failed"] {
            if status[f] == 0 {
                status.as_object_mut().unwrap().remove(f);
            }
        }
        write_status(st, &jrt, &j, status);
    }
    next
}

fn default_crash_lines(failure: &Failure) -> Vec<String> {
    match failure {
        Failure::OomKilled => vec![
            "loading model into memory...".into(),
            "allocating buffers".into(),
        ],
        _ => vec![
            "starting application".into(),
            "Error: application exited with code 1".into(),
        ],
    }
}

fn container_status(
    c: &Value,
    ready: bool,
    restarts: u32,
    state: Value,
    last: Value,
    started: bool,
) -> Value {
    let image = c["image"].as_str().unwrap_or_default();
    let mut s = json!({
        "name": c["name"], "image": image, "imageID": "", "ready": ready, "started": started,
        "restartCount": restarts, "state": state, "lastState": last,
    });
    if started || restarts > 0 {
        s["imageID"] = json!(format!(
            "docker.io/library/{image}@sha256:{:064x}",
            fnv(image.as_bytes()) as u128
        ));
        s["containerID"] = json!(format!(
            "containerd://{:064x}",
            fnv(format!("{image}{restarts}").as_bytes()) as u128
        ));
    }
    s
}

/// Every container running, none ready yet: a pod whose probes have not passed (or that will
/// crash).
fn started_not_ready(status: &mut Value, p: &Value, containers: &[Value], ts: &str) {
    let cs: Vec<Value> = containers
        .iter()
        .map(|c| {
            container_status(
                c,
                false,
                0,
                json!({"running": {"startedAt": ts}}),
                json!({}),
                true,
            )
        })
        .collect();
    status["containerStatuses"] = json!(cs);
    status["phase"] = json!("Running");
    status["conditions"] = json!(pod_conditions(p, None, false, true));
}

fn pod_conditions(
    p: &Value,
    scheduled: Option<(&str, &str)>,
    ready: bool,
    started: bool,
) -> Vec<Value> {
    let mut conds = conditions_of(p);
    match scheduled {
        None => set_condition(&mut conds, "PodScheduled", "True", "", "", false),
        Some((reason, msg)) => {
            set_condition(&mut conds, "PodScheduled", "False", reason, msg, false);
            for c in conds.iter_mut() {
                if let Some(o) = c.as_object_mut() {
                    if o.get("status").and_then(|s| s.as_str()) == Some("True") {
                        o.remove("reason");
                        o.remove("message");
                    }
                }
            }
            return conds;
        }
    }
    set_condition(&mut conds, "Initialized", "True", "", "", false);
    if started {
        set_condition(
            &mut conds,
            "PodReadyToStartContainers",
            "True",
            "",
            "",
            false,
        );
    }
    if ready {
        set_condition(&mut conds, "ContainersReady", "True", "", "", false);
        set_condition(&mut conds, "Ready", "True", "", "", false);
    } else {
        set_condition(
            &mut conds,
            "ContainersReady",
            "False",
            "ContainersNotReady",
            "containers with unready status: [app]",
            false,
        );
        set_condition(
            &mut conds,
            "Ready",
            "False",
            "ContainersNotReady",
            "containers with unready status: [app]",
            false,
        );
    }
    for c in conds.iter_mut() {
        if let Some(o) = c.as_object_mut() {
            if o.get("reason").and_then(|s| s.as_str()) == Some("") {
                o.remove("reason");
                o.remove("message");
            }
        }
    }
    conds
}

fn append_logs(
    st: &mut State,
    namespace: &str,
    pod: &str,
    container: &str,
    run: u32,
    lines: &[String],
) {
    let e = st
        .logs
        .entry((namespace.into(), pod.into(), container.into()))
        .or_default();
    for l in lines {
        e.push(LogLine {
            time: time::OffsetDateTime::now_utc(),
            text: l.clone(),
            run,
        });
    }
}

/// The kubelet and scheduler: moves each pod through its phases.
fn pods(st: &mut State) -> Option<Instant> {
    let prt = rtype(st, "", "pods");
    let mut next = None;
    let now = Instant::now();
    for p in st.store.list(&prt, "") {
        if deleting(&p) {
            continue;
        }
        let phase = p["status"]["phase"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        let (pns, pname, puid) = (ns(&p), name(&p), uid(&p));
        let containers: Vec<Value> = p["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let owners = owner_names(st, &pns, &p["metadata"]["ownerReferences"]);
        let failure = st.scenario.failure_for(
            &images_of(&p["spec"]),
            &p["metadata"]["labels"],
            &pns,
            &owners,
        );
        // Which containers the failure hits: an image rule only its images; others all.
        let hit: Vec<bool> = containers
            .iter()
            .map(|c| {
                let img = c["image"].as_str().unwrap_or_default().to_string();
                st.scenario
                    .failure_for(&[img], &p["metadata"]["labels"], &pns, &owners)
                    .is_some()
            })
            .collect();
        let is_job = p["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|r| r.iter().any(|o| o["kind"] == "Job"))
            || p["spec"]["restartPolicy"] != "Always";
        let ready_delay = st.scenario.ready_delay
            + match &failure {
                Some(Failure::SlowReady(d)) => *d,
                _ => Duration::ZERO,
            };
        let crash_interval = st.scenario.crash_interval;
        let max_restarts = st.scenario.max_restarts;
        let job_duration = st.scenario.job_duration;
        let entry = st.runtime.pods.entry(puid.clone()).or_insert(PodRt {
            stage: 0,
            next_at: None,
            ready_at: None,
            restarts: 0,
        });
        if entry.next_at.is_some_and(|t| t > now) {
            earliest(&mut next, entry.next_at);
            continue;
        }
        let mut prt_state = entry.clone();
        let mut status = p["status"].clone();
        let start_time = status["startTime"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(now_rfc3339);
        st.runtime.pod_ip += 1;
        let ip = status["podIP"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("10.244.0.{}", st.runtime.pod_ip % 250 + 2));
        let mut spec_node = None;
        let mut events: Vec<(&str, &str, String, &str)> = vec![];
        let mut logs: Vec<(String, u32, Vec<String>)> = vec![];
        let ts = now_rfc3339();
        match &failure {
            Some(Failure::Unschedulable(msg)) => {
                if prt_state.stage == 0 {
                    status["conditions"] = json!(pod_conditions(
                        &p,
                        Some(("Unschedulable", msg)),
                        false,
                        false
                    ));
                    events.push((
                        "Warning",
                        "FailedScheduling",
                        msg.clone(),
                        "default-scheduler",
                    ));
                    prt_state.stage = 1;
                }
            }
            Some(Failure::ImagePull) => {
                spec_node = Some("fake-node");
                let img = containers
                    .iter()
                    .zip(&hit)
                    .find(|(_, h)| **h)
                    .map(|(c, _)| c["image"].as_str().unwrap_or_default().to_string())
                    .unwrap_or_default();
                let (reason, msg) = if prt_state.stage == 0 {
                    ("ErrImagePull", format!("rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/{img}\": failed to resolve reference \"docker.io/library/{img}\": docker.io/library/{img}: not found"))
                } else {
                    ("ImagePullBackOff", format!("Back-off pulling image \"{img}\": ErrImagePull: failed to pull and unpack image \"docker.io/library/{img}\""))
                };
                if prt_state.stage <= 1 {
                    let cs: Vec<Value> = containers
                        .iter()
                        .zip(&hit)
                        .map(|(c, h)| {
                            if *h {
                                container_status(
                                    c,
                                    false,
                                    0,
                                    json!({"waiting": {"reason": reason, "message": msg}}),
                                    json!({}),
                                    false,
                                )
                            } else {
                                container_status(
                                    c,
                                    true,
                                    0,
                                    json!({"running": {"startedAt": ts}}),
                                    json!({}),
                                    true,
                                )
                            }
                        })
                        .collect();
                    status["containerStatuses"] = json!(cs);
                    status["conditions"] = json!(pod_conditions(&p, None, false, true));
                    status["phase"] = json!("Pending");
                    if prt_state.stage == 0 {
                        events.push((
                            "Normal",
                            "Pulling",
                            format!("Pulling image \"{img}\""),
                            "kubelet",
                        ));
                        events.push((
                            "Warning",
                            "Failed",
                            format!("Failed to pull image \"{img}\": {msg}"),
                            "kubelet",
                        ));
                        events.push(("Warning", "Failed", "Error: ErrImagePull".into(), "kubelet"));
                        prt_state.next_at = Some(now + crash_interval);
                    } else {
                        events.push((
                            "Normal",
                            "BackOff",
                            format!("Back-off pulling image \"{img}\""),
                            "kubelet",
                        ));
                        events.push((
                            "Warning",
                            "Failed",
                            "Error: ImagePullBackOff".into(),
                            "kubelet",
                        ));
                        prt_state.next_at = None;
                    }
                    prt_state.stage += 1;
                }
            }
            Some(f @ (Failure::CrashLoop | Failure::OomKilled | Failure::JobFails)) => {
                spec_node = Some("fake-node");
                let oom = *f == Failure::OomKilled;
                let (exit, reason) = if oom {
                    (137, "OOMKilled")
                } else {
                    (1, "Error")
                };
                if prt_state.stage == 0 {
                    // Started, not ready; it will crash after crash_interval.
                    started_not_ready(&mut status, &p, &containers, &ts);
                    for (c, h) in containers.iter().zip(&hit) {
                        if *h {
                            let img = c["image"].as_str().unwrap_or_default();
                            let mut lines = st.scenario.logs_for(img);
                            if lines.is_empty() {
                                lines = default_crash_lines(f);
                            }
                            logs.push((
                                c["name"].as_str().unwrap_or_default().to_string(),
                                0,
                                lines,
                            ));
                        }
                    }
                    prt_state.stage = 1;
                    prt_state.next_at = Some(now + crash_interval);
                } else if is_job {
                    let cs: Vec<Value> = containers
                        .iter()
                        .zip(&hit)
                        .map(|(c, h)| {
                            if *h {
                                container_status(c, false, 0, json!({"terminated": {"exitCode": exit, "reason": reason, "startedAt": start_time, "finishedAt": ts}}), json!({}), false)
                            } else {
                                container_status(c, false, 0, json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": start_time, "finishedAt": ts}}), json!({}), false)
                            }
                        })
                        .collect();
                    status["containerStatuses"] = json!(cs);
                    status["phase"] = json!("Failed");
                    status["conditions"] = json!(pod_conditions(&p, None, false, true));
                    prt_state.next_at = None;
                } else if prt_state.restarts < max_restarts {
                    prt_state.restarts += 1;
                    let n = prt_state.restarts;
                    let backoff = (10u64 << (n - 1).min(5)).min(300);
                    let cs: Vec<Value> = containers
                        .iter()
                        .zip(&hit)
                        .map(|(c, h)| {
                            if *h {
                                let cname = c["name"].as_str().unwrap_or_default();
                                container_status(
                                    c,
                                    false,
                                    n,
                                    json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off {backoff}s restarting failed container={cname} pod={pname}_{pns}({puid})")}}),
                                    json!({"terminated": {"exitCode": exit, "reason": reason, "startedAt": start_time, "finishedAt": ts, "containerID": format!("containerd://{:064x}", fnv(format!("{puid}{n}").as_bytes()) as u128)}}),
                                    false,
                                )
                            } else {
                                container_status(c, true, 0, json!({"running": {"startedAt": start_time}}), json!({}), true)
                            }
                        })
                        .collect();
                    status["containerStatuses"] = json!(cs);
                    status["phase"] = json!("Running");
                    status["conditions"] = json!(pod_conditions(&p, None, false, true));
                    for (c, h) in containers.iter().zip(&hit) {
                        if *h {
                            let cname = c["name"].as_str().unwrap_or_default();
                            events.push(("Warning", "BackOff", format!("Back-off restarting failed container {cname} in pod {pname}_{pns}({puid})"), "kubelet"));
                            if n < max_restarts {
                                let img = c["image"].as_str().unwrap_or_default();
                                let mut lines = st.scenario.logs_for(img);
                                if lines.is_empty() {
                                    lines = default_crash_lines(f);
                                }
                                logs.push((cname.to_string(), n, lines));
                            }
                        }
                    }
                    prt_state.next_at = if n < max_restarts {
                        Some(now + crash_interval * (1 << (n - 1).min(4)))
                    } else {
                        None
                    };
                } else {
                    prt_state.next_at = None;
                }
            }
            _ => {
                // Healthy (or slow, or never ready).
                spec_node = Some("fake-node");
                let never_ready = matches!(failure, Some(Failure::NeverReady));
                if prt_state.stage == 0 {
                    let cs: Vec<Value> = containers
                        .iter()
                        .map(|c| {
                            container_status(
                                c,
                                false,
                                0,
                                json!({"waiting": {"reason": "ContainerCreating"}}),
                                json!({}),
                                false,
                            )
                        })
                        .collect();
                    status["containerStatuses"] = json!(cs);
                    status["phase"] = json!("Pending");
                    status["conditions"] = json!(pod_conditions(&p, None, false, false));
                    events.push((
                        "Normal",
                        "Scheduled",
                        format!("Successfully assigned {pns}/{pname} to fake-node"),
                        "default-scheduler",
                    ));
                    prt_state.stage = 1;
                    prt_state.next_at = None;
                } else if prt_state.stage == 1 {
                    started_not_ready(&mut status, &p, &containers, &ts);
                    for c in &containers {
                        let img = c["image"].as_str().unwrap_or_default();
                        events.push((
                            "Normal",
                            "Pulled",
                            format!("Container image \"{img}\" already present on machine"),
                            "kubelet",
                        ));
                        events.push((
                            "Normal",
                            "Started",
                            format!(
                                "Started container {}",
                                c["name"].as_str().unwrap_or_default()
                            ),
                            "kubelet",
                        ));
                        let lines = st.scenario.logs_for(img);
                        if !lines.is_empty() {
                            logs.push((
                                c["name"].as_str().unwrap_or_default().to_string(),
                                0,
                                lines,
                            ));
                        }
                    }
                    prt_state.stage = 2;
                    if never_ready {
                        events.push((
                            "Warning",
                            "Unhealthy",
                            "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
                            "kubelet",
                        ));
                        prt_state.next_at = None;
                    } else {
                        prt_state.ready_at = Some(now + ready_delay);
                        prt_state.next_at = Some(now + ready_delay);
                    }
                } else if prt_state.stage == 2
                    && !never_ready
                    && prt_state.ready_at.is_some_and(|t| t <= now)
                {
                    let started_at = status["containerStatuses"][0]["state"]["running"]
                        ["startedAt"]
                        .as_str()
                        .unwrap_or(&ts)
                        .to_string();
                    let cs: Vec<Value> = containers
                        .iter()
                        .map(|c| {
                            container_status(
                                c,
                                true,
                                0,
                                json!({"running": {"startedAt": started_at}}),
                                json!({}),
                                true,
                            )
                        })
                        .collect();
                    status["containerStatuses"] = json!(cs);
                    status["conditions"] = json!(pod_conditions(&p, None, true, true));
                    prt_state.stage = 3;
                    prt_state.next_at = if is_job {
                        Some(now + job_duration)
                    } else {
                        None
                    };
                } else if prt_state.stage == 3 && is_job {
                    let cs: Vec<Value> = containers
                        .iter()
                        .map(|c| container_status(c, false, 0, json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": start_time, "finishedAt": ts}}), json!({}), false))
                        .collect();
                    status["containerStatuses"] = json!(cs);
                    status["phase"] = json!("Succeeded");
                    status["conditions"] = json!(pod_conditions(&p, None, false, true));
                    prt_state.stage = 4;
                    prt_state.next_at = None;
                }
            }
        }
        // A finished pod is not ready because it completed.
        if matches!(status["phase"].as_str(), Some("Succeeded") | Some("Failed")) {
            for c in status["conditions"].as_array_mut().into_iter().flatten() {
                if (c["type"] == "Ready" || c["type"] == "ContainersReady")
                    && c["reason"] != "PodCompleted"
                {
                    c["status"] = json!("False");
                    c["reason"] = json!("PodCompleted");
                    c.as_object_mut().unwrap().remove("message");
                }
            }
        }
        if spec_node.is_some() {
            status["hostIP"] = json!("172.18.0.2");
            status["hostIPs"] = json!([{"ip": "172.18.0.2"}]);
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
            status["startTime"] = json!(start_time);
        }
        earliest(&mut next, prt_state.next_at);
        st.runtime.pods.insert(puid.clone(), prt_state);
        let mut pod = p.clone();
        if let Some(n) = spec_node {
            if pod["spec"]["nodeName"].is_null() {
                pod["spec"]["nodeName"] = json!(n);
                if let Some(w) =
                    st.store
                        .controller_write(&prt, pod.clone(), false, "default-scheduler")
                {
                    pod = w;
                }
            }
        }
        for (c, run, lines) in logs {
            append_logs(st, &pns, &pname, &c, run, &lines);
        }
        if pod["status"] != status {
            pod["status"] = status;
            st.store.controller_write(&prt, pod.clone(), true, KUBELET);
        }
        for (t, reason, msg, comp) in events {
            event(st, &pod, "Pod", t, reason, &msg, comp);
        }
    }
    next
}

/// Namespaces Terminating and pods in graceful termination finish after their delays.
fn terminations(st: &mut State) -> Option<Instant> {
    let mut next = None;
    let now = Instant::now();
    let nsrt = rtype(st, "", "namespaces");
    let prt = rtype(st, "", "pods");
    let mut due = vec![];
    for n in st.store.list(&nsrt, "").into_iter().filter(deleting) {
        let since = *st.runtime.terminating_since.entry(uid(&n)).or_insert(now);
        let at = since + st.scenario.namespace_termination;
        if at <= now {
            due.push(name(&n));
        } else {
            earliest(&mut next, Some(at));
        }
    }
    for n in due {
        // False while finalizers or terminating pods hold it; a later change finishes it.
        let _ = st.store.finish_namespace(&n);
    }
    for p in st.store.list(&prt, "").into_iter().filter(deleting) {
        let since = *st.runtime.terminating_since.entry(uid(&p)).or_insert(now);
        let at = since + st.scenario.pod_termination;
        if at <= now {
            let key = Store::key(&prt, &ns(&p), &name(&p));
            st.store.finish_pod(&key);
        } else {
            earliest(&mut next, Some(at));
        }
    }
    let live: HashSet<String> = st.store.objects.values().map(uid).collect();
    st.runtime.terminating_since.retain(|u, _| live.contains(u));
    next
}

/// The port a Service port targets on a pod (numeric targetPort, or a named container port).
fn resolve_target_port(pod: &Value, port: &Value) -> Option<i64> {
    let target = if port["targetPort"].is_null() {
        &port["port"]
    } else {
        &port["targetPort"]
    };
    if let Some(n) = target.as_i64() {
        return Some(n);
    }
    let wanted = target.as_str()?;
    pod["spec"]["containers"]
        .as_array()?
        .iter()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .find(|p| p["name"] == wanted)
        .and_then(|p| p["containerPort"].as_i64())
}

/// The endpoints and EndpointSlice controllers: ready and not-ready pod addresses per Service.
fn endpoints(st: &mut State) {
    let svcrt = rtype(st, "", "services");
    let eprt = rtype(st, "", "endpoints");
    let slicert = rtype(st, "discovery.k8s.io", "endpointslices");
    let prt = rtype(st, "", "pods");
    let services = st.store.list(&svcrt, "");
    for svc in &services {
        let Some(sel) = svc["spec"]["selector"]
            .as_object()
            .filter(|m| !m.is_empty())
        else {
            continue;
        };
        if deleting(svc) {
            continue;
        }
        let (sns, sname) = (ns(svc), name(svc));
        let pods: Vec<Value> = st
            .store
            .list(&prt, &sns)
            .into_iter()
            .filter(|p| !deleting(p) && p["status"]["podIP"].is_string())
            .filter(|p| sel.iter().all(|(k, v)| &p["metadata"]["labels"][k] == v))
            .collect();
        let addr = |p: &Value| {
            json!({"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
                "targetRef": {"kind": "Pod", "namespace": sns, "name": name(p), "uid": uid(p)}})
        };
        let ready: Vec<Value> = pods.iter().filter(|p| pod_ready(p)).map(addr).collect();
        let not_ready: Vec<Value> = pods.iter().filter(|p| !pod_ready(p)).map(addr).collect();
        let svc_ports: Vec<Value> = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
        let ports: Vec<Value> = svc_ports
            .iter()
            .map(|sp| {
                let port = pods
                    .first()
                    .and_then(|p| resolve_target_port(p, sp))
                    .or_else(|| sp["targetPort"].as_i64())
                    .unwrap_or(0);
                let mut o =
                    json!({"port": port, "protocol": sp["protocol"].as_str().unwrap_or("TCP")});
                if let Some(n) = sp["name"].as_str() {
                    o["name"] = json!(n);
                }
                o
            })
            .collect();
        let mut subset = json!({"ports": ports});
        if !ready.is_empty() {
            subset["addresses"] = json!(ready);
        }
        if !not_ready.is_empty() {
            subset["notReadyAddresses"] = json!(not_ready);
        }
        let mut ep = json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": sname, "namespace": sns, "labels": svc["metadata"]["labels"]}});
        if ep["metadata"]["labels"].is_null() {
            ep["metadata"].as_object_mut().unwrap().remove("labels");
        }
        if !pods.is_empty() {
            ep["subsets"] = json!([subset]);
        }
        match st.store.get(&eprt, &sns, &sname).cloned() {
            None => {
                let _ = st.store.create(&eprt, &sns, ep, &Writer::update(KCM));
            }
            Some(old) if old["subsets"] != ep["subsets"] => {
                let mut o = old.clone();
                o["subsets"] = ep["subsets"].clone();
                if ep.get("subsets").is_none() {
                    o.as_object_mut().unwrap().remove("subsets");
                }
                st.store.controller_write(&eprt, o, false, KCM);
            }
            Some(_) => {}
        }
        // One EndpointSlice per Service.
        let slice_endpoints: Vec<Value> = pods
            .iter()
            .map(|p| {
                let r = pod_ready(p);
                json!({"addresses": [p["status"]["podIP"]], "conditions": {"ready": r, "serving": r, "terminating": false},
                    "nodeName": p["spec"]["nodeName"], "targetRef": {"kind": "Pod", "namespace": sns, "name": name(p), "uid": uid(p)}})
            })
            .collect();
        let slice_name = format!("{sname}-{}", safe_encode(fnv(uid(svc).as_bytes()), 5));
        match st.store.get(&slicert, &sns, &slice_name).cloned() {
            None => {
                let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": slice_name, "namespace": sns,
                        "labels": {"kubernetes.io/service-name": sname, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                        "ownerReferences": [owner_ref("v1", "Service", svc)]},
                    "addressType": "IPv4", "endpoints": slice_endpoints, "ports": ports});
                let _ = st.store.create(&slicert, &sns, slice, &Writer::update(KCM));
            }
            Some(old)
                if old["endpoints"] != json!(slice_endpoints) || old["ports"] != json!(ports) =>
            {
                let mut o = old.clone();
                o["endpoints"] = json!(slice_endpoints);
                o["ports"] = json!(ports);
                st.store.controller_write(&slicert, o, false, KCM);
            }
            Some(_) => {}
        }
    }
    // Endpoints of deleted Services go (EndpointSlices go with their owner).
    for ep in st.store.list(&eprt, "") {
        let gone = st.store.get(&svcrt, &ns(&ep), &name(&ep)).is_none();
        let managed = ep["metadata"]["managedFields"]
            .as_array()
            .is_some_and(|m| m.iter().any(|e| e["manager"] == KCM));
        if gone && managed {
            let _ = st
                .store
                .delete(&eprt, &ns(&ep), &name(&ep), None, None, None);
        }
    }
}

/// The apiextensions controllers: a CRD's names are accepted and it is Established at once.
fn crds(st: &mut State) {
    let rt = rtype(st, "apiextensions.k8s.io", "customresourcedefinitions");
    for c in st.store.list(&rt, "") {
        if deleting(&c) {
            continue;
        }
        let mut conds = conditions_of(&c);
        set_condition(
            &mut conds,
            "NamesAccepted",
            "True",
            "NoConflicts",
            "no conflicts found",
            false,
        );
        set_condition(
            &mut conds,
            "Established",
            "True",
            "InitialNamesAccepted",
            "the initial names have been accepted",
            false,
        );
        let stored: Vec<Value> = c["spec"]["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["storage"] == true)
            .map(|v| v["name"].clone())
            .collect();
        let status = json!({"conditions": conds, "acceptedNames": c["spec"]["names"], "storedVersions": stored});
        write_status(st, &rt, &c, status);
    }
}

/// The External Secrets Operator: stores validate, ExternalSecrets write their target Secret
/// (values `fake-<remote key>[/<property>]`, owned by the ExternalSecret) and turn Ready; a
/// missing store makes them Ready=False/SecretSyncedError.
fn external_secrets(st: &mut State) {
    let (Some(esrt), Some(ssrt), Some(cssrt)) = (
        st.store.type_for("external-secrets.io", "externalsecrets"),
        st.store.type_for("external-secrets.io", "secretstores"),
        st.store
            .type_for("external-secrets.io", "clustersecretstores"),
    ) else {
        return;
    };
    for store_rt in [&ssrt, &cssrt] {
        for s in st.store.list(store_rt, "") {
            let mut conds = conditions_of(&s);
            set_condition(
                &mut conds,
                "Ready",
                "True",
                "Valid",
                "store validated",
                false,
            );
            let status = json!({"conditions": conds, "capabilities": "ReadWrite"});
            write_status(st, store_rt, &s, status);
        }
    }
    let secrt = rtype(st, "", "secrets");
    for es in st.store.list(&esrt, "") {
        if deleting(&es) {
            continue;
        }
        let ens = ns(&es);
        let store_ref = &es["spec"]["secretStoreRef"];
        let store_name = store_ref["name"].as_str().unwrap_or_default().to_string();
        let cluster = store_ref["kind"] == "ClusterSecretStore";
        let store_ok = if cluster {
            st.store.get(&cssrt, "", &store_name).is_some()
        } else {
            st.store.get(&ssrt, &ens, &store_name).is_some()
        };
        let mut conds = conditions_of(&es);
        let mut status = es["status"].clone();
        if status.is_null() {
            status = json!({});
        }
        if !store_ok {
            let kind = if cluster {
                "ClusterSecretStore"
            } else {
                "SecretStore"
            };
            let m = format!("could not get {kind} \"{store_name}\", {kind}.external-secrets.io \"{store_name}\" not found");
            set_condition(&mut conds, "Ready", "False", "SecretSyncedError", &m, false);
            status["conditions"] = json!(conds);
            write_status(st, &esrt, &es, status);
            continue;
        }
        let target = es["spec"]["target"]["name"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| name(&es));
        use base64::Engine;
        let mut data = json!({});
        for d in es["spec"]["data"].as_array().into_iter().flatten() {
            let key = d["secretKey"].as_str().unwrap_or_default();
            let remote = d["remoteRef"]["key"].as_str().unwrap_or_default();
            let value = match d["remoteRef"]["property"].as_str() {
                Some(p) => format!("fake-{remote}/{p}"),
                None => format!("fake-{remote}"),
            };
            data[key] = json!(base64::engine::general_purpose::STANDARD.encode(value));
        }
        let want = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": target, "namespace": ens, "labels": {"reconcile.external-secrets.io/managed": "true"},
                "ownerReferences": [owner_ref(es["apiVersion"].as_str().unwrap_or("external-secrets.io/v1"), "ExternalSecret", &es)]},
            "type": "Opaque", "data": data});
        let synced = match st.store.get(&secrt, &ens, &target).cloned() {
            None => st
                .store
                .create(&secrt, &ens, want, &Writer::update("external-secrets"))
                .ok(),
            Some(cur) if cur["data"] != want["data"] => {
                let mut c = cur.clone();
                c["data"] = want["data"].clone();
                st.store
                    .controller_write(&secrt, c, false, "external-secrets")
            }
            Some(cur) => Some(cur),
        };
        set_condition(
            &mut conds,
            "Ready",
            "True",
            "SecretSynced",
            "secret synced",
            false,
        );
        status["conditions"] = json!(conds);
        status["binding"] = json!({"name": target});
        if let Some(sec) = synced {
            status["syncedResourceVersion"] = json!(format!(
                "1-{}",
                safe_encode(fnv(sec["data"].to_string().as_bytes()), 10)
            ));
        }
        if status["refreshTime"].is_null() {
            status["refreshTime"] = json!(now_rfc3339());
        }
        write_status(st, &esrt, &es, status);
    }
}

/// The disruption controller: PodDisruptionBudget status from the pods it selects.
fn pdbs(st: &mut State) {
    let rt = rtype(st, "policy", "poddisruptionbudgets");
    let prt = rtype(st, "", "pods");
    for b in st.store.list(&rt, "") {
        let sel = b["spec"]["selector"]["matchLabels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let pods: Vec<Value> = st
            .store
            .list(&prt, &ns(&b))
            .into_iter()
            .filter(|p| !deleting(p) && sel.iter().all(|(k, v)| &p["metadata"]["labels"][k] == v))
            .collect();
        let expected = pods.len() as i64;
        let healthy = pods.iter().filter(|p| pod_ready(p)).count() as i64;
        let desired = if !b["spec"]["minAvailable"].is_null() {
            int_or_percent(&b["spec"]["minAvailable"], expected, true)
        } else if !b["spec"]["maxUnavailable"].is_null() {
            (expected - int_or_percent(&b["spec"]["maxUnavailable"], expected, true)).max(0)
        } else {
            expected
        };
        let allowed = (healthy - desired).max(0);
        let mut conds = conditions_of(&b);
        if allowed > 0 {
            set_condition(
                &mut conds,
                "DisruptionAllowed",
                "True",
                "SufficientPods",
                "",
                false,
            );
        } else {
            set_condition(
                &mut conds,
                "DisruptionAllowed",
                "False",
                "InsufficientPods",
                "",
                false,
            );
        }
        let status = json!({"observedGeneration": b["metadata"]["generation"], "currentHealthy": healthy,
            "desiredHealthy": desired, "expectedPods": expected, "disruptionsAllowed": allowed, "conditions": conds});
        write_status(st, &rt, &b, status);
    }
}

fn pvcs(st: &mut State) {
    let rt = rtype(st, "", "persistentvolumeclaims");
    let prt = rtype(st, "", "pods");
    // pvc-protection: a claim being deleted goes once no pod uses it.
    for c in st.store.list(&rt, "").into_iter().filter(deleting) {
        let claim = name(&c);
        let in_use = st.store.list(&prt, &ns(&c)).iter().any(|p| {
            p["spec"]["volumes"].as_array().is_some_and(|vs| {
                vs.iter()
                    .any(|v| v["persistentVolumeClaim"]["claimName"] == claim.as_str())
            })
        });
        let protected = c["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "kubernetes.io/pvc-protection"));
        if !in_use && protected {
            let mut o = c.clone();
            let left: Vec<Value> = o["metadata"]["finalizers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|x| *x != "kubernetes.io/pvc-protection")
                .cloned()
                .collect();
            o["metadata"]["finalizers"] = json!(left);
            st.store.controller_write(&rt, o, false, KCM);
        }
    }
    for c in st.store.list(&rt, "") {
        if deleting(&c) || c["status"]["phase"] == "Bound" {
            continue;
        }
        let mut o = c.clone();
        if o["spec"]["volumeName"].is_null() {
            o["spec"]["volumeName"] = json!(format!("pvc-{}", uid(&c)));
            if o["spec"]["storageClassName"].is_null() {
                o["spec"]["storageClassName"] = json!("standard");
            }
            match st.store.controller_write(&rt, o.clone(), false, KCM) {
                Some(w) => o = w,
                None => continue,
            }
        }
        let storage = c["spec"]["resources"]["requests"]["storage"].clone();
        let status = json!({"phase": "Bound", "accessModes": c["spec"]["accessModes"], "capacity": {"storage": storage}});
        write_status(st, &rt, &o, status);
    }
}

fn hpas(st: &mut State) {
    let metrics = st.store.metrics_api;
    for version in ["v2", "v1"] {
        let Some(rt) = st
            .store
            .type_at("autoscaling", version, "horizontalpodautoscalers")
        else {
            continue;
        };
        if version == "v1" {
            // Same objects as v2 (one storage); reconcile once.
            continue;
        }
        for h in st.store.list(&rt, "") {
            if deleting(&h) {
                continue;
            }
            let hns = ns(&h);
            let target = &h["spec"]["scaleTargetRef"];
            let kind = target["kind"].as_str().unwrap_or_default();
            let tname = target["name"].as_str().unwrap_or_default();
            let plural = match kind {
                "Deployment" => "deployments",
                "StatefulSet" => "statefulsets",
                "ReplicaSet" => "replicasets",
                _ => "",
            };
            let mut conds = conditions_of(&h);
            let min = h["spec"]["minReplicas"].as_i64().unwrap_or(1);
            let max = h["spec"]["maxReplicas"].as_i64().unwrap_or(1);
            let trt = st.store.type_for("apps", plural);
            let tobj = trt
                .as_ref()
                .and_then(|t| st.store.get(t, &hns, tname).cloned());
            let mut status =
                json!({"currentReplicas": 0, "desiredReplicas": 0, "currentMetrics": []});
            match (trt, tobj) {
                (Some(trt), Some(t)) => {
                    let current = t["spec"]["replicas"].as_i64().unwrap_or(1);
                    let wanted = st.scenario_hpa_wanted(&hns, &name(&h)).unwrap_or(current);
                    let desired = wanted.clamp(min, max.max(min));
                    if desired != current {
                        let mut x = t.clone();
                        x["spec"]["replicas"] = json!(desired);
                        st.store.controller_write(&trt, x, false, KCM);
                        status["lastScaleTime"] = json!(now_rfc3339());
                        event(
                            st,
                            &h,
                            "HorizontalPodAutoscaler",
                            "Normal",
                            "SuccessfulRescale",
                            &format!(
                                "New size: {desired}; reason: {}",
                                if wanted > max {
                                    "All metrics below target"
                                } else {
                                    "Current number of replicas below Spec.MinReplicas"
                                }
                            ),
                            "horizontal-pod-autoscaler",
                        );
                    } else if !h["status"]["lastScaleTime"].is_null() {
                        status["lastScaleTime"] = h["status"]["lastScaleTime"].clone();
                    }
                    status["currentReplicas"] =
                        json!(t["status"]["replicas"].as_i64().unwrap_or(0));
                    status["desiredReplicas"] = json!(desired);
                    set_condition(
                        &mut conds,
                        "AbleToScale",
                        "True",
                        "ReadyForNewScale",
                        "recommended size matches current size",
                        false,
                    );
                    if metrics {
                        status["currentMetrics"] = json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 10, "averageValue": "5m"}}}]);
                        set_condition(&mut conds, "ScalingActive", "True", "ValidMetricFound", "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)", false);
                    } else {
                        set_condition(&mut conds, "ScalingActive", "False", "FailedGetResourceMetric", "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)", false);
                    }
                    if wanted > max {
                        set_condition(
                            &mut conds,
                            "ScalingLimited",
                            "True",
                            "TooManyReplicas",
                            "the desired replica count is more than the maximum replica count",
                            false,
                        );
                    } else if wanted < min {
                        set_condition(
                            &mut conds,
                            "ScalingLimited",
                            "True",
                            "TooFewReplicas",
                            "the desired replica count is less than the minimum replica count",
                            false,
                        );
                    } else {
                        set_condition(
                            &mut conds,
                            "ScalingLimited",
                            "False",
                            "DesiredWithinRange",
                            "the desired count is within the acceptable range",
                            false,
                        );
                    }
                }
                _ => {
                    set_condition(&mut conds, "AbleToScale", "False", "FailedGetScale", &format!("the HPA controller was unable to get the target's current scale: {plural}/scale.apps \"{tname}\" not found"), false);
                }
            }
            status["conditions"] = json!(conds);
            write_status(st, &rt, &h, status);
        }
    }
}

impl State {
    fn scenario_hpa_wanted(&self, ns: &str, name: &str) -> Option<i64> {
        self.scenario
            .hpa_wanted
            .iter()
            .find(|(n, m, _)| n == ns && m == name)
            .map(|(_, _, v)| *v)
    }
}

fn quotas(st: &mut State) {
    let qrt = rtype(st, "", "resourcequotas");
    let prt = rtype(st, "", "pods");
    for q in st.store.list(&qrt, "") {
        let pods = st.store.list(&prt, &ns(&q));
        let status = quota::quota_status(&q, &pods);
        write_status(st, &qrt, &q, status);
    }
}

/// metrics.k8s.io: usage of Running pods and of the node.
pub fn serve_metrics(
    store: &mut Store,
    rt: &ResourceType,
    namespace: &str,
    name_: Option<&str>,
    _q: &std::collections::HashMap<String, String>,
) -> Result<(u16, Value), ApiError> {
    let now = now_rfc3339();
    let items: Vec<Value> = if rt.plural == "pods" {
        let prt = store.type_for("", "pods").unwrap();
        store
            .list(&prt, namespace)
            .into_iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .map(|p| {
                let cs: Vec<Value> = p["spec"]["containers"].as_array().into_iter().flatten().map(|c| json!({"name": c["name"], "usage": {"cpu": "5m", "memory": "64Mi"}})).collect();
                json!({"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {"name": name(&p), "namespace": ns(&p), "labels": p["metadata"]["labels"], "creationTimestamp": now},
                    "timestamp": now, "window": "15s", "containers": cs})
            })
            .collect()
    } else {
        vec![
            json!({"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {"name": "fake-node", "creationTimestamp": now},
            "timestamp": now, "window": "15s", "usage": {"cpu": "250m", "memory": "2Gi"}}),
        ]
    };
    match name_ {
        Some(n) => items
            .into_iter()
            .find(|i| i["metadata"]["name"] == n)
            .map(|i| (200, i))
            .ok_or_else(|| errors::not_found(rt, n)),
        None => Ok((
            200,
            json!({"kind": format!("{}List", rt.kind), "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items}),
        )),
    }
}
