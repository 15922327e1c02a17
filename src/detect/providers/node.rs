//! Node projects: `package.json`. Next.js (standalone output, or a static export), server
//! frameworks (NestJS, Fastify, Express, Koa, Hono, or any `start` script), and static
//! single-page apps built by Vite or Create React App.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::{argv, default_port, existing, Hints, Plan, ProjectDir, Provider};
use crate::chart::template::semver;
use crate::detect::{
    scan, value_rules, BuildPlan, DetectError, Framework, Language, RuntimeVersion, Template,
};

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
    /// `engines.node`.
    engines_node: Option<String>,
    /// `volta.node`.
    volta_node: Option<String>,
    /// `gypfile: true`: the package itself is a native addon.
    gypfile: bool,
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
        engines_node: value
            .pointer("/engines/node")
            .and_then(Value::as_str)
            .map(|v| v.trim().to_string()),
        volta_node: value
            .pointer("/volta/node")
            .and_then(Value::as_str)
            .map(|v| v.trim().to_string()),
        gypfile: value.get("gypfile").and_then(Value::as_bool) == Some(true),
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
        build.runtime_version = node_version(dir, &m)?;
        if let Some(check) = build.runtime_version.as_ref().and_then(version_check) {
            // First in the builder: a mismatched base fails before minutes of npm install.
            build.setup.insert(0, check);
        }
        if needs_node_gyp(dir, &m) {
            build.builder_packages = NODE_GYP_PACKAGES.iter().map(|p| p.to_string()).collect();
            build.setup.push(NODE_GYP_LOCAL_HEADERS.to_string());
        }
        let prisma = uses_prisma(dir, &m);
        if prisma {
            // The query engine links OpenSSL 3 at run time; the slim bases do not have it.
            build.runtime_packages.push("libssl3".to_string());
        }
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
                match start_command(dir, &m, framework) {
                    StartCommand::Runtime(cmd) => {
                        build.cmd = cmd;
                        build.prune = pm.prune();
                    }
                    // The start command needs a dev tool and no runtime command can be derived:
                    // dev dependencies stay in the image rather than the app crash at start.
                    StartCommand::NeedsDevDependencies(cmd) => build.cmd = cmd,
                }
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
        if prisma {
            // The generated client is code the app imports; it is made from the schema, after
            // the sources are copied and before the app's own build (which may type-check it).
            build
                .build
                .insert(0, "npx --no-install prisma generate".to_string());
        }
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
    (8080, "the static server's default port".to_string())
}

/// True if the project has something to run as a server.
fn runnable(dir: &ProjectDir<'_>, m: &Manifest) -> bool {
    m.scripts.contains_key("start")
        || m.main.as_deref().is_some_and(|f| dir.exists(f))
        || ENTRY_FILES.iter().any(|f| dir.exists(f))
}

/// What the image starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StartCommand {
    /// A command that needs only production dependencies.
    Runtime(Vec<String>),
    /// A command that needs dev dependencies (a TypeScript runner with no build output).
    NeedsDevDependencies(Vec<String>),
}

/// Tools that `start` scripts use in development and that live in devDependencies: watchers
/// (run the file they are given with node) and TypeScript/Babel runners (run the build output).
const WATCHERS: [&str; 3] = ["nodemon", "node-dev", "supervisor"];
const SOURCE_RUNNERS: [&str; 5] = ["ts-node", "ts-node-dev", "tsx", "babel-node", "esno"];

/// The server's start command, run directly with `node` where the start script allows, so
/// signals reach the process (npm does not forward SIGTERM reliably), and never through a dev
/// tool, which the pruned runtime image does not have.
fn start_command(dir: &ProjectDir<'_>, m: &Manifest, framework: Option<Framework>) -> StartCommand {
    let script = if framework == Some(Framework::Nestjs) {
        m.scripts.get("start:prod").or(m.scripts.get("start"))
    } else {
        m.scripts.get("start")
    };
    if let Some(script) = script {
        if let Some(cmd) = direct_node_command(script) {
            return StartCommand::Runtime(cmd);
        }
        if framework == Some(Framework::Nestjs) && script.trim() == "nest start" {
            return StartCommand::Runtime(argv(["node", "dist/main"]));
        }
        if let Some(cmd) = dev_tool_command(dir, m, script) {
            return cmd;
        }
        return StartCommand::Runtime(argv(["npm", "start"]));
    }
    if let Some(main) = m.main.as_deref().filter(|f| dir.exists(f)) {
        return StartCommand::Runtime(argv(["node", main]));
    }
    let entry = ENTRY_FILES
        .iter()
        .find(|f| dir.exists(f))
        .copied()
        .unwrap_or("index.js");
    StartCommand::Runtime(argv(["node", entry]))
}

/// A start script that runs a dev tool on one file (`nodemon server.js`, `ts-node
/// src/index.ts`): the watcher's file runs with node; a TypeScript source runs from the build
/// output (`tsconfig.json` `outDir`/`rootDir`) when the project builds and the output is
/// JavaScript; otherwise the tool itself runs, from node_modules/.bin, with dev dependencies
/// kept. `None` when the script is not of that shape.
fn dev_tool_command(dir: &ProjectDir<'_>, m: &Manifest, script: &str) -> Option<StartCommand> {
    if script.contains(['&', '|', ';', '$', '>', '<', '`', '"', '\'']) {
        return None;
    }
    let words: Vec<&str> = script
        .split_whitespace()
        .skip_while(|w| w.contains('=') && !w.starts_with('-'))
        .collect();
    let (tool, rest) = words.split_first()?;
    let tool = tool.trim_start_matches("node_modules/.bin/");
    // The file the tool runs: the first argument named like a script (flags take values, as
    // in `nodemon --watch src server.js`), else the last argument that is not a flag.
    let file = rest
        .iter()
        .find(|w| NODE_EXTS.iter().any(|ext| w.ends_with(&format!(".{ext}"))))
        .or_else(|| rest.iter().rev().find(|w| !w.starts_with('-')))?;
    if value_rules::relative_path("package.json", "scripts.start", file).is_err() {
        return None;
    }
    let javascript = [".js", ".mjs", ".cjs"]
        .iter()
        .any(|ext| file.ends_with(ext));
    if WATCHERS.contains(&tool) && javascript {
        return Some(StartCommand::Runtime(argv(["node", file])));
    }
    if !SOURCE_RUNNERS.contains(&tool) && !WATCHERS.contains(&tool) {
        return None;
    }
    if m.scripts.contains_key("build") {
        if let Some(out) = compiled_entry(dir, file) {
            return Some(StartCommand::Runtime(argv(["node".to_string(), out])));
        }
    }
    let mut cmd = vec![format!("node_modules/.bin/{tool}")];
    cmd.extend(rest.iter().map(|w| w.to_string()));
    Some(StartCommand::NeedsDevDependencies(cmd))
}

/// Where `tsc` writes `source` (`src/index.ts` → `dist/index.js` with `outDir: dist`): the
/// path below `rootDir` (or `src/`, tsc's usual computed root) moved under `outDir`. `None`
/// without an `outDir` or for a source that is not TypeScript.
fn compiled_entry(dir: &ProjectDir<'_>, source: &str) -> Option<String> {
    static OUT_DIR: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#""outDir"\s*:\s*"([^"]+)""#).unwrap());
    static ROOT_DIR: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#""rootDir"\s*:\s*"([^"]+)""#).unwrap());
    let stem = [".ts", ".mts", ".cts"]
        .iter()
        .find_map(|ext| source.strip_suffix(ext).map(|s| (s, ext)))?;
    let tsconfig = dir.read("tsconfig.json")?;
    let clean = |p: &str| p.trim_start_matches("./").trim_end_matches('/').to_string();
    let out = clean(&OUT_DIR.captures(&tsconfig)?[1]);
    let root = ROOT_DIR
        .captures(&tsconfig)
        .map(|c| clean(&c[1]))
        .unwrap_or_else(|| "src".to_string());
    let below = stem.0.strip_prefix(&format!("{root}/")).unwrap_or(stem.0);
    let js = match *stem.1 {
        ".mts" => "mjs",
        ".cts" => "cjs",
        _ => "js",
    };
    let entry = format!("{out}/{below}.{js}");
    value_rules::relative_path(&dir.full("tsconfig.json"), "compilerOptions.outDir", &entry)
        .ok()?;
    Some(entry)
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

/// Node majors the version check and the base-image tag consider; the tag is the highest
/// LTS major the declaration allows.
const LTS_MAJORS: [u64; 3] = [22, 20, 18];
/// Newest releases of each LTS line known here, so that `>=18.17` or `~20.10` still "allow" 18
/// and 20 when majors are judged.
const LTS_LATEST: [(u64, &str); 3] = [(18, "18.20.8"), (20, "20.19.5"), (22, "22.21.1")];

/// The Node version the project declares, in this precedence: `volta.node` (an exact pin the
/// tool enforces), `.node-version`, `.nvmrc` (what developers run), `engines.node` (the loosest:
/// a range). Aliases nvm knows (`lts/iron`) are read; `node`, `latest` and `lts/*` mean no pin.
fn node_version(dir: &ProjectDir<'_>, m: &Manifest) -> Result<Option<RuntimeVersion>, DetectError> {
    let file_line = |f: &str| {
        dir.read(f).and_then(|t| {
            t.lines()
                .map(|l| l.split('#').next().unwrap_or_default().trim().to_string())
                .find(|l| !l.is_empty())
        })
    };
    let candidates = [
        ("package.json", "volta.node", m.volta_node.clone()),
        (".node-version", ".node-version", file_line(".node-version")),
        (".nvmrc", ".nvmrc", file_line(".nvmrc")),
        ("package.json", "engines.node", m.engines_node.clone()),
    ];
    for (file, field, value) in candidates {
        let Some(declared) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        let range = match declared.to_ascii_lowercase().as_str() {
            "node" | "latest" | "stable" | "current" | "lts/*" => continue,
            "lts/hydrogen" => "18".to_string(),
            "lts/iron" => "20".to_string(),
            "lts/jod" => "22".to_string(),
            _ => declared.clone(),
        };
        value_rules::node_version(&dir.full(file), field, &range)?;
        let majors = allowed_majors(&range).map_err(|message| DetectError::Manifest {
            path: dir.full(file).into(),
            message: format!(
                "{field} `{declared}` is not a Node version or range ({message}); write one such as 20, 20.11.1 or >=18 <23"
            ),
        })?;
        let exact_major = range
            .trim_start_matches('v')
            .split('.')
            .next()
            .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
            .filter(|_| {
                range
                    .trim_start_matches('v')
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.')
            });
        let tag = match exact_major {
            Some(major) => {
                Some(major.trim_start_matches('0').to_string()).filter(|t| !t.is_empty())
            }
            None => LTS_MAJORS
                .iter()
                .find(|m| majors.contains(m))
                .map(u64::to_string),
        };
        let source = if file == field {
            file.to_string()
        } else {
            format!("{file} {field}")
        };
        return Ok(Some(RuntimeVersion {
            declared: range,
            source,
            tag,
        }));
    }
    Ok(None)
}

/// The Node majors (up to 99) that some release of which satisfies `range`.
fn allowed_majors(range: &str) -> Result<Vec<u64>, String> {
    let mut majors = Vec::new();
    for major in 0..100u64 {
        let latest = LTS_LATEST
            .iter()
            .find(|(m, _)| *m == major)
            .map(|(_, v)| v.to_string());
        let probes = [
            Some(format!("{major}.0.0")),
            latest,
            Some(format!("{major}.999.999")),
        ];
        for probe in probes.into_iter().flatten() {
            let version = semver::Version::parse(&probe)?;
            if semver::satisfies(range, &version)? {
                majors.push(major);
                break;
            }
        }
    }
    Ok(majors)
}

/// The builder's first step when a version is declared: node's major must be one the
/// declaration allows, or the build stops, naming the declaration, the version found and the
/// flags that pick other base images. Majors, not full ranges, are checked (the builder has
/// no semver library); `declared` passed `value_rules::node_version`, so it has no quotes.
fn version_check(version: &RuntimeVersion) -> Option<String> {
    let majors = allowed_majors(&version.declared).ok()?;
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for m in majors {
        match spans.last_mut() {
            Some((_, hi)) if *hi + 1 == m => *hi = m,
            _ => spans.push((m, m)),
        }
    }
    let test = if spans.is_empty() {
        "false".to_string()
    } else {
        spans
            .iter()
            .map(|&(lo, hi)| match (lo, hi) {
                (lo, 99) => format!("m>={lo}"),
                (lo, hi) if lo == hi => format!("m==={lo}"),
                (lo, hi) => format!("(m>={lo}&&m<={hi})"),
            })
            .collect::<Vec<_>>()
            .join("||")
    };
    Some(format!(
        "node -e 'var v=process.versions.node,m=+v.split(\".\")[0];if(!({test})){{console.error(\"justpush: {source} declares {declared}, but the builder image has node \"+v+\". Use base images with a matching node: --base-image node.builder=IMAGE --base-image node.runtime=IMAGE (or change {source}).\");process.exit(1)}}'",
        source = version.source,
        declared = version.declared,
    ))
}

/// What node-gyp needs to compile an addon: builder stage only.
const NODE_GYP_PACKAGES: [&str; 3] = ["python3", "make", "g++"];

/// node-gyp downloads node's headers from nodejs.org unless told where they are. Debian's
/// nodejs ships them with libnode-dev (`/usr/include/node`) and the official images under
/// `/usr/local/include/node`: when the running node's prefix has them, npm's node-gyp is
/// pointed there, so an addon builds without the download.
const NODE_GYP_LOCAL_HEADERS: &str = "node -e 'var p=require(\"path\").resolve(process.execPath,\"../..\");if(require(\"fs\").existsSync(p+\"/include/node/common.gypi\"))require(\"fs\").appendFileSync(require(\"os\").homedir()+\"/.npmrc\",\"nodedir=\"+p+\"\\n\")'";

/// Packages that compile a native addon with node-gyp at install time (their prebuilt binaries
/// come from GitHub releases, which an offline or proxied builder cannot reach).
const NATIVE_PACKAGES: [&str; 16] = [
    "argon2",
    "bcrypt",
    "better-sqlite3",
    "bufferutil",
    "canvas",
    "cpu-features",
    "deasync",
    "kerberos",
    "libxmljs",
    "microtime",
    "node-pty",
    "re2",
    "sqlite3",
    "utf-8-validate",
    "usb",
    "zeromq",
];

/// True when installing or building the project runs node-gyp: the project is an addon
/// (`binding.gyp`, `gypfile`), or it depends on a known native package (package.json, or
/// package-lock's install-script entries, which catch transitive ones).
fn needs_node_gyp(dir: &ProjectDir<'_>, m: &Manifest) -> bool {
    if m.gypfile || dir.exists("binding.gyp") {
        return true;
    }
    if NATIVE_PACKAGES.iter().any(|p| m.deps.contains(*p)) {
        return true;
    }
    let Some(lock) = dir
        .read("package-lock.json")
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
    else {
        return false;
    };
    lock.get("packages")
        .and_then(Value::as_object)
        .is_some_and(|packages| {
            packages.iter().any(|(path, entry)| {
                let name = path.rsplit("node_modules/").next().unwrap_or_default();
                entry.get("hasInstallScript").and_then(Value::as_bool) == Some(true)
                    && NATIVE_PACKAGES.contains(&name)
            })
        })
}

/// Prisma is used when its CLI or client is a dependency and a schema exists (the default
/// `prisma/schema.prisma`, or beside package.json).
fn uses_prisma(dir: &ProjectDir<'_>, m: &Manifest) -> bool {
    (m.deps.contains("prisma") || m.deps.contains("@prisma/client"))
        && (dir.exists("prisma/schema.prisma") || dir.exists("schema.prisma"))
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

    fn try_plan(files: &[(&str, &str)]) -> Result<Plan, DetectError> {
        let tree = SourceTree::from_memory(files.iter().copied());
        NodeProvider.plan(&ProjectDir::new(&tree, "."), &Hints::default())
    }

    fn version(files: &[(&str, &str)]) -> Option<RuntimeVersion> {
        plan(files).build.runtime_version
    }

    const START: &str = r#""scripts":{"start":"node index.js"}"#;

    #[test]
    fn declared_versions_in_precedence_pick_the_tag() {
        let pkg =
            format!(r#"{{{START},"engines":{{"node":">=18"}},"volta":{{"node":"20.11.1"}}}}"#);
        let all = [
            ("package.json", pkg.as_str()),
            (".node-version", "v18.19.0\n"),
            (".nvmrc", "lts/jod\n"),
        ];
        let v = version(&all).unwrap();
        assert_eq!(
            (v.source.as_str(), v.tag.as_deref()),
            ("package.json volta.node", Some("20"))
        );
        let pkg = format!(r#"{{{START},"engines":{{"node":">=18"}}}}"#);
        let v = version(&[
            ("package.json", &pkg),
            (".node-version", "v18.19.0"),
            (".nvmrc", "lts/jod"),
        ])
        .unwrap();
        assert_eq!(
            (v.source.as_str(), v.tag.as_deref()),
            (".node-version", Some("18"))
        );
        let v = version(&[("package.json", &pkg), (".nvmrc", "# team pin\nlts/iron")]).unwrap();
        assert_eq!(
            (v.source.as_str(), v.declared.as_str(), v.tag.as_deref()),
            (".nvmrc", "20", Some("20"))
        );
        // A range: the highest LTS major it allows.
        let v = version(&[("package.json", &pkg)]).unwrap();
        assert_eq!(
            (v.source.as_str(), v.tag.as_deref()),
            ("package.json engines.node", Some("22"))
        );
        let pkg = format!(r#"{{{START},"engines":{{"node":">=18.17 <21"}}}}"#);
        assert_eq!(
            version(&[("package.json", &pkg)]).unwrap().tag.as_deref(),
            Some("20")
        );
        // No pin at all.
        assert_eq!(
            version(&[
                ("package.json", &format!("{{{START}}}")),
                (".nvmrc", "node")
            ]),
            None
        );
    }

    #[test]
    fn the_builder_checks_the_declared_major_first() {
        let check = |range: &str| {
            let pkg = format!(r#"{{{START},"engines":{{"node":"{range}"}}}}"#);
            plan(&[("package.json", &pkg)]).build.setup[0].clone()
        };
        assert!(check(">=22").contains("if(!(m>=22))"));
        assert!(check("^18.17").contains("if(!(m===18))"));
        assert!(check(">=18 <21 || 23").contains("if(!((m>=18&&m<=20)||m===23))"));
        let text = check(">=22");
        assert!(
            text.contains("package.json engines.node declares >=22"),
            "{text}"
        );
        assert!(text.contains("--base-image node.builder=IMAGE --base-image node.runtime=IMAGE"));
        assert!(plan(&[("package.json", &format!("{{{START}}}"))])
            .build
            .setup
            .is_empty());
    }

    #[test]
    fn hostile_or_unreadable_versions_are_refused_naming_the_file() {
        let pkg =
            format!(r#"{{{START},"engines":{{"node":"18\");require('child_process')(\""}}}}"#);
        let err = try_plan(&[("package.json", &pkg)]).unwrap_err();
        assert!(
            matches!(err, DetectError::UnsafeValue { ref field, .. } if field == "engines.node"),
            "{err}"
        );
        let err = try_plan(&[
            ("package.json", &format!("{{{START}}}")),
            (".nvmrc", "eighteen"),
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .contains(".nvmrc `eighteen` is not a Node version"),
            "{err}"
        );
    }

    #[test]
    fn node_gyp_builds_get_a_compiler_in_the_builder_only() {
        let lock = r#"{"packages":{"":{},"node_modules/bcrypt":{"version":"5.1.1","hasInstallScript":true},"node_modules/esbuild":{"hasInstallScript":true}}}"#;
        let cases: [&[(&str, &str)]; 3] = [
            &[
                ("package.json", r#"{"scripts":{"start":"node index.js"}}"#),
                ("package-lock.json", lock),
            ],
            &[
                ("package.json", r#"{"scripts":{"start":"node index.js"}}"#),
                ("binding.gyp", "{}"),
            ],
            &[(
                "package.json",
                r#"{"gypfile":true,"scripts":{"start":"node index.js"}}"#,
            )],
        ];
        for files in cases {
            let p = plan(files);
            assert_eq!(p.build.builder_packages, ["python3", "make", "g++"]);
            assert!(p.build.runtime_packages.is_empty());
            assert!(p.build.setup.iter().any(|c| c.contains("nodedir=")));
        }
        // An install script of a package that is not a node-gyp build (esbuild downloads).
        let lock = r#"{"packages":{"node_modules/esbuild":{"hasInstallScript":true}}}"#;
        let p = plan(&[
            ("package.json", r#"{"scripts":{"start":"node index.js"}}"#),
            ("package-lock.json", lock),
        ]);
        assert!(p.build.builder_packages.is_empty());
    }

    #[test]
    fn dev_tool_start_scripts_start_with_node() {
        let p = plan(&[(
            "package.json",
            r#"{"scripts":{"start":"nodemon --watch . server.js"},"devDependencies":{"nodemon":"3"}}"#,
        )]);
        assert_eq!(p.build.cmd, ["node", "server.js"]);
        assert!(!p.build.prune.is_empty());
        let ts = r#"{"scripts":{"build":"tsc","start":"ts-node src/index.ts"},"devDependencies":{"ts-node":"10"}}"#;
        let p = plan(&[
            ("package.json", ts),
            (
                "tsconfig.json",
                r#"{"compilerOptions":{"outDir":"./build/","rootDir":"src"}}"#,
            ),
        ]);
        assert_eq!(p.build.cmd, ["node", "build/index.js"]);
        assert!(!p.build.prune.is_empty());
        // Nothing compiled to run: the runner itself, with dev dependencies kept.
        let p = plan(&[(
            "package.json",
            r#"{"scripts":{"start":"tsx src/main.ts"},"devDependencies":{"tsx":"4"}}"#,
        )]);
        assert_eq!(p.build.cmd, ["node_modules/.bin/tsx", "src/main.ts"]);
        assert!(p.build.prune.is_empty());
    }

    #[test]
    fn prisma_generates_its_client_and_gets_libssl_at_run_time() {
        let pkg = r#"{"scripts":{"build":"tsc","start":"node dist/index.js"},"dependencies":{"@prisma/client":"5","express":"4"},"devDependencies":{"prisma":"5"}}"#;
        let p = plan(&[
            ("package.json", pkg),
            ("prisma/schema.prisma", "datasource db {}"),
        ]);
        assert_eq!(
            p.build.build,
            ["npx --no-install prisma generate", "npm run build"]
        );
        assert_eq!(p.build.runtime_packages, ["libssl3"]);
        assert!(p.build.builder_packages.is_empty());
        // A Prisma dependency without a schema generates nothing.
        let p = plan(&[("package.json", pkg)]);
        assert_eq!(p.build.build, ["npm run build"]);
        assert!(p.build.runtime_packages.is_empty());
    }

    #[test]
    fn tooling_only_package_json_is_not_an_app() {
        let tree =
            SourceTree::from_memory([("package.json", r#"{"devDependencies":{"prettier":"3"}}"#)]);
        assert!(!NodeProvider.detect(&ProjectDir::new(&tree, ".")));
    }
}
