//! Images: build contexts, builds through the Docker Engine API (bollard, classic builder),
//! content-based tags, size budgets, pushes to registries and loads into kind / Minikube.
//!
//! What to do is decided by pure functions (this file, [`context`], [`registry`], [`load`]);
//! talking to the engine goes through [`ImageBackend`], implemented for a real daemon by
//! [`docker::DockerEngine`] and by fakes in tests.

pub mod build;
pub mod context;
pub mod docker;
pub mod load;
pub mod probe;
pub mod registry;
pub mod secret_files;
pub mod vendored;

use regex::Regex;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::LazyLock;

pub use build::{build_all, BuildOptions, BuiltImage, ProgressEvent};

/// The repository prefix of images justpush builds: `justpush/<component>:<tag>`.
pub const REPOSITORY_PREFIX: &str = "justpush";
/// The default image size budget (`--max-size`).
pub const DEFAULT_MAX_SIZE: u64 = 500_000_000;

/// Errors of the image layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// No Docker daemon answers.
    #[error("cannot reach the Docker daemon at {endpoint}: {reason}. Start it (`sudo systemctl start docker`, or `sudo dockerd > /tmp/dockerd.log 2>&1 &`), or point DOCKER_HOST at a running one, then run again")]
    DaemonUnavailable { endpoint: String, reason: String },
    /// The build context could not be made.
    #[error("build context {dir}: {message}")]
    Context { dir: PathBuf, message: String },
    /// A build step failed.
    #[error("building image for {component} failed{}: {message}\n{tail}\nfull log: {log}", step.as_ref().map(|s| format!(" at step {}/{} `{}`", s.number, s.total, s.instruction)).unwrap_or_default())]
    BuildFailed {
        component: String,
        step: Option<Box<Step>>,
        message: String,
        tail: String,
        log: PathBuf,
    },
    /// The image is larger than the budget.
    #[error("image {image} for {component} is {} ({size} bytes), over the budget of {} (--max-size); shrink the image (.dockerignore, fewer dependencies, a smaller base image) or raise --max-size", human_size(*size), human_size(*budget))]
    TooLarge {
        component: String,
        image: String,
        size: u64,
        budget: u64,
    },
    /// The registry refused the credentials.
    #[error("registry {registry} refused the credentials{}: {message}; check the user and password (docker login {registry}, or --registry-user with JUSTPUSH_REGISTRY_PASSWORD / --registry-password-stdin)", user.as_ref().map(|u| format!(" of user `{u}`")).unwrap_or_else(|| " (none were given)".into()))]
    RegistryAuth {
        registry: String,
        user: Option<String>,
        message: String,
    },
    /// The registry's challenge named a token service its credentials must not go to.
    #[error("registry {registry} asked for the credentials to be sent to the token service {realm}; they were not sent and nothing was pushed: {reason}")]
    RegistryRealmRefused {
        registry: String,
        realm: String,
        reason: String,
    },
    /// The registry cannot be reached.
    #[error("registry {registry} is unreachable: {message}; check the address and that the registry is running")]
    RegistryUnreachable { registry: String, message: String },
    /// Input the user gave is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The engine refused a request.
    #[error("{action}: {message}")]
    Engine { action: String, message: String },
    /// A project file was refused unread (FIFO, device, over its limit, outside the context).
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// The built image did not start, listen or answer as the chart needs (the probe).
    #[error(transparent)]
    Probe(Box<probe::run::ProbeError>),
    /// A local file operation failed.
    #[error("{action}: {source}")]
    Io {
        action: String,
        source: std::io::Error,
    },
}

impl ImageError {
    pub(crate) fn io(action: String, source: std::io::Error) -> Self {
        ImageError::Io { action, source }
    }
    pub(crate) fn engine(action: impl Into<String>, message: impl ToString) -> Self {
        ImageError::Engine {
            action: action.into(),
            message: message.to_string(),
        }
    }
    /// Whether the user's input is at fault (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, ImageError::Invalid(_))
    }
}

/// One `Step n/m : INSTRUCTION` line of the classic builder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    pub number: u32,
    pub total: u32,
    pub instruction: String,
}

static STEP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Step (\d+)/(\d+) : (.*)$").expect("static regex"));

/// Parses a builder output line into a step, if it starts one.
pub fn parse_step(line: &str) -> Option<Step> {
    let c = STEP.captures(line.trim_end())?;
    Some(Step {
        number: c[1].parse().ok()?,
        total: c[2].parse().ok()?,
        instruction: c[3].to_string(),
    })
}

/// The last `n` non-empty lines of a log.
pub fn log_tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Parses a size such as `500MB`, `1.5GB`, `200MiB`, `300000000` (decimal units like Docker's
/// listing; `Ki/Mi/Gi` binary).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size; use e.g. 500MB, 1GB or 200MiB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "ki" | "kib" => 1024.0,
        "mi" | "mib" => 1024.0 * 1024.0,
        "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "`{text}`: unknown size unit `{unit}`; use B, KB, MB, GB, KiB, MiB or GiB"
            ))
        }
    };
    Ok((value * mult).round() as u64)
}

/// A size as Docker's listing shows it (`117MB`, `1.2GB`).
pub fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2}GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1}MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1}kB", b / 1e3)
    } else {
        format!("{bytes}B")
    }
}

/// Whether an image of `size` bytes fits the budget.
pub fn check_size(component: &str, image: &str, size: u64, budget: u64) -> Result<(), ImageError> {
    if size > budget {
        Err(ImageError::TooLarge {
            component: component.into(),
            image: image.into(),
            size,
            budget,
        })
    } else {
        Ok(())
    }
}

/// The content tag of an image: a hash of the build context (which holds the Dockerfile),
/// the build arguments and the base images (reference and local image id), so the same
/// inputs give the same tag and any change gives a new one.
pub fn content_tag(
    context_digest: &str,
    dockerfile: &str,
    build_args: &BTreeMap<String, String>,
    base_images: &[(String, Option<String>)],
) -> String {
    let mut h = Sha256::new();
    h.update(b"justpush-image-v1\0");
    h.update(context_digest.as_bytes());
    h.update(b"\0dockerfile\0");
    h.update(dockerfile.as_bytes());
    for (k, v) in build_args {
        h.update(b"\0arg\0");
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
    }
    for (reference, id) in base_images {
        h.update(b"\0base\0");
        h.update(reference.as_bytes());
        h.update(b"@");
        h.update(id.as_deref().unwrap_or("").as_bytes());
    }
    context::hex(&h.finalize())[..12].to_string()
}

/// Validates a user-given tag: Docker's tag grammar, and never `latest`.
pub fn validate_tag(tag: &str) -> Result<(), ImageError> {
    static TAG: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").expect("static"));
    if tag == "latest" {
        return Err(ImageError::Invalid(
            "--tag latest: justpush never tags `latest` (a moving tag makes rollouts and rollbacks ambiguous); omit --tag for a content tag, or give a version such as v1.2.0".into(),
        ));
    }
    if !TAG.is_match(tag) {
        return Err(ImageError::Invalid(format!(
            "--tag `{tag}`: not a valid image tag (letters, digits, `_`, `.`, `-`, at most 128, not starting with `.` or `-`)"
        )));
    }
    Ok(())
}

/// The base images named by `FROM` lines, with `ARG` defaults and build arguments
/// substituted; stage names (`FROM builder`) and `scratch` are left out.
pub fn base_images(dockerfile: &str, build_args: &BTreeMap<String, String>) -> Vec<String> {
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    let mut seen_from = false;
    for line in logical_lines(dockerfile) {
        let mut words = line.split_whitespace();
        let Some(instr) = words.next() else { continue };
        match instr.to_ascii_uppercase().as_str() {
            "ARG" if !seen_from => {
                if let Some(decl) = words.next() {
                    let (k, v) = decl.split_once('=').unwrap_or((decl, ""));
                    let v = build_args
                        .get(k)
                        .cloned()
                        .unwrap_or_else(|| v.trim_matches('"').to_string());
                    args.insert(k.to_string(), v);
                }
            }
            "FROM" => {
                seen_from = true;
                let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
                let Some(image) = rest.first() else { continue };
                let image = substitute(image, &args);
                if let Some(pos) = rest.iter().position(|w| w.eq_ignore_ascii_case("AS")) {
                    if let Some(name) = rest.get(pos + 1) {
                        stages.push(name.to_ascii_lowercase());
                    }
                }
                let is_stage = stages[..stages.len().saturating_sub(1)]
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(&image));
                if image != "scratch" && !is_stage && !out.contains(&image) && !image.is_empty() {
                    out.push(image);
                }
            }
            _ => {}
        }
    }
    out
}

/// Dockerfile lines with `\` continuations joined and comments dropped.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.starts_with('#') || t.is_empty()) {
            continue;
        }
        if let Some(body) = t.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
        } else {
            cur.push_str(t);
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn substitute(word: &str, args: &BTreeMap<String, String>) -> String {
    static VAR: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)").expect("static")
    });
    VAR.replace_all(word, |c: &regex::Captures| {
        let name = c
            .get(1)
            .or_else(|| c.get(2))
            .map(|m| m.as_str())
            .unwrap_or("");
        args.get(name).cloned().unwrap_or_default()
    })
    .into_owned()
}

/// What the engine reports about a local image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageDetails {
    pub id: String,
    pub size: u64,
    pub user: Option<String>,
    pub has_healthcheck: bool,
    pub labels: BTreeMap<String, String>,
    pub repo_tags: Vec<String>,
}

/// A build the engine is asked to run.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// `repository:tag` to tag the result with.
    pub reference: String,
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub no_cache: bool,
    /// Resources the build's containers may use.
    pub limits: BuildLimits,
}

/// Resource limits for the containers the classic builder runs `RUN` steps in. The Engine
/// API's build endpoint has no privileged mode, no host mounts and no pids limit, so these
/// (memory, swap, CPU) are what can be bounded; the network stays the engine's default,
/// which package installs need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildLimits {
    /// Memory in bytes (swap included: none beyond it); `None` for no limit.
    pub memory_bytes: Option<u64>,
    /// CPUs (1.5 = one and a half); `None` for no limit.
    pub cpus: Option<f64>,
}

/// Default memory of a build container: 2 GiB, the most the Docker client library (bollard
/// 0.21) can send, as it types the limit as a 32-bit number.
pub const DEFAULT_BUILD_MEMORY: u64 = MAX_BUILD_MEMORY;
/// The largest memory limit that can be sent: `i32::MAX` bytes (2 GiB less one byte).
pub const MAX_BUILD_MEMORY: u64 = i32::MAX as u64;
/// Default CPUs of a build container.
pub const DEFAULT_BUILD_CPUS: f64 = 2.0;

impl Default for BuildLimits {
    fn default() -> Self {
        BuildLimits {
            memory_bytes: Some(DEFAULT_BUILD_MEMORY),
            cpus: Some(DEFAULT_BUILD_CPUS),
        }
    }
}

/// Parses `--build-memory` (`2GiB`, `1500MB`; `0` or `none` for no limit).
pub fn parse_build_memory(text: &str) -> Result<Option<u64>, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let bytes = parse_size(text).map_err(|m| format!("--build-memory {m}"))?;
    if bytes == 0 {
        return Ok(None);
    }
    if bytes < 64 * 1024 * 1024 {
        return Err(format!(
            "--build-memory `{text}`: below 64MiB no package manager runs; give e.g. 1GiB, or 0 for no limit"
        ));
    }
    // 2GiB written by a user means "the most": it is one byte over what can be sent.
    if bytes == MAX_BUILD_MEMORY + 1 {
        return Ok(Some(MAX_BUILD_MEMORY));
    }
    if bytes > MAX_BUILD_MEMORY {
        return Err(format!(
            "--build-memory `{text}`: at most 2GiB can be set (the Docker client library sends the limit as a 32-bit number); give 2GiB or less, or 0 for no limit"
        ));
    }
    Ok(Some(bytes))
}

/// Parses `--build-cpus` (`2`, `0.5`; `0` or `none` for no limit).
pub fn parse_build_cpus(text: &str) -> Result<Option<f64>, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let cpus: f64 = text.trim().parse().map_err(|_| {
        format!(
            "--build-cpus `{text}`: not a number of CPUs; give e.g. 2 or 0.5, or 0 for no limit"
        )
    })?;
    if !cpus.is_finite() || !(0.0..=1024.0).contains(&cpus) {
        return Err(format!(
            "--build-cpus `{text}`: give a number of CPUs between 0.01 and 1024, or 0 for no limit"
        ));
    }
    if cpus == 0.0 {
        return Ok(None);
    }
    if cpus < 0.01 {
        return Err(format!(
            "--build-cpus `{text}`: at least 0.01 CPUs; give e.g. 0.5, or 0 for no limit"
        ));
    }
    Ok(Some(cpus))
}

/// Credentials for a registry (never printed: Debug hides the password).
#[derive(Clone, Default)]
pub struct RegistryAuth {
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// The engine operations justpush needs: small enough for a fake.
#[async_trait::async_trait]
pub trait ImageBackend: Send + Sync {
    /// Checks that the daemon answers.
    async fn ping(&self) -> Result<(), ImageError>;
    /// The local image behind a reference, if there is one.
    async fn inspect(&self, reference: &str) -> Result<Option<ImageDetails>, ImageError>;
    /// Runs a build, calling `on_line` for every output line; `Err(message)` when the daemon
    /// reports an error (also inside the HTTP 200 stream).
    async fn build(
        &self,
        request: &BuildRequest,
        context: Vec<u8>,
        on_line: &(dyn for<'l> Fn(&'l str) + Send + Sync),
    ) -> Result<(), String>;
    /// Removes a tag (and the image, when nothing else holds it).
    async fn remove(&self, reference: &str) -> Result<(), ImageError>;
    /// Tags `source` as `target` (`repository:tag`).
    async fn tag(&self, source: &str, target: &str) -> Result<(), ImageError>;
    /// Pushes a reference; `Err(message)` carries the daemon's words.
    async fn push(&self, reference: &str, auth: &RegistryAuth) -> Result<(), String>;
    /// Writes `docker save` of a reference to a file.
    async fn export(&self, reference: &str, path: &std::path::Path) -> Result<(), ImageError>;
    /// Whether the containerd of a kind node (a container of this daemon) has the image;
    /// `false` when it cannot tell.
    async fn node_has_image(&self, _node: &str, _reference: &str) -> bool {
        false
    }
    /// The engine's way to run and ask a built image, when it has one (the probe);
    /// `None` skips the probe.
    fn prober(&self) -> Option<&dyn probe::run::ProbeEngine> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_parsed_from_builder_lines() {
        assert_eq!(
            parse_step("Step 4/12 : RUN npm ci --no-audit\n"),
            Some(Step {
                number: 4,
                total: 12,
                instruction: "RUN npm ci --no-audit".into()
            })
        );
        assert_eq!(parse_step(" ---> Running in 1234"), None);
        assert_eq!(parse_step("Step x/2 : FROM a"), None);
    }

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("200MiB").unwrap(), 200 * 1024 * 1024);
        assert_eq!(parse_size("1234").unwrap(), 1234);
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_size("5XB").unwrap_err().contains("unknown size unit"));
        assert_eq!(human_size(117_000_000), "117.0MB");
    }

    #[test]
    fn size_budget_names_size_and_budget() {
        assert!(check_size("api", "justpush/api:1", 10, 10).is_ok());
        let e = check_size("api", "justpush/api:1", 600_000_000, 500_000_000)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("600.0MB") && e.contains("500.0MB") && e.contains("--max-size"),
            "{e}"
        );
    }

    #[test]
    fn content_tags_change_with_every_input() {
        let args = BTreeMap::new();
        let base = vec![("python:3".to_string(), Some("sha256:a".to_string()))];
        let t = content_tag("ctx", "FROM a", &args, &base);
        assert_eq!(t.len(), 12);
        assert_eq!(t, content_tag("ctx", "FROM a", &args, &base));
        assert_ne!(t, content_tag("ctx2", "FROM a", &args, &base));
        assert_ne!(t, content_tag("ctx", "FROM b", &args, &base));
        let mut args2 = BTreeMap::new();
        args2.insert("A".to_string(), "1".to_string());
        assert_ne!(t, content_tag("ctx", "FROM a", &args2, &base));
        let base2 = vec![("python:3".to_string(), Some("sha256:b".to_string()))];
        assert_ne!(t, content_tag("ctx", "FROM a", &args, &base2));
    }

    #[test]
    fn latest_and_malformed_tags_are_refused() {
        assert!(validate_tag("v1.2.0").is_ok());
        assert!(validate_tag("latest")
            .unwrap_err()
            .to_string()
            .contains("never tags `latest`"));
        assert!(validate_tag("-x").is_err());
        assert!(validate_tag("a:b").is_err());
    }

    #[test]
    fn base_images_follow_args_and_skip_stages() {
        let df = "# c\nARG BUILDER_IMAGE=python:3.12\nARG RUNTIME_IMAGE=python:3.12-slim\nFROM ${BUILDER_IMAGE} AS builder\nRUN x \\\n  y\nFROM builder AS test\nFROM $RUNTIME_IMAGE\nFROM scratch\n";
        let mut args = BTreeMap::new();
        assert_eq!(
            base_images(df, &args),
            vec!["python:3.12", "python:3.12-slim"]
        );
        args.insert("RUNTIME_IMAGE".into(), "mirror/py:1".into());
        assert_eq!(base_images(df, &args), vec!["python:3.12", "mirror/py:1"]);
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        assert_eq!(log_tail("a\n\nb\nc\nd\n", 2), "c\nd");
        assert_eq!(log_tail("a", 5), "a");
    }

    #[test]
    fn build_limits_parse_with_none_and_the_client_maximum() {
        assert_eq!(parse_build_memory("2GiB").unwrap(), Some(MAX_BUILD_MEMORY));
        assert_eq!(parse_build_memory("1GiB").unwrap(), Some(1 << 30));
        assert_eq!(parse_build_memory("0").unwrap(), None);
        assert_eq!(parse_build_memory("none").unwrap(), None);
        assert!(parse_build_memory("4GiB")
            .unwrap_err()
            .contains("at most 2GiB"));
        assert!(parse_build_memory("1MB")
            .unwrap_err()
            .contains("below 64MiB"));
        assert_eq!(parse_build_cpus("1.5").unwrap(), Some(1.5));
        assert_eq!(parse_build_cpus("0").unwrap(), None);
        assert!(parse_build_cpus("-1").is_err());
        assert!(parse_build_cpus("NaN").is_err());
        assert!(parse_build_cpus("lots")
            .unwrap_err()
            .contains("--build-cpus"));
    }

    #[test]
    fn auth_debug_hides_the_password() {
        let a = RegistryAuth {
            username: Some("u".into()),
            password: Some("hunter2".into()),
        };
        assert!(!format!("{a:?}").contains("hunter2"));
    }
}
