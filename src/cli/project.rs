//! `detect` and `init`: what a project directory holds, and the files justpush would build it
//! with.

use crate::detect::{self, DetectedApp};
use crate::dockerfile::init::{init, InitOptions};
use crate::error::CliError;
use crate::output::{Format, Shell};
use clap::Args;
use std::path::{Path, PathBuf};

/// Where a command finds the application: a directory, or the bundled demo stack.
#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    /// Project directory (default: the current directory).
    #[arg(value_name = "DIR", conflicts_with = "demo")]
    pub dir: Option<PathBuf>,
    /// Use the bundled demo stack (a Next.js frontend and a FastAPI backend).
    #[arg(long)]
    pub demo: bool,
}

impl SourceArgs {
    /// The directory to work on.
    pub fn resolve(&self) -> Result<PathBuf, CliError> {
        if self.demo {
            return demo_dir();
        }
        let dir = self.dir.clone().unwrap_or_else(|| PathBuf::from("."));
        if !dir.is_dir() {
            return Err(CliError::usage(format!(
                "{}: not a directory; pass the project directory, or --demo for the bundled demo",
                dir.display()
            )));
        }
        Ok(dir)
    }
}

/// The demo stack: `$JUSTPUSH_DEMO_DIR`, else the `images/` folder of the source tree the binary
/// was built from.
pub fn demo_dir() -> Result<PathBuf, CliError> {
    let dir = std::env::var_os("JUSTPUSH_DEMO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/images")));
    if dir.join("backend").is_dir() && dir.join("frontend").is_dir() {
        Ok(dir)
    } else {
        Err(CliError::failed(format!(
            "the demo stack is not at {} (it needs backend/ and frontend/); set JUSTPUSH_DEMO_DIR to a checkout's images/ folder",
            dir.display()
        )))
    }
}

/// Makes the demo stack buildable on a first run: its backend's uv.lock installs from a local
/// wheelhouse (so the repository names no package index), which `fetch-wheels.sh --runtime`
/// fills with the pinned, hash-checked wheels through the machine's own pip settings. Does
/// nothing when the wheelhouse already has wheels.
pub fn prepare_demo(demo_dir: &Path, shell: &mut Shell) -> Result<(), CliError> {
    if crate::pipeline::preflight::demo_wheelhouse(demo_dir).is_none() {
        return Ok(());
    }
    let script = demo_dir.join("backend/fetch-wheels.sh");
    shell
        .status(
            "Fetching",
            "the demo backend's pinned wheels (first run only; pip, hash-checked)",
        )
        .ok();
    let outcome = std::process::Command::new("bash")
        .arg(&script)
        .arg("--runtime")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .output();
    let problem = match outcome {
        Ok(out) if out.status.success() => return Ok(()),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("it failed ({}): {}", out.status, tail.join(" | "))
        }
        Err(e) => format!("it could not be started ({e})"),
    };
    Err(CliError::failed(format!(
        "fetching the demo backend's wheels with {} --runtime: {problem}; it needs python3 with pip and access to your package index (pip's own settings apply); run it by hand to see the whole output, then run again",
        script.display()
    )))
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Overwrite files justpush wrote before (hand-written Dockerfiles are never replaced).
    #[arg(long)]
    pub force: bool,
}

pub fn run_detect(args: &DetectArgs, shell: &mut Shell) -> Result<(), CliError> {
    let dir = args.source.resolve()?;
    // Detection itself ignores justpush.yaml, but `detect` is where a user checks a project
    // before `up`: a justpush.yaml that `up` would refuse is refused here too.
    let config = detect::config::AppConfig::load_if_present(&dir)
        .map_err(|e| CliError::usage(e.to_string()))?;
    let mut app = detect::detect(&dir).map_err(|e| CliError::failed(e.to_string()))?;
    // What `build` and `up` will use: the file's `writable` lists replace detection's.
    if let Some(config) = &config {
        config.apply_writable(&mut app);
    }
    show_warnings(shell, &app);
    match shell.format {
        Format::Text => shell.data(&format!("{}{}", detect_table(&app), detect_sources(&app))),
        _ => shell.structured(&app),
    }
    .map_err(CliError::io)
}

/// Detection's warnings on stderr, in every format (`-o json` also carries them per
/// component). `build` and `up` show them as the build's warnings instead, so once.
pub fn show_warnings(shell: &mut Shell, app: &DetectedApp) {
    for c in &app.components {
        for w in &c.warnings {
            shell.warn(&format!("{}: {w}", c.name)).ok();
        }
    }
}

/// Under the table, where each component's port and health path were found.
fn detect_sources(app: &DetectedApp) -> String {
    let mut out = String::from("\n");
    for c in &app.components {
        out.push_str(&format!(
            "{}: port {} from {}; health {} from {}\n",
            c.name, c.port, c.port_source, c.health, c.health_source
        ));
    }
    out
}

fn detect_table(app: &DetectedApp) -> String {
    let mut rows = vec![[
        "NAME",
        "PATH",
        "LANGUAGE",
        "FRAMEWORK",
        "PORT",
        "DOCKERFILE",
        "HEALTH",
    ]
    .map(String::from)
    .to_vec()];
    for c in &app.components {
        rows.push(vec![
            c.name.clone(),
            c.path.clone(),
            c.language
                .map(|l| l.to_string())
                .unwrap_or_else(|| "-".into()),
            c.framework
                .map(|f| f.to_string())
                .unwrap_or_else(|| "-".into()),
            c.port.to_string(),
            serde_json::to_value(c.dockerfile)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            c.health.clone(),
        ]);
    }
    crate::output::table(&rows)
}

pub fn run_init(args: &InitArgs, shell: &mut Shell) -> Result<(), CliError> {
    let dir = args.source.resolve()?;
    let options = InitOptions {
        force: args.force,
        ..Default::default()
    };
    let report = init(&dir, &options).map_err(|e| CliError::failed(e.to_string()))?;
    show_warnings(shell, &report.app);
    if let Some(w) = &report.config_warning {
        shell
            .warn(&format!("{}: {w}", detect::config::CONFIG_FILE))
            .ok();
    }
    for p in &report.written {
        shell
            .status("Wrote", &dir.join(p).display().to_string())
            .ok();
    }
    for s in &report.skipped {
        shell
            .status(
                "Kept",
                &format!("{} ({})", dir.join(&s.path).display(), s.reason),
            )
            .ok();
    }
    if matches!(shell.format, Format::Json | Format::Yaml) {
        let summary = serde_json::json!({
            "written": report.written,
            "skipped": report.skipped.iter().map(|s| serde_json::json!({"path": s.path, "reason": s.reason.to_string()})).collect::<Vec<_>>(),
        });
        shell.structured(&summary).map_err(CliError::io)?;
    }
    Ok(())
}
