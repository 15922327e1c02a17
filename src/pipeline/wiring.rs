//! The real stage implementations for one run, put together: the image layer (bollard) for
//! Build and Push/Load, kind/minikube and Kong for bootstrap, `kube::action` for Deploy, and
//! the gateway check for Configure. Ctrl-C: the first stops the stage in flight and cleans up
//! what the run created (Deploy rolls itself back), the second aborts.

use super::bootstrap::LocalBootstrap;
use super::plan::Target;
use super::progress::{Progress, Stage};
use super::shell::{DockerRegistry, KubeApi};
use super::stages::{
    EngineBuilder, KongGatewayCheck, KubeDeployer, MinikubeLoader, RegistryPublisher,
};
use super::{AppPlan, Failure, ImagePublisher, Outcome, Stages};
use crate::cluster::SYSTEM_TOOLS;
use crate::detect::config::AppConfig;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The kubeconfig context a target's cluster is reached through.
pub fn context_for(target: &Target, kube: &crate::kube::Target) -> Option<String> {
    match target {
        Target::Kind => Some(super::preflight::kind_context()),
        Target::Minikube => Some(crate::cluster::CLUSTER_NAME.to_string()),
        Target::Current { .. } => kube.context.clone(),
    }
}

/// What the CLI decided for a run.
pub struct RunSettings {
    pub kong_chart: Option<PathBuf>,
    pub build_options: crate::image::BuildOptions,
    pub app: AppConfig,
    pub deploy_timeout: Duration,
    /// Overrides the gateway URL bootstrap finds (tests, or a gateway behind a proxy).
    pub gateway_url: Option<String>,
    pub gateway_timeout: Duration,
}

fn preflight_failure(reason: String) -> Failure {
    Failure {
        stage: Stage::Preflight,
        component: None,
        reason,
        cleanup: "nothing was created".into(),
        log: None,
        interrupted: false,
    }
}

/// Runs the pipeline with the real stages.
pub async fn run_real(
    plan: &AppPlan,
    target: &Target,
    settings: RunSettings,
    kube: &crate::kube::Target,
    state_dir: &Path,
    progress: &mut Progress<'_>,
) -> Result<Outcome, Failure> {
    let api = KubeApi::new(kube.kubeconfig.clone(), context_for(target, kube));
    // One Docker client for the run, on the API version the image layer pins (engines as old
    // as 20.10 refuse newer clients).
    let engine = crate::image::docker::DockerEngine::connect()
        .map_err(|e| preflight_failure(e.to_string()))?;
    let registry = DockerRegistry::for_kind(engine.client().clone());
    let signals = super::Interrupts::default();
    // kind, minikube and docker run as child processes that a Ctrl-C kills at once.
    let tools = SYSTEM_TOOLS.cancelled_by(signals.interrupt.clone());
    let bootstrap = LocalBootstrap {
        target: target.clone(),
        tools: &tools,
        state_dir: state_dir.to_path_buf(),
        cache_dir: super::bootstrap::cache_dir(),
        kong_chart: settings.kong_chart,
        gateway_override: settings.gateway_url.clone(),
        api: &api,
        registry: &registry,
    };
    let probed = super::stages::ProbeFindings::default();
    let builder = EngineBuilder {
        backend: &engine,
        root: plan.source.clone(),
        options: settings.build_options,
        probed: probed.clone(),
    };
    let pusher;
    let loader;
    let publisher: &dyn ImagePublisher = match target.registry() {
        Some(registry) => {
            pusher = RegistryPublisher {
                backend: &engine,
                registry,
            };
            &pusher
        }
        None => {
            loader = MinikubeLoader {
                backend: &engine,
                tools: &tools,
                work_dir: state_dir.join("load"),
            };
            &loader
        }
    };
    let (i, a) = (signals.interrupt.clone(), signals.abort.clone());
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            i.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                a.cancel();
            }
        }
    });
    let deployer = KubeDeployer {
        api: &api,
        app: settings.app.clone(),
        timeout: settings.deploy_timeout,
        spec_cache: state_dir.join("specs"),
        interrupt: signals.interrupt.clone(),
        abort: signals.abort.clone(),
        probed,
    };
    let gateway = KongGatewayCheck {
        api: &api,
        app: settings.app,
        timeout: settings.gateway_timeout,
        gateway_url: settings.gateway_url,
    };
    let stages = Stages {
        builder: &builder,
        bootstrap: &bootstrap,
        publisher,
        deployer: &deployer,
        gateway: &gateway,
    };
    let result = super::run_interruptible(plan, &stages, progress, &signals).await;
    ctrl_c.abort();
    result
}
