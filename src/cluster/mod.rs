//! Local clusters: kind and Minikube, driven as external programs. What to run is decided by
//! pure functions (the kind config, the command lines); running them goes through
//! [`ToolRunner`], so tests use recording stand-ins on PATH and nothing else.

pub mod kong;

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The cluster and Minikube profile name justpush creates.
pub const CLUSTER_NAME: &str = "justpush";
/// Host ports the kind cluster maps to Kong's proxy NodePorts (HTTP, HTTPS).
pub const PROXY_HOST_PORTS: (u16, u16) = (8080, 8443);
/// NodePorts Kong's proxy Service uses inside the cluster.
pub const PROXY_NODE_PORTS: (u16, u16) = (30080, 30443);
/// The local registry container kind nodes pull from, and its host port.
pub const REGISTRY_NAME: &str = "kind-registry";
pub const REGISTRY_HOST_PORT: u16 = 5001;

/// Which local cluster tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Kind,
    Minikube,
}

impl Provider {
    pub fn binary(self) -> &'static str {
        match self {
            Provider::Kind => "kind",
            Provider::Minikube => "minikube",
        }
    }

    /// How to install the tool, for error messages.
    pub fn install_hint(self) -> &'static str {
        match self {
            Provider::Kind => "install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation), e.g. `go install sigs.k8s.io/kind@latest`, then run again",
            Provider::Minikube => "install minikube (https://minikube.sigs.k8s.io/docs/start/), then run again",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    #[error("{tool} is not installed (not found on PATH); {hint}")]
    ToolMissing { tool: String, hint: String },
    #[error("`{command}` failed (exit {code}): {stderr}")]
    CommandFailed {
        command: String,
        code: i32,
        stderr: String,
    },
    #[error(
        "`{command}` did not finish within {seconds} s; check that Docker is running and try again"
    )]
    Timeout { command: String, seconds: u64 },
    /// Stopped by Ctrl-C; the program was killed.
    #[error("`{command}` was interrupted (Ctrl-C)")]
    Interrupted { command: String },
    #[error("running `{command}`: {source}")]
    Io {
        command: String,
        source: std::io::Error,
    },
}

/// What a program printed.
#[derive(Debug, Clone, Default)]
pub struct ToolOutput {
    pub stdout: String,
    pub stderr: String,
}

/// Runs external programs (the shell's only door to kind, minikube and docker).
#[async_trait::async_trait(?Send)]
pub trait ToolRunner {
    /// Where a program is, or `None` when it is not on PATH.
    fn locate(&self, program: &str) -> Option<PathBuf>;
    /// Runs a program to completion within `timeout`; a non-zero exit is an error.
    fn run(
        &self,
        program: &str,
        args: &[String],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> Result<ToolOutput, ClusterError>;

    /// Runs a cleanup step that must finish even after Ctrl-C (deleting what an interrupted
    /// command half-made). Runners that honour an interrupt override it to ignore theirs.
    fn run_cleanup(
        &self,
        program: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<ToolOutput, ClusterError> {
        self.run(program, args, None, timeout)
    }

    /// [`ToolRunner::run`] (or [`ToolRunner::run_cleanup`] when `cleanup`) without blocking
    /// the async runtime: `kind create cluster` takes minutes, and the progress display must
    /// keep redrawing meanwhile. The default runs the blocking call (for stand-ins that
    /// answer at once).
    async fn run_async(
        &self,
        program: &str,
        args: &[String],
        timeout: Duration,
        cleanup: bool,
    ) -> Result<ToolOutput, ClusterError> {
        if cleanup {
            self.run_cleanup(program, args, timeout)
        } else {
            self.run(program, args, None, timeout)
        }
    }
}

/// Runs programs found on a search path: the process's PATH ([`SYSTEM_TOOLS`]), or a given one
/// (tests with stand-ins). With a `cancel` token it kills the program running when the token
/// fires: `kind create cluster` or `minikube start` take minutes, and a Ctrl-C must stop them
/// then, not when they are done. [`ToolRunner::run_cleanup`] ignores the token.
pub struct LocalTools {
    /// The search path; `None` is the process's PATH.
    path: Option<std::ffi::OsString>,
    cancel: Option<tokio_util::sync::CancellationToken>,
}

/// Programs on the process's PATH, run to their end.
pub const SYSTEM_TOOLS: LocalTools = LocalTools {
    path: None,
    cancel: None,
};

impl LocalTools {
    /// Programs on this search path instead of the process's.
    pub fn on_path(path: impl Into<std::ffi::OsString>) -> Self {
        LocalTools {
            path: Some(path.into()),
            cancel: None,
        }
    }

    /// The same programs, killed when `cancel` fires.
    pub fn cancelled_by(self, cancel: tokio_util::sync::CancellationToken) -> Self {
        LocalTools {
            cancel: Some(cancel),
            ..self
        }
    }
}

#[async_trait::async_trait(?Send)]
impl ToolRunner for LocalTools {
    fn locate(&self, program: &str) -> Option<PathBuf> {
        match &self.path {
            Some(p) => find_on_path(program, Some(p)),
            None => find_on_path(program, std::env::var_os("PATH").as_deref()),
        }
    }

    fn run(
        &self,
        program: &str,
        args: &[String],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> Result<ToolOutput, ClusterError> {
        run_located(self, program, args, stdin, timeout, self.cancel.as_ref())
    }

    fn run_cleanup(
        &self,
        program: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<ToolOutput, ClusterError> {
        run_located(self, program, args, None, timeout, None)
    }

    async fn run_async(
        &self,
        program: &str,
        args: &[String],
        timeout: Duration,
        cleanup: bool,
    ) -> Result<ToolOutput, ClusterError> {
        let cancel = if cleanup { None } else { self.cancel.as_ref() };
        run_located_async(self, program, args, timeout, cancel).await
    }
}

/// [`run_located`] on tokio's process support: the program runs while the runtime goes on,
/// and is killed (`kill_on_drop`) on the deadline or the interrupt.
async fn run_located_async(
    tools: &dyn ToolRunner,
    program: &str,
    args: &[String],
    timeout: Duration,
    cancel: Option<&tokio_util::sync::CancellationToken>,
) -> Result<ToolOutput, ClusterError> {
    let command = display_command(program, args);
    let path = locate_or_missing(tools, program)?;
    let child = tokio::process::Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ClusterError::Io {
            command: command.clone(),
            source,
        })?;
    let never = tokio_util::sync::CancellationToken::new();
    let cancel = cancel.unwrap_or(&never);
    // Dropping the wait drops the child, which kills it.
    let output = tokio::select! {
        out = child.wait_with_output() => out.map_err(|source| ClusterError::Io {
            command: command.clone(),
            source,
        })?,
        _ = tokio::time::sleep(timeout) => {
            return Err(ClusterError::Timeout { command, seconds: timeout.as_secs() })
        }
        _ = cancel.cancelled() => return Err(ClusterError::Interrupted { command }),
    };
    let out = ToolOutput {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    if output.status.success() {
        Ok(out)
    } else {
        Err(ClusterError::CommandFailed {
            command,
            code: output.status.code().unwrap_or(-1),
            stderr: out.stderr.trim().to_string(),
        })
    }
}

/// Where `program` is, or the error naming it and how to get it.
fn locate_or_missing(tools: &dyn ToolRunner, program: &str) -> Result<PathBuf, ClusterError> {
    tools
        .locate(program)
        .ok_or_else(|| ClusterError::ToolMissing {
            tool: program.to_string(),
            hint: format!("install {program} and run again"),
        })
}

fn run_located(
    tools: &dyn ToolRunner,
    program: &str,
    args: &[String],
    stdin: Option<&str>,
    timeout: Duration,
    cancel: Option<&tokio_util::sync::CancellationToken>,
) -> Result<ToolOutput, ClusterError> {
    let command = display_command(program, args);
    let path = locate_or_missing(tools, program)?;
    let mut child = Command::new(path)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ClusterError::Io {
            command: command.clone(),
            source,
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes())
            .map_err(|source| ClusterError::Io {
                command: command.clone(),
                source,
            })?;
    }
    // Read the pipes on threads so a chatty program cannot block on a full pipe while we
    // wait for it to exit.
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_t = std::thread::spawn(move || read_all(out_pipe.as_mut()));
    let err_t = std::thread::spawn(move || read_all(err_pipe.as_mut()));
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(|source| ClusterError::Io {
            command: command.clone(),
            source,
        })? {
            Some(s) => break s,
            None if cancel.is_some_and(|c| c.is_cancelled()) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ClusterError::Interrupted { command });
            }
            None if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ClusterError::Timeout {
                    command,
                    seconds: timeout.as_secs(),
                });
            }
            // A child process offers no event to wait on with a deadline in std; poll it (which
            // also notices a Ctrl-C within 20 ms).
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let out = ToolOutput {
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    };
    if status.success() {
        Ok(out)
    } else {
        Err(ClusterError::CommandFailed {
            command,
            code: status.code().unwrap_or(-1),
            stderr: out.stderr.trim().to_string(),
        })
    }
}

fn read_all<R: std::io::Read>(r: Option<&mut R>) -> String {
    let mut s = String::new();
    if let Some(r) = r {
        let _ = r.read_to_string(&mut s);
    }
    s
}

/// Looks a program up in a PATH value.
pub fn find_on_path(program: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path?)
        .map(|d| d.join(program))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

fn display_command(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The kind cluster config: Kong's proxy NodePorts mapped to the host, and containerd told to
/// read registry mirrors from `certs.d`, as kind's local-registry guide does.
pub fn kind_config() -> String {
    format!(
        r#"kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: {CLUSTER_NAME}
nodes:
  - role: control-plane
    extraPortMappings:
      - containerPort: {}
        hostPort: {}
        listenAddress: "127.0.0.1"
        protocol: TCP
      - containerPort: {}
        hostPort: {}
        listenAddress: "127.0.0.1"
        protocol: TCP
containerdConfigPatches:
  - |-
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "/etc/containerd/certs.d"
"#,
        PROXY_NODE_PORTS.0, PROXY_HOST_PORTS.0, PROXY_NODE_PORTS.1, PROXY_HOST_PORTS.1
    )
}

/// The containerd `hosts.toml` that sends `localhost:5001` pulls to the registry container.
pub fn registry_hosts_toml() -> String {
    format!("[host.\"http://{REGISTRY_NAME}:5000\"]\n")
}

/// The `local-registry-hosting` ConfigMap (KEP-1755) that tells tools where to push.
pub fn local_registry_hosting_configmap() -> String {
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:{REGISTRY_HOST_PORT}"
    help: "https://kind.sigs.k8s.io/docs/user/local-registry/"
"#
    )
}

/// Is the named cluster among `kind get clusters` output?
pub fn kind_has_cluster(list_output: &str, name: &str) -> bool {
    list_output.lines().any(|l| l.trim() == name)
}

/// Deletes justpush's cluster. Returns false when there was none.
pub fn delete_cluster(tools: &dyn ToolRunner, provider: Provider) -> Result<bool, ClusterError> {
    let bin = provider.binary();
    if tools.locate(bin).is_none() {
        return Err(ClusterError::ToolMissing {
            tool: bin.into(),
            hint: provider.install_hint().into(),
        });
    }
    let t = Duration::from_secs(180);
    match provider {
        Provider::Kind => {
            let list = tools.run(
                bin,
                &["get".into(), "clusters".into()],
                None,
                Duration::from_secs(30),
            )?;
            if !kind_has_cluster(&list.stdout, CLUSTER_NAME) {
                return Ok(false);
            }
            tools.run(bin, &delete_args(Provider::Kind), None, t)?;
            Ok(true)
        }
        Provider::Minikube => {
            let profiles = tools.run(
                bin,
                &["profile".into(), "list".into(), "-o".into(), "json".into()],
                None,
                Duration::from_secs(30),
            );
            let exists = match profiles {
                Ok(out) => minikube_has_profile(&out.stdout, CLUSTER_NAME),
                // minikube exits non-zero when there are no profiles at all.
                Err(ClusterError::CommandFailed { .. }) => false,
                Err(e) => return Err(e),
            };
            if !exists {
                return Ok(false);
            }
            tools.run(bin, &delete_args(Provider::Minikube), None, t)?;
            Ok(true)
        }
    }
}

/// The command line that deletes the cluster (kind) or profile (Minikube) justpush made.
pub fn delete_args(provider: Provider) -> Vec<String> {
    let args: &[&str] = match provider {
        Provider::Kind => &["delete", "cluster", "--name", CLUSTER_NAME],
        Provider::Minikube => &["delete", "-p", CLUSTER_NAME],
    };
    args.iter().map(|a| a.to_string()).collect()
}

/// Is the profile among `minikube profile list -o json` output?
pub fn minikube_has_profile(json: &str, name: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return false;
    };
    ["valid", "invalid"].iter().any(|k| {
        v.get(k).and_then(|a| a.as_array()).is_some_and(|a| {
            a.iter()
                .any(|p| p.get("Name").and_then(|n| n.as_str()) == Some(name))
        })
    })
}

/// Writes the kind config to a file next to the cache, for `kind create cluster --config`.
pub fn write_kind_config(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("kind-config.yaml");
    std::fs::write(&path, kind_config())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in program `waiter` that exits once `flag` exists (or after 10 s, failing).
    fn waiter(dir: &std::path::Path, flag: &std::path::Path) -> LocalTools {
        use std::os::unix::fs::PermissionsExt;
        let bin = dir.join("waiter");
        std::fs::write(
            &bin,
            format!(
                "#!/bin/sh\ni=0\nwhile [ ! -e '{}' ]; do i=$((i+1)); [ $i -gt 200 ] && exit 3; sleep 0.05; done\necho done\n",
                flag.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        LocalTools::on_path(dir.as_os_str().to_owned())
    }

    /// On a single-threaded runtime, the program waits for something another task does: a
    /// blocking run would never let that task run and would fail with exit 3.
    #[tokio::test(flavor = "current_thread")]
    async fn run_async_lets_the_runtime_go_on_while_the_program_runs() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("flag");
        let tools = waiter(dir.path(), &flag);
        let other = async {
            tokio::task::yield_now().await;
            std::fs::write(&flag, "").unwrap();
        };
        let (out, ()) = tokio::join!(
            tools.run_async("waiter", &[], Duration::from_secs(30), false),
            other
        );
        assert_eq!(out.unwrap().stdout.trim(), "done");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn run_async_kills_the_program_on_an_interrupt_or_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let never = dir.path().join("never");
        let cancel = tokio_util::sync::CancellationToken::new();
        let tools = waiter(dir.path(), &never).cancelled_by(cancel.clone());
        cancel.cancel();
        let e = tools
            .run_async("waiter", &[], Duration::from_secs(30), false)
            .await
            .unwrap_err();
        assert!(matches!(e, ClusterError::Interrupted { .. }), "{e}");
        // A cleanup step ignores the interrupt, and still has its deadline.
        let e = tools
            .run_async("waiter", &[], Duration::from_millis(200), true)
            .await
            .unwrap_err();
        assert!(matches!(e, ClusterError::Timeout { .. }), "{e}");
    }

    #[test]
    fn kind_config_maps_kong_ports_and_reads_registry_mirrors() {
        let v: serde_json::Value = serde_yaml::from_str(&kind_config()).unwrap();
        assert_eq!(v["name"], CLUSTER_NAME);
        let maps = &v["nodes"][0]["extraPortMappings"];
        assert_eq!(maps[0]["containerPort"], 30080);
        assert_eq!(maps[0]["hostPort"], 8080);
        assert_eq!(maps[0]["listenAddress"], "127.0.0.1");
        assert!(v["containerdConfigPatches"][0]
            .as_str()
            .unwrap()
            .contains("config_path = \"/etc/containerd/certs.d\""));
    }

    #[test]
    fn registry_hosting_configmap_names_the_push_address() {
        let v: serde_json::Value =
            serde_yaml::from_str(&local_registry_hosting_configmap()).unwrap();
        assert_eq!(v["metadata"]["namespace"], "kube-public");
        assert!(v["data"]["localRegistryHosting.v1"]
            .as_str()
            .unwrap()
            .contains("localhost:5001"));
        assert_eq!(
            registry_hosts_toml(),
            "[host.\"http://kind-registry:5000\"]\n"
        );
    }

    #[test]
    fn cluster_listings_are_parsed() {
        assert!(kind_has_cluster("kind\njustpush\n", "justpush"));
        assert!(!kind_has_cluster("justpush-old\n", "justpush"));
        assert!(minikube_has_profile(
            r#"{"invalid":[],"valid":[{"Name":"justpush"}]}"#,
            "justpush"
        ));
        assert!(!minikube_has_profile(
            r#"{"valid":[{"Name":"minikube"}]}"#,
            "justpush"
        ));
        assert!(!minikube_has_profile("not json", "justpush"));
    }
}
