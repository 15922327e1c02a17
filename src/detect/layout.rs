//! Which directories are components: the services of a compose file, the project root, or the
//! conventional folders of a monorepo (`frontend/`, `backend/`, `apps/*`, `services/*`, ...).
//! Also reads the facts an existing Dockerfile states (port, start command, health check).

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;
use serde_yaml::Value;

use super::generated::{generated_state, GeneratedState};
use super::own_dockerfile::{self, DockerfileModel};
use super::providers::{
    default_port, is_default_port_source, plan_dir, Hints, Plan, ProjectDir, GUESSED_HEALTH,
};
use super::scan;
use super::tree::SourceTree;
use super::{
    dns_label, shell_join, Component, DetectError, DetectOptions, DockerfileSource, EnvVar,
    Language, OpenApi,
};

/// Compose file names, in Docker Compose's own order of preference.
pub const COMPOSE_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Single directories that hold one component each in a monorepo.
pub const CONVENTIONAL_DIRS: [&str; 6] = ["frontend", "backend", "web", "api", "server", "client"];
/// Directories whose every subdirectory may be a component.
pub const CONVENTIONAL_PARENTS: [&str; 2] = ["apps", "services"];

/// What a compose service says about its component.
#[derive(Debug, Default, Clone)]
struct ComposeService {
    dockerfile: Option<String>,
    port: Option<u16>,
    env: BTreeSet<String>,
}

/// Finds the components of the tree.
pub(super) fn components(
    tree: &SourceTree,
    root_name: &str,
    options: &DetectOptions,
) -> Result<Vec<Component>, DetectError> {
    if let Some(file) = COMPOSE_FILES.iter().find(|f| tree.exists(f)) {
        let services = compose_services(tree, file)?;
        if !services.is_empty() {
            let mut out = Vec::new();
            for (name, context, service) in services {
                if let Some(c) = component_at(tree, &context, Some(&name), &service, options)? {
                    out.push(c);
                }
            }
            return Ok(dedupe(out));
        }
    }

    let root = component_at(tree, ".", None, &ComposeService::default(), options)?;
    let root = root.map(|mut c| {
        if c.name.is_empty() {
            c.name = dns_label(root_name);
        }
        c
    });
    let strong_root = root.as_ref().is_some_and(|c| {
        c.dockerfile == DockerfileSource::Existing
            || c.framework.is_some()
            || matches!(
                c.language,
                Some(Language::Go | Language::Java | Language::Rust)
            )
    });
    if strong_root && !is_workspace_root(tree) {
        return Ok(root.into_iter().collect());
    }

    let mut subs = Vec::new();
    let mut dirs: Vec<String> = CONVENTIONAL_DIRS
        .iter()
        .filter(|d| tree.is_dir(d))
        .map(|d| d.to_string())
        .collect();
    for parent in CONVENTIONAL_PARENTS {
        dirs.extend(tree.subdirs(parent));
    }
    dirs.sort();
    for dir in dirs {
        let name = dir.rsplit('/').next().unwrap_or(&dir).to_string();
        if let Some(c) = component_at(tree, &dir, Some(&name), &ComposeService::default(), options)?
        {
            subs.push(c);
        }
    }
    if !subs.is_empty() {
        return Ok(dedupe(subs));
    }
    Ok(root.into_iter().collect())
}

/// A root that only ties packages together (npm/pnpm workspaces, a Cargo workspace, go.work).
fn is_workspace_root(tree: &SourceTree) -> bool {
    if tree.exists("pnpm-workspace.yaml") || tree.exists("go.work") || tree.exists("turbo.json") {
        return true;
    }
    if tree
        .read("package.json")
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("workspaces").is_some())
    {
        return true;
    }
    tree.read("Cargo.toml")
        .and_then(|t| toml::from_str::<toml::Value>(&t).ok())
        .is_some_and(|v| v.get("workspace").is_some() && v.get("package").is_none())
}

/// Makes component names unique (`api`, `api-2`).
fn dedupe(mut components: Vec<Component>) -> Vec<Component> {
    let mut seen = HashSet::new();
    for c in &mut components {
        let base = c.name.clone();
        let mut n = 2;
        while !seen.insert(c.name.clone()) {
            c.name = format!("{base}-{n}");
            n += 1;
        }
    }
    components
}

/// The component in `path`, if anything there is deployable. `name` is `None` for the root,
/// which is named after its manifest (or, by the caller, its directory).
fn component_at(
    tree: &SourceTree,
    path: &str,
    name: Option<&str>,
    compose: &ComposeService,
    options: &DetectOptions,
) -> Result<Option<Component>, DetectError> {
    let dir = ProjectDir::new(tree, path);
    let dockerfile_name = compose.dockerfile.as_deref().unwrap_or("Dockerfile");
    let dockerfile = [dockerfile_name, "Containerfile"]
        .iter()
        .find_map(|f| dir.read(f).map(|text| (dir.full(f), text)))
        .filter(|(_, text)| match generated_state(text) {
            GeneratedState::NotOurs => true,
            // init's own file, unchanged: generated again at build time, with the flags of
            // that build (base images, CA bundle), as if it were not there.
            GeneratedState::Unedited => false,
            GeneratedState::Edited => !options.ignore_generated_dockerfiles,
        });
    let facts = dockerfile
        .as_ref()
        .map(|(_, text)| DockerfileFacts::parse(text));
    // The plan does not see the Dockerfile's port: the port the sources say is what the
    // Dockerfile is checked against.
    let hints = Hints { port: compose.port };
    let plan = match plan_dir(&dir, &hints) {
        // The values that failed only matter for a generated Dockerfile; the project's own
        // is used as it is.
        Err(DetectError::UnsafeValue { .. }) if facts.is_some() => None,
        other => other?,
    };
    if plan.is_none() && facts.is_none() {
        return Ok(None);
    }

    let name = match name {
        Some(n) => dns_label(n),
        None => plan
            .as_ref()
            .and_then(|p| p.name.as_deref())
            .map(dns_label)
            .unwrap_or_default(),
    };
    let mut env: BTreeSet<String> = plan.as_ref().map(|p| p.env.clone()).unwrap_or_default();
    if plan.is_none() {
        env.extend(dir.dotenv_keys());
    }
    env.extend(compose.env.iter().cloned());
    env.retain(|n| !scan::is_platform_env(n));
    let openapi = openapi_file(&dir).map(OpenApi::File).or_else(|| {
        plan.as_ref()
            .and_then(|p| p.openapi_runtime.clone())
            .map(OpenApi::Runtime)
    });
    let env = env.into_iter().map(EnvVar::new).collect();

    let component = match (facts, plan) {
        (Some(facts), plan) => {
            let (file, text) = dockerfile.unwrap_or_default();
            let model = DockerfileModel::parse(&text);
            let language = plan.as_ref().map(|p| p.language).or(facts.language);
            let framework = plan.as_ref().and_then(|p| p.framework);
            // A framework's default is no evidence against the Dockerfile's port: only a port
            // the project states (code, config, compose) is compared with it.
            let detected = plan
                .as_ref()
                .filter(|p| !is_default_port_source(&p.port_source))
                .map(|p| (p.port, p.port_source.clone()))
                .or_else(|| {
                    compose
                        .port
                        .map(|p| (p, "the compose file's ports".to_string()))
                });
            // The Dockerfile decides what the container serves on; a different detected port
            // is a warning (from `check`), not an override.
            let (port, port_source) = model
                .command_port
                .map(|p| (p, format!("{file} CMD/ENTRYPOINT")))
                .or_else(|| model.expose.first().map(|p| (*p, format!("{file} EXPOSE"))))
                .or_else(|| detected.clone())
                .or_else(|| plan.as_ref().map(|p| (p.port, p.port_source.clone())))
                .unwrap_or_else(|| default_port(language.unwrap_or(Language::Static), framework));
            let start = facts
                .start
                .or_else(|| plan.as_ref().map(|p| shell_join(&p.build.cmd)))
                .unwrap_or_default();
            let (health, health_source) = match (facts.health, &plan) {
                (Some(h), _) => (h, format!("{file} HEALTHCHECK")),
                (
                    None,
                    Some(Plan {
                        health: Some(h),
                        health_source,
                        ..
                    }),
                ) => (h.clone(), health_source.clone().unwrap_or_default()),
                _ => ("/".to_string(), GUESSED_HEALTH.to_string()),
            };
            let mut warnings = Vec::new();
            if generated_state(&text) == GeneratedState::Edited {
                warnings.push(format!(
                    "{file} was written by `kubectl justpush init` and edited since, so it is used as given: `--base-image` reaches it as the BUILDER_IMAGE/RUNTIME_IMAGE build arguments, `--ca-bundle` does not; to have justpush regenerate it with every flag, restore it or delete it and run `kubectl justpush init` again"
                ));
            }
            let gitignores: Vec<String> = [".gitignore".to_string(), dir.full(".gitignore")]
                .iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter_map(|f| tree.read(f))
                .collect();
            let exists = |p: &str| dir.exists(p) || dir.has_dir(p);
            warnings.extend(own_dockerfile::check(
                &file,
                &model,
                &own_dockerfile::Expected {
                    port: detected.as_ref().map(|(p, s)| (*p, s.as_str())),
                    health: &health,
                },
                &exists,
                &gitignores,
            ));
            Component {
                name,
                path: normalize_path(path),
                language,
                framework,
                port,
                port_source,
                dockerfile: DockerfileSource::Existing,
                start,
                health,
                health_source,
                openapi,
                env,
                build: None,
                writable_paths: Vec::new(),
                warnings,
            }
        }
        (None, Some(plan)) => {
            let Plan {
                language,
                framework,
                port,
                port_source,
                health,
                health_source,
                build,
                ..
            } = plan;
            let (health, health_source) = match health {
                Some(h) => (h, health_source.unwrap_or_default()),
                None => ("/".to_string(), GUESSED_HEALTH.to_string()),
            };
            Component {
                name,
                path: normalize_path(path),
                language: Some(language),
                framework,
                port,
                port_source,
                dockerfile: DockerfileSource::Generated,
                start: shell_join(&build.cmd),
                health,
                health_source,
                openapi,
                env,
                build: Some(build),
                writable_paths: super::writable::detect(&dir, language),
                warnings: Vec::new(),
            }
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(component))
}

fn normalize_path(path: &str) -> String {
    let p = path.trim_matches('/');
    if p.is_empty() {
        ".".to_string()
    } else {
        p.to_string()
    }
}

/// An OpenAPI/Swagger document in the component's sources (shallowest first), as a path
/// relative to the tree root.
fn openapi_file(dir: &ProjectDir<'_>) -> Option<String> {
    static SPEC: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)^(?:openapi|swagger)\.(?:ya?ml|json)$").unwrap());
    let mut found: Vec<&str> = dir
        .files()
        .filter(|f| SPEC.is_match(f.rsplit('/').next().unwrap_or(f)))
        .collect();
    found.sort_by_key(|f| (f.matches('/').count(), f.to_string()));
    found.first().map(|f| dir.full(f))
}

/// What an existing Dockerfile says about the service.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DockerfileFacts {
    pub port: Option<u16>,
    pub start: Option<String>,
    pub health: Option<String>,
    pub language: Option<Language>,
}

impl DockerfileFacts {
    /// Reads `EXPOSE`, the final stage's `ENTRYPOINT`/`CMD`, `HEALTHCHECK`'s URL path, and the
    /// language its base images suggest.
    pub fn parse(text: &str) -> Self {
        let lines = logical_lines(text);
        let mut entrypoint = None;
        let mut cmd = None;
        let mut health = None;
        let mut language = None;
        for line in &lines {
            let (instr, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            match instr.to_ascii_uppercase().as_str() {
                "FROM" => {
                    entrypoint = None;
                    cmd = None;
                    if language.is_none() {
                        language = language_of_image(rest);
                    }
                }
                "ENTRYPOINT" => entrypoint = Some(command_text(rest)),
                "CMD" => cmd = Some(command_text(rest)),
                "HEALTHCHECK" => {
                    static URL: LazyLock<Regex> =
                        LazyLock::new(|| Regex::new(r#"https?://[^/\s"']+(/[^\s"'\\]*)"#).unwrap());
                    health = URL.captures(rest).map(|c| c[1].to_string());
                }
                _ => {}
            }
        }
        let start = match (entrypoint, cmd) {
            (Some(e), Some(c)) => Some(format!("{e} {c}")),
            (e, c) => e.or(c),
        };
        DockerfileFacts {
            port: scan::dockerfile_expose(text),
            start,
            health,
            language,
        }
    }
}

/// Joins `\`-continued lines and drops comments.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            if !current.trim().is_empty() {
                out.push(current.trim().to_string());
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// Exec form (`["a","b"]`) as a shell-readable line; shell form as it is.
fn command_text(rest: &str) -> String {
    if rest.starts_with('[') {
        if let Ok(argv) = serde_json::from_str::<Vec<String>>(rest) {
            return shell_join(&argv);
        }
    }
    rest.to_string()
}

fn language_of_image(from: &str) -> Option<Language> {
    let image = from
        .split_whitespace()
        .find(|w| !w.starts_with("--"))?
        .to_ascii_lowercase();
    let repo = image.split(':').next().unwrap_or(&image);
    let repo = repo.rsplit('/').next().unwrap_or(repo);
    Some(match repo {
        r if r.starts_with("python") => Language::Python,
        r if r.starts_with("node") => Language::Node,
        r if r.starts_with("golang") => Language::Go,
        "eclipse-temurin" | "openjdk" | "maven" | "gradle" | "amazoncorretto" => Language::Java,
        r if r.starts_with("rust") => Language::Rust,
        "nginx" | "httpd" | "caddy" => Language::Static,
        _ => return None,
    })
}

/// `(service name, build context, facts)` for every compose service that builds an image.
fn compose_services(
    tree: &SourceTree,
    file: &str,
) -> Result<Vec<(String, String, ComposeService)>, DetectError> {
    let text = tree.read(file).unwrap_or_default();
    let doc: Value = serde_yaml::from_str(&text).map_err(|e| DetectError::Compose {
        path: PathBuf::from(file),
        message: e.to_string(),
    })?;
    let Some(services) = doc.get("services").and_then(Value::as_mapping) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, service) in services {
        let Some(name) = name.as_str() else { continue };
        let Some(build) = service.get("build") else {
            continue; // image-only services (databases, caches) are not built here
        };
        let (context, dockerfile) = match build {
            Value::String(ctx) => (ctx.clone(), None),
            Value::Mapping(_) => (
                build
                    .get("context")
                    .and_then(Value::as_str)
                    .unwrap_or(".")
                    .to_string(),
                build
                    .get("dockerfile")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ),
            _ => continue,
        };
        let context_path =
            resolve_context(&context).ok_or_else(|| DetectError::ComposeContext {
                path: PathBuf::from(file),
                service: name.to_string(),
                context: context.clone(),
            })?;
        if context_path != "." && !tree.is_dir(&context_path) {
            return Err(DetectError::ComposeContext {
                path: PathBuf::from(file),
                service: name.to_string(),
                context,
            });
        }
        let port = service
            .get("ports")
            .and_then(Value::as_sequence)
            .and_then(|ports| ports.iter().find_map(container_port))
            .or_else(|| {
                service
                    .get("expose")
                    .and_then(Value::as_sequence)
                    .and_then(|ports| ports.iter().find_map(container_port))
            });
        let mut env = BTreeSet::new();
        match service.get("environment") {
            Some(Value::Sequence(items)) => {
                for item in items.iter().filter_map(Value::as_str) {
                    env.insert(item.split('=').next().unwrap_or(item).trim().to_string());
                }
            }
            Some(Value::Mapping(map)) => {
                env.extend(map.keys().filter_map(Value::as_str).map(str::to_string));
            }
            _ => {}
        }
        // A Dockerfile path in a subdirectory of the context is fine; keep it relative.
        let dockerfile = dockerfile.map(|d| d.trim_start_matches("./").to_string());
        out.push((
            name.to_string(),
            context_path,
            ComposeService {
                dockerfile,
                port,
                env,
            },
        ));
    }
    Ok(out)
}

/// `./backend/` -> `backend`, `.` -> `.`; `None` for contexts outside the project or URLs.
fn resolve_context(context: &str) -> Option<String> {
    if context.contains("://") || context.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in context.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    })
}

/// The container side of a compose port: `"8080:80"` -> 80, `"3000"` -> 3000,
/// `{target: 80}` -> 80, `"127.0.0.1:8080:80/tcp"` -> 80.
fn container_port(value: &Value) -> Option<u16> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => {
            let s = s.split('/').next().unwrap_or(s);
            let last = s.rsplit(':').next().unwrap_or(s);
            // A range ("3000-3005") takes its first port.
            last.split('-').next()?.trim().parse().ok()
        }
        Value::Mapping(_) => value
            .get("target")
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_ports() {
        let v = |s: &str| serde_yaml::from_str::<Value>(s).unwrap();
        assert_eq!(container_port(&v("'8080:80'")), Some(80));
        assert_eq!(container_port(&v("'127.0.0.1:8080:80/tcp'")), Some(80));
        assert_eq!(container_port(&v("3000")), Some(3000));
        assert_eq!(
            container_port(&v("{target: 8000, published: 80}")),
            Some(8000)
        );
        assert_eq!(container_port(&v("'3000-3005:3000-3005'")), Some(3000));
    }

    #[test]
    fn contexts() {
        assert_eq!(resolve_context("./backend/").as_deref(), Some("backend"));
        assert_eq!(resolve_context(".").as_deref(), Some("."));
        assert_eq!(resolve_context("a/../b").as_deref(), Some("b"));
        assert_eq!(resolve_context("../elsewhere"), None);
        assert_eq!(resolve_context("https://github.com/x/y.git"), None);
    }

    #[test]
    fn dockerfile_facts() {
        let facts = DockerfileFacts::parse(
            "FROM golang:1.22 AS build\nCMD [\"go\"]\nFROM debian:bookworm-slim\nEXPOSE 9000\n\
             HEALTHCHECK CMD curl -f http://localhost:9000/healthz || exit 1\n\
             ENTRYPOINT [\"/app\"]\nCMD [\"--serve\", \\\n  \"--verbose\"]\n",
        );
        assert_eq!(
            facts,
            DockerfileFacts {
                port: Some(9000),
                start: Some("/app --serve --verbose".into()),
                health: Some("/healthz".into()),
                language: Some(Language::Go),
            }
        );
    }
}
