//! `justpush.yaml`: the app's deployment settings, seeded from detection by `init` and edited
//! by the user. It never holds secret values, only the names of the variables that are secret.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{DetectedApp, Framework, Language, OpenApi};

/// The settings file's name, at the project root.
pub const CONFIG_FILE: &str = "justpush.yaml";

/// The schema of `justpush.yaml`. Every field but `name` and `components` has a default, and
/// unknown keys are rejected so that typos do not go unnoticed.
///
/// ```yaml
/// version: 1                      # schema version
/// name: todo                      # release name (DNS-1123 label)
/// components:
///   - name: backend               # Deployment/Service name (DNS-1123 label)
///     path: backend               # build context, relative to this file
///     language: python            # informational: what detection found
///     framework: fastapi
///     port: 8000                  # container port
///     dockerfile: Dockerfile      # relative to `path`
///     health: /api/health         # liveness/readiness probe path
///     openapi:                    # {file: path-from-root} | {runtime: url-path}; routes come from it
///       runtime: /openapi.json
///     replicas: 2
///     resources:
///       requests: {cpu: 100m, memory: 128Mi}
///       limits: {cpu: 500m, memory: 512Mi}
///     env:
///       - name: LOG_LEVEL
///         value: info             # plain values go to a ConfigMap
///       - name: OPENAI_API_KEY
///         secret: true            # value given at deploy time; goes to a Secret; never stored here
///     route:                      # exposure through Kong; omit to keep the component internal
///       path: /api
///       stripPath: false
///       auth: true                # require the consumer's credential on this route
///     probe: false                # skip running the image before deploying (port/health check)
/// kong:
///   auth: key-auth                # key-auth | jwt | none
///   rateLimit: {minute: 60}       # second / minute / hour; all empty = no rate limiting
///   cors:
///     origins: ["*"]
///     credentials: false
///   requestTransformer: {add: {headers: ["X-Via:kong"]}}   # optional, Kong plugin config
///   responseTransformer: {remove: {headers: [Server]}}     # optional
///   adminUrl: http://kong-admin:8001   # optional: sync an external Kong's Admin API
///   security:                     # optional: how the gateway enforces a spec's schemes
///     corporateSSO: jwt           # key-auth | jwt | basic-auth | public
///   allowPublic: false            # true: unenforceable security becomes a public route
///   hideCredentials: true         # strip key-auth / basic-auth credentials before the backend
///   allowPlugins: [http-log]      # x-kong-plugin-* beyond the safe ones justpush checks
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppConfig {
    /// Schema version; only 1 exists.
    #[serde(default = "default_version")]
    pub version: u32,
    /// The app's (release's) name.
    pub name: String,
    /// The deployable parts.
    pub components: Vec<ComponentConfig>,
    /// Gateway settings.
    #[serde(default)]
    pub kong: KongConfig,
    /// The code scan before builds (`scan.mode`, `scan.ignore`; see docs/scan.md).
    #[serde(
        default,
        skip_serializing_if = "crate::codescan::ScanConfig::is_default"
    )]
    pub scan: crate::codescan::ScanConfig,
}

/// One component's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComponentConfig {
    pub name: String,
    /// Build context relative to the project root (`.` for the root).
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<Framework>,
    pub port: u16,
    /// Dockerfile relative to `path`.
    #[serde(default = "default_dockerfile")]
    pub dockerfile: String,
    #[serde(default = "default_health")]
    pub health: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<OpenApi>,
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteConfig>,
    /// `false`: build without running the image first to check its port and health path.
    #[serde(default = "default_probe", skip_serializing_if = "is_default_probe")]
    pub probe: bool,
    /// Directories the app writes to (absolute container paths); `init` writes what detection
    /// found. When present (even `[]`) this list replaces detection's, in the generated
    /// Dockerfile and in the chart; absent, detection's are used. Each gets a volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writable: Option<Vec<String>>,
    /// Keep the writable paths across restarts: one PersistentVolumeClaim of this size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<PersistenceConfig>,
    /// Run to completion in the component's image before each pod's app starts (seeded from
    /// detection: Django's migrate); `[]` turns it off, another list replaces the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_command: Option<Vec<String>>,
}

/// A component's persistent volume for its writable paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistenceConfig {
    /// Kubernetes quantity, e.g. `1Gi`.
    pub size: String,
}

fn default_probe() -> bool {
    true
}
fn is_default_probe(probe: &bool) -> bool {
    *probe
}

/// An environment variable: a plain value, or a secret whose value is supplied at deploy time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret: bool,
    /// Only for non-secret variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Kubernetes resource requests and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    #[serde(default = "default_requests")]
    pub requests: ResourceAmounts,
    #[serde(default = "default_limits")]
    pub limits: ResourceAmounts,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            requests: default_requests(),
            limits: default_limits(),
        }
    }
}

/// CPU and memory in Kubernetes quantity notation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceAmounts {
    pub cpu: String,
    pub memory: String,
}

/// How a component is reached through the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteConfig {
    /// Path prefix on the gateway.
    pub path: String,
    /// Remove the prefix before forwarding.
    #[serde(default)]
    pub strip_path: bool,
    /// Require the Kong consumer's credential.
    #[serde(default = "default_true")]
    pub auth: bool,
}

/// Gateway-wide settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KongConfig {
    #[serde(default)]
    pub auth: AuthType,
    #[serde(default)]
    pub rate_limit: RateLimit,
    #[serde(default)]
    pub cors: Cors,
    /// request-transformer plugin config put on every derived route (Kong's own config keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_transformer: Option<serde_json::Value>,
    /// response-transformer plugin config put on every derived route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_transformer: Option<serde_json::Value>,
    /// Admin API of an external Kong to sync instead of the in-cluster controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_url: Option<String>,
    /// Admin API token (Kong-Admin-Token header); the JUSTPUSH_KONG_ADMIN_TOKEN environment
    /// variable wins over this, so the token can stay out of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// How the gateway enforces a spec's security scheme, by scheme name; replaces what
    /// justpush would derive (and is the way to accept schemes Kong OSS cannot check).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub security: BTreeMap<String, SchemeEnforcement>,
    /// Let operations whose security Kong cannot enforce become public routes (warned about)
    /// instead of refusing the spec.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_public: bool,
    /// `hide_credentials` of the derived key-auth and basic-auth plugins: strip the credential
    /// before the request reaches the backend.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub hide_credentials: bool,
    /// Plugins a spec's `x-kong-plugin-*` may use beyond the ones justpush knows to be safe
    /// (code-running ones like pre-function included: only name plugins you trust the spec
    /// author with).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_plugins: Vec<String>,
}

impl Default for KongConfig {
    fn default() -> Self {
        KongConfig {
            auth: AuthType::default(),
            rate_limit: RateLimit::default(),
            cors: Cors::default(),
            request_transformer: None,
            response_transformer: None,
            admin_url: None,
            admin_token: None,
            security: BTreeMap::new(),
            allow_public: false,
            hide_credentials: true,
            allow_plugins: Vec::new(),
        }
    }
}

/// What the gateway does for one security scheme (`kong.security` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemeEnforcement {
    KeyAuth,
    Jwt,
    BasicAuth,
    /// Not checked by the gateway: requests need no credential for this scheme.
    Public,
}

/// The credential Kong requires on authenticated routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthType {
    #[default]
    KeyAuth,
    Jwt,
    None,
}

/// Requests allowed per consumer and window; unset windows are not limited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u32>,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            second: None,
            minute: Some(60),
            hour: None,
        }
    }
}

/// Cross-origin settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cors {
    #[serde(default = "default_origins")]
    pub origins: Vec<String>,
    #[serde(default)]
    pub credentials: bool,
}

impl Default for Cors {
    fn default() -> Self {
        Cors {
            origins: default_origins(),
            credentials: false,
        }
    }
}

fn default_version() -> u32 {
    1
}
fn default_dockerfile() -> String {
    "Dockerfile".to_string()
}
fn default_health() -> String {
    "/".to_string()
}
fn default_replicas() -> u32 {
    2
}
fn default_requests() -> ResourceAmounts {
    ResourceAmounts {
        cpu: "100m".into(),
        memory: "128Mi".into(),
    }
}
fn default_limits() -> ResourceAmounts {
    ResourceAmounts {
        cpu: "500m".into(),
        memory: "512Mi".into(),
    }
}
fn default_origins() -> Vec<String> {
    vec!["*".to_string()]
}
fn default_true() -> bool {
    true
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn is_true(b: &bool) -> bool {
    *b
}

/// Errors reading or validating `justpush.yaml`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}; run `kubectl justpush init` to create it")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was refused unread: a FIFO, a device, or over the size limit.
    #[error("{source}")]
    Refused {
        #[source]
        source: crate::input::InputError,
    },
    /// The file is not valid YAML for the schema.
    #[error("{path} does not match the justpush.yaml schema: {message}; fix the file (see `kubectl justpush init --help` for the format) or regenerate it with `init --force`")]
    Parse { path: PathBuf, message: String },
    /// The values are inconsistent.
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    /// A path in the file leaves the project (absolute, or climbing with `..`).
    #[error("{path}: {source}")]
    PathOutside {
        path: PathBuf,
        #[source]
        source: crate::input::InputError,
    },
}

impl AppConfig {
    /// Settings seeded from detection: every component, its env (sensitive names marked
    /// secret), default resources, and gateway routes (frontends at `/` without auth, APIs
    /// under `/api` or `/<name>` with auth).
    pub fn from_detected(name: &str, app: &DetectedApp) -> AppConfig {
        let frontend = |c: &super::Component| {
            c.language == Some(Language::Static) || c.framework.is_some_and(Framework::is_frontend)
        };
        let single = app.components.len() == 1;
        let mut root_taken = false;
        let mut api_taken = false;
        let components = app
            .components
            .iter()
            .map(|c| {
                let route = if single {
                    RouteConfig {
                        path: "/".into(),
                        strip_path: false,
                        auth: !frontend(c),
                    }
                } else if frontend(c) && !root_taken {
                    root_taken = true;
                    RouteConfig {
                        path: "/".into(),
                        strip_path: false,
                        auth: false,
                    }
                } else if !frontend(c) && !api_taken && serves_api_prefix(c) {
                    api_taken = true;
                    RouteConfig {
                        path: "/api".into(),
                        strip_path: false,
                        auth: true,
                    }
                } else {
                    RouteConfig {
                        path: format!("/{}", c.name),
                        strip_path: true,
                        auth: !frontend(c),
                    }
                };
                ComponentConfig {
                    name: c.name.clone(),
                    path: c.path.clone(),
                    language: c.language,
                    framework: c.framework,
                    port: c.port,
                    dockerfile: default_dockerfile(),
                    health: c.health.clone(),
                    openapi: c.openapi.clone(),
                    replicas: default_replicas(),
                    resources: Resources::default(),
                    env: c
                        .env
                        .iter()
                        .map(|e| EnvConfig {
                            name: e.name.clone(),
                            secret: e.sensitive,
                            value: None,
                        })
                        .collect(),
                    route: Some(route),
                    writable: (!c.writable_paths.is_empty())
                        .then(|| c.writable_paths.iter().map(|w| w.path.clone()).collect()),
                    persistence: None,
                    probe: true,
                    init_command: c
                        .build
                        .as_ref()
                        .map(|b| b.init_command.clone())
                        .filter(|cmd| !cmd.is_empty()),
                }
            })
            .collect();
        AppConfig {
            version: 1,
            name: super::dns_label(name),
            components,
            kong: KongConfig::default(),
            scan: Default::default(),
        }
    }

    /// Parses and validates the YAML text of a settings file; `path` is for messages.
    pub fn from_yaml(text: &str, path: &Path) -> Result<AppConfig, ConfigError> {
        crate::yaml_limits::check_yaml(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let config: AppConfig = serde_yaml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Reads, parses and validates a settings file.
    /// The project's justpush.yaml, when there is anything by that name in `dir`: a FIFO, a
    /// device or a link counts as present (and `load` refuses it), so that a broken or hostile
    /// file is an error instead of being skipped as if there were none.
    pub fn load_if_present(dir: &Path) -> Result<Option<AppConfig>, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        AppConfig::load(&path).map(Some)
    }

    pub fn load(path: &Path) -> Result<AppConfig, ConfigError> {
        // Through input.rs: a FIFO or device named justpush.yaml (or --config) is refused
        // unread instead of blocking.
        let text = crate::input::read_text(path, "settings file", crate::input::MAX_CONFIG_BYTES)
            .map_err(|source| match source {
            crate::input::InputError::Io { source, .. } => ConfigError::Read {
                path: path.to_path_buf(),
                source,
            },
            refusal => ConfigError::Refused { source: refusal },
        })?;
        let config = AppConfig::from_yaml(&text, path)?;
        config.check_links(path)?;
        Ok(config)
    }

    /// Gives the detected components this file's `writable` lists where it sets one, so the
    /// generated Dockerfile makes and hands to the runtime user what the chart mounts.
    pub fn apply_writable(&self, app: &mut DetectedApp) {
        for detected in &mut app.components {
            let pinned = self
                .components
                .iter()
                .find(|c| c.name == detected.name)
                .and_then(|c| c.writable.as_ref());
            if let Some(list) = pinned {
                detected.writable_paths = list
                    .iter()
                    .map(|path| super::WritablePath {
                        path: path.clone(),
                        reason: format!("{CONFIG_FILE}: writable"),
                    })
                    .collect();
            }
        }
    }

    /// Takes detection's writable paths for the components that do not set `writable`, so a
    /// justpush.yaml written for another setting keeps the volumes the app needs.
    pub fn fill_writable_from(&mut self, app: &DetectedApp) {
        for c in self.components.iter_mut().filter(|c| c.writable.is_none()) {
            if let Some(d) = app.components.iter().find(|d| d.name == c.name) {
                if !d.writable_paths.is_empty() {
                    c.writable = Some(d.writable_paths.iter().map(|w| w.path.clone()).collect());
                }
            }
        }
    }

    /// The files the settings name that exist must not resolve (through symlinks) out of the
    /// project; checked at load so that `up` stops before building, not when the spec is read.
    fn check_links(&self, file: &Path) -> Result<(), ConfigError> {
        let root = project_root(file);
        for c in &self.components {
            if let Some(OpenApi::File(f)) = &c.openapi {
                crate::input::resolve_inside(root, &root.join(f), "OpenAPI spec (openapi.file)")
                    .map_err(|source| ConfigError::PathOutside {
                        path: file.to_path_buf(),
                        source,
                    })?;
            }
        }
        Ok(())
    }

    /// The file's text, with a header saying what it is.
    pub fn to_yaml(&self) -> String {
        let body = serde_yaml::to_string(self).expect("AppConfig always serialises");
        format!(
            "# justpush settings: edit freely. Secret values are never stored here: variables\n\
             # marked `secret: true` are asked for (or read from the environment) at deploy time.\n\
             {body}"
        )
    }

    /// Checks what the schema alone cannot: unique names, sane ports and paths, and that no
    /// secret carries a value.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |problem: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            problem,
        };
        if self.version != 1 {
            return Err(invalid(format!(
                "version {} is not supported; this justpush reads version 1",
                self.version
            )));
        }
        if self.components.is_empty() {
            return Err(invalid(
                "`components` is empty; list at least one component (run `init --force` to detect them)".into(),
            ));
        }
        crate::chart::names::validate_release_name(&self.name)
            .map_err(|e| invalid(format!("`name`: {e}")))?;
        let mut names = std::collections::HashSet::new();
        for c in &self.components {
            let mut seen = std::collections::HashSet::new();
            for w in c.writable.iter().flatten() {
                if let Some(problem) = writable_path_problem(w) {
                    return Err(invalid(format!(
                        "component `{}`: writable path `{w}` {problem}; write an absolute path inside the image such as `/app/data`",
                        c.name
                    )));
                }
                if !seen.insert(w.trim_end_matches('/')) {
                    return Err(invalid(format!(
                        "component `{}`: writable path `{w}` is listed twice; list each directory once",
                        c.name
                    )));
                }
            }
            if let Some(p) = &c.persistence {
                if !p
                    .size
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '.')
                    || !p.size.starts_with(|ch: char| ch.is_ascii_digit())
                {
                    return Err(invalid(format!(
                        "component `{}`: persistence size `{}` is not a Kubernetes quantity; write e.g. `1Gi`",
                        c.name, p.size
                    )));
                }
                if c.replicas != 1 {
                    return Err(invalid(format!(
                        "component `{}`: persistence uses one ReadWriteOnce volume, which one node mounts, but replicas is {}; set `replicas: 1` or remove `persistence`",
                        c.name, c.replicas
                    )));
                }
                if c.writable.as_ref().is_none_or(Vec::is_empty) {
                    return Err(invalid(format!(
                        "component `{}`: persistence is set but `writable` lists no directory; list the directories to keep (e.g. `writable: [/app/data]`)",
                        c.name
                    )));
                }
            }
            if super::dns_label(&c.name) != c.name {
                return Err(invalid(format!(
                    "component name `{}` is not a DNS-1123 label; use lower-case letters, digits and `-` (e.g. `{}`)",
                    c.name,
                    super::dns_label(&c.name)
                )));
            }
            if !names.insert(c.name.as_str()) {
                return Err(invalid(format!(
                    "component name `{}` is used twice; names must be unique",
                    c.name
                )));
            }
            if c.port == 0 {
                return Err(invalid(format!(
                    "component `{}` has port 0; set the port the container listens on",
                    c.name
                )));
            }
            if !c.health.starts_with('/') {
                return Err(invalid(format!(
                    "component `{}`: health `{}` must be a URL path starting with `/`",
                    c.name, c.health
                )));
            }
            if let Some(route) = &c.route {
                if !route.path.starts_with('/') {
                    return Err(invalid(format!(
                        "component `{}`: route path `{}` must start with `/`",
                        c.name, route.path
                    )));
                }
            }
            check_component_paths(c, path)?;
            for e in &c.env {
                if e.secret && e.value.is_some() {
                    return Err(invalid(format!(
                        "component `{}`: env `{}` is a secret but has a value in the file; remove the value and supply it at deploy time",
                        c.name, e.name
                    )));
                }
            }
        }
        for name in &self.kong.allow_plugins {
            let plugin_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !plugin_name {
                return Err(invalid(format!(
                    "kong.allowPlugins: `{name}` is not a Kong plugin name; use the plugin's name as Kong spells it (lower-case letters, digits and `-`, e.g. `http-log`)"
                )));
            }
        }
        self.scan.validate().map_err(invalid)?;
        if let Some(name) = self.kong.security.keys().find(|k| k.trim().is_empty()) {
            return Err(invalid(format!(
                "kong.security: `{name}` is not a security scheme name; use the name under the spec's components.securitySchemes"
            )));
        }
        Ok(())
    }
}

/// The directory the settings file's paths are relative to.
fn project_root(file: &Path) -> &Path {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Every file path a component names must stay inside the project, because justpush reads
/// (and builds from) them on the project's behalf: a project handed to justpush must not be
/// able to point it at `~/.ssh` or `/etc`. Symlinks are checked when a file is read.
fn check_component_paths(c: &ComponentConfig, file: &Path) -> Result<(), ConfigError> {
    let root = project_root(file);
    let outside = |source| ConfigError::PathOutside {
        path: file.to_path_buf(),
        source,
    };
    let field = |name: &str| format!("components.{}.{name}", c.name);
    crate::input::config_path(root, &field("path"), &c.path).map_err(outside)?;
    // Relative to `path`, but the rule is the same: no way out, not even back in.
    crate::input::config_path(root, &field("dockerfile"), &c.dockerfile).map_err(outside)?;
    match &c.openapi {
        Some(OpenApi::File(f)) => {
            crate::input::config_path(root, &field("openapi.file"), f).map_err(outside)?;
        }
        Some(OpenApi::Runtime(p)) => {
            if let Some(problem) = url_path_problem(p) {
                return Err(ConfigError::Invalid {
                    path: file.to_path_buf(),
                    problem: format!(
                        "{}: `{}` {problem}; write the URL path the service serves its spec on, e.g. `/openapi.json`",
                        field("openapi.runtime"),
                        p.escape_debug()
                    ),
                });
            }
        }
        None => {}
    }
    Ok(())
}

/// Why `value` cannot be a writable path (the same rule the Dockerfile check applies), if so.
pub fn writable_path_problem(value: &str) -> Option<&'static str> {
    if !value.starts_with('/') || value.len() < 2 {
        return Some("is not absolute");
    }
    if value.split('/').any(|s| s == ".." || s == ".") {
        return Some("contains `.` or `..`");
    }
    if [
        "/", "/app", "/tmp", "/proc", "/sys", "/dev", "/etc", "/usr", "/bin",
    ]
    .contains(&value.trim_end_matches('/'))
    {
        return Some("is a system or code directory that a volume would hide");
    }
    if !value
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || "/-._".contains(ch))
    {
        return Some("has characters other than letters, digits and `/-._`");
    }
    None
}

/// Why `value` is not a plain URL path (`/openapi.json`, `/v3/api-docs?group=public`), or
/// `None` when it is. The path is appended to the API server's service-proxy URL, so a `..`
/// segment (also written `%2e%2e`) would climb out of the service into the cluster's API with
/// the user's credentials; a scheme, `//host` or a fragment would point somewhere else.
pub fn url_path_problem(value: &str) -> Option<&'static str> {
    if !value.starts_with('/') {
        return Some("is not a URL path: it must start with `/`");
    }
    if value.starts_with("//") {
        return Some("starts with `//`, which names a host, not a path");
    }
    let allowed = |ch: char| ch.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/%?".contains(ch);
    if !value.chars().all(allowed) {
        return Some(
            "holds a character that has no place in a URL path (space, control character, `#`, `\\`, `\"` or non-ASCII); percent-encode it",
        );
    }
    let path = value.split('?').next().unwrap_or(value);
    for (i, _) in path.match_indices('%') {
        let Some(byte) = path
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
        else {
            return Some("has a `%` that is not followed by two hex digits");
        };
        // Encoded separators and dots would turn into `/`, `..` once a server decodes them.
        if matches!(byte, b'/' | b'\\' | b'.') || byte < 0x20 {
            return Some(
                "percent-encodes `/`, `\\`, `.` or a control character, which could change the path once decoded",
            );
        }
    }
    if path.split('/').any(|seg| seg == ".." || seg == ".") {
        return Some("has a `.` or `..` segment, which would leave the service's own URL space");
    }
    None
}

/// True when a backend's own routes live under `/api` (so the gateway keeps the prefix).
fn serves_api_prefix(c: &super::Component) -> bool {
    c.health.starts_with("/api/")
        || matches!(&c.openapi, Some(OpenApi::Runtime(p)) if p.starts_with("/api/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file_gets_defaults() {
        let config = AppConfig::from_yaml(
            "name: shop\ncomponents:\n  - name: api\n    path: .\n    port: 8080\n",
            Path::new("justpush.yaml"),
        )
        .unwrap();
        let c = &config.components[0];
        assert_eq!(c.dockerfile, "Dockerfile");
        assert_eq!(c.health, "/");
        assert_eq!(c.replicas, 2);
        assert_eq!(c.resources.limits.memory, "512Mi");
        assert_eq!(config.kong.auth, AuthType::KeyAuth);
        assert_eq!(config.kong.rate_limit.minute, Some(60));
        assert_eq!(config.kong.cors.origins, ["*"]);
    }

    #[test]
    fn writable_paths_and_persistence_parse_and_are_checked() {
        let base = "name: shop\ncomponents:\n  - name: api\n    path: .\n    port: 8080\n";
        let config = AppConfig::from_yaml(
            &format!("{base}    replicas: 1\n    writable: [/app/instance, /app/logs]\n    persistence: {{size: 2Gi}}\n"),
            Path::new("justpush.yaml"),
        )
        .unwrap();
        assert_eq!(
            config.components[0].writable.as_deref(),
            Some(&["/app/instance".to_string(), "/app/logs".to_string()][..])
        );
        assert_eq!(
            config.components[0].persistence.as_ref().unwrap().size,
            "2Gi"
        );
        for (extra, named) in [
            ("    writable: [app/logs]\n", "app/logs"),
            ("    writable: [/app/../etc]\n", "/app/../etc"),
            ("    writable: [/app]\n", "/app"),
            ("    writable: [\"/app/x;rm\"]\n", "/app/x;rm"),
            (
                "    writable: [/app/d]\n    persistence: {size: 1Gi}\n",
                "replicas is 2",
            ),
            (
                "    replicas: 1\n    persistence: {size: 1Gi}\n",
                "`writable` lists no directory",
            ),
            (
                "    writable: [/app/logs, /app/logs/]\n",
                "`/app/logs/` is listed twice",
            ),
            (
                "    replicas: 1\n    writable: [/app/d]\n    persistence: {size: \"1Gi; x\"}\n",
                "1Gi; x",
            ),
        ] {
            let err = AppConfig::from_yaml(&format!("{base}{extra}"), Path::new("justpush.yaml"))
                .unwrap_err();
            assert!(err.to_string().contains(named), "{extra}: {err}");
        }
    }

    #[test]
    fn a_writable_list_replaces_detection_and_its_absence_keeps_it() {
        let detected_at = |path: &str| super::super::WritablePath {
            path: path.into(),
            reason: "app.py: os.makedirs(\"logs\")".into(),
        };
        let mut app = DetectedApp {
            components: ["api", "worker", "web"]
                .iter()
                .map(|name| super::super::Component {
                    name: name.to_string(),
                    path: name.to_string(),
                    language: Some(Language::Python),
                    framework: None,
                    port: 8080,
                    dockerfile: super::super::DockerfileSource::Generated,
                    start: "python app.py".into(),
                    health: "/".into(),
                    openapi: None,
                    env: vec![],
                    build: None,
                    writable_paths: vec![detected_at("/app/logs")],
                    port_source: String::new(),
                    health_source: String::new(),
                    warnings: Vec::new(),
                })
                .collect(),
        };
        let yaml = "name: shop\ncomponents:\n  - {name: api, path: api, port: 8080, writable: [/app/spool]}\n  - {name: worker, path: worker, port: 8080, writable: []}\n  - {name: web, path: web, port: 8080}\n";
        let mut config = AppConfig::from_yaml(yaml, Path::new("justpush.yaml")).unwrap();
        config.apply_writable(&mut app);
        let paths = |i: usize| -> Vec<&str> {
            app.components[i]
                .writable_paths
                .iter()
                .map(|w| w.path.as_str())
                .collect()
        };
        assert_eq!(paths(0), ["/app/spool"]);
        assert_eq!(
            app.components[0].writable_paths[0].reason,
            "justpush.yaml: writable"
        );
        assert!(paths(1).is_empty(), "`writable: []` means none");
        assert_eq!(paths(2), ["/app/logs"], "no `writable:` keeps detection's");
        config.fill_writable_from(&app);
        let lists: Vec<Option<Vec<String>>> = config
            .components
            .iter()
            .map(|c| c.writable.clone())
            .collect();
        assert_eq!(
            lists,
            [
                Some(vec!["/app/spool".to_string()]),
                Some(vec![]),
                Some(vec!["/app/logs".to_string()])
            ]
        );
    }

    #[test]
    fn secrets_cannot_carry_values() {
        let err = AppConfig::from_yaml(
            "name: shop\ncomponents:\n  - name: api\n    path: .\n    port: 8080\n    env:\n      - {name: API_KEY, secret: true, value: hunter2}\n",
            Path::new("justpush.yaml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("API_KEY"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = AppConfig::from_yaml(
            "name: shop\ncomponents: []\nkong: {auth: key-auth, ratelimit: {}}\n",
            Path::new("justpush.yaml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("ratelimit"), "{err}");
    }

    #[test]
    fn kong_security_settings_parse_and_are_checked() {
        let config = AppConfig::from_yaml(
            "name: shop\ncomponents: [{name: api, path: ., port: 80}]\nkong:\n  security: {sso: jwt, partner: key-auth, internal: public}\n  allowPublic: true\n  hideCredentials: false\n  allowPlugins: [http-log]\n",
            Path::new("justpush.yaml"),
        )
        .unwrap();
        assert_eq!(config.kong.security["sso"], SchemeEnforcement::Jwt);
        assert_eq!(config.kong.security["internal"], SchemeEnforcement::Public);
        assert!(config.kong.allow_public && !config.kong.hide_credentials);
        assert_eq!(config.kong.allow_plugins, ["http-log"]);
        let defaults = KongConfig::default();
        assert!(!defaults.allow_public && defaults.hide_credentials);
        let err = AppConfig::from_yaml(
            "name: shop\ncomponents: [{name: api, path: ., port: 80}]\nkong: {security: {sso: oauth2}}\n",
            Path::new("justpush.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("oauth2") && err.contains("key-auth"), "{err}");
        let err = AppConfig::from_yaml(
            "name: shop\ncomponents: [{name: api, path: ., port: 80}]\nkong: {allowPlugins: ['Pre Function']}\n",
            Path::new("justpush.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("kong.allowPlugins: `Pre Function`"), "{err}");
    }

    #[test]
    fn round_trip() {
        let config = AppConfig::from_yaml(
            "name: shop\ncomponents:\n  - name: api\n    path: api\n    port: 8080\n    openapi: {file: api/openapi.yaml}\n    env: [{name: DB_PASSWORD, secret: true}, {name: LOG_LEVEL, value: info}]\n    route: {path: /api}\n",
            Path::new("justpush.yaml"),
        )
        .unwrap();
        let again = AppConfig::from_yaml(&config.to_yaml(), Path::new("x")).unwrap();
        assert_eq!(config, again);
        assert!(again.components[0].route.as_ref().unwrap().auth);
    }

    fn with_component_field(field: &str) -> String {
        format!(
            "name: shop\ncomponents:\n  - name: api\n    path: api\n    port: 8080\n    {field}\n"
        )
    }

    #[test]
    fn every_file_path_must_stay_inside_the_project() {
        for (field, yaml) in [
            ("components.api.path", "path: /etc"),
            ("components.api.path", "path: ../elsewhere"),
            ("components.api.dockerfile", "dockerfile: /etc/passwd"),
            ("components.api.dockerfile", "dockerfile: ../../Dockerfile"),
            (
                "components.api.openapi.file",
                "openapi: {file: /home/u/.ssh/id_rsa}",
            ),
            (
                "components.api.openapi.file",
                "openapi: {file: api/../../../secret.yaml}",
            ),
        ] {
            // `path: api` comes first; a second `path` key would be a YAML error, so replace it.
            let text = if yaml.starts_with("path:") {
                with_component_field("dockerfile: Dockerfile").replace("path: api", yaml)
            } else {
                with_component_field(yaml)
            };
            let err = AppConfig::from_yaml(&text, Path::new("proj/justpush.yaml")).unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(err, ConfigError::PathOutside { .. }),
                "{yaml}: {message}"
            );
            assert!(message.contains(field), "{yaml}: {message}");
            assert!(
                message.contains("absolute") || message.contains("`..`"),
                "{yaml}: {message}"
            );
            assert!(message.starts_with("proj/justpush.yaml"), "{message}");
        }
    }

    #[test]
    fn paths_inside_the_project_are_accepted() {
        let text = with_component_field("openapi: {file: api/spec/openapi.yaml}")
            .replace("path: api", "path: ./api");
        AppConfig::from_yaml(&text, Path::new("justpush.yaml")).unwrap();
    }

    #[test]
    fn a_runtime_spec_path_must_be_a_plain_url_path() {
        for good in [
            "/openapi.json",
            "/api/v3/api-docs?group=public",
            "/docs/%7Euser/spec",
        ] {
            assert_eq!(url_path_problem(good), None, "{good}");
        }
        for bad in [
            "openapi.json",
            "//evil.example/openapi.json",
            "/../../../api/v1/namespaces/default/secrets",
            "/a/%2e%2e/%2E%2E/secrets",
            "/a%2fb",
            "/spec.json#x",
            "/spec json",
            "/spec\njson",
            "/a/./b",
            "/bad%zz",
        ] {
            assert!(url_path_problem(bad).is_some(), "{bad} accepted");
        }
        let text = with_component_field("openapi: {runtime: /../../secrets}");
        let err = AppConfig::from_yaml(&text, Path::new("justpush.yaml")).unwrap_err();
        assert!(
            err.to_string().contains("components.api.openapi.runtime"),
            "{err}"
        );
        assert!(err.to_string().contains("`..`"), "{err}");
    }

    #[test]
    fn loading_refuses_a_spec_file_that_links_out_of_the_project() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("id_rsa"), "CANARY-key-material").unwrap();
        let project = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("id_rsa"),
            project.path().join("openapi.yaml"),
        )
        .unwrap();
        let file = project.path().join(CONFIG_FILE);
        std::fs::write(
            &file,
            with_component_field("openapi: {file: openapi.yaml}").replace("path: api", "path: ."),
        )
        .unwrap();
        let err = AppConfig::load(&file).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ConfigError::PathOutside { .. }), "{message}");
        assert!(message.contains("openapi.file") && message.contains("outside the project"));
        assert!(!message.contains("CANARY"), "{message}");
    }

    #[test]
    fn loading_refuses_fifos_devices_and_huge_files_unread() {
        let project = tempfile::tempdir().unwrap();
        let fifo = crate::input::test_files::fifo(&project.path().join(CONFIG_FILE));
        let sparse = project.path().join("big.yaml");
        std::fs::File::create(&sparse)
            .unwrap()
            .set_len(5 << 30)
            .unwrap();
        for (path, why) in [
            (fifo.as_path(), "FIFO"),
            (Path::new("/dev/zero"), "character device"),
            (sparse.as_path(), "over the limit"),
        ] {
            let err = AppConfig::load(path).unwrap_err();
            assert!(matches!(err, ConfigError::Refused { .. }), "{err}");
            assert!(err.to_string().contains(why), "{err}");
        }
    }

    #[test]
    fn an_alias_bomb_in_the_settings_is_refused_by_name() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..=10 {
            let items = vec![format!("*a{}", i - 1); 9].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        let err = AppConfig::from_yaml(&text, Path::new("justpush.yaml")).unwrap_err();
        assert!(err.to_string().contains("alias bomb"), "{err}");
    }
}
