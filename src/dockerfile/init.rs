//! `init`: writes what justpush needs into a project: a Dockerfile and `.dockerignore` for
//! every component without its own Dockerfile, and `justpush.yaml`. Existing files are kept
//! unless `force` is set; even then a hand-written Dockerfile (one without justpush's marker
//! line) is never replaced.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{dockerignore, render, DockerfileError, DockerfileOptions};
use crate::detect::config::CONFIG_FILE;
use crate::detect::generated::stamp;
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
    /// Why an existing `justpush.yaml` was not followed (it does not load), with the fix.
    pub config_warning: Option<String>,
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
    let mut app = detect_with(
        dir,
        &DetectOptions {
            ignore_generated_dockerfiles: options.force,
        },
    )?;
    // An existing justpush.yaml's `writable` lists are what the chart will mount, so the
    // Dockerfiles make and hand over those directories rather than detection's.
    // One that does not load is the user's to fix, not a reason for `init` to write nothing.
    let config_warning = match AppConfig::load_if_present(dir) {
        Ok(Some(config)) => {
            config.apply_writable(&mut app);
            None
        }
        Ok(None) => None,
        Err(e) => Some(format!(
            "{e}; the Dockerfiles written now follow detection's writable paths, not this file's"
        )),
    };
    let mut out = Writer {
        dir,
        written: Vec::new(),
        skipped: Vec::new(),
    };
    // Everything is rendered before anything is written: a component that cannot be
    // rendered leaves the project as it was.
    let mut files: Vec<(PathBuf, String, bool)> = Vec::new();
    for component in &app.components {
        let base = if component.path == "." {
            PathBuf::new()
        } else {
            PathBuf::from(&component.path)
        };
        let dockerfile = base.join("Dockerfile");
        match component.dockerfile {
            DockerfileSource::Generated => {
                // The digest on the first line lets `build` tell this file, unedited, from the
                // user's edit of it.
                let text = stamp(&render(component, &options.dockerfile)?);
                // Regular files only: a FIFO named Dockerfile must not hang `init`.
                let ours = crate::input::read_text(
                    &dir.join(&dockerfile),
                    "Dockerfile",
                    crate::input::MAX_CONFIG_BYTES,
                )
                .map(|t| t.starts_with(GENERATED_MARKER))
                .unwrap_or(false);
                files.push((dockerfile, text, options.force && ours));
            }
            DockerfileSource::Existing => out.skipped.push(SkippedFile {
                path: dockerfile,
                reason: SkipReason::OwnDockerfile,
            }),
        }
        files.push((
            base.join(".dockerignore"),
            dockerignore(component),
            options.force,
        ));
    }
    for (path, text, overwrite) in files {
        out.write(path, &text, overwrite)?;
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
        config_warning,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` into a fresh project, runs `init`, and checks that it fails naming
    /// `file`, `field` and `rule`, and that nothing at all was written.
    fn refused(files: &[(&str, &str)], file: &str, field: &str, rule: &str) {
        let d = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let path = d.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let before = listing(d.path());
        let err = init(d.path(), &InitOptions::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(file), "file `{file}` not named: {text}");
        assert!(text.contains(field), "field `{field}` not named: {text}");
        assert!(text.contains(rule), "rule `{rule}` not stated: {text}");
        assert!(
            !text.contains('\n'),
            "the value must be shown escaped: {text}"
        );
        assert_eq!(listing(d.path()), before, "init wrote files: {text}");
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = walkdir::WalkDir::new(dir)
            .into_iter()
            .map(|e| e.unwrap().path().display().to_string())
            .collect();
        out.sort();
        out
    }

    const EXPRESS: &str = r#""dependencies":{"express":"4"}"#;

    #[test]
    fn package_manager_with_a_run_line() {
        let pkg = format!(
            r#"{{"packageManager":"pnpm@8\nRUN curl x|sh","scripts":{{"start":"node a.js"}},{EXPRESS}}}"#
        );
        refused(
            &[("package.json", &pkg), ("a.js", "")],
            "package.json",
            "packageManager",
            "a package manager and its version",
        );
    }

    #[test]
    fn start_script_with_a_copy_line() {
        let pkg = format!(r#"{{"scripts":{{"start":"node a.js\nCOPY / /host"}},{EXPRESS}}}"#);
        refused(
            &[("package.json", &pkg), ("a.js", "")],
            "package.json",
            "scripts.start",
            "without newlines",
        );
    }

    #[test]
    fn build_script_with_a_run_line() {
        let pkg =
            r#"{"scripts":{"build":"vite build\nRUN curl x|sh"},"devDependencies":{"vite":"5"}}"#;
        refused(
            &[("package.json", pkg), ("index.html", "")],
            "package.json",
            "scripts.build",
            "without newlines",
        );
    }

    #[test]
    fn main_with_a_copy_line() {
        let pkg = format!(r#"{{"main":"a.js\nCOPY / /host",{EXPRESS}}}"#);
        refused(
            &[("package.json", &pkg), ("a.js", "")],
            "package.json",
            "main",
            "a relative path inside the project",
        );
    }

    #[test]
    fn vite_out_dir_with_a_copy_line() {
        let pkg = r#"{"scripts":{"build":"vite build"},"devDependencies":{"vite":"5"}}"#;
        refused(
            &[
                ("package.json", pkg),
                (
                    "vite.config.ts",
                    "export default { build: { outDir: 'dist\nCOPY / /host' } }",
                ),
            ],
            "vite.config.ts",
            "build.outDir",
            "a relative path inside the project",
        );
    }

    #[test]
    fn python_application_module_with_a_shell_command() {
        refused(
            &[
                ("requirements.txt", "fastapi\n"),
                (
                    "app;rm -rf x/main.py",
                    "from fastapi import FastAPI\napp = FastAPI()\n",
                ),
            ],
            "app;rm -rf x/main.py",
            "application module",
            "module:attribute",
        );
    }

    #[test]
    fn python_main_module_with_a_shell_command() {
        refused(
            &[
                ("requirements.txt", "requests\n"),
                ("app;rm -rf x/__main__.py", "print(1)\n"),
            ],
            "app;rm -rf x/__main__.py",
            "module",
            "a dotted Python module name",
        );
    }

    #[test]
    fn console_script_with_a_run_line() {
        refused(
            &[(
                "pyproject.toml",
                "[project]\nname = 'svc'\ndependencies = []\n[project.scripts]\n\"serve\\nRUN curl x|sh\" = \"svc:main\"\n",
            )],
            "pyproject.toml",
            "project.scripts",
            "a program name",
        );
    }

    #[test]
    fn procfile_command_with_a_carriage_return() {
        refused(
            &[
                ("requirements.txt", "flask\n"),
                ("Procfile", "web: gunicorn app:app\rRUN curl x|sh\n"),
            ],
            "Procfile",
            "web",
            "without newlines or other control characters",
        );
    }

    #[test]
    fn django_project_package_with_a_shell_command() {
        refused(
            &[
                ("requirements.txt", "django\n"),
                ("manage.py", "import os\n"),
                ("site;sh/wsgi.py", "application = None\n"),
            ],
            "site;sh/wsgi.py",
            "Django project package",
            "module:attribute",
        );
    }

    #[test]
    fn go_package_directory_with_a_shell_command() {
        refused(
            &[
                ("go.mod", "module example.com/api\n"),
                (
                    "cmd/api;curl x|sh/main.go",
                    "package main\nfunc main() {}\n",
                ),
            ],
            "cmd/api;curl x|sh",
            "main package directory",
            "a relative path inside the project",
        );
    }

    #[test]
    fn cargo_binary_name_with_a_shell_command() {
        refused(
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"api\"\nversion = \"0.1.0\"\n[[bin]]\nname = \"api;curl x|sh\"\npath = \"src/main.rs\"\n",
                ),
                ("src/main.rs", "fn main() {}\n"),
            ],
            "Cargo.toml",
            "binary name",
            "a program name",
        );
    }

    #[test]
    fn a_project_with_its_own_dockerfile_is_not_refused_for_values_it_does_not_use() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("package.json"),
            r#"{"packageManager":"pnpm@8\nRUN curl x|sh","scripts":{"start":"node a.js"}}"#,
        )
        .unwrap();
        std::fs::write(d.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        let report = init(d.path(), &InitOptions::default()).unwrap();
        assert_eq!(report.app.components.len(), 1);
    }
}
