//! `render`: the chart to manifests without a cluster.

use super::GlobalFlags;
use crate::chart::load::Chart;
use crate::chart::manifest::to_multidoc;
use crate::chart::render::{Capabilities, ReleaseInfo};
use crate::chart::strvals::{LocalFiles, SetKind};
use crate::chart::values::ValueLayers;
use crate::error::CliError;
use crate::output::{Format, Shell};
use clap::Args;
use std::path::PathBuf;

/// Helm's value flags, in Helm's precedence: files, then --set-json, --set, --set-string,
/// --set-file, --set-literal.
#[derive(Debug, Args, Clone, Default)]
pub struct ValueFlags {
    /// Values file (repeatable; later files win; `-` reads stdin).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub files: Vec<String>,
    /// Set values: a.b=1,list[0]=x,l={x,y} (typed: numbers, true/false, null).
    #[arg(long = "set", value_name = "K=V")]
    pub set: Vec<String>,
    /// Set values as strings.
    #[arg(long = "set-string", value_name = "K=V")]
    pub set_string: Vec<String>,
    /// Set values from files: key=path.
    #[arg(long = "set-file", value_name = "K=PATH")]
    pub set_file: Vec<String>,
    /// Set values from JSON: key=<json>.
    #[arg(long = "set-json", value_name = "K=JSON")]
    pub set_json: Vec<String>,
    /// Set one value verbatim.
    #[arg(long = "set-literal", value_name = "K=V")]
    pub set_literal: Vec<String>,
}

impl ValueFlags {
    /// The user's values, layered as Helm layers them.
    pub fn user_values(&self) -> Result<serde_json::Map<String, serde_json::Value>, CliError> {
        let mut layers = ValueLayers::new();
        for f in &self.files {
            layers = layers.values_file(f.clone());
        }
        for (kind, exprs) in [
            (SetKind::Set, &self.set),
            (SetKind::SetString, &self.set_string),
            (SetKind::SetFile, &self.set_file),
            (SetKind::SetJson, &self.set_json),
            (SetKind::SetLiteral, &self.set_literal),
        ] {
            for e in exprs {
                layers = layers.set(kind, e.clone());
            }
        }
        layers
            .user_values(&LocalFiles)
            .map_err(|e| CliError::usage(e.to_string()))
    }
}

/// Refuses an invalid release name given by `flag`, as a usage error (exit 2) that names the
/// flag; every command checks its release flag with this before it touches anything.
pub fn check_release_flag(flag: &str, name: &str) -> Result<(), CliError> {
    crate::chart::names::validate_release_name(name)
        .map_err(|e| CliError::usage(format!("{flag}: {e}")))
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Chart directory or .tgz archive (default: the bundled justpush chart).
    pub chart: Option<PathBuf>,
    #[command(flatten)]
    pub values: ValueFlags,
    /// Release name.
    #[arg(long, default_value = "justpush")]
    pub name: String,
    /// Kubernetes version for .Capabilities (default: Helm's, v1.36.0).
    #[arg(long, value_name = "V")]
    pub kube_version: Option<String>,
    /// Extra API versions for .Capabilities.APIVersions (repeatable), e.g. monitoring.coreos.com/v1.
    #[arg(short = 'a', long = "api-versions", value_name = "GROUP/VERSION")]
    pub api_versions: Vec<String>,
    /// Write each template's output to DIR/<path> instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Route through Kong as this OpenAPI spec says: one Ingress per operation, KongPlugins,
    /// consumers (the bundled chart's values; -f/--set values still win).
    #[arg(long, value_name = "SPEC")]
    pub openapi: Option<PathBuf>,
    /// Component serving the --openapi spec (default: the project's when SPEC is a project
    /// directory, else backend).
    #[arg(long, value_name = "NAME", requires = "openapi")]
    pub component: Option<String>,
    /// justpush.yaml with the gateway settings for --openapi (default: ./justpush.yaml if any).
    #[arg(long, value_name = "FILE", requires = "openapi")]
    pub config: Option<PathBuf>,
    /// With --openapi: operations whose security Kong cannot enforce become public routes
    /// (warned about) instead of an error.
    #[arg(long, requires = "openapi")]
    pub allow_public: bool,
}

pub fn run(args: &RenderArgs, global: &GlobalFlags, shell: &mut Shell) -> Result<(), CliError> {
    check_release_flag("--name", &args.name)?;
    let chart = match &args.chart {
        Some(p) => Chart::load(p),
        None => Chart::bundled(),
    }
    .map_err(|e| CliError::failed(e.to_string()))?;
    let mut user = args.values.user_values()?;
    if let Some(spec) = &args.openapi {
        let spec_args = super::routes::SpecArgs {
            spec: Some(spec.clone()),
            url: None,
            config: args.config.clone(),
            name: Some(args.name.clone()),
            allow_public: args.allow_public,
        };
        let loaded = super::routes::load_plan(&spec_args, shell)?;
        let component = args
            .component
            .clone()
            .or(loaded.component)
            .unwrap_or_else(|| "backend".into());
        let (overlay, warnings) =
            crate::kong::chart_values::chart_values(&loaded.plan, &loaded.settings, &component);
        for w in warnings {
            shell.warn(&w).ok();
        }
        let mut layered = overlay.as_object().cloned().unwrap_or_default();
        crate::chart::app_values::merge_values(&mut layered, &user);
        user = layered;
    }
    let mut caps = match &args.kube_version {
        Some(v) => Capabilities::with_kube_version(v).map_err(CliError::usage)?,
        None => Capabilities::default(),
    };
    caps.api_versions.extend(args.api_versions.iter().cloned());
    let release = ReleaseInfo {
        name: args.name.clone(),
        namespace: global.namespace.clone().unwrap_or_else(|| "default".into()),
        revision: 1,
        is_upgrade: false,
    };
    let out = crate::chart::render_release(&chart, &user, &release, &caps)
        .map_err(|e| CliError::failed(e.to_string()))?;
    match &args.output_dir {
        Some(dir) => {
            for m in &out.manifests {
                let path = dir.join(&m.source);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        CliError::failed(format!("creating {}: {e}", parent.display()))
                    })?;
                }
                let mut text = std::fs::read_to_string(&path).unwrap_or_default();
                text.push_str(&format!("---\n# Source: {}\n{}\n", m.source, m.text));
                std::fs::write(&path, text)
                    .map_err(|e| CliError::failed(format!("writing {}: {e}", path.display())))?;
            }
            shell
                .status(
                    "Wrote",
                    &format!("{} documents to {}", out.manifests.len(), dir.display()),
                )
                .ok();
            Ok(())
        }
        None if shell.format == Format::Json => {
            // Machines get the documents as data, each with the template it came from.
            let docs = out
                .manifests
                .iter()
                .map(|m| {
                    let object: serde_json::Value =
                        serde_yaml::from_str(&m.text).unwrap_or_default();
                    serde_json::json!({ "source": m.source, "object": object })
                })
                .collect::<Vec<_>>();
            shell
                .structured(&serde_json::json!({ "manifests": docs }))
                .map_err(CliError::io)
        }
        None => shell
            .data(&to_multidoc(&out.manifests))
            .map_err(CliError::io),
    }
}
