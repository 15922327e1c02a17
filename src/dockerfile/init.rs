//! `init`: writes what justpush needs into a project: a Dockerfile and `.dockerignore` for
//! every component without its own Dockerfile, and `justpush.yaml`. Existing files are kept
//! unless `force` is set; even then a hand-written Dockerfile (one without justpush's marker
//! line) is never replaced.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{dockerignore, render, DockerfileError, DockerfileOptions};
use crate::detect::config::CONFIG_FILE;
use crate::detect::{
    detect_with, AppConfig, DetectError, DetectOptions, DetectedApp, DockerfileSource,
    GENERATED_MARKER,
};

/// What `init` may do.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// Overwrite files justpush wrote before (and `.dockerignore` / `justpush.yaml`).
    pub force: bool,
    /// Base images, CA bundle and labels of the generated Dockerfiles.
    pub dockerfile: DockerfileOptions,
    /// The app's name in `justpush.yaml`; defaults to the single component's name, else the
    /// directory's name.
    pub app_name: Option<String>,
}

/// What `init` did.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    /// The detection it acted on.
    pub app: DetectedApp,
    /// The settings it wrote (or would have written, when `justpush.yaml` was kept).
    pub config: AppConfig,
    /// Files written, relative to the project directory.
    pub written: Vec<PathBuf>,
    /// Files left alone, and why.
    pub skipped: Vec<SkippedFile>,
}

/// A file `init` did not write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFile {
    pub path: PathBuf,
    pub reason: SkipReason,
}

/// Why a file was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// It exists and `force` was not set.
    Exists,
    /// The component has its own, hand-written Dockerfile, which justpush never replaces.
    OwnDockerfile,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SkipReason::Exists => "exists (use --force to overwrite)",
            SkipReason::OwnDockerfile => "the component's own Dockerfile is used as it is",
        })
    }
}

/// Errors of `init`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// Detection failed.
    #[error(transparent)]
    Detect(#[from] DetectError),
    /// A Dockerfile could not be generated.
    #[error(transparent)]
    Render(#[from] DockerfileError),
    /// A file could not be written.
    #[error("cannot write {path}: {source}; check that the directory is writable")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Detects the project in `dir` and writes its Dockerfiles, `.dockerignore`s and
/// `justpush.yaml`.
pub fn init(dir: &Path, options: &InitOptions) -> Result<InitReport, InitError> {
    let app = detect_with(
        dir,
        &DetectOptions {
            ignore_generated_dockerfiles: options.force,
        },
    )?;
    let mut out = Writer {
        dir,
        written: Vec::new(),
        skipped: Vec::new(),
    };
    for component in &app.components {
        let base = if component.path == "." {
            PathBuf::new()
        } else {
            PathBuf::from(&component.path)
        };
        let dockerfile = base.join("Dockerfile");
        match component.dockerfile {
            DockerfileSource::Generated => {
                let text = render(component, &options.dockerfile)?;
                // Regular files only: a FIFO named Dockerfile must not hang `init`.
                let ours = crate::input::read_text(
                    &dir.join(&dockerfile),
                    "Dockerfile",
                    crate::input::MAX_CONFIG_BYTES,
                )
                .map(|t| t.starts_with(GENERATED_MARKER))
                .unwrap_or(false);
                out.write(dockerfile, &text, options.force && ours)?;
            }
            DockerfileSource::Existing => out.skipped.push(SkippedFile {
                path: dockerfile,
                reason: SkipReason::OwnDockerfile,
            }),
        }
        out.write(
            base.join(".dockerignore"),
            &dockerignore(component),
            options.force,
        )?;
    }

    let name = options.app_name.clone().unwrap_or_else(|| {
        if app.components.len() == 1 {
            app.components[0].name.clone()
        } else {
            dir.canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "app".to_string())
        }
    });
    let config = AppConfig::from_detected(&name, &app);
    out.write(PathBuf::from(CONFIG_FILE), &config.to_yaml(), options.force)?;

    Ok(InitReport {
        app,
        config,
        written: out.written,
        skipped: out.skipped,
    })
}

/// Writes files under the project directory and records what it did.
struct Writer<'a> {
    dir: &'a Path,
    written: Vec<PathBuf>,
    skipped: Vec<SkippedFile>,
}

impl Writer<'_> {
    fn write(&mut self, rel: PathBuf, text: &str, overwrite: bool) -> Result<(), InitError> {
        let path = self.dir.join(&rel);
        if path.exists() && !overwrite {
            self.skipped.push(SkippedFile {
                path: rel,
                reason: SkipReason::Exists,
            });
            return Ok(());
        }
        std::fs::write(&path, text).map_err(|source| InitError::Write {
            path: path.clone(),
            source,
        })?;
        self.written.push(rel);
        Ok(())
    }
}
