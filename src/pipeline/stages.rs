//! Adapters from the pipeline's stage traits to the image layer (`crate::image`): Build through
//! its bollard engine, Push to the local registry (kind, or `--registry`), Load into Minikube.

use super::{
    BuiltImage, ComponentPlan, ImageBuilder, ImagePublisher, PublishedImage, StageError, StageLog,
};
use crate::cluster::{Provider, ToolRunner, CLUSTER_NAME};
use crate::image::{self, BuildOptions, ImageBackend, ProgressEvent};
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;

/// Builds with `image::build_all`, one component at a time, streaming its step events.
pub struct EngineBuilder<'a> {
    pub backend: &'a dyn ImageBackend,
    pub root: PathBuf,
    pub options: BuildOptions,
}

fn describe(e: &ProgressEvent) -> String {
    match e {
        ProgressEvent::Started {
            image,
            context_files,
            ..
        } => format!("building {image} ({context_files} files in context)"),
        ProgressEvent::Step { step, .. } => {
            format!("step {}/{} {}", step.number, step.total, step.instruction)
        }
        ProgressEvent::UpToDate { image, .. } => format!("{image} is up to date"),
        ProgressEvent::Warning { message, .. } => format!("warning: {message}"),
        ProgressEvent::Finished {
            image, size_bytes, ..
        } => format!("built {image} ({})", image::human_size(*size_bytes)),
    }
}

#[async_trait(?Send)]
impl ImageBuilder for EngineBuilder<'_> {
    async fn build(
        &self,
        component: &ComponentPlan,
        log: &mut dyn StageLog,
    ) -> Result<BuiltImage, StageError> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ProgressEvent>();
        let progress: Arc<dyn Fn(ProgressEvent) + Send + Sync> = Arc::new(move |e| {
            let _ = tx.send(e);
        });
        let components = [component.detected.clone()];
        let build = image::build_all(
            self.backend,
            &self.root,
            &components,
            &self.options,
            progress,
        );
        futures::pin_mut!(build);
        let results = loop {
            tokio::select! {
                r = &mut build => break r,
                Some(e) = rx.recv() => log.line(&describe(&e)),
            }
        };
        while let Ok(e) = rx.try_recv() {
            log.line(&describe(&e));
        }
        match results.into_iter().next() {
            Some(Ok(b)) => Ok(BuiltImage {
                component: b.component,
                reference: b.image,
                id: b.id,
                new: !b.up_to_date,
            }),
            Some(Err(e)) => Err(StageError {
                log: match &e {
                    image::ImageError::BuildFailed { log, .. } => Some(log.clone()),
                    _ => None,
                },
                message: e.to_string(),
            }),
            None => Err(StageError::new("the image layer returned no result")),
        }
    }

    async fn remove(&self, image: &BuiltImage) -> Result<(), StageError> {
        self.backend
            .remove(&image.reference)
            .await
            .map_err(|e| StageError::new(e.to_string()))
    }
}

/// Pushes to a registry the cluster pulls from (kind: `localhost:5001`).
pub struct RegistryPublisher<'a> {
    pub backend: &'a dyn ImageBackend,
    pub registry: String,
}

#[async_trait(?Send)]
impl ImagePublisher for RegistryPublisher<'_> {
    fn describe(&self) -> String {
        format!("push to {}", self.registry)
    }

    async fn publish(
        &self,
        img: &BuiltImage,
        log: &mut dyn StageLog,
    ) -> Result<PublishedImage, StageError> {
        let host = self.registry.split('/').next().unwrap_or(&self.registry);
        let auth = image::registry::resolve_credentials(
            host,
            None,
            None,
            image::registry::docker_config_path().as_deref(),
        )
        .map_err(|e| StageError::new(e.to_string()))?;
        let out = image::registry::push_image(
            self.backend,
            &img.component,
            &img.reference,
            &self.registry,
            &auth,
        )
        .await
        .map_err(|e| StageError::new(e.to_string()))?;
        if out.skipped {
            log.line(&format!("{} already in the registry", out.image));
        }
        Ok(PublishedImage {
            component: img.component.clone(),
            reference: out.image,
        })
    }
}

/// Loads into Minikube with `minikube image load`.
pub struct MinikubeLoader<'a> {
    pub backend: &'a dyn ImageBackend,
    pub tools: &'a dyn ToolRunner,
    pub work_dir: PathBuf,
}

#[async_trait(?Send)]
impl ImagePublisher for MinikubeLoader<'_> {
    fn describe(&self) -> String {
        "minikube image load".into()
    }

    async fn publish(
        &self,
        img: &BuiltImage,
        log: &mut dyn StageLog,
    ) -> Result<PublishedImage, StageError> {
        let loaded = image::load::load_image(
            self.backend,
            self.tools,
            Provider::Minikube,
            CLUSTER_NAME,
            &img.reference,
            &self.work_dir,
        )
        .await
        .map_err(|e| StageError::new(e.to_string()))?;
        if !loaded {
            log.line(&format!("{} already in Minikube", img.reference));
        }
        Ok(PublishedImage {
            component: img.component.clone(),
            reference: img.reference.clone(),
        })
    }
}
