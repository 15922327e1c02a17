//! The real stage implementations for one run, put together. Stages whose implementation has
//! not landed in this build are [`Unwired`]: they fail with a message that says so, before the
//! pipeline changes anything they would have needed.

use super::bootstrap::LocalBootstrap;
use super::plan::Target;
use super::progress::Progress;
use super::shell::{DockerRegistry, KubeApi};
use super::{
    AppPlan, BuiltImage, DeployError, Deployed, Deployer, Failure, Gateway, GatewayConfigurer,
    ImageBuilder, ImagePublisher, Outcome, PublishedImage, Rollback, StageError, StageLog, Stages,
};
use crate::cli::GlobalFlags;
use crate::cluster::SystemTools;
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// A stage whose implementation is not part of this build.
pub struct Unwired(pub &'static str);

impl Unwired {
    fn error(&self) -> StageError {
        StageError::new(format!(
            "the {} stage is not wired into this build of kubectl-justpush yet",
            self.0
        ))
    }
}

#[async_trait(?Send)]
impl ImageBuilder for Unwired {
    async fn build(
        &self,
        _c: &super::ComponentPlan,
        _log: &mut dyn StageLog,
    ) -> Result<BuiltImage, StageError> {
        Err(self.error())
    }
    async fn remove(&self, _image: &BuiltImage) -> Result<(), StageError> {
        Ok(())
    }
}

#[async_trait(?Send)]
impl ImagePublisher for Unwired {
    fn describe(&self) -> String {
        "not wired".into()
    }
    async fn publish(
        &self,
        _image: &BuiltImage,
        _log: &mut dyn StageLog,
    ) -> Result<PublishedImage, StageError> {
        Err(self.error())
    }
}

#[async_trait(?Send)]
impl Deployer for Unwired {
    async fn deploy(
        &self,
        _plan: &AppPlan,
        _images: &[PublishedImage],
        _log: &mut dyn StageLog,
    ) -> Result<Deployed, DeployError> {
        Err(DeployError {
            error: self.error(),
            rollback: Rollback::Deleted,
        })
    }
    async fn record_events(
        &self,
        _d: &Deployed,
        _e: &[super::progress::Event],
    ) -> Result<(), StageError> {
        Err(self.error())
    }
}

#[async_trait(?Send)]
impl GatewayConfigurer for Unwired {
    async fn configure(
        &self,
        _plan: &AppPlan,
        _deployed: &Deployed,
        _log: &mut dyn StageLog,
    ) -> Result<Gateway, StageError> {
        Err(self.error())
    }
}

/// The kubeconfig context a target's cluster is reached through.
pub fn context_for(target: &Target, global: &GlobalFlags) -> Option<String> {
    match target {
        Target::Kind => Some(super::preflight::kind_context()),
        Target::Minikube => Some(crate::cluster::CLUSTER_NAME.to_string()),
        Target::Current { .. } => global.context.clone(),
    }
}

/// Runs the pipeline with the real stages.
pub async fn run_real(
    plan: &AppPlan,
    target: &Target,
    kong_chart: Option<PathBuf>,
    build_options: crate::image::BuildOptions,
    global: &GlobalFlags,
    state_dir: &Path,
    progress: &mut Progress<'_>,
) -> Result<Outcome, Failure> {
    let api = KubeApi::new(global.kubeconfig.clone(), context_for(target, global));
    let docker = bollard::Docker::connect_with_defaults().map_err(|e| Failure {
        stage: super::progress::Stage::Preflight,
        component: None,
        reason: format!("connecting to Docker: {e}"),
        cleanup: "nothing was created".into(),
        log: None,
    })?;
    let registry = DockerRegistry { docker };
    let bootstrap = LocalBootstrap {
        target: target.clone(),
        tools: &SystemTools,
        state_dir: state_dir.to_path_buf(),
        cache_dir: super::bootstrap::cache_dir(),
        kong_chart,
        api: &api,
        registry: &registry,
    };
    let engine = crate::image::docker::DockerEngine::connect().map_err(|e| Failure {
        stage: super::progress::Stage::Preflight,
        component: None,
        reason: e.to_string(),
        cleanup: "nothing was created".into(),
        log: None,
    })?;
    let builder = super::stages::EngineBuilder {
        backend: &engine,
        root: plan.source.clone(),
        options: build_options,
    };
    let pusher;
    let loader;
    let publisher: &dyn ImagePublisher = match target.registry() {
        Some(registry) => {
            pusher = super::stages::RegistryPublisher {
                backend: &engine,
                registry,
            };
            &pusher
        }
        None => {
            loader = super::stages::MinikubeLoader {
                backend: &engine,
                tools: &SystemTools,
                work_dir: state_dir.join("load"),
            };
            &loader
        }
    };
    let deployer = Unwired("Deploy (kube branch)");
    let gateway = Unwired("Configure (kong branch)");
    let stages = Stages {
        builder: &builder,
        bootstrap: &bootstrap,
        publisher,
        deployer: &deployer,
        gateway: &gateway,
    };
    super::run(plan, &stages, progress).await
}
