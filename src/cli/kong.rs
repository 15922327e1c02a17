//! `kong sync` / `kong delete`: the Admin API mode for an external Kong. The admin token comes
//! from JUSTPUSH_KONG_ADMIN_TOKEN or justpush.yaml's kong.adminToken, never from a flag.

use super::routes::{kong_config, load_plan, SpecArgs};
use crate::error::CliError;
use crate::kong::admin::{delete_release, sync, AdminClient, AdminError, Diff, SyncTarget};
use crate::kong::credentials::Outcome;
use crate::kong::derive::CredentialKind;
use crate::output::{Format, Shell};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Environment variable holding the Admin API token.
pub const TOKEN_ENV: &str = "JUSTPUSH_KONG_ADMIN_TOKEN";

#[derive(Debug, Args)]
pub struct KongArgs {
    #[command(subcommand)]
    pub command: KongCommand,
}

#[derive(Debug, Subcommand)]
pub enum KongCommand {
    /// Make an external Kong's objects for this release match the spec (idempotent).
    Sync(SyncArgs),
    /// Delete every object of this release from an external Kong (only objects tagged as ours).
    Delete(DeleteArgs),
}

#[derive(Debug, Args, Clone)]
pub struct AdminFlags {
    /// Kong Admin API URL (default: kong.adminUrl of justpush.yaml).
    #[arg(long, value_name = "URL")]
    pub admin_url: Option<String>,
    /// Show what would change without changing anything.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub admin: AdminFlags,
    /// Upstream the Kong service proxies to, e.g. http://backend.internal:8000 (default: the
    /// spec's first absolute server URL).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Release name (default: the `name` in justpush.yaml, else justpush).
    #[arg(long)]
    pub name: Option<String>,
    /// justpush.yaml with kong.adminUrl / kong.adminToken (default: ./justpush.yaml if any).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub admin: AdminFlags,
}

fn client(flags: &AdminFlags, config: Option<&std::path::Path>) -> Result<AdminClient, CliError> {
    let kong = kong_config(config)?;
    let url = flags
        .admin_url
        .clone()
        .or(kong.admin_url.clone())
        .ok_or_else(|| {
            CliError::usage(
                "no Kong Admin API URL: pass --admin-url or set kong.adminUrl in justpush.yaml",
            )
        })?;
    let token = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
        .or(kong.admin_token.clone());
    AdminClient::new(&url, token).map_err(|e| CliError::failed(e.to_string()))
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(e.to_string()))
}

fn admin_failed(e: AdminError) -> CliError {
    match e {
        AdminError::Unauthorized { .. } | AdminError::Forbidden { .. } => {
            CliError::usage(e.to_string())
        }
        _ => CliError::failed(e.to_string()),
    }
}

fn print_diff(shell: &mut Shell, diff: &Diff, dry_run: bool) -> Result<(), CliError> {
    let io = CliError::io;
    if shell.format != Format::Text {
        return shell
            .structured(&serde_json::json!({
                "dryRun": dry_run,
                "changes": diff.lines(),
                "unchanged": diff.unchanged,
            }))
            .map_err(io);
    }
    let mut text = String::new();
    for line in diff.lines() {
        text.push_str(&line);
        text.push('\n');
    }
    shell.data(&text).map_err(io)?;
    let verb = if dry_run { "Would change" } else { "Changed" };
    shell
        .status(
            if diff.is_empty() { "Unchanged" } else { verb },
            &format!(
                "{} objects ({} already as wanted)",
                diff.lines().len(),
                diff.unchanged
            ),
        )
        .ok();
    Ok(())
}

pub fn run(args: &KongArgs, shell: &mut Shell) -> Result<(), CliError> {
    match &args.command {
        KongCommand::Sync(a) => run_sync(a, shell),
        KongCommand::Delete(a) => {
            let client = client(&a.admin, a.config.as_deref())?;
            let diff = runtime()?
                .block_on(delete_release(
                    &client,
                    &super::routes::release_name(a.name.as_deref(), a.config.as_deref())?,
                    a.admin.dry_run,
                ))
                .map_err(admin_failed)?;
            print_diff(shell, &diff, a.admin.dry_run)
        }
    }
}

fn run_sync(args: &SyncArgs, shell: &mut Shell) -> Result<(), CliError> {
    let loaded = load_plan(&args.spec, shell)?;
    let (plan, spec) = (&loaded.plan, &loaded.spec);
    // The Admin API mode has no way yet to give a route's plugin a consumer as well; applying
    // it to the route alone would widen it to every consumer, so it is refused instead.
    let scoped: Vec<String> = plan
        .routes
        .iter()
        .flat_map(|r| {
            r.plugins.iter().filter_map(move |p| {
                p.consumer
                    .as_ref()
                    .map(|c| format!("{} on {} (consumer {c})", p.name, r.operation))
            })
        })
        .collect();
    if !scoped.is_empty() {
        return Err(CliError::usage(format!(
            "{}: consumer-scoped plugins are not supported by `kong sync` yet: {}; deploy with `up` (the Kubernetes way keeps the scope), or remove `consumer` from those x-kong-plugin-* to apply them to every request",
            spec.source,
            scoped.join(", ")
        )));
    }
    let upstream = args.upstream.clone().or(spec.server_origin.clone()).ok_or_else(|| {
        CliError::usage("no upstream for the Kong service: pass --upstream http://HOST:PORT (the spec has no absolute server URL)")
    })?;
    let client = client(&args.admin, args.spec.config.as_deref())?;
    let target = SyncTarget {
        release: &loaded.release,
        upstream: &upstream,
        plan,
    };
    let outcome = runtime()?
        .block_on(sync(&client, &target, args.admin.dry_run))
        .map_err(admin_failed)?;
    print_diff(shell, &outcome.diff, args.admin.dry_run)?;
    if outcome.applied {
        for c in outcome
            .credentials
            .iter()
            .filter(|c| c.outcome == Outcome::Created)
        {
            // Shown once, when made; `kong sync` keeps it from then on.
            let line = match c.kind {
                CredentialKind::KeyAuth => format!(
                    "consumer API key (keep it; shown once): {}\n",
                    c.data["key"]
                ),
                CredentialKind::Jwt => format!(
                    "consumer jwt credential: iss={} HS256 secret (keep it; shown once): {}\n",
                    c.data["key"], c.data["secret"]
                ),
                CredentialKind::BasicAuth => format!(
                    "consumer basic-auth: user={} password (keep it; shown once): {}\n",
                    c.data["username"], c.data["password"]
                ),
            };
            if shell.format == Format::Text {
                shell.data(&line).map_err(CliError::io)?;
            }
        }
    }
    Ok(())
}
