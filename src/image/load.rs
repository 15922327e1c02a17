//! Loading built images into local clusters without a registry: kind takes an image archive
//! (exported through the Engine API), Minikube loads from the local daemon. The command lines
//! are pure functions; they run through the cluster module's [`ToolRunner`].

use std::path::Path;
use std::time::Duration;

use super::{ImageBackend, ImageError};
use crate::cluster::{ClusterError, Provider, ToolRunner};

/// How long loading one image may take.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// `kind load image-archive ARCHIVE --name CLUSTER`.
pub fn kind_load_args(archive: &Path, cluster: &str) -> Vec<String> {
    vec![
        "load".into(),
        "image-archive".into(),
        archive.display().to_string(),
        "--name".into(),
        cluster.into(),
    ]
}

/// `kind get nodes --name CLUSTER`.
pub fn kind_nodes_args(cluster: &str) -> Vec<String> {
    ["get", "nodes", "--name", cluster]
        .map(String::from)
        .to_vec()
}

/// Non-empty trimmed lines.
fn parse_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// `minikube image ls --format json -p PROFILE`.
pub fn minikube_list_args(profile: &str) -> Vec<String> {
    ["image", "ls", "--format", "json", "-p", profile]
        .map(String::from)
        .to_vec()
}

/// `minikube image load REFERENCE -p PROFILE`.
pub fn minikube_load_args(reference: &str, profile: &str) -> Vec<String> {
    vec![
        "image".into(),
        "load".into(),
        reference.into(),
        "-p".into(),
        profile.into(),
    ]
}

/// Whether `minikube image ls --format json` lists `reference` (tags appear with and without
/// the `docker.io/` prefix).
pub fn minikube_lists(json: &str, reference: &str) -> bool {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
        return false;
    };
    let wanted = [reference.to_string(), format!("docker.io/{reference}")];
    value.as_array().into_iter().flatten().any(|img| {
        img.get("repoTags")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str())
            .any(|t| wanted.iter().any(|w| w == t))
    })
}

fn tool_error(e: ClusterError) -> ImageError {
    ImageError::engine("loading the image into the cluster", e)
}

/// Loads `reference` into the cluster; returns `false` when the cluster had it already.
pub async fn load_image(
    backend: &dyn ImageBackend,
    tools: &dyn ToolRunner,
    provider: Provider,
    cluster: &str,
    reference: &str,
    work_dir: &Path,
) -> Result<bool, ImageError> {
    if tools.locate(provider.binary()).is_none() {
        return Err(tool_error(ClusterError::ToolMissing {
            tool: provider.binary().into(),
            hint: provider.install_hint().into(),
        }));
    }
    match provider {
        Provider::Kind => {
            // kind nodes are containers of this daemon: ask their containerd first.
            let nodes = tools
                .run_async("kind", &kind_nodes_args(cluster), LOAD_TIMEOUT, false)
                .await
                .map(|o| parse_lines(&o.stdout))
                .unwrap_or_default();
            if !nodes.is_empty() {
                let mut all = true;
                for node in &nodes {
                    if !backend.node_has_image(node, reference).await {
                        all = false;
                        break;
                    }
                }
                if all {
                    return Ok(false);
                }
            }
            std::fs::create_dir_all(work_dir)
                .map_err(|e| ImageError::io(format!("creating {}", work_dir.display()), e))?;
            let file = work_dir.join(format!("{}.tar", reference.replace(['/', ':'], "_")));
            backend.export(reference, &file).await?;
            let args = kind_load_args(&file, cluster);
            let result = tools
                .run_async("kind", &args, LOAD_TIMEOUT, false)
                .await
                .map_err(tool_error);
            let _ = std::fs::remove_file(&file);
            result?;
            Ok(true)
        }
        Provider::Minikube => {
            let listed = tools
                .run_async(
                    "minikube",
                    &minikube_list_args(cluster),
                    LOAD_TIMEOUT,
                    false,
                )
                .await
                .map_err(tool_error)?;
            if minikube_lists(&listed.stdout, reference) {
                return Ok(false);
            }
            tools
                .run_async(
                    "minikube",
                    &minikube_load_args(reference, cluster),
                    LOAD_TIMEOUT,
                    false,
                )
                .await
                .map_err(tool_error)?;
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines() {
        assert_eq!(
            kind_load_args(Path::new("/tmp/a.tar"), "justpush").join(" "),
            "load image-archive /tmp/a.tar --name justpush"
        );
        assert_eq!(
            minikube_load_args("justpush/api:abc", "justpush").join(" "),
            "image load justpush/api:abc -p justpush"
        );
        assert_eq!(
            minikube_list_args("justpush").join(" "),
            "image ls --format json -p justpush"
        );
    }

    #[test]
    fn minikube_listing_is_matched_with_and_without_docker_io() {
        let json = r#"[{"id":"1","repoTags":["docker.io/justpush/api:abc"]},{"id":"2","repoTags":["registry.k8s.io/pause:3.9"]}]"#;
        assert!(minikube_lists(json, "justpush/api:abc"));
        assert!(!minikube_lists(json, "justpush/api:def"));
        assert!(!minikube_lists("garbage", "justpush/api:abc"));
    }

    use crate::cluster::ToolOutput;
    use crate::image::{BuildRequest, ImageDetails, RegistryAuth};
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// Records command lines; answers `minikube image ls` with `listing`.
    struct Tools {
        calls: Mutex<Vec<String>>,
        listing: String,
        nodes: String,
    }

    impl ToolRunner for Tools {
        fn locate(&self, program: &str) -> Option<PathBuf> {
            Some(PathBuf::from(format!("/usr/bin/{program}")))
        }
        fn run(
            &self,
            program: &str,
            args: &[String],
            _: Option<&str>,
            _: Duration,
        ) -> Result<ToolOutput, ClusterError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("{program} {}", args.join(" ")));
            Ok(ToolOutput {
                stdout: match args.get(1).map(String::as_str) {
                    Some("ls") => self.listing.clone(),
                    Some("nodes") => self.nodes.clone(),
                    _ => String::new(),
                },
                stderr: String::new(),
            })
        }
    }

    /// Writes a marker file on export; kind nodes have `justpush/api:old`.
    struct Exporter;

    #[async_trait::async_trait]
    impl ImageBackend for Exporter {
        async fn ping(&self) -> Result<(), ImageError> {
            Ok(())
        }
        async fn inspect(&self, _: &str) -> Result<Option<ImageDetails>, ImageError> {
            Ok(None)
        }
        async fn build(
            &self,
            _: &BuildRequest,
            _: Vec<u8>,
            _: &(dyn for<'l> Fn(&'l str) + Send + Sync),
        ) -> Result<(), String> {
            Err("unused".into())
        }
        async fn remove(&self, _: &str) -> Result<(), ImageError> {
            Ok(())
        }
        async fn tag(&self, _: &str, _: &str) -> Result<(), ImageError> {
            Ok(())
        }
        async fn push(&self, _: &str, _: &RegistryAuth) -> Result<(), String> {
            Ok(())
        }
        async fn export(&self, _: &str, path: &Path) -> Result<(), ImageError> {
            std::fs::write(path, b"tar").map_err(|e| ImageError::io("export".into(), e))
        }
        async fn node_has_image(&self, node: &str, reference: &str) -> bool {
            node == "justpush-control-plane" && reference == "justpush/api:old"
        }
    }

    #[tokio::test]
    async fn kind_gets_an_exported_archive_and_minikube_skips_what_it_has() {
        let work = tempfile::tempdir().unwrap();
        let tools = Tools {
            calls: Mutex::new(Vec::new()),
            listing: r#"[{"repoTags":["docker.io/justpush/api:abc"]}]"#.into(),
            nodes: "justpush-control-plane\n".into(),
        };
        let loaded = load_image(
            &Exporter,
            &tools,
            Provider::Kind,
            "justpush",
            "justpush/api:abc",
            work.path(),
        )
        .await
        .unwrap();
        assert!(loaded);
        let archive = work.path().join("justpush_api_abc.tar");
        assert_eq!(
            tools.calls.lock().unwrap().clone(),
            [
                "kind get nodes --name justpush".to_string(),
                format!(
                    "kind load image-archive {} --name justpush",
                    archive.display()
                )
            ]
        );
        assert!(!archive.exists(), "the archive is removed after loading");
        tools.calls.lock().unwrap().clear();
        let loaded = load_image(
            &Exporter,
            &tools,
            Provider::Kind,
            "justpush",
            "justpush/api:old",
            work.path(),
        )
        .await
        .unwrap();
        assert!(!loaded, "the node had it");
        assert_eq!(
            tools.calls.lock().unwrap().len(),
            1,
            "only `kind get nodes` ran"
        );

        tools.calls.lock().unwrap().clear();
        let loaded = load_image(
            &Exporter,
            &tools,
            Provider::Minikube,
            "justpush",
            "justpush/api:abc",
            work.path(),
        )
        .await
        .unwrap();
        assert!(!loaded);
        assert_eq!(tools.calls.lock().unwrap().len(), 1, "only the listing ran");
        let loaded = load_image(
            &Exporter,
            &tools,
            Provider::Minikube,
            "justpush",
            "justpush/api:new",
            work.path(),
        )
        .await
        .unwrap();
        assert!(loaded);
        assert!(tools
            .calls
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .ends_with("image load justpush/api:new -p justpush"));
    }
}
