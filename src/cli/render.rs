//! `render`: the chart to manifests without a cluster.

use super::GlobalFlags;
use crate::chart::load::Chart;
use crate::chart::manifest::to_multidoc;
use crate::chart::render::{Capabilities, ReleaseInfo};
use crate::error::CliError;
use crate::output::Shell;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Chart directory or .tgz archive (default: the bundled justpush chart).
    pub chart: Option<PathBuf>,
    /// Values file (repeatable; later files win).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Release name.
    #[arg(long, default_value = "justpush")]
    pub name: String,
    /// Kubernetes version for .Capabilities (default: Helm's, v1.36.0).
    #[arg(long, value_name = "V")]
    pub kube_version: Option<String>,
    /// Write each template's output to DIR/<path> instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

pub fn run(args: &RenderArgs, global: &GlobalFlags, shell: &mut Shell) -> Result<(), CliError> {
    let chart = match &args.chart {
        Some(p) => Chart::load(p),
        None => Chart::bundled(),
    }
    .map_err(|e| CliError::failed(e.to_string()))?;
    let mut user = serde_json::Value::Object(Default::default());
    for f in &args.values {
        let text = std::fs::read_to_string(f).map_err(|e| CliError::failed(format!("values file {}: {e}", f.display())))?;
        let v: serde_json::Value = serde_yaml::from_str(&text).map_err(|e| CliError::failed(format!("values file {}: invalid YAML: {e}", f.display())))?;
        merge_user(&mut user, v);
    }
    let caps = match &args.kube_version {
        Some(v) => Capabilities::with_kube_version(v).map_err(CliError::usage)?,
        None => Capabilities::default(),
    };
    let release = ReleaseInfo {
        name: args.name.clone(),
        namespace: global.namespace.clone().unwrap_or_else(|| "default".into()),
        revision: 1,
        is_upgrade: false,
    };
    let out = crate::chart::render_release(&chart, &user, &release, &caps).map_err(|e| CliError::failed(e.to_string()))?;
    match &args.output_dir {
        Some(dir) => {
            for m in &out.manifests {
                let path = dir.join(&m.source);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| CliError::failed(format!("creating {}: {e}", parent.display())))?;
                }
                let mut text = std::fs::read_to_string(&path).unwrap_or_default();
                text.push_str(&format!("---\n# Source: {}\n{}\n", m.source, m.text));
                std::fs::write(&path, text).map_err(|e| CliError::failed(format!("writing {}: {e}", path.display())))?;
            }
            shell.status("Wrote", &format!("{} documents to {}", out.manifests.len(), dir.display())).ok();
            Ok(())
        }
        None => shell.data(&to_multidoc(&out.manifests)).map_err(|e| CliError::failed(e.to_string())),
    }
}

fn merge_user(base: &mut serde_json::Value, overlay: serde_json::Value) {
    match (base, overlay) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(bv) if bv.is_object() && v.is_object() => merge_user(bv, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}
