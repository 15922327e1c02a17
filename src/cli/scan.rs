//! `scan` and the `--scan strict|warn|off` gate that `build` and `up` pass before any image is
//! built: findings go to stderr through the shell; strict fails on severity high.

use std::path::Path;

use clap::Args;

use super::project::SourceArgs;
use crate::codescan::{self, ScanMode, ScanReport, ScanSettings};
use crate::detect::{config, Component};
use crate::error::CliError;
use crate::output::{Format, Shell};

/// `--scan`, shared by `build`, `up` and `scan`.
#[derive(Debug, Args, Clone)]
pub struct ScanFlag {
    /// Code scan before building: strict fails on findings of severity high, warn prints
    /// them and goes on, off skips the scan (default: justpush.yaml scan.mode, else warn).
    #[arg(long = "scan", value_enum, value_name = "MODE")]
    pub scan: Option<ScanMode>,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub mode: ScanFlag,
}

/// The project's `scan:` section (none without a justpush.yaml).
fn scan_config(dir: &Path) -> Result<codescan::ScanConfig, CliError> {
    let file = dir.join(config::CONFIG_FILE);
    if !file.is_file() {
        return Ok(codescan::ScanConfig::default());
    }
    config::AppConfig::load(&file)
        .map(|c| c.scan)
        .map_err(|e| CliError::usage(e.to_string()))
}

/// Scans every component of `dir` (before any build), prints the findings, and fails in
/// strict mode when one is of severity high. Returns the reports (empty when off).
pub fn gate(
    dir: &Path,
    components: &[Component],
    flag: &ScanFlag,
    shell: &mut Shell,
) -> Result<Vec<ScanReport>, CliError> {
    let config = scan_config(dir)?;
    let mode = flag.scan.or(config.mode).unwrap_or_default();
    if mode == ScanMode::Off {
        let _ = shell.verbose("code scan is off (--scan off or scan.mode: off): nothing scanned");
        return Ok(Vec::new());
    }
    let settings = ScanSettings::from_config(&config);
    let mut reports = Vec::new();
    for c in components {
        let cdir = crate::image::context::component_dir(dir, &c.path);
        let report = codescan::scan_component(&cdir, Some(c), &settings)
            .map_err(|e| CliError::failed(e.to_string()))?;
        reports.push(report);
    }
    show(&reports, shell);
    if mode == ScanMode::Strict {
        fail_on_high(&reports)?;
    }
    Ok(reports)
}

fn show(reports: &[ScanReport], shell: &mut Shell) {
    for r in reports {
        let name = r.component.as_deref().unwrap_or(".");
        for f in &r.findings {
            let _ = shell.warn(&format!("{name}: {}", codescan::finding_line(f)));
        }
        if r.skipped_count > 0 || !r.truncated.is_empty() {
            let _ = shell.verbose(&format!(
                "{name}: scan skipped {} paths, read {} files only in part",
                r.skipped_count,
                r.truncated.len()
            ));
        }
        let _ = shell.verbose(&format!(
            "{name}: scanned {} files, {} findings, {} silenced by scan.ignore",
            r.files_scanned,
            r.findings.len(),
            r.silenced
        ));
    }
}

fn fail_on_high(reports: &[ScanReport]) -> Result<(), CliError> {
    let high: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            let name = r.component.clone().unwrap_or_else(|| ".".into());
            r.high()
                .map(move |f| format!("  - {name}: {}", codescan::finding_line(f)))
        })
        .collect();
    if high.is_empty() {
        return Ok(());
    }
    Err(CliError::failed(format!(
        "code scan (--scan strict) found {} finding(s) of severity high; nothing was built:\n{}\nFix them, or silence a false positive in justpush.yaml scan.ignore (a rule id, a path glob or RULE@GLOB; see docs/scan.md)",
        high.len(),
        high.join("\n")
    )))
}

/// `kubectl justpush scan [DIR|--demo]`.
pub fn run(args: &ScanArgs, shell: &mut Shell) -> Result<(), CliError> {
    let dir = args.source.resolve()?;
    let config = scan_config(&dir)?;
    let mode = args.mode.scan.or(config.mode).unwrap_or_default();
    let settings = ScanSettings::from_config(&config);
    // A directory with nothing deployable is still scanned, as one context.
    let reports = match crate::detect::detect(&dir) {
        Ok(app) if !app.components.is_empty() => {
            let mut out = Vec::new();
            for c in &app.components {
                let cdir = crate::image::context::component_dir(&dir, &c.path);
                out.push(
                    codescan::scan_component(&cdir, Some(c), &settings)
                        .map_err(|e| CliError::failed(e.to_string()))?,
                );
            }
            out
        }
        _ => vec![codescan::scan_component(&dir, None, &settings)
            .map_err(|e| CliError::failed(e.to_string()))?],
    };
    match shell.format {
        Format::Text => {
            let mut table = vec![["COMPONENT", "SEVERITY", "RULE", "WHERE", "WHAT"]
                .map(String::from)
                .to_vec()];
            for r in &reports {
                for f in &r.findings {
                    table.push(vec![
                        r.component.clone().unwrap_or_else(|| ".".into()),
                        f.severity.to_string(),
                        f.rule.to_string(),
                        format!("{}:{}", f.path, f.line),
                        format!("{}: {}", f.title, f.hint),
                    ]);
                }
            }
            let total: usize = reports.iter().map(|r| r.findings.len()).sum();
            if total > 0 {
                shell
                    .data(&crate::output::table(&table))
                    .map_err(CliError::io)?;
            }
            let files: usize = reports.iter().map(|r| r.files_scanned).sum();
            let _ = shell.status(
                "Scanned",
                &format!("{files} files, {total} findings (mode {mode})"),
            );
        }
        _ => shell
            .structured(&serde_json::json!({ "mode": mode, "reports": reports }))
            .map_err(CliError::io)?,
    }
    if mode == ScanMode::Strict {
        fail_on_high(&reports)?;
    }
    Ok(())
}
