//! [`ProbeEngine`] for a real Docker daemon: containers through bollard, the app asked over the
//! default bridge network (no published ports), listening sockets read from `/proc` of the
//! container's process when the daemon runs on this host.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StartContainerOptions,
};
use futures::StreamExt;

use super::run::{
    listening_from_proc, ContainerState, ProbeContainer, ProbeEngine, REQUEST_TIMEOUT,
};
use super::ImageFacts;
use crate::image::docker::DockerEngine;
use crate::image::ImageError;

/// The label every probe container carries (`docker ps -a --filter label=io.justpush.probe`).
pub const PROBE_LABEL: &str = "io.justpush.probe";
/// Memory of a probe container: generous for an app's start, bounded against a runaway one.
const PROBE_MEMORY: i64 = 1024 * 1024 * 1024;

fn engine_error(action: String, e: bollard::errors::Error) -> ImageError {
    let message = match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message,
        other => other.to_string(),
    };
    ImageError::engine(action, message)
}

/// Whether the daemon runs on this host (a unix socket): only then are its process ids ours
/// to read in `/proc`.
fn engine_is_local() -> bool {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .is_none_or(|h| h.starts_with("unix://") || h.starts_with('/'))
}

#[async_trait::async_trait]
impl ProbeEngine for DockerEngine {
    async fn image_facts(&self, image: &str) -> Result<ImageFacts, ImageError> {
        let i = self
            .client()
            .inspect_image(image)
            .await
            .map_err(|e| engine_error(format!("inspecting image {image}"), e))?;
        let config = i.config.unwrap_or_default();
        let mut exposed: Vec<u16> = config
            .exposed_ports
            .unwrap_or_default()
            .iter()
            .filter_map(|k| {
                let (port, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
                (proto == "tcp").then(|| port.parse().ok()).flatten()
            })
            .collect();
        exposed.sort_unstable();
        Ok(ImageFacts {
            exposed,
            entrypoint: config.entrypoint.unwrap_or_default(),
            cmd: config.cmd.unwrap_or_default(),
            env: config.env.unwrap_or_default(),
        })
    }

    async fn start(&self, c: &ProbeContainer) -> Result<String, ImageError> {
        // runc gives a tmpfs the mode of the image's directory it covers but not its owner,
        // so a writable path the Dockerfile chowned to the app user would come back root
        // 0755. The chart's emptyDir is writable by the pod's fsGroup; owning each tmpfs by
        // the container's user is the same promise here.
        let options = match tmpfs_owner(&c.user) {
            Some((uid, gid)) => format!("rw,nosuid,nodev,size=256m,uid={uid},gid={gid}"),
            None => "rw,nosuid,nodev,size=256m".to_string(),
        };
        let tmpfs: HashMap<String, String> = c
            .tmpfs
            .iter()
            .map(|p| (p.clone(), options.clone()))
            .collect();
        let env: Vec<String> = c.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let labels: HashMap<String, String> = [(PROBE_LABEL.to_string(), "1".to_string())].into();
        let body = ContainerCreateBody {
            image: Some(c.image.clone()),
            user: Some(c.user.clone()),
            env: Some(env),
            labels: Some(labels),
            host_config: Some(HostConfig {
                readonly_rootfs: Some(true),
                cap_drop: Some(vec!["ALL".to_string()]),
                security_opt: Some(vec!["no-new-privileges".to_string()]),
                tmpfs: Some(tmpfs),
                memory: Some(PROBE_MEMORY),
                memory_swap: Some(PROBE_MEMORY),
                pids_limit: Some(512),
                // The default bridge: the probe talks to the container's IP, nothing is
                // published on the host.
                network_mode: Some("bridge".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .client()
            .create_container(
                Some(
                    CreateContainerOptionsBuilder::default()
                        .name(&c.name)
                        .build(),
                ),
                body,
            )
            .await
            .map_err(|e| engine_error(format!("creating probe container {}", c.name), e))?;
        if let Err(e) = self
            .client()
            .start_container(&created.id, None::<StartContainerOptions>)
            .await
        {
            let _ = ProbeEngine::remove(self, &created.id).await;
            return Err(engine_error(
                format!("starting probe container {}", c.name),
                e,
            ));
        }
        Ok(created.id)
    }

    async fn state(&self, id: &str) -> Result<ContainerState, ImageError> {
        let d = self
            .client()
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| engine_error(format!("inspecting probe container {id}"), e))?;
        let state = d.state.unwrap_or_default();
        if state.running != Some(true) {
            return Ok(ContainerState::Exited {
                code: state.exit_code.unwrap_or(-1),
                oom_killed: state.oom_killed == Some(true),
            });
        }
        let ip = d
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|n| n.get("bridge").and_then(|b| b.ip_address.clone()))
            .unwrap_or_default();
        let pid = state
            .pid
            .filter(|p| *p > 0 && engine_is_local())
            .and_then(|p| u32::try_from(p).ok());
        Ok(ContainerState::Running { ip, pid })
    }

    async fn listening_ports(&self, pid: u32) -> Option<BTreeSet<u16>> {
        let mut all = BTreeSet::new();
        let mut readable = false;
        for table in ["tcp", "tcp6"] {
            if let Ok(text) = tokio::fs::read_to_string(format!("/proc/{pid}/net/{table}")).await {
                readable = true;
                all.extend(listening_from_proc(&text).0);
            }
        }
        readable.then_some(all)
    }

    async fn connects(&self, ip: &str, port: u16) -> bool {
        let connect = tokio::net::TcpStream::connect((ip, port));
        matches!(
            tokio::time::timeout(Duration::from_secs(2), connect).await,
            Ok(Ok(_))
        )
    }

    async fn get(
        &self,
        ip: &str,
        port: u16,
        path: &str,
        max_bytes: usize,
    ) -> Result<(u16, Vec<u8>), String> {
        // Like the kubelet: no redirects followed (a 3xx counts as healthy), a short timeout.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let url = format!("http://{ip}:{port}{path}");
        let res = client.get(&url).send().await.map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())
            } else if e.is_connect() {
                "connection refused".to_string()
            } else {
                "not an HTTP answer".to_string()
            }
        })?;
        let status = res.status().as_u16();
        let mut body = Vec::new();
        let mut stream = res.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { break };
            body.extend_from_slice(&chunk);
            // One byte over the bound is enough for the caller to refuse it.
            if body.len() > max_bytes {
                body.truncate(max_bytes + 1);
                break;
            }
        }
        Ok((status, body))
    }

    async fn logs(&self, id: &str, lines: usize) -> String {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut out = String::new();
        let mut stream = self.client().logs(id, Some(options));
        while let Some(Ok(chunk)) = stream.next().await {
            out.push_str(&chunk.to_string());
        }
        let out = out.trim_end().to_string();
        if out.is_empty() {
            "(the container wrote nothing)".into()
        } else {
            out
        }
    }

    async fn remove(&self, id: &str) -> Result<(), ImageError> {
        self.client()
            .remove_container(
                id,
                Some(RemoveContainerOptionsBuilder::default().force(true).build()),
            )
            .await
            .map_err(|e| engine_error(format!("removing probe container {id}"), e))
    }
}

/// The numeric `uid:gid` of a container user, for tmpfs ownership; a named user (which
/// the tmpfs options cannot take) gets none.
fn tmpfs_owner(user: &str) -> Option<(u32, u32)> {
    let (uid, gid) = user.split_once(':').unwrap_or((user, user));
    Some((uid.parse().ok()?, gid.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::tmpfs_owner;

    #[test]
    fn tmpfs_owner_takes_numeric_users_only() {
        assert_eq!(tmpfs_owner("10001:10001"), Some((10001, 10001)));
        assert_eq!(tmpfs_owner("10001"), Some((10001, 10001)));
        assert_eq!(tmpfs_owner("app:app"), None);
        assert_eq!(tmpfs_owner("10001:staff"), None);
    }
}
