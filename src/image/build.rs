//! Building the images of detected components, all at once: context, Dockerfile (the
//! project's own, or generated with the chosen base images and CA bundle), content tag, the
//! build with its log kept on disk, and the size budget.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::context::{
    component_dir, generated_dockerignore, BuildContext, ExtraFile, GENERATED_DOCKERFILE, STATE_DIR,
};
use super::{
    base_images, check_size, content_tag, log_tail, parse_step, validate_tag, BuildRequest,
    ImageBackend, ImageError, Step, REPOSITORY_PREFIX,
};
use crate::detect::{Component, DockerfileSource};
use crate::dockerfile::{self, DockerfileOptions, CA_BUNDLE_FILE};

/// Lines of the log shown when a build fails.
pub const FAILURE_TAIL_LINES: usize = 25;

/// What the caller chose for a build run.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Base images and source URL for generated Dockerfiles (`ca_bundle` is set from
    /// `ca_bundle` below).
    pub dockerfile: DockerfileOptions,
    /// A CA bundle (PEM) for builder stages.
    pub ca_bundle: Option<Vec<u8>>,
    pub build_args: BTreeMap<String, String>,
    pub no_cache: bool,
    /// A fixed tag instead of the content tag.
    pub tag: Option<String>,
    /// Size budget in bytes.
    pub max_size: u64,
    /// Where build logs go (`DIR/.justpush/logs` by default).
    pub log_dir: PathBuf,
}

impl BuildOptions {
    /// Defaults for a project directory: content tags, a 500 MB budget, logs in
    /// `DIR/.justpush/logs`.
    pub fn for_dir(root: &Path) -> BuildOptions {
        BuildOptions {
            dockerfile: DockerfileOptions::default(),
            ca_bundle: None,
            build_args: BTreeMap::new(),
            no_cache: false,
            tag: None,
            max_size: super::DEFAULT_MAX_SIZE,
            log_dir: default_log_dir(root),
        }
    }
}

/// `DIR/.justpush/logs`.
pub fn default_log_dir(root: &Path) -> PathBuf {
    root.join(STATE_DIR).join("logs")
}

/// Progress of one component's build, for the caller to show.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgressEvent {
    /// The context is made and the build starts.
    Started {
        component: String,
        image: String,
        context_files: usize,
    },
    /// The builder reached a step.
    Step { component: String, step: Step },
    /// The image with this content tag exists already: nothing to build.
    UpToDate { component: String, image: String },
    /// Something the user should know that does not stop the build.
    Warning { component: String, message: String },
    /// The image is built and within budget.
    Finished {
        component: String,
        image: String,
        size_bytes: u64,
        build_seconds: f64,
    },
}

/// One built image.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BuiltImage {
    pub component: String,
    pub image: String,
    pub size_bytes: u64,
    pub build_seconds: f64,
    /// The image id (`sha256:...`).
    #[serde(skip)]
    pub id: String,
    /// Whether the image existed already with this content tag.
    #[serde(skip)]
    pub up_to_date: bool,
}

/// The Dockerfile, its path in the context, and the extra files a component's build needs.
pub fn prepare_dockerfile(
    component: &Component,
    dir: &Path,
    options: &BuildOptions,
) -> Result<(String, String, Vec<ExtraFile>, Vec<String>), ImageError> {
    let mut warnings = Vec::new();
    match component.dockerfile {
        DockerfileSource::Existing => {
            let name = ["Dockerfile", "Containerfile"]
                .into_iter()
                .find(|n| dir.join(n).is_file())
                .ok_or_else(|| ImageError::Context {
                    dir: dir.to_path_buf(),
                    message: "detection found a Dockerfile here, but there is none now; run `kubectl justpush detect` again".into(),
                })?;
            let text = std::fs::read_to_string(dir.join(name))
                .map_err(|e| ImageError::io(format!("reading {}", dir.join(name).display()), e))?;
            if options.ca_bundle.is_some() {
                warnings.push(format!(
                    "--ca-bundle is not applied: {} uses its own {name}; copy the bundle into its builder stage yourself",
                    component.name
                ));
            }
            Ok((text, name.to_string(), Vec::new(), warnings))
        }
        DockerfileSource::Generated => {
            let mut df_options = options.dockerfile.clone();
            df_options.ca_bundle = options.ca_bundle.is_some();
            let text =
                dockerfile::render(component, &df_options).map_err(|e| ImageError::Context {
                    dir: dir.to_path_buf(),
                    message: e.to_string(),
                })?;
            let project_ignore = match std::fs::read_to_string(dir.join(".dockerignore")) {
                Ok(t) => t,
                Err(_) => dockerfile::dockerignore(component),
            };
            let mut extra = vec![
                ExtraFile {
                    path: GENERATED_DOCKERFILE.into(),
                    contents: text.clone().into_bytes(),
                },
                ExtraFile {
                    path: ".dockerignore".into(),
                    contents: generated_dockerignore(&project_ignore).into_bytes(),
                },
            ];
            if let Some(ca) = &options.ca_bundle {
                extra.push(ExtraFile {
                    path: CA_BUNDLE_FILE.into(),
                    contents: ca.clone(),
                });
            }
            Ok((text, GENERATED_DOCKERFILE.to_string(), extra, warnings))
        }
    }
}

/// OCI labels every image gets through the build API (they override the Dockerfile's).
pub fn oci_labels(
    component: &Component,
    tag: &str,
    context_digest: &str,
) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert(
        "org.opencontainers.image.title".into(),
        component.name.clone(),
    );
    l.insert("org.opencontainers.image.version".into(), tag.to_string());
    l.insert(
        "org.opencontainers.image.created".into(),
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    );
    l.insert(
        "org.opencontainers.image.vendor".into(),
        "built by justpush".into(),
    );
    l.insert("io.justpush.component".into(), component.name.clone());
    l.insert(
        "io.justpush.context-digest".into(),
        context_digest.to_string(),
    );
    l
}

/// Builds every component concurrently; one result per component, in input order.
pub async fn build_all(
    backend: &dyn ImageBackend,
    root: &Path,
    components: &[Component],
    options: &BuildOptions,
    progress: Arc<dyn Fn(ProgressEvent) + Send + Sync>,
) -> Vec<Result<BuiltImage, ImageError>> {
    let builds = components
        .iter()
        .map(|c| build_one(backend, root, c, options, progress.clone()));
    futures::future::join_all(builds).await
}

async fn build_one(
    backend: &dyn ImageBackend,
    root: &Path,
    component: &Component,
    options: &BuildOptions,
    progress: Arc<dyn Fn(ProgressEvent) + Send + Sync>,
) -> Result<BuiltImage, ImageError> {
    let started = Instant::now();
    let name = component.name.clone();
    if let Some(t) = &options.tag {
        validate_tag(t)?;
    }
    let dir = component_dir(root, &component.path);
    let (dockerfile_text, dockerfile_path, extra, warnings) =
        prepare_dockerfile(component, &dir, options)?;
    for message in warnings {
        progress(ProgressEvent::Warning {
            component: name.clone(),
            message,
        });
    }
    let ctx_dir = dir.clone();
    let context = tokio::task::spawn_blocking(move || BuildContext::create(&ctx_dir, &extra))
        .await
        .map_err(|e| ImageError::engine("making the build context", e))??;

    let mut bases = Vec::new();
    for image in base_images(&dockerfile_text, &options.build_args) {
        let id = backend.inspect(&image).await?.map(|d| d.id);
        bases.push((image, id));
    }
    let tag = match &options.tag {
        Some(t) => t.clone(),
        None => content_tag(
            &context.digest,
            &dockerfile_text,
            &options.build_args,
            &bases,
        ),
    };
    let reference = format!("{REPOSITORY_PREFIX}/{name}:{tag}");

    // Same content tag, same inputs: the image is already there.
    if options.tag.is_none() && !options.no_cache {
        if let Some(existing) = backend.inspect(&reference).await? {
            check_size(&name, &reference, existing.size, options.max_size)?;
            progress(ProgressEvent::UpToDate {
                component: name.clone(),
                image: reference.clone(),
            });
            return Ok(BuiltImage {
                component: name,
                image: reference,
                size_bytes: existing.size,
                build_seconds: started.elapsed().as_secs_f64(),
                id: existing.id,
                up_to_date: true,
            });
        }
    }

    progress(ProgressEvent::Started {
        component: name.clone(),
        image: reference.clone(),
        context_files: context.files,
    });
    std::fs::create_dir_all(&options.log_dir)
        .map_err(|e| ImageError::io(format!("creating {}", options.log_dir.display()), e))?;
    let log_path = options.log_dir.join(format!("build-{name}.log"));
    let log_file = std::fs::File::create(&log_path)
        .map_err(|e| ImageError::io(format!("creating {}", log_path.display()), e))?;
    let log = Arc::new(Mutex::new(log_file));
    let last_step: Arc<Mutex<Option<Step>>> = Arc::new(Mutex::new(None));

    let request = BuildRequest {
        reference: reference.clone(),
        dockerfile: dockerfile_path,
        build_args: options.build_args.clone(),
        labels: oci_labels(component, &tag, &context.digest),
        no_cache: options.no_cache,
    };
    let on_line = {
        let log = log.clone();
        let last_step = last_step.clone();
        let progress = progress.clone();
        let name = name.clone();
        move |line: &str| {
            if let Ok(mut f) = log.lock() {
                let _ = f.write_all(line.as_bytes());
                if !line.ends_with('\n') {
                    let _ = f.write_all(b"\n");
                }
            }
            if let Some(step) = parse_step(line) {
                if let Ok(mut s) = last_step.lock() {
                    *s = Some(step.clone());
                }
                progress(ProgressEvent::Step {
                    component: name.clone(),
                    step,
                });
            }
        }
    };
    let outcome = backend.build(&request, context.tar, &on_line).await;
    if let Err(message) = outcome {
        if let Ok(mut f) = log.lock() {
            let _ = writeln!(f, "ERROR: {message}");
        }
        // The classic builder tags only on success; make sure of it anyway.
        if backend.inspect(&reference).await.ok().flatten().is_some() {
            let _ = backend.remove(&reference).await;
        }
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        return Err(ImageError::BuildFailed {
            component: name,
            step: last_step.lock().ok().and_then(|s| s.clone()),
            message,
            tail: log_tail(&text, FAILURE_TAIL_LINES),
            log: log_path,
        });
    }
    let details = backend.inspect(&reference).await?.ok_or_else(|| {
        ImageError::engine(
            format!("building {reference}"),
            "the daemon reported success but the image is not there",
        )
    })?;
    if let Err(e) = check_size(&name, &reference, details.size, options.max_size) {
        let _ = backend.remove(&reference).await;
        return Err(e);
    }
    let build_seconds = started.elapsed().as_secs_f64();
    progress(ProgressEvent::Finished {
        component: name.clone(),
        image: reference.clone(),
        size_bytes: details.size,
        build_seconds,
    });
    Ok(BuiltImage {
        component: name,
        image: reference,
        size_bytes: details.size,
        build_seconds,
        id: details.id,
        up_to_date: false,
    })
}
