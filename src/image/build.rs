//! Building the images of detected components, all at once: context, Dockerfile (the
//! project's own, or generated with the chosen base images and CA bundle), content tag, the
//! build with its log kept on disk, and the size budget.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::context::{
    component_dir, generated_dockerignore, read_dockerignore, BuildContext, ExtraFile, LeftOut,
    DEFAULT_MAX_CONTEXT_BYTES, GENERATED_DOCKERFILE, STATE_DIR,
};
use super::probe::run::{probe_image, ProbeRequest};
use super::probe::{ProbeResult, ProbeSettings};
use super::{
    base_images, check_size, content_tag, log_tail, parse_step, validate_tag, BuildLimits,
    BuildRequest, ImageBackend, ImageError, Step, REPOSITORY_PREFIX,
};
use crate::detect::generated::{generated_state, GeneratedState};
use crate::detect::own_dockerfile::DockerfileModel;
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
    /// Memory and CPU of the build containers (`--build-memory`, `--build-cpus`).
    pub limits: BuildLimits,
    /// Budget for a build context's files in bytes (`--max-context`).
    pub max_context: u64,
    /// Running each built image as the chart will, to find its port and health path.
    pub probe: ProbeSettings,
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
            limits: BuildLimits::default(),
            max_context: DEFAULT_MAX_CONTEXT_BYTES,
            probe: ProbeSettings::default(),
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
    /// The image was run as the chart will and answered.
    Probed {
        component: String,
        result: ProbeResult,
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
    /// What running the image found (absent when the probe was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeResult>,
    /// The OpenAPI document the running image served, when it served one.
    #[serde(skip)]
    pub openapi_text: Option<String>,
}

/// What a component's build sends: the Dockerfile text, its path in the context, the
/// `.dockerignore` text the context is made with, files added to the context, and warnings.
pub struct PreparedBuild {
    pub dockerfile: String,
    pub dockerfile_path: String,
    pub ignore: String,
    pub extra: Vec<ExtraFile>,
    pub warnings: Vec<String>,
    /// Build arguments justpush adds for this Dockerfile (an edited init Dockerfile gets the
    /// `--base-image` choices as `BUILDER_IMAGE`/`RUNTIME_IMAGE`); `--build-arg` wins.
    pub build_args: BTreeMap<String, String>,
}

/// The `.dockerignore` text a component's context is made with: the project's own for its own
/// Dockerfile; for a generated one, the project's (or the one `init` would write) with
/// justpush's additions, the same patterns the daemon is sent, so secrets are not even
/// uploaded. The code scan lists the context with it too.
pub fn context_ignore(component: &Component, dir: &Path) -> Result<String, ImageError> {
    let project_ignore = read_dockerignore(dir)?;
    Ok(match component.dockerfile {
        DockerfileSource::Existing => project_ignore.unwrap_or_default(),
        DockerfileSource::Generated => generated_dockerignore(
            &project_ignore.unwrap_or_else(|| dockerfile::dockerignore(component)),
            &dockerfile::secret_ignore_lines(component),
        ),
    })
}

/// Reads or generates the Dockerfile of a component and decides the context's extra files.
pub fn prepare_dockerfile(
    component: &Component,
    dir: &Path,
    options: &BuildOptions,
) -> Result<PreparedBuild, ImageError> {
    // What detection found wrong (a Dockerfile's port, root, files a clean checkout lacks; a
    // write where no volume can go): build and up show detection's warnings here, once.
    let mut warnings = component.warnings.clone();
    match component.dockerfile {
        DockerfileSource::Existing => {
            let name = ["Dockerfile", "Containerfile"]
                .into_iter()
                .find(|n| dir.join(n).is_file())
                .ok_or_else(|| ImageError::Context {
                    dir: dir.to_path_buf(),
                    message: "detection found a Dockerfile here, but there is none now; run `kubectl justpush detect` again".into(),
                })?;
            let text = crate::input::read_text_inside(
                dir,
                &dir.join(name),
                name,
                crate::input::MAX_CONFIG_BYTES,
            )?;
            let edited_init = generated_state(&text) == GeneratedState::Edited;
            let build_args = if edited_init {
                edited_init_build_args(component, &text, &options.dockerfile)
            } else {
                BTreeMap::new()
            };
            if options.ca_bundle.is_some() {
                warnings.push(if edited_init {
                    format!(
                        "--ca-bundle is not applied: {name} was written by `kubectl justpush init` and edited since, so it is used as given; restore it, or delete it and run `kubectl justpush init` again, to have the bundle injected (or copy the bundle into its builder stage yourself)"
                    )
                } else {
                    format!(
                        "--ca-bundle is not applied: {} uses its own {name}; copy the bundle into its builder stage yourself",
                        component.name
                    )
                });
            }
            let ignore = context_ignore(component, dir)?;
            Ok(PreparedBuild {
                dockerfile: text,
                dockerfile_path: name.to_string(),
                ignore,
                extra: Vec::new(),
                warnings,
                build_args,
            })
        }
        DockerfileSource::Generated => {
            check_local_wheels(component, dir)?;
            let mut df_options = options.dockerfile.clone();
            df_options.ca_bundle = options.ca_bundle.is_some();
            let text =
                dockerfile::render(component, &df_options).map_err(|e| ImageError::Context {
                    dir: dir.to_path_buf(),
                    message: e.to_string(),
                })?;
            let ignore = context_ignore(component, dir)?;
            let mut extra = vec![
                ExtraFile {
                    path: GENERATED_DOCKERFILE.into(),
                    contents: text.clone().into_bytes(),
                },
                ExtraFile {
                    path: ".dockerignore".into(),
                    contents: ignore.clone().into_bytes(),
                },
            ];
            if let Some(ca) = &options.ca_bundle {
                extra.push(ExtraFile {
                    path: CA_BUNDLE_FILE.into(),
                    contents: ca.clone(),
                });
            }
            Ok(PreparedBuild {
                dockerfile: text,
                dockerfile_path: GENERATED_DOCKERFILE.to_string(),
                ignore,
                extra,
                warnings,
                build_args: BTreeMap::new(),
            })
        }
    }
}

/// The `--base-image` choices for the component's language as the `BUILDER_IMAGE` /
/// `RUNTIME_IMAGE` build arguments every init template declares, for those the (edited) file
/// still declares before its first `FROM`.
fn edited_init_build_args(
    component: &Component,
    text: &str,
    options: &DockerfileOptions,
) -> BTreeMap<String, String> {
    let mut args = BTreeMap::new();
    let Some(chosen) = component.language.and_then(|l| options.base_images.get(&l)) else {
        return args;
    };
    let declared = DockerfileModel::parse(text).global_args;
    for (arg, image) in [
        ("BUILDER_IMAGE", &chosen.builder),
        ("RUNTIME_IMAGE", &chosen.runtime),
    ] {
        if let Some(image) = image {
            if declared.iter().any(|d| d == arg) {
                args.insert(arg.to_string(), image.clone());
            }
        }
    }
    args
}

/// The loud warning for secrets a context's `.dockerignore` let through and justpush left
/// out anyway, with the fix; `None` when nothing was left out.
pub fn left_out_warning(left_out: &[LeftOut]) -> Option<String> {
    if left_out.is_empty() {
        return None;
    }
    let files: Vec<String> = left_out
        .iter()
        .map(|l| format!("{} ({})", l.path, l.reason))
        .collect();
    Some(format!(
        "SECRETS LEFT OUT of the build context, never sent to Docker: {}. The .dockerignore does not exclude them (it is missing, or re-includes them with `!`); add them to .dockerignore to silence this. If the app needs one at run time, give it as a Kubernetes Secret (justpush.yaml `env:` with `secret: true`), not in the image",
        files.join(", ")
    ))
}

/// A uv project whose `[tool.uv] find-links` names a directory of the project installs from
/// it inside the build: a missing or empty directory would only fail deep in the build log.
fn check_local_wheels(component: &Component, dir: &Path) -> Result<(), ImageError> {
    // Bounded and regular-file-only: a FIFO named pyproject.toml must not hang the build.
    let Ok(text) = crate::input::read_text_inside(
        dir,
        &dir.join("pyproject.toml"),
        "pyproject.toml",
        crate::input::MAX_CONFIG_BYTES,
    ) else {
        return Ok(());
    };
    let Ok(value) = toml::from_str::<toml::Value>(&text) else {
        return Ok(());
    };
    let links = value
        .get("tool")
        .and_then(|t| t.get("uv"))
        .and_then(|u| u.get("find-links"))
        .and_then(|f| f.as_array())
        .cloned()
        .unwrap_or_default();
    for link in links.iter().filter_map(|l| l.as_str()) {
        if link.contains("://") || link.starts_with('/') {
            continue;
        }
        let path = dir.join(link);
        let has_files = std::fs::read_dir(&path)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if !has_files {
            let hint = if dir.join("fetch-wheels.sh").is_file() {
                format!("run {}/fetch-wheels.sh --runtime", dir.display())
            } else {
                format!("put the wheels uv.lock names into {}", path.display())
            };
            return Err(ImageError::Context {
                dir: dir.to_path_buf(),
                message: format!(
                    "component `{}` installs from `{link}` ([tool.uv] find-links in pyproject.toml), which is missing or empty; {hint}, then build again",
                    component.name
                ),
            });
        }
    }
    Ok(())
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
        .map(|c| build_and_probe(backend, root, c, options, progress.clone()));
    futures::future::join_all(builds).await
}

/// Builds a component, then (unless skipped) runs the image as the chart will and records
/// what it answered; a probe that fails fails the component's build, and an image this run
/// built is removed then, as for any failed build.
async fn build_and_probe(
    backend: &dyn ImageBackend,
    root: &Path,
    component: &Component,
    options: &BuildOptions,
    progress: Arc<dyn Fn(ProgressEvent) + Send + Sync>,
) -> Result<BuiltImage, ImageError> {
    let mut built = build_one(backend, root, component, options, progress.clone()).await?;
    let inputs = options
        .probe
        .components
        .get(&component.name)
        .cloned()
        .unwrap_or_default();
    let Some(engine) = backend.prober() else {
        return Ok(built);
    };
    if !options.probe.enabled || inputs.skip {
        return Ok(built);
    }
    let request = ProbeRequest {
        component,
        image: built.image.clone(),
        pins: inputs.pins,
        env: inputs.env,
        secret_names: inputs.secret_names,
        spec_file: inputs.spec_file,
        wait: options.probe.wait,
    };
    match probe_image(engine, &request).await {
        Ok(outcome) => {
            progress(ProgressEvent::Probed {
                component: component.name.clone(),
                result: outcome.result.clone(),
            });
            built.probe = Some(outcome.result);
            built.openapi_text = outcome.openapi_text;
            Ok(built)
        }
        Err(e) => {
            if !built.up_to_date {
                let _ = backend.remove(&built.image).await;
            }
            Err(ImageError::Probe(Box::new(e)))
        }
    }
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
    let PreparedBuild {
        dockerfile: dockerfile_text,
        dockerfile_path,
        ignore,
        extra,
        warnings,
        build_args: own_build_args,
    } = prepare_dockerfile(component, &dir, options)?;
    // The user's `--build-arg` wins over what justpush derives.
    let mut build_args = own_build_args;
    build_args.extend(options.build_args.clone());
    for message in warnings {
        progress(ProgressEvent::Warning {
            component: name.clone(),
            message,
        });
    }
    let ctx_dir = dir.clone();
    let max_context = options.max_context;
    let context = tokio::task::spawn_blocking(move || {
        BuildContext::create_within(&ctx_dir, &ignore, &extra, max_context)
    })
    .await
    .map_err(|e| ImageError::engine("making the build context", e))??;
    if let Some(message) = left_out_warning(&context.left_out) {
        progress(ProgressEvent::Warning {
            component: name.clone(),
            message,
        });
    }

    let mut bases = Vec::new();
    for image in base_images(&dockerfile_text, &build_args) {
        let id = backend.inspect(&image).await?.map(|d| d.id);
        bases.push((image, id));
    }
    let tag = match &options.tag {
        Some(t) => t.clone(),
        None => content_tag(&context.digest, &dockerfile_text, &build_args, &bases),
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
                probe: None,
                openapi_text: None,
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
    if component.dockerfile == DockerfileSource::Generated {
        // The Dockerfile that was built, for review and for `docker build -f` comparisons.
        let path = options.log_dir.join(format!("build-{name}.Dockerfile"));
        std::fs::write(&path, &dockerfile_text)
            .map_err(|e| ImageError::io(format!("writing {}", path.display()), e))?;
    }
    let log_file = std::fs::File::create(&log_path)
        .map_err(|e| ImageError::io(format!("creating {}", log_path.display()), e))?;
    let log = Arc::new(Mutex::new(log_file));
    let last_step: Arc<Mutex<Option<Step>>> = Arc::new(Mutex::new(None));

    let request = BuildRequest {
        reference: reference.clone(),
        dockerfile: dockerfile_path,
        build_args,
        labels: oci_labels(component, &tag, &context.digest),
        no_cache: options.no_cache,
        limits: options.limits,
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
            step: last_step.lock().ok().and_then(|s| s.clone()).map(Box::new),
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
        probe: None,
        openapi_text: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{ImageDetails, RegistryAuth};
    use std::collections::HashMap;

    /// An engine that runs scripted builds and records what it was asked.
    #[derive(Default)]
    struct FakeEngine {
        images: Mutex<HashMap<String, ImageDetails>>,
        built: Mutex<Vec<BuildRequest>>,
        contexts: Mutex<Vec<Vec<u8>>>,
        removed: Mutex<Vec<String>>,
        /// Lines to emit, and the error to end with (None: success).
        script: Vec<String>,
        fail: Option<String>,
        size: u64,
    }

    #[async_trait::async_trait]
    impl ImageBackend for FakeEngine {
        async fn ping(&self) -> Result<(), ImageError> {
            Ok(())
        }
        async fn inspect(&self, reference: &str) -> Result<Option<ImageDetails>, ImageError> {
            Ok(self.images.lock().unwrap().get(reference).cloned())
        }
        async fn build(
            &self,
            request: &BuildRequest,
            context: Vec<u8>,
            on_line: &(dyn for<'l> Fn(&'l str) + Send + Sync),
        ) -> Result<(), String> {
            assert!(!context.is_empty());
            self.built.lock().unwrap().push(request.clone());
            self.contexts.lock().unwrap().push(context);
            for l in &self.script {
                on_line(l);
            }
            if let Some(e) = &self.fail {
                return Err(e.clone());
            }
            self.images.lock().unwrap().insert(
                request.reference.clone(),
                ImageDetails {
                    id: "sha256:1".into(),
                    size: self.size,
                    ..Default::default()
                },
            );
            Ok(())
        }
        async fn remove(&self, reference: &str) -> Result<(), ImageError> {
            self.removed.lock().unwrap().push(reference.into());
            self.images.lock().unwrap().remove(reference);
            Ok(())
        }
        async fn tag(&self, _: &str, _: &str) -> Result<(), ImageError> {
            Ok(())
        }
        async fn push(&self, _: &str, _: &RegistryAuth) -> Result<(), String> {
            Ok(())
        }
        async fn export(&self, _: &str, _: &Path) -> Result<(), ImageError> {
            Ok(())
        }
    }

    fn project() -> (tempfile::TempDir, Vec<Component>) {
        let d = tempfile::tempdir().unwrap();
        let app = d.path().join("api");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(
            app.join("Dockerfile"),
            "FROM debian:bookworm-slim\nRUN true\n",
        )
        .unwrap();
        let components = crate::detect::detect(d.path()).unwrap().components;
        (d, components)
    }

    #[test]
    fn an_existing_dockerfile_that_links_out_of_the_context_is_refused_unread() {
        let (d, components) = project();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("id_rsa"), "CANARY-private-key").unwrap();
        let api = d.path().join("api");
        std::fs::remove_file(api.join("Dockerfile")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("id_rsa"), api.join("Dockerfile")).unwrap();
        let err = match prepare_dockerfile(&components[0], &api, &BuildOptions::for_dir(d.path())) {
            Err(e) => e.to_string(),
            Ok(p) => panic!("read through the link: {}", p.dockerfile),
        };
        assert!(
            err.contains("Dockerfile") && err.contains("outside the project"),
            "{err}"
        );
        assert!(!err.contains("CANARY"), "{err}");
    }

    fn quiet() -> Arc<dyn Fn(ProgressEvent) + Send + Sync> {
        Arc::new(|_| {})
    }

    #[tokio::test]
    async fn a_failed_build_names_the_step_and_keeps_the_log() {
        let (d, components) = project();
        let engine = FakeEngine {
            script: vec![
                "Step 1/2 : FROM debian:bookworm-slim\n".into(),
                "Step 2/2 : RUN true\n".into(),
                "something went wrong here\n".into(),
            ],
            fail: Some("The command '/bin/sh -c true' returned a non-zero code: 1".into()),
            ..Default::default()
        };
        let options = BuildOptions::for_dir(d.path());
        let results = build_all(&engine, d.path(), &components, &options, quiet()).await;
        let err = results.into_iter().next().unwrap().unwrap_err();
        let ImageError::BuildFailed {
            step, tail, log, ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(step.as_ref().unwrap().number, 2);
        assert!(tail.contains("something went wrong here"), "{tail}");
        let text = std::fs::read_to_string(log).unwrap();
        assert!(
            text.contains("Step 1/2") && text.contains("ERROR: The command"),
            "{text}"
        );
        assert!(log.starts_with(d.path().join(".justpush/logs")));
        assert!(err.to_string().contains("at step 2/2 `RUN true`"), "{err}");
    }

    #[tokio::test]
    async fn an_existing_content_tag_is_not_rebuilt() {
        let (d, components) = project();
        let engine = FakeEngine {
            size: 1000,
            ..Default::default()
        };
        let options = BuildOptions::for_dir(d.path());
        let first = build_all(&engine, d.path(), &components, &options, quiet()).await;
        let first = first.into_iter().next().unwrap().unwrap();
        assert!(!first.up_to_date);
        let second = build_all(&engine, d.path(), &components, &options, quiet()).await;
        let second = second.into_iter().next().unwrap().unwrap();
        assert!(second.up_to_date);
        assert_eq!(first.image, second.image);
        assert_eq!(engine.built.lock().unwrap().len(), 1);
        // A source change gives a new tag and a build.
        std::fs::write(d.path().join("api/new.txt"), "x").unwrap();
        let third = build_all(&engine, d.path(), &components, &options, quiet()).await;
        assert_ne!(third[0].as_ref().unwrap().image, first.image);
        assert_eq!(engine.built.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn an_oversize_image_is_removed() {
        let (d, components) = project();
        let engine = FakeEngine {
            size: 2_000,
            ..Default::default()
        };
        let mut options = BuildOptions::for_dir(d.path());
        options.max_size = 1_000;
        let results = build_all(&engine, d.path(), &components, &options, quiet()).await;
        let err = results.into_iter().next().unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::TooLarge {
                    size: 2_000,
                    budget: 1_000,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(engine.removed.lock().unwrap().len(), 1);
        assert!(engine.images.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_missing_local_wheelhouse_is_reported_before_building() {
        let d = tempfile::tempdir().unwrap();
        let app = d.path().join("api");
        std::fs::create_dir_all(app.join("app")).unwrap();
        std::fs::write(
            app.join("pyproject.toml"),
            "[project]\nname='api'\ndependencies=['fastapi','uvicorn']\n[tool.uv]\nno-index = true\nfind-links = ['wheelhouse']\n",
        )
        .unwrap();
        std::fs::write(app.join("uv.lock"), "version = 1\n").unwrap();
        std::fs::write(
            app.join("app/main.py"),
            "from fastapi import FastAPI\napp = FastAPI()\n",
        )
        .unwrap();
        let components = crate::detect::detect(d.path()).unwrap().components;
        let engine = FakeEngine::default();
        let options = BuildOptions::for_dir(d.path());
        let results = build_all(&engine, d.path(), &components, &options, quiet()).await;
        let err = results[0].as_ref().unwrap_err().to_string();
        assert!(
            err.contains("installs from `wheelhouse`") && err.contains("missing or empty"),
            "{err}"
        );
        assert!(engine.built.lock().unwrap().is_empty());
        std::fs::create_dir_all(app.join("wheelhouse")).unwrap();
        std::fs::write(app.join("wheelhouse/x-1-py3-none-any.whl"), "").unwrap();
        let results = build_all(&engine, d.path(), &components, &options, quiet()).await;
        assert!(results[0].is_ok(), "{:?}", results[0]);
    }

    fn tar_paths(tar: &[u8]) -> Vec<String> {
        tar::Archive::new(tar)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[tokio::test]
    async fn an_own_dockerfile_build_leaves_secrets_out_and_warns_loudly() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Dockerfile"), "FROM scratch\nCOPY . /app\n").unwrap();
        std::fs::write(
            d.path().join("justpush.yaml"),
            "kong:\n  adminToken: canary-admin-token\n",
        )
        .unwrap();
        std::fs::write(d.path().join(".env"), "API_KEY=canary\n").unwrap();
        std::fs::write(d.path().join("index.html"), "<p>hi</p>\n").unwrap();
        let components = crate::detect::detect(d.path()).unwrap().components;
        assert_eq!(components[0].dockerfile, DockerfileSource::Existing);
        let engine = FakeEngine::default();
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let seen = warnings.clone();
        let progress: Arc<dyn Fn(ProgressEvent) + Send + Sync> = Arc::new(move |e| {
            if let ProgressEvent::Warning { message, .. } = e {
                seen.lock().unwrap().push(message);
            }
        });
        let options = BuildOptions::for_dir(d.path());
        let results = build_all(&engine, d.path(), &components, &options, progress).await;
        assert!(results[0].is_ok(), "{:?}", results[0]);
        let paths = tar_paths(&engine.contexts.lock().unwrap()[0]);
        assert!(paths.contains(&"index.html".to_string()), "{paths:?}");
        assert!(
            !paths.iter().any(|p| p == "justpush.yaml" || p == ".env"),
            "{paths:?}"
        );
        let warnings = warnings.lock().unwrap();
        // Detection's checks of the Dockerfile come first, as build warnings too.
        assert!(
            warnings[0].contains("Dockerfile runs as root (its final stage sets no USER)"),
            "{warnings:?}"
        );
        let secrets: Vec<&String> = warnings
            .iter()
            .filter(|w| w.contains("SECRETS LEFT OUT"))
            .collect();
        assert_eq!(secrets.len(), 1, "{warnings:?}");
        assert!(
            secrets[0].contains("justpush.yaml (justpush's settings")
                && secrets[0].contains(".env (a local environment file)")
                && secrets[0].contains("add them to .dockerignore"),
            "{}",
            secrets[0]
        );
        assert!(!warnings.iter().any(|w| w.contains("canary")));
    }

    #[tokio::test]
    async fn an_edited_init_dockerfile_gets_the_base_images_as_build_args_and_says_why_no_ca() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("go.mod"),
            "module example.com/stockd\n\ngo 1.19\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("main.go"),
            "package main\n\nimport \"net/http\"\n\nfunc main() { http.ListenAndServe(\":8080\", nil) }\n",
        )
        .unwrap();
        let mut options = BuildOptions::for_dir(d.path());
        options.dockerfile.base_images.insert(
            crate::detect::Language::Go,
            crate::dockerfile::BaseImageOverride {
                builder: Some("mirror.example/golang:1.19".into()),
                runtime: Some("mirror.example/debian:bookworm".into()),
            },
        );
        options.ca_bundle = Some(b"-----BEGIN CERTIFICATE-----\n".to_vec());
        crate::dockerfile::init::init(d.path(), &Default::default()).unwrap();

        // Unedited: regenerated with the flags, the bundle injected.
        let components = crate::detect::detect(d.path()).unwrap().components;
        let prepared = prepare_dockerfile(&components[0], d.path(), &options).unwrap();
        assert_eq!(prepared.dockerfile_path, GENERATED_DOCKERFILE);
        assert!(prepared.dockerfile.contains("mirror.example/golang:1.19"));
        assert!(prepared.extra.iter().any(|f| f.path == CA_BUNDLE_FILE));
        assert!(prepared.build_args.is_empty());

        // Edited: used as given, the base images as build arguments, the bundle refused with
        // the way back.
        let path = d.path().join("Dockerfile");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}LABEL team=stock\n")).unwrap();
        let components = crate::detect::detect(d.path()).unwrap().components;
        assert_eq!(components[0].dockerfile, DockerfileSource::Existing);
        let engine = FakeEngine::default();
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let seen = warnings.clone();
        let progress: Arc<dyn Fn(ProgressEvent) + Send + Sync> = Arc::new(move |e| {
            if let ProgressEvent::Warning { message, .. } = e {
                seen.lock().unwrap().push(message);
            }
        });
        options
            .build_args
            .insert("RUNTIME_IMAGE".into(), "mine/debian:12".into());
        let results = build_all(&engine, d.path(), &components, &options, progress).await;
        assert!(results[0].is_ok(), "{:?}", results[0]);
        let req = engine.built.lock().unwrap()[0].clone();
        assert_eq!(req.dockerfile, "Dockerfile");
        assert_eq!(
            req.build_args["BUILDER_IMAGE"],
            "mirror.example/golang:1.19"
        );
        assert_eq!(
            req.build_args["RUNTIME_IMAGE"], "mine/debian:12",
            "--build-arg wins over the derived argument"
        );
        let warnings = warnings.lock().unwrap().join("\n");
        assert!(
            warnings.contains("--ca-bundle is not applied: Dockerfile was written by `kubectl justpush init` and edited since")
                && warnings.contains("delete it and run `kubectl justpush init` again"),
            "{warnings}"
        );
        assert!(
            warnings.contains("Dockerfile was written by `kubectl justpush init` and edited since, so it is used as given"),
            "detection's warning reaches the build: {warnings}"
        );
    }

    #[tokio::test]
    async fn a_generated_build_does_not_even_upload_secrets() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("package.json"),
            r#"{"name":"web","scripts":{"start":"node server.js"}}"#,
        )
        .unwrap();
        std::fs::write(d.path().join("server.js"), "require('http')\n").unwrap();
        std::fs::write(d.path().join("justpush.yaml"), "kong:\n  adminToken: x\n").unwrap();
        // The project's own .dockerignore re-includes it: justpush's additions come last.
        std::fs::write(d.path().join(".dockerignore"), "!justpush.yaml\n").unwrap();
        let components = crate::detect::detect(d.path()).unwrap().components;
        let engine = FakeEngine::default();
        let options = BuildOptions::for_dir(d.path());
        let results = build_all(&engine, d.path(), &components, &options, quiet()).await;
        assert!(results[0].is_ok(), "{:?}", results[0]);
        let paths = tar_paths(&engine.contexts.lock().unwrap()[0]);
        assert!(paths.contains(&"server.js".to_string()), "{paths:?}");
        assert!(!paths.contains(&"justpush.yaml".to_string()), "{paths:?}");
        assert_eq!(
            engine.built.lock().unwrap()[0].limits,
            BuildLimits::default()
        );
    }

    #[tokio::test]
    async fn labels_and_build_args_reach_the_engine() {
        let (d, components) = project();
        let engine = FakeEngine::default();
        let mut options = BuildOptions::for_dir(d.path());
        options.build_args.insert("A".into(), "1".into());
        options.tag = Some("v1".into());
        let results = build_all(&engine, d.path(), &components, &options, quiet()).await;
        assert_eq!(results[0].as_ref().unwrap().image, "justpush/api:v1");
        let req = engine.built.lock().unwrap()[0].clone();
        assert_eq!(req.build_args["A"], "1");
        assert_eq!(req.dockerfile, "Dockerfile");
        assert_eq!(req.labels["org.opencontainers.image.title"], "api");
        assert_eq!(req.labels["org.opencontainers.image.version"], "v1");
    }
}
