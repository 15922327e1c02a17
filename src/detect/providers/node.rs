//! Node projects: `package.json`. Next.js (standalone output, or a static export), server
//! frameworks (NestJS, Fastify, Express, Koa, Hono, or any `start` script), and static
//! single-page apps built by Vite or Create React App.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::{argv, default_port, existing, Hints, Plan, ProjectDir, Provider};
use crate::detect::{scan, value_rules, BuildPlan, DetectError, Framework, Language, Template};

/// Pinned package managers installed in the builder when a project uses them (Node 18-ready).
pub const YARN_CLASSIC: &str = "yarn@1.22.22";
pub const PNPM_DEFAULT: &str = "pnpm@9.15.9";

const NODE_EXTS: [&str; 8] = ["js", "mjs", "cjs", "ts", "mts", "cts", "jsx", "tsx"];

/// Detects and plans Node projects.
pub struct NodeProvider;

#[derive(Debug)]
struct Manifest {
    name: Option<String>,
    main: Option<String>,
    scripts: BTreeMap<String, String>,
    deps: BTreeSet<String>,
    package_manager: Option<String>,
}

fn manifest(dir: &ProjectDir<'_>) -> Result<Manifest, DetectError> {
    let text = dir.read("package.json").unwrap_or_default();
    let value: Value = serde_json::from_str(&text).map_err(|e| DetectError::Manifest {
        path: dir.full("package.json").into(),
        message: e.to_string(),
    })?;
    let strings = |key: &str| -> BTreeMap<String, String> {
        value
            .get(key)
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut deps: BTreeSet<String> = strings("dependencies").into_keys().collect();
    deps.extend(strings("devDependencies").into_keys());
    let m = Manifest {
        name: value
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string),
        main: value
            .get("main")
            .and_then(Value::as_str)
            .map(str::to_string),
        scripts: strings("scripts"),
        deps,
        package_manager: value
            .get("packageManager")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    check_manifest(&dir.full("package.json"), &m)?;
    Ok(m)
}

/// The package.json values that reach a generated Dockerfile: `packageManager` (a `RUN npm
/// install -g` line), `main` (`CMD`), and the scripts justpush runs or turns into `CMD`.
fn check_manifest(file: &str, m: &Manifest) -> Result<(), DetectError> {
    if let Some(pm) = &m.package_manager {
        value_rules::package_manager(file, pm)?;
    }
    if let Some(main) = &m.main {
        value_rules::relative_path(file, "main", main)?;
    }
    for name in ["start", "start:prod", "build"] {
        if let Some(script) = m.scripts.get(name) {
            value_rules::one_line_command(file, &format!("scripts.{name}"), script)?;
        }
    }
    Ok(())
}

fn framework(m: &Manifest) -> Option<Framework> {
    let has = |d: &str| m.deps.contains(d);
    if has("next") {
        Some(Framework::Nextjs)
    } else if has("@nestjs/core") {
        Some(Framework::Nestjs)
    } else if has("fastify") {
        Some(Framework::Fastify)
    } else if has("express") {
        Some(Framework::Express)
    } else if has("koa") {
        Some(Framework::Koa)
    } else if has("hono") {
        Some(Framework::Hono)
    } else if has("vite") {
        Some(Framework::Vite)
    } else if has("react-scripts") {
        Some(Framework::CreateReactApp)
    } else {
        None
    }
}

/// Entry files tried, in order, when there is neither a start script nor `main`.
const ENTRY_FILES: [&str; 6] = [
    "server.js",
    "index.js",
    "app.js",
    "src/server.js",
    "src/index.js",
    "main.js",
];

impl Provider for NodeProvider {
    fn name(&self) -> &'static str {
        "node"
    }

    fn detect(&self, dir: &ProjectDir<'_>) -> bool {
        if !dir.exists("package.json") {
            return false;
        }
        // A package.json that only carries tooling (linters for a Python repo) is not an app.
        let Ok(m) = manifest(dir) else {
            return true; // let plan() report the parse error
        };
        framework(&m).is_some()
            || m.scripts.contains_key("start")
            || m.scripts.contains_key("build")
            || m.main.as_deref().is_some_and(|f| dir.exists(f))
            || ENTRY_FILES.iter().any(|f| dir.exists(f))
    }

    fn plan(&self, dir: &ProjectDir<'_>, hints: &Hints) -> Result<Plan, DetectError> {
        let m = manifest(dir)?;
        let framework = framework(&m);
        let pm = PackageManager::detect(dir, &m);
        let mut build = BuildPlan::new(Template::NodeServer);
        build.manifests = pm.manifests(dir);
        build.setup = pm.setup();
        build.install = vec![pm.install()];
        let has_build = m.scripts.contains_key("build");
        if has_build {
            build.build = vec![pm.run("build")];
        }
        let env = dir.env_reads(Language::Node, &NODE_EXTS);
        let static_export = framework == Some(Framework::Nextjs) && next_static_export(dir);

        let (template, port, health) = match framework {
            Some(Framework::Nextjs) if !static_export => {
                let port = hints
                    .port_found()
                    .or_else(|| start_script_port(dir, &m))
                    .or_else(|| dir.dotenv_port_found())
                    .unwrap_or_else(|| default_port(Language::Node, framework));
                build.cmd = argv(["node", "server.js"]);
                // Standalone output even when next.config does not ask for it. Set on the
                // command, not as ENV: the variable is build-time only.
                let next_build = if has_build {
                    pm.run("build")
                } else {
                    "npx --no-install next build".to_string()
                };
                build.build = vec![format!("NEXT_PRIVATE_STANDALONE=true {next_build}")];
                let health =
                    next_health_route(dir).map(|r| (r, "a Next.js route file".to_string()));
                (Template::NodeNextjs, port, health)
            }
            Some(Framework::Nextjs | Framework::Vite | Framework::CreateReactApp) => {
                build.artifact = Some(static_output_dir(dir, framework, static_export)?);
                build.cmd = argv(["node", "/srv/server.js"]);
                // The static server's port, not the dev server's.
                let port = hints.port_found().unwrap_or_else(static_port);
                (Template::NodeStatic, port, None)
            }
            _ if !runnable(dir, &m) && has_build => {
                build.artifact = Some("dist".to_string());
                build.cmd = argv(["node", "/srv/server.js"]);
                let port = hints.port_found().unwrap_or_else(static_port);
                (Template::NodeStatic, port, None)
            }
            _ => {
                build.cmd = start_command(dir, &m, framework);
                build.prune = pm.prune();
                let port = hints
                    .port_found()
                    .or_else(|| start_script_port(dir, &m))
                    .or_else(|| {
                        dir.port_in_sources(&NODE_EXTS, |_, text| {
                            scan::port_in_source(Language::Node, text)
                        })
                    })
                    .or_else(|| dir.dotenv_port_found())
                    .unwrap_or_else(|| default_port(Language::Node, framework));
                (
                    Template::NodeServer,
                    port,
                    dir.health_route_found(&NODE_EXTS),
                )
            }
        };
        build.template = template;
        let ((port, port_source), health_source) = (port, health.as_ref().map(|(_, f)| f.clone()));
        Ok(Plan {
            language: Language::Node,
            framework,
            name: m.name.clone(),
            port,
            port_source,
            health: health.map(|(r, _)| r),
            health_source,
            openapi_runtime: None,
            env,
            build,
        })
    }
}

/// The port `package.json`'s start script names.
fn start_script_port(dir: &ProjectDir<'_>, m: &Manifest) -> Option<(u16, String)> {
    let port = m
        .scripts
        .get("start")
        .and_then(|s| scan::port_in_command(s))?;
    Some((port, format!("{} scripts.start", dir.full("package.json"))))
}

/// The port of the image's own static server.
fn static_port() -> (u16, String) {
    (8080, "the static server's port".to_string())
}

/// True if the project has something to run as a server.
fn runnable(dir: &ProjectDir<'_>, m: &Manifest) -> bool {
    m.scripts.contains_key("start")
        || m.main.as_deref().is_some_and(|f| dir.exists(f))
        || ENTRY_FILES.iter().any(|f| dir.exists(f))
}

/// The server's start command, run directly with `node` where the start script allows, so
/// signals reach the process (npm does not forward SIGTERM reliably).
fn start_command(dir: &ProjectDir<'_>, m: &Manifest, framework: Option<Framework>) -> Vec<String> {
    let script = if framework == Some(Framework::Nestjs) {
        m.scripts.get("start:prod").or(m.scripts.get("start"))
    } else {
        m.scripts.get("start")
    };
    if let Some(script) = script {
        if let Some(cmd) = direct_node_command(script) {
            return cmd;
        }
        if framework == Some(Framework::Nestjs) && script.trim() == "nest start" {
            return argv(["node", "dist/main"]);
        }
        return argv(["npm", "start"]);
    }
    if let Some(main) = m.main.as_deref().filter(|f| dir.exists(f)) {
        return argv(["node", main]);
    }
    let entry = ENTRY_FILES
        .iter()
        .find(|f| dir.exists(f))
        .copied()
        .unwrap_or("index.js");
    argv(["node", entry])
}

/// `node dist/server.js --flag` (with optional leading `VAR=value`s) as an argument vector;
/// `None` for anything a shell would be needed for.
fn direct_node_command(script: &str) -> Option<Vec<String>> {
    if script.contains(['&', '|', ';', '$', '>', '<', '`', '"', '\'']) {
        return None;
    }
    let words: Vec<&str> = script
        .split_whitespace()
        .skip_while(|w| w.contains('=') && !w.starts_with('-'))
        .collect();
    match words.first() {
        Some(&"node") if words.len() > 1 => Some(argv(words)),
        _ => None,
    }
}

fn next_static_export(dir: &ProjectDir<'_>) -> bool {
    static EXPORT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"output\s*:\s*['"]export['"]"#).unwrap());
    NEXT_CONFIGS
        .iter()
        .any(|f| dir.read(f).is_some_and(|t| EXPORT.is_match(&t)))
}

const NEXT_CONFIGS: [&str; 4] = [
    "next.config.js",
    "next.config.mjs",
    "next.config.ts",
    "next.config.cjs",
];

/// Where a static build lands: Vite's `build.outDir` (default `dist`), CRA's `build`, a Next.js
/// export's `out`.
fn static_output_dir(
    dir: &ProjectDir<'_>,
    framework: Option<Framework>,
    static_export: bool,
) -> Result<String, DetectError> {
    static OUT_DIR: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"outDir\s*:\s*['"`]([^'"`]+)['"`]"#).unwrap());
    if static_export {
        return Ok("out".to_string());
    }
    if framework == Some(Framework::CreateReactApp) {
        return Ok("build".to_string());
    }
    for f in [
        "vite.config.ts",
        "vite.config.js",
        "vite.config.mjs",
        "vite.config.mts",
    ] {
        if let Some(cap) = dir.read(f).as_deref().and_then(|t| OUT_DIR.captures(t)) {
            let out = cap[1].trim_start_matches("./").trim_end_matches('/');
            value_rules::relative_path(&dir.full(f), "build.outDir", out)?;
            return Ok(out.to_string());
        }
    }
    Ok("dist".to_string())
}

/// Health routes of a Next.js app are route files: `app/api/health/route.ts`,
/// `pages/api/health.ts`. String literals are not used: a frontend's code mostly names
/// routes of the backend it calls.
fn next_health_route(dir: &ProjectDir<'_>) -> Option<String> {
    static APP_ROUTE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(?:src/)?app/(.+)/route\.(?:ts|js|mjs|tsx|jsx)$").unwrap());
    static PAGES_API: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:src/)?pages/(api/.+?)(?:/index)?\.(?:ts|js|mjs|tsx|jsx)$").unwrap()
    });
    let mut routes = Vec::new();
    for file in dir.files() {
        let route = if let Some(cap) = APP_ROUTE.captures(file) {
            // Route groups `(marketing)` do not appear in URLs.
            cap[1]
                .split('/')
                .filter(|seg| !(seg.starts_with('(') && seg.ends_with(')')))
                .collect::<Vec<_>>()
                .join("/")
        } else if let Some(cap) = PAGES_API.captures(file) {
            cap[1].to_string()
        } else {
            continue;
        };
        routes.push(format!("/{route}"));
    }
    scan::best_health_route(routes.iter().map(String::as_str))
}

/// The package manager a project uses, chosen from its lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PackageManager {
    Npm { lock: bool },
    Yarn { berry: bool },
    Pnpm { version: String },
}

impl PackageManager {
    fn detect(dir: &ProjectDir<'_>, m: &Manifest) -> Self {
        let declared = m.package_manager.as_deref().unwrap_or_default();
        if dir.exists("pnpm-lock.yaml") || declared.starts_with("pnpm@") {
            let version = declared
                .strip_prefix("pnpm@")
                .map(|v| v.split('+').next().unwrap_or(v))
                .filter(|v| !v.is_empty())
                .map(|v| format!("pnpm@{v}"))
                .unwrap_or_else(|| PNPM_DEFAULT.to_string());
            PackageManager::Pnpm { version }
        } else if dir.exists("yarn.lock") || declared.starts_with("yarn@") {
            PackageManager::Yarn {
                berry: dir.exists(".yarnrc.yml"),
            }
        } else {
            PackageManager::Npm {
                lock: dir.exists("package-lock.json") || dir.exists("npm-shrinkwrap.json"),
            }
        }
    }

    fn manifests(&self, dir: &ProjectDir<'_>) -> Vec<String> {
        let mut files = existing(
            dir,
            &[
                "package.json",
                "package-lock.json",
                "npm-shrinkwrap.json",
                "yarn.lock",
                ".yarnrc.yml",
                "pnpm-lock.yaml",
                ".npmrc",
            ],
        );
        // An .npmrc with a registry token stays out of the build context (the generated
        // .dockerignore excludes it), so it cannot be copied either.
        if dir
            .read(".npmrc")
            .is_some_and(|t| scan::npmrc_has_credentials(&t))
        {
            files.retain(|f| f != ".npmrc");
        }
        files
    }

    fn setup(&self) -> Vec<String> {
        match self {
            PackageManager::Npm { .. } => vec![],
            // Yarn 1 defers to a Berry release committed under `yarnPath`.
            // Official node images ship Yarn 1 already; plain Debian ones do not.
            PackageManager::Yarn { .. } => vec![format!(
                "(command -v yarn > /dev/null || npm install -g {YARN_CLASSIC})"
            )],
            PackageManager::Pnpm { version } => vec![format!("npm install -g {version}")],
        }
    }

    fn install(&self) -> String {
        match self {
            PackageManager::Npm { lock: true } => "npm ci --no-audit --no-fund".to_string(),
            PackageManager::Npm { lock: false } => "npm install --no-audit --no-fund".to_string(),
            PackageManager::Yarn { berry: false } => "yarn install --frozen-lockfile".to_string(),
            PackageManager::Yarn { berry: true } => "yarn install --immutable".to_string(),
            PackageManager::Pnpm { .. } => "pnpm install --frozen-lockfile".to_string(),
        }
    }

    fn run(&self, script: &str) -> String {
        match self {
            PackageManager::Npm { .. } => format!("npm run {script}"),
            PackageManager::Yarn { .. } => format!("yarn run {script}"),
            PackageManager::Pnpm { .. } => format!("pnpm run {script}"),
        }
    }

    fn prune(&self) -> Vec<String> {
        match self {
            PackageManager::Npm { .. } => vec!["npm prune --omit=dev --no-audit --no-fund".into()],
            PackageManager::Yarn { berry: false } => {
                vec![
                    "yarn install --frozen-lockfile --production --ignore-scripts --prefer-offline"
                        .into(),
                ]
            }
            // Berry needs a plugin to prune; keep the full install.
            PackageManager::Yarn { berry: true } => vec![],
            PackageManager::Pnpm { .. } => vec!["pnpm prune --prod".into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::SourceTree;

    fn plan(files: &[(&str, &str)]) -> Plan {
        let tree = SourceTree::from_memory(files.iter().copied());
        let dir = ProjectDir::new(&tree, ".");
        assert!(NodeProvider.detect(&dir));
        NodeProvider.plan(&dir, &Hints::default()).unwrap()
    }

    #[test]
    fn direct_node_commands() {
        assert_eq!(
            direct_node_command("NODE_ENV=production node dist/server.js --trace"),
            Some(argv(["node", "dist/server.js", "--trace"]))
        );
        assert_eq!(direct_node_command("node a.js && node b.js"), None);
        assert_eq!(direct_node_command("ts-node src/index.ts"), None);
    }

    #[test]
    fn express_with_pnpm() {
        let p = plan(&[
            (
                "package.json",
                r#"{"name":"@acme/api","packageManager":"pnpm@8.15.1","scripts":{"start":"node src/server.js"},"dependencies":{"express":"^4"}}"#,
            ),
            ("pnpm-lock.yaml", ""),
            (
                "src/server.js",
                "app.get('/healthz', h); app.listen(process.env.PORT || 4000)",
            ),
        ]);
        assert_eq!(p.framework, Some(Framework::Express));
        assert_eq!(p.port, 4000);
        assert_eq!(p.health.as_deref(), Some("/healthz"));
        assert_eq!(p.build.setup, ["npm install -g pnpm@8.15.1"]);
        assert_eq!(p.build.cmd, ["node", "src/server.js"]);
        assert_eq!(p.build.template, Template::NodeServer);
    }

    #[test]
    fn next_static_export_is_static() {
        let p = plan(&[
            (
                "package.json",
                r#"{"scripts":{"build":"next build"},"dependencies":{"next":"14"}}"#,
            ),
            ("next.config.js", "module.exports = { output: 'export' }"),
        ]);
        assert_eq!(p.build.template, Template::NodeStatic);
        assert_eq!(p.build.artifact.as_deref(), Some("out"));
        assert_eq!(p.port, 8080);
    }

    #[test]
    fn next_health_from_route_files() {
        let p = plan(&[
            (
                "package.json",
                r#"{"scripts":{"start":"next start -p 3100"},"dependencies":{"next":"14"}}"#,
            ),
            (
                "src/app/(ops)/api/health/route.ts",
                "export function GET() {}",
            ),
            ("src/app/page.tsx", "fetch('/api/ready')"),
        ]);
        assert_eq!(p.health.as_deref(), Some("/api/health"));
        assert_eq!(p.port, 3100);
    }

    #[test]
    fn an_npmrc_with_a_token_is_not_copied_and_one_without_is() {
        let pkg = r#"{"scripts":{"start":"node server.js"}}"#;
        let p = plan(&[
            ("package.json", pkg),
            (".npmrc", "//registry.npmjs.org/:_authToken=npm_secret\n"),
        ]);
        assert_eq!(p.build.manifests, ["package.json"]);
        let p = plan(&[("package.json", pkg), (".npmrc", "legacy-peer-deps=true\n")]);
        assert_eq!(p.build.manifests, ["package.json", ".npmrc"]);
    }

    #[test]
    fn tooling_only_package_json_is_not_an_app() {
        let tree =
            SourceTree::from_memory([("package.json", r#"{"devDependencies":{"prettier":"3"}}"#)]);
        assert!(!NodeProvider.detect(&ProjectDir::new(&tree, ".")));
    }
}
