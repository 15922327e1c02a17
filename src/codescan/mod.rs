//! The code scan before any build (seed 001 §7): every file a component's build context would
//! carry is checked for what a malicious upload brings (miners, reverse shells, downloads
//! piped into a shell, install-time scripts that fetch code, committed binaries and secrets).
//!
//! The rules ([`rules`]) are pure; this module only lists the context exactly as the build
//! would (`.dockerignore`, secrets left out by name, symlinks never followed, special files
//! never opened) and reads a bounded prefix of a bounded number of files, saying what it
//! skipped. `build`, `up`, `scan` and the dashboard call [`scan_component`].

pub mod rules;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::detect::Component;
use crate::image::context::{list_context, DockerIgnore};
use crate::image::ImageError;
pub use rules::{Finding, Rule, Severity, RULES};

/// Bytes of each file the rules look at: far above any source file, so a huge file costs at
/// most this much to scan.
pub const MAX_SCAN_FILE_BYTES: u64 = 1024 * 1024;
/// Files scanned per context; the rest are reported as skipped.
pub const MAX_SCAN_FILES: usize = 20_000;
/// Bytes read per context in all.
pub const MAX_SCAN_TOTAL_BYTES: u64 = 512 * 1024 * 1024;
/// Skipped paths listed by name in a report (the count is always exact).
const MAX_LISTED_SKIPS: usize = 20;

/// What a scan finding does to a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScanMode {
    /// A finding of severity high fails the build before any image is built.
    Strict,
    /// Findings are printed and the build goes on.
    #[default]
    Warn,
    /// No scan.
    Off,
}

impl std::fmt::Display for ScanMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ScanMode::Strict => "strict",
            ScanMode::Warn => "warn",
            ScanMode::Off => "off",
        })
    }
}

/// `justpush.yaml` `scan:`.
///
/// ```yaml
/// scan:
///   mode: strict                  # strict | warn | off; the default for --scan
///   ignore:                       # silence false positives:
///     - JP-SCAN-003               #   a rule everywhere
///     - vendor/**                 #   every rule under a path (.dockerignore glob syntax)
///     - JP-SCAN-006@bin/tool      #   one rule under one path
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ScanMode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
}

impl ScanConfig {
    /// Whether nothing is set (the section is then left out of a written file).
    pub fn is_default(&self) -> bool {
        self == &ScanConfig::default()
    }

    /// Checks every `scan.ignore` entry; the message names the entry and the fix.
    pub fn validate(&self) -> Result<(), String> {
        self.silencers().map(|_| ())
    }

    fn silencers(&self) -> Result<Vec<Silencer>, String> {
        self.ignore.iter().map(|e| Silencer::parse(e)).collect()
    }
}

/// One `scan.ignore` entry, compiled.
#[derive(Debug)]
struct Silencer {
    rule: Option<&'static str>,
    paths: Option<DockerIgnore>,
}

impl Silencer {
    fn parse(entry: &str) -> Result<Silencer, String> {
        let entry = entry.trim();
        let bad = |why: String| {
            format!("scan.ignore: `{entry}` {why}; write a rule id (JP-SCAN-003), a path glob (vendor/**) or RULE@GLOB (JP-SCAN-006@bin/tool)")
        };
        let rule_id = |id: &str| -> Result<&'static str, String> {
            rules::rule(id).map(|r| r.id).ok_or_else(|| {
                bad(format!(
                    "names no rule (the rules are JP-SCAN-001 to JP-SCAN-{:03})",
                    RULES.len()
                ))
            })
        };
        let glob = |g: &str| -> Result<DockerIgnore, String> {
            if g.is_empty() || g.contains('\n') {
                return Err(bad("has an empty path".into()));
            }
            DockerIgnore::parse(g).map_err(|e| bad(format!("is not a valid glob ({e})")))
        };
        if entry.is_empty() {
            return Err(bad("is empty".into()));
        }
        if let Some((id, path)) = entry.split_once('@') {
            return Ok(Silencer {
                rule: Some(rule_id(id.trim())?),
                paths: Some(glob(path.trim())?),
            });
        }
        if entry.to_ascii_uppercase().starts_with("JP-SCAN-") {
            return Ok(Silencer {
                rule: Some(rule_id(entry)?),
                paths: None,
            });
        }
        Ok(Silencer {
            rule: None,
            paths: Some(glob(entry)?),
        })
    }

    fn silences(&self, finding: &Finding) -> bool {
        self.rule.is_none_or(|r| r == finding.rule)
            && self
                .paths
                .as_ref()
                .is_none_or(|p| p.excludes(&finding.path))
    }
}

/// A path of the context the rules did not (fully) look at, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What one component's scan found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    /// The component, when a component was scanned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// The scanned directory.
    pub dir: PathBuf,
    /// Regular files read (each at most [`MAX_SCAN_FILE_BYTES`]).
    pub files_scanned: usize,
    /// Findings not silenced by `scan.ignore`, by path and line.
    pub findings: Vec<Finding>,
    /// How many findings `scan.ignore` silenced.
    pub silenced: usize,
    /// Files read only in part (their first [`MAX_SCAN_FILE_BYTES`]).
    pub truncated: Vec<String>,
    /// How many paths were not scanned (symlinks, special files, over the file or byte budget).
    pub skipped_count: usize,
    /// The first of those, with the reason.
    pub skipped: Vec<Skipped>,
}

impl ScanReport {
    /// Findings of severity high (what `strict` fails on).
    pub fn high(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::High)
    }

    fn skip(&mut self, path: &str, reason: impl Into<String>) {
        self.skipped_count += 1;
        if self.skipped.len() < MAX_LISTED_SKIPS {
            self.skipped.push(Skipped {
                path: path.to_string(),
                reason: reason.into(),
            });
        }
    }
}

/// What a scan is told: the `scan.ignore` entries and the budgets.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub ignore: Vec<String>,
    pub max_file_bytes: u64,
    pub max_files: usize,
    pub max_total_bytes: u64,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            ignore: Vec::new(),
            max_file_bytes: MAX_SCAN_FILE_BYTES,
            max_files: MAX_SCAN_FILES,
            max_total_bytes: MAX_SCAN_TOTAL_BYTES,
        }
    }
}

impl ScanSettings {
    /// The settings of a project's `scan:` section.
    pub fn from_config(config: &ScanConfig) -> ScanSettings {
        ScanSettings {
            ignore: config.ignore.clone(),
            ..ScanSettings::default()
        }
    }
}

/// Why a scan could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    #[error("scanning {dir}: {source}")]
    Context {
        dir: PathBuf,
        #[source]
        source: Box<ImageError>,
    },
    #[error("scanning {dir}: {message}")]
    Settings { dir: PathBuf, message: String },
    #[error("scanning {dir}: reading {path}: {source}")]
    Read {
        dir: PathBuf,
        path: String,
        #[source]
        source: Box<crate::input::InputError>,
    },
}

/// Scans the files the build context of the component in `dir` would carry (`component` picks
/// the `.dockerignore` the build uses: its own, or the generated one; `None` uses the
/// directory's `.dockerignore` as it is).
pub fn scan_component(
    dir: &Path,
    component: Option<&Component>,
    settings: &ScanSettings,
) -> Result<ScanReport, ScanError> {
    let context = |source| ScanError::Context {
        dir: dir.to_path_buf(),
        source: Box::new(source),
    };
    let silencers = ScanConfig {
        mode: None,
        ignore: settings.ignore.clone(),
    }
    .silencers()
    .map_err(|message| ScanError::Settings {
        dir: dir.to_path_buf(),
        message,
    })?;
    let ignore_text = match component {
        Some(c) => crate::image::build::context_ignore(c, dir).map_err(context)?,
        None => crate::image::context::read_dockerignore(dir)
            .map_err(context)?
            .unwrap_or_default(),
    };
    // The same walk the build makes: secret files it leaves out by name or content are not
    // scanned (the build warns about them already), links are listed but never followed.
    let listing = list_context(dir, &ignore_text).map_err(context)?;
    let mut report = ScanReport {
        component: component.map(|c| c.name.clone()),
        dir: dir.to_path_buf(),
        ..ScanReport::default()
    };
    for path in &listing.skipped_special {
        report.skip(
            path,
            "not a regular file (socket, FIFO or device): never opened",
        );
    }
    let mut total: u64 = 0;
    for rel in &listing.entries {
        let full = dir.join(rel);
        let meta = std::fs::symlink_metadata(&full).map_err(|e| ScanError::Read {
            dir: dir.to_path_buf(),
            path: rel.clone(),
            source: Box::new(crate::input::InputError::Io {
                what: rel.clone(),
                path: full.clone(),
                source: e,
            }),
        })?;
        if meta.is_dir() {
            continue;
        }
        if meta.file_type().is_symlink() {
            report.skip(
                rel,
                "a symbolic link: not followed (its target is scanned where it is in the context)",
            );
            continue;
        }
        if !meta.is_file() {
            report.skip(rel, "not a regular file: never opened");
            continue;
        }
        if report.files_scanned >= settings.max_files {
            report.skip(
                rel,
                format!("over the scan's budget of {} files", settings.max_files),
            );
            continue;
        }
        if total >= settings.max_total_bytes {
            report.skip(
                rel,
                format!(
                    "over the scan's budget of {} read",
                    crate::image::human_size(settings.max_total_bytes)
                ),
            );
            continue;
        }
        let limit = settings
            .max_file_bytes
            .min(settings.max_total_bytes - total);
        let (data, truncated) = match crate::input::read_prefix(&full, rel, limit) {
            Ok(read) => read,
            // Swapped for a FIFO, a device or a link since the walk: skipped, never read.
            Err(crate::input::InputError::NotRegular { kind, .. }) => {
                report.skip(rel, format!("{kind}: never opened"));
                continue;
            }
            Err(source) => {
                return Err(ScanError::Read {
                    dir: dir.to_path_buf(),
                    path: rel.clone(),
                    source: Box::new(source),
                })
            }
        };
        total += data.len() as u64;
        report.files_scanned += 1;
        if truncated {
            report.truncated.push(rel.clone());
        }
        for finding in rules::scan_file(rel, &data) {
            if silencers.iter().any(|s| s.silences(&finding)) {
                report.silenced += 1;
            } else {
                report.findings.push(finding);
            }
        }
    }
    Ok(report)
}

/// One line per finding: `high JP-SCAN-002 scripts/x.sh:3 reverse shell: ... (fix: ...)`.
pub fn finding_line(f: &Finding) -> String {
    format!(
        "{} {} {}:{} {}: {} (fix: {})",
        f.severity, f.rule, f.path, f.line, f.title, f.hint, f.fix
    )
}

#[cfg(test)]
mod tests;
