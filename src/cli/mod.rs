//! Command-line flags and dispatch: raw flags become settings here, commands run, and the
//! exit code is decided once at the top.

mod audit;
mod build;
mod cluster;
mod credentials;
mod dashboard;
mod deploy;
mod kong;
mod manage;
mod project;
mod render;
mod routes;
mod scan;
mod up;
mod verify;

use crate::output::{Format, Shell};
use clap::{Args, Parser, Subcommand};

/// From source to a running, authenticated API on Kubernetes, with one command.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-justpush",
    bin_name = "kubectl justpush",
    version,
    about
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalFlags,
    #[command(subcommand)]
    pub command: Command,
}

/// kubectl's global flags plus output control, accepted before or after the command.
#[derive(Debug, Args, Clone)]
pub struct GlobalFlags {
    /// Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long, global = true, env = "KUBECONFIG", hide_env_values = true)]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace of the release.
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Output format for data on stdout.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// More detail on stderr (repeat for more).
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No colour (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    pub no_color: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bootstrap kind or Minikube with Kong and run Build → Push → Deploy → Configure.
    Up(Box<up::UpArgs>),
    /// Check a deployed app through its gateway: the regression and pod-restart suites.
    Verify(Box<verify::VerifyArgs>),
    /// Render a chart (the bundled one by default) to Kubernetes manifests, like `helm template`.
    Render(Box<render::RenderArgs>),
    /// Show the deployable components of a project: language, framework, port, health path.
    Detect(project::DetectArgs),
    /// Write Dockerfiles, .dockerignore and justpush.yaml for review (never overwrites without --force).
    Init(project::InitArgs),
    /// Build images for a project's components (parallel, content-tagged), optionally push or load them.
    Build(Box<build::BuildArgs>),
    /// Delete the local kind or Minikube cluster justpush created (asks first).
    Down(cluster::DownArgs),
    /// Deploy an app (its built images) to the cluster: apply, wait, roll back on failure.
    Deploy(Box<deploy::DeployArgs>),
    /// Show a release: components, pods, HPA, usage, revision, images.
    Status(manage::StatusArgs),
    /// Print the logs of every pod of a release, prefixed with component/pod.
    Logs(manage::LogsArgs),
    /// Set the number of pods of a component: a new revision (through its HPA when it has one).
    Scale(manage::ScaleArgs),
    /// Deploy a new revision with changed environment (secrets from stdin or a file).
    Redeploy(deploy::RedeployArgs),
    /// Return to an earlier revision (default: the last good one).
    Rollback(deploy::RollbackArgs),
    /// List the revisions of a release.
    History(manage::HistoryArgs),
    /// Delete a release: every object, gateway objects and records (data volumes kept).
    Delete(manage::DeleteArgs),
    /// A health report of a release with recommendations.
    Doctor(manage::DoctorArgs),
    /// Show the Kong routes and plugins an OpenAPI spec becomes (no cluster needed).
    Routes(routes::RoutesArgs),
    /// Show the developer consumer's API key (or JWT credential) again; --rotate replaces it.
    Credentials(credentials::CredentialsArgs),
    /// Admin API mode for an external Kong: `kong sync SPEC`, `kong delete`.
    Kong(kong::KongArgs),
    /// Show the audit log of changing commands (build, deploy, scale, ...).
    Audit(audit::AuditArgs),
    /// Scan a project's build contexts for malicious code and committed secrets (docs/scan.md).
    Scan(scan::ScanArgs),
    /// Serve the web dashboard and its REST API on 127.0.0.1 (token-protected) until Ctrl-C.
    Dashboard(dashboard::DashboardArgs),
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
        }
    };
    let mut shell = Shell::stdio(cli.global.output, cli.global.no_color, cli.global.verbose);
    let result = match &cli.command {
        Command::Render(args) => render::run(args, &cli.global, &mut shell),
        Command::Detect(args) => project::run_detect(args, &mut shell),
        Command::Init(args) => project::run_init(args, &mut shell),
        Command::Down(args) => cluster::run_down(args, &mut shell),
        Command::Up(args) => up::run_up(args, &cli.global, &mut shell),
        Command::Verify(args) => verify::run_verify(args, &cli.global, &mut shell),
        Command::Build(args) => build::run(args, &mut shell),
        Command::Deploy(args) => deploy::run_deploy(args, &cli.global, &mut shell),
        Command::Status(args) => manage::run_status(args, &cli.global, &mut shell),
        Command::Logs(args) => manage::run_logs(args, &cli.global, &mut shell),
        Command::Scale(args) => manage::run_scale(args, &cli.global, &mut shell),
        Command::Redeploy(args) => deploy::run_redeploy(args, &cli.global, &mut shell),
        Command::Rollback(args) => deploy::run_rollback(args, &cli.global, &mut shell),
        Command::History(args) => manage::run_history(args, &cli.global, &mut shell),
        Command::Delete(args) => manage::run_delete(args, &cli.global, &mut shell),
        Command::Doctor(args) => manage::run_doctor(args, &cli.global, &mut shell),
        Command::Routes(args) => routes::run(args, &mut shell),
        Command::Credentials(args) => credentials::run(args, &cli.global, &mut shell),
        Command::Kong(args) => kong::run(args, &mut shell),
        Command::Audit(args) => audit::run(args, &mut shell),
        Command::Scan(args) => scan::run(args, &mut shell),
        Command::Dashboard(args) => dashboard::run(args, &mut shell),
    };
    audit::record(&cli.global, &result, &mut shell);
    match result {
        Ok(()) => 0,
        Err(e) => {
            // A closed pipe (`| head`) is not a failure.
            if e.is_broken_pipe() {
                return 0;
            }
            let _ = shell.error(&e.message);
            e.code
        }
    }
}
