//! `verify`: the regression suite (OpenAPI-driven, through the gateway) and the pod-restart
//! suite (pods deleted under load), as a table, JUnit XML on request, exit 1 on any failure.

use super::GlobalFlags;
use crate::error::CliError;
use crate::output::{Format, Shell};
use crate::pipeline::ApiKey;
use crate::verify::{self, regression, restart, spec, CaseResult};
use async_trait::async_trait;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    Regression,
    Restart,
    All,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Which suite to run.
    #[arg(long, value_enum, default_value_t = Suite::Regression)]
    pub suite: Suite,
    /// Also write the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// The gateway's base URL (default: the one the last `up` printed).
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// The OpenAPI spec: a file, or a URL (default: GATEWAY/api/openapi.json, then GATEWAY/openapi.json, with the key).
    #[arg(long, value_name = "SPEC")]
    pub spec: Option<String>,
    /// A file holding the API key (default: $JUSTPUSH_API_KEY, else the release's credential
    /// Secret when the cluster is reachable). Never passed on the command line.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// The header the key is sent in.
    #[arg(long, default_value = "apikey")]
    pub key_header: String,
    /// The release to restart pods of (default: the last `up`'s release).
    #[arg(long)]
    pub release: Option<String>,
    /// Interval between load requests in the restart suite, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub load_interval_ms: u64,
}

/// What `up` remembers for `verify` and `status` (no secrets).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LastRun {
    pub release: String,
    pub namespace: String,
    pub gateway: String,
    pub context: Option<String>,
}

pub fn last_run_path() -> PathBuf {
    crate::pipeline::progress::state_dir().join("last-run.json")
}

fn read_last_run() -> Option<LastRun> {
    std::fs::read_to_string(last_run_path())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

fn api_key(args: &VerifyArgs) -> Result<ApiKey, CliError> {
    if let Some(f) = &args.api_key_file {
        let k = crate::input::read_text(f, "--api-key-file", crate::input::MAX_CONFIG_BYTES)
            .map_err(|e| CliError::usage(format!("{e}; pass a file that holds the key")))?;
        return Ok(ApiKey::new(k.trim()));
    }
    match std::env::var("JUSTPUSH_API_KEY") {
        Ok(k) if !k.trim().is_empty() => Ok(ApiKey::new(k.trim())),
        _ => Err(CliError::usage(
            "no API key: set JUSTPUSH_API_KEY to the key `kubectl justpush up` printed, or pass --api-key-file FILE (with cluster access it is read from the release's credential Secret)",
        )),
    }
}

async fn load_spec(
    src: &str,
    key: &ApiKey,
    header: &str,
) -> Result<Vec<spec::Operation>, CliError> {
    let text = if src.starts_with("http://") || src.starts_with("https://") {
        let r = reqwest::Client::new()
            .get(src)
            .header(header, key.expose())
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(|e| {
                CliError::failed(format!("fetching the spec {src}: {e}; pass --spec FILE"))
            })?;
        if !r.status().is_success() {
            return Err(CliError::failed(format!(
                "fetching the spec {src}: HTTP {}; pass --spec FILE",
                r.status()
            )));
        }
        r.text()
            .await
            .map_err(|e| CliError::failed(e.to_string()))?
    } else {
        crate::input::read_text(
            std::path::Path::new(src),
            "--spec",
            crate::input::MAX_SPEC_BYTES,
        )
        .map_err(|e| CliError::usage(format!("{e}; pass the OpenAPI file or its URL")))?
    };
    spec::parse_spec(&text).map_err(|e| CliError::usage(format!("--spec {src}: {e}")))
}

/// The consumer's key from the release's credential Secret (label `konghq.com/credential`).
async fn consumer_key(ops: &restart::KubePodOps) -> Option<ApiKey> {
    use k8s_openapi::api::core::v1::Secret;
    let api: kube::Api<Secret> = kube::Api::namespaced(ops.client.clone(), &ops.namespace);
    let lp = kube::api::ListParams::default().labels(&format!(
        "konghq.com/credential,app.kubernetes.io/instance={}",
        ops.release
    ));
    let list = api.list(&lp).await.ok()?;
    list.items.iter().find_map(|s| {
        s.data
            .as_ref()?
            .get("key")
            .map(|b| ApiKey::new(String::from_utf8_lossy(&b.0).trim()))
    })
}

/// Restarts the backend's pods one by one through the pod operations.
struct PodsRestarter<'a> {
    ops: &'a restart::KubePodOps,
}

#[async_trait(?Send)]
impl regression::BackendRestarter for PodsRestarter<'_> {
    async fn restart_backend(&self) -> Result<String, String> {
        use restart::PodOps;
        let workloads = self.ops.workloads().await?;
        let backends: Vec<&restart::Workload> = {
            let named: Vec<&restart::Workload> = workloads
                .iter()
                .filter(|w| !w.database && w.name.ends_with("backend"))
                .collect();
            if named.is_empty() {
                workloads.iter().filter(|w| !w.database).collect()
            } else {
                named
            }
        };
        let mut done = Vec::new();
        for w in backends {
            for _ in 0..w.replicas.max(1) {
                let pod = self.ops.delete_one_pod(&w.name).await?;
                self.ops
                    .wait_recovered(&w.name, Some(&pod), restart::RECOVERY_TIMEOUT)
                    .await?;
                done.push(pod.name);
            }
        }
        Ok(format!("restarted pods {}", done.join(", ")))
    }
}

pub fn run_verify(
    args: &VerifyArgs,
    global: &GlobalFlags,
    shell: &mut Shell,
) -> Result<(), CliError> {
    let last = read_last_run();
    let gateway = args
        .gateway
        .clone()
        .or_else(|| last.as_ref().map(|l| l.gateway.clone()))
        .ok_or_else(|| {
            CliError::usage(
                "no gateway: pass --gateway URL (the URL `kubectl justpush up` printed)",
            )
        })?
        .trim_end_matches('/')
        .to_string();
    let explicit_key = api_key(args);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(e.to_string()))?;
    let results: Vec<CaseResult> = rt.block_on(async {
        let needs_cluster = args.suite != Suite::Regression;
        let release = args
            .release
            .clone()
            .or_else(|| last.as_ref().map(|l| l.release.clone()));
        let namespace = global
            .namespace
            .clone()
            .or_else(|| last.as_ref().map(|l| l.namespace.clone()))
            .or_else(|| release.clone());
        let context = global
            .context
            .clone()
            .or_else(|| last.as_ref().and_then(|l| l.context.clone()));
        let pod_ops = match (&release, &namespace) {
            (Some(r), Some(ns)) => {
                let api = crate::pipeline::shell::KubeApi::new(global.kubeconfig.clone(), context);
                match api.client().await {
                    Ok(client) => Some(restart::KubePodOps {
                        client,
                        namespace: ns.clone(),
                        release: r.clone(),
                    }),
                    Err(e) if needs_cluster => {
                        return Err(CliError::failed(format!(
                            "the restart suite needs the cluster: {e}"
                        )))
                    }
                    Err(_) => None,
                }
            }
            _ if needs_cluster => {
                return Err(CliError::usage(
                    "the restart suite needs the release: pass --release NAME (and -n NAMESPACE)",
                ))
            }
            _ => None,
        };
        let key = match explicit_key {
            Ok(k) => k,
            Err(e) => match &pod_ops {
                Some(p) => consumer_key(p).await.ok_or(e)?,
                None => return Err(e),
            },
        };
        let ops = match &args.spec {
            Some(src) => load_spec(src, &key, &args.key_header).await?,
            None => {
                // The demo backend serves its spec at both; behind Kong's prefix route only the
                // first is routed to it.
                let mut last = None;
                let mut found = None;
                for path in ["/api/openapi.json", "/openapi.json"] {
                    match load_spec(&format!("{gateway}{path}"), &key, &args.key_header).await {
                        Ok(o) => {
                            found = Some(o);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                match found {
                    Some(o) => o,
                    None => return Err(last.expect("tried at least one")),
                }
            }
        };
        let mut results = Vec::new();
        if args.suite != Suite::Restart {
            let restarter = pod_ops.as_ref().map(|ops| PodsRestarter { ops });
            let target = regression::Target {
                gateway: gateway.clone(),
                api_key: key.clone(),
                key_header: args.key_header.clone(),
                origin: gateway.clone(),
            };
            results.extend(
                regression::run(
                    target,
                    &ops,
                    restarter
                        .as_ref()
                        .map(|r| r as &dyn regression::BackendRestarter),
                )
                .await,
            );
        }
        if args.suite != Suite::Regression {
            let ops_k = pod_ops.as_ref().expect("checked above");
            let probe_path = ops
                .iter()
                .find(|o| o.method == "GET" && o.path_params.is_empty() && o.secured)
                .or_else(|| {
                    ops.iter()
                        .find(|o| o.method == "GET" && o.path_params.is_empty())
                })
                .map(|o| o.path.clone())
                .unwrap_or_else(|| "/".into());
            let load = restart::Load {
                url: format!("{gateway}{probe_path}"),
                api_key: Some(key.clone()),
                key_header: args.key_header.clone(),
                interval: Duration::from_millis(args.load_interval_ms.max(10)),
            };
            let has_tasks = ops
                .iter()
                .any(|o| o.method == "POST" && o.path == "/api/tasks");
            let probe = restart::TaskProbe {
                gateway: gateway.clone(),
                api_key: key.clone(),
                key_header: args.key_header.clone(),
            };
            results.extend(
                restart::run(
                    ops_k,
                    &load,
                    has_tasks.then_some(&probe as &dyn restart::DataProbe),
                )
                .await,
            );
        }
        Ok::<_, CliError>(results)
    })?;
    report(shell, &results, args.junit.as_ref())
}

/// Shows results and maps failures to the exit code (shared with tests of the table form).
pub fn report(
    shell: &mut Shell,
    results: &[CaseResult],
    junit: Option<&PathBuf>,
) -> Result<(), CliError> {
    if let Some(f) = junit {
        std::fs::write(f, verify::junit_xml(results))
            .map_err(|e| CliError::failed(format!("writing --junit {}: {e}", f.display())))?;
    }
    match shell.format {
        Format::Text => shell.data(&verify::results_table(results)),
        _ => shell.structured(&results),
    }
    .map_err(CliError::io)?;
    if verify::any_failed(results) {
        let n = results
            .iter()
            .filter(|r| r.verdict == verify::Verdict::Failed)
            .count();
        return Err(CliError::failed(format!("verify: {n} check(s) failed")));
    }
    Ok(())
}
