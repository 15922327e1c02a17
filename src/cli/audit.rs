//! Recording each changing command in the audit log, and `audit`, which reads it back.

use std::collections::BTreeMap;

use clap::{ArgMatches, Args, CommandFactory};

use super::{Cli, GlobalFlags};
use crate::audit::{self, AuditRecord, AuditUser, Outcome};
use crate::error::CliError;
use crate::output::{table, Format, Shell};

/// The action a command line performs when it changes something (None for read-only
/// commands), with the matches and definition of its innermost subcommand.
fn action_of<'a>(
    m: &'a ArgMatches,
    cmd: &'a clap::Command,
) -> Option<(String, &'a ArgMatches, &'a clap::Command)> {
    let (name, sub) = m.subcommand()?;
    let sub_cmd = cmd.find_subcommand(name)?;
    match name {
        "build" | "deploy" | "redeploy" | "scale" | "rollback" | "delete" | "up" | "down" => {
            Some((name.to_string(), sub, sub_cmd))
        }
        "credentials" if sub.get_flag("rotate") => {
            Some(("credentials rotate".into(), sub, sub_cmd))
        }
        "kong" => {
            let (verb, leaf) = sub.subcommand()?;
            Some((format!("kong {verb}"), leaf, sub_cmd.find_subcommand(verb)?))
        }
        _ => None,
    }
}

/// Flags given on the command line (not defaults), globals left out: they are the target.
fn inputs_of(m: &ArgMatches, cmd: &clap::Command) -> BTreeMap<String, String> {
    const GLOBAL: [&str; 6] = [
        "kubeconfig",
        "context",
        "namespace",
        "output",
        "verbose",
        "no_color",
    ];
    let mut inputs = BTreeMap::new();
    for id in m.ids() {
        let id = id.as_str();
        // Argument groups (one per derived struct) repeat their members' ids.
        let Some(arg) = cmd.get_arguments().find(|a| a.get_id() == id) else {
            continue;
        };
        if GLOBAL.contains(&id)
            || m.value_source(id) != Some(clap::parser::ValueSource::CommandLine)
        {
            continue;
        }
        if let Ok(Some(raw)) = m.try_get_raw(id) {
            let values: Vec<String> = raw.map(|v| v.to_string_lossy().into_owned()).collect();
            // Keyed by the flag the user typed (`--secret`, not the field `secrets`).
            let key = arg.get_long().map(str::to_string);
            inputs.insert(
                key.unwrap_or_else(|| id.replace('_', "-")),
                values.join(","),
            );
        }
    }
    inputs
}

/// The kubeconfig context in use and its user name, when the kubeconfig can be read.
fn kube_context(g: &GlobalFlags) -> (Option<String>, Option<String>) {
    let path = g.kubeconfig.clone().or_else(|| {
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".kube/config"))
    });
    let Some(kc) = path.and_then(|p| kube::config::Kubeconfig::read_from(p).ok()) else {
        return (g.context.clone(), None);
    };
    let context = g.context.clone().or(kc.current_context.clone());
    let user = context.as_ref().and_then(|c| {
        kc.contexts
            .iter()
            .find(|nc| &nc.name == c)
            .and_then(|nc| nc.context.as_ref())
            .and_then(|ctx| ctx.user.clone())
    });
    (context, user)
}

/// Appends the record of this command line's outcome when it changed something. A failure to
/// write is a warning: it never replaces the command's own result.
pub fn record(g: &GlobalFlags, result: &Result<(), CliError>, shell: &mut Shell) {
    let Ok(matches) = Cli::command().try_get_matches_from(std::env::args_os()) else {
        return;
    };
    let cmd = Cli::command();
    let Some((action, leaf, leaf_cmd)) = action_of(&matches, &cmd) else {
        return;
    };
    let inputs = inputs_of(leaf, leaf_cmd);
    // A dry run changes nothing (`up --dry-run` promises to touch nothing, the state directory
    // included), so it is not an action to audit.
    if inputs.contains_key("dry-run") {
        return;
    }
    let mut target = BTreeMap::new();
    let mut user = AuditUser {
        os: audit::os_user(),
        kube: None,
    };
    if action != "build" || inputs.contains_key("push") || inputs.contains_key("load") {
        let (context, kube_user) = kube_context(g);
        if let Some(c) = context {
            target.insert("context".into(), c);
        }
        user.kube = kube_user;
        target.insert(
            "namespace".into(),
            g.namespace.clone().unwrap_or_else(|| "default".into()),
        );
    }
    for key in ["name", "component", "image", "dir", "revision", "push"] {
        if let Some(v) = inputs.get(key) {
            let k = if key == "name" { "release" } else { key };
            target.insert(k.into(), v.clone());
        }
    }
    let outcome = match result {
        Ok(()) => Outcome::Ok,
        Err(e) if e.code == 130 => Outcome::Interrupted {
            message: e.message.clone(),
        },
        Err(e) => Outcome::Failed {
            message: e.message.clone(),
        },
    };
    let rec = audit::build_record(
        audit::now_rfc3339(),
        user,
        &action,
        target,
        inputs,
        outcome,
        &audit::known_secrets(),
    );
    if let Err(e) = audit::append(&audit::audit_path(), &rec) {
        let _ = shell.warn(&format!(
            "{e}; the command's result above is unaffected (set JUSTPUSH_STATE_DIR to a writable directory to keep an audit trail)"
        ));
    }
}

/// Parses `--since`: a duration back from now (`90m`, `1h`, `2d`) or an RFC 3339 time.
fn since_arg(s: &str) -> Result<i64, String> {
    if let Some(t) = audit::parse_rfc3339(s.trim()) {
        return Ok(t);
    }
    let d = s.trim();
    let (n, unit) = d.split_at(d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len()));
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => 0,
    };
    match n.parse::<i64>() {
        Ok(n) if secs > 0 => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            // Checked: `--since 99999999999999999d` overflowed (a panic in debug builds).
            n.checked_mul(secs)
                .and_then(|back| now.checked_sub(back))
                .ok_or_else(|| format!("`{s}` reaches too far back; give a shorter duration (e.g. 30d) or an RFC 3339 time"))
        }
        _ => Err(format!(
            "`{s}` is neither a duration (e.g. 30m, 1h, 2d) nor an RFC 3339 time (e.g. 2026-12-03T15:00:00Z)"
        )),
    }
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only records from this long ago (30m, 1h, 2d) or since an RFC 3339 time.
    #[arg(long, value_parser = since_arg, value_name = "DURATION|RFC3339")]
    pub since: Option<i64>,
    /// Only records of this action (build, deploy, scale, kong sync, ...).
    #[arg(long)]
    pub action: Option<String>,
}

/// `audit`: the records of the audit log, as a table or a JSON array.
pub fn run(args: &AuditArgs, shell: &mut Shell) -> Result<(), CliError> {
    let path = audit::audit_path();
    let keep = |r: &AuditRecord| {
        args.action.as_ref().is_none_or(|a| &r.action == a)
            && args
                .since
                .is_none_or(|s| audit::parse_rfc3339(&r.time).is_some_and(|t| t >= s))
    };
    let (records, corrupt) =
        audit::read_filtered(&path, keep).map_err(|e| CliError::failed(e.to_string()))?;
    for c in &corrupt {
        let _ = shell.warn(&format!(
            "{} line {}: not an audit record ({}); skipped",
            path.display(),
            c.line,
            c.problem
        ));
    }
    let io = CliError::io;
    if shell.format != Format::Text {
        return shell.structured(&records).map_err(io);
    }
    let mut rows = vec![vec![
        "TIME".to_string(),
        "USER".into(),
        "ACTION".into(),
        "TARGET".into(),
        "OUTCOME".into(),
    ]];
    for r in &records {
        let target: Vec<String> = r.target.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rows.push(vec![
            r.time.clone(),
            match &r.user.kube {
                Some(k) => format!("{} ({k})", r.user.os),
                None => r.user.os.clone(),
            },
            r.action.clone(),
            target.join(" "),
            match &r.outcome {
                Outcome::Ok => "ok".into(),
                // One row per record: the first line of a multi-line error.
                Outcome::Failed { message } => {
                    format!("failed: {}", message.lines().next().unwrap_or(""))
                }
                Outcome::Interrupted { .. } => "interrupted".into(),
            },
        ]);
    }
    shell.data(&table(&rows)).map_err(io)
}

#[cfg(test)]
mod since_tests {
    use super::since_arg;

    #[test]
    fn a_since_reaching_past_the_clock_is_an_error_not_an_overflow() {
        let e = since_arg("99999999999999999d").unwrap_err();
        assert!(e.contains("reaches too far back"), "{e}");
        assert!(since_arg("2d").is_ok());
    }
}
