//! The cluster side of a release: connecting (kubeconfig, context, namespace, short connect
//! timeout), server-side apply, release records, waiting by kstatus rules, leases, atomic
//! deploy with rollback, and the reads the management commands need. Pure logic lives in
//! `status`, `record` (encoding), `lease` (staleness) and `doctor`; the rest is a thin shell
//! over kube-rs.

pub mod action;
pub mod apply;
pub mod doctor;
pub mod kubeconfig;
pub mod lease;
pub mod manage;
pub mod record;
pub mod status;
pub mod wait;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::CliError;

/// How long connecting to the API server may take before a command gives up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the first request (the version probe) may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(6);

/// Why talking to the cluster failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeError {
    /// The kubeconfig is missing or unusable.
    #[error("{0}")]
    Config(String),
    /// The API server did not answer.
    #[error("cannot reach the Kubernetes API server {server} (context {context}, kubeconfig {kubeconfig}): {message}; check that the cluster is running (`kubectl cluster-info`), or create one with `kubectl justpush up`")]
    Unreachable {
        server: String,
        context: String,
        kubeconfig: String,
        message: String,
    },
    /// A request was refused or failed.
    #[error("{context}: {message}")]
    Api {
        context: String,
        message: String,
        /// HTTP status of an API error, if the server answered.
        code: Option<u16>,
    },
    /// Something else went wrong, described in full.
    #[error("{0}")]
    Other(String),
}

impl KubeError {
    /// An error from kube-rs while doing `context` (a phrase: "applying Deployment/api").
    pub fn api(context: impl Into<String>, e: kube::Error) -> KubeError {
        let (message, code) = match &e {
            kube::Error::Api(s) => (format!("{} ({})", s.message, s.code), Some(s.code)),
            other => (error_chain(other), None),
        };
        KubeError::Api {
            context: context.into(),
            message,
            code,
        }
    }

    /// HTTP status of an API error.
    pub fn code(&self) -> Option<u16> {
        match self {
            KubeError::Api { code, .. } => *code,
            _ => None,
        }
    }
}

impl From<KubeError> for CliError {
    fn from(e: KubeError) -> CliError {
        CliError::failed(e.to_string())
    }
}

/// A connected client and where it points.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    /// Namespace from `-n`, else the context's, else `default`.
    pub namespace: String,
    pub server: String,
    pub context: String,
    pub kubeconfig: String,
}

/// Which cluster to talk to: kubectl's global flags.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

/// A kube-rs configuration made from the kubeconfig and context a target names, and where it
/// points. The one place a kubeconfig becomes a client, for every command and stage.
pub struct ClientConfig {
    pub config: kube::Config,
    /// The API server, without credentials in the URL.
    pub server: String,
    /// The context used (the kubeconfig's current one unless chosen).
    pub context: String,
    /// The kubeconfig as shown in messages.
    pub kubeconfig: String,
}

impl ClientConfig {
    /// Reads the kubeconfig (`--kubeconfig`, else `$KUBECONFIG`'s files merged, else
    /// `~/.kube/config`) and makes the context's configuration; no request is made.
    pub async fn load(target: &Target) -> Result<ClientConfig, KubeError> {
        let path = target
            .kubeconfig
            .clone()
            .unwrap_or_else(kubeconfig::default_path);
        let shown = path.display().to_string();
        let listed = std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty());
        // `exists`, not `is_file`: a FIFO or a directory gets its own error from the reader.
        if (target.kubeconfig.is_some() || !listed) && !Path::new(&path).exists() {
            return Err(KubeError::Config(format!(
                "kubeconfig {shown} does not exist; pass --kubeconfig FILE, set KUBECONFIG, or create a cluster with `kubectl justpush up`"
            )));
        }
        let kc = kubeconfig::read(target.kubeconfig.as_deref())
            .map_err(|e| KubeError::Config(e.to_string()))?;
        let context = target
            .context
            .clone()
            .or_else(|| kc.current_context.clone())
            .unwrap_or_default();
        let config = Self::config_of(kc, target.context.as_deref(), &shown).await?;
        Ok(ClientConfig {
            server: kubeconfig::shown_server(&config.cluster_url.to_string()),
            config,
            context,
            kubeconfig: shown,
        })
    }

    /// A parsed kubeconfig's configuration for `context` (None: its current one), with the
    /// short connect timeout.
    pub async fn config_of(
        kc: kube::config::Kubeconfig,
        context: Option<&str>,
        shown: &str,
    ) -> Result<kube::Config, KubeError> {
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .map_err(|e| {
                KubeError::Config(format!(
                    "kubeconfig {shown}: {}; check the context (`kubectl config get-contexts`) or pass --context",
                    error_chain(&e)
                ))
            })?;
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        Ok(config)
    }

    /// The client (no request is made).
    pub fn client(&self) -> Result<kube::Client, KubeError> {
        client_of(self.config.clone(), &self.kubeconfig)
    }
}

/// A client from a configuration; `shown` names the kubeconfig in the error.
pub fn client_of(config: kube::Config, shown: &str) -> Result<kube::Client, KubeError> {
    kube::Client::try_from(config).map_err(|e| {
        KubeError::Config(format!(
            "kubeconfig {shown}: cannot build a client: {}",
            error_chain(&e)
        ))
    })
}

/// Connects using the kubeconfig and checks that the API server answers (within seconds).
pub async fn connect(target: &Target) -> Result<Cluster, KubeError> {
    let loaded = ClientConfig::load(target).await?;
    let namespace = target
        .namespace
        .clone()
        .unwrap_or_else(|| loaded.config.default_namespace.clone());
    let client = loaded.client()?;
    let ClientConfig {
        server,
        context,
        kubeconfig: shown,
        ..
    } = loaded;
    let unreachable = |message: String| KubeError::Unreachable {
        server: server.clone(),
        context: context.clone(),
        kubeconfig: shown.clone(),
        message,
    };
    match tokio::time::timeout(PROBE_TIMEOUT, client.apiserver_version()).await {
        Err(_) => {
            return Err(unreachable(format!(
                "no answer within {} s",
                PROBE_TIMEOUT.as_secs()
            )))
        }
        Ok(Err(kube::Error::Api(s))) if s.code == 401 || s.code == 403 => {
            return Err(KubeError::Config(format!(
                "the API server {server} refused the credentials of kubeconfig {shown} ({}): {}",
                s.code, s.message
            )))
        }
        // Any other API answer means the server is there (some servers hide /version).
        Ok(Err(kube::Error::Api(_))) => {}
        Ok(Err(e)) => return Err(unreachable(error_chain(&e))),
        Ok(Ok(_)) => {}
    }
    Ok(Cluster {
        client,
        namespace,
        server,
        context,
        kubeconfig: shown,
    })
}

/// An error with its causes, joined: hyper's "client error (Connect)" alone says little.
///
/// A failed kubeconfig exec plugin is described without what it printed on stdout and without
/// its arguments: kube-rs quotes both (its parse error shows the output's first line with a caret,
/// and a failed run shows the whole `Output`), and stdout is where the plugin puts the token.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    if let Some(safe) = exec_plugin_failure(e) {
        return safe;
    }
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        if let Some(safe) = exec_plugin_failure(c) {
            out.push_str(": ");
            out.push_str(&safe);
            return out;
        }
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

/// The words for an exec-plugin failure anywhere in an error chain, or None when `e` is not one.
fn exec_plugin_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    use kube::client::AuthError;
    let auth = match e.downcast_ref::<kube::Error>() {
        Some(kube::Error::Auth(a)) => a,
        Some(_) => return None,
        None => e.downcast_ref::<AuthError>()?,
    };
    match auth {
        AuthError::AuthExecParse(_) => Some(
            "the kubeconfig's exec plugin printed something that is not an ExecCredential \
             (not shown: it may hold a token); run the plugin's command yourself to see its output"
                .into(),
        ),
        AuthError::AuthExecRun { out, .. } => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            let shown: String = last.chars().filter(|c| !c.is_control()).take(300).collect();
            Some(format!(
                "the kubeconfig's exec plugin failed ({}){}; its output and arguments are not shown \
                 (they may hold a token): run the plugin's command yourself to see why",
                out.status,
                if shown.is_empty() { String::new() } else { format!(", its last error line: {shown}") }
            ))
        }
        _ => None,
    }
}

/// A tokio runtime for a command.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the async runtime: {e}")))
}
