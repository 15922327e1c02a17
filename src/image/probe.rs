//! Probing a built image before it is deployed: which port it really listens on, which health
//! path answers, and whether it serves its OpenAPI document. This file is the pure core: the
//! candidates (ranked, each with why) and the decisions over what was observed. Running the
//! container and asking it is [`run`]'s job.
//!
//! Why probe at all: detection guesses the port and the health path from the sources, and a
//! guess that is wrong makes every probe of the chart fail and every deploy roll back. The
//! image itself is the one that knows; asking it takes seconds.

pub mod docker;
pub mod run;

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::detect::{Component, Framework, Language, OpenApi};

/// Health paths tried in this order: the conventional names first (specific to general), the
/// OpenAPI document's health operations next, `/` last.
pub const HEALTH_PATHS: &[&str] = &[
    "/api/health",
    "/health",
    "/healthz",
    "/ready",
    "/readyz",
    "/livez",
    "/actuator/health",
    "/_health",
    "/status",
    "/ping",
];

/// Paths frameworks serve their OpenAPI document on, tried in this order.
pub const OPENAPI_PATHS: &[&str] = &[
    "/openapi.json",
    "/v3/api-docs",
    "/api/openapi.json",
    "/swagger.json",
    "/api-docs",
    "/swagger/v1/swagger.json",
    "/openapi.yaml",
];

/// The largest runtime OpenAPI document that is read (and cached).
pub const MAX_OPENAPI_BYTES: usize = 4 * 1024 * 1024;

/// A port worth trying, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortCandidate {
    pub port: u16,
    /// `detected`, `justpush.yaml`, `EXPOSE`, `CMD`, `PORT env`, `framework default`.
    pub source: String,
}

/// A health path worth trying, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCandidate {
    pub path: String,
    pub source: String,
}

/// What the image's configuration says (from the engine's inspect).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFacts {
    /// `EXPOSE`d TCP ports.
    pub exposed: Vec<u16>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `K=V` entries.
    pub env: Vec<String>,
}

/// What was pinned in `justpush.yaml`: checked, not searched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins {
    pub port: Option<u16>,
    pub health: Option<String>,
}

/// The answer to one try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// An HTTP status.
    Status(u16),
    /// The TCP connection was accepted (a TCP probe).
    Accepted,
    /// No answer: refused, reset, timed out, not HTTP.
    Failed(String),
}

impl Answer {
    /// Whether a Kubernetes HTTP probe would count it as healthy (200–399).
    pub fn healthy(&self) -> bool {
        matches!(self, Answer::Status(s) if (200..400).contains(s)) || *self == Answer::Accepted
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Status(s) => write!(f, "HTTP {s}"),
            Answer::Accepted => f.write_str("TCP connection accepted"),
            Answer::Failed(m) => write!(f, "no answer ({m})"),
        }
    }
}

/// One thing the probe tried and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// `port 8000`, `GET /healthz`, `TCP 8000`, `GET /openapi.json`.
    pub what: String,
    pub answer: Answer,
}

/// How the chart should check the component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum HealthCheck {
    /// An HTTP GET that answered `status`.
    Http {
        path: String,
        status: u16,
        why: String,
    },
    /// Nothing answered 2xx/3xx over HTTP, but the port accepts connections.
    Tcp { why: String },
}

/// What the probe found: recorded in the build result and used in the chart values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    pub port: u16,
    /// Why this port (`listening; also the detected port`, `pinned in justpush.yaml`).
    pub port_why: String,
    pub health: HealthCheck,
    /// The OpenAPI document's path, when the running app serves one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openapi: Option<String>,
    /// Everything tried, in order, with its answer.
    pub tried: Vec<Attempt>,
    /// Secret variables the app needed to start, which the probe gave random throwaway
    /// values (it never sees the real ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throwaway_secrets: Vec<String>,
}

impl ProbeResult {
    /// The HTTP health path, or `None` for a TCP check.
    pub fn health_path(&self) -> Option<&str> {
        match &self.health {
            HealthCheck::Http { path, .. } => Some(path),
            HealthCheck::Tcp { .. } => None,
        }
    }

    /// One line for people: `port 8000 (listening), health GET /healthz → HTTP 200 (...)`.
    pub fn summary(&self) -> String {
        let health = match &self.health {
            HealthCheck::Http { path, status, why } => {
                format!("health GET {path} answered HTTP {status} ({why})")
            }
            HealthCheck::Tcp { why } => format!("health by TCP connection ({why})"),
        };
        let spec = self
            .openapi
            .as_ref()
            .map(|p| format!(", OpenAPI document at {p}"))
            .unwrap_or_default();
        let secrets = if self.throwaway_secrets.is_empty() {
            String::new()
        } else {
            format!(
                "; it starts only with {} set (the probe gave throwaway values)",
                self.throwaway_secrets.join(", ")
            )
        };
        format!(
            "port {} ({}), {health}{spec}{secrets}",
            self.port, self.port_why
        )
    }
}

/// Why a probe decision could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeDecisionError {
    /// Nothing listened on any TCP port.
    #[error("nothing listened on any port within the wait (tried {tried}); check that the start command binds 0.0.0.0 (not 127.0.0.1), set `port` in justpush.yaml, or raise --probe-timeout")]
    NothingListens { tried: String },
    /// The pinned port does not listen; others do.
    #[error("port {pinned} (pinned in justpush.yaml) does not listen; the container listens on {listening}; set `port: {first}` in justpush.yaml, or make the app listen on {pinned}")]
    PinnedPortSilent {
        pinned: u16,
        listening: String,
        first: u16,
    },
    /// The pinned health path does not answer 2xx/3xx.
    #[error("health path {path} (pinned in justpush.yaml) answered {answer} on port {port}, not 2xx/3xx; {others}set `health:` in justpush.yaml to a path that answers, or remove it to let the probe search")]
    PinnedHealthFails {
        path: String,
        port: u16,
        answer: String,
        others: String,
    },
}

/// Whether and how builds probe their images (`--no-probe`, `--probe-timeout`, justpush.yaml).
#[derive(Debug, Clone, Default)]
pub struct ProbeSettings {
    /// Off by default for library callers; the CLI turns it on unless `--no-probe`.
    pub enabled: bool,
    /// How long an app may take to listen.
    pub wait: std::time::Duration,
    /// What justpush.yaml says per component (absent: nothing pinned, no env values).
    pub components: std::collections::BTreeMap<String, ComponentProbeInputs>,
}

/// A component's probe inputs from justpush.yaml.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentProbeInputs {
    pub pins: Pins,
    /// Non-secret values (secret values never reach the probe).
    pub env: std::collections::BTreeMap<String, String>,
    /// The names of the `secret: true` variables.
    pub secret_names: std::collections::BTreeSet<String>,
    /// The text of the component's OpenAPI spec file, when it names one that can be read.
    pub spec_file: Option<String>,
    /// `probe: false` in justpush.yaml.
    pub skip: bool,
}

impl ProbeSettings {
    /// Settings from a project's justpush.yaml (when it has one). The file's `port` is the
    /// user's word and is checked, not searched; `health` other than `/` likewise (`/` is the
    /// old default and what `init` wrote when detection found no route, so it is searched).
    pub fn from_config(
        root: &std::path::Path,
        config: Option<&crate::detect::config::AppConfig>,
        wait: std::time::Duration,
    ) -> ProbeSettings {
        let mut components = std::collections::BTreeMap::new();
        for c in config.map(|a| a.components.as_slice()).unwrap_or_default() {
            let spec_file = match &c.openapi {
                Some(OpenApi::File(f)) => crate::input::read_text_inside(
                    root,
                    &root.join(f),
                    "OpenAPI spec (openapi.file)",
                    MAX_OPENAPI_BYTES as u64,
                )
                .ok(),
                _ => None,
            };
            components.insert(
                c.name.clone(),
                ComponentProbeInputs {
                    pins: Pins {
                        port: Some(c.port),
                        health: (c.health != "/").then(|| c.health.clone()),
                    },
                    env: c
                        .env
                        .iter()
                        .filter(|e| !e.secret)
                        .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
                        .collect(),
                    secret_names: c
                        .env
                        .iter()
                        .filter(|e| e.secret)
                        .map(|e| e.name.clone())
                        .collect(),
                    spec_file,
                    skip: !c.probe,
                },
            );
        }
        ProbeSettings {
            enabled: true,
            wait,
            components,
        }
    }
}

/// The framework's own default port, for when nothing else names one.
pub fn framework_default_port(
    framework: Option<Framework>,
    language: Option<Language>,
) -> Option<u16> {
    use Framework::*;
    Some(match framework {
        Some(Fastapi | Django) => 8000,
        Some(Flask) => 5000,
        Some(Nextjs | Nestjs | Express | Fastify | Koa | Hono | Fiber | Axum) => 3000,
        Some(Vite | CreateReactApp) => 8080,
        Some(Gin | Chi | SpringBoot | Actix) => 8080,
        Some(Echo) => 1323,
        Some(Rocket) => 8000,
        Some(Warp) => 3030,
        None => match language {
            Some(Language::Python) => 8000,
            Some(Language::Node) => 3000,
            Some(Language::Go | Language::Java | Language::Static) => 8080,
            Some(Language::Rust) => 3000,
            None => return None,
        },
    })
}

/// Ports a start command names: `--port 8000`, `--port=8000`, `-p 8000`, `-b 0.0.0.0:5000`,
/// `--bind :3000`, `0.0.0.0:8080`, `PORT=4000`, in the order they appear.
pub fn ports_in_command(argv: &[String]) -> Vec<u16> {
    static HOST_PORT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:^|[\s=])(?:\[[0-9a-fA-F:]*\]|[A-Za-z0-9.-]*):(\d{2,5})(?:$|[\s/])")
            .expect("static regex")
    });
    static FLAG_PORT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:^|\s)(?:--port|--http-port|--server\.port|-p|--listen|--bind|-b)(?:=|\s+)(\d{2,5})(?:$|\s)")
            .expect("static regex")
    });
    static ENV_PORT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:^|\s)(?:PORT|SERVER_PORT)=(\d{2,5})(?:$|\s)").expect("static regex")
    });
    // Shell forms (`sh -c "uvicorn ... --port 8000"`) arrive as one word: join and rescan.
    let text = argv.join(" ");
    let mut found: Vec<(usize, u16)> = Vec::new();
    for re in [&*FLAG_PORT, &*HOST_PORT, &*ENV_PORT] {
        for c in re.captures_iter(&text) {
            if let (Some(m), Ok(p)) = (c.get(1), c[1].parse::<u16>()) {
                if p > 0 {
                    found.push((m.start(), p));
                }
            }
        }
    }
    found.sort();
    let mut out = Vec::new();
    for (_, p) in found {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The ports to try, ranked, without repeats: the pinned or detected one, EXPOSE, the start
/// command, the PORT environment variable, the framework's default.
pub fn candidate_ports(
    component: &Component,
    pins: &Pins,
    facts: &ImageFacts,
) -> Vec<PortCandidate> {
    let mut out: Vec<PortCandidate> = Vec::new();
    let mut add = |port: u16, source: &str| {
        if port != 0 && !out.iter().any(|c| c.port == port) {
            out.push(PortCandidate {
                port,
                source: source.to_string(),
            });
        }
    };
    match pins.port {
        Some(p) => add(p, "justpush.yaml"),
        None => add(component.port, "detected"),
    }
    for p in &facts.exposed {
        add(*p, "EXPOSE");
    }
    let command: Vec<String> = facts
        .entrypoint
        .iter()
        .chain(facts.cmd.iter())
        .cloned()
        .collect();
    for p in ports_in_command(&command) {
        add(p, "CMD");
    }
    for e in &facts.env {
        if let Some(v) = e.strip_prefix("PORT=") {
            if let Ok(p) = v.trim().parse() {
                add(p, "PORT env");
            }
        }
    }
    if let Some(p) = framework_default_port(component.framework, component.language) {
        add(p, "framework default");
    }
    out
}

/// The health paths to try, ranked: a health route found in the code, the conventional names,
/// the OpenAPI document's GET operations tagged or named health, then `/`. (The TCP check
/// after them is not a path: [`decide_health`] falls back to it.)
pub fn health_candidates(component: &Component, spec_text: Option<&str>) -> Vec<HealthCandidate> {
    let mut out: Vec<HealthCandidate> = Vec::new();
    let mut add = |path: &str, source: &str| {
        if !out.iter().any(|c| c.path == path) {
            out.push(HealthCandidate {
                path: path.to_string(),
                source: source.to_string(),
            });
        }
    };
    if component.health != "/" && component.health.starts_with('/') {
        add(&component.health, "a health route found in the code");
    }
    for p in HEALTH_PATHS {
        add(p, "a conventional health path");
    }
    if let Some(text) = spec_text {
        for p in spec_health_paths(text) {
            add(&p, "a health operation of the OpenAPI document");
        }
    }
    add("/", "the root path");
    out
}

/// GET operations of an OpenAPI document whose tags, operationId, summary or path name health,
/// liveness or readiness, without path parameters (a probe cannot fill them in).
pub fn spec_health_paths(text: &str) -> Vec<String> {
    let Ok(doc) = crate::kong::spec::parse_document(text, "openapi") else {
        return Vec::new();
    };
    let base = doc
        .get("servers")
        .and_then(|s| s.get(0))
        .and_then(|s| s.get("url"))
        .and_then(|u| u.as_str())
        .map(server_path)
        .or_else(|| {
            doc.get("basePath")
                .and_then(|b| b.as_str())
                .map(String::from)
        })
        .unwrap_or_default();
    let base = base.trim_end_matches('/');
    if !base.is_empty() && !is_plain_path(base) {
        return Vec::new();
    }
    let names_health = |s: &str| {
        let s = s.to_ascii_lowercase();
        ["health", "liveness", "readiness", "livez", "readyz"]
            .iter()
            .any(|w| s.contains(w))
    };
    let mut out = Vec::new();
    let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else {
        return out;
    };
    for (path, item) in paths {
        // The chosen path reaches the chart's probes (and YAML): a document served by the app
        // is input like any other, so only plain path characters pass.
        if !is_plain_path(path) {
            continue;
        }
        let Some(get) = item.get("get") else { continue };
        let tagged = get
            .get("tags")
            .and_then(|t| t.as_array())
            .is_some_and(|tags| tags.iter().filter_map(|t| t.as_str()).any(names_health));
        let named = ["operationId", "summary"]
            .iter()
            .filter_map(|k| get.get(*k).and_then(|v| v.as_str()))
            .any(names_health)
            || names_health(path);
        if tagged || named {
            out.push(format!("{base}{path}"));
        }
    }
    out
}

/// A URL path of letters, digits and `/_.~-` only (no parameters, query, spaces or quotes).
fn is_plain_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 200
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.~-".contains(c))
}

/// The path of a server URL (`https://h/v1` → `/v1`, `/api` → `/api`).
fn server_path(url: &str) -> String {
    let rest = match url.split_once("://") {
        Some((_, r)) => r.find('/').map(|i| &r[i..]).unwrap_or(""),
        None => url,
    };
    if rest.starts_with('/') {
        rest.to_string()
    } else {
        String::new()
    }
}

/// Chooses the port from what listens: a pinned port must listen; otherwise the best-ranked
/// candidate that listens, else the lowest listening port the candidates did not name.
pub fn decide_port(
    candidates: &[PortCandidate],
    pins: &Pins,
    listening: &BTreeSet<u16>,
) -> Result<(u16, String), ProbeDecisionError> {
    let list = |set: &BTreeSet<u16>| {
        set.iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if listening.is_empty() {
        let tried = candidates
            .iter()
            .map(|c| format!("{} ({})", c.port, c.source))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ProbeDecisionError::NothingListens { tried });
    }
    if let Some(pinned) = pins.port {
        if listening.contains(&pinned) {
            return Ok((pinned, "pinned in justpush.yaml; it listens".into()));
        }
        let first = *listening.iter().next().expect("not empty");
        return Err(ProbeDecisionError::PinnedPortSilent {
            pinned,
            listening: list(listening),
            first,
        });
    }
    let detected = candidates.first().map(|c| c.port);
    if let Some(c) = candidates.iter().find(|c| listening.contains(&c.port)) {
        let why = if Some(c.port) == detected {
            "listening; the detected port".to_string()
        } else {
            let not = detected
                .map(|d| format!("; the detected {d} does not listen"))
                .unwrap_or_default();
            format!("listening; named by {}{not}", c.source)
        };
        return Ok((c.port, why));
    }
    let port = *listening.iter().next().expect("not empty");
    Ok((
        port,
        format!(
            "the only port listening{}; no candidate ({}) does",
            if listening.len() > 1 { " (lowest)" } else { "" },
            candidates
                .iter()
                .map(|c| c.port.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// Chooses the health check from the answers to the candidates, in rank order: the first
/// 2xx/3xx wins; nothing answering gives a TCP check (the port listens: that much is known).
/// A pinned path must answer.
pub fn decide_health(
    candidates: &[HealthCandidate],
    answers: &[(String, Answer)],
    pins: &Pins,
    port: u16,
) -> Result<HealthCheck, ProbeDecisionError> {
    let answer_of = |path: &str| answers.iter().find(|(p, _)| p == path).map(|(_, a)| a);
    if let Some(pinned) = &pins.health {
        return match answer_of(pinned) {
            Some(Answer::Status(s)) if (200..400).contains(s) => Ok(HealthCheck::Http {
                path: pinned.clone(),
                status: *s,
                why: "pinned in justpush.yaml; it answers".into(),
            }),
            other => {
                let healthy: Vec<String> = answers
                    .iter()
                    .filter(|(p, a)| p != pinned && a.healthy())
                    .map(|(p, a)| format!("{p} ({a})"))
                    .collect();
                let others = if healthy.is_empty() {
                    String::new()
                } else {
                    format!("these answer: {}; ", healthy.join(", "))
                };
                Err(ProbeDecisionError::PinnedHealthFails {
                    path: pinned.clone(),
                    port,
                    answer: other
                        .map(ToString::to_string)
                        .unwrap_or_else(|| "nothing".into()),
                    others,
                })
            }
        };
    }
    for c in candidates {
        if let Some(Answer::Status(s)) = answer_of(&c.path) {
            if (200..400).contains(s) {
                return Ok(HealthCheck::Http {
                    path: c.path.clone(),
                    status: *s,
                    why: format!("{}; the first candidate to answer 2xx/3xx", c.source),
                });
            }
        }
    }
    let seen: Vec<String> = answers
        .iter()
        .filter(|(p, _)| p == "/")
        .map(|(_, a)| a.to_string())
        .collect();
    Ok(HealthCheck::Tcp {
        why: format!(
            "no candidate path answered 2xx/3xx{}; the port accepts connections",
            seen.first()
                .map(|a| format!(" (`/` answered {a})"))
                .unwrap_or_default()
        ),
    })
}

/// The OpenAPI paths to try: the one detection names first, then the frameworks' usual ones.
pub fn openapi_candidates(component: &Component) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(OpenApi::Runtime(p)) = &component.openapi {
        out.push(p.clone());
    }
    for p in OPENAPI_PATHS {
        if !out.iter().any(|o| o == p) {
            out.push((*p).to_string());
        }
    }
    out
}

/// Whether an OpenAPI answer can be used: 200, within the size bound, and a spec justpush
/// parses. `Err` says why not.
pub fn check_openapi(path: &str, status: u16, body: &[u8]) -> Result<String, String> {
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    if body.len() > MAX_OPENAPI_BYTES {
        return Err(format!(
            "larger than {} MiB",
            MAX_OPENAPI_BYTES / (1024 * 1024)
        ));
    }
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8 text".to_string())?;
    crate::kong::spec::ApiSpec::parse(text, path).map_err(|e| e.to_string())?;
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{DockerfileSource, Framework, Language};

    fn component(port: u16, health: &str, framework: Option<Framework>) -> Component {
        Component {
            name: "api".into(),
            path: ".".into(),
            language: Some(Language::Python),
            framework,
            port,
            dockerfile: DockerfileSource::Generated,
            start: String::new(),
            health: health.into(),
            openapi: None,
            env: Vec::new(),
            writable_paths: Vec::new(),
            port_source: String::new(),
            health_source: String::new(),
            warnings: Vec::new(),
            build: None,
        }
    }

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn ports_are_read_from_start_commands() {
        assert_eq!(
            ports_in_command(&argv(&[
                "uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8001"
            ])),
            [8001]
        );
        assert_eq!(
            ports_in_command(&argv(&["gunicorn", "-b", "0.0.0.0:5000", "app:app"])),
            [5000]
        );
        assert_eq!(
            ports_in_command(&argv(&["server", "--bind", ":3000"])),
            [3000]
        );
        assert_eq!(ports_in_command(&argv(&["x", "--port=9090"])), [9090]);
        assert_eq!(
            ports_in_command(&argv(&["sh", "-c", "PORT=4000 node server.js"])),
            [4000]
        );
        assert_eq!(ports_in_command(&argv(&["/app/server"])), Vec::<u16>::new());
        // A URL's port is a port the app talks to, not one it listens on; and `-p` needs a number.
        assert_eq!(
            ports_in_command(&argv(&["python", "-m", "app"])),
            Vec::<u16>::new()
        );
    }

    #[test]
    fn port_candidates_rank_detected_then_image_then_framework_without_repeats() {
        let c = component(8000, "/", Some(Framework::Flask));
        let facts = ImageFacts {
            exposed: vec![8000, 9000],
            entrypoint: vec![],
            cmd: argv(&["gunicorn", "-b", "0.0.0.0:7000", "app:app"]),
            env: vec!["PORT=6000".into(), "PATH=/usr/bin".into()],
        };
        let ports: Vec<(u16, String)> = candidate_ports(&c, &Pins::default(), &facts)
            .into_iter()
            .map(|p| (p.port, p.source))
            .collect();
        assert_eq!(
            ports,
            [
                (8000, "detected".to_string()),
                (9000, "EXPOSE".to_string()),
                (7000, "CMD".to_string()),
                (6000, "PORT env".to_string()),
                (5000, "framework default".to_string()),
            ]
        );
        let pinned = Pins {
            port: Some(8080),
            health: None,
        };
        assert_eq!(
            candidate_ports(&c, &pinned, &facts)[0].source,
            "justpush.yaml"
        );
    }

    #[test]
    fn health_candidates_put_code_routes_first_spec_operations_before_root() {
        let c = component(8000, "/internal/up", None);
        let spec = r#"{"openapi":"3.0.0","info":{"title":"t","version":"1"},"servers":[{"url":"/v1"}],
            "paths":{"/items":{"get":{"responses":{}}},
                     "/probe":{"get":{"tags":["Health"],"responses":{}}},
                     "/alive":{"get":{"operationId":"livenessCheck","responses":{}}},
                     "/health/{id}":{"get":{"tags":["health"],"responses":{}}},
                     "/health\n  command: [sh]":{"get":{"tags":["health"],"responses":{}}},
                     "/health#x":{"get":{"tags":["health"],"responses":{}}}}}"#;
        let paths: Vec<String> = health_candidates(&c, Some(spec))
            .into_iter()
            .map(|h| h.path)
            .collect();
        assert_eq!(paths[0], "/internal/up");
        assert_eq!(&paths[1..11], HEALTH_PATHS);
        // In the document's order.
        assert_eq!(&paths[11..], ["/v1/probe", "/v1/alive", "/"]);
        // Detection's `/` fallback is not a route found in code: it comes last, once.
        let plain: Vec<String> = health_candidates(&component(8000, "/", None), None)
            .into_iter()
            .map(|h| h.path)
            .collect();
        assert_eq!(plain.first().map(String::as_str), Some("/api/health"));
        assert_eq!(plain.iter().filter(|p| *p == "/").count(), 1);
        assert_eq!(plain.last().map(String::as_str), Some("/"));
    }

    fn cands(ports: &[(u16, &str)]) -> Vec<PortCandidate> {
        ports
            .iter()
            .map(|(p, s)| PortCandidate {
                port: *p,
                source: s.to_string(),
            })
            .collect()
    }

    #[test]
    fn the_port_is_the_best_candidate_that_listens() {
        let c = cands(&[
            (8000, "detected"),
            (9000, "EXPOSE"),
            (5000, "framework default"),
        ]);
        let listening: BTreeSet<u16> = [5000, 9000].into();
        let (port, why) = decide_port(&c, &Pins::default(), &listening).unwrap();
        assert_eq!(port, 9000);
        assert!(
            why.contains("EXPOSE") && why.contains("8000 does not listen"),
            "{why}"
        );
        let (port, why) = decide_port(&c, &Pins::default(), &[8000].into()).unwrap();
        assert_eq!((port, why.as_str()), (8000, "listening; the detected port"));
        let (port, why) = decide_port(&c, &Pins::default(), &[7777, 4444].into()).unwrap();
        assert_eq!(port, 4444);
        assert!(why.contains("no candidate"), "{why}");
        let e = decide_port(&c, &Pins::default(), &BTreeSet::new()).unwrap_err();
        assert!(e.to_string().contains("8000 (detected)"), "{e}");
    }

    #[test]
    fn a_pinned_port_is_checked_not_replaced() {
        let pins = Pins {
            port: Some(8000),
            health: None,
        };
        let c = cands(&[(8000, "justpush.yaml"), (9000, "EXPOSE")]);
        assert_eq!(
            decide_port(&c, &pins, &[8000, 9000].into()).unwrap().0,
            8000
        );
        let e = decide_port(&c, &pins, &[9000].into())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("port 8000 (pinned in justpush.yaml) does not listen")
                && e.contains("listens on 9000")
                && e.contains("`port: 9000`"),
            "{e}"
        );
    }

    fn hc(paths: &[&str]) -> Vec<HealthCandidate> {
        paths
            .iter()
            .map(|p| HealthCandidate {
                path: p.to_string(),
                source: "a conventional health path".into(),
            })
            .collect()
    }

    #[test]
    fn the_first_candidate_answering_2xx_or_3xx_wins_else_tcp() {
        let c = hc(&["/health", "/healthz", "/"]);
        let answers = vec![
            ("/health".to_string(), Answer::Status(404)),
            ("/healthz".to_string(), Answer::Status(200)),
        ];
        let h = decide_health(&c, &answers, &Pins::default(), 8000).unwrap();
        assert!(
            matches!(&h, HealthCheck::Http { path, status: 200, .. } if path == "/healthz"),
            "{h:?}"
        );
        let answers = vec![
            ("/health".to_string(), Answer::Status(500)),
            ("/healthz".to_string(), Answer::Failed("reset".into())),
            ("/".to_string(), Answer::Status(422)),
        ];
        match decide_health(&c, &answers, &Pins::default(), 8000).unwrap() {
            HealthCheck::Tcp { why } => assert!(why.contains("HTTP 422"), "{why}"),
            other => panic!("{other:?}"),
        }
        // A redirect is healthy for a Kubernetes probe.
        let answers = vec![("/".to_string(), Answer::Status(302))];
        assert!(matches!(
            decide_health(&hc(&["/"]), &answers, &Pins::default(), 80).unwrap(),
            HealthCheck::Http { status: 302, .. }
        ));
    }

    #[test]
    fn a_pinned_health_path_must_answer_and_the_error_names_what_does() {
        let pins = Pins {
            port: None,
            health: Some("/up".into()),
        };
        let answers = vec![
            ("/up".to_string(), Answer::Status(404)),
            ("/healthz".to_string(), Answer::Status(200)),
        ];
        let e = decide_health(&hc(&["/healthz"]), &answers, &pins, 8000)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/up (pinned in justpush.yaml) answered HTTP 404 on port 8000")
                && e.contains("/healthz (HTTP 200)")
                && e.contains("set `health:`"),
            "{e}"
        );
        let answers = vec![("/up".to_string(), Answer::Status(204))];
        assert!(matches!(
            decide_health(&hc(&["/healthz"]), &answers, &pins, 8000).unwrap(),
            HealthCheck::Http { status: 204, .. }
        ));
    }

    #[test]
    fn openapi_answers_are_checked_before_they_are_kept() {
        let spec = br#"{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{"/items":{"get":{"responses":{"200":{"description":"ok"}}}}}}"#;
        assert!(check_openapi("/openapi.json", 200, spec).is_ok());
        assert_eq!(
            check_openapi("/openapi.json", 404, spec).unwrap_err(),
            "HTTP 404"
        );
        assert!(check_openapi("/openapi.json", 200, b"<html>docs</html>").is_err());
        let huge = vec![b' '; MAX_OPENAPI_BYTES + 1];
        assert!(check_openapi("/x", 200, &huge)
            .unwrap_err()
            .contains("larger than"));
        let mut c = component(8000, "/", None);
        c.openapi = Some(OpenApi::Runtime("/docs/spec.json".into()));
        let paths = openapi_candidates(&c);
        assert_eq!(paths[0], "/docs/spec.json");
        assert!(paths.contains(&"/v3/api-docs".to_string()));
    }

    #[test]
    fn justpush_yaml_pins_port_and_a_non_root_health_and_gives_only_plain_env() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = "name: shop\ncomponents:\n  - name: api\n    path: .\n    port: 8080\n    health: /up\n    env: [{name: DB_PASSWORD, secret: true}, {name: LOG_LEVEL, value: info}]\n  - name: web\n    path: web\n    port: 3000\n    probe: false\n";
        let config = crate::detect::config::AppConfig::from_yaml(
            yaml,
            std::path::Path::new("justpush.yaml"),
        )
        .unwrap();
        let s = ProbeSettings::from_config(
            dir.path(),
            Some(&config),
            std::time::Duration::from_secs(9),
        );
        assert!(s.enabled);
        let api = &s.components["api"];
        assert_eq!(
            api.pins,
            Pins {
                port: Some(8080),
                health: Some("/up".into())
            }
        );
        assert_eq!(
            api.env,
            [("LOG_LEVEL".to_string(), "info".to_string())].into()
        );
        assert!(!api.skip);
        let web = &s.components["web"];
        assert_eq!(
            web.pins.health, None,
            "`/` (the old default) is searched, not pinned"
        );
        assert!(web.skip);
        // No justpush.yaml: nothing pinned.
        assert!(
            ProbeSettings::from_config(dir.path(), None, std::time::Duration::ZERO)
                .components
                .is_empty()
        );
    }

    #[test]
    fn the_result_serialises_with_port_health_and_what_was_tried() {
        let r = ProbeResult {
            port: 8000,
            port_why: "listening; the detected port".into(),
            health: HealthCheck::Http {
                path: "/healthz".into(),
                status: 200,
                why: "x".into(),
            },
            openapi: None,
            tried: vec![Attempt {
                what: "GET /health".into(),
                answer: Answer::Status(404),
            }],
            throwaway_secrets: Vec::new(),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert!(
            v.get("throwaway_secrets").is_none(),
            "empty list left out: {v}"
        );
        assert_eq!(v["health"]["kind"], "http");
        assert_eq!(v["health"]["path"], "/healthz");
        assert_eq!(v["tried"][0]["answer"]["status"], 404);
        assert!(r.summary().contains("GET /healthz answered HTTP 200"));
        let needs_key = ProbeResult {
            throwaway_secrets: vec!["DJANGO_SECRET_KEY".into()],
            ..r
        };
        let v = serde_json::to_value(&needs_key).unwrap();
        assert_eq!(v["throwaway_secrets"][0], "DJANGO_SECRET_KEY");
        assert!(needs_key.summary().ends_with(
            "it starts only with DJANGO_SECRET_KEY set (the probe gave throwaway values)"
        ));
    }
}
