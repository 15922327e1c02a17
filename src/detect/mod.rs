//! Project detection: what the deployable components of a source directory are, and how each
//! is built and run.
//!
//! Detection is pure over a snapshot of the directory ([`SourceTree`]): nothing is executed and
//! nothing touches the network. It works like nixpacks: a [`Provider`] per language decides
//! whether it recognises a directory and, if so, produces a plain-data [`Plan`]; the layout
//! pass (`layout`) decides which directories are components (the root, conventional monorepo
//! folders, or the services of a compose file).
//!
//! The serialised form of [`DetectedApp`] is a stable contract:
//!
//! ```json
//! {"components":[{"name":"backend","path":"backend","language":"python","framework":"fastapi",
//!   "port":8000,"port_source":"backend/main.py","dockerfile":"generated",
//!   "start":"uvicorn main:app --host 0.0.0.0 --port 8000","health":"/health",
//!   "health_source":"backend/main.py","openapi":{"runtime":"/openapi.json"},
//!   "env":[{"name":"OPENAI_API_KEY","sensitive":true}]}]}
//! ```
//!
//! * `port_source` / `health_source` say where the port and the health path were found (a
//!   file, `docker-compose.yml ports`, `Dockerfile EXPOSE`, `fastapi's default port`); a health
//!   path not found anywhere reads `guessed: no health route in the sources`.
//! * `warnings` (absent when empty) lists what to fix before building, mostly about a
//!   project's own Dockerfile.
//!
//! * `path` is relative to the detected directory, with `/` separators; `.` is the root.
//! * `language` is `null` only for a component with its own Dockerfile whose language could not
//!   be recognised from its sources or base image.
//! * `openapi` is `null`, `{"file": "<path relative to the detected directory>"}` for a spec
//!   file in the component's sources, or `{"runtime": "<url path>"}` for a framework that serves
//!   its spec at run time (FastAPI's `/openapi.json`, springdoc's `/v3/api-docs`). A file wins.
//! * `env` lists the variables the code reads, sorted by name. Variables that the platform
//!   itself sets (`PORT`, `HOSTNAME`, `NODE_ENV`, ...) are left out.
//!
//! The build recipe for generated Dockerfiles ([`Component::build`]) is not part of that form;
//! it is plain data too, consumed by [`crate::dockerfile`].

pub mod config;
pub mod generated;
mod layout;
pub mod own_dockerfile;
pub mod providers;
pub mod scan;
mod tree;
pub mod value_rules;
pub mod writable;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use config::{AppConfig, ConfigError};
pub use providers::{Plan, Provider};
pub use tree::SourceTree;

/// Everything deployable found in a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectedApp {
    /// The components, in a stable order (compose order, or by path).
    pub components: Vec<Component>,
}

/// One deployable unit: a directory that becomes one image and one Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// DNS-1123 label: the directory name, the compose service, or the project's own name.
    pub name: String,
    /// Directory relative to the detected root, `/`-separated; `.` for the root itself.
    pub path: String,
    /// Language, or `None` for an unrecognised project that brings its own Dockerfile.
    pub language: Option<Language>,
    /// Web framework, when one was recognised.
    pub framework: Option<Framework>,
    /// The port the container listens on.
    pub port: u16,
    /// Where `port` was found: a source file, the compose file, the Dockerfile's `EXPOSE` or
    /// command, or the framework's default.
    #[serde(default)]
    pub port_source: String,
    /// Whether the component's own Dockerfile is used or one is generated.
    pub dockerfile: DockerfileSource,
    /// The command that starts the service inside the image.
    pub start: String,
    /// HTTP path for health checks: an explicit health/ready route found in code, else `/`.
    pub health: String,
    /// Where `health` was found (the source file, the Dockerfile's `HEALTHCHECK`), or
    /// [`providers::GUESSED_HEALTH`].
    #[serde(default)]
    pub health_source: String,
    /// Where the OpenAPI document comes from, if anywhere.
    pub openapi: Option<OpenApi>,
    /// Environment variables the code reads.
    pub env: Vec<EnvVar>,
    /// Directories the app writes to at run time (logs, uploads, SQLite files): the chart
    /// mounts a volume at each and the generated Dockerfile gives the runtime user those
    /// paths only; the root filesystem stays read-only everywhere else.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writable_paths: Vec<WritablePath>,
    /// What the user should know before building it (a project's own Dockerfile that runs
    /// as root, serves another port, copies files a clean checkout lacks, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// How to build an image for it (present when `dockerfile` is `generated`).
    #[serde(skip)]
    pub build: Option<BuildPlan>,
}

/// A directory the app writes to, and why detection thinks so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritablePath {
    /// Absolute path inside the container (`/app/instance`).
    pub path: String,
    /// What showed it (`app.py: Flask(__name__, instance_relative_config=True)`).
    pub reason: String,
}

/// The languages detection recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    Node,
    Go,
    Java,
    Rust,
    Static,
}

impl Language {
    /// The lower-case name used in the serialised form and in options.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Node => "node",
            Language::Go => "go",
            Language::Java => "java",
            Language::Rust => "rust",
            Language::Static => "static",
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "python" => Language::Python,
            "node" | "nodejs" | "javascript" | "typescript" => Language::Node,
            "go" | "golang" => Language::Go,
            "java" => Language::Java,
            "rust" => Language::Rust,
            "static" => Language::Static,
            other => {
                return Err(format!(
                "unknown language `{other}`: expected one of python, node, go, java, rust, static"
            ))
            }
        })
    }
}

/// Web frameworks detection recognises; serialised in lower case (`spring-boot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framework {
    // Python
    Fastapi,
    Flask,
    Django,
    // Node
    Nextjs,
    Nestjs,
    Express,
    Fastify,
    Koa,
    Hono,
    Vite,
    CreateReactApp,
    // Go
    Gin,
    Echo,
    Fiber,
    Chi,
    // Java
    SpringBoot,
    // Rust
    Axum,
    Actix,
    Rocket,
    Warp,
}

impl Framework {
    /// The serialised (lower-case) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Fastapi => "fastapi",
            Framework::Flask => "flask",
            Framework::Django => "django",
            Framework::Nextjs => "nextjs",
            Framework::Nestjs => "nestjs",
            Framework::Express => "express",
            Framework::Fastify => "fastify",
            Framework::Koa => "koa",
            Framework::Hono => "hono",
            Framework::Vite => "vite",
            Framework::CreateReactApp => "create-react-app",
            Framework::Gin => "gin",
            Framework::Echo => "echo",
            Framework::Fiber => "fiber",
            Framework::Chi => "chi",
            Framework::SpringBoot => "spring-boot",
            Framework::Axum => "axum",
            Framework::Actix => "actix",
            Framework::Rocket => "rocket",
            Framework::Warp => "warp",
        }
    }

    /// True for frameworks whose output is a set of static files served to browsers.
    pub fn is_frontend(self) -> bool {
        matches!(
            self,
            Framework::Nextjs | Framework::Vite | Framework::CreateReactApp
        )
    }
}

impl std::fmt::Display for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The port a framework listens on when the code does not say otherwise.
pub fn conventional_port(language: Language, framework: Option<Framework>) -> u16 {
    match framework {
        Some(Framework::Fastapi | Framework::Django | Framework::Rocket) => 8000,
        Some(Framework::Flask) => 5000,
        Some(
            Framework::Nextjs
            | Framework::Nestjs
            | Framework::Express
            | Framework::Fastify
            | Framework::Koa
            | Framework::Hono
            | Framework::Axum
            | Framework::Fiber,
        ) => 3000,
        // Static builds are served by the image's own small server, on the static port.
        Some(Framework::Vite | Framework::CreateReactApp) => 8080,
        Some(
            Framework::Gin
            | Framework::Echo
            | Framework::Chi
            | Framework::SpringBoot
            | Framework::Actix
            | Framework::Warp,
        ) => 8080,
        None => match language {
            Language::Python => 8000,
            Language::Node => 3000,
            Language::Go | Language::Java | Language::Rust | Language::Static => 8080,
        },
    }
}

/// Where a component's Dockerfile comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DockerfileSource {
    /// The component has its own Dockerfile, which is used as it is.
    Existing,
    /// justpush generates one from [`Component::build`].
    Generated,
}

/// Where a component's OpenAPI document can be had. Serialised as a one-key map,
/// `{"file": "backend/openapi.yaml"}` or `{"runtime": "/openapi.json"}`, in JSON and YAML alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "OpenApiRepr", try_from = "OpenApiRepr")]
pub enum OpenApi {
    /// A spec file in the sources, relative to the detected root.
    File(String),
    /// A URL path the running service serves its spec on.
    Runtime(String),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenApiRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    runtime: Option<String>,
}

impl From<OpenApi> for OpenApiRepr {
    fn from(o: OpenApi) -> Self {
        match o {
            OpenApi::File(f) => OpenApiRepr {
                file: Some(f),
                runtime: None,
            },
            OpenApi::Runtime(r) => OpenApiRepr {
                file: None,
                runtime: Some(r),
            },
        }
    }
}

impl TryFrom<OpenApiRepr> for OpenApi {
    type Error = String;
    fn try_from(r: OpenApiRepr) -> Result<Self, Self::Error> {
        match (r.file, r.runtime) {
            (Some(f), None) => Ok(OpenApi::File(f)),
            (None, Some(r)) => Ok(OpenApi::Runtime(r)),
            _ => Err("openapi takes exactly one of `file` or `runtime`".to_string()),
        }
    }
}

/// An environment variable the code reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    /// True when the name looks like a credential (KEY, SECRET, TOKEN, PASSWORD, ...): such a
    /// variable belongs in a Kubernetes Secret, not a ConfigMap.
    pub sensitive: bool,
}

impl EnvVar {
    /// An entry for `name`, classified by [`is_sensitive_name`].
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let sensitive = is_sensitive_name(&name);
        EnvVar { name, sensitive }
    }
}

/// True when a variable name suggests a credential.
pub fn is_sensitive_name(name: &str) -> bool {
    const MARKERS: [&str; 7] = [
        "KEY",
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "PRIVATE",
    ];
    let upper = name.to_ascii_uppercase();
    MARKERS.iter().any(|m| upper.contains(m))
}

/// The Dockerfile template a generated build uses (`images/templates/<name>.Dockerfile.j2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Template {
    PythonUv,
    PythonPip,
    PythonPoetry,
    NodeNextjs,
    NodeServer,
    NodeStatic,
    Go,
    JavaMaven,
    JavaGradle,
    Rust,
    Static,
}

impl Template {
    /// Every template, in documentation order.
    pub const ALL: [Template; 11] = [
        Template::PythonUv,
        Template::PythonPip,
        Template::PythonPoetry,
        Template::NodeNextjs,
        Template::NodeServer,
        Template::NodeStatic,
        Template::Go,
        Template::JavaMaven,
        Template::JavaGradle,
        Template::Rust,
        Template::Static,
    ];

    /// The template's file stem.
    pub fn as_str(self) -> &'static str {
        match self {
            Template::PythonUv => "python-uv",
            Template::PythonPip => "python-pip",
            Template::PythonPoetry => "python-poetry",
            Template::NodeNextjs => "node-nextjs",
            Template::NodeServer => "node-server",
            Template::NodeStatic => "node-static",
            Template::Go => "go",
            Template::JavaMaven => "java-maven",
            Template::JavaGradle => "java-gradle",
            Template::Rust => "rust",
            Template::Static => "static",
        }
    }

    /// The language whose base images the template uses.
    pub fn language(self) -> Language {
        match self {
            Template::PythonUv | Template::PythonPip | Template::PythonPoetry => Language::Python,
            Template::NodeNextjs | Template::NodeServer | Template::NodeStatic => Language::Node,
            Template::Go => Language::Go,
            Template::JavaMaven | Template::JavaGradle => Language::Java,
            Template::Rust => Language::Rust,
            Template::Static => Language::Static,
        }
    }
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to build a component whose Dockerfile is generated, in nixpacks' terms: files copied
/// first for layer caching, then setup, install, build and prune commands run in the builder
/// stage. The template decides the stages and what the runtime stage takes from the builder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildPlan {
    /// Which template renders it.
    pub template: Template,
    /// Dependency manifests copied before the sources (only files that exist).
    pub manifests: Vec<String>,
    /// Tooling installed in the builder (pinned package-manager installs).
    pub setup: Vec<String>,
    /// Dependency installation, run after `manifests` are copied.
    pub install: Vec<String>,
    /// Build commands, run after all sources are copied.
    pub build: Vec<String>,
    /// Commands that drop build-only dependencies before the runtime stage copies the app.
    pub prune: Vec<String>,
    /// What the runtime stage takes: a build output directory (node-static: `dist`), a Go
    /// package (`./cmd/api`), a Rust binary name, or a Java build-output directory.
    pub artifact: Option<String>,
    /// The start command as an argument vector (the image's `CMD`).
    pub cmd: Vec<String>,
    /// Debian packages the builder stage installs first (compilers and headers for
    /// dependencies that build from source); they never reach the runtime stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder_packages: Vec<String>,
    /// Debian packages the runtime stage installs (shared libraries the app links at run
    /// time, such as `libssl3`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_packages: Vec<String>,
    /// The language version the project declares, which picks the default base images' tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<RuntimeVersion>,
    /// A one-off command the Deployment runs to completion in the same image before the app
    /// starts (Django's `migrate`): seeds `initCommand` in justpush.yaml.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_command: Vec<String>,
}

/// A language version a project declares (`requires-python`, `.nvmrc`, go.mod's `go` line,
/// `rust-toolchain.toml`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeVersion {
    /// What the project declares, as written (`>=3.11,<4`, `20`, `1.22.3`).
    pub declared: String,
    /// Where it is declared (`pyproject.toml [project] requires-python`).
    pub source: String,
    /// The version the default base images' tag is made from (`3.11`, `20`, `1.22`): digits
    /// and dots only (checked before it reaches a Dockerfile); `None` keeps the defaults.
    pub tag: Option<String>,
}

impl BuildPlan {
    /// An empty plan for `template`.
    pub fn new(template: Template) -> Self {
        BuildPlan {
            template,
            manifests: Vec::new(),
            setup: Vec::new(),
            install: Vec::new(),
            build: Vec::new(),
            prune: Vec::new(),
            artifact: None,
            cmd: Vec::new(),
            builder_packages: Vec::new(),
            runtime_packages: Vec::new(),
            runtime_version: None,
            init_command: Vec::new(),
        }
    }
}

/// What a caller can tune about detection.
#[derive(Debug, Clone, Default)]
pub struct DetectOptions {
    /// Treat Dockerfiles that justpush generated (they start with [`GENERATED_MARKER`]) as
    /// absent, so they can be generated again (`init --force`).
    pub ignore_generated_dockerfiles: bool,
}

/// First line of every Dockerfile justpush writes.
pub const GENERATED_MARKER: &str = "# Generated by justpush";

/// Errors of project detection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// The directory to detect could not be read.
    #[error(
        "cannot read project directory {path}: {source}; check that it exists and is readable"
    )]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The path exists but is not a directory.
    #[error("{path} is not a directory: pass the project's root directory")]
    NotADirectory { path: PathBuf },
    /// Nothing in the directory can be deployed.
    #[error(
        "nothing deployable found in {path}.\n\
         Looked for: a Dockerfile; package.json (Node: Next.js, Express, Fastify, Vite, ...); \
         requirements.txt or pyproject.toml (Python: FastAPI, Flask, Django); go.mod (Go); \
         pom.xml or build.gradle (Java); Cargo.toml with a binary (Rust); index.html (static site); \
         in the directory itself, in frontend/, backend/, web/, api/, server/, client/, apps/*, \
         services/*, and the `build:` services of docker-compose.yml / compose.yaml.\n\
         Fix: run this in your project's root, or add a Dockerfile to each service directory \
         (a component with its own Dockerfile is built with it as it is)."
    )]
    NothingDeployable { path: PathBuf },
    /// A compose file could not be parsed.
    #[error("cannot parse compose file {path}: {message}; fix the YAML or remove the file to let justpush look at the directories")]
    Compose { path: PathBuf, message: String },
    /// A compose service points at a build context outside the project or that does not exist.
    #[error("compose service `{service}` in {path} builds from `{context}`, which is not a directory inside the project; fix its `build:` context")]
    ComposeContext {
        path: PathBuf,
        service: String,
        context: String,
    },
    /// A value from a project file would reach a generated Dockerfile but breaks its grammar
    /// (see [`value_rules`]); the value is shown escaped, so a newline reads as `\n`.
    #[error("{file}: {field} {value:?} is refused: {rule}; change {field} in {file}")]
    UnsafeValue {
        file: String,
        field: String,
        value: String,
        rule: value_rules::Rule,
    },
    /// A manifest (package.json, pyproject.toml, ...) is malformed.
    #[error("cannot parse {path}: {message}; fix the file so that it parses")]
    Manifest { path: PathBuf, message: String },
}

/// Detects the deployable components of `dir`.
pub fn detect(dir: &Path) -> Result<DetectedApp, DetectError> {
    detect_with(dir, &DetectOptions::default())
}

/// [`detect`] with options.
pub fn detect_with(dir: &Path, options: &DetectOptions) -> Result<DetectedApp, DetectError> {
    let meta = std::fs::metadata(dir).map_err(|source| DetectError::Unreadable {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(DetectError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let tree = SourceTree::scan(dir)?;
    let fallback_name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".to_string());
    detect_tree(&tree, &fallback_name, options).map_err(|err| match err {
        DetectError::NothingDeployable { .. } => DetectError::NothingDeployable {
            path: dir.to_path_buf(),
        },
        other => other,
    })
}

/// Detection over an already-read tree; `root_name` names a single-service root when its
/// manifests carry no project name.
pub fn detect_tree(
    tree: &SourceTree,
    root_name: &str,
    options: &DetectOptions,
) -> Result<DetectedApp, DetectError> {
    let mut components = layout::components(tree, root_name, options)?;
    if components.is_empty() {
        return Err(DetectError::NothingDeployable {
            path: PathBuf::from(root_name),
        });
    }
    for c in &mut components {
        if let (Some(language), DockerfileSource::Generated) = (c.language, c.dockerfile) {
            let dir = providers::ProjectDir::new(tree, &c.path);
            c.warnings.extend(writable::warnings(&dir, language));
        }
    }
    Ok(DetectedApp { components })
}

/// Turns any name into a DNS-1123 label (lower case, `a-z0-9-`, at most 63 characters).
pub fn dns_label(raw: &str) -> String {
    // npm scopes: `@acme/web` is named `web`.
    let raw = raw.rsplit('/').next().unwrap_or(raw);
    let mut out = String::new();
    for ch in raw.chars() {
        let c = ch.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_matches('-').chars().take(63).collect();
    let trimmed = trimmed.trim_end_matches('-').to_string();
    if trimmed.is_empty() {
        "app".to_string()
    } else if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
        format!("app-{trimmed}").chars().take(63).collect()
    } else {
        trimmed
    }
}

/// Joins an argument vector into one shell-readable command line.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_names() {
        for name in [
            "OPENAI_API_KEY",
            "JWT_SECRET",
            "GITHUB_TOKEN",
            "DB_PASSWORD",
            "SMTP_PASSWD",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "PRIVATE_KEY_PEM",
            "secret_key",
        ] {
            assert!(is_sensitive_name(name), "{name}");
        }
        for name in [
            "DATABASE_URL",
            "LOG_LEVEL",
            "NEXT_PUBLIC_API_URL",
            "REDIS_HOST",
        ] {
            assert!(!is_sensitive_name(name), "{name}");
        }
    }

    #[test]
    fn dns_labels() {
        assert_eq!(dns_label("@acme/Web_App"), "web-app");
        assert_eq!(dns_label("My Service!"), "my-service");
        assert_eq!(dns_label("3d"), "app-3d");
        assert_eq!(dns_label("---"), "app");
        assert_eq!(dns_label(&"a".repeat(80)).len(), 63);
    }

    #[test]
    fn conventional_ports() {
        assert_eq!(
            conventional_port(Language::Node, Some(Framework::Nextjs)),
            3000
        );
        assert_eq!(
            conventional_port(Language::Python, Some(Framework::Fastapi)),
            8000
        );
        assert_eq!(
            conventional_port(Language::Python, Some(Framework::Flask)),
            5000
        );
        assert_eq!(
            conventional_port(Language::Python, Some(Framework::Django)),
            8000
        );
        assert_eq!(
            conventional_port(Language::Node, Some(Framework::Express)),
            3000
        );
        assert_eq!(
            conventional_port(Language::Java, Some(Framework::SpringBoot)),
            8080
        );
        assert_eq!(conventional_port(Language::Go, None), 8080);
        assert_eq!(conventional_port(Language::Static, None), 8080);
    }

    #[test]
    fn shell_join_quotes_only_when_needed() {
        let argv: Vec<String> = ["uvicorn", "main:app", "--host", "0.0.0.0", "it's"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            shell_join(&argv),
            r"uvicorn main:app --host 0.0.0.0 'it'\''s'"
        );
    }

    #[test]
    fn serialised_form_is_exact() {
        let component = Component {
            name: "api".into(),
            path: "api".into(),
            language: Some(Language::Java),
            framework: Some(Framework::SpringBoot),
            port: 8080,
            port_source: "spring-boot's default port".into(),
            dockerfile: DockerfileSource::Generated,
            start: "java -jar /app/app.jar".into(),
            health: "/actuator/health".into(),
            health_source: "api/src/main/java/Health.java".into(),
            openapi: Some(OpenApi::Runtime("/v3/api-docs".into())),
            env: vec![EnvVar::new("DB_PASSWORD")],
            writable_paths: Vec::new(),
            warnings: Vec::new(),
            build: Some(BuildPlan::new(Template::JavaMaven)),
        };
        let json = serde_json::to_string(&DetectedApp {
            components: vec![component],
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"components":[{"name":"api","path":"api","language":"java","framework":"spring-boot","port":8080,"port_source":"spring-boot's default port","dockerfile":"generated","start":"java -jar /app/app.jar","health":"/actuator/health","health_source":"api/src/main/java/Health.java","openapi":{"runtime":"/v3/api-docs"},"env":[{"name":"DB_PASSWORD","sensitive":true}]}]}"#
        );
    }
}
