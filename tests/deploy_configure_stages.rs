//! `up`'s Deploy and Configure stages (the real ones, without Docker) against the fake API
//! server:
//! - a component's OpenAPI document read from the running service (`openapi: {runtime: PATH}`)
//!   through the API server's service proxy, forwarded over real HTTP to a test-owned server
//!   standing for the pods, then turned into Kong routes as a second revision, cached per image;
//! - the gateway check naming the objects the Kong Ingress Controller refused (its Events), and
//!   `doctor` reporting them.

#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;
#[path = "support/http_stand_in.rs"]
mod http_stand_in;

use fake_apiserver::FakeApiServer;
use justpush::detect::config::AppConfig;
use justpush::pipeline::plan::AppPlan;
use justpush::pipeline::shell::KubeApi;
use justpush::pipeline::stages::{fetch_runtime_spec, KongGatewayCheck, KubeDeployer};
use justpush::pipeline::{
    Deployed, Deployer, GatewayConfigurer, KongState, PublishedImage, StageLog,
};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const NS: &str = "shop";
const SPEC: &str = include_str!("fixtures/openapi/fastapi-demo-backend.json");
const SPEC_PATH: &str = "/api/openapi.json";
const SERVICE: &str = "todo-justpush-api";

/// The todo app of the deploy scenarios (the api component's `openapi` is set per test).
fn app() -> AppConfig {
    AppConfig::from_yaml(
        include_str!("fixtures/apps/todo-justpush.yaml"),
        Path::new("justpush.yaml"),
    )
    .expect("the fixture app parses")
}

/// A server standing for the api pods: the spec at SPEC_PATH, a health answer at /api/health,
/// 404 elsewhere; counts requests.
fn pods_server() -> (String, Arc<AtomicUsize>) {
    pods_serving(SPEC)
}

/// [`pods_server`] serving `spec` as its OpenAPI document.
fn pods_serving(spec: &'static str) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move |req: axum::http::Request<axum::body::Body>| {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let ok = |body: &'static str| {
                axum::response::Response::builder()
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(body))
                    .unwrap()
            };
            if req.uri().path() == SPEC_PATH {
                ok(spec)
            } else if req.uri().path() == "/api/health" {
                ok("{\"status\":\"ok\"}")
            } else {
                axum::response::Response::builder()
                    .status(404)
                    .body(axum::body::Body::from("{\"detail\":\"Not Found\"}"))
                    .unwrap()
            }
        }
    });
    (http_stand_in::serve(app), hits)
}

struct Lines(Vec<String>);
impl StageLog for Lines {
    fn line(&mut self, m: &str) {
        self.0.push(m.to_string());
    }
}

fn plan(source: &Path) -> AppPlan {
    AppPlan {
        release: "todo".into(),
        namespace: NS.into(),
        source: source.to_path_buf(),
        components: vec![],
    }
}

fn images(api: &str) -> Vec<PublishedImage> {
    [("api", api), ("web", "todo/web:1")]
        .map(|(c, r)| PublishedImage {
            component: c.into(),
            reference: r.into(),
        })
        .to_vec()
}

/// The fake cluster, a client config for it, the project and the state directory of one test.
struct Fixture {
    server: FakeApiServer,
    kubeconfig: fake_apiserver::KubeconfigFile,
    api: KubeApi,
    src: tempfile::TempDir,
    state: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let server = FakeApiServer::start();
        let kubeconfig = server.kubeconfig_file();
        let api = KubeApi::new(Some(kubeconfig.path().to_path_buf()), None);
        Fixture {
            server,
            kubeconfig,
            api,
            src: tempfile::tempdir().unwrap(),
            state: tempfile::tempdir().unwrap(),
        }
    }

    /// `up`'s deploy stage, with the api component's spec served at `runtime_spec` (or none).
    fn deployer(&self, runtime_spec: Option<&str>) -> KubeDeployer<'_> {
        let mut app = app();
        app.components[1].openapi =
            runtime_spec.map(|p| justpush::detect::OpenApi::Runtime(p.into()));
        KubeDeployer {
            api: &self.api,
            app,
            timeout: Duration::from_secs(30),
            spec_cache: self.state.path().join("specs"),
            interrupt: Default::default(),
            abort: Default::default(),
            probed: Default::default(),
        }
    }

    /// Deploys `api_image` (and the web component), panicking with the log on failure.
    async fn deploy(
        &self,
        runtime_spec: Option<&str>,
        api_image: &str,
        log: &mut Lines,
    ) -> Deployed {
        match self
            .deployer(runtime_spec)
            .deploy(&plan(self.src.path()), &images(api_image), &[], log)
            .await
        {
            Ok(d) => d,
            Err(e) => panic!("{:?}\n{:?}", e.error, log.0),
        }
    }

    fn cached_spec(&self) -> std::path::PathBuf {
        self.state.path().join("specs/todo_api_1.openapi")
    }
}

/// The release's revisions, from its record Secrets.
fn revisions(server: &FakeApiServer) -> usize {
    server
        .objects_in("v1", "Secret", NS)
        .iter()
        .filter(|s| s["type"] == "justpush.dev/release.v1")
        .count()
}

/// Every path the release's Ingresses route, sorted.
fn ingress_paths(server: &FakeApiServer) -> Vec<String> {
    let mut paths: Vec<String> = server
        .objects_in("networking.k8s.io/v1", "Ingress", NS)
        .iter()
        .flat_map(|i| i["spec"]["rules"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["http"]["paths"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["path"].as_str().map(str::to_string))
        .collect();
    paths.sort();
    paths
}

fn api_service(server: &FakeApiServer) -> Value {
    server
        .objects_in("v1", "Service", NS)
        .into_iter()
        .find(|s| s["metadata"]["labels"]["app.kubernetes.io/component"] == "api")
        .expect("the api Service")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_reads_the_runtime_spec_through_the_service_proxy_and_routes_it() {
    let f = Fixture::new();
    let (upstream, hits) = pods_server();
    // The Service's name is the chart's `<release>-justpush-<component>`, known before it exists.
    f.server.proxy_service(NS, SERVICE, &upstream);

    let mut log = Lines(vec![]);
    let d = f.deploy(Some(SPEC_PATH), "todo/api:1", &mut log).await;
    assert!(
        log.0
            .iter()
            .any(|l| l == "api: read its OpenAPI document (/api/openapi.json)"),
        "{:?}",
        log.0
    );
    // Revision 1 with the chart's prefix route, revision 2 with the spec's routes.
    assert_eq!((d.revision, revisions(&f.server)), (2, 2));
    let paths = ingress_paths(&f.server);
    for p in ["/api/tasks", "/api/chat"] {
        assert!(paths.iter().any(|x| x.contains(p)), "{p} in {paths:?}");
    }
    // The request went through the API server's proxy subresource, by the Service's port.
    let port = api_service(&f.server)["spec"]["ports"][0]["port"].clone();
    let proxied: Vec<_> = f
        .server
        .requests()
        .into_iter()
        .filter(|r| r.subresource.as_deref() == Some("proxy"))
        .collect();
    assert_eq!(proxied.len(), 1, "{proxied:?}");
    assert_eq!(
        proxied[0].path,
        format!("/api/v1/namespaces/{NS}/services/{SERVICE}:{port}/proxy/api/openapi.json")
    );
    assert_eq!((proxied[0].code, hits.load(Ordering::SeqCst)), (200, 1));
    // Cached for this image: the next deploy of the same image needs one revision, no fetch.
    assert!(f.cached_spec().is_file());
    let d = f
        .deploy(Some(SPEC_PATH), "todo/api:1", &mut Lines(vec![]))
        .await;
    assert_eq!((d.revision, hits.load(Ordering::SeqCst)), (3, 1));
    assert_eq!(ingress_paths(&f.server), paths);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_that_cannot_be_read_keeps_the_prefix_route_with_a_warning() {
    let f = Fixture::new();
    // The service does not serve its spec where the config says (a wrong `runtime` path).
    let (upstream, hits) = pods_server();
    f.server.proxy_service(NS, SERVICE, &upstream);
    let mut log = Lines(vec![]);
    let deployed = f
        .deploy(Some("/docs/openapi.json"), "todo/api:1", &mut log)
        .await;
    assert_eq!((deployed.revision, revisions(&f.server)), (1, 1));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let warning = log
        .0
        .iter()
        .find(|l| l.contains("could not read its OpenAPI document"))
        .unwrap_or_else(|| panic!("{:?}", log.0));
    assert!(
        warning.contains("the service answered HTTP 404")
            && warning.contains("Not Found")
            && warning.contains("Kong keeps the prefix route"),
        "{warning}"
    );
    assert!(ingress_paths(&f.server)
        .iter()
        .all(|p| !p.contains("/api/tasks")));
    assert!(!f.cached_spec().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_runtime_spec_names_what_the_proxy_or_the_service_answered() {
    let f = Fixture::new();
    f.deploy(None, "todo/api:1", &mut Lines(vec![])).await;
    let (server, client) = (&f.server, f.server.client());

    // A component without a Service.
    let e = fetch_runtime_spec(&client, NS, "todo", "worker", SPEC_PATH)
        .await
        .unwrap_err();
    assert!(e.contains("no Service of component worker"), "{e}");
    let (upstream, _) = pods_server();
    server.proxy_service(NS, SERVICE, &upstream);
    // The service answers 404 for a path it does not serve.
    let e = fetch_runtime_spec(&client, NS, "todo", "api", "/openapi.json")
        .await
        .unwrap_err();
    assert!(e.contains("HTTP 404"), "{e}");
    // It answers, but not with an OpenAPI document.
    let e = fetch_runtime_spec(&client, NS, "todo", "api", "/api/health")
        .await
        .unwrap_err();
    assert!(e.contains("/api/health"), "{e}");
    // And the document itself, as served.
    let text = fetch_runtime_spec(&client, NS, "todo", "api", SPEC_PATH)
        .await
        .unwrap();
    assert_eq!(text, SPEC);
}

/// A gateway that answers 200 to everything: the key is not enforced (Kong kept its last
/// configuration because it refused the new one).
fn open_gateway() -> String {
    http_stand_in::serve(axum::Router::new().fallback(|| async { "ok" }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_check_and_doctor_name_what_kong_refused() {
    let f = Fixture::new();
    let deployed = f.deploy(None, "todo/api:1", &mut Lines(vec![])).await;
    let (server, api, kc) = (&f.server, &f.api, &f.kubeconfig);

    // The controller refuses one of the release's KongPlugins (and, long ago, something else).
    let plugin = server
        .objects_in("configuration.konghq.com/v1", "KongPlugin", NS)
        .into_iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .find(|n| n.contains("rate-limiting"))
        .expect("the release's rate-limiting KongPlugin");
    let events: kube::Api<k8s_openapi::api::core::v1::Event> =
        kube::Api::namespaced(server.client(), NS);
    let now = justpush::kube::record::now();
    for (name, kind, object, at) in [
        ("refused", "KongPlugin", plugin.as_str(), now.as_str()),
        (
            "stale",
            "KongPlugin",
            plugin.as_str(),
            "2020-01-01T00:00:00Z",
        ),
    ] {
        let e = serde_json::json!({
            "metadata": {"name": name, "namespace": NS},
            "involvedObject": {"kind": kind, "name": object, "namespace": NS,
                "apiVersion": "configuration.konghq.com/v1"},
            "reason": "KongConfigurationApplyFailed", "type": "Warning",
            "message": format!("{name}: invalid config.minute: expected an integer"),
            "lastTimestamp": at, "source": {"component": "kong-client"}
        });
        events
            .create(&Default::default(), &serde_json::from_value(e).unwrap())
            .await
            .unwrap();
    }

    let gateway = open_gateway();
    let check = KongGatewayCheck {
        api,
        app: app(),
        timeout: Duration::from_secs(2),
        gateway_url: Some(gateway.clone()),
    };
    let kong = KongState {
        version: "3.4.1".into(),
        installed_now: false,
        gateway_url: gateway,
    };
    let e = check
        .configure(&plan(f.src.path()), &deployed, &kong, &mut Lines(vec![]))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("200 without the key")
            && e.message.contains(&format!(
                "KongPlugin/{plugin}: Kong refused its configuration: refused: invalid config.minute"
            ))
            && !e.message.contains("stale:"),
        "{}",
        e.message
    );

    // doctor says the same, with what to do.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .arg("--kubeconfig")
        .arg(kc.path())
        .args(["-n", NS, "doctor", "--name", "todo", "-o", "json"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let findings: Value = serde_json::from_slice(&o.stdout).unwrap();
    let kong: Vec<&Value> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["problem"].as_str().unwrap().starts_with("Kong refused"))
        .collect();
    assert_eq!(kong.len(), 1, "{findings:#}");
    assert_eq!(kong[0]["object"], format!("KongPlugin/{plugin}"));
    assert_eq!(kong[0]["severity"], "critical");
}

/// A runtime spec the running app serves, asking Kong to run its code and leaving an
/// oidc-only operation Kong cannot check.
const HOSTILE_SPEC: &str = r#"{"openapi": "3.0.3", "info": {"title": "todo", "version": "1"},
  "paths": {"/api/tasks": {"get": {"operationId": "tasks",
    "x-kong-plugin-pre-function": {"config": {"access": ["os.execute('id')"]}},
    "responses": {"200": {"description": "ok"}}}}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_spec_asking_for_code_plugins_is_refused_and_nothing_of_it_is_applied() {
    let f = Fixture::new();
    let (upstream, hits) = pods_serving(HOSTILE_SPEC);
    f.server.proxy_service(NS, SERVICE, &upstream);
    let mut log = Lines(vec![]);
    let err = f
        .deployer(Some(SPEC_PATH))
        .deploy(&plan(f.src.path()), &images("todo/api:1"), &[], &mut log)
        .await
        .expect_err("the hostile runtime spec is refused");
    let message = format!("{:?}", err.error);
    assert!(
        message.contains("x-kong-plugin-pre-function")
            && message.contains("kong.allowPlugins")
            && message.contains("keeps revision 1"),
        "{message}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Revision 1 (the prefix routes) only; no KongPlugin runs the spec's code.
    assert_eq!(revisions(&f.server), 1);
    assert!(ingress_paths(&f.server)
        .iter()
        .all(|p| !p.contains("/api/tasks")));
    let plugins = f
        .server
        .objects_in("configuration.konghq.com/v1", "KongPlugin", NS);
    assert!(
        plugins.iter().all(|p| p["plugin"] != "pre-function"),
        "{plugins:?}"
    );
}

fn deployment(server: &FakeApiServer, component: &str) -> Value {
    server
        .objects_in("apps/v1", "Deployment", NS)
        .into_iter()
        .find(|d| d["metadata"]["labels"]["app.kubernetes.io/component"] == component)
        .unwrap_or_else(|| panic!("the {component} Deployment"))
}

/// What the build's probe found reaches the release: the port and health path it saw answer,
/// a TCP check for a component where no path answered, and the OpenAPI document it read from
/// the image, cached for the image so the first revision already has the spec's routes (no
/// second revision, no read through the service proxy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_probe_found_reaches_the_first_revision() {
    use justpush::image::probe::{HealthCheck, ProbeResult};
    let f = Fixture::new();
    let result = |port: u16, health: HealthCheck| ProbeResult {
        port,
        port_why: "listening".into(),
        health,
        openapi: None,
        tried: vec![],
        throwaway_secrets: vec![],
    };
    let deployer = f.deployer(Some(SPEC_PATH));
    {
        let mut probed = deployer.probed.lock().unwrap();
        probed.insert(
            "api".into(),
            (
                result(
                    8123,
                    HealthCheck::Http {
                        path: "/healthz".into(),
                        status: 200,
                        why: "probe".into(),
                    },
                ),
                Some(SPEC.to_string()),
            ),
        );
        probed.insert(
            "web".into(),
            (
                result(
                    3000,
                    HealthCheck::Tcp {
                        why: "probe".into(),
                    },
                ),
                None,
            ),
        );
    }
    let mut log = Lines(vec![]);
    let d = deployer
        .deploy(&plan(f.src.path()), &images("todo/api:1"), &[], &mut log)
        .await
        .unwrap_or_else(|e| panic!("{:?}\n{:?}", e.error, log.0));
    assert_eq!((d.revision, revisions(&f.server)), (1, 1), "{:?}", log.0);
    let paths = ingress_paths(&f.server);
    assert!(paths.iter().any(|p| p.contains("/api/tasks")), "{paths:?}");
    assert!(f.cached_spec().is_file());
    assert!(!f
        .server
        .requests()
        .iter()
        .any(|r| r.subresource.as_deref() == Some("proxy")));

    let api = &deployment(&f.server, "api")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(api["ports"][0]["containerPort"], 8123);
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert_eq!(api[probe]["httpGet"]["path"], "/healthz", "{probe}");
    }
    let web = &deployment(&f.server, "web")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        web["readinessProbe"]["tcpSocket"]["port"], "http",
        "{web:#}"
    );
    assert!(web["readinessProbe"].get("httpGet").is_none());
}
