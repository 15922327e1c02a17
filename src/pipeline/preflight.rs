//! Preflight: is Docker reachable, are kind / Minikube installed (and which versions), does the
//! kubeconfig's context answer — and from that, which cluster a run targets. The probes are
//! thin, read-only and bounded by short timeouts; [`decide`] is pure, so every combination is
//! tested without the tools.

use super::plan::Target;
use crate::cluster::{Provider, ToolRunner};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// `--cluster`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClusterChoice {
    Kind,
    Minikube,
    Current,
}

/// The Docker daemon, as probed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DockerProbe {
    Reachable { version: String },
    Unreachable { error: String },
}

/// The kubeconfig's context, as probed.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ContextProbe {
    /// The context in use (`--context`, else `current-context`); `None` without a kubeconfig.
    pub name: Option<String>,
    /// The API server's version when it answered.
    pub server_version: Option<String>,
    /// Why it did not answer (or why there is no context).
    pub error: Option<String>,
}

impl ContextProbe {
    pub fn answers(&self) -> bool {
        self.server_version.is_some()
    }
}

/// Everything preflight looked at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Findings {
    pub docker: DockerProbe,
    /// `kind version` output, `None` when kind is not on PATH.
    pub kind: Option<String>,
    /// `minikube version --short` output, `None` when not on PATH.
    pub minikube: Option<String>,
    pub context: ContextProbe,
}

/// Something that stops a run, and how to fix it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub what: String,
    pub fix: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; {}", self.what, self.fix)
    }
}

const DOCKER_HINT: &str = "start the Docker daemon (e.g. `sudo systemctl start docker`, or open Docker Desktop), or install Docker (https://docs.docker.com/engine/install/); set DOCKER_HOST if it listens elsewhere";

/// The context name kind gives the `justpush` cluster.
pub fn kind_context() -> String {
    format!("kind-{}", crate::cluster::CLUSTER_NAME)
}

/// Picks the target and lists what stops the run. An empty problem list means go.
pub fn decide(
    choice: Option<ClusterChoice>,
    registry: Option<&str>,
    f: &Findings,
) -> (Option<Target>, Vec<Problem>) {
    let mut problems = Vec::new();
    if let DockerProbe::Unreachable { error } = &f.docker {
        problems.push(Problem {
            what: format!("Docker is not reachable ({error})"),
            fix: DOCKER_HINT.into(),
        });
    }
    let tool = |p: Provider, found: &Option<String>, problems: &mut Vec<Problem>| {
        if found.is_none() {
            problems.push(Problem {
                what: format!("{} is not installed (not found on PATH)", p.binary()),
                fix: p.install_hint().into(),
            });
        }
    };
    let current = |problems: &mut Vec<Problem>| -> Option<Target> {
        let ctx = f.context.name.clone()?;
        if ctx == kind_context() {
            tool(Provider::Kind, &f.kind, problems);
            return Some(Target::Kind);
        }
        if ctx == crate::cluster::CLUSTER_NAME {
            tool(Provider::Minikube, &f.minikube, problems);
            return Some(Target::Minikube);
        }
        match registry {
            Some(r) => Some(Target::Current {
                context: ctx,
                registry: r.to_string(),
            }),
            None => {
                problems.push(Problem {
                    what: format!("the current context {ctx:?} is not a cluster justpush created, so there is no registry its nodes pull from"),
                    fix: "pass --registry HOST[/PREFIX] (a registry you can push to and the cluster can pull from), or --cluster kind / --cluster minikube for a local cluster".into(),
                });
                None
            }
        }
    };
    let target = match choice {
        Some(ClusterChoice::Kind) => {
            tool(Provider::Kind, &f.kind, &mut problems);
            Some(Target::Kind)
        }
        Some(ClusterChoice::Minikube) => {
            tool(Provider::Minikube, &f.minikube, &mut problems);
            Some(Target::Minikube)
        }
        Some(ClusterChoice::Current) => {
            if !f.context.answers() {
                let why = f
                    .context
                    .error
                    .clone()
                    .unwrap_or_else(|| "no answer".into());
                problems.push(Problem {
                    what: match &f.context.name {
                        Some(n) => format!("the current context {n:?} does not answer ({why})"),
                        None => format!("there is no current context ({why})"),
                    },
                    fix: "check `kubectl cluster-info`, pick another with --context, or use --cluster kind for a local cluster".into(),
                });
                None
            } else {
                current(&mut problems)
            }
        }
        None if f.context.answers() => current(&mut problems),
        None => {
            tool(Provider::Kind, &f.kind, &mut problems);
            Some(Target::Kind)
        }
    };
    (target, problems)
}

/// The demo backend installs from `backend/wheelhouse` (its uv.lock names no package index):
/// an empty wheelhouse would fail the build minutes in, so say it before anything starts.
pub fn demo_wheelhouse(demo_dir: &std::path::Path) -> Option<Problem> {
    let wheels = demo_dir.join("backend/wheelhouse");
    let has_wheels = std::fs::read_dir(&wheels)
        .map(|d| {
            d.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "whl"))
        })
        .unwrap_or(false);
    (!has_wheels).then(|| Problem {
        what: format!(
            "the demo backend's wheelhouse {} is empty (its uv.lock installs from there)",
            wheels.display()
        ),
        fix: format!(
            "run {} --runtime (pip downloads the pinned wheels, hash-checked), then run again",
            demo_dir.join("backend/fetch-wheels.sh").display()
        ),
    })
}

/// Runs the probes. `context` is `--context`; `kubeconfig` is `--kubeconfig` / `$KUBECONFIG`.
pub async fn probe(
    tools: &dyn ToolRunner,
    kubeconfig: Option<&PathBuf>,
    context: Option<&str>,
) -> Findings {
    let (docker, ctx) = tokio::join!(probe_docker(), probe_context(kubeconfig, context));
    Findings {
        docker,
        kind: tool_version(tools, "kind", &["version"]),
        minikube: tool_version(tools, "minikube", &["version", "--short"]),
        context: ctx,
    }
}

/// Docker's version through the Engine API (DOCKER_HOST honoured), within 5 s.
pub async fn probe_docker() -> DockerProbe {
    let engine = match crate::image::docker::DockerEngine::connect() {
        Ok(d) => d,
        Err(e) => {
            return DockerProbe::Unreachable {
                error: e.to_string(),
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(5), engine.client().version()).await {
        Ok(Ok(v)) => DockerProbe::Reachable {
            version: v.version.unwrap_or_else(|| "unknown".into()),
        },
        Ok(Err(e)) => DockerProbe::Unreachable {
            error: e.to_string(),
        },
        Err(_) => DockerProbe::Unreachable {
            error: "no answer within 5 s".into(),
        },
    }
}

/// A tool's version line, or `None` when it is not on PATH. A tool that is there but fails to
/// say its version still counts as present.
fn tool_version(tools: &dyn ToolRunner, program: &str, args: &[&str]) -> Option<String> {
    tools.locate(program)?;
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    Some(
        match tools.run(program, &args, None, Duration::from_secs(10)) {
            Ok(out) => out.stdout.lines().next().unwrap_or("").trim().to_string(),
            Err(e) => format!("version unknown ({e})"),
        },
    )
}

/// Reads the kubeconfig (never writes it) and asks the context's API server for its version.
pub async fn probe_context(kubeconfig: Option<&PathBuf>, context: Option<&str>) -> ContextProbe {
    let kc = match kubeconfig {
        Some(p) if !p.as_os_str().is_empty() => {
            if !p.exists() {
                return ContextProbe {
                    error: Some(format!("kubeconfig {} does not exist", p.display())),
                    ..Default::default()
                };
            }
            crate::kube::kubeconfig::read_file(p)
        }
        _ => crate::kube::kubeconfig::read_default(),
    };
    let kc = match kc {
        Ok(k) => k,
        Err(e) => {
            return ContextProbe {
                error: Some(format!("no kubeconfig ({e})")),
                ..Default::default()
            }
        }
    };
    let name = context
        .map(str::to_string)
        .or_else(|| kc.current_context.clone());
    let Some(name) = name else {
        return ContextProbe {
            error: Some("the kubeconfig has no current-context".into()),
            ..Default::default()
        };
    };
    let answer = async {
        let mut cfg = crate::kube::ClientConfig::config_of(kc, Some(&name), "kubeconfig")
            .await
            .map_err(|e| e.to_string())?;
        cfg.read_timeout = Some(Duration::from_secs(3));
        let client = crate::kube::client_of(cfg, "kubeconfig").map_err(|e| e.to_string())?;
        client
            .apiserver_version()
            .await
            .map(|v| v.git_version)
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(5), answer).await {
        Ok(Ok(v)) => ContextProbe {
            name: Some(name),
            server_version: Some(v),
            error: None,
        },
        Ok(Err(e)) => ContextProbe {
            name: Some(name),
            server_version: None,
            error: Some(e),
        },
        Err(_) => ContextProbe {
            name: Some(name),
            server_version: None,
            error: Some("no answer within 5 s".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings() -> Findings {
        Findings {
            docker: DockerProbe::Reachable {
                version: "20.10".into(),
            },
            kind: Some("kind v0.29.0 go1.24 linux/amd64".into()),
            minikube: None,
            context: ContextProbe::default(),
        }
    }

    fn answering(name: &str) -> ContextProbe {
        ContextProbe {
            name: Some(name.into()),
            server_version: Some("v1.33.1".into()),
            error: None,
        }
    }

    #[test]
    fn an_empty_demo_wheelhouse_is_a_problem() {
        let d = tempfile::tempdir().unwrap();
        let p = demo_wheelhouse(d.path()).unwrap();
        assert!(p.fix.contains("fetch-wheels.sh --runtime"), "{p}");
        std::fs::create_dir_all(d.path().join("backend/wheelhouse")).unwrap();
        std::fs::write(d.path().join("backend/wheelhouse/x-1-py3-none-any.whl"), "").unwrap();
        assert!(demo_wheelhouse(d.path()).is_none());
    }

    #[test]
    fn without_a_context_the_default_is_kind() {
        let (t, p) = decide(None, None, &findings());
        assert_eq!(t, Some(Target::Kind));
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn missing_kind_is_a_problem_with_an_install_hint() {
        let mut f = findings();
        f.kind = None;
        let (_, p) = decide(None, None, &f);
        assert_eq!(p.len(), 1);
        assert!(p[0].what.contains("kind is not installed"));
        assert!(p[0].fix.contains("kind.sigs.k8s.io"));
    }

    #[test]
    fn unreachable_docker_and_missing_minikube_are_both_reported() {
        let mut f = findings();
        f.docker = DockerProbe::Unreachable {
            error: "connection refused".into(),
        };
        let (t, p) = decide(Some(ClusterChoice::Minikube), None, &f);
        assert_eq!(t, Some(Target::Minikube));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0]
            .what
            .contains("Docker is not reachable (connection refused)"));
        assert!(p[0].fix.contains("docs.docker.com"));
        assert!(p[1].fix.contains("minikube.sigs.k8s.io"));
    }

    #[test]
    fn an_answering_justpush_context_is_reused() {
        let mut f = findings();
        f.context = answering("kind-justpush");
        assert_eq!(decide(None, None, &f).0, Some(Target::Kind));
        f.context = answering("justpush");
        f.minikube = Some("v1.36.0".into());
        let (t, p) = decide(None, None, &f);
        assert_eq!(t, Some(Target::Minikube));
        assert!(p.is_empty());
    }

    #[test]
    fn a_foreign_current_context_needs_a_registry() {
        let mut f = findings();
        f.context = answering("prod-eu");
        let (t, p) = decide(None, None, &f);
        assert_eq!(t, None);
        assert!(p[0].fix.contains("--registry"), "{p:?}");
        let (t, p) = decide(None, Some("reg.example/team"), &f);
        assert_eq!(
            t,
            Some(Target::Current {
                context: "prod-eu".into(),
                registry: "reg.example/team".into()
            })
        );
        assert!(p.is_empty());
    }

    #[test]
    fn a_silent_current_context_falls_back_to_kind_unless_asked_for() {
        let mut f = findings();
        f.context = ContextProbe {
            name: Some("old".into()),
            server_version: None,
            error: Some("connection refused".into()),
        };
        assert_eq!(decide(None, None, &f).0, Some(Target::Kind));
        let (t, p) = decide(Some(ClusterChoice::Current), None, &f);
        assert_eq!(t, None);
        assert!(p[0]
            .what
            .contains("\"old\" does not answer (connection refused)"));
    }
}
