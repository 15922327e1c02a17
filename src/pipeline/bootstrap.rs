//! Cluster and Kong bootstrap for `up`: the kind cluster with its local registry (or the
//! Minikube profile), Kong's chart fetched into the cache, rendered, applied and waited for.
//! Command lines and decisions are pure functions; the world is reached through
//! [`ToolRunner`] (kind, minikube), bollard (the registry container) and [`ClusterApi`]
//! (the Kubernetes API).

use super::plan::Target;
use super::{ClusterBootstrap, KongState, StageError, StageLog};
use crate::chart::manifest::Manifest;
use crate::chart::render::Capabilities;
use crate::cluster::kong::{self as kongchart, KONG_NAMESPACE, KONG_RELEASE};
use crate::cluster::{self, ClusterError, Provider, ToolRunner, CLUSTER_NAME};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::cluster::kong::KONG_CHART_VERSION;

/// Kong's chart repository (Helm repo with `index.yaml`); `$JUSTPUSH_KONG_CHART_REPO` overrides.
pub const KONG_CHART_REPO: &str = "https://charts.konghq.com";
/// The Deployment Kong's chart creates for release `kong`.
pub const KONG_DEPLOYMENT: &str = "kong-kong";
/// How long Kong may take to become ready.
pub const KONG_READY_TIMEOUT: Duration = Duration::from_secs(300);

/// What `up` needs from the Kubernetes API during bootstrap.
#[async_trait(?Send)]
pub trait ClusterApi {
    /// Server-side applies manifests in the given order.
    async fn apply(
        &self,
        manifests: &[Manifest],
        default_namespace: Option<&str>,
        log: &mut dyn StageLog,
    ) -> Result<(), StageError>;
    /// A Deployment's labels, `None` when it does not exist.
    async fn deployment_labels(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, StageError>;
    /// Waits until the Deployment has all its replicas updated and available.
    async fn wait_deployment_ready(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<(), StageError>;
    /// The API groups/versions and kinds the server serves (for the chart's Capabilities).
    async fn capabilities(&self) -> Result<Capabilities, StageError>;
    /// A LoadBalancer Service's external address (IP or hostname), when it has one.
    async fn load_balancer_address(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, StageError>;
}

/// The proxy Service of Kong's chart for release `kong`.
pub const KONG_PROXY_SERVICE: &str = "kong-kong-proxy";

/// `kind create cluster` with justpush's config.
pub fn kind_create_args(config: &Path) -> Vec<String> {
    vec![
        "create".into(),
        "cluster".into(),
        "--name".into(),
        CLUSTER_NAME.into(),
        "--config".into(),
        config.display().to_string(),
        "--wait".into(),
        "120s".into(),
    ]
}

/// `kind get nodes` for justpush's cluster.
pub fn kind_nodes_args() -> Vec<String> {
    ["get", "nodes", "--name", CLUSTER_NAME]
        .map(String::from)
        .to_vec()
}

/// `minikube start` for justpush's profile on the docker driver.
pub fn minikube_start_args() -> Vec<String> {
    ["start", "-p", CLUSTER_NAME, "--driver=docker"]
        .map(String::from)
        .to_vec()
}

/// `minikube image load` of one image into justpush's profile.
pub fn minikube_load_args(image: &str) -> Vec<String> {
    vec![
        "-p".into(),
        CLUSTER_NAME.into(),
        "image".into(),
        "load".into(),
        image.into(),
    ]
}

/// The host and NodePort of Kong's proxy on Minikube.
pub fn minikube_gateway_url(ip_output: &str) -> Option<String> {
    let ip = ip_output.lines().next()?.trim();
    if ip.is_empty() {
        return None;
    }
    Some(format!("http://{ip}:{}", cluster::PROXY_NODE_PORTS.0))
}

/// The gateway on kind: the proxy NodePort mapped to localhost.
pub fn kind_gateway_url() -> String {
    format!("http://localhost:{}", cluster::PROXY_HOST_PORTS.0)
}

/// Is `minikube status -o json` saying the profile runs?
pub fn minikube_running(status_json: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(status_json)
        .ok()
        .is_some_and(|v| v["Host"] == "Running" && v["APIServer"] == "Running")
}

/// Which Kong chart version a Deployment was installed from (its `helm.sh/chart` label).
pub fn installed_kong_version(labels: &BTreeMap<String, String>) -> Option<String> {
    labels
        .get("helm.sh/chart")
        .and_then(|c| c.strip_prefix("kong-"))
        .map(str::to_string)
}

/// The cache directory: `$JUSTPUSH_CACHE_DIR`, else `$XDG_CACHE_HOME/justpush`, else
/// `~/.cache/justpush`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("JUSTPUSH_CACHE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(d).join("justpush");
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".cache/justpush")
}

/// The chart repository to download Kong's chart from.
pub fn kong_chart_repo() -> String {
    std::env::var("JUSTPUSH_KONG_CHART_REPO")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| KONG_CHART_REPO.into())
}

/// Where the pinned chart comes from, in words (for the dry-run plan).
pub fn kong_chart_source(flag: Option<&Path>, cache: &Path) -> String {
    match flag {
        Some(p) => format!("--kong-chart {}", p.display()),
        None => {
            let cached = kongchart::cached_chart_path(cache);
            if cached.exists() {
                format!("the cache ({})", cached.display())
            } else {
                format!(
                    "{} (downloaded into {})",
                    kong_chart_repo(),
                    cached.display()
                )
            }
        }
    }
}

/// The archive URL and sha256 of a chart version in a Helm repository `index.yaml`.
pub fn chart_url_from_index(
    index: &str,
    repo: &str,
    name: &str,
    version: &str,
) -> Result<(String, Option<String>), String> {
    let v: serde_yaml::Value = serde_yaml::from_str(index)
        .map_err(|e| format!("the repository index is not YAML: {e}"))?;
    let entries = v["entries"][name]
        .as_sequence()
        .ok_or_else(|| format!("the repository index has no chart named {name:?}"))?;
    let entry = entries
        .iter()
        .find(|e| e["version"].as_str() == Some(version))
        .ok_or_else(|| format!("the repository index has no {name} {version}"))?;
    let url = entry["urls"][0]
        .as_str()
        .ok_or_else(|| format!("{name} {version} has no download URL in the index"))?;
    let url = if url.starts_with("http://") || url.starts_with("https://") {
        url.to_string()
    } else {
        format!(
            "{}/{}",
            repo.trim_end_matches('/'),
            url.trim_start_matches('/')
        )
    };
    Ok((url, entry["digest"].as_str().map(str::to_string)))
}

/// Makes sure the pinned Kong chart is in the cache, downloading it from the repository's index
/// (digest checked) when it is not. Returns the archive path.
pub async fn ensure_kong_chart(cache: &Path, repo: &str) -> Result<PathBuf, StageError> {
    let path = kongchart::cached_chart_path(cache);
    if path.exists() {
        return Ok(path);
    }
    let offline = format!(
        "; to install offline pass --kong-chart DIR|TGZ (Kong's chart kong-{KONG_CHART_VERSION}.tgz from {KONG_CHART_REPO})"
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| StageError::new(format!("HTTP client: {e}")))?;
    let index_url = format!("{}/index.yaml", repo.trim_end_matches('/'));
    let get = |url: String| {
        let client = client.clone();
        let offline = offline.clone();
        async move {
            let resp = client
                .get(&url)
                .send()
                .await
                .map_err(|e| StageError::new(format!("downloading {url}: {e}{offline}")))?;
            if !resp.status().is_success() {
                return Err(StageError::new(format!(
                    "downloading {url}: HTTP {}{offline}",
                    resp.status()
                )));
            }
            resp.bytes()
                .await
                .map_err(|e| StageError::new(format!("downloading {url}: {e}{offline}")))
        }
    };
    let index = get(index_url.clone()).await?;
    let (url, digest) = chart_url_from_index(
        &String::from_utf8_lossy(&index),
        repo,
        "kong",
        KONG_CHART_VERSION,
    )
    .map_err(|e| StageError::new(format!("{index_url}: {e}{offline}")))?;
    let archive = get(url.clone()).await?;
    if let Some(want) = digest {
        let got: String = Sha256::digest(&archive)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if got != want {
            return Err(StageError::new(format!(
                "{url}: sha256 {got} does not match the repository index ({want}); nothing was cached{offline}"
            )));
        }
    }
    let dir = path.parent().unwrap_or(cache);
    std::fs::create_dir_all(dir)
        .map_err(|e| StageError::new(format!("creating {}: {e}", dir.display())))?;
    // Write then rename, so an interrupted download never leaves a broken cache entry.
    let tmp = path.with_extension("tgz.part");
    std::fs::write(&tmp, &archive)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| StageError::new(format!("writing {}: {e}", path.display())))?;
    Ok(path)
}

fn tool_err(e: ClusterError) -> StageError {
    StageError::new(e.to_string())
}

/// The real bootstrap: kind or Minikube through their CLIs, the registry through Docker,
/// Kong through the Kubernetes API.
pub struct LocalBootstrap<'a> {
    pub target: Target,
    pub tools: &'a dyn ToolRunner,
    pub state_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub kong_chart: Option<PathBuf>,
    /// `--gateway`: the URL to use instead of the one found.
    pub gateway_override: Option<String>,
    pub api: &'a dyn ClusterApi,
    /// The registry container side (kind only).
    pub registry: &'a dyn LocalRegistry,
}

/// The local registry container kind nodes pull from.
#[async_trait(?Send)]
pub trait LocalRegistry {
    /// Starts (or creates) the registry container and connects it to the `kind` network.
    async fn ensure(&self, log: &mut dyn StageLog) -> Result<(), StageError>;
    /// Writes the containerd `hosts.toml` for `localhost:5001` into a kind node.
    async fn configure_node(&self, node: &str) -> Result<(), StageError>;
}

/// `minikube status`'s exit code for a profile that does not exist (minikube's
/// `ExGuestNotFound`, with "Profile not found"), as against 7 and others for a stopped one.
const MINIKUBE_NO_PROFILE: i32 = 85;

impl LocalBootstrap<'_> {
    /// After `kind create cluster` or `minikube start` of a new cluster was interrupted,
    /// deletes what it made (a node container, a profile) so a Ctrl-C leaves nothing behind.
    /// A failure that is not an interrupt is left to the tool: kind removes its own nodes, and
    /// minikube's error names what to delete.
    async fn remove_half_made(&self, e: ClusterError, tool: &str, delete: &[String]) -> StageError {
        if !matches!(e, ClusterError::Interrupted { .. }) {
            return tool_err(e);
        }
        match self
            .tools
            .run_async(tool, delete, Duration::from_secs(180), true)
            .await
        {
            Ok(_) => StageError::new(format!(
                "{e}; the half-created cluster {CLUSTER_NAME} was deleted (`{tool} {}`)",
                delete.join(" ")
            )),
            Err(d) => StageError::new(format!(
                "{e}; deleting the half-created cluster failed ({d}): run `{tool} {}`",
                delete.join(" ")
            )),
        }
    }
}

#[async_trait(?Send)]
impl ClusterBootstrap for LocalBootstrap<'_> {
    async fn ensure_cluster(&self, log: &mut dyn StageLog) -> Result<String, StageError> {
        let long = Duration::from_secs(600);
        let short = Duration::from_secs(30);
        match &self.target {
            Target::Kind => {
                let list = self
                    .tools
                    .run_async("kind", &["get".into(), "clusters".into()], short, false)
                    .await
                    .map_err(tool_err)?;
                let existed = cluster::kind_has_cluster(&list.stdout, CLUSTER_NAME);
                if existed {
                    log.line("reusing kind cluster justpush");
                } else {
                    let config = cluster::write_kind_config(&self.state_dir)
                        .map_err(|e| StageError::new(format!("writing the kind config: {e}")))?;
                    log.line("creating kind cluster justpush (a minute or two)");
                    if let Err(e) = self
                        .tools
                        .run_async("kind", &kind_create_args(&config), long, false)
                        .await
                    {
                        return Err(self
                            .remove_half_made(e, "kind", &cluster::delete_args(Provider::Kind))
                            .await);
                    }
                }
                log.line("starting the local registry");
                self.registry.ensure(log).await?;
                let nodes = self
                    .tools
                    .run_async("kind", &kind_nodes_args(), short, false)
                    .await
                    .map_err(tool_err)?;
                for node in nodes
                    .stdout
                    .lines()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                {
                    self.registry.configure_node(node).await?;
                }
                let cm = crate::chart::manifest::split_documents(
                    &cluster::local_registry_hosting_configmap(),
                )
                .into_iter()
                .map(|text| Manifest {
                    source: "justpush/local-registry-hosting".into(),
                    text,
                    kind: "ConfigMap".into(),
                    name: "local-registry-hosting".into(),
                    hook: None,
                })
                .collect::<Vec<_>>();
                self.api.apply(&cm, None, log).await?;
                Ok(format!(
                    "kind cluster {CLUSTER_NAME} ({}), registry localhost:{}",
                    if existed { "reused" } else { "created" },
                    cluster::REGISTRY_HOST_PORT
                ))
            }
            Target::Minikube => {
                let status = self
                    .tools
                    .run_async(
                        "minikube",
                        &[
                            "status".into(),
                            "-p".into(),
                            CLUSTER_NAME.into(),
                            "-o".into(),
                            "json".into(),
                        ],
                        short,
                        false,
                    )
                    .await;
                // `minikube status` exits non-zero for a stopped or missing profile.
                let absent = matches!(
                    &status,
                    Err(ClusterError::CommandFailed { code, .. }) if *code == MINIKUBE_NO_PROFILE
                );
                let running = status.map(|o| minikube_running(&o.stdout)).unwrap_or(false);
                if running {
                    log.line("reusing Minikube profile justpush");
                } else {
                    log.line("starting Minikube profile justpush (a few minutes)");
                    if let Err(e) = self
                        .tools
                        .run_async("minikube", &minikube_start_args(), long, false)
                        .await
                    {
                        // A stopped profile the user had is theirs to keep; only one this run
                        // began is removed.
                        if absent {
                            return Err(self
                                .remove_half_made(
                                    e,
                                    "minikube",
                                    &cluster::delete_args(Provider::Minikube),
                                )
                                .await);
                        }
                        return Err(tool_err(e));
                    }
                }
                Ok(format!(
                    "Minikube profile {CLUSTER_NAME} ({})",
                    if running { "reused" } else { "started" }
                ))
            }
            Target::Current { context, .. } => Ok(format!("current context {context}")),
        }
    }

    async fn ensure_kong(&self, log: &mut dyn StageLog) -> Result<KongState, StageError> {
        let gateway_url = match &self.target {
            Target::Kind => kind_gateway_url(),
            Target::Minikube => {
                let out = self
                    .tools
                    .run_async(
                        "minikube",
                        &["-p".into(), CLUSTER_NAME.into(), "ip".into()],
                        Duration::from_secs(30),
                        false,
                    )
                    .await
                    .map_err(tool_err)?;
                minikube_gateway_url(&out.stdout).ok_or_else(|| {
                    StageError::new("`minikube ip` printed no address".to_string())
                })?
            }
            // Filled in below, once Kong's proxy Service exists.
            Target::Current { .. } => String::new(),
        };
        let installed = self
            .api
            .deployment_labels(KONG_NAMESPACE, KONG_DEPLOYMENT)
            .await?
            .as_ref()
            .and_then(installed_kong_version);
        if installed.as_deref() == Some(KONG_CHART_VERSION) {
            log.line("Kong is installed at the pinned version; checking it is ready");
            self.api
                .wait_deployment_ready(KONG_NAMESPACE, KONG_DEPLOYMENT, KONG_READY_TIMEOUT)
                .await?;
            return Ok(KongState {
                installed_now: false,
                version: KONG_CHART_VERSION.into(),
                gateway_url: self.current_gateway(gateway_url, log).await?,
            });
        }
        let chart_path = match &self.kong_chart {
            Some(p) => p.clone(),
            None => {
                log.line("fetching Kong's chart");
                ensure_kong_chart(&self.cache_dir, &kong_chart_repo()).await?
            }
        };
        let chart = kongchart::load_kong_chart(Some(&chart_path), &self.cache_dir)
            .map_err(|e| StageError::new(e.to_string()))?;
        let caps = self.api.capabilities().await?;
        let provider = self.target.provider().unwrap_or(Provider::Kind);
        let manifests = kongchart::kong_manifests(&chart, provider, &caps)
            .map_err(|e| StageError::new(format!("rendering Kong's chart: {e}")))?;
        log.line(&format!(
            "applying {} Kong objects (release {KONG_RELEASE})",
            manifests.len()
        ));
        self.api
            .apply(&manifests, Some(KONG_NAMESPACE), log)
            .await?;
        log.line("waiting for Kong to be ready");
        self.api
            .wait_deployment_ready(KONG_NAMESPACE, KONG_DEPLOYMENT, KONG_READY_TIMEOUT)
            .await?;
        Ok(KongState {
            installed_now: true,
            version: KONG_CHART_VERSION.into(),
            gateway_url: self.current_gateway(gateway_url, log).await?,
        })
    }
}

impl LocalBootstrap<'_> {
    /// On a cluster justpush did not create, the gateway is the proxy Service's load-balancer
    /// address; without one, the URL must be given (`--gateway`).
    async fn current_gateway(
        &self,
        known: String,
        log: &mut dyn StageLog,
    ) -> Result<String, StageError> {
        let Target::Current { context, .. } = &self.target else {
            return Ok(known);
        };
        if let Some(url) = &self.gateway_override {
            return Ok(url.clone());
        }
        match self
            .api
            .load_balancer_address(KONG_NAMESPACE, KONG_PROXY_SERVICE)
            .await?
        {
            Some(addr) => Ok(format!("http://{addr}")),
            None => {
                log.line(&format!(
                    "Service {KONG_NAMESPACE}/{KONG_PROXY_SERVICE} has no load-balancer address on {context}"
                ));
                Err(StageError::new(format!(
                    "Kong runs on {context}, but its proxy Service {KONG_NAMESPACE}/{KONG_PROXY_SERVICE} is a NodePort without an external address; pass --gateway URL (a node address and port 30080, or a load balancer in front of it)"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines() {
        assert_eq!(
            kind_create_args(Path::new("/s/kind-config.yaml")).join(" "),
            "create cluster --name justpush --config /s/kind-config.yaml --wait 120s"
        );
        assert_eq!(
            minikube_start_args().join(" "),
            "start -p justpush --driver=docker"
        );
        assert_eq!(
            minikube_load_args("justpush/demo-backend:j1").join(" "),
            "-p justpush image load justpush/demo-backend:j1"
        );
    }

    #[test]
    fn gateway_urls() {
        assert_eq!(kind_gateway_url(), "http://localhost:8080");
        assert_eq!(
            minikube_gateway_url("192.168.49.2\n").as_deref(),
            Some("http://192.168.49.2:30080")
        );
        assert_eq!(minikube_gateway_url("\n"), None);
    }

    #[test]
    fn kong_version_comes_from_the_chart_label() {
        let mut l = BTreeMap::new();
        assert_eq!(installed_kong_version(&l), None);
        l.insert("helm.sh/chart".into(), "kong-3.4.1".into());
        assert_eq!(installed_kong_version(&l).as_deref(), Some("3.4.1"));
    }

    #[test]
    fn minikube_status_is_read() {
        assert!(minikube_running(
            r#"{"Name":"justpush","Host":"Running","Kubelet":"Running","APIServer":"Running"}"#
        ));
        assert!(!minikube_running(
            r#"{"Host":"Stopped","APIServer":"Stopped"}"#
        ));
        assert!(!minikube_running("not json"));
    }

    #[test]
    fn chart_urls_are_read_from_the_index() {
        let index = "apiVersion: v1\nentries:\n  kong:\n  - version: 3.4.0\n    urls: [kong-3.4.0.tgz]\n  - version: 3.4.1\n    digest: abc\n    urls: [charts/kong-3.4.1.tgz]\n  ingress:\n  - version: 0.1.0\n    urls: [https://x/ingress.tgz]\n";
        assert_eq!(
            chart_url_from_index(index, "http://repo/", "kong", "3.4.1").unwrap(),
            (
                "http://repo/charts/kong-3.4.1.tgz".into(),
                Some("abc".into())
            )
        );
        assert_eq!(
            chart_url_from_index(index, "http://repo", "ingress", "0.1.0")
                .unwrap()
                .0,
            "https://x/ingress.tgz"
        );
        assert!(chart_url_from_index(index, "r", "kong", "9.9.9")
            .unwrap_err()
            .contains("no kong 9.9.9"));
    }
}
