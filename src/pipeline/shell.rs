//! The thin I/O shell under bootstrap: [`KubeApi`] (kube-rs: server-side apply, Deployment
//! readiness by watch, discovery) and [`DockerRegistry`] (bollard: the `kind-registry`
//! container and the nodes' containerd `hosts.toml`).

use super::bootstrap::{ClusterApi, LocalRegistry};
use super::{StageError, StageLog};
use crate::chart::manifest::Manifest;
use crate::chart::render::Capabilities;
use crate::cluster::{self, REGISTRY_HOST_PORT, REGISTRY_NAME};
use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::OnceCell;

/// The field manager of every apply.
pub const FIELD_MANAGER: &str = "kubectl-justpush";

/// kube-rs over a kubeconfig context, connected on first use (kind writes the context while
/// the run is under way).
pub struct KubeApi {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    client: OnceCell<kube::Client>,
}

impl KubeApi {
    pub fn new(kubeconfig: Option<PathBuf>, context: Option<String>) -> Self {
        KubeApi {
            kubeconfig,
            context,
            client: OnceCell::new(),
        }
    }

    /// The client, connecting on first use.
    pub async fn client(&self) -> Result<kube::Client, StageError> {
        self.client
            .get_or_try_init(|| async {
                let target = crate::kube::Target {
                    kubeconfig: self.kubeconfig.clone(),
                    context: self.context.clone(),
                    namespace: None,
                };
                crate::kube::ClientConfig::load(&target)
                    .await
                    .and_then(|c| c.client())
                    .map_err(|e| StageError::new(e.to_string()))
            })
            .await
            .cloned()
    }
}

#[async_trait(?Send)]
impl ClusterApi for KubeApi {
    async fn apply(
        &self,
        manifests: &[Manifest],
        default_namespace: Option<&str>,
        log: &mut dyn StageLog,
    ) -> Result<(), StageError> {
        use serde_json::Value as J;
        let client = self.client().await?;
        let mut applier = crate::kube::apply::Applier::new(client);
        let err = |e: crate::kube::KubeError| StageError::new(e.to_string());
        let mut objects = Vec::new();
        for m in manifests {
            let mut obj: J = serde_yaml::from_str(&m.text).map_err(|e| {
                StageError::new(format!(
                    "{} ({} {}): not a Kubernetes object: {e}",
                    m.source, m.kind, m.name
                ))
            })?;
            let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
            let kind = obj["kind"].as_str().unwrap_or_default().to_string();
            if obj.pointer("/metadata/namespace").is_none()
                && applier
                    .is_namespaced(&api_version, &kind)
                    .await
                    .map_err(err)?
            {
                obj["metadata"]["namespace"] =
                    J::String(default_namespace.unwrap_or("default").to_string());
            }
            objects.push(obj);
        }
        // Objects of a namespace need it first.
        let mut namespaces: Vec<String> = objects
            .iter()
            .filter_map(|o| {
                o.pointer("/metadata/namespace")
                    .and_then(J::as_str)
                    .map(str::to_string)
            })
            .collect();
        namespaces.sort();
        namespaces.dedup();
        for ns in namespaces {
            let obj = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            applier.apply(&obj).await.map_err(err)?;
        }
        for obj in &objects {
            applier.apply(obj).await.map_err(err)?;
            log.line(&format!(
                "applied {} {}",
                obj["kind"].as_str().unwrap_or_default(),
                obj.pointer("/metadata/name")
                    .and_then(J::as_str)
                    .unwrap_or_default()
            ));
        }
        Ok(())
    }

    async fn deployment_labels(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, StageError> {
        let client = self.client().await?;
        let api: Api<Deployment> = Api::namespaced(client, namespace);
        api.get_opt(name)
            .await
            .map(|d| d.map(|d| d.metadata.labels.unwrap_or_default()))
            .map_err(|e| StageError::new(format!("reading Deployment {namespace}/{name}: {e}")))
    }

    async fn wait_deployment_ready(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<(), StageError> {
        let client = self.client().await?;
        let api: Api<Deployment> = Api::namespaced(client, namespace);
        let cond = kube::runtime::conditions::is_deployment_completed();
        tokio::time::timeout(timeout, kube::runtime::wait::await_condition(api, name, cond))
            .await
            .map_err(|_| {
                StageError::new(format!(
                    "Deployment {namespace}/{name} was not ready within {} s; look at `kubectl -n {namespace} describe deployment {name}` and its pods' events",
                    timeout.as_secs()
                ))
            })?
            .map_err(|e| StageError::new(format!("watching Deployment {namespace}/{name}: {e}")))?;
        Ok(())
    }

    async fn load_balancer_address(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, StageError> {
        use k8s_openapi::api::core::v1::Service;
        let client = self.client().await?;
        let api: Api<Service> = Api::namespaced(client, namespace);
        let svc = api
            .get_opt(name)
            .await
            .map_err(|e| StageError::new(format!("reading Service {namespace}/{name}: {e}")))?;
        Ok(svc
            .and_then(|s| s.status)
            .and_then(|st| st.load_balancer)
            .and_then(|lb| lb.ingress)
            .and_then(|i| i.into_iter().next())
            .and_then(|i| i.hostname.or(i.ip)))
    }

    async fn capabilities(&self) -> Result<Capabilities, StageError> {
        let client = self.client().await?;
        let version = client
            .apiserver_version()
            .await
            .map_err(|e| StageError::new(format!("asking the API server its version: {e}")))?;
        let mut caps = Capabilities::with_kube_version(&version.git_version).unwrap_or_default();
        let discovery = kube::Discovery::new(client)
            .run()
            .await
            .map_err(|e| StageError::new(format!("API discovery: {e}")))?;
        for group in discovery.groups() {
            for (ar, _) in group.recommended_resources() {
                let gv = if ar.group.is_empty() {
                    ar.version.clone()
                } else {
                    format!("{}/{}", ar.group, ar.version)
                };
                caps.api_versions.push(format!("{gv}/{}", ar.kind));
                caps.api_versions.push(gv);
            }
        }
        caps.api_versions.sort();
        caps.api_versions.dedup();
        Ok(caps)
    }
}

/// The registry image kind's guide runs.
pub const REGISTRY_IMAGE: &str = "registry:2";

/// The `kind-registry` container through the Docker Engine API.
pub struct DockerRegistry {
    pub docker: bollard::Docker,
    /// Container name (`kind-registry`).
    pub name: String,
    /// Image (`registry:2`) and, when the image's own command will not do, a command.
    pub image: String,
    pub cmd: Option<Vec<String>>,
    /// Host port on 127.0.0.1 for the registry's 5000 (`5001`).
    pub host_port: u16,
    /// The Docker network the nodes are on (`kind`).
    pub network: String,
}

impl DockerRegistry {
    /// The registry kind's local-registry guide runs.
    pub fn for_kind(docker: bollard::Docker) -> Self {
        DockerRegistry {
            docker,
            name: REGISTRY_NAME.into(),
            image: REGISTRY_IMAGE.into(),
            cmd: None,
            host_port: REGISTRY_HOST_PORT,
            network: "kind".into(),
        }
    }
}

#[async_trait(?Send)]
impl LocalRegistry for DockerRegistry {
    async fn ensure(&self, log: &mut dyn StageLog) -> Result<(), StageError> {
        use bollard::models::{
            ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest, PortBinding,
            RestartPolicy, RestartPolicyNameEnum,
        };
        use bollard::query_parameters::CreateContainerOptionsBuilder;
        let err = |what: &str, e: bollard::errors::Error| {
            StageError::new(format!("{what} registry container {}: {e}", self.name))
        };
        let existing = self.docker.inspect_container(&self.name, None).await;
        let info = match existing {
            Ok(i) => i,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                log.line(&format!(
                    "creating {} ({}) on 127.0.0.1:{}",
                    self.name, self.image, self.host_port
                ));
                let body = ContainerCreateBody {
                    image: Some(self.image.clone()),
                    cmd: self.cmd.clone(),
                    exposed_ports: Some(vec!["5000/tcp".to_string()]),
                    host_config: Some(HostConfig {
                        port_bindings: Some(
                            [(
                                "5000/tcp".to_string(),
                                Some(vec![PortBinding {
                                    host_ip: Some("127.0.0.1".into()),
                                    host_port: Some(self.host_port.to_string()),
                                }]),
                            )]
                            .into_iter()
                            .collect(),
                        ),
                        restart_policy: Some(RestartPolicy {
                            name: Some(RestartPolicyNameEnum::ALWAYS),
                            maximum_retry_count: None,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let opts = CreateContainerOptionsBuilder::new()
                    .name(&self.name)
                    .build();
                self.docker
                    .create_container(Some(opts), body)
                    .await
                    .map_err(|e| {
                        err(
                            &format!("creating (is the image {} pullable?)", self.image),
                            e,
                        )
                    })?;
                self.docker
                    .inspect_container(&self.name, None)
                    .await
                    .map_err(|e| err("inspecting", e))?
            }
            Err(e) => return Err(err("inspecting", e)),
        };
        let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        if !running {
            self.docker
                .start_container(&self.name, None)
                .await
                .map_err(|e| err("starting", e))?;
        }
        let on_kind = info
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .is_some_and(|n| n.contains_key(&self.network));
        if !on_kind {
            self.docker
                .connect_network(
                    &self.network,
                    NetworkConnectRequest {
                        container: self.name.clone(),
                        endpoint_config: Some(EndpointSettings::default()),
                    },
                )
                .await
                .map_err(|e| err("connecting to the `kind` network", e))?;
        }
        Ok(())
    }

    async fn configure_node(&self, node: &str) -> Result<(), StageError> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        use futures::StreamExt;
        let dir = format!("/etc/containerd/certs.d/localhost:{}", self.host_port);
        let script = format!(
            "mkdir -p '{dir}' && printf '%s' '{}' > '{dir}/hosts.toml'",
            cluster::registry_hosts_toml()
        );
        let exec = self
            .docker
            .create_exec(
                node,
                CreateExecOptions {
                    cmd: Some(vec!["sh".to_string(), "-c".to_string(), script]),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| StageError::new(format!("configuring node {node}: {e}")))?;
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| StageError::new(format!("configuring node {node}: {e}")))?
        {
            while output.next().await.is_some() {}
        }
        let done = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| StageError::new(format!("configuring node {node}: {e}")))?;
        match done.exit_code {
            Some(0) => Ok(()),
            code => Err(StageError::new(format!(
                "writing {dir}/hosts.toml in node {node} exited with {code:?}"
            ))),
        }
    }
}
