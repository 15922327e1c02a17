//! `status`, `history`, `logs`, `scale`, `delete` and `doctor`: reading and managing a release
//! that is already deployed.

use std::time::Duration;

use clap::Args;

use super::deploy::{release_name, target};
use super::GlobalFlags;
use crate::chart::load::Chart;
use crate::error::CliError;
use crate::kube::record::RecordStore;
use crate::kube::{connect, manage, runtime};
use crate::output::{table, Format, Shell};

fn io(e: std::io::Error) -> CliError {
    CliError::io(e)
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    super::deploy::parse_duration(s)
}

fn tail_arg(s: &str) -> Result<i64, String> {
    s.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("`{s}` is not a line count (use 0 or more, e.g. 100)"))
}

/// The release a management command works on.
#[derive(Debug, Args, Clone)]
pub struct ReleaseArg {
    /// Release name (default: justpush.yaml's name, else the only release in the namespace).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub release: ReleaseArg,
}

/// `status`.
pub fn run_status(args: &StatusArgs, g: &GlobalFlags, shell: &mut Shell) -> Result<(), CliError> {
    let rt = runtime()?;
    let cluster = rt.block_on(connect(&target(g)))?;
    let name = release_name(&rt, &cluster, args.release.name.as_deref())?;
    let r = rt.block_on(manage::status(&cluster.client, &cluster.namespace, &name))?;
    if shell.format != Format::Text {
        return shell.structured(&r).map_err(io);
    }
    let mut text = format!(
        "release {} revision {} {} (namespace {}, updated {})\n",
        r.release, r.revision, r.status, r.namespace, r.updated
    );
    if let Some(u) = &r.gateway_url {
        text.push_str(&format!("gateway: {u}\n"));
    }
    let mut rows = vec![vec![
        "COMPONENT".to_string(),
        "READY".into(),
        "AVAILABLE".into(),
        "HPA".into(),
        "IMAGE".into(),
        "HEALTH".into(),
    ]];
    for c in &r.components {
        rows.push(vec![
            c.name.clone(),
            format!("{}/{}", c.ready, c.desired),
            c.available.to_string(),
            c.hpa
                .as_ref()
                .map(|h| {
                    format!(
                        "{}-{} (now {})",
                        h.min_replicas, h.max_replicas, h.current_replicas
                    )
                })
                .unwrap_or_else(|| "-".into()),
            c.images.join(","),
            c.health.clone(),
        ]);
    }
    text.push_str(&table(&rows));
    let mut pods = vec![vec![
        "POD".to_string(),
        "PHASE".into(),
        "READY".into(),
        "RESTARTS".into(),
        "LAST STATE".into(),
        "CPU".into(),
        "MEMORY".into(),
    ]];
    for c in &r.components {
        for p in &c.pods {
            pods.push(vec![
                format!("{}/{}", c.name, p.name),
                p.phase.clone(),
                if p.ready {
                    "yes".into()
                } else {
                    p.problem.clone().unwrap_or_else(|| "no".into())
                },
                p.restarts.to_string(),
                p.last_state.clone().unwrap_or_else(|| "-".into()),
                p.cpu.clone().unwrap_or_else(|| "-".into()),
                p.memory.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
    }
    if pods.len() > 1 {
        text.push('\n');
        text.push_str(&table(&pods));
    }
    shell.data(&text).map_err(io)?;
    for w in &r.warnings {
        let _ = shell.warn(w);
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub release: ReleaseArg,
}

/// `history`.
pub fn run_history(args: &HistoryArgs, g: &GlobalFlags, shell: &mut Shell) -> Result<(), CliError> {
    let rt = runtime()?;
    let cluster = rt.block_on(connect(&target(g)))?;
    let name = release_name(&rt, &cluster, args.release.name.as_deref())?;
    let records =
        rt.block_on(RecordStore::new(cluster.client.clone(), &cluster.namespace, &name).list())?;
    if shell.format != Format::Text {
        let rows: Vec<serde_json::Value> = records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "revision": r.revision,
                    "status": r.status,
                    "updated": r.updated_at,
                    "chartVersion": r.chart_version,
                    "images": r.images,
                    "description": r.description,
                    "warnings": r.warnings,
                })
            })
            .collect();
        return shell.structured(&rows).map_err(io);
    }
    let mut rows = vec![vec![
        "REVISION".to_string(),
        "UPDATED".into(),
        "STATUS".into(),
        "CHART".into(),
        "DESCRIPTION".into(),
    ]];
    for r in &records {
        rows.push(vec![
            r.revision.to_string(),
            r.updated_at.clone(),
            r.status.as_str().to_string(),
            format!("justpush-{}", r.chart_version),
            r.description.lines().next().unwrap_or("").to_string(),
        ]);
    }
    shell.data(&table(&rows)).map_err(io)
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub release: ReleaseArg,
    /// Also delete the PersistentVolumeClaims (the database's data and backups).
    #[arg(long)]
    pub purge_data: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// `delete`.
pub fn run_delete(args: &DeleteArgs, g: &GlobalFlags, shell: &mut Shell) -> Result<(), CliError> {
    let rt = runtime()?;
    let cluster = rt.block_on(connect(&target(g)))?;
    let name = release_name(&rt, &cluster, args.release.name.as_deref())?;
    if !args.yes {
        shell
            .prompt(&format!(
                "Delete release {name} in namespace {}{}? [y/N] ",
                cluster.namespace,
                if args.purge_data {
                    " and its data volumes"
                } else {
                    ""
                }
            ))
            .map_err(io)?;
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(CliError::usage("not deleted (answer y, or pass --yes)"));
        }
    }
    let r = rt.block_on(manage::delete_release(
        &cluster.client,
        &cluster.namespace,
        &name,
        args.purge_data,
    ))?;
    if shell.format != Format::Text {
        return shell.structured(&r).map_err(io);
    }
    let mut text = format!("release {name} deleted ({} objects)\n", r.deleted.len());
    if !r.kept.is_empty() {
        text.push_str(&format!(
            "kept (data; delete with --purge-data): {}\n",
            r.kept.join(", ")
        ));
    }
    if r.namespace_deleted {
        text.push_str(&format!("namespace {} deleted\n", cluster.namespace));
    }
    shell.data(&text).map_err(io)
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Component to scale.
    pub component: String,
    /// Number of pods.
    pub replicas: u32,
    #[command(flatten)]
    pub release: ReleaseArg,
    /// How long to wait for the pods.
    #[arg(long, default_value = "5m", value_parser = duration_arg)]
    pub timeout: Duration,
}

/// `scale`: a new revision with the component's replica count (and its HPA's bounds) changed,
/// deployed through the deploy action like `redeploy`, so history, rollback and the next
/// redeploy all see it.
pub fn run_scale(args: &ScaleArgs, g: &GlobalFlags, shell: &mut Shell) -> Result<(), CliError> {
    let rt = runtime()?;
    let cluster = rt.block_on(connect(&target(g)))?;
    let name = release_name(&rt, &cluster, args.release.name.as_deref())?;
    let last = super::deploy::last_deployed(&rt, &cluster, &name)?;
    let replicas = i64::from(args.replicas);
    let chart = Chart::bundled().map_err(|e| CliError::failed(e.to_string()))?;
    let (mut req, hpa_note) =
        manage::scale_request(&last, chart, &args.component, replicas).map_err(CliError::failed)?;
    req.timeout = args.timeout;
    let _ = shell.status(
        "Scale",
        &format!("{name}/{} to {replicas} pods", args.component),
    );
    if let Some(n) = &hpa_note {
        let _ = shell.status("Scale", n);
    }
    let outcome = super::deploy::run_request(&rt, &cluster, req, shell)?;
    let r = manage::ScaleReport {
        component: args.component.clone(),
        workload: manage::component_workload(&outcome.record.objects, &args.component)
            .unwrap_or_default(),
        replicas,
        revision: outcome.revision,
        hpa_note,
        running_pods: rt.block_on(manage::running_pods(
            &cluster.client,
            &cluster.namespace,
            &name,
            &args.component,
        ))?,
    };
    let _ = shell.warn(&format!(
        "`deploy` and `up` take the replica count from justpush.yaml again (replicas: {replicas} under component {} keeps it)",
        r.component
    ));
    if shell.format != Format::Text {
        return shell.structured(&r).map_err(io);
    }
    shell
        .data(&format!(
            "{} scaled to {} (revision {}); running pods: {}\n",
            r.workload,
            r.replicas,
            r.revision,
            r.running_pods.join(", ")
        ))
        .map_err(io)
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub release: ReleaseArg,
    /// Keep streaming, including pods that start later.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only this component's pods.
    #[arg(long, short = 'c')]
    pub component: Option<String>,
    /// Only lines newer than this (5m, 1h).
    #[arg(long, value_parser = duration_arg)]
    pub since: Option<Duration>,
    /// Last N lines of each container.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = tail_arg)]
    pub tail: Option<i64>,
}

/// `--since` as the API's `sinceSeconds`: whole seconds rounded up, at least 1 (the API server
/// refuses 0, so `--since 500ms` or `--since 0` means "the last second").
fn since_seconds(d: Duration) -> i64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}

/// `logs`.
pub fn run_logs(args: &LogsArgs, g: &GlobalFlags, shell: &mut Shell) -> Result<(), CliError> {
    let rt = runtime()?;
    let cluster = rt.block_on(connect(&target(g)))?;
    let name = release_name(&rt, &cluster, args.release.name.as_deref())?;
    let opts = manage::LogOptions {
        follow: args.follow,
        component: args.component.clone(),
        since_seconds: args.since.map(since_seconds),
        tail: args.tail,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = tokio_util::sync::CancellationToken::new();
    let stop2 = stop.clone();
    rt.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop2.cancel();
        }
    });
    let client = cluster.client.clone();
    let ns = cluster.namespace.clone();
    let task =
        rt.spawn(async move { manage::stream_logs(&client, &ns, &name, &opts, tx, stop).await });
    while let Some(line) = rx.blocking_recv() {
        shell.data(&format!("{line}\n")).map_err(io)?;
    }
    rt.block_on(task)
        .map_err(|e| CliError::failed(e.to_string()))?
        .map_err(CliError::from)
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub release: ReleaseArg,
}

/// `doctor`.
pub fn run_doctor(args: &DoctorArgs, g: &GlobalFlags, shell: &mut Shell) -> Result<(), CliError> {
    let rt = runtime()?;
    let cluster = rt.block_on(connect(&target(g)))?;
    let name = release_name(&rt, &cluster, args.release.name.as_deref())?;
    let c = rt.block_on(manage::collect(&cluster.client, &cluster.namespace, &name))?;
    let findings = crate::kube::doctor::diagnose(&c);
    if shell.format != Format::Text {
        return shell.structured(&findings).map_err(io);
    }
    if findings.is_empty() {
        return shell
            .data(&format!("release {name}: no problems found\n"))
            .map_err(io);
    }
    let mut text = String::new();
    for f in &findings {
        text.push_str(&format!(
            "[{}] {}: {}\n    fix: {}\n",
            f.severity.as_str(),
            f.object,
            f.problem,
            f.recommendation
        ));
    }
    shell.data(&text).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_rounds_up_to_whole_seconds_and_at_least_one() {
        assert_eq!(since_seconds(Duration::from_secs(3600)), 3600);
        assert_eq!(since_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(since_seconds(Duration::from_millis(500)), 1);
        assert_eq!(since_seconds(Duration::ZERO), 1);
    }
}
