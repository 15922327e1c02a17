//! [`ImageBackend`] for a real Docker daemon through bollard (Engine API 1.41, classic
//! builder). Streams are drained to the end: the daemon reports build and push errors inside
//! HTTP 200 responses.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, PushImageOptionsBuilder, RemoveImageOptionsBuilder,
    TagImageOptionsBuilder,
};
use bollard::{ClientVersion, Docker};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{BuildRequest, ImageBackend, ImageDetails, ImageError, RegistryAuth};

/// The Engine API version justpush speaks (Docker 20.10 and later).
pub const API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};
/// How long a single engine request may take (builds and pushes are long requests).
const REQUEST_TIMEOUT_SECS: u64 = 3600;
/// How long the daemon has to answer the first ping.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// A Docker daemon reached through `DOCKER_HOST` or the default socket.
pub struct DockerEngine {
    docker: Docker,
    endpoint: String,
}

impl DockerEngine {
    /// Connects (lazily: nothing is sent until [`ImageBackend::ping`]).
    pub fn connect() -> Result<DockerEngine, ImageError> {
        let endpoint = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
        let docker = if endpoint.starts_with("unix://") || endpoint.starts_with('/') {
            Docker::connect_with_socket(&endpoint, REQUEST_TIMEOUT_SECS, &API_VERSION)
        } else {
            Docker::connect_with_http(&endpoint, REQUEST_TIMEOUT_SECS, &API_VERSION)
        }
        .map_err(|e| ImageError::DaemonUnavailable {
            endpoint: endpoint.clone(),
            reason: e.to_string(),
        })?;
        Ok(DockerEngine { docker, endpoint })
    }

    /// The bollard client, for callers that need more than the trait (tests, `up`).
    pub fn client(&self) -> &Docker {
        &self.docker
    }
}

fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

fn message(e: bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message,
        bollard::errors::Error::DockerStreamError { error } => error,
        other => other.to_string(),
    }
}

#[async_trait::async_trait]
impl ImageBackend for DockerEngine {
    async fn ping(&self) -> Result<(), ImageError> {
        match tokio::time::timeout(PING_TIMEOUT, self.docker.ping()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ImageError::DaemonUnavailable {
                endpoint: self.endpoint.clone(),
                reason: e.to_string(),
            }),
            Err(_) => Err(ImageError::DaemonUnavailable {
                endpoint: self.endpoint.clone(),
                reason: format!("no answer within {} s", PING_TIMEOUT.as_secs()),
            }),
        }
    }

    async fn inspect(&self, reference: &str) -> Result<Option<ImageDetails>, ImageError> {
        match self.docker.inspect_image(reference).await {
            Ok(i) => {
                let config = i.config.unwrap_or_default();
                Ok(Some(ImageDetails {
                    id: i.id.unwrap_or_default(),
                    size: i.size.unwrap_or(0).max(0) as u64,
                    user: config.user.filter(|u| !u.is_empty()),
                    has_healthcheck: config
                        .healthcheck
                        .and_then(|h| h.test)
                        .is_some_and(|t| !t.is_empty() && t[0] != "NONE"),
                    labels: config.labels.unwrap_or_default().into_iter().collect(),
                    repo_tags: i.repo_tags.unwrap_or_default(),
                }))
            }
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(ImageError::engine(
                format!("inspecting image {reference}"),
                message(e),
            )),
        }
    }

    async fn build(
        &self,
        request: &BuildRequest,
        context: Vec<u8>,
        on_line: &(dyn for<'l> Fn(&'l str) + Send + Sync),
    ) -> Result<(), String> {
        let options = build_image_options(request);
        let mut stream = self.docker.build_image(
            options,
            None,
            Some(bollard::body_full(bytes::Bytes::from(context))),
        );
        let mut error = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream {
                        for line in text.split_inclusive('\n') {
                            on_line(line);
                        }
                    }
                    if let Some(status) = info.status {
                        on_line(&status);
                    }
                }
                Err(e) => {
                    error.get_or_insert(message(e));
                    // Keep draining: the daemon may still send lines (and must finish).
                }
            }
        }
        match error {
            Some(m) => Err(m),
            None => Ok(()),
        }
    }

    async fn remove(&self, reference: &str) -> Result<(), ImageError> {
        let options = RemoveImageOptionsBuilder::default().force(false).build();
        match self
            .docker
            .remove_image(reference, Some(options), None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(ImageError::engine(
                format!("removing image {reference}"),
                message(e),
            )),
        }
    }

    async fn tag(&self, source: &str, target: &str) -> Result<(), ImageError> {
        let (repo, tag) = split_reference(target);
        let options = TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        self.docker
            .tag_image(source, Some(options))
            .await
            .map_err(|e| ImageError::engine(format!("tagging {source} as {target}"), message(e)))
    }

    async fn push(&self, reference: &str, auth: &RegistryAuth) -> Result<(), String> {
        let (repo, tag) = split_reference(reference);
        let options = PushImageOptionsBuilder::default().tag(tag).build();
        let credentials = DockerCredentials {
            username: auth.username.clone(),
            password: auth.password.clone(),
            serveraddress: Some(repo.split('/').next().unwrap_or("").to_string()),
            ..Default::default()
        };
        let mut stream = self
            .docker
            .push_image(repo, Some(options), Some(credentials));
        let mut error = None;
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                error.get_or_insert(message(e));
            }
        }
        match error {
            Some(m) => Err(m),
            None => Ok(()),
        }
    }

    async fn node_has_image(&self, node: &str, reference: &str) -> bool {
        use bollard::exec::StartExecResults;
        let config = bollard::models::ExecConfig {
            cmd: Some(vec![
                "crictl".into(),
                "inspecti".into(),
                "-q".into(),
                reference.into(),
            ]),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let Ok(exec) = self.docker.create_exec(node, config).await else {
            return false;
        };
        if let Ok(StartExecResults::Attached { mut output, .. }) =
            self.docker.start_exec(&exec.id, None).await
        {
            while output.next().await.is_some() {}
        } else {
            return false;
        }
        self.docker
            .inspect_exec(&exec.id)
            .await
            .ok()
            .and_then(|i| i.exit_code)
            == Some(0)
    }

    fn prober(&self) -> Option<&dyn super::probe::run::ProbeEngine> {
        Some(self)
    }

    async fn export(&self, reference: &str, path: &Path) -> Result<(), ImageError> {
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(|e| ImageError::io(format!("creating {}", path.display()), e))?;
        let mut stream = self.docker.export_image(reference);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| ImageError::engine(format!("exporting {reference}"), message(e)))?;
            file.write_all(&chunk)
                .await
                .map_err(|e| ImageError::io(format!("writing {}", path.display()), e))?;
        }
        file.flush()
            .await
            .map_err(|e| ImageError::io(format!("writing {}", path.display()), e))
    }
}

/// The CFS period CPU quotas are expressed in (Docker's default, 100 ms).
const CPU_PERIOD_MICROS: i32 = 100_000;

/// The query of a build: the Dockerfile, tag, labels and build arguments, and the sandbox the
/// classic builder allows: memory (swap included, so none beyond it) and CPU limits on every
/// `RUN` container, intermediate containers always removed. The build API offers no
/// privileged mode, no host mounts and no pids limit; the network is the engine's default.
pub fn build_image_options(request: &BuildRequest) -> bollard::query_parameters::BuildImageOptions {
    let args: HashMap<String, String> = request.build_args.clone().into_iter().collect();
    let labels: HashMap<String, String> = request.labels.clone().into_iter().collect();
    let mut builder = BuildImageOptionsBuilder::default()
        .dockerfile(&request.dockerfile)
        .t(&request.reference)
        .nocache(request.no_cache)
        .rm(true)
        .forcerm(true)
        .buildargs(&args)
        .labels(&labels);
    if let Some(bytes) = request.limits.memory_bytes {
        let bytes = bytes.min(super::MAX_BUILD_MEMORY) as i32;
        builder = builder.memory(bytes).memswap(bytes);
    }
    if let Some(cpus) = request.limits.cpus {
        let quota = (cpus * f64::from(CPU_PERIOD_MICROS)).round() as i32;
        builder = builder
            .cpuperiod(CPU_PERIOD_MICROS)
            .cpuquota(quota.max(1000));
    }
    builder.build()
}

/// Splits `repo[:tag]` at the tag colon (not a registry port's colon).
pub fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rfind(':') {
        Some(i) if !reference[i + 1..].contains('/') => (&reference[..i], &reference[i + 1..]),
        _ => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::{build_image_options, split_reference};
    use crate::image::{BuildLimits, BuildRequest};

    fn request(limits: BuildLimits) -> BuildRequest {
        BuildRequest {
            reference: "justpush/api:abc".into(),
            dockerfile: "Dockerfile".into(),
            build_args: Default::default(),
            labels: Default::default(),
            no_cache: false,
            limits,
        }
    }

    #[test]
    fn builds_are_sent_with_memory_and_cpu_limits_by_default() {
        let o = build_image_options(&request(BuildLimits::default()));
        assert_eq!(
            o.memory,
            Some(i32::MAX),
            "2 GiB, the most the client can send"
        );
        assert_eq!(o.memswap, Some(i32::MAX), "no swap beyond the memory limit");
        assert_eq!(o.cpuperiod, Some(100_000));
        assert_eq!(o.cpuquota, Some(200_000), "2 CPUs");
        assert!(
            o.rm && o.forcerm,
            "intermediate containers are always removed"
        );
        assert_eq!(
            o.networkmode, None,
            "the engine's default network (package installs)"
        );
        assert_eq!(o.extrahosts, None);
    }

    #[test]
    fn chosen_limits_reach_the_query_and_none_means_unlimited() {
        let o = build_image_options(&request(BuildLimits {
            memory_bytes: Some(1 << 30),
            cpus: Some(0.5),
        }));
        assert_eq!(o.memory, Some(1 << 30));
        assert_eq!(o.memswap, Some(1 << 30));
        assert_eq!(o.cpuquota, Some(50_000));
        let o = build_image_options(&request(BuildLimits {
            memory_bytes: None,
            cpus: None,
        }));
        assert_eq!((o.memory, o.memswap, o.cpuquota), (None, None, None));
    }

    #[test]
    fn references_split_at_the_tag_not_the_port() {
        assert_eq!(split_reference("justpush/api:abc"), ("justpush/api", "abc"));
        assert_eq!(
            split_reference("127.0.0.1:5000/justpush/api:abc"),
            ("127.0.0.1:5000/justpush/api", "abc")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/api"),
            ("127.0.0.1:5000/api", "latest")
        );
    }
}
