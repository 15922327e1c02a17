//! `build`: images for every component of a project (or the demo stack) through the Docker
//! Engine API, built in parallel with step progress on stderr; optionally pushed to a registry
//! or loaded into a kind / Minikube cluster.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::project::SourceArgs;
use crate::cluster::{Provider, CLUSTER_NAME, SYSTEM_TOOLS};
use crate::detect::{self, Language};
use crate::dockerfile::BaseImageOverride;
use crate::error::CliError;
use crate::image::build::default_log_dir;
use crate::image::docker::DockerEngine;
use crate::image::{
    self, build_all, human_size, load, parse_size, registry, BuildOptions, ImageBackend,
    ImageError, ProgressEvent,
};
use crate::output::{Format, Shell};

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Build only this component (repeatable; default: all).
    #[arg(long = "component", value_name = "NAME")]
    pub components: Vec<String>,
    /// Tag every image with T instead of its content tag (`latest` is refused).
    #[arg(long, value_name = "T")]
    pub tag: Option<String>,
    #[command(flatten)]
    pub inputs: BuildInputArgs,
    /// Build every step again, ignoring the layer cache and existing content tags.
    #[arg(long)]
    pub no_cache: bool,
    /// Fail when an image is larger than this (e.g. 500MB, 1GB, 300MiB).
    #[arg(long, value_name = "SIZE", default_value = "500MB")]
    pub max_size: String,
    /// Push the images to this registry (host[:port][/prefix]); skipped per image when the
    /// registry has it already.
    #[arg(long, value_name = "REGISTRY")]
    pub push: Option<String>,
    /// Registry user (or JUSTPUSH_REGISTRY_USER); the password comes from
    /// JUSTPUSH_REGISTRY_PASSWORD or --registry-password-stdin, else ~/.docker/config.json.
    #[arg(long, value_name = "USER")]
    pub registry_user: Option<String>,
    /// Read the registry password from stdin.
    #[arg(long)]
    pub registry_password_stdin: bool,
    /// Load the images into a local cluster instead of pushing.
    #[arg(long, value_enum, value_name = "PROVIDER", conflicts_with = "push")]
    pub load: Option<Provider>,
    /// The kind cluster / Minikube profile to load into.
    #[arg(long, default_value = CLUSTER_NAME)]
    pub cluster: String,
    #[command(flatten)]
    pub scan: super::scan::ScanFlag,
}

/// What goes into every build, shared by `build` and `up`.
#[derive(Debug, Args)]
pub struct BuildInputArgs {
    /// Base image for a language's generated Dockerfiles: LANG=IMAGE (builder and runtime),
    /// LANG.builder=IMAGE or LANG.runtime=IMAGE (repeatable).
    #[arg(long = "base-image", value_name = "LANG=IMAGE")]
    pub base_images: Vec<String>,
    /// PEM bundle for builder stages (TLS-intercepting proxies); never in the final image.
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// Build argument K=V (repeatable).
    #[arg(long = "build-arg", value_name = "K=V")]
    pub build_args: Vec<String>,
    /// Memory of each build container, swap included (at most 2GiB; 0 for no limit).
    #[arg(long, value_name = "SIZE", default_value = "2GiB")]
    pub build_memory: String,
    /// CPUs of each build container (e.g. 0.5; 0 for no limit).
    #[arg(long, value_name = "N", default_value = "2")]
    pub build_cpus: String,
    /// Refuse a build context whose files add up to more than this (e.g. 2GiB, 500MB).
    #[arg(long, value_name = "SIZE", default_value = "2GiB")]
    pub max_context: String,
    /// Do not run the built images to find the port they listen on and a health path that
    /// answers (the probe); the detected or configured port and health path are used as they are.
    #[arg(long)]
    pub no_probe: bool,
    /// How long a built image may take to listen when it is probed (e.g. 60s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = probe_timeout_arg)]
    pub probe_timeout: std::time::Duration,
}

/// `--probe-timeout`: a duration above zero (zero would give the app no time to listen, and
/// every probe would fail as if the app never started).
fn probe_timeout_arg(text: &str) -> Result<std::time::Duration, String> {
    let d = super::deploy::parse_duration(text)?;
    if d.is_zero() {
        return Err(format!(
            "{text} gives the app no time to start listening; use a duration above zero (e.g. 60s), or --no-probe to skip the probe"
        ));
    }
    Ok(d)
}

impl BuildInputArgs {
    /// Build options for DIR with these inputs; a bad flag is a usage error.
    pub fn build_options(&self, dir: &std::path::Path) -> Result<BuildOptions, CliError> {
        let mut options = BuildOptions::for_dir(dir);
        options.dockerfile.base_images =
            parse_base_images(&self.base_images).map_err(CliError::usage)?;
        options.build_args = parse_build_args(&self.build_args).map_err(CliError::usage)?;
        options.ca_bundle = self.ca_bundle.as_deref().map(read_ca_bundle).transpose()?;
        options.limits = image::BuildLimits {
            memory_bytes: image::parse_build_memory(&self.build_memory).map_err(CliError::usage)?,
            cpus: image::parse_build_cpus(&self.build_cpus).map_err(CliError::usage)?,
        };
        options.max_context = parse_size(&self.max_context)
            .map_err(|m| CliError::usage(format!("--max-context {m}")))?;
        if !self.no_probe {
            // justpush.yaml's port and health are pins the probe checks.
            let config = crate::detect::config::AppConfig::load_if_present(dir)
                .map_err(|e| CliError::usage(e.to_string()))?;
            options.probe =
                image::probe::ProbeSettings::from_config(dir, config.as_ref(), self.probe_timeout);
        }
        Ok(options)
    }
}

/// Reads a `--ca-bundle` file and checks that it is PEM.
fn read_ca_bundle(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    // Through input::read_bytes: a FIFO or device given here is refused, never read.
    let bytes = crate::input::read_bytes(path, "--ca-bundle", crate::input::MAX_CONFIG_BYTES)
        .map_err(|e| {
            CliError::usage(format!(
                "{e} (give a PEM file such as /etc/ssl/certs/ca-certificates.crt)"
            ))
        })?;
    if !String::from_utf8_lossy(&bytes).contains("-----BEGIN CERTIFICATE-----") {
        return Err(CliError::usage(format!(
            "--ca-bundle {}: not a PEM bundle (no BEGIN CERTIFICATE line)",
            path.display()
        )));
    }
    Ok(bytes)
}

/// One row of `-o json`.
#[derive(Debug, serde::Serialize)]
struct ImageRow {
    component: String,
    image: String,
    size_bytes: u64,
    build_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pushed: Option<String>,
    /// What running the image found: port, health check, and why (absent with --no-probe).
    #[serde(skip_serializing_if = "Option::is_none")]
    probe: Option<image::probe::ProbeResult>,
}

/// Parses `LANG=IMAGE`, `LANG.builder=IMAGE`, `LANG.runtime=IMAGE` into per-language overrides.
pub fn parse_base_images(
    specs: &[String],
) -> Result<BTreeMap<Language, BaseImageOverride>, String> {
    let mut out: BTreeMap<Language, BaseImageOverride> = BTreeMap::new();
    for spec in specs {
        let (key, image) = spec.split_once('=').ok_or_else(|| {
            format!("--base-image `{spec}`: expected LANG=IMAGE, e.g. python=mirror.example/python:3.12-slim-bookworm")
        })?;
        let (lang, half) = match key.split_once('.') {
            Some((l, h)) => (l, Some(h)),
            None => (key, None),
        };
        let language: Language = lang.parse().map_err(|_| {
            format!("--base-image `{spec}`: unknown language `{lang}`; use python, node, go, java, rust or static")
        })?;
        if image.trim().is_empty() {
            return Err(format!("--base-image `{spec}`: the image is empty"));
        }
        let entry = out.entry(language).or_default();
        match half {
            None => {
                entry.builder = Some(image.to_string());
                entry.runtime = Some(image.to_string());
            }
            Some("builder") => entry.builder = Some(image.to_string()),
            Some("runtime") => entry.runtime = Some(image.to_string()),
            Some(other) => {
                return Err(format!(
                    "--base-image `{spec}`: `{other}` is neither `builder` nor `runtime`"
                ))
            }
        }
    }
    Ok(out)
}

/// Parses `K=V` build arguments.
pub fn parse_build_args(specs: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let (k, v) = spec
            .split_once('=')
            .ok_or_else(|| format!("--build-arg `{spec}`: expected K=V"))?;
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "--build-arg `{spec}`: `{k}` is not a build argument name (letters, digits, _)"
            ));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn image_error(e: ImageError) -> CliError {
    if e.is_usage() {
        CliError::usage(e.to_string())
    } else {
        CliError::failed(e.to_string())
    }
}

pub fn run(args: &BuildArgs, shell: &mut Shell) -> Result<(), CliError> {
    let dir = args.source.resolve()?;
    if args.source.demo {
        super::project::prepare_demo(&dir, shell)?;
    }
    let max_size =
        parse_size(&args.max_size).map_err(|m| CliError::usage(format!("--max-size {m}")))?;
    let mut options = args.inputs.build_options(&dir)?;
    if let Some(t) = &args.tag {
        image::validate_tag(t).map_err(image_error)?;
    }
    if let Some(r) = &args.push {
        registry::validate_registry(r).map_err(image_error)?;
    }
    let password = if args.registry_password_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            CliError::usage(format!("--registry-password-stdin: reading stdin: {e}"))
        })?;
        crate::audit::note_secret(&text);
        Some(text.trim_end_matches(['\n', '\r']).to_string())
    } else {
        None
    };

    let config = detect::config::AppConfig::load_if_present(&dir)
        .map_err(|e| CliError::usage(e.to_string()))?;
    let mut app = detect::detect(&dir).map_err(|e| CliError::failed(e.to_string()))?;
    // The chart mounts justpush.yaml's `writable` lists, so the image hands over those.
    if let Some(config) = &config {
        config.apply_writable(&mut app);
    }
    let mut components = app.components;
    if !args.components.is_empty() {
        for wanted in &args.components {
            if !components.iter().any(|c| &c.name == wanted) {
                let names: Vec<&str> = components.iter().map(|c| c.name.as_str()).collect();
                return Err(CliError::usage(format!(
                    "--component {wanted}: no such component in {} (found: {})",
                    dir.display(),
                    names.join(", ")
                )));
            }
        }
        components.retain(|c| args.components.contains(&c.name));
    }

    // Before the engine is even reached: strict stops here with nothing built.
    let scan_reports = super::scan::gate(&dir, &components, &args.scan, shell)?;

    options.no_cache = args.no_cache;
    options.tag = args.tag.clone();
    options.max_size = max_size;
    if let Some(d) = std::env::var_os("JUSTPUSH_LOG_DIR") {
        options.log_dir = PathBuf::from(d);
    }

    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::failed(format!("starting the async runtime: {e}")))?;
    runtime.block_on(async {
        let engine = DockerEngine::connect().map_err(image_error)?;
        engine.ping().await.map_err(image_error)?;

        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ProgressEvent>();
        let progress: Arc<dyn Fn(ProgressEvent) + Send + Sync> = Arc::new(move |e| {
            let _ = tx.send(e);
        });
        let build = async {
            let results = build_all(&engine, &dir, &components, &options, progress).await;
            results
        };
        let printer = async {
            while let Some(event) = rx.recv().await {
                show_progress(shell, &event);
            }
        };
        let (results, ()) = futures::join!(build, printer);

        let mut built = Vec::new();
        let mut failures = Vec::new();
        for r in results {
            match r {
                Ok(b) => built.push(b),
                Err(e) => failures.push(e),
            }
        }
        if !failures.is_empty() {
            for f in &failures {
                let _ = shell.error(&f.to_string());
            }
            let usage = failures.iter().all(|f| f.is_usage());
            let summary = format!(
                "{} of {} image builds failed",
                failures.len(),
                failures.len() + built.len()
            );
            return Err(if usage {
                CliError::usage(summary)
            } else {
                CliError::failed(summary)
            });
        }

        let mut rows: Vec<ImageRow> = built
            .iter()
            .map(|b| ImageRow {
                component: b.component.clone(),
                image: b.image.clone(),
                size_bytes: b.size_bytes,
                build_seconds: (b.build_seconds * 100.0).round() / 100.0,
                pushed: None,
                probe: b.probe.clone(),
            })
            .collect();

        if let Some(reg) = &args.push {
            let host = reg.split('/').next().unwrap_or(reg);
            let auth = registry::resolve_credentials(
                host,
                args.registry_user.as_deref(),
                password,
                registry::docker_config_path().as_deref(),
            )
            .map_err(image_error)?;
            let pushes = built
                .iter()
                .map(|b| registry::push_image(&engine, &b.component, &b.image, reg, &auth));
            let outcomes = futures::future::join_all(pushes).await;
            let mut failed = 0;
            for (row, outcome) in rows.iter_mut().zip(outcomes) {
                match outcome {
                    Ok(o) => {
                        let verb = if o.skipped { "Up to date" } else { "Pushed" };
                        let note = if o.skipped {
                            " (registry has this digest)"
                        } else {
                            ""
                        };
                        let _ = shell.status(verb, &format!("{}{note}", o.image));
                        row.pushed = Some(o.image);
                    }
                    Err(e) => {
                        failed += 1;
                        let _ = shell.error(&e.to_string());
                    }
                }
            }
            if failed > 0 {
                return Err(CliError::failed(format!(
                    "{failed} of {} pushes failed",
                    rows.len()
                )));
            }
        }

        if let Some(provider) = args.load {
            let work = default_log_dir(&dir).with_file_name("archives");
            for b in &built {
                let loaded = load::load_image(
                    &engine,
                    &SYSTEM_TOOLS,
                    provider,
                    &args.cluster,
                    &b.image,
                    &work,
                )
                .await
                .map_err(image_error)?;
                let verb = if loaded { "Loaded" } else { "Up to date" };
                let _ = shell.status(
                    verb,
                    &format!("{} into {} {}", b.image, provider.binary(), args.cluster),
                );
            }
        }

        match shell.format {
            Format::Text => {
                let mut table = vec![["COMPONENT", "IMAGE", "SIZE", "SECONDS"]
                    .map(String::from)
                    .to_vec()];
                for r in &rows {
                    table.push(vec![
                        r.component.clone(),
                        r.pushed.clone().unwrap_or_else(|| r.image.clone()),
                        human_size(r.size_bytes),
                        format!("{:.1}", r.build_seconds),
                    ]);
                }
                shell.data(&crate::output::table(&table))
            }
            _ => shell.structured(&serde_json::json!({ "images": rows, "scan": scan_reports })),
        }
        .map_err(CliError::io)
    })
}

fn show_progress(shell: &mut Shell, event: &ProgressEvent) {
    let _ = match event {
        ProgressEvent::Started {
            component,
            image,
            context_files,
        } => shell.status(
            "Building",
            &format!("{component} as {image} ({context_files} files in the context)"),
        ),
        ProgressEvent::Step { component, step } => shell.status(
            "Step",
            &format!(
                "{component} {}/{} {}",
                step.number,
                step.total,
                truncate(&step.instruction, 100)
            ),
        ),
        ProgressEvent::UpToDate { component, image } => {
            shell.status("Up to date", &format!("{component} {image}"))
        }
        ProgressEvent::Warning { component, message } => {
            shell.warn(&format!("{component}: {message}"))
        }
        ProgressEvent::Finished {
            component,
            image,
            size_bytes,
            build_seconds,
        } => shell.status(
            "Built",
            &format!(
                "{component} {image} {} in {build_seconds:.1} s",
                human_size(*size_bytes)
            ),
        ),
        ProgressEvent::Probed { component, result } => {
            shell.status("Probed", &format!("{component}: {}", result.summary()))
        }
    };
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_image_specs() {
        let m = parse_base_images(&[
            "python=mirror/py:1".into(),
            "node.builder=mirror/node-build:1".into(),
            "node.runtime=mirror/node:1".into(),
        ])
        .unwrap();
        assert_eq!(m[&Language::Python].builder.as_deref(), Some("mirror/py:1"));
        assert_eq!(m[&Language::Python].runtime.as_deref(), Some("mirror/py:1"));
        assert_eq!(
            m[&Language::Node].builder.as_deref(),
            Some("mirror/node-build:1")
        );
        assert_eq!(m[&Language::Node].runtime.as_deref(), Some("mirror/node:1"));
        assert!(parse_base_images(&["cobol=x".into()])
            .unwrap_err()
            .contains("unknown language"));
        assert!(parse_base_images(&["python".into()])
            .unwrap_err()
            .contains("LANG=IMAGE"));
        assert!(parse_base_images(&["node.final=x".into()])
            .unwrap_err()
            .contains("neither"));
    }

    #[test]
    fn build_arg_specs() {
        let m = parse_build_args(&["A=1".into(), "B_2=x=y".into()]).unwrap();
        assert_eq!(m["B_2"], "x=y");
        assert!(parse_build_args(&["nope".into()]).is_err());
        assert!(parse_build_args(&["a-b=1".into()]).is_err());
    }
}
