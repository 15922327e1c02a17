//! `up`: preflight, then the pipeline (Build → Push → Deploy → Configure) with live progress,
//! or with `--dry-run` the plan by stage.

use super::project::SourceArgs;
use super::GlobalFlags;
use crate::cluster::{self, LocalTools, SYSTEM_TOOLS};
use crate::detect::{self, DetectError};
use crate::error::CliError;
use crate::output::{Format, Shell};
use crate::pipeline::plan::{self, PlanContext, Target};
use crate::pipeline::preflight::{self, ClusterChoice, Findings};
use crate::pipeline::progress::{self, ProgressOutput, Shown};
use crate::pipeline::{bootstrap, Outcome};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Which cluster: a local kind cluster, a Minikube profile, or the kubeconfig's current
    /// context (default: the current context if it answers, else kind).
    #[arg(long, value_enum)]
    pub cluster: Option<ClusterChoice>,
    /// Registry to push to when deploying to the current context (HOST[/PREFIX]).
    #[arg(long, value_name = "REGISTRY")]
    pub registry: Option<String>,
    /// Kong's `kong` chart as a directory or .tgz (offline use; default: download and cache).
    #[arg(long, value_name = "DIR|TGZ")]
    pub kong_chart: Option<PathBuf>,
    #[command(flatten)]
    pub build: super::build::BuildInputArgs,
    /// How long to wait for the release to become ready before rolling back (e.g. 5m, 90s).
    #[arg(long, default_value = "5m", value_parser = super::deploy::parse_duration)]
    pub timeout: std::time::Duration,
    /// The gateway URL, when it is not the one found (kind: localhost:8080; Minikube: its IP;
    /// another cluster: the proxy Service's load balancer).
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// How long Configure waits for the gateway to serve the routes.
    #[arg(long, default_value = "120s", value_parser = super::deploy::parse_duration, hide = true)]
    pub gateway_timeout: std::time::Duration,
    /// Print the plan by stage and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Operations whose OpenAPI security Kong cannot enforce (oauth2, openIdConnect, ...)
    /// become public routes, with a warning, instead of failing the deploy (as
    /// `kong.allowPublic: true` in justpush.yaml).
    #[arg(long)]
    pub allow_public: bool,
    #[command(flatten)]
    pub scan: super::scan::ScanFlag,
}

/// Writes progress through the shell: JSON lines to stdout, status to stderr.
struct ShellProgress<'s>(&'s mut Shell);

impl ProgressOutput for ShellProgress<'_> {
    fn write(&mut self, shown: &Shown) {
        if let Some(s) = &shown.stdout {
            let _ = self.0.data(s);
        }
        if let Some(s) = &shown.stderr {
            let _ = self.0.progress(s);
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("starting the async runtime: {e}")))
}

/// Detection with `up`'s wording for an empty directory.
fn detect_app(dir: &std::path::Path) -> Result<detect::DetectedApp, CliError> {
    detect::detect(dir).map_err(|e| match e {
        DetectError::NothingDeployable { .. } => CliError::failed(format!(
            "{e}\nTo try justpush without a project of your own: kubectl justpush up --demo"
        )),
        other => CliError::failed(other.to_string()),
    })
}

pub fn run_up(args: &UpArgs, global: &GlobalFlags, shell: &mut Shell) -> Result<(), CliError> {
    let dir = args.source.resolve()?;
    if let Some(p) = &args.kong_chart {
        if !p.exists() {
            return Err(CliError::usage(format!(
                "--kong-chart {}: no such file or directory; pass Kong's chart directory or kong-{}.tgz",
                p.display(),
                bootstrap::KONG_CHART_VERSION
            )));
        }
    }
    // An invalid justpush.yaml (a path leaving the project, a bad field) stops the run here,
    // before anything is built, instead of surfacing at the Deploy stage.
    let config = crate::detect::config::AppConfig::load_if_present(&dir)
        .map_err(|e| CliError::usage(e.to_string()))?;
    let release = match &config {
        Some(config) => config.name.clone(),
        None => plan::release_name(&dir, args.source.demo),
    };
    let mut build_options = args.build.build_options(&dir)?;
    let mut app = detect_app(&dir)?;
    // The chart mounts justpush.yaml's `writable` lists, so the images hand over those.
    if let Some(config) = &config {
        config.apply_writable(&mut app);
    }
    super::project::show_warnings(shell, &app);
    // Before preflight and any build: strict stops here with nothing created.
    super::scan::gate(&dir, &app.components, &args.scan, shell)?;
    let rt = runtime()?;
    let findings: Findings = rt.block_on(preflight::probe(
        &SYSTEM_TOOLS,
        global.kubeconfig.as_ref(),
        global.context.as_deref(),
    ));
    let (target, problems) = preflight::decide(args.cluster, args.registry.as_deref(), &findings);
    let namespace = global.namespace.clone().unwrap_or_else(|| release.clone());
    let target_for_plan = target.clone().unwrap_or(Target::Kind);
    let app_plan = plan::app_plan(&dir, &app, &release, &namespace, &target_for_plan);

    if args.dry_run {
        let cache = bootstrap::cache_dir();
        let ctx = PlanContext {
            cluster_exists: cluster_exists(&target_for_plan, &findings),
            kong_chart_source: bootstrap::kong_chart_source(args.kong_chart.as_deref(), &cache),
            blockers: problems.iter().map(|p| p.to_string()).collect(),
        };
        let steps = plan::plan_steps(&app_plan, &target_for_plan, &ctx);
        let text = match shell.format {
            Format::Json => steps
                .iter()
                .map(|s| serde_json::to_string(s).unwrap_or_default() + "\n")
                .collect(),
            Format::Yaml => serde_yaml::to_string(&steps).unwrap_or_default(),
            Format::Text => plan::plan_text(&steps),
        };
        shell.data(&text).map_err(CliError::io)?;
        shell
            .status("Dry run", "nothing was created or changed")
            .ok();
        return Ok(());
    }

    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        return Err(CliError::failed(format!(
            "preflight failed, nothing was created:\n{}",
            list.join("\n")
        )));
    }
    let target = target.expect("a target when there are no problems");
    if args.source.demo {
        super::project::prepare_demo(&dir, shell)?;
    }
    report_findings(shell, &findings, &target);

    let state = progress::state_dir();
    let run_id = progress::run_id();
    let log = match progress::RunLog::create(&state, &run_id) {
        Ok(l) => Some(l),
        Err(e) => {
            shell
                .warn(&format!(
                    "cannot keep this run's events in {}: {e}",
                    state.join("runs").display()
                ))
                .ok();
            None
        }
    };
    let log_path = log.as_ref().map(|l| l.path.clone());
    // Build logs stay with the run's events, not in the project (the demo may be read-only).
    build_options.log_dir = state.join("runs").join(&run_id);
    let terminal = std::io::stderr().is_terminal();
    let color = shell.color;
    let json = shell.format == Format::Json;
    let outcome = {
        let view = progress::view_for(json, terminal, color);
        let mut progress = progress::Progress::new(view, Box::new(ShellProgress(&mut *shell)), log);
        let settings = crate::pipeline::wiring::RunSettings {
            kong_chart: args.kong_chart.clone(),
            build_options,
            app: {
                let mut config = crate::pipeline::stages::app_config(&dir, &release, &app)
                    .map_err(CliError::usage)?;
                config.kong.allow_public |= args.allow_public;
                config
            },
            deploy_timeout: args.timeout,
            gateway_url: args.gateway.clone(),
            gateway_timeout: args.gateway_timeout,
        };
        rt.block_on(crate::pipeline::wiring::run_real(
            &app_plan,
            &target,
            settings,
            &super::deploy::target(global),
            &state,
            &mut progress,
        ))
    };
    match outcome {
        Ok(o) => {
            let last = super::verify::LastRun {
                release: o.deployed.release.clone(),
                namespace: o.deployed.namespace.clone(),
                gateway: o
                    .gateway
                    .as_ref()
                    .map(|g| g.url.clone())
                    .unwrap_or_else(|| o.kong.gateway_url.clone()),
                context: crate::pipeline::wiring::context_for(
                    &target,
                    &super::deploy::target(global),
                ),
            };
            if let Err(e) = std::fs::write(
                super::verify::last_run_path(),
                serde_json::to_string_pretty(&last).unwrap_or_default(),
            ) {
                shell
                    .warn(&format!("cannot remember this run for `verify`: {e}"))
                    .ok();
            }
            finish(shell, &o, log_path.as_deref())
        }
        // 130 after Ctrl-C, as `deploy` exits when it is aborted (128 + SIGINT).
        Err(f) if f.interrupted => Err(CliError::failed(f.to_string()).with_code(130)),
        Err(f) => Err(CliError::failed(f.to_string())),
    }
}

fn cluster_exists(target: &Target, f: &Findings) -> bool {
    match target {
        Target::Kind => {
            f.kind.is_some()
                && SYSTEM_TOOLS
                    .run_quiet("kind", &["get", "clusters"])
                    .is_some_and(|o| cluster::kind_has_cluster(&o, cluster::CLUSTER_NAME))
        }
        Target::Minikube => {
            f.minikube.is_some()
                && SYSTEM_TOOLS
                    .run_quiet("minikube", &["profile", "list", "-o", "json"])
                    .is_some_and(|o| cluster::minikube_has_profile(&o, cluster::CLUSTER_NAME))
        }
        Target::Current { .. } => true,
    }
}

trait RunQuiet {
    fn run_quiet(&self, program: &str, args: &[&str]) -> Option<String>;
}

impl RunQuiet for LocalTools {
    fn run_quiet(&self, program: &str, args: &[&str]) -> Option<String> {
        use crate::cluster::ToolRunner;
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.run(program, &args, None, std::time::Duration::from_secs(20))
            .ok()
            .map(|o| o.stdout)
    }
}

fn report_findings(shell: &mut Shell, f: &Findings, target: &Target) {
    if let preflight::DockerProbe::Reachable { version } = &f.docker {
        shell.verbose(&format!("docker {version}")).ok();
    }
    if let Some(v) = &f.kind {
        shell.verbose(&format!("kind: {v}")).ok();
    }
    if let Some(v) = &f.minikube {
        shell.verbose(&format!("minikube: {v}")).ok();
    }
    shell
        .verbose(&format!(
            "target: {}",
            serde_json::to_string(target).unwrap_or_default()
        ))
        .ok();
}

fn finish(shell: &mut Shell, o: &Outcome, log: Option<&std::path::Path>) -> Result<(), CliError> {
    let log_note = log
        .map(|p| format!(" (events: {})", p.display()))
        .unwrap_or_default();
    let Some(gw) = &o.gateway else {
        return Err(CliError::failed(format!(
            "{}{log_note}",
            o.warning.clone().unwrap_or_default()
        )));
    };
    if shell.format == Format::Json {
        let summary = serde_json::json!({
            "result": "succeeded",
            "release": o.deployed.release,
            "namespace": o.deployed.namespace,
            "revision": o.deployed.revision,
            "gateway": gw.url,
            "api_key": gw.key_created.then(|| gw.api_key.expose()),
            "images": o.images,
        });
        shell
            .data(&(summary.to_string() + "\n"))
            .map_err(CliError::io)?;
        return Ok(());
    }
    let key_line = if gw.key_created {
        format!(
            "  API key:  {}   (new: shown this once; send it as the `apikey` header)",
            gw.api_key.expose()
        )
    } else {
        format!(
            "  API key:  unchanged since it was created (`kubectl justpush credentials -n {}` shows it)",
            o.deployed.namespace
        )
    };
    let text = format!(
        "\nYour API is up.\n\n  gateway:  {url}\n{key_line}\n\nNext:\n  curl -H \"apikey: $KEY\" {url}/api/\n  kubectl justpush status -n {ns}\n  kubectl justpush verify\n  kubectl justpush logs -f -n {ns}\n",
        url = gw.url,
        ns = o.deployed.namespace,
    );
    shell.data(&text).map_err(CliError::io)?;
    shell
        .status(
            "Done",
            &format!(
                "release {} revision {}{log_note}",
                o.deployed.release, o.deployed.revision
            ),
        )
        .ok();
    Ok(())
}
