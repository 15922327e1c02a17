//! Cluster and Kong bootstrap with recording stand-ins for kind and minikube (real processes on
//! a private search path), a recording registry and Kubernetes API, Kong's official chart
//! rendered for real, and the chart download from a test-owned Helm repository.

use async_trait::async_trait;
use justpush::chart::manifest::Manifest;
use justpush::chart::render::Capabilities;
use justpush::cluster::{LocalTools, ToolRunner};
use justpush::pipeline::bootstrap::{self, ClusterApi, LocalBootstrap, LocalRegistry};
use justpush::pipeline::plan::Target;
use justpush::pipeline::{ClusterBootstrap, StageError, StageLog};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn kong_chart_dir() -> PathBuf {
    std::env::var_os("JUSTPUSH_KONG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kong"))
        .join("chart-kong-3.4.1")
}

/// A stand-in: logs `name args` to `log`, copies a `--config FILE` next to it, answers the
/// listings given, and exits with `code` for commands matching `fail`.
fn stand_in(dir: &Path, name: &str, answers: &[(&str, &str)], fail: Option<(&str, &str)>) {
    let log = dir.join("calls.log");
    let mut cases = String::new();
    for (args, out) in answers {
        cases.push_str(&format!("  \"{args}\") printf '%s\\n' '{out}';;\n"));
    }
    let fail_case = match fail {
        Some((args, err)) => format!("  \"{args}\") echo '{err}' >&2; exit 1;;\n"),
        None => String::new(),
    };
    let script = format!(
        "#!/bin/sh\necho \"{name} $*\" >> '{log}'\nprev=''\nfor a in \"$@\"; do\n  if [ \"$prev\" = --config ]; then cp \"$a\" '{dir}/seen-config.yaml'; fi\n  prev=$a\ndone\ncase \"$*\" in\n{fail_case}{cases}esac\nexit 0\n",
        log = log.display(),
        dir = dir.display()
    );
    let p = dir.join(name);
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[derive(Default)]
struct Api {
    /// `helm.sh/chart` of Kong's Deployment, when one is installed.
    kong_chart_label: Option<String>,
    /// The proxy Service's load-balancer address.
    lb_address: Option<String>,
    applied: RefCell<Vec<(String, String, Option<String>)>>,
    waited: RefCell<Vec<String>>,
}

#[async_trait(?Send)]
impl ClusterApi for Api {
    async fn apply(
        &self,
        manifests: &[Manifest],
        _default_namespace: Option<&str>,
        _log: &mut dyn StageLog,
    ) -> Result<(), StageError> {
        for m in manifests {
            let v: serde_yaml::Value = serde_yaml::from_str(&m.text).unwrap();
            self.applied.borrow_mut().push((
                m.kind.clone(),
                m.name.clone(),
                v["metadata"]["namespace"].as_str().map(str::to_string),
            ));
        }
        Ok(())
    }
    async fn deployment_labels(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, StageError> {
        assert_eq!((ns, name), ("kong", "kong-kong"));
        Ok(self.kong_chart_label.as_ref().map(|l| {
            [("helm.sh/chart".to_string(), l.clone())]
                .into_iter()
                .collect()
        }))
    }
    async fn wait_deployment_ready(
        &self,
        ns: &str,
        name: &str,
        _t: Duration,
    ) -> Result<(), StageError> {
        self.waited.borrow_mut().push(format!("{ns}/{name}"));
        Ok(())
    }
    async fn load_balancer_address(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<String>, StageError> {
        assert_eq!((ns, name), ("kong", "kong-kong-proxy"));
        Ok(self.lb_address.clone())
    }
    async fn capabilities(&self) -> Result<Capabilities, StageError> {
        let mut caps = Capabilities::default();
        caps.api_versions.extend(
            [
                "networking.k8s.io/v1/IngressClass",
                "apiextensions.k8s.io/v1/CustomResourceDefinition",
                "policy/v1/PodDisruptionBudget",
            ]
            .map(String::from),
        );
        Ok(caps)
    }
}

#[derive(Default)]
struct Registry(RefCell<Vec<String>>);

#[async_trait(?Send)]
impl LocalRegistry for Registry {
    async fn ensure(&self, _log: &mut dyn StageLog) -> Result<(), StageError> {
        self.0.borrow_mut().push("ensure kind-registry".into());
        Ok(())
    }
    async fn configure_node(&self, node: &str) -> Result<(), StageError> {
        self.0.borrow_mut().push(format!("hosts.toml in {node}"));
        Ok(())
    }
}

struct Lines(Vec<String>);
impl StageLog for Lines {
    fn line(&mut self, m: &str) {
        self.0.push(m.to_string());
    }
}

fn bootstrap<'a>(
    target: Target,
    tools: &'a dyn ToolRunner,
    dir: &Path,
    api: &'a Api,
    reg: &'a Registry,
) -> LocalBootstrap<'a> {
    LocalBootstrap {
        target,
        tools,
        state_dir: dir.join("state"),
        cache_dir: dir.join("cache"),
        kong_chart: Some(kong_chart_dir()),
        gateway_override: None,
        api,
        registry: reg,
    }
}

#[tokio::test]
async fn kind_is_created_with_the_registry_wired_and_kong_installed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stand_in(
        d,
        "kind",
        &[
            ("get clusters", "kind"),
            ("get nodes --name justpush", "justpush-control-plane"),
        ],
        None,
    );
    let tools = LocalTools::on_path(d.as_os_str());
    let (api, reg) = (Api::default(), Registry::default());
    let b = bootstrap(Target::Kind, &tools, d, &api, &reg);
    let mut log = Lines(vec![]);
    let what = b.ensure_cluster(&mut log).await.unwrap();
    assert_eq!(
        what,
        "kind cluster justpush (created), registry localhost:5001"
    );
    let config = d.join("state/kind-config.yaml");
    assert_eq!(
        calls(d),
        vec![
            "kind get clusters".to_string(),
            format!(
                "kind create cluster --name justpush --config {} --wait 120s",
                config.display()
            ),
            "kind get nodes --name justpush".to_string(),
        ]
    );
    // The config kind received: Kong's proxy NodePorts on localhost, containerd's certs.d.
    let seen: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(d.join("seen-config.yaml")).unwrap())
            .unwrap();
    assert_eq!(seen["name"], "justpush");
    let maps = seen["nodes"][0]["extraPortMappings"].as_array().unwrap();
    let pairs: Vec<(i64, i64)> = maps
        .iter()
        .map(|m| {
            (
                m["containerPort"].as_i64().unwrap(),
                m["hostPort"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(pairs, vec![(30080, 8080), (30443, 8443)]);
    assert!(seen["containerdConfigPatches"][0]
        .as_str()
        .unwrap()
        .contains("/etc/containerd/certs.d"));
    assert_eq!(
        *reg.0.borrow(),
        vec![
            "ensure kind-registry",
            "hosts.toml in justpush-control-plane"
        ]
    );
    assert_eq!(
        api.applied.borrow()[0],
        (
            "ConfigMap".into(),
            "local-registry-hosting".into(),
            Some("kube-public".into())
        )
    );

    let kong = b.ensure_kong(&mut log).await.unwrap();
    assert!(kong.installed_now);
    assert_eq!(kong.version, "3.4.1");
    assert_eq!(kong.gateway_url, "http://localhost:8080");
    let applied = api.applied.borrow();
    let kong_objs = &applied[1..];
    let first_crd = kong_objs
        .iter()
        .position(|o| o.0 == "CustomResourceDefinition")
        .unwrap();
    let deploy = kong_objs
        .iter()
        .position(|o| o.0 == "Deployment" && o.1 == "kong-kong")
        .unwrap();
    assert!(first_crd < deploy, "CRDs before the Deployment");
    assert!(kong_objs
        .iter()
        .any(|o| o.0 == "Service" && o.1 == "kong-kong-proxy"));
    assert_eq!(*api.waited.borrow(), vec!["kong/kong-kong"]);
}

#[tokio::test]
async fn an_existing_cluster_and_the_same_kong_are_reused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stand_in(
        d,
        "kind",
        &[
            ("get clusters", "justpush"),
            ("get nodes --name justpush", "justpush-control-plane"),
        ],
        None,
    );
    let tools = LocalTools::on_path(d.as_os_str());
    let api = Api {
        kong_chart_label: Some("kong-3.4.1".into()),
        ..Default::default()
    };
    let reg = Registry::default();
    let b = bootstrap(Target::Kind, &tools, d, &api, &reg);
    let mut log = Lines(vec![]);
    assert!(b
        .ensure_cluster(&mut log)
        .await
        .unwrap()
        .contains("(reused)"));
    assert!(
        !calls(d).iter().any(|c| c.contains("create")),
        "{:?}",
        calls(d)
    );
    let kong = b.ensure_kong(&mut log).await.unwrap();
    assert!(!kong.installed_now);
    assert_eq!(api.applied.borrow().len(), 1, "only the registry ConfigMap");
    assert_eq!(
        *api.waited.borrow(),
        vec!["kong/kong-kong"],
        "still waits for it to be ready"
    );

    // Another version of Kong's chart is replaced by the pinned one.
    let older = Api {
        kong_chart_label: Some("kong-2.38.0".into()),
        ..Default::default()
    };
    let b = bootstrap(Target::Kind, &tools, d, &older, &reg);
    assert!(b.ensure_kong(&mut log).await.unwrap().installed_now);
    assert!(older.applied.borrow().iter().any(|o| o.1 == "kong-kong"));
}

#[tokio::test]
async fn minikube_is_started_with_the_docker_driver_and_its_ip_gives_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stand_in(
        d,
        "minikube",
        &[("-p justpush ip", "192.168.49.2")],
        Some((
            "status -p justpush -o json",
            "Profile \"justpush\" not found",
        )),
    );
    let tools = LocalTools::on_path(d.as_os_str());
    let (api, reg) = (Api::default(), Registry::default());
    let b = bootstrap(Target::Minikube, &tools, d, &api, &reg);
    let mut log = Lines(vec![]);
    assert_eq!(
        b.ensure_cluster(&mut log).await.unwrap(),
        "Minikube profile justpush (started)"
    );
    let kong = b.ensure_kong(&mut log).await.unwrap();
    assert_eq!(kong.gateway_url, "http://192.168.49.2:30080");
    assert_eq!(
        calls(d),
        vec![
            "minikube status -p justpush -o json",
            "minikube start -p justpush --driver=docker",
            "minikube -p justpush ip",
        ]
    );
    assert!(reg.0.borrow().is_empty(), "no kind registry on Minikube");

    // A running profile is reused.
    let dir2 = tempfile::tempdir().unwrap();
    let d2 = dir2.path();
    stand_in(
        d2,
        "minikube",
        &[(
            "status -p justpush -o json",
            r#"{"Name":"justpush","Host":"Running","APIServer":"Running"}"#,
        )],
        None,
    );
    let tools2 = LocalTools::on_path(d2.as_os_str());
    let b = bootstrap(Target::Minikube, &tools2, d2, &api, &reg);
    assert!(b
        .ensure_cluster(&mut log)
        .await
        .unwrap()
        .contains("(reused)"));
    assert_eq!(calls(d2), vec!["minikube status -p justpush -o json"]);
}

#[tokio::test]
async fn a_failing_kind_create_reports_what_kind_said() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = d.join("state/kind-config.yaml");
    let create = format!(
        "create cluster --name justpush --config {} --wait 120s",
        config.display()
    );
    stand_in(
        d,
        "kind",
        &[("get clusters", "")],
        Some((
            &create,
            "ERROR: failed to create cluster: node(s) already exist for a cluster with the name",
        )),
    );
    let tools = LocalTools::on_path(d.as_os_str());
    let (api, reg) = (Api::default(), Registry::default());
    let b = bootstrap(Target::Kind, &tools, d, &api, &reg);
    let e = b.ensure_cluster(&mut Lines(vec![])).await.unwrap_err();
    assert!(
        e.message.contains("failed to create cluster"),
        "{}",
        e.message
    );
    assert!(e.message.contains("`kind create cluster"), "{}", e.message);
    assert!(reg.0.borrow().is_empty() && api.applied.borrow().is_empty());
}

/// A stand-in whose `hang` command runs until killed (a `kind create` or `minikube start`
/// taking minutes); `status` exits with `status_code`; everything else succeeds.
fn hanging_stand_in(dir: &Path, name: &str, hang: &str, status_code: i32) {
    let script = format!(
        "#!/bin/sh\necho \"{name} $*\" >> '{log}'\ncase \"$*\" in\n  *\"{hang}\"*) exec sleep 600;;\n  *status*) exit {status_code};;\nesac\nexit 0\n",
        log = dir.join("calls.log").display()
    );
    let p = dir.join(name);
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Cancels `token` once the stand-in has logged a call containing `what` (the long command
/// has started), as a Ctrl-C in the middle of it would.
fn cancel_when_called(dir: &Path, what: &str, token: tokio_util::sync::CancellationToken) {
    let (dir, what) = (dir.to_path_buf(), what.to_string());
    std::thread::spawn(move || {
        // The stand-in writes its log line before it hangs; a file has no change event to
        // wait on portably, so look every 20 ms.
        while !calls(&dir).iter().any(|c| c.contains(&what)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        token.cancel();
    });
}

#[tokio::test]
async fn ctrl_c_during_kind_create_kills_it_and_deletes_the_half_made_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    hanging_stand_in(d, "kind", "create cluster", 0);
    let cancel = tokio_util::sync::CancellationToken::new();
    let tools = LocalTools::on_path(d.as_os_str()).cancelled_by(cancel.clone());
    cancel_when_called(d, "create cluster", cancel);
    let (api, reg) = (Api::default(), Registry::default());
    let b = bootstrap(Target::Kind, &tools, d, &api, &reg);
    let e = b.ensure_cluster(&mut Lines(vec![])).await.unwrap_err();
    assert!(
        e.message.contains("was interrupted (Ctrl-C)")
            && e.message
                .contains("the half-created cluster justpush was deleted"),
        "{}",
        e.message
    );
    let calls = calls(d);
    assert_eq!(
        calls.last().map(String::as_str),
        Some("kind delete cluster --name justpush"),
        "{calls:?}"
    );
    // Nothing after the create: no registry, no nodes configured, nothing applied.
    assert!(reg.0.borrow().is_empty() && api.applied.borrow().is_empty());
}

#[tokio::test]
async fn ctrl_c_during_minikube_start_deletes_only_a_profile_this_run_began() {
    for (status_code, deleted) in [(85, true), (7, false)] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        hanging_stand_in(d, "minikube", "start", status_code);
        let cancel = tokio_util::sync::CancellationToken::new();
        let tools = LocalTools::on_path(d.as_os_str()).cancelled_by(cancel.clone());
        cancel_when_called(d, "start", cancel);
        let (api, reg) = (Api::default(), Registry::default());
        let b = bootstrap(Target::Minikube, &tools, d, &api, &reg);
        let e = b.ensure_cluster(&mut Lines(vec![])).await.unwrap_err();
        assert!(
            e.message.contains("was interrupted (Ctrl-C)"),
            "{}",
            e.message
        );
        let calls = calls(d);
        // 85: no such profile before the run; 7: a stopped profile of the user's, kept.
        assert_eq!(
            calls.iter().any(|c| c == "minikube delete -p justpush"),
            deleted,
            "status {status_code}: {calls:?}"
        );
        assert_eq!(e.message.contains("was deleted"), deleted, "{}", e.message);
    }
}

// ------------------------------------------------------------------------------------------
// The chart download from a Helm repository (index.yaml + archive) served by the test.

fn kong_tgz() -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    tar.append_dir_all("kong", kong_chart_dir()).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

async fn repo(index: String, archive: Vec<u8>) -> String {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/index.yaml", get(move || async move { index }))
        .route(
            "/charts/kong-3.4.1.tgz",
            get(move || async move { archive }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[tokio::test]
async fn kongs_chart_is_downloaded_checked_and_cached() {
    let archive = kong_tgz();
    let index = format!(
        "apiVersion: v1\nentries:\n  kong:\n  - name: kong\n    version: 3.4.1\n    digest: {}\n    urls: [charts/kong-3.4.1.tgz]\n",
        sha256(&archive)
    );
    let url = repo(index, archive.clone()).await;
    let cache = tempfile::tempdir().unwrap();
    let path = bootstrap::ensure_kong_chart(cache.path(), &url)
        .await
        .unwrap();
    assert_eq!(path, cache.path().join("charts/kong-3.4.1.tgz"));
    assert_eq!(std::fs::read(&path).unwrap(), archive);
    let chart = justpush::cluster::kong::load_kong_chart(None, cache.path()).unwrap();
    assert_eq!(
        (chart.name.as_str(), chart.version.as_str()),
        ("kong", "3.4.1")
    );
    // Cached: a dead repository no longer matters.
    assert_eq!(
        bootstrap::ensure_kong_chart(cache.path(), "http://127.0.0.1:9")
            .await
            .unwrap(),
        path
    );
}

#[tokio::test]
async fn a_tampered_or_missing_chart_is_refused_with_the_offline_hint() {
    let archive = kong_tgz();
    let index = "apiVersion: v1\nentries:\n  kong:\n  - version: 3.4.1\n    digest: 0000\n    urls: [charts/kong-3.4.1.tgz]\n".to_string();
    let url = repo(index, archive).await;
    let cache = tempfile::tempdir().unwrap();
    let e = bootstrap::ensure_kong_chart(cache.path(), &url)
        .await
        .unwrap_err();
    assert!(
        e.message.contains("does not match the repository index"),
        "{}",
        e.message
    );
    assert!(e.message.contains("--kong-chart"), "{}", e.message);
    assert!(!cache.path().join("charts/kong-3.4.1.tgz").exists());

    let e = bootstrap::ensure_kong_chart(cache.path(), "http://127.0.0.1:9")
        .await
        .unwrap_err();
    assert!(e.message.contains("--kong-chart DIR|TGZ"), "{}", e.message);
}

#[tokio::test]
async fn on_a_foreign_cluster_the_gateway_is_the_proxy_load_balancer_or_must_be_given() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tools = LocalTools::on_path(d.as_os_str());
    let reg = Registry::default();
    let target = Target::Current {
        context: "prod".into(),
        registry: "reg.example".into(),
    };
    let api = Api {
        lb_address: Some("203.0.113.7".into()),
        ..Default::default()
    };
    let b = bootstrap(target.clone(), &tools, d, &api, &reg);
    let mut log = Lines(vec![]);
    assert_eq!(
        b.ensure_cluster(&mut log).await.unwrap(),
        "current context prod"
    );
    assert_eq!(
        b.ensure_kong(&mut log).await.unwrap().gateway_url,
        "http://203.0.113.7"
    );
    assert!(
        calls(d).is_empty(),
        "no kind or minikube on a foreign cluster"
    );

    let no_lb = Api::default();
    let b = bootstrap(target.clone(), &tools, d, &no_lb, &reg);
    let e = b.ensure_kong(&mut log).await.unwrap_err();
    assert!(e.message.contains("pass --gateway URL"), "{}", e.message);

    let mut b = bootstrap(target, &tools, d, &no_lb, &reg);
    b.gateway_override = Some("http://10.0.0.5:30080".into());
    assert_eq!(
        b.ensure_kong(&mut log).await.unwrap().gateway_url,
        "http://10.0.0.5:30080"
    );
}
