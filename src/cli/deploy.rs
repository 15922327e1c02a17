//! `deploy`, `redeploy` and `rollback`: a new revision of a release through
//! `kube::action::deploy_release`, with progress on stderr, Ctrl-C handling (first: roll back,
//! second: abort) and a summary on stdout.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use clap::Args;
use serde_json::{json, Map, Value as J};

use super::project::SourceArgs;
use super::render::ValueFlags;
use super::GlobalFlags;
use crate::chart::load::Chart;
use crate::chart::release_values::{release_values, ValueSources};
use crate::detect::config::{AppConfig, CONFIG_FILE};
use crate::error::CliError;
use crate::kube::action::{deploy_release, DeployError, DeployProgress, DeployRequest};
use crate::kube::record::{last_good, RecordStore, ReleaseStatus};
use crate::kube::{connect, runtime, Cluster, Target};
use crate::output::{Format, Shell};

/// Parses a Go-style duration (`5m`, `90s`, `1m30s`, `2h`) or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<u64>() {
        if secs > MAX_DURATION_SECS {
            return Err(format!(
                "`{text}` is longer than the longest duration justpush accepts ({MAX_DURATION_SECS} s, one year); use e.g. 5m, 90s, 1m30s"
            ));
        }
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = t.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => {
                    return Err(format!(
                        "`{text}` is not a duration (use e.g. 5m, 90s, 1m30s)"
                    ))
                }
            }
        };
        let n: f64 = num
            .parse()
            .map_err(|_| format!("`{text}` is not a duration (use e.g. 5m, 90s, 1m30s)"))?;
        total += n * unit;
        num.clear();
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(format!(
            "`{text}` is not a duration (use e.g. 5m, 90s, 1m30s)"
        ));
    }
    // Durations past a year are typos or attacks; `from_secs_f64` would panic on overflow.
    if !total.is_finite() || total > MAX_DURATION_SECS as f64 {
        return Err(format!(
            "`{text}` is longer than the longest duration justpush accepts ({MAX_DURATION_SECS} s, one year); use e.g. 5m, 90s, 1m30s"
        ));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Longest duration a flag takes (one year): far beyond any wait, and safe to add to now.
pub const MAX_DURATION_SECS: u64 = 365 * 24 * 3600;

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub values: ValueFlags,
    /// Release name (default: `name` in justpush.yaml, else the directory's name).
    #[arg(long)]
    pub name: Option<String>,
    /// How long to wait for the release to become ready before rolling back.
    #[arg(long, default_value = "5m", value_parser = duration_arg)]
    pub timeout: Duration,
    /// Image of a component (repeatable): COMPONENT=REF, e.g. backend=127.0.0.1:5000/todo/backend:v2.
    #[arg(long = "image", value_name = "COMPONENT=REF")]
    pub images: Vec<String>,
}

/// The app's settings: justpush.yaml if present, else what detection finds.
pub fn load_app(dir: &Path, name: Option<&str>) -> Result<AppConfig, CliError> {
    if let Some(n) = name {
        super::render::check_release_flag("--name", n)?;
    }
    let file = dir.join(CONFIG_FILE);
    let mut app = if file.is_file() {
        AppConfig::load(&file).map_err(|e| CliError::usage(e.to_string()))?
    } else {
        let detected = crate::detect::detect(dir).map_err(|e| CliError::usage(e.to_string()))?;
        let base = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "app".into());
        let base = if base == "images" {
            "demo".to_string()
        } else {
            base
        };
        AppConfig::from_detected(&crate::chart::names::release_name_from(&base), &detected)
    };
    if let Some(n) = name {
        app.name = n.to_string();
    }
    Ok(app)
}

fn parse_images(flags: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for f in flags {
        let (c, r) = f.split_once('=').ok_or_else(|| {
            CliError::usage(format!(
                "--image {f}: expected COMPONENT=REF, e.g. --image backend=todo/backend:v2"
            ))
        })?;
        out.insert(c.trim().to_string(), r.trim().to_string());
    }
    Ok(out)
}

pub fn target(g: &GlobalFlags) -> Target {
    Target {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.clone(),
        namespace: g.namespace.clone(),
    }
}

/// Runs a deploy request with progress on stderr and Ctrl-C wired to its tokens.
pub fn run_request(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    req: DeployRequest,
    shell: &mut Shell,
) -> Result<crate::kube::action::DeployOutcome, CliError> {
    let interrupt = req.interrupt.clone();
    let interrupted = req.interrupt.clone();
    let abort = req.abort.clone();
    rt.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                abort.cancel();
            }
        }
    });
    let client = cluster.client.clone();
    let result = rt.block_on(crate::pipeline::progress::relay(
        |tx| async move {
            let mut send = move |p: DeployProgress| {
                let _ = tx.send(p);
            };
            deploy_release(&client, req, &mut send).await
        },
        |p| show_progress(shell, p),
    ));
    result.map_err(|e| match e {
        e @ DeployError::Aborted { .. } => CliError::caused_by(e, 130),
        // Ctrl-C that was cleaned up (rolled back or removed) still exits 130, as shells expect
        // of an interrupted command and as `up` does.
        other if interrupted.is_cancelled() => CliError::caused_by(other, 130),
        other => CliError::caused_by(other, 1),
    })
}

fn show_progress(shell: &mut Shell, p: DeployProgress) {
    let _ = match p {
        DeployProgress::Step(s) => shell.status("Deploy", &s),
        DeployProgress::Component {
            name,
            ready,
            desired,
        } => shell.status("Rollout", &format!("{name}: {ready}/{desired} ready")),
        DeployProgress::Warning(w) => shell.warn(&w),
    };
}

/// Prints the summary of a finished deploy.
pub fn report(
    shell: &mut Shell,
    cluster: &Cluster,
    outcome: &crate::kube::action::DeployOutcome,
) -> Result<(), CliError> {
    let r = &outcome.record;
    let io = CliError::io;
    match shell.format {
        Format::Text => {
            let mut text = format!(
                "release {} revision {} {} in namespace {}\n",
                r.name,
                r.revision,
                r.status.as_str(),
                r.namespace
            );
            for (c, i) in &r.images {
                text.push_str(&format!("  {c}: {i}\n"));
            }
            if let Some(s) = &outcome.api_key_secret {
                text.push_str(&format!(
                    "API key: kubectl get secret {s} -n {} -o jsonpath='{{.data.key}}' | base64 -d\n",
                    cluster.namespace
                ));
            }
            shell.data(&text).map_err(io)?;
        }
        _ => shell
            .structured(&json!({
                "release": r.name,
                "namespace": r.namespace,
                "revision": r.revision,
                "status": r.status,
                "images": r.images,
                "warnings": outcome.warnings,
                "apiKeySecret": outcome.api_key_secret,
                "kongObjects": r.kong_objects,
            }))
            .map_err(io)?,
    }
    for w in &outcome.warnings {
        let _ = shell.warn(w);
    }
    Ok(())
}

/// `deploy`.
pub fn run_deploy(args: &DeployArgs, g: &GlobalFlags, shell: &mut Shell) -> Result<(), CliError> {
    let dir = args.source.resolve()?;
    let app = load_app(&dir, args.name.as_deref())?;
    let images = parse_images(&args.images)?;
    // The same values `up` makes, routes from the OpenAPI documents included (runtime ones
    // from the cache an earlier `up` of these images filled); no probe ran here.
    let spec_cache = crate::pipeline::progress::state_dir().join("specs");
    let made = release_values(
        &app,
        &ValueSources {
            root: Some(&dir),
            runtime_specs: crate::pipeline::stages::cached_specs(&spec_cache, &images),
            secrets: crate::pipeline::stages::secrets_from_env(&app),
            images: images.clone(),
            probes: Default::default(),
            user: args.values.user_values()?,
        },
    )
    .map_err(|e| CliError::usage(e.to_string()))?;
    for n in made.route_notes.iter().chain(&made.app_notes) {
        let _ = shell.warn(n);
    }
    let values = made.values;
    let chart = Chart::bundled().map_err(|e| CliError::failed(e.to_string()))?;
    let rt = runtime()?;
    let cluster = rt.block_on(connect(&target(g)))?;
    let mut req = DeployRequest::new(&app.name, &cluster.namespace, chart, values);
    req.timeout = args.timeout;
    req.images = images;
    let _ = shell.status(
        "Deploy",
        &format!(
            "{} to namespace {} on {}",
            app.name, cluster.namespace, cluster.server
        ),
    );
    let outcome = run_request(&rt, &cluster, req, shell)?;
    report(shell, &cluster, &outcome)
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Revision to return to (default: the last good one before the current).
    pub revision: Option<u32>,
    /// Release name.
    #[arg(long)]
    pub name: Option<String>,
    /// How long to wait for the release to become ready.
    #[arg(long, default_value = "5m", value_parser = duration_arg)]
    pub timeout: Duration,
}

/// The release name: `--name`, else justpush.yaml in the current directory, else the only
/// release in the namespace.
pub fn release_name(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    name: Option<&str>,
) -> Result<String, CliError> {
    if let Some(n) = name {
        super::render::check_release_flag("--name", n)?;
        return Ok(n.to_string());
    }
    if let Ok(app) = AppConfig::load(Path::new(CONFIG_FILE)) {
        return Ok(app.name);
    }
    let names = rt.block_on(crate::kube::manage::release_names(
        &cluster.client,
        &cluster.namespace,
    ))?;
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(CliError::usage(format!(
            "no justpush release in namespace {}; pass -n NAMESPACE or --name NAME",
            cluster.namespace
        ))),
        many => Err(CliError::usage(format!(
            "namespace {} holds several releases ({}); pass --name NAME",
            cluster.namespace,
            many.join(", ")
        ))),
    }
}

/// `rollback`.
pub fn run_rollback(
    args: &RollbackArgs,
    g: &GlobalFlags,
    shell: &mut Shell,
) -> Result<(), CliError> {
    let rt = runtime()?;
    let cluster = rt.block_on(connect(&target(g)))?;
    let name = release_name(&rt, &cluster, args.name.as_deref())?;
    let store = RecordStore::new(cluster.client.clone(), &cluster.namespace, &name);
    let records = rt.block_on(store.list())?;
    let current = records
        .iter()
        .filter(|r| r.status == ReleaseStatus::Deployed)
        .max_by_key(|r| r.revision)
        .cloned();
    let current_rev = current.as_ref().map(|r| r.revision).unwrap_or(u32::MAX);
    let target_rec = match args.revision {
        Some(rev) => records.iter().find(|r| r.revision == rev).ok_or_else(|| {
            CliError::usage(format!(
                "release {name} has no revision {rev}; `kubectl justpush history --name {name}` lists them ({})",
                records.iter().map(|r| r.revision.to_string()).collect::<Vec<_>>().join(", ")
            ))
        })?,
        None => last_good(&records, current_rev).ok_or_else(|| {
            CliError::usage(format!(
                "release {name} has no earlier good revision to roll back to; pass REVISION (see `kubectl justpush history`)"
            ))
        })?,
    };
    if Some(target_rec.revision) == current.as_ref().map(|r| r.revision) {
        return Err(CliError::usage(format!(
            "revision {} is already the deployed revision of {name}",
            target_rec.revision
        )));
    }
    let values = match &target_rec.values {
        J::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let chart = Chart::bundled().map_err(|e| CliError::failed(e.to_string()))?;
    let mut req = DeployRequest::new(&name, &cluster.namespace, chart, values);
    req.timeout = args.timeout;
    req.images = target_rec.images.clone();
    req.description = format!("Rollback to {}", target_rec.revision);
    let _ = shell.status(
        "Rollback",
        &format!(
            "{name} to revision {} in namespace {}",
            target_rec.revision, cluster.namespace
        ),
    );
    let outcome = run_request(&rt, &cluster, req, shell)?;
    if let Some(mut cur) = current {
        cur.status = ReleaseStatus::RolledBack;
        cur.updated_at = crate::kube::record::now();
        rt.block_on(store.save(&cur))?;
    }
    report(shell, &cluster, &outcome)
}

#[derive(Debug, Args)]
pub struct RedeployArgs {
    /// Release name.
    #[arg(long)]
    pub name: Option<String>,
    /// Component the changes apply to (default: the only component, else required).
    #[arg(long, short = 'c')]
    pub component: Option<String>,
    /// Set a plain environment variable: K=V (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Set a secret variable K; its value is read from stdin (one --secret) or from
    /// --secret-file (K=V lines), never from the command line.
    #[arg(long = "secret", value_name = "K")]
    pub secrets: Vec<String>,
    /// File of K=V lines with the values of the --secret variables.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<std::path::PathBuf>,
    /// Remove a variable (plain or secret) (repeatable).
    #[arg(long = "unset", value_name = "K")]
    pub unset: Vec<String>,
    /// How long to wait for the release to become ready.
    #[arg(long, default_value = "5m", value_parser = duration_arg)]
    pub timeout: Duration,
}

/// Values of the `--secret` variables: from the file, else stdin.
fn read_secrets(args: &RedeployArgs) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    if args.secrets.is_empty() {
        return Ok(out);
    }
    let text = match &args.secret_file {
        Some(p) => crate::input::read_text(p, "--secret-file", crate::input::MAX_CONFIG_BYTES)
            .map_err(|e| CliError::usage(e.to_string()))?,
        None => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| CliError::usage(format!("reading secret values from stdin: {e}")))?;
            s
        }
    };
    let pairs: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .collect();
    for k in &args.secrets {
        let v = match pairs.get(k) {
            Some(v) => v.clone(),
            // One secret from stdin: the whole input is its value.
            None if args.secrets.len() == 1 && args.secret_file.is_none() => {
                text.trim_end_matches(['\n', '\r']).to_string()
            }
            None => {
                return Err(CliError::usage(format!(
                    "no value for secret {k}: give K=V lines on stdin or in --secret-file"
                )))
            }
        };
        if v.is_empty() {
            return Err(CliError::usage(format!(
                "the value given for secret {k} is empty"
            )));
        }
        crate::audit::note_secret(&v);
        out.insert(k.clone(), v);
    }
    Ok(out)
}

/// Applies `redeploy`'s changes to a record's values (pure).
pub fn change_values(
    values: &mut Map<String, J>,
    component: &str,
    env: &[(String, String)],
    secrets: &BTreeMap<String, String>,
    unset: &[String],
) -> Result<(), String> {
    let comp = values
        .get_mut("components")
        .and_then(|c| c.get_mut(component))
        .and_then(J::as_object_mut)
        .ok_or_else(|| format!("the release has no component {component}"))?;
    for key in ["env", "secretEnv"] {
        if !comp.get(key).is_some_and(J::is_object) {
            comp.insert(key.into(), json!({}));
        }
    }
    for (k, v) in env {
        comp["secretEnv"].as_object_mut().unwrap().remove(k);
        comp["env"][k] = J::String(v.clone());
    }
    for (k, v) in secrets {
        comp["env"].as_object_mut().unwrap().remove(k);
        comp["secretEnv"][k] = J::String(v.clone());
    }
    for k in unset {
        let a = comp["env"].as_object_mut().unwrap().remove(k);
        let b = comp["secretEnv"].as_object_mut().unwrap().remove(k);
        if a.is_none() && b.is_none() {
            return Err(format!(
                "--unset {k}: component {component} has no variable {k}"
            ));
        }
    }
    Ok(())
}

/// The release's deployed revision, which `redeploy` and `scale` start from.
pub fn last_deployed(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    name: &str,
) -> Result<crate::kube::record::ReleaseRecord, CliError> {
    let store = RecordStore::new(cluster.client.clone(), &cluster.namespace, name);
    let records = rt.block_on(store.list())?;
    records
        .into_iter()
        .filter(|r| r.status == ReleaseStatus::Deployed)
        .max_by_key(|r| r.revision)
        .ok_or_else(|| {
            CliError::usage(format!(
                "release {name} has no deployed revision in namespace {}; deploy it first",
                cluster.namespace
            ))
        })
}

/// `redeploy`.
pub fn run_redeploy(
    args: &RedeployArgs,
    g: &GlobalFlags,
    shell: &mut Shell,
) -> Result<(), CliError> {
    let env: Vec<(String, String)> = args
        .env
        .iter()
        .map(|e| {
            e.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| CliError::usage(format!("--env {e}: expected K=V")))
        })
        .collect::<Result<_, _>>()?;
    if let Some((k, _)) = env.iter().find(|(k, _)| args.secrets.contains(k)) {
        return Err(CliError::usage(format!(
            "{k} is given both as --env and --secret"
        )));
    }
    let secrets = read_secrets(args)?;
    let rt = runtime()?;
    let cluster = rt.block_on(connect(&target(g)))?;
    let name = release_name(&rt, &cluster, args.name.as_deref())?;
    let last = last_deployed(&rt, &cluster, &name)?;
    let mut values = last.values.as_object().cloned().unwrap_or_default();
    let enabled: Vec<String> = values
        .get("components")
        .and_then(J::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, c)| c.get("enabled").and_then(J::as_bool) != Some(false))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let component = match (&args.component, enabled.as_slice()) {
        (Some(c), _) => c.clone(),
        (None, [one]) => one.clone(),
        (None, many) => {
            return Err(CliError::usage(format!(
                "release {name} has components {}; say which with --component",
                many.join(", ")
            )))
        }
    };
    change_values(&mut values, &component, &env, &secrets, &args.unset).map_err(CliError::usage)?;
    let chart = Chart::bundled().map_err(|e| CliError::failed(e.to_string()))?;
    let mut req = DeployRequest::new(&name, &cluster.namespace, chart, values);
    req.timeout = args.timeout;
    req.images = last.images.clone();
    let mut what: Vec<String> = env.iter().map(|(k, _)| format!("env {k}")).collect();
    what.extend(secrets.keys().map(|k| format!("secret {k}")));
    what.extend(args.unset.iter().map(|k| format!("unset {k}")));
    req.description = format!("Redeploy of {component}: {}", what.join(", "));
    let _ = shell.status(
        "Redeploy",
        &format!("{name}/{component} ({})", what.join(", ")),
    );
    let outcome = run_request(&rt, &cluster, req, shell)?;
    report(shell, &cluster, &outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5").is_ok());
    }

    #[test]
    fn overflowing_durations_are_errors_not_panics() {
        for d in [
            "99999999999999999h",
            "18446744073709551616s",
            "9223372036854775807s",
            "9223372036854775807",
            "1e309s",
            "99999999999999999999999999d",
        ] {
            assert!(parse_duration(d).is_err(), "{d}");
        }
        let e = parse_duration("99999999999999999h").unwrap_err();
        assert!(e.contains("longest duration justpush accepts"), "{e}");
        assert_eq!(
            parse_duration("8760h").unwrap(),
            Duration::from_secs(MAX_DURATION_SECS)
        );
    }

    #[test]
    fn redeploy_changes() {
        let mut v = json!({"components": {"api": {"env": {"A": "1", "B": "2"}, "secretEnv": {"S": "redacted:sha256:ab"}}}})
            .as_object()
            .unwrap()
            .clone();
        change_values(
            &mut v,
            "api",
            &[("A".into(), "9".into()), ("S".into(), "plain".into())],
            &BTreeMap::from([("T".to_string(), "t0p".to_string())]),
            &["B".to_string()],
        )
        .unwrap();
        assert_eq!(
            v["components"]["api"],
            json!({"env": {"A": "9", "S": "plain"}, "secretEnv": {"T": "t0p"}})
        );
        assert!(change_values(&mut v, "web", &[], &BTreeMap::new(), &[]).is_err());
        assert!(change_values(&mut v, "api", &[], &BTreeMap::new(), &["ZZ".into()]).is_err());
    }
}
