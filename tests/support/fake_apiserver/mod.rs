//! A fake Kubernetes API server owned by the tests: an axum server on 127.0.0.1 (random port),
//! in-process, state in memory, with a scenario controller that plays the controller manager,
//! scheduler and kubelet (Deployments → ReplicaSets → Pods that turn Ready, or fail the way a
//! test chooses).
//!
//! # Using it from a test file
//!
//! ```ignore
//! #[path = "support/fake_apiserver/mod.rs"]
//! mod fake_apiserver;
//! use fake_apiserver::{FakeApiServer, Failure, Fault, FaultAnswer, Verb};
//!
//! #[tokio::test]
//! async fn first_install_success() {
//!     let server = FakeApiServer::start();              // or FakeApiServer::builder()...start()
//!     let client = server.client();                      // a kube::Client for the fake
//!     let kubeconfig = server.kubeconfig_file();          // for the real binary: --kubeconfig
//!     // ... drive the library with `client`, or run the binary with
//!     //     `--kubeconfig kubeconfig.path()` ...
//!     assert_eq!(server.objects("apps/v1", "Deployment").len(), 1);
//!     assert!(server.requests().iter().any(|r| r.is_apply_by("kubectl-justpush")));
//! }
//! ```
//!
//! Include it only with `#[path]` as above (no `mod support;`); the module silences dead-code
//! warnings for the parts a test file does not use. The server runs on its own thread and tokio
//! runtime, so it works from `#[test]` (sync, e.g. running the binary with
//! `std::process::Command`) and from `#[tokio::test]` of any flavor. `start()` returns once it
//! listens. `stop()` (or dropping the server) ends watches and log streams and closes the port.
//! `server.client()` must be called inside a tokio runtime (kube-rs spawns a task).
//!
//! Kubeconfig: `server.kubeconfig_file()` (a temp file kept while the value lives; namespace
//! `default`), `server.write_kubeconfig(path, namespace)` or `server.kubeconfig_yaml(ns)`:
//! cluster `fake` at `http://127.0.0.1:PORT`, user `fake-user` with token [`FAKE_TOKEN`],
//! context `fake` (current). kube-rs 5 and kubectl accept it (checked by the self-tests), so
//! `kubectl --kubeconfig ... get pods` works for looking at a scenario by hand.
//!
//! # Builder
//!
//! `FakeApiServer::builder()`: `.without_kong()` (no `configuration.konghq.com` CRDs, as before
//! Kong is installed; `server.set_kong_crds(bool)` switches later), `.without_external_secrets()`,
//! `.with_metrics()` (serve `metrics.k8s.io`; off by default as on kind; `server.set_metrics`),
//! `.scenario(|s| ...)`. Kong's CRDs are those of chart 3.4.1 (12 kinds); the ESO CRDs are
//! ExternalSecret, SecretStore, ClusterSecretStore (v1 and v1beta1). Namespaces `default`, `kube-system`, `kube-public`, `kube-node-lease`
//! and one Node `fake-node` (2 CPU, 8Gi) exist from the start.
//!
//! # What it serves
//!
//! Discovery (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}`, and the
//! aggregated v2 documents when asked for) for core v1, apps/v1, batch/v1, autoscaling/v2 (and
//! v1), policy/v1, networking.k8s.io/v1, coordination.k8s.io/v1, discovery.k8s.io/v1,
//! events.k8s.io/v1, rbac,
//! storage, apiextensions.k8s.io/v1, plus every CRD present in the store (creating or deleting a
//! CRD changes discovery), and `metrics.k8s.io/v1beta1` when enabled.
//!
//! Verbs: get; list (label selectors `a=b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`;
//! field selectors on any dotted path such as `metadata.name=x`, `involvedObject.name=x`;
//! `limit`/`continue`); watch (`resourceVersion` replay, `0`/empty = current state as ADDED,
//! `sendInitialEvents` + initial-events-end bookmark, `allowWatchBookmarks`, `timeoutSeconds`,
//! ERROR 410 Expired from a compacted version, objects entering/leaving a selector as
//! ADDED/DELETED); create (generateName, name validation, namespace must exist and not be
//! Terminating); update (PUT with resourceVersion = optimistic concurrency, 409 Conflict);
//! server-side apply (create-if-missing, `fieldManager` required, field ownership: an apply
//! without `force` that changes a field another manager owns is 409 FieldManagerConflict; fields
//! the same manager applied before and no longer applies are removed; managedFields recorded);
//! merge, strategic-merge (lists of named objects merged by name) and JSON patch; delete
//! (Background/Foreground/Orphan through ownerReferences, finalizers hold objects, pods answer
//! with the pod, others with Status Success, pending deletes with 202 + the object);
//! deletecollection; `/status` (only status changes there; main-resource writes keep status);
//! `/scale`; pods `/log` (container, tailLines, sinceSeconds, timestamps, previous, follow) and
//! `/eviction`; `dryRun`. Server-side defaulting: Secret `stringData` → base64 `data`, Service
//! clusterIP/nodePorts, Namespace phase, Deployment strategy/replicas/progressDeadlineSeconds,
//! Job backoffLimit; LimitRange defaults/maxima and ResourceQuota on pod creation (403);
//! immutable fields refused with 422 (workload selectors, StatefulSet spec outside
//! replicas/template/updateStrategy/..., Job template, `immutable` ConfigMaps/Secrets, Secret type,
//! PVC spec, Service clusterIP). Deleting a CRD deletes its custom resources.
//! List items omit kind/apiVersion for built-in types (as the real server), keep them for CRs.
//!
//! # Controllers (the scenario)
//!
//! Deployment → ReplicaSet `<name>-<pod-template-hash>` → Pods `<rs>-<5 chars>` (owner refs,
//! template labels + pod-template-hash); RollingUpdate with maxSurge/maxUnavailable as the real
//! controller computes them (Recreate too); a re-applied old template reuses its ReplicaSet as a
//! new revision; status observedGeneration/replicas/updated/ready/available/unavailable and
//! conditions Available, Progressing (NewReplicaSetCreated, ReplicaSetUpdated,
//! NewReplicaSetAvailable, ProgressDeadlineExceeded), ReplicaFailure. StatefulSet: pods
//! `<name>-<i>` (OrderedReady or Parallel), PVCs from volumeClaimTemplates, rolling replace from
//! the highest ordinal, currentRevision/updateRevision. Job: pods until Complete, or Failed with
//! BackoffLimitExceeded after backoffLimit+1 failed pods. HPA: keeps the target within
//! min/max, status and conditions (ScalingActive False without the metrics API). PVCs Bound.
//! Endpoints and EndpointSlices for Services. ResourceQuota status.used. PodDisruptionBudget
//! status. CRDs NamesAccepted + Established. External Secrets Operator (when its CRDs are
//! there; `s.external_secrets_controller`): SecretStores Ready, ExternalSecrets write their
//! target Secret (values `fake-<key>[/<property>]`) and turn Ready/SecretSynced, or
//! Ready=False/SecretSyncedError when the store is missing. Pods: Pending
//! (ContainerCreating) → Running → Ready, events (Scheduled, Pulled, Started, FailedScheduling,
//! BackOff, Failed, FailedCreate, ScalingReplicaSet, ...). Namespace deletion is asynchronous
//! (Terminating, then contents, then the namespace). Refused pod creations back off.
//!
//! ```ignore
//! server.scenario(|s| {
//!     s.fail_image("api:2", Failure::CrashLoop);                     // by image substring
//!     s.fail_pods("app.kubernetes.io/component=worker", Failure::OomKilled);
//!     s.fail_workload("shop", "web", Failure::unschedulable());      // pods of a workload
//!     s.fail_image("db:1", Failure::quota("compute-quota"));         // ReplicaFailure, no pods
//!     s.image_logs("api:2", &["Traceback ...", "KeyError: 'DATABASE_URL'"]);
//!     s.ready_delay = Duration::from_millis(300);                     // "slowly"
//!     s.progress_deadline = Some(Duration::from_millis(500));
//!     s.namespace_termination = Duration::from_millis(200);          // Terminating for a while
//!     s.pod_termination = Duration::from_millis(100);                // pods Terminating
//!     s.hpa_recommends("shop", "web", 10);                           // "load": clamped to max
//!     s.paused = true;                                               // controllers stop
//! });
//! ```
//! Failures: `ImagePull` (ErrImagePull then ImagePullBackOff, Pending), `CrashLoop` (Running,
//! not ready, restartCount rising with back-off, lastState.terminated Error exit 1, logs per run),
//! `OomKilled` (same with OOMKilled exit 137), `Unschedulable(msg)` (PodScheduled False,
//! FailedScheduling), `QuotaExceeded(msg)`, `NeverReady`, `SlowReady(d)`, `JobFails`. Images
//! whose repository name contains `crashloop`, `imagepull`/`doesnotexist`, `oom`,
//! `unschedulable`, `quota`, `neverready` or `jobfail` fail that way without a rule
//! (`s.image_words = false` turns this off). A real ResourceQuota/LimitRange put in a namespace
//! refuses pods the same way. `server.append_log(ns, pod, container, line)` adds log lines
//! (followers see them); `append_log_aged(ns, pod, container, line, age)` adds one written `age`
//! ago (for `sinceSeconds`).
//!
//! # Error injection
//!
//! ```ignore
//! server.inject(Fault::on(&[Verb::Apply], FaultAnswer::Conflict).resource("deployments").name("web").times(1));
//! server.inject(Fault::on(&[Verb::Get], FaultAnswer::Internal("etcd timeout".into())).times(2));
//! server.inject(Fault::on(&[], FaultAnswer::TooManyRequests(1)).namespace("shop").times(1)); // kube-rs retries 429 itself
//! server.inject(Fault::on(&[Verb::Create], FaultAnswer::Forbidden(None)).resource("secrets"));
//! server.inject(Fault::on(&[Verb::Apply], FaultAnswer::Invalid(vec![("spec.replicas".into(), "Invalid value: -1".into())])));
//! server.inject(Fault::on(&[Verb::List], FaultAnswer::Delay(Duration::from_secs(2))).after(1));
//! server.inject(Fault::on(&[Verb::Get], FaultAnswer::ConnectionReset).times(1));
//! server.reject_kind("KongPlugin", "validations.kong.konghq.com", 400, "plugin failed schema validation: ...");
//! server.inject(Fault::on(&[Verb::Apply], FaultAnswer::AdmissionDenied { webhook: "validations.kong.konghq.com".into(),
//!     code: 400, message: "...".into() }).resource("KongPlugin").name("rate-limit"));   // only one object
//! server.drop_watches_after("pods", 3, Some(1));   // next pods watch ends after 3 events
//! server.watches_cut();                             // how many watches those rules really cut
//! server.drop_watches();                            // end every open watch now
//! server.compact();                                 // old resourceVersions now get 410
//! server.faults_fired();                            // how often each rule fired
//! ```
//!
//! # Reading state
//!
//! `server.objects("apps/v1", "Deployment")`, `objects_in(av, kind, ns)`, `object(av, kind, ns,
//! name)` (ns "" for cluster-scoped), `contents_of(ns)` ("no object left"), `pods_of(ns,
//! workload)`, `history(av, kind, ns, name)` (every version with its resourceVersion),
//! `requests()` ([`RequestRecord`]: verb, resource, namespace, name, field manager, force, code,
//! body; `is_apply_by("kubectl-justpush")`), `wait_until(timeout, |s| ..)` /
//! `wait_until_async` (woken by changes, not polling), `wait_quiescent(window, timeout)`.
//! `put(obj)` / `remove(..)` write directly (no faults, not logged; `put` also sets status).
//! `describe(ns)` gives a one-line-per-object summary for assertion messages.
//!
//! # Simplified compared with a real API server
//!
//! One storage version per resource (served under every version; only apiVersion changes), no
//! conversion, no OpenAPI schema validation (only names, workload selectors/containers, Secret
//! base64), no RBAC or authentication (any token), no admission webhooks except injected ones,
//! SSA lists are atomic unless they are lists of objects keyed by `name`, rollouts ignore
//! minReadySeconds, pods get IPs but no network, CronJobs are stored but never run, no
//! ControllerRevisions, the watch history is kept until `compact()`, lists ignore
//! resourceVersion/resourceVersionMatch (always the current state), no server-side Table
//! printing (kubectl shows NAME/AGE), no exec/attach/port-forward, no init containers,
//! DaemonSets are stored but not run, Ingress status is never set, pod readiness ignores
//! probes (Ready after `ready_delay`, unless a failure says otherwise), events aggregate per
//! reason within a second, events.k8s.io/v1 is stored apart from core/v1 Events (the
//! controllers write core/v1).
//!
//! The service proxy (`services/{name}:{port}/proxy/...`) forwards over real HTTP to an upstream
//! the test registers with `proxy_service`, while a ready pod matches the Service's selector.

#![allow(dead_code, unused_imports)]

mod controller;
mod errors;
mod faults;
mod http;
mod logs;
mod proxy;
mod quota;
mod resources;
mod scenario;
mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use errors::{ApiError, Cause};
pub use faults::{Fault, FaultAnswer, Verb, WatchDrop};
pub use scenario::{Failure, Scenario};
pub use store::{Key, Propagation};

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    /// None for discovery and unknown paths.
    pub verb: Option<Verb>,
    pub group: String,
    pub version: String,
    /// Plural (`deployments`).
    pub resource: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub subresource: Option<String>,
    pub field_manager: Option<String>,
    pub force: bool,
    pub dry_run: bool,
    pub content_type: String,
    /// HTTP status answered.
    pub code: u16,
    /// Authorization scheme sent (`Bearer`), never the credential.
    pub authorization: Option<String>,
    pub user_agent: String,
    /// The decoded body of writes.
    pub body: Value,
}

impl RequestRecord {
    /// A server-side apply by this field manager.
    pub fn is_apply_by(&self, manager: &str) -> bool {
        self.verb == Some(Verb::Apply) && self.field_manager.as_deref() == Some(manager)
    }
}

/// A log line of a container.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub time: time::OffsetDateTime,
    pub text: String,
    /// Which run of the container wrote it (0 = first start; n = after the n-th restart).
    pub run: u32,
}

/// Everything behind the lock.
pub struct State {
    pub store: store::Store,
    pub faults: Vec<Fault>,
    pub watch_drops: Vec<WatchDrop>,
    pub requests: Vec<RequestRecord>,
    pub scenario: Scenario,
    /// Container logs by (namespace, pod, container).
    pub logs: HashMap<(String, String, String), Vec<LogLine>>,
    /// Where the service proxy sends requests for a Service, by (namespace, name).
    pub service_upstreams: HashMap<(String, String), String>,
    pub runtime: controller::Runtime,
}

/// State shared by the HTTP handlers, the controller and the test.
pub struct Shared {
    pub state: Mutex<State>,
    pub cv: Condvar,
    pub changed: tokio::sync::broadcast::Sender<u64>,
    pub drop_watches: tokio::sync::broadcast::Sender<()>,
    pub bookmark: tokio::sync::broadcast::Sender<()>,
}

impl Shared {
    pub fn record(&self, r: RequestRecord) {
        self.state.lock().unwrap().requests.push(r);
    }

    /// Wakes watches, the controller and waiting tests after a change.
    pub fn notify(&self) {
        let rv = self.state.lock().unwrap().store.rv;
        let _ = self.changed.send(rv);
        self.cv.notify_all();
    }

    /// Makes the controller reconcile although no object changed (scenario or log changes).
    pub fn kick(&self) {
        let _ = self.changed.send(0);
        self.cv.notify_all();
    }
}

/// Options for [`FakeApiServer`].
pub struct Builder {
    kong_crds: bool,
    external_secrets_crds: bool,
    metrics: bool,
    scenario: Scenario,
}

impl Builder {
    /// No Kong CRDs (configuration.konghq.com absent, as before Kong is installed).
    pub fn without_kong(mut self) -> Self {
        self.kong_crds = false;
        self
    }
    /// No external-secrets.io CRD.
    pub fn without_external_secrets(mut self) -> Self {
        self.external_secrets_crds = false;
        self
    }
    /// Serve metrics.k8s.io (off by default, as on a kind cluster without metrics-server).
    pub fn with_metrics(mut self) -> Self {
        self.metrics = true;
        self
    }
    pub fn scenario(mut self, f: impl FnOnce(&mut Scenario)) -> Self {
        f(&mut self.scenario);
        self
    }

    /// Starts listening; returns once the port is bound.
    pub fn start(self) -> FakeApiServer {
        let mut st = store::Store::new();
        st.metrics_api = self.metrics;
        st.pod_grace = !self.scenario.pod_termination.is_zero();
        let mut crds = vec![];
        if self.kong_crds {
            crds.extend(resources::kong_crds());
        }
        if self.external_secrets_crds {
            crds.extend(resources::external_secrets_crds());
        }
        let crd_rt = st
            .type_for("apiextensions.k8s.io", "customresourcedefinitions")
            .unwrap();
        for c in crds {
            st.create(&crd_rt, "", c, &store::Writer::update("fake-bootstrap"))
                .unwrap();
        }
        let state = State {
            store: st,
            faults: vec![],
            watch_drops: vec![],
            requests: vec![],
            scenario: self.scenario,
            logs: HashMap::new(),
            service_upstreams: HashMap::new(),
            runtime: controller::Runtime::default(),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            cv: Condvar::new(),
            changed: tokio::sync::broadcast::channel(1024).0,
            drop_watches: tokio::sync::broadcast::channel(16).0,
            bookmark: tokio::sync::broadcast::channel(16).0,
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("binding 127.0.0.1:0 for the fake API server");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fake-apiserver-{port}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    let ctl = tokio::spawn(controller::run(sh.clone()));
                    let app_state = sh.clone();
                    let app = axum::Router::new().fallback(move |method, uri, headers, body| {
                        http::handle(app_state.clone(), method, uri, headers, body)
                    });
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stop_rx.await;
                        })
                        .await;
                    ctl.abort();
                });
                rt.shutdown_timeout(Duration::from_millis(200));
            })
            .unwrap();
        FakeApiServer {
            shared,
            port,
            stop_tx: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

/// The running fake API server.
pub struct FakeApiServer {
    shared: Arc<Shared>,
    port: u16,
    stop_tx: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A kubeconfig file kept alive as long as this value.
pub struct KubeconfigFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl KubeconfigFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The token the kubeconfig carries (the fake accepts any credential, and records only the scheme).
pub const FAKE_TOKEN: &str = "fake-token-for-tests";

impl FakeApiServer {
    /// Default options: Kong and external-secrets CRDs installed, no metrics API.
    pub fn builder() -> Builder {
        Builder {
            kong_crds: true,
            external_secrets_crds: true,
            metrics: false,
            scenario: Scenario::default(),
        }
    }

    pub fn start() -> Self {
        Self::builder().start()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A kube-rs client for the fake (default namespace `default`). Call it inside a tokio
    /// runtime (kube's client spawns its buffer task there); sync tests use the kubeconfig.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url().parse().unwrap());
        kube::Client::try_from(config).expect("a kube client for the fake API server")
    }

    /// A kubeconfig (cluster `fake`, user with a token, context `fake`, namespace `namespace`).
    pub fn kubeconfig_yaml(&self, namespace: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\nusers:\n- name: fake-user\n  user:\n    token: {FAKE_TOKEN}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake-user\n    namespace: {namespace}\ncurrent-context: fake\npreferences: {{}}\n",
            url = self.url()
        )
    }

    pub fn write_kubeconfig(&self, path: &Path, namespace: &str) {
        std::fs::write(path, self.kubeconfig_yaml(namespace)).expect("writing the kubeconfig");
    }

    /// A kubeconfig in a temporary directory (namespace `default`).
    pub fn kubeconfig_file(&self) -> KubeconfigFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        self.write_kubeconfig(&path, "default");
        KubeconfigFile { _dir: dir, path }
    }

    /// Stops the server: open watches and log streams end, the port closes.
    pub fn stop(&mut self) {
        let _ = self.shared.drop_watches.send(());
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Direct access to everything (hold it briefly: the server waits while you do).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }

    /// Objects of a kind (all namespaces), as a GET would return them.
    pub fn objects(&self, api_version: &str, kind: &str) -> Vec<Value> {
        let st = self.state();
        let Some(rt) = st.store.type_by_kind(api_version, kind) else {
            return vec![];
        };
        st.store
            .list(&rt, "")
            .iter()
            .map(|o| store::Store::serve(&rt, o))
            .collect()
    }

    /// Objects of a kind in one namespace.
    pub fn objects_in(&self, api_version: &str, kind: &str, namespace: &str) -> Vec<Value> {
        self.objects(api_version, kind)
            .into_iter()
            .filter(|o| o["metadata"]["namespace"] == namespace)
            .collect()
    }

    /// One object (namespace empty for cluster-scoped kinds).
    pub fn object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let st = self.state();
        let rt = st.store.type_by_kind(api_version, kind)?;
        st.store
            .get(&rt, namespace, name)
            .map(|o| store::Store::serve(&rt, o))
    }

    /// Every namespaced object in a namespace, as (kind, name), sorted.
    pub fn contents_of(&self, namespace: &str) -> Vec<(String, String)> {
        let st = self.state();
        let types = st.store.types();
        let mut v: Vec<(String, String)> = st
            .store
            .objects
            .iter()
            .filter(|(k, _)| k.namespace == namespace)
            .map(|(k, _)| {
                let kind = types
                    .iter()
                    .find(|t| t.group == k.group && t.plural == k.plural)
                    .map(|t| t.kind.clone())
                    .unwrap_or_default();
                (kind, k.name.clone())
            })
            .collect();
        v.sort();
        v
    }

    /// A readable summary of a namespace ("" = everything) for assertion messages: one line per
    /// object with what matters (pod phase/readiness/waiting reason/restarts, workload replicas,
    /// conditions that are not True, deletion in progress).
    pub fn describe(&self, namespace: &str) -> String {
        let st = self.state();
        let types = st.store.types();
        let mut out = String::new();
        for (k, o) in &st.store.objects {
            if !namespace.is_empty() && k.namespace != namespace {
                continue;
            }
            if k.plural == "events" || (k.group == "apiextensions.k8s.io" && namespace.is_empty()) {
                continue;
            }
            let kind = types
                .iter()
                .find(|t| t.group == k.group && t.plural == k.plural)
                .map(|t| t.kind.as_str())
                .unwrap_or("?");
            let mut line = if k.namespace.is_empty() {
                format!("{kind}/{}", k.name)
            } else {
                format!("{kind} {}/{}", k.namespace, k.name)
            };
            let s = &o["status"];
            match kind {
                "Pod" => {
                    let ready = condition(o, "Ready").is_some_and(|c| c["status"] == "True");
                    line += &format!(
                        " phase={} ready={ready}",
                        s["phase"].as_str().unwrap_or("?")
                    );
                    for c in s["containerStatuses"].as_array().into_iter().flatten() {
                        if let Some(r) = c["state"]["waiting"]["reason"].as_str() {
                            line += &format!(" {}:{r}", c["name"].as_str().unwrap_or_default());
                        }
                        if c["restartCount"].as_i64().unwrap_or(0) > 0 {
                            line += &format!(" restarts={}", c["restartCount"]);
                        }
                    }
                }
                "Deployment" | "StatefulSet" | "ReplicaSet" => {
                    line += &format!(
                        " replicas={} ready={} updated={}",
                        o["spec"]["replicas"],
                        s["readyReplicas"].as_i64().unwrap_or(0),
                        s["updatedReplicas"]
                            .as_i64()
                            .unwrap_or(s["replicas"].as_i64().unwrap_or(0))
                    );
                }
                _ => {}
            }
            for c in s["conditions"].as_array().into_iter().flatten() {
                let notable = matches!(
                    c["type"].as_str(),
                    Some("ReplicaFailure") | Some("Failed") | Some("Complete")
                );
                if c["status"] != "True" || notable {
                    line += &format!(
                        " {}={}({})",
                        c["type"].as_str().unwrap_or_default(),
                        c["status"].as_str().unwrap_or_default(),
                        c["reason"].as_str().unwrap_or_default()
                    );
                }
            }
            if !o["metadata"]["deletionTimestamp"].is_null() {
                line += " TERMINATING";
            }
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// Creates or replaces an object directly (test fixtures; no faults, not logged).
    pub fn put(&self, obj: Value) -> Value {
        let out = {
            let mut st = self.state();
            let av = obj["apiVersion"].as_str().unwrap_or_default().to_string();
            let kind = obj["kind"].as_str().unwrap_or_default().to_string();
            let rt = st
                .store
                .type_by_kind(&av, &kind)
                .unwrap_or_else(|| panic!("the fake serves no {av} {kind}"));
            let ns = obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string();
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let w = store::Writer::update("test-fixture");
            let res = if st.store.get(&rt, &ns, &name).is_some() {
                let mut o = obj.clone();
                o["metadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("resourceVersion");
                let status = o.get("status").cloned();
                let r = st.store.replace(&rt, &ns, &name, o.clone(), &w, false);
                match (r, status) {
                    (Ok(_), Some(s)) => {
                        let mut o2 = o;
                        o2["status"] = s;
                        st.store.replace(&rt, &ns, &name, o2, &w, true)
                    }
                    (r, _) => r,
                }
            } else {
                let status = obj.get("status").cloned();
                let r = st.store.create(&rt, &ns, obj.clone(), &w);
                match (r, status) {
                    (Ok(created), Some(s)) if rt.has_status() => {
                        let mut o2 = created;
                        o2["status"] = s;
                        st.store.replace(&rt, &ns, &name, o2, &w, true)
                    }
                    (r, _) => r,
                }
            };
            res.unwrap_or_else(|e| panic!("putting {kind} {name}: {}", e.message()))
        };
        self.shared.notify();
        out
    }

    /// Deletes an object directly (Background propagation).
    pub fn remove(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> bool {
        let ok = {
            let mut st = self.state();
            match st.store.type_by_kind(api_version, kind) {
                Some(rt) => st
                    .store
                    .delete(&rt, namespace, name, None, None, None)
                    .is_ok(),
                None => false,
            }
        };
        self.shared.notify();
        ok
    }

    /// Every recorded version of one object, oldest first: (resourceVersion, ADDED/MODIFIED/
    /// DELETED, object). Empty after `compact()`.
    pub fn history(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Vec<(u64, String, Value)> {
        let st = self.state();
        let Some(rt) = st.store.type_by_kind(api_version, kind) else {
            return vec![];
        };
        let key = store::Store::key(&rt, namespace, name);
        st.store
            .history
            .iter()
            .filter(|c| c.key == key)
            .map(|c| {
                (
                    c.rv,
                    c.kind.as_str().to_string(),
                    store::Store::serve(&rt, &c.object),
                )
            })
            .collect()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }

    /// Adds an error-injection rule (rules are tried in order; the first match fires).
    pub fn inject(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    /// How many times each rule fired, in insertion order.
    pub fn faults_fired(&self) -> Vec<u32> {
        self.state().faults.iter().map(|f| f.fired).collect()
    }

    /// Serves `services/{name}/proxy/...` in `namespace` from `base_url` (a test-owned HTTP
    /// server standing for the Service's pods). The proxy answers only while a ready pod matches
    /// the Service's selector, as real endpoints do.
    pub fn proxy_service(&self, namespace: &str, name: &str, base_url: &str) {
        self.state()
            .service_upstreams
            .insert((namespace.into(), name.into()), base_url.into());
    }

    pub fn clear_faults(&self) {
        let mut st = self.state();
        st.faults.clear();
        st.watch_drops.clear();
    }

    /// Every create/update/patch/apply of `kind` is denied by admission webhook `webhook`
    /// with `code` (400 is what Kong's webhook answers) and `message`.
    pub fn reject_kind(&self, kind: &str, webhook: &str, code: u16, message: &str) {
        self.inject(
            Fault::on(
                &[Verb::Create, Verb::Update, Verb::Patch, Verb::Apply],
                FaultAnswer::AdmissionDenied {
                    webhook: webhook.into(),
                    code,
                    message: message.into(),
                },
            )
            .resource(kind),
        );
    }

    /// Ends every open watch (and followed log) now; clients must re-watch.
    pub fn drop_watches(&self) {
        let _ = self.shared.drop_watches.send(());
    }

    /// The next `times` (None: every) watches of `resource` (plural or kind) end after
    /// delivering `after_events` events.
    pub fn drop_watches_after(&self, resource: &str, after_events: usize, times: Option<u32>) {
        self.state().watch_drops.push(WatchDrop {
            resource: Some(resource.into()),
            after_events,
            remaining: times,
            cut: 0,
        });
    }

    /// How many watches the `drop_watches_after` rules have cut so far.
    pub fn watches_cut(&self) -> u32 {
        self.state().watch_drops.iter().map(|d| d.cut).sum()
    }

    /// Sends a BOOKMARK on every open watch that allowed bookmarks.
    pub fn send_bookmarks(&self) {
        let _ = self.shared.bookmark.send(());
    }

    /// Forgets the change history: watches from an older resourceVersion get 410 Expired.
    pub fn compact(&self) {
        self.state().store.compact();
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.state().store.rv
    }

    /// Changes the scenario (takes effect on the next reconcile, which this triggers).
    pub fn scenario(&self, f: impl FnOnce(&mut Scenario)) {
        {
            let mut st = self.state();
            f(&mut st.scenario);
            st.store.pod_grace = !st.scenario.pod_termination.is_zero();
        }
        self.shared.kick();
    }

    /// Switches the metrics.k8s.io API on or off.
    pub fn set_metrics(&self, on: bool) {
        self.state().store.metrics_api = on;
        self.shared.kick();
    }

    /// Installs (true) or removes (false) Kong's CRDs, and so the configuration.konghq.com group.
    pub fn set_kong_crds(&self, installed: bool) {
        {
            let mut st = self.state();
            let rt = st
                .store
                .type_for("apiextensions.k8s.io", "customresourcedefinitions")
                .unwrap();
            for c in resources::kong_crds() {
                let name = c["metadata"]["name"].as_str().unwrap().to_string();
                let present = st.store.get(&rt, "", &name).is_some();
                if installed && !present {
                    st.store
                        .create(&rt, "", c, &store::Writer::update("fake-bootstrap"))
                        .unwrap();
                } else if !installed && present {
                    st.store.delete(&rt, "", &name, None, None, None).unwrap();
                }
            }
        }
        self.shared.notify();
    }

    /// Appends a line to a container's log, as written by its latest run (followers see it).
    pub fn append_log(&self, namespace: &str, pod: &str, container: &str, line: &str) {
        self.append_log_aged(namespace, pod, container, line, Duration::ZERO);
    }

    /// As [`Self::append_log`], with the line's timestamp `age` in the past (for `sinceSeconds`).
    pub fn append_log_aged(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        line: &str,
        age: Duration,
    ) {
        {
            let mut st = self.state();
            let e = st
                .logs
                .entry((namespace.into(), pod.into(), container.into()))
                .or_default();
            let run = e.iter().map(|l| l.run).max().unwrap_or(0);
            e.push(LogLine {
                time: time::OffsetDateTime::now_utc() - age,
                text: line.into(),
                run,
            });
        }
        self.shared.kick();
    }

    /// Waits (woken by each change, no polling) until `pred` holds; false on timeout.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&FakeApiServer) -> bool,
    ) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if pred(self) {
                return true;
            }
            let now = Instant::now();
            if now >= end {
                return false;
            }
            let g = self.shared.state.lock().unwrap();
            // Bounded so that a change between pred and the wait is not missed for long.
            let _ = self
                .shared
                .cv
                .wait_timeout(g, (end - now).min(Duration::from_millis(50)))
                .unwrap();
        }
    }

    /// `wait_until` for async tests (does not block the test's runtime).
    pub async fn wait_until_async(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&FakeApiServer) -> bool,
    ) -> bool {
        let mut rx = self.shared.changed.subscribe();
        let end = tokio::time::Instant::now() + timeout;
        loop {
            if pred(self) {
                return true;
            }
            match tokio::time::timeout_at(end, rx.recv()).await {
                Err(_) => return pred(self),
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return pred(self),
                Ok(_) => {}
            }
        }
    }

    /// Waits until nothing changes for `window` (the controller has settled; no hot loop);
    /// false if that never happens within `timeout`.
    pub async fn wait_quiescent(&self, window: Duration, timeout: Duration) -> bool {
        let mut rx = self.shared.changed.subscribe();
        let end = tokio::time::Instant::now() + timeout;
        loop {
            let rv = self.resource_version();
            let until = (tokio::time::Instant::now() + window).min(end);
            let quiet = loop {
                match tokio::time::timeout_at(until, rx.recv()).await {
                    Err(_) => break true,
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => break true,
                    Ok(_) if self.resource_version() == rv => continue,
                    Ok(_) => break false,
                }
            };
            if quiet && self.resource_version() == rv && tokio::time::Instant::now() < end {
                return true;
            }
            if tokio::time::Instant::now() >= end {
                return false;
            }
        }
    }

    /// The pods of a Deployment (through its ReplicaSets) or StatefulSet/Job (direct owners).
    pub fn pods_of(&self, namespace: &str, workload: &str) -> Vec<Value> {
        let st = self.state();
        let owners = controller::owner_uids_for(&st.store, namespace, workload);
        let rt = st.store.type_for("", "pods").unwrap();
        st.store
            .list(&rt, namespace)
            .into_iter()
            .filter(|p| {
                p["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|r| {
                        r.iter()
                            .any(|o| owners.iter().any(|u| o["uid"] == u.as_str()))
                    })
            })
            .map(|p| store::Store::serve(&rt, &p))
            .collect()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Value helpers for tests.
pub fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Builds a minimal Deployment manifest (one container named `app`).
pub fn deployment(namespace: &str, name: &str, image: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8000}]}]}}}
    })
}
