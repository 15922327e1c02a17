//! Runs a built image the way the bundled chart runs it, checked by code that is not the
//! build's own probe: numeric user 10001, read-only root filesystem, every capability
//! dropped, no new privileges, a writable `/tmp` and the component's writable paths (the
//! chart's emptyDir volumes, tmpfs here), then asks the health path over the bridge network
//! until it answers 2xx/3xx, the container exits, or the wait runs out.
//!
//! Include with `#[path = "support/run_as_chart.rs"] mod run_as_chart;` (needs `ci_bases`
//! beside it for [`build_project`]).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StartContainerOptions,
};
use bollard::Docker;
use futures::StreamExt;

/// The chart's runtime user (chart/templates/_helpers.tpl, containerSecurityContext).
pub const CHART_USER: &str = "10001:10001";

/// What a run as the chart would run it found.
#[derive(Debug)]
pub struct ChartRun {
    /// The HTTP status the health path answered.
    pub status: u16,
    /// The body of that answer (at most what the server sent).
    pub body: String,
    /// The container's log up to the answer.
    pub logs: String,
}

/// How to run: the port and path to ask, extra writable paths, and environment.
#[derive(Debug, Clone, Default)]
pub struct RunSpec<'a> {
    pub port: u16,
    pub health_path: &'a str,
    pub writable_paths: &'a [&'a str],
    pub env: &'a [(&'a str, &'a str)],
    /// How long the app may take to answer (a Django or Spring app starts slowly).
    pub wait: Option<Duration>,
}

async fn logs_of(docker: &Docker, id: &str) -> String {
    let mut out = String::new();
    let mut stream = docker.logs(
        id,
        Some(
            LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .tail("60")
                .build(),
        ),
    );
    while let Some(Ok(chunk)) = stream.next().await {
        out.push_str(&chunk.to_string());
    }
    out
}

async fn remove(docker: &Docker, id: &str) {
    let _ = docker
        .remove_container(
            id,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await;
}

/// Runs `image` as the chart would and asks `spec.health_path`; `Err` says why it did not
/// answer 2xx/3xx (the exit code and the last log lines when the container exited). The
/// container is removed in every case.
pub async fn run_as_chart(
    docker: &Docker,
    image: &str,
    spec: &RunSpec<'_>,
) -> Result<ChartRun, String> {
    let mut tmpfs = HashMap::new();
    tmpfs.insert("/tmp".to_string(), String::new());
    // A Kubernetes emptyDir is writable by the pod's user; Docker 20.10's tmpfs stays root 0755
    // whatever its mode, so it is given to the chart's user instead.
    for p in spec.writable_paths {
        tmpfs.insert((*p).to_string(), "uid=10001,gid=10001".to_string());
    }
    let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let name = format!("justpush-chart-run-{}", image.replace(['/', ':', '.'], "-"));
    remove(docker, &name).await;
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            ContainerCreateBody {
                image: Some(image.to_string()),
                user: Some(CHART_USER.to_string()),
                env: Some(env),
                host_config: Some(HostConfig {
                    readonly_rootfs: Some(true),
                    cap_drop: Some(vec!["ALL".to_string()]),
                    security_opt: Some(vec!["no-new-privileges".to_string()]),
                    tmpfs: Some(tmpfs),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("{image}: cannot create a container: {e}"))?;
    let id = created.id;
    let result = ask_until_answer(docker, &id, image, spec).await;
    remove(docker, &id).await;
    result
}

async fn ask_until_answer(
    docker: &Docker,
    id: &str,
    image: &str,
    spec: &RunSpec<'_>,
) -> Result<ChartRun, String> {
    docker
        .start_container(id, None::<StartContainerOptions>)
        .await
        .map_err(|e| format!("{image}: cannot start: {e}"))?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let deadline = Instant::now() + spec.wait.unwrap_or(Duration::from_secs(90));
    let mut pause = Duration::from_millis(100);
    loop {
        let details = docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| format!("{image}: inspect: {e}"))?;
        let state = details.state.clone().unwrap_or_default();
        if state.running != Some(true) {
            return Err(format!(
                "{image}: the container exited with code {} before answering {}; last log lines:\n{}",
                state.exit_code.unwrap_or(-1),
                spec.health_path,
                logs_of(docker, id).await
            ));
        }
        let ip = details
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|n| n.get("bridge").and_then(|b| b.ip_address.clone()))
            .unwrap_or_default();
        let url = format!("http://{ip}:{}{}", spec.port, spec.health_path);
        let last = match http.get(&url).send().await {
            Ok(r) if r.status().as_u16() < 400 => {
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                return Ok(ChartRun {
                    status,
                    body,
                    logs: logs_of(docker, id).await,
                });
            }
            Ok(r) => format!("HTTP {}", r.status().as_u16()),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "{image}: GET {} on port {} did not answer 2xx/3xx in time (last: {last}); log:\n{}",
                spec.health_path,
                spec.port,
                logs_of(docker, id).await
            ));
        }
        // A backoff between connection attempts: the app is starting, there is no event to
        // watch for "listening".
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// `kubectl-justpush build DIR -o json` with the CI base images and CA bundle; the parsed
/// output and the process output (stderr is echoed for the test log).
pub fn build_project(dir: &Path, extra: &[&str]) -> (Output, Option<serde_json::Value>) {
    let mut args = vec!["build".to_string(), dir.display().to_string()];
    args.extend(super::ci_bases::base_image_args());
    args.extend(["-o".to_string(), "json".to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .args(&args)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    eprintln!(
        "--- kubectl-justpush {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&out.stdout).ok();
    (out, json)
}
