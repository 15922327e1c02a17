//! Running a built image the way the chart will and asking it: the I/O shell of the probe.
//! The engine and the network sit behind [`ProbeEngine`] (bollard and plain sockets for a real
//! daemon, scripted answers in tests); the deciding is [`super`]'s.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{
    candidate_ports, check_openapi, decide_health, decide_port, health_candidates,
    openapi_candidates, Answer, Attempt, HealthCheck, ImageFacts, Pins, ProbeDecisionError,
    ProbeResult,
};
use crate::detect::Component;
use crate::image::ImageError;

/// The chart's runtime user and group (chart/values.yaml `podSecurity`).
pub const CHART_USER: &str = "10001:10001";
/// How long the app has to start listening by default (`--probe-timeout`).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);
/// Lines of the container's log shown when it exits or never listens.
pub const LOG_TAIL_LINES: usize = 30;
/// How long a side port listening alone waits for the first candidate port to listen too.
pub const SIDE_PORT_GRACE: Duration = Duration::from_secs(3);
/// How long a listening port may take to give its first HTTP answer.
pub const HTTP_START_WAIT: Duration = Duration::from_secs(15);
/// How long one HTTP request of the probe may take (the chart's probes time out at 1–5 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A container to run for the probe: everything the chart's pod spec would give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeContainer {
    /// Container name (unique per run: `justpush-probe-<component>-<pid>-<n>`).
    pub name: String,
    pub image: String,
    /// `uid:gid` (the chart's).
    pub user: String,
    /// Non-secret environment, as the chart's ConfigMap gives it (PORT included).
    pub env: BTreeMap<String, String>,
    /// Paths that get a writable tmpfs: `/tmp` and the component's writable paths.
    pub tmpfs: Vec<String>,
}

/// What the engine says about a probe container now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    /// Running, with its bridge IP and its main process id on the engine's host.
    Running { ip: String, pid: Option<u32> },
    /// Ended with this exit code.
    Exited { code: i64, oom_killed: bool },
}

/// What the probe needs from an engine and the network.
#[async_trait::async_trait]
pub trait ProbeEngine: Send + Sync {
    /// EXPOSE, Entrypoint, Cmd and Env of a local image.
    async fn image_facts(&self, image: &str) -> Result<ImageFacts, ImageError>;
    /// Creates and starts the container; its id.
    async fn start(&self, container: &ProbeContainer) -> Result<String, ImageError>;
    async fn state(&self, id: &str) -> Result<ContainerState, ImageError>;
    /// TCP ports listening on all addresses in the container's network namespace, when they
    /// can be read (`/proc/<pid>/net/tcp{,6}` of a local engine); `None` when they cannot.
    async fn listening_ports(&self, pid: u32) -> Option<BTreeSet<u16>>;
    /// Whether `ip:port` accepts a TCP connection.
    async fn connects(&self, ip: &str, port: u16) -> bool;
    /// `GET http://ip:port/path`: the status and up to `max_bytes` of the body (more is cut,
    /// so the caller sees a body over its bound as `max_bytes + 1` bytes).
    async fn get(
        &self,
        ip: &str,
        port: u16,
        path: &str,
        max_bytes: usize,
    ) -> Result<(u16, Vec<u8>), String>;
    /// The last lines of the container's log.
    async fn logs(&self, id: &str, lines: usize) -> String;
    /// Removes the container (forced); errors are only reported, the probe's outcome stands.
    async fn remove(&self, id: &str) -> Result<(), ImageError>;
    /// Waits a little between polls of a starting container.
    async fn pause(&self) {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What to probe and how.
#[derive(Debug, Clone)]
pub struct ProbeRequest<'a> {
    pub component: &'a Component,
    pub image: String,
    pub pins: Pins,
    /// Non-secret environment from justpush.yaml (secret values never reach the probe).
    pub env: BTreeMap<String, String>,
    /// justpush.yaml's secret variables (names only); with detection's sensitive ones they
    /// may get throwaway values when the app exits without them.
    pub secret_names: BTreeSet<String>,
    /// The component's OpenAPI spec file text, when it has one (its health operations are
    /// candidates).
    pub spec_file: Option<String>,
    /// How long the app may take to listen.
    pub wait: Duration,
}

/// What the probe found, plus the runtime OpenAPI document's text when one was served.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    pub result: ProbeResult,
    pub openapi_text: Option<String>,
}

/// Why the probe failed the build of a component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The container ended before (or while) it was asked.
    #[error("probing image {image} of {component}: the container exited with code {code}{oom} before it answered (run as the chart runs it: user {CHART_USER}, read-only root, no capabilities, writable /tmp{paths}{secrets}). Its last log lines:\n{logs}\nFix the app's start, or skip the probe with --no-probe")]
    Exited {
        component: String,
        image: String,
        code: i64,
        oom: String,
        paths: String,
        secrets: String,
        logs: String,
    },
    /// The probe's decision failed (nothing listens, a pin does not hold).
    #[error("probing image {image} of {component}: {source}. Its last log lines:\n{logs}\n(--no-probe skips the probe)")]
    Decision {
        component: String,
        image: String,
        source: ProbeDecisionError,
        logs: String,
    },
    /// The engine refused or failed.
    #[error("probing image {image} of {component}: {source}")]
    Engine {
        component: String,
        image: String,
        source: ImageError,
    },
}

/// A unique container name for a probe of `component`.
pub fn container_name(component: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "justpush-probe-{component}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The listening TCP ports of a `/proc/<pid>/net/tcp` or `tcp6` table, split into those bound
/// to every address (reachable over the bridge) and those bound to loopback only.
pub fn listening_from_proc(table: &str) -> (BTreeSet<u16>, BTreeSet<u16>) {
    let mut all = BTreeSet::new();
    let mut loopback = BTreeSet::new();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st ...; st 0A is LISTEN.
        if fields.len() < 4 || fields[3] != "0A" {
            continue;
        }
        let Some((addr, port)) = fields[1].split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port, 16) else {
            continue;
        };
        let any = addr.chars().all(|c| c == '0');
        // 127.0.0.1 is 0100007F; ::1 is 00000000000000000000000001000000.
        let is_loopback = addr == "0100007F" || addr == "00000000000000000000000001000000";
        if any {
            all.insert(port);
        } else if is_loopback {
            loopback.insert(port);
        }
    }
    (all, loopback)
}

/// Runs the probe: starts the container, waits for it to listen, decides port and health,
/// reads the runtime OpenAPI document, and removes the container whatever happened.
pub async fn probe_image(
    engine: &dyn ProbeEngine,
    request: &ProbeRequest<'_>,
) -> Result<ProbeOutcome, ProbeError> {
    let component = &request.component.name;
    let engine_error = |source: ImageError| ProbeError::Engine {
        component: component.clone(),
        image: request.image.clone(),
        source,
    };
    let facts = engine
        .image_facts(&request.image)
        .await
        .map_err(engine_error)?;
    let ports = candidate_ports(request.component, &request.pins, &facts);
    let port_env = ports
        .first()
        .map(|c| c.port)
        .unwrap_or(request.component.port);
    let mut env = request.env.clone();
    // The chart's ConfigMap sets PORT to the component's port; the app sees the same here.
    env.insert("PORT".into(), port_env.to_string());
    let mut tmpfs = vec!["/tmp".to_string()];
    for w in &request.component.writable_paths {
        if !tmpfs.contains(&w.path) {
            tmpfs.push(w.path.clone());
        }
    }
    let mut container = ProbeContainer {
        name: container_name(component),
        image: request.image.clone(),
        user: CHART_USER.into(),
        env,
        tmpfs,
    };
    let first = run_container(engine, request, &ports, &container).await;
    // Secret values never reach the probe. Many apps start without them (a default, or the
    // variable is read only when used); one that reads a secret at import (Django's
    // `SECRET_KEY = os.environ[...]`) exits. Then it is run once more with a random throwaway
    // value for each secret that is not an address (a random `DATABASE_URL` would only fail
    // differently): the probe checks the port and health path, not the secret.
    let placeholders: Vec<String> = secret_names(request)
        .into_iter()
        .filter(|n| !container.env.contains_key(n) && takes_throwaway_value(n))
        .collect();
    if !matches!(first, Err(ProbeError::Exited { .. })) || placeholders.is_empty() {
        return first;
    }
    for name in &placeholders {
        container.env.insert(name.clone(), throwaway_secret());
    }
    container.name = container_name(component);
    let mut second = run_container(engine, request, &ports, &container).await;
    if let Ok(outcome) = &mut second {
        outcome.result.throwaway_secrets = placeholders;
    }
    second
}

/// What the probe did with the secret variables, for the message of an app that exited.
fn secrets_note(given: &[String], withheld: &[String]) -> String {
    let mut note = String::new();
    if !given.is_empty() {
        note.push_str(&format!(
            "; secret variables got random throwaway values: {}",
            given.join(", ")
        ));
    }
    if !withheld.is_empty() {
        note.push_str(&format!(
            "; secret variables are not given to the probe: {}",
            withheld.join(", ")
        ));
    }
    note
}

/// Starts one probe container, asks it, and removes it.
async fn run_container(
    engine: &dyn ProbeEngine,
    request: &ProbeRequest<'_>,
    ports: &[super::PortCandidate],
    container: &ProbeContainer,
) -> Result<ProbeOutcome, ProbeError> {
    let id = engine
        .start(container)
        .await
        .map_err(|source| ProbeError::Engine {
            component: request.component.name.clone(),
            image: request.image.clone(),
            source,
        })?;
    let outcome = probe_running(engine, request, &id, ports, container).await;
    // The probe's outcome stands even if the removal fails; a leftover is named
    // `justpush-probe-...` and labelled, so it is easy to find.
    let _ = engine.remove(&id).await;
    outcome
}

/// The component's secret variables: detection's sensitive names and justpush.yaml's
/// `secret: true` entries.
fn secret_names(request: &ProbeRequest<'_>) -> BTreeSet<String> {
    let detected = request.component.env.iter().filter(|e| e.sensitive);
    detected
        .map(|e| e.name.clone())
        .chain(request.secret_names.iter().cloned())
        .collect()
}

/// Whether a secret may be given a random value in the probe: not when its name says it is an
/// address or a connection string, which a random value cannot stand in for.
fn takes_throwaway_value(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ![
        "_URL",
        "_URI",
        "_DSN",
        "_HOST",
        "_ADDR",
        "_ADDRESS",
        "_ENDPOINT",
    ]
    .iter()
    .any(|suffix| upper.ends_with(suffix) || upper == suffix[1..])
}

/// 32 random bytes from the OS as 64 hex digits: long enough for a signing key, never a
/// value the user gave, and gone with the probe container.
fn throwaway_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn probe_running(
    engine: &dyn ProbeEngine,
    request: &ProbeRequest<'_>,
    id: &str,
    ports: &[super::PortCandidate],
    container: &ProbeContainer,
) -> Result<ProbeOutcome, ProbeError> {
    let component = &request.component.name;
    let mut tried: Vec<Attempt> = Vec::new();
    let exited = |code: i64, oom_killed: bool, logs: String| {
        let (given, withheld): (Vec<String>, Vec<String>) = secret_names(request)
            .into_iter()
            .partition(|n| container.env.contains_key(n));
        ProbeError::Exited {
            component: component.clone(),
            image: request.image.clone(),
            code,
            oom: if oom_killed { " (out of memory)" } else { "" }.into(),
            paths: container.tmpfs[1..]
                .iter()
                .map(|p| format!(", {p}"))
                .collect(),
            secrets: secrets_note(&given, &withheld),
            logs,
        }
    };
    let decision = |source: ProbeDecisionError, logs: String| ProbeError::Decision {
        component: component.clone(),
        image: request.image.clone(),
        source,
        logs,
    };

    // Wait for the app to listen: from /proc when the engine is local, else by connecting.
    let deadline = tokio::time::Instant::now() + request.wait;
    let mut first_seen: Option<tokio::time::Instant> = None;
    let (ip, listening) = loop {
        let state = engine
            .state(id)
            .await
            .map_err(|source| ProbeError::Engine {
                component: component.clone(),
                image: request.image.clone(),
                source,
            })?;
        match state {
            ContainerState::Exited { code, oom_killed } => {
                return Err(exited(
                    code,
                    oom_killed,
                    engine.logs(id, LOG_TAIL_LINES).await,
                ))
            }
            ContainerState::Running { ip, pid } => {
                let mut listening = match pid {
                    Some(pid) => engine.listening_ports(pid).await,
                    None => None,
                };
                if listening.is_none() && !ip.is_empty() {
                    let mut open = BTreeSet::new();
                    for c in ports {
                        if engine.connects(&ip, c.port).await {
                            open.insert(c.port);
                        }
                    }
                    listening = Some(open);
                }
                let listening = listening.unwrap_or_default();
                // An app may open a side port (metrics, debug) before its main one: while the
                // first candidate is not among them, give it a short grace to appear.
                let first_listens = ports.first().is_some_and(|c| listening.contains(&c.port));
                if !listening.is_empty() {
                    let grace =
                        *first_seen.get_or_insert_with(tokio::time::Instant::now) + SIDE_PORT_GRACE;
                    if first_listens || tokio::time::Instant::now() >= grace.min(deadline) {
                        break (ip, listening);
                    }
                }
                if tokio::time::Instant::now() >= deadline {
                    for c in ports {
                        tried.push(Attempt {
                            what: format!("port {}", c.port),
                            answer: Answer::Failed(format!(
                                "not listening after {} s",
                                request.wait.as_secs()
                            )),
                        });
                    }
                    let logs = engine.logs(id, LOG_TAIL_LINES).await;
                    let e = decide_port(ports, &request.pins, &BTreeSet::new())
                        .expect_err("nothing listens");
                    return Err(decision(e, logs));
                }
            }
        }
        engine.pause().await;
    };
    for p in &listening {
        tried.push(Attempt {
            what: format!("port {p}"),
            answer: Answer::Accepted,
        });
    }
    let (port, port_why) = match decide_port(ports, &request.pins, &listening) {
        Ok(p) => p,
        Err(e) => return Err(decision(e, engine.logs(id, LOG_TAIL_LINES).await)),
    };

    // A server may bind before it serves (workers still booting): wait a little, within the
    // same deadline, for any HTTP answer on the port before judging paths. A server that never
    // speaks HTTP ends this wait early and gets the TCP check.
    let http_deadline = deadline.min(tokio::time::Instant::now() + HTTP_START_WAIT);
    let first_path = request
        .pins
        .health
        .clone()
        .unwrap_or_else(|| "/".to_string());
    loop {
        match engine.get(&ip, port, &first_path, 0).await {
            Ok(_) => break,
            Err(_) if tokio::time::Instant::now() < http_deadline => {
                if let Ok(ContainerState::Exited { code, oom_killed }) = engine.state(id).await {
                    return Err(exited(
                        code,
                        oom_killed,
                        engine.logs(id, LOG_TAIL_LINES).await,
                    ));
                }
                engine.pause().await;
            }
            Err(_) => break,
        }
    }

    // The runtime OpenAPI document first: its health operations are candidates too.
    let mut openapi = None;
    let mut openapi_text = None;
    for path in openapi_candidates(request.component) {
        let answer = match engine.get(&ip, port, &path, super::MAX_OPENAPI_BYTES).await {
            Ok((status, body)) => match check_openapi(&path, status, &body) {
                Ok(text) => {
                    openapi = Some(path.clone());
                    openapi_text = Some(text);
                    Answer::Status(status)
                }
                Err(why) if status == 200 => Answer::Failed(format!("HTTP 200 but {why}")),
                Err(_) => Answer::Status(status),
            },
            Err(e) => Answer::Failed(e),
        };
        tried.push(Attempt {
            what: format!("GET {path}"),
            answer,
        });
        if openapi.is_some() {
            break;
        }
    }

    let spec_for_health = request.spec_file.as_deref().or(openapi_text.as_deref());
    let candidates = health_candidates(request.component, spec_for_health);
    let mut answers: Vec<(String, Answer)> = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    if let Some(p) = &request.pins.health {
        paths.push(p.clone());
    }
    paths.extend(candidates.iter().map(|c| c.path.clone()));
    for path in paths {
        if answers.iter().any(|(p, _)| *p == path) {
            continue;
        }
        let answer = match engine.get(&ip, port, &path, 0).await {
            Ok((status, _)) => Answer::Status(status),
            Err(e) => Answer::Failed(e),
        };
        let healthy = answer.healthy();
        tried.push(Attempt {
            what: format!("GET {path}"),
            answer: answer.clone(),
        });
        answers.push((path.clone(), answer));
        // Unpinned, the first healthy path in rank order is the choice; a pinned one that
        // answers is too. A failing pin goes on, to name what does answer.
        let pinned_ok = request.pins.health.as_deref() == Some(path.as_str()) && healthy;
        if (request.pins.health.is_none() && healthy) || pinned_ok {
            break;
        }
    }
    let health = match decide_health(&candidates, &answers, &request.pins, port) {
        Ok(h) => h,
        Err(e) => return Err(decision(e, engine.logs(id, LOG_TAIL_LINES).await)),
    };
    if let HealthCheck::Tcp { .. } = health {
        let accepted = engine.connects(&ip, port).await;
        tried.push(Attempt {
            what: format!("TCP {port}"),
            answer: if accepted {
                Answer::Accepted
            } else {
                Answer::Failed("refused".into())
            },
        });
    }
    // Died while being asked: the chart's pod would crash-loop the same way.
    if let Ok(ContainerState::Exited { code, oom_killed }) = engine.state(id).await {
        return Err(exited(
            code,
            oom_killed,
            engine.logs(id, LOG_TAIL_LINES).await,
        ));
    }
    Ok(ProbeOutcome {
        result: ProbeResult {
            port,
            port_why,
            health,
            openapi,
            tried,
            throwaway_secrets: Vec::new(),
        },
        openapi_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{DockerfileSource, EnvVar, Language, WritablePath};
    use std::sync::Mutex;

    /// An engine whose container and answers are scripted.
    #[derive(Default)]
    struct Scripted {
        facts: ImageFacts,
        /// Polls until the app listens; `None`: never.
        listens_after: Option<usize>,
        listening: BTreeSet<u16>,
        /// Exit code once `exit_after` polls have passed.
        exit: Option<(usize, i64)>,
        /// Exits (code 1) at once when the container started last has no such variable.
        needs_env: Option<&'static str>,
        answers: BTreeMap<String, (u16, Vec<u8>)>,
        polls: Mutex<usize>,
        started: Mutex<Vec<ProbeContainer>>,
        removed: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl ProbeEngine for Scripted {
        async fn image_facts(&self, _: &str) -> Result<ImageFacts, ImageError> {
            Ok(self.facts.clone())
        }
        async fn start(&self, c: &ProbeContainer) -> Result<String, ImageError> {
            self.started.lock().unwrap().push(c.clone());
            Ok("c1".into())
        }
        async fn state(&self, _: &str) -> Result<ContainerState, ImageError> {
            if let Some(name) = self.needs_env {
                let started = self.started.lock().unwrap();
                if !started.last().is_some_and(|c| c.env.contains_key(name)) {
                    return Ok(ContainerState::Exited {
                        code: 1,
                        oom_killed: false,
                    });
                }
            }
            let mut n = self.polls.lock().unwrap();
            *n += 1;
            if let Some((after, code)) = self.exit {
                if *n > after {
                    return Ok(ContainerState::Exited {
                        code,
                        oom_killed: false,
                    });
                }
            }
            Ok(ContainerState::Running {
                ip: "172.17.0.9".into(),
                pid: Some(42),
            })
        }
        async fn listening_ports(&self, _: u32) -> Option<BTreeSet<u16>> {
            let n = *self.polls.lock().unwrap();
            match self.listens_after {
                Some(after) if n > after => Some(self.listening.clone()),
                _ => Some(BTreeSet::new()),
            }
        }
        async fn connects(&self, _: &str, port: u16) -> bool {
            self.listening.contains(&port)
        }
        async fn get(
            &self,
            _: &str,
            _: u16,
            path: &str,
            _: usize,
        ) -> Result<(u16, Vec<u8>), String> {
            Ok(self.answers.get(path).cloned().unwrap_or((404, Vec::new())))
        }
        async fn logs(&self, _: &str, _: usize) -> String {
            "Traceback: PermissionError: /app/data".into()
        }
        async fn remove(&self, id: &str) -> Result<(), ImageError> {
            self.removed.lock().unwrap().push(id.into());
            Ok(())
        }
        async fn pause(&self) {
            // Short, but real: the side-port grace is measured on the clock.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn component() -> Component {
        Component {
            name: "api".into(),
            path: ".".into(),
            language: Some(Language::Python),
            framework: None,
            port: 8000,
            dockerfile: DockerfileSource::Generated,
            start: String::new(),
            health: "/".into(),
            openapi: None,
            env: vec![EnvVar {
                name: "DB_PASSWORD".into(),
                sensitive: true,
            }],
            writable_paths: vec![WritablePath {
                path: "/app/data".into(),
                reason: "test".into(),
            }],
            port_source: String::new(),
            health_source: String::new(),
            warnings: Vec::new(),
            build: None,
        }
    }

    fn request(c: &Component) -> ProbeRequest<'_> {
        ProbeRequest {
            component: c,
            image: "justpush/api:abc".into(),
            pins: Pins::default(),
            env: [("LOG_LEVEL".to_string(), "info".to_string())].into(),
            secret_names: BTreeSet::new(),
            spec_file: None,
            wait: Duration::from_secs(5),
        }
    }

    fn answers(list: &[(&str, u16, &str)]) -> BTreeMap<String, (u16, Vec<u8>)> {
        list.iter()
            .map(|(p, s, b)| (p.to_string(), (*s, b.as_bytes().to_vec())))
            .collect()
    }

    #[tokio::test]
    async fn finds_the_real_port_and_the_first_healthy_path_and_removes_the_container() {
        let c = component();
        let spec = r#"{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{"/items":{"get":{"responses":{}}}}}"#;
        let engine = Scripted {
            facts: ImageFacts {
                exposed: vec![8000],
                cmd: vec!["gunicorn".into(), "-b".into(), "0.0.0.0:9000".into()],
                ..Default::default()
            },
            listens_after: Some(3),
            listening: [9000].into(),
            answers: answers(&[
                ("/", 404, ""),
                ("/healthz", 200, "ok"),
                ("/openapi.json", 200, spec),
            ]),
            ..Default::default()
        };
        let out = probe_image(&engine, &request(&c)).await.unwrap();
        assert_eq!(out.result.port, 9000);
        assert!(
            out.result.port_why.contains("CMD"),
            "{}",
            out.result.port_why
        );
        assert_eq!(out.result.health_path(), Some("/healthz"));
        assert_eq!(out.result.openapi.as_deref(), Some("/openapi.json"));
        assert!(out.openapi_text.is_some_and(|t| t.contains("/items")));
        let tried: Vec<&str> = out.result.tried.iter().map(|a| a.what.as_str()).collect();
        assert!(
            tried.contains(&"GET /health") && tried.contains(&"GET /healthz"),
            "{tried:?}"
        );
        assert!(
            !tried.contains(&"GET /ready"),
            "stops at the first healthy path: {tried:?}"
        );
        let started = engine.started.lock().unwrap();
        assert_eq!(started[0].user, "10001:10001");
        assert_eq!(started[0].tmpfs, ["/tmp", "/app/data"]);
        assert_eq!(started[0].env.get("PORT").map(String::as_str), Some("8000"));
        assert_eq!(
            started[0].env.get("LOG_LEVEL").map(String::as_str),
            Some("info")
        );
        assert!(!started[0].env.contains_key("DB_PASSWORD"));
        assert_eq!(*engine.removed.lock().unwrap(), ["c1"]);
    }

    #[tokio::test]
    async fn a_container_that_exits_fails_with_its_code_and_log_and_is_removed() {
        let c = component();
        let engine = Scripted {
            exit: Some((2, 3)),
            ..Default::default()
        };
        let e = probe_image(&engine, &request(&c))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("exited with code 3")
                && e.contains("PermissionError")
                && e.contains("--no-probe")
                && e.contains("/app/data")
                && e.contains("got random throwaway values: DB_PASSWORD"),
            "{e}"
        );
        // Run without the secret, then once more with a throwaway value; both removed.
        assert_eq!(*engine.removed.lock().unwrap(), ["c1", "c1"]);
    }

    #[tokio::test]
    async fn an_app_that_needs_a_secret_to_start_is_run_again_with_a_throwaway_value() {
        let mut c = component();
        c.env.push(EnvVar {
            name: "DATABASE_URL".into(),
            sensitive: true,
        });
        let engine = Scripted {
            needs_env: Some("DB_PASSWORD"),
            listens_after: Some(0),
            listening: [8000].into(),
            answers: answers(&[("/healthz", 200, "ok")]),
            ..Default::default()
        };
        let mut req = request(&c);
        req.secret_names = ["SIGNING_KEY".to_string()].into();
        let outcome = probe_image(&engine, &req).await.unwrap();
        assert_eq!(
            outcome.result.throwaway_secrets,
            ["DB_PASSWORD", "SIGNING_KEY"]
        );
        let started = engine.started.lock().unwrap();
        assert_eq!(started.len(), 2);
        assert!(!started[0].env.contains_key("DB_PASSWORD"));
        assert_ne!(started[0].name, started[1].name);
        let value = &started[1].env["DB_PASSWORD"];
        assert!(
            value.len() == 64 && value.chars().all(|ch| ch.is_ascii_hexdigit()),
            "{value}"
        );
        assert_ne!(
            value, &started[1].env["SIGNING_KEY"],
            "one value per secret"
        );
        // An address cannot be stood in for by a random value: it stays unset.
        assert!(!started[1].env.contains_key("DATABASE_URL"));
        assert_eq!(started[1].env["LOG_LEVEL"], "info");
    }

    #[tokio::test]
    async fn an_app_without_secrets_that_exits_is_not_run_again() {
        let mut c = component();
        c.env.clear();
        let engine = Scripted {
            exit: Some((0, 2)),
            ..Default::default()
        };
        let e = probe_image(&engine, &request(&c)).await.unwrap_err();
        assert!(!e.to_string().contains("secret variables"), "{e}");
        assert_eq!(engine.started.lock().unwrap().len(), 1);
    }

    #[test]
    fn addresses_get_no_throwaway_value() {
        for name in ["DATABASE_URL", "REDIS_URI", "SENTRY_DSN", "DB_HOST", "URL"] {
            assert!(!takes_throwaway_value(name), "{name}");
        }
        for name in [
            "DJANGO_SECRET_KEY",
            "API_TOKEN",
            "DB_PASSWORD",
            "URLSAFE_KEY",
        ] {
            assert!(takes_throwaway_value(name), "{name}");
        }
    }

    #[tokio::test]
    async fn nothing_answering_over_http_gives_a_tcp_check() {
        let c = component();
        let engine = Scripted {
            listens_after: Some(0),
            listening: [8000].into(),
            answers: answers(&[("/", 400, "")]),
            ..Default::default()
        };
        let out = probe_image(&engine, &request(&c)).await.unwrap();
        assert!(matches!(out.result.health, HealthCheck::Tcp { .. }));
        assert_eq!(out.result.tried.last().unwrap().what, "TCP 8000");
    }

    #[tokio::test]
    async fn never_listening_fails_after_the_wait_with_the_log() {
        let c = component();
        let engine = Scripted {
            listens_after: None,
            ..Default::default()
        };
        let mut r = request(&c);
        r.wait = Duration::from_millis(1);
        let e = probe_image(&engine, &r).await.unwrap_err().to_string();
        assert!(
            e.contains("nothing listened") && e.contains("PermissionError"),
            "{e}"
        );
        assert_eq!(*engine.removed.lock().unwrap(), ["c1"]);
    }

    #[tokio::test]
    async fn a_pinned_health_path_that_fails_names_the_one_that_answers() {
        let c = component();
        let engine = Scripted {
            listens_after: Some(0),
            listening: [8000].into(),
            answers: answers(&[("/up", 500, ""), ("/health", 200, "")]),
            ..Default::default()
        };
        let mut r = request(&c);
        r.pins.health = Some("/up".into());
        let e = probe_image(&engine, &r).await.unwrap_err().to_string();
        assert!(
            e.contains("/up (pinned") && e.contains("/health (HTTP 200)"),
            "{e}"
        );
    }

    #[test]
    fn listening_ports_are_read_from_proc_tables() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001 0 1 1 0\n   1: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001 0 2 1 0\n   2: 0900A8C0:1F40 0100A8C0:C350 01 00000000:00000000 00:00000000 00000000 10001 0 3 1 0\n";
        let (all, lo) = listening_from_proc(tcp);
        assert_eq!(all, [8000].into());
        assert_eq!(lo, [5000].into());
        let tcp6 = "  sl  local_address remote_address st\n   0: 00000000000000000000000000000000:0BB8 00000000000000000000000000000000:0000 0A 0\n";
        assert_eq!(listening_from_proc(tcp6).0, [3000].into());
    }
}
