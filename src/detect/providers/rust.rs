//! Rust crates with a binary: `Cargo.toml` with `src/main.rs` or `[[bin]]` targets. Axum,
//! Actix Web, Rocket and Warp are recognised from the dependencies.

use super::{argv, default_port, existing, Hints, Plan, ProjectDir, Provider};
use crate::detect::{scan, value_rules, BuildPlan, DetectError, Framework, Language, Template};

/// Detects and plans Rust binary crates.
pub struct RustProvider;

struct Manifest {
    name: Option<String>,
    bins: Vec<String>,
    deps: Vec<String>,
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
    Ok(Manifest { name, bins, deps })
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
