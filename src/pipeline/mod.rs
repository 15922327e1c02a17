//! The `up` pipeline: Build → (cluster and Kong bootstrap) → Push → Deploy → Configure. Each
//! stage is a small trait so the orchestration, its progress events and its cleanup are tested
//! with fakes, and the real implementations (bollard, kind/minikube, kube-rs, Kong) plug in.
//!
//! Cleanup on failure: a failed Build removes the images this run built (nothing is left); a
//! failed Push keeps the local images and changes nothing in the cluster; a failed Deploy is
//! rolled back by the deployer (first install deleted, upgrade returned to the previous
//! revision) and the orchestration reports what it did; a failed Configure leaves the app
//! running and ends with a warning.
//!
//! Ctrl-C ([`Interrupts`]): the first stops the stage in flight (Deploy stops itself and rolls
//! back) and runs the same cleanup as a failure of that stage; the second abandons the cleanup.

pub mod bootstrap;
pub mod plan;
pub mod preflight;
pub mod progress;
pub mod shell;
pub mod stages;
pub mod wiring;

use async_trait::async_trait;
use progress::{Event, Progress, Stage};
use serde::Serialize;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

pub use plan::{AppPlan, ComponentPlan};

/// Where a stage implementation reports what it is doing (build steps, pushed layers, ...).
pub trait StageLog {
    fn line(&mut self, message: &str);
}

/// A [`StageLog`] that hands lines to the orchestration over a channel, so a stage can report
/// while the progress display also redraws on its own clock.
pub struct ChannelLog(pub tokio::sync::mpsc::UnboundedSender<String>);

impl StageLog for ChannelLog {
    fn line(&mut self, message: &str) {
        let _ = self.0.send(message.to_string());
    }
}

/// The run's Ctrl-C: `interrupt` is the first (stop and clean up), `abort` the second (stop
/// now). The CLI cancels them from the signal; tests cancel them directly.
#[derive(Debug, Clone, Default)]
pub struct Interrupts {
    pub interrupt: CancellationToken,
    pub abort: CancellationToken,
}

/// Runs a stage's future, turning its log lines into progress events and ticking the display
/// (elapsed times on a terminal) once a second until it ends. With `stop`, cancelling it drops
/// the future (the stage stops where it is) and gives `None`.
async fn drive<'f, T>(
    progress: &mut Progress<'_>,
    stage: Stage,
    component: Option<String>,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    fut: std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'f>>,
    stop: Option<&CancellationToken>,
) -> Option<T> {
    let mut fut = fut;
    let never = CancellationToken::new();
    let stop = stop.unwrap_or(&never);
    if stop.is_cancelled() {
        // Interrupted between stages: this one does not start.
        return None;
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // A result that is ready wins over an interrupt, so nothing a stage finished is forgotten.
    let r = loop {
        tokio::select! {
            biased;
            Some(line) = rx.recv() => progress.update(stage, component.as_deref(), &line),
            r = &mut fut => break Some(r),
            _ = stop.cancelled() => break None,
            _ = tick.tick() => progress.tick(),
        }
    };
    drop(fut);
    while let Ok(line) = rx.try_recv() {
        progress.update(stage, component.as_deref(), &line);
    }
    r
}

const INTERRUPTED: &str = "interrupted (Ctrl-C)";

/// Why a stage failed, as the user should read it.
#[derive(Debug, Clone, PartialEq)]
pub struct StageError {
    pub message: String,
    /// A file with the full output (build log, pod logs), when there is one.
    pub log: Option<PathBuf>,
}

impl StageError {
    pub fn new(message: impl Into<String>) -> Self {
        StageError {
            message: message.into(),
            log: None,
        }
    }
}

impl std::fmt::Display for StageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// An image built into the local Docker daemon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuiltImage {
    pub component: String,
    /// `repository:tag` in the local daemon.
    pub reference: String,
    /// The image ID (`sha256:...`).
    pub id: String,
    /// Built by this run (false: the same content tag existed already, so cleanup keeps it).
    pub new: bool,
}

/// An image the cluster can run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedImage {
    pub component: String,
    /// What the Deployment's `image:` says.
    pub reference: String,
}

/// A release installed in the cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployed {
    pub release: String,
    pub namespace: String,
    pub revision: u64,
    /// The Secret holding the Kong consumer's credential, when the release has one.
    pub api_key_secret: Option<String>,
    /// The credential was generated by this deploy (so it is shown, once).
    pub key_created: bool,
}

/// What a deployer did after a failed deploy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rollback {
    /// The deploy was refused before anything was applied.
    NothingChanged,
    /// A first install: everything it created was deleted.
    Deleted,
    /// An upgrade: the release is back at this revision.
    RestoredRevision(u64),
    /// The rollback itself failed; the cluster may hold a partial release.
    Failed(String),
}

impl Rollback {
    fn describe(&self) -> String {
        match self {
            Rollback::NothingChanged => "nothing was changed in the cluster".into(),
            Rollback::Deleted => "the objects this install created were deleted".into(),
            Rollback::RestoredRevision(r) => format!("the release was rolled back to revision {r}"),
            Rollback::Failed(e) => format!(
                "rolling back failed too ({e}); inspect with `kubectl justpush status` and run `kubectl justpush rollback`"
            ),
        }
    }
}

/// A failed deploy and what was done about it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployError {
    pub error: StageError,
    pub rollback: Rollback,
}

/// The gateway a user calls, and the key to call it with.
#[derive(Clone, PartialEq, Serialize)]
pub struct Gateway {
    pub url: String,
    #[serde(skip)]
    pub api_key: ApiKey,
    /// The key is new in this run; an existing key is not shown again.
    pub key_created: bool,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("url", &self.url)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

/// A consumer API key. Its `Debug` never shows it; [`ApiKey::expose`] does, once, on purpose.
#[derive(Clone, PartialEq, Default)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Build: an image per component into the local daemon.
#[async_trait(?Send)]
pub trait ImageBuilder {
    async fn build(
        &self,
        component: &ComponentPlan,
        log: &mut dyn StageLog,
    ) -> Result<BuiltImage, StageError>;
    /// Removes an image this run built (cleanup after a failed Build).
    async fn remove(&self, image: &BuiltImage) -> Result<(), StageError>;
}

/// Push (kind: the local registry) or Load (Minikube: `minikube image load`).
#[async_trait(?Send)]
pub trait ImagePublisher {
    /// "push to localhost:5001", "minikube image load".
    fn describe(&self) -> String;
    async fn publish(
        &self,
        image: &BuiltImage,
        log: &mut dyn StageLog,
    ) -> Result<PublishedImage, StageError>;
}

/// Deploy: render and apply the release, wait for it, roll back on failure.
#[async_trait(?Send)]
pub trait Deployer {
    async fn deploy(
        &self,
        plan: &AppPlan,
        images: &[PublishedImage],
        events: &[Event],
        log: &mut dyn StageLog,
    ) -> Result<Deployed, DeployError>;
    /// Stores the run's events with the release record (for `status` and the dashboard).
    async fn record_events(&self, deployed: &Deployed, events: &[Event]) -> Result<(), StageError>;
}

/// Configure: the gateway routes and consumer are live, and the key works.
#[async_trait(?Send)]
pub trait GatewayConfigurer {
    async fn configure(
        &self,
        plan: &AppPlan,
        deployed: &Deployed,
        kong: &KongState,
        log: &mut dyn StageLog,
    ) -> Result<Gateway, StageError>;
}

/// The cluster and Kong, made ready before anything is pushed.
#[async_trait(?Send)]
pub trait ClusterBootstrap {
    /// Creates or reuses the cluster (and its registry); returns a one-line description.
    async fn ensure_cluster(&self, log: &mut dyn StageLog) -> Result<String, StageError>;
    /// Installs Kong unless the pinned version is there; returns what it did.
    async fn ensure_kong(&self, log: &mut dyn StageLog) -> Result<KongState, StageError>;
}

/// Kong after bootstrap.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KongState {
    pub installed_now: bool,
    pub version: String,
    pub gateway_url: String,
}

/// The stage implementations for one run.
pub struct Stages<'a> {
    pub builder: &'a dyn ImageBuilder,
    pub bootstrap: &'a dyn ClusterBootstrap,
    pub publisher: &'a dyn ImagePublisher,
    pub deployer: &'a dyn Deployer,
    pub gateway: &'a dyn GatewayConfigurer,
}

/// A run that reached the cluster.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub images: Vec<PublishedImage>,
    pub deployed: Deployed,
    pub kong: KongState,
    /// `None` when Configure failed: the app runs, the gateway is not set up.
    pub gateway: Option<Gateway>,
    /// Why Configure failed, when it did.
    pub warning: Option<String>,
}

/// A run stopped at a stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub stage: Stage,
    pub component: Option<String>,
    pub reason: String,
    /// What was cleaned up (or left, and why).
    pub cleanup: String,
    /// The stage's own log, when it has one.
    pub log: Option<PathBuf>,
    /// Stopped by Ctrl-C rather than by an error.
    pub interrupted: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = self
            .component
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        if self.interrupted {
            write!(
                f,
                "interrupted during {}{who}; cleaned up: {}",
                self.stage.title(),
                self.cleanup
            )?;
        } else {
            write!(
                f,
                "{} failed{who}: {}\n  cleanup: {}",
                self.stage.title(),
                self.reason,
                self.cleanup
            )?;
        }
        if let Some(l) = &self.log {
            write!(f, "\n  log: {}", l.display())?;
        }
        Ok(())
    }
}

/// Runs the pipeline, reporting every step to `progress`, with no way to interrupt it.
pub async fn run(
    plan: &AppPlan,
    stages: &Stages<'_>,
    progress: &mut Progress<'_>,
) -> Result<Outcome, Failure> {
    run_interruptible(plan, stages, progress, &Interrupts::default()).await
}

/// Runs one stage's future with its log lines shown live as `stage` (and `component`)
/// progress: the one place a stage is driven. `run` gets the stage's log; None when `stop`
/// fired first.
async fn in_stage<T, F>(
    progress: &mut Progress<'_>,
    stage: Stage,
    component: Option<&str>,
    stop: Option<&CancellationToken>,
    run: impl FnOnce(ChannelLog) -> F,
) -> Option<T>
where
    F: std::future::Future<Output = T>,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let fut = run(ChannelLog(tx));
    let component = component.map(str::to_string);
    drive(progress, stage, component, &mut rx, Box::pin(fut), stop).await
}

/// Runs the pipeline, reporting every step to `progress`. A first Ctrl-C (`signals.interrupt`)
/// stops the stage in flight and cleans up as a failure of that stage would; the second
/// (`signals.abort`) abandons that cleanup.
pub async fn run_interruptible(
    plan: &AppPlan,
    stages: &Stages<'_>,
    progress: &mut Progress<'_>,
    signals: &Interrupts,
) -> Result<Outcome, Failure> {
    // Build: nothing outside the local daemon is touched until every image exists.
    let built = build_all(plan, stages, progress, signals).await?;
    let kong = bootstrap(stages, progress, signals).await?;
    let published = publish_all(&built, stages, progress, signals).await?;
    let deployed = deploy_stage(plan, &published, stages, progress, signals).await?;
    configure_stage(plan, published, deployed, kong, stages, progress, signals).await
}

/// Build: an image per component; on a failure, the images this run built are removed.
async fn build_all(
    plan: &AppPlan,
    stages: &Stages<'_>,
    progress: &mut Progress<'_>,
    signals: &Interrupts,
) -> Result<Vec<BuiltImage>, Failure> {
    let stop = Some(&signals.interrupt);
    progress.start(
        Stage::Build,
        None,
        &format!("{} component(s)", plan.components.len()),
    );
    let mut built: Vec<BuiltImage> = Vec::new();
    for c in &plan.components {
        progress.start(
            Stage::Build,
            Some(&c.name),
            &format!("from {}", c.context.display()),
        );
        let result = in_stage(
            progress,
            Stage::Build,
            Some(&c.name),
            stop,
            |mut log| async move { stages.builder.build(c, &mut log).await },
        )
        .await;
        let e = match result {
            Some(Ok(img)) => {
                progress.done(Stage::Build, Some(&c.name), &img.reference);
                built.push(img);
                continue;
            }
            Some(Err(e)) => e,
            None => StageError::new(INTERRUPTED),
        };
        progress.fail(Stage::Build, Some(&c.name), &e.message);
        let cleanup = remove_built(stages.builder, &built, &signals.abort).await;
        let component = Some(c.name.clone());
        return Err(stop_at(
            progress,
            signals,
            Stage::Build,
            component,
            e,
            cleanup,
        ));
    }
    progress.done(Stage::Build, None, "");
    Ok(built)
}

/// Cluster and Kong: created or installed when missing.
async fn bootstrap(
    stages: &Stages<'_>,
    progress: &mut Progress<'_>,
    signals: &Interrupts,
) -> Result<KongState, Failure> {
    let stop = Some(&signals.interrupt);
    progress.start(Stage::Cluster, None, "");
    let cluster = in_stage(progress, Stage::Cluster, None, stop, |mut log| async move {
        stages.bootstrap.ensure_cluster(&mut log).await
    })
    .await;
    match cluster {
        Some(Ok(what)) => progress.done(Stage::Cluster, None, &what),
        Some(Err(e)) => return Err(bootstrap_failure(progress, signals, Stage::Cluster, e)),
        None => {
            let e = StageError::new(INTERRUPTED);
            return Err(bootstrap_failure(progress, signals, Stage::Cluster, e));
        }
    }
    progress.start(Stage::Kong, None, "");
    let kong = in_stage(progress, Stage::Kong, None, stop, |mut log| async move {
        stages.bootstrap.ensure_kong(&mut log).await
    })
    .await;
    match kong {
        Some(Ok(k)) => {
            let what = format!("Kong chart {}", k.version);
            if k.installed_now {
                progress.done(Stage::Kong, None, &format!("{what} installed, ready"));
            } else {
                progress.skip(Stage::Kong, None, &format!("{what} already installed"));
            }
            Ok(k)
        }
        Some(Err(e)) => Err(bootstrap_failure(progress, signals, Stage::Kong, e)),
        None => {
            let e = StageError::new(INTERRUPTED);
            Err(bootstrap_failure(progress, signals, Stage::Kong, e))
        }
    }
}

/// Push (kind) or Load (Minikube) of every built image.
async fn publish_all(
    built: &[BuiltImage],
    stages: &Stages<'_>,
    progress: &mut Progress<'_>,
    signals: &Interrupts,
) -> Result<Vec<PublishedImage>, Failure> {
    let stop = Some(&signals.interrupt);
    progress.start(Stage::Push, None, &stages.publisher.describe());
    let mut published = Vec::new();
    for img in built {
        let component = Some(img.component.as_str());
        progress.start(Stage::Push, component, &img.reference);
        let result = in_stage(
            progress,
            Stage::Push,
            component,
            stop,
            |mut log| async move { stages.publisher.publish(img, &mut log).await },
        )
        .await;
        let e = match result {
            Some(Ok(p)) => {
                progress.done(Stage::Push, component, &p.reference);
                published.push(p);
                continue;
            }
            Some(Err(e)) => e,
            None => StageError::new(INTERRUPTED),
        };
        progress.fail(Stage::Push, component, &e.message);
        let cleanup = "nothing in the cluster was changed; the built images are kept in the local Docker daemon for the next run".to_string();
        let component = Some(img.component.clone());
        return Err(stop_at(
            progress,
            signals,
            Stage::Push,
            component,
            e,
            cleanup,
        ));
    }
    progress.done(Stage::Push, None, "");
    Ok(published)
}

/// Deploy: not cancelled from here; the deployer watches the same tokens, stops its wait and
/// rolls back on the first Ctrl-C, and gives up the rollback on the second.
async fn deploy_stage(
    plan: &AppPlan,
    published: &[PublishedImage],
    stages: &Stages<'_>,
    progress: &mut Progress<'_>,
    signals: &Interrupts,
) -> Result<Deployed, Failure> {
    progress.start(
        Stage::Deploy,
        None,
        &format!("release {} in namespace {}", plan.release, plan.namespace),
    );
    let events = progress.events().to_vec();
    let deployed = in_stage(progress, Stage::Deploy, None, None, |mut log| async move {
        stages
            .deployer
            .deploy(plan, published, &events, &mut log)
            .await
    })
    .await;
    let e = match deployed.expect("Deploy is driven to its end") {
        Ok(d) => {
            progress.done(Stage::Deploy, None, &format!("revision {}", d.revision));
            return Ok(d);
        }
        Err(e) => e,
    };
    progress.fail(Stage::Deploy, None, &e.error.message);
    let cleanup = e.rollback.describe();
    let status = if matches!(e.rollback, Rollback::Failed(_)) {
        progress::Status::Failed
    } else {
        progress::Status::Progress
    };
    let interrupted = signals.interrupt.is_cancelled();
    let said = if interrupted {
        format!("interrupted during Deploy; cleaned up: {cleanup}")
    } else {
        cleanup.clone()
    };
    progress.emit(Stage::Deploy, None, status, &said);
    Err(Failure {
        stage: Stage::Deploy,
        component: None,
        reason: e.error.message,
        cleanup,
        log: e
            .error
            .log
            .or_else(|| progress.log_path().map(PathBuf::from)),
        interrupted,
    })
}

/// Configure: failing here leaves the app running with a warning; an interrupt leaves it
/// running too, and says how to finish.
async fn configure_stage(
    plan: &AppPlan,
    published: Vec<PublishedImage>,
    deployed: Deployed,
    kong: KongState,
    stages: &Stages<'_>,
    progress: &mut Progress<'_>,
    signals: &Interrupts,
) -> Result<Outcome, Failure> {
    let stop = Some(&signals.interrupt);
    progress.start(Stage::Configure, None, "Kong routes and consumer");
    let configured = in_stage(progress, Stage::Configure, None, stop, |mut log| {
        let (deployed, kong) = (&deployed, &kong);
        async move {
            stages
                .gateway
                .configure(plan, deployed, kong, &mut log)
                .await
        }
    })
    .await;
    let (gateway, warning) = match configured {
        Some(Ok(g)) => {
            progress.done(Stage::Configure, None, &g.url);
            (Some(g), None)
        }
        Some(Err(e)) => {
            let w = configure_warning(&e.message, &deployed);
            progress.warn(Stage::Configure, None, &w);
            (None, Some(w))
        }
        None => {
            let cleanup = format!(
                "nothing was removed: the app is running (release {} revision {}) but the gateway is not configured; run `kubectl justpush up` again to finish",
                deployed.release, deployed.revision
            );
            let e = StageError::new(INTERRUPTED);
            let failure = stop_at(progress, signals, Stage::Configure, None, e, cleanup);
            record_events(stages, progress, &deployed, signals).await;
            return Err(failure);
        }
    };
    record_events(stages, progress, &deployed, signals).await;
    Ok(Outcome {
        images: published,
        deployed,
        kong,
        gateway,
        warning,
    })
}

fn configure_warning(reason: &str, deployed: &Deployed) -> String {
    format!(
        "the gateway is not configured: {reason}; the app is running (release {} revision {}) but not reachable through Kong; fix the cause and run `kubectl justpush up` again",
        deployed.release, deployed.revision
    )
}

/// Stores the run's events with the release; a second Ctrl-C skips it.
async fn record_events(
    stages: &Stages<'_>,
    progress: &mut Progress<'_>,
    deployed: &Deployed,
    signals: &Interrupts,
) {
    let result = tokio::select! {
        biased;
        r = stages.deployer.record_events(deployed, progress.events()) => r,
        _ = signals.abort.cancelled() => Err(StageError::new("aborted (second Ctrl-C)")),
    };
    if let Err(e) = result {
        progress.warn(
            Stage::Deploy,
            None,
            &format!("could not store this run's events with the release: {e}"),
        );
    }
}

/// Removes the images this run built (cleanup after a failed or interrupted Build) and says
/// what it did. A second Ctrl-C stops it where it is.
async fn remove_built(
    builder: &dyn ImageBuilder,
    built: &[BuiltImage],
    abort: &CancellationToken,
) -> String {
    let mut removed = Vec::new();
    let mut kept = Vec::new();
    let mut left = Vec::new();
    for img in built.iter().filter(|i| i.new) {
        if abort.is_cancelled() {
            left.push(img.reference.clone());
            continue;
        }
        let r = tokio::select! {
            biased;
            r = builder.remove(img) => Some(r),
            _ = abort.cancelled() => None,
        };
        match r {
            Some(Ok(())) => removed.push(img.reference.clone()),
            Some(Err(err)) => kept.push(format!("{} ({err})", img.reference)),
            None => left.push(img.reference.clone()),
        }
    }
    if !left.is_empty() {
        return format!(
            "aborted (second Ctrl-C) before the cleanup finished: removed [{}]; left [{}] (remove them with `docker rmi`)",
            removed.join(", "),
            left.iter().chain(&kept).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    match (removed.is_empty(), kept.is_empty()) {
        (true, true) => "nothing was created".to_string(),
        (false, true) => format!(
            "removed the images this run built ({}); nothing else was created",
            removed.join(", ")
        ),
        _ => format!(
            "removed [{}]; could not remove [{}]",
            removed.join(", "),
            kept.join(", ")
        ),
    }
}

/// The end of a run stopped at `stage` (by an error or by Ctrl-C): reports the cleanup and
/// builds the [`Failure`].
fn stop_at(
    progress: &mut Progress<'_>,
    signals: &Interrupts,
    stage: Stage,
    component: Option<String>,
    e: StageError,
    cleanup: String,
) -> Failure {
    let interrupted = signals.interrupt.is_cancelled();
    if interrupted {
        progress.fail(
            stage,
            None,
            &format!(
                "interrupted during {}; cleaned up: {cleanup}",
                stage.title()
            ),
        );
    } else {
        progress.fail(stage, None, &cleanup);
    }
    Failure {
        stage,
        component,
        reason: e.message,
        cleanup,
        log: e.log.or_else(|| progress.log_path().map(PathBuf::from)),
        interrupted,
    }
}

fn bootstrap_failure(
    progress: &mut Progress<'_>,
    signals: &Interrupts,
    stage: Stage,
    e: StageError,
) -> Failure {
    let cleanup = "the images are built and kept in the local Docker daemon; no application object was created in the cluster".to_string();
    if signals.interrupt.is_cancelled() {
        stop_at(progress, signals, stage, None, e, cleanup)
    } else {
        progress.fail(stage, None, &e.message);
        Failure {
            stage,
            component: None,
            reason: e.message,
            cleanup,
            log: e.log.or_else(|| progress.log_path().map(PathBuf::from)),
            interrupted: false,
        }
    }
}
