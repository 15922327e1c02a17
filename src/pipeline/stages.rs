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
    /// Where the probe of each built image leaves what it found, for the Deploy stage.
    pub probed: ProbeFindings,
}

/// What the Build stage's probes found, by component: the chart values' port and health
/// check come from it, and a runtime OpenAPI document read from the probe container gives the
/// first revision its routes.
pub type ProbeFindings =
    std::sync::Arc<std::sync::Mutex<BTreeMap<String, (image::probe::ProbeResult, Option<String>)>>>;

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
        ProgressEvent::Probed { result, .. } => format!("probed: {}", result.summary()),
    }
}

#[async_trait(?Send)]
impl ImageBuilder for EngineBuilder<'_> {
    async fn build(
        &self,
        component: &ComponentPlan,
        log: &mut dyn StageLog,
    ) -> Result<BuiltImage, StageError> {
        let components = [component.detected.clone()];
        let results = super::progress::relay(
            |tx| {
                let progress: Arc<dyn Fn(ProgressEvent) + Send + Sync> = Arc::new(move |e| {
                    let _ = tx.send(e);
                });
                image::build_all(
                    self.backend,
                    &self.root,
                    &components,
                    &self.options,
                    progress,
                )
            },
            |e: ProgressEvent| log.line(&describe(&e)),
        )
        .await;
        match results.into_iter().next() {
            Some(Ok(b)) => Ok({
                if let (Some(result), Ok(mut probed)) = (&b.probe, self.probed.lock()) {
                    probed.insert(
                        b.component.clone(),
                        (result.clone(), b.openapi_text.clone()),
                    );
                }
                BuiltImage {
                    component: b.component,
                    reference: b.image,
                    id: b.id,
                    new: !b.up_to_date,
                }
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

// ------------------------------------------------------------------------------------------
// Deploy through `kube::action::deploy_release`; Configure by checking Kong serves the routes.

use super::progress::Event;
use super::shell::KubeApi;
use super::{
    AppPlan, DeployError, Deployed, Deployer, Gateway, GatewayConfigurer, KongState, Rollback,
};
use crate::detect::config::AppConfig;
use crate::kube::action::{self as kdeploy, Cleanup, DeployProgress, DeployRequest};
use crate::kube::record::{RecordEvent, RecordStore, KEEP_SECRET};
use serde_json::Map;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The app's settings: `justpush.yaml` when the project has one, else what detection found.
pub fn app_config(
    root: &std::path::Path,
    release: &str,
    detected: &crate::detect::DetectedApp,
) -> Result<AppConfig, String> {
    let file = root.join(crate::detect::config::CONFIG_FILE);
    let mut app = if file.is_file() {
        let mut app = AppConfig::load(&file).map_err(|e| e.to_string())?;
        // Components without a `writable` list keep the volumes detection found.
        app.fill_writable_from(detected);
        app
    } else {
        AppConfig::from_detected(release, detected)
    };
    app.name = release.to_string();
    Ok(app)
}

/// Secret values from this process's environment (one variable per secret name), never argv;
/// unset ones keep what the cluster has.
pub fn secrets_from_env(app: &AppConfig) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for c in &app.components {
        for e in c.env.iter().filter(|e| e.secret) {
            let v = std::env::var(&e.name).unwrap_or_else(|_| KEEP_SECRET.to_string());
            out.entry(c.name.clone())
                .or_insert_with(BTreeMap::new)
                .insert(e.name.clone(), v);
        }
    }
    out
}

/// Runtime OpenAPI documents cached in `spec_cache` (`<state>/specs`) for these exact images:
/// read from the built image by the probe, or from the running service, by an earlier `up`.
pub fn cached_specs(
    spec_cache: &std::path::Path,
    images: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    images
        .iter()
        .filter_map(|(c, image)| {
            std::fs::read_to_string(spec_cache.join(spec_cache_name(image)))
                .ok()
                .map(|t| (c.clone(), t))
        })
        .collect()
}

/// Deploys the bundled chart with the built images.
pub struct KubeDeployer<'a> {
    pub api: &'a KubeApi,
    pub app: AppConfig,
    pub timeout: Duration,
    /// Where runtime OpenAPI documents are kept, per image (`<state>/specs`).
    pub spec_cache: PathBuf,
    pub interrupt: CancellationToken,
    pub abort: CancellationToken,
    /// What the Build stage's probes found (empty when they were skipped).
    pub probed: ProbeFindings,
}

fn record_events(events: &[Event]) -> Vec<RecordEvent> {
    events
        .iter()
        .filter(|e| e.status.is_final())
        .map(|e| {
            // The status as the JSON events spell it (`succeeded`, `failed`, ...).
            let status = serde_json::to_value(e.status)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let said = format!("{status} {}", e.message);
            let message = match &e.component {
                Some(c) => format!("{c}: {said}"),
                None => said,
            };
            RecordEvent {
                time: e.timestamp.clone(),
                stage: e.stage.title().to_string(),
                message: message.trim().to_string(),
            }
        })
        .collect()
}

#[async_trait(?Send)]
impl Deployer for KubeDeployer<'_> {
    async fn deploy(
        &self,
        plan: &AppPlan,
        images: &[PublishedImage],
        events: &[Event],
        log: &mut dyn StageLog,
    ) -> Result<Deployed, DeployError> {
        let refused = |m: String| DeployError {
            error: StageError::new(m),
            rollback: Rollback::NothingChanged,
        };
        let client = self.api.client().await.map_err(|e| refused(e.message))?;
        let images: BTreeMap<String, String> = images
            .iter()
            .map(|i| (i.component.clone(), i.reference.clone()))
            .collect();
        let mut runtime = self.cached_specs(&images);
        // A runtime document the probe read from the built image: cached like one read from
        // the cluster, so the first revision has its routes.
        for (component, text) in self.probed_specs() {
            if runtime.contains_key(&component) {
                continue;
            }
            if let Some(image) = images.get(&component) {
                log.line(&format!(
                    "{component}: routes from the OpenAPI document the probe read"
                ));
                let _ = std::fs::create_dir_all(&self.spec_cache);
                let _ = std::fs::write(self.spec_cache.join(spec_cache_name(image)), &text);
                runtime.insert(component, text);
            }
        }
        let first = self
            .deploy_once(
                &client,
                plan,
                &images,
                &runtime,
                events,
                "kubectl justpush up",
                log,
            )
            .await?;
        // Runtime specs can only be read from the running service: read them now, and deploy
        // the routes they give as the next revision (cached per image, so the next `up` of the
        // same images needs one revision).
        let missing: Vec<&crate::detect::config::ComponentConfig> = self
            .app
            .components
            .iter()
            .filter(|c| matches!(c.openapi, Some(crate::detect::OpenApi::Runtime(_))))
            .filter(|c| images.contains_key(&c.name) && !runtime.contains_key(&c.name))
            .collect();
        if missing.is_empty() {
            return Ok(first);
        }
        for c in missing {
            let Some(crate::detect::OpenApi::Runtime(path)) = &c.openapi else {
                continue;
            };
            match fetch_runtime_spec(&client, &plan.namespace, &plan.release, &c.name, path).await {
                Ok(text) => {
                    log.line(&format!("{}: read its OpenAPI document ({path})", c.name));
                    if let Some(image) = images.get(&c.name) {
                        let file = self.spec_cache.join(spec_cache_name(image));
                        let _ = std::fs::create_dir_all(&self.spec_cache);
                        let _ = std::fs::write(&file, &text);
                    }
                    runtime.insert(c.name.clone(), text);
                }
                Err(e) => log.line(&format!(
                    "warning: {}: could not read its OpenAPI document ({e}); Kong keeps the prefix route",
                    c.name
                )),
            }
        }
        if runtime.is_empty() {
            return Ok(first);
        }
        if let Err(m) =
            crate::chart::release_values::route_values(&plan.source, &self.app, &runtime)
        {
            // Revision 1 (the chart's prefix routes from justpush.yaml) stays; nothing the
            // refused document asks for reaches Kong.
            return Err(refused(format!(
                "{m}\nthe release keeps revision {} (the chart's prefix routes from justpush.yaml); nothing from the OpenAPI document was applied",
                first.revision
            )));
        }
        log.line("deploying the routes from the OpenAPI document(s)");
        let mut second = self
            .deploy_once(
                &client,
                plan,
                &images,
                &runtime,
                events,
                "routes from the OpenAPI spec",
                log,
            )
            .await?;
        second.key_created |= first.key_created;
        Ok(second)
    }

    async fn record_events(&self, deployed: &Deployed, events: &[Event]) -> Result<(), StageError> {
        let client = self.api.client().await?;
        let store = RecordStore::new(client, &deployed.namespace, &deployed.release);
        let records = store
            .list()
            .await
            .map_err(|e| StageError::new(e.to_string()))?;
        let Some(mut record) = records
            .into_iter()
            .find(|r| u64::from(r.revision) == deployed.revision)
        else {
            return Err(StageError::new(format!(
                "no record of revision {}",
                deployed.revision
            )));
        };
        // The record holds the run up to Deploy already (given to the deploy); add what came
        // after it.
        let after: Vec<Event> = events
            .iter()
            .filter(|e| e.stage == super::progress::Stage::Configure)
            .cloned()
            .collect();
        if !after.is_empty() {
            record.events.extend(record_events(&after));
            store
                .save(&record)
                .await
                .map_err(|e| StageError::new(e.to_string()))?;
        }
        Ok(())
    }
}

/// The cache file name of an image's runtime spec.
pub fn spec_cache_name(image: &str) -> String {
    let safe: String = image
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.openapi")
}

/// Reads a component's runtime OpenAPI document through the API server's service proxy (the
/// service is not reachable from outside the cluster, and Kong may not route that path).
pub async fn fetch_runtime_spec(
    client: &kube::Client,
    namespace: &str,
    release: &str,
    component: &str,
    path: &str,
) -> Result<String, String> {
    use k8s_openapi::api::core::v1::Service;
    let services: kube::Api<Service> = kube::Api::namespaced(client.clone(), namespace);
    let lp = kube::api::ListParams::default().labels(&format!(
        "app.kubernetes.io/instance={release},app.kubernetes.io/component={component}"
    ));
    let list = services.list(&lp).await.map_err(|e| e.to_string())?;
    let svc = list
        .items
        .first()
        .ok_or_else(|| format!("no Service of component {component}"))?;
    let name = svc.metadata.name.clone().unwrap_or_default();
    let port = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|p| p.first())
        .map(|p| p.port)
        .ok_or_else(|| format!("Service {name} has no port"))?;
    let uri = format!(
        "/api/v1/namespaces/{namespace}/services/{name}:{port}/proxy/{}",
        path.trim_start_matches('/')
    );
    let req = http::Request::get(uri)
        .body(kube::client::Body::from(Vec::new()))
        .map_err(|e| e.to_string())?;
    // The raw answer, not `request_text`: an error from the service itself (FastAPI's
    // `{"detail":"Not Found"}`) is no Kubernetes Status, and kube would report it as "HTTP 0".
    let read = async {
        let res = client.send(req).await.map_err(|e| e.to_string())?;
        let status = res.status();
        let body = res
            .into_body()
            .collect_bytes()
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((status, body))
    };
    let (status, body) = tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .map_err(|_| "no answer within 20 s".to_string())??;
    let text = String::from_utf8_lossy(&body).into_owned();
    if !status.is_success() {
        return Err(proxy_error(status.as_u16(), &text));
    }
    crate::kong::spec::ApiSpec::parse(&text, path).map_err(|e| e.to_string())?;
    Ok(text)
}

/// An error answer of the service proxy as one line: the API server's own Status message
/// (no endpoints, no such Service), or the start of what the service answered.
fn proxy_error(code: u16, body: &str) -> String {
    let status: Option<kube::core::Status> = serde_json::from_str(body)
        .ok()
        .filter(|s: &kube::core::Status| s.code != 0);
    match status {
        Some(s) => format!("the service proxy answered HTTP {code}: {}", s.message),
        None => {
            let start: String = body.trim().chars().take(200).collect();
            format!("the service answered HTTP {code} through the API server's proxy: {start}")
        }
    }
}

impl KubeDeployer<'_> {
    /// Runtime OpenAPI documents the probe read, for components whose settings say their
    /// document is served at runtime (others keep the routes their settings give).
    fn probed_specs(&self) -> Vec<(String, String)> {
        let Ok(probed) = self.probed.lock() else {
            return Vec::new();
        };
        self.app
            .components
            .iter()
            .filter(|c| matches!(c.openapi, Some(crate::detect::OpenApi::Runtime(_))))
            .filter_map(|c| {
                let (_, text) = probed.get(&c.name)?;
                Some((c.name.clone(), text.clone()?))
            })
            .collect()
    }

    /// Runtime specs cached for these exact images.
    fn cached_specs(&self, images: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        cached_specs(&self.spec_cache, images)
    }

    #[allow(clippy::too_many_arguments)]
    async fn deploy_once(
        &self,
        client: &kube::Client,
        plan: &AppPlan,
        images: &BTreeMap<String, String>,
        runtime: &BTreeMap<String, String>,
        events: &[Event],
        description: &str,
        log: &mut dyn StageLog,
    ) -> Result<Deployed, DeployError> {
        let refused = |m: String| DeployError {
            error: StageError::new(m),
            rollback: Rollback::NothingChanged,
        };
        let probes = match self.probed.lock() {
            Ok(p) => p.iter().map(|(c, (r, _))| (c.clone(), r.clone())).collect(),
            Err(_) => BTreeMap::new(),
        };
        let made = crate::chart::release_values::release_values(
            &self.app,
            &crate::chart::release_values::ValueSources {
                root: Some(&plan.source),
                images: images.clone(),
                secrets: secrets_from_env(&self.app),
                runtime_specs: runtime.clone(),
                probes,
                user: Map::new(),
            },
        )
        .map_err(|e| refused(e.to_string()))?;
        let mut values = made.values;
        // Route notes here; the app's notes come back as the deploy's warnings, shown there.
        for n in made.route_notes {
            log.line(&n);
        }
        let (consumer, created) = self.consumer_values(client, plan).await.map_err(refused)?;
        crate::chart::app_values::merge_values(&mut values, &consumer);
        let chart = crate::chart::load::Chart::bundled().map_err(|e| refused(e.to_string()))?;
        let mut req = DeployRequest::new(&plan.release, &plan.namespace, chart, values);
        req.images = images.clone();
        req.timeout = self.timeout;
        req.description = description.into();
        req.events = record_events(events);
        req.interrupt = self.interrupt.clone();
        req.abort = self.abort.clone();
        let show = |p: DeployProgress| match p {
            DeployProgress::Step(s) => s,
            DeployProgress::Component {
                name,
                ready,
                desired,
            } => format!("{name}: {ready}/{desired} ready"),
            DeployProgress::Warning(w) => format!("warning: {w}"),
        };
        let result = super::progress::relay(
            |tx| async move {
                let mut send = move |p: DeployProgress| {
                    let _ = tx.send(p);
                };
                kdeploy::deploy_release(client, req, &mut send).await
            },
            |p| log.line(&show(p)),
        )
        .await;
        let o = result.map_err(|e| stage_error(e, refused))?;
        for w in &o.warnings {
            log.line(&format!("warning: {w}"));
        }
        Ok(Deployed {
            release: plan.release.clone(),
            namespace: plan.namespace.clone(),
            revision: u64::from(o.revision),
            api_key_secret: o.api_key_secret,
            key_created: created,
        })
    }

    /// The consumer's credential: kept when the cluster has one, generated otherwise, and
    /// rendered into the chart so the key `up` prints is the one Kong gets. True when created.
    async fn consumer_values(
        &self,
        client: &kube::Client,
        plan: &AppPlan,
    ) -> Result<(Map<String, serde_json::Value>, bool), String> {
        use crate::detect::config::AuthType;
        use crate::kong::credentials::{consumer_values, plan_for_deploy, KubeStore, Outcome};
        use crate::kong::derive::CredentialKind;
        let kinds: Vec<CredentialKind> = match self.app.kong.auth {
            AuthType::KeyAuth => vec![CredentialKind::KeyAuth],
            AuthType::Jwt => vec![CredentialKind::Jwt],
            AuthType::None => vec![],
        };
        let store = KubeStore {
            client: client.clone(),
        };
        let plans = plan_for_deploy(&store, &plan.namespace, &plan.release, &kinds)
            .await
            .map_err(|e| e.to_string())?;
        let created = plans.iter().any(|p| p.outcome == Outcome::Created);
        let values = consumer_values(&plans)
            .as_object()
            .cloned()
            .unwrap_or_default();
        Ok((values, created))
    }
}

/// The Deploy stage's error for the deploy action's: what the rollback did, as the pipeline
/// reports it.
fn stage_error(e: kdeploy::DeployError, refused: impl Fn(String) -> DeployError) -> DeployError {
    let failed = |message: String, rollback: String| DeployError {
        error: StageError::new(message),
        rollback: Rollback::Failed(rollback),
    };
    match e {
        kdeploy::DeployError::Failed {
            message, cleanup, ..
        } => DeployError {
            error: StageError::new(message),
            rollback: match cleanup {
                Cleanup::Removed { .. } => Rollback::Deleted,
                Cleanup::Restored { revision } => Rollback::RestoredRevision(u64::from(revision)),
                Cleanup::RestoreIncomplete { revision, problem } => Rollback::Failed(format!(
                    "revision {revision} was re-applied but is not ready: {problem}"
                )),
                Cleanup::RemovalIncomplete { left } => Rollback::Failed(format!(
                    "removing the first install did not finish; left: {}",
                    left.join("; ")
                )),
            },
        },
        kdeploy::DeployError::Refused(m) => refused(m),
        e @ kdeploy::DeployError::LeaseLost { .. } => failed(
            e.to_string(),
            "not rolled back: another deploy took the release over".into(),
        ),
        e => failed(e.to_string(), "aborted before the rollback finished".into()),
    }
}

/// How long Configure waits for Kong to serve the app's routes.
pub const GATEWAY_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Configure: reads the consumer's key from its Secret and waits until the gateway refuses a
/// keyless request (401) and serves the keyed one on the first secured route.
pub struct KongGatewayCheck<'a> {
    pub api: &'a KubeApi,
    pub app: AppConfig,
    pub timeout: Duration,
    /// Overrides the URL bootstrap found.
    pub gateway_url: Option<String>,
}

/// The first route that requires the credential (`/api` for the demo backend).
pub fn secured_probe_path(app: &AppConfig) -> Option<String> {
    app.components
        .iter()
        .filter_map(|c| c.route.as_ref())
        .find(|r| r.auth)
        .map(|r| r.path.clone())
}

/// Is the pair of answers (without key, with key) what a configured gateway gives?
pub fn gateway_configured(without_key: u16, with_key: u16) -> bool {
    without_key == 401 && with_key != 401 && with_key != 403 && with_key < 500
}

#[async_trait(?Send)]
impl GatewayConfigurer for KongGatewayCheck<'_> {
    async fn configure(
        &self,
        _plan: &AppPlan,
        deployed: &Deployed,
        kong: &KongState,
        log: &mut dyn StageLog,
    ) -> Result<Gateway, StageError> {
        use k8s_openapi::api::core::v1::Secret;
        let Some(secret) = &deployed.api_key_secret else {
            return Err(StageError::new(
                "the release has no consumer credential Secret (kong.auth.type none?)",
            ));
        };
        let client = self.api.client().await?;
        let secrets: kube::Api<Secret> = kube::Api::namespaced(client, &deployed.namespace);
        let s = secrets.get(secret).await.map_err(|e| {
            StageError::new(format!(
                "reading Secret {}/{secret}: {e}",
                deployed.namespace
            ))
        })?;
        let key = s
            .data
            .as_ref()
            .and_then(|d| d.get("key"))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .ok_or_else(|| {
                StageError::new(format!(
                    "Secret {}/{secret} has no `key`",
                    deployed.namespace
                ))
            })?;
        let key = super::ApiKey::new(key);
        let url = self
            .gateway_url
            .as_deref()
            .unwrap_or(&kong.gateway_url)
            .trim_end_matches('/')
            .to_string();
        let Some(path) = secured_probe_path(&self.app) else {
            log.line("no route requires the credential; nothing to check");
            return Ok(Gateway {
                url,
                api_key: key,
                key_created: deployed.key_created,
            });
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| StageError::new(e.to_string()))?;
        let probe = format!("{url}{path}");
        log.line(&format!(
            "waiting for Kong to serve {probe} (401 without the key)"
        ));
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut last = String::from("no answer yet");
        // Kong loads new configuration asynchronously and offers no event to wait on from
        // outside the cluster; ask once a second until the deadline.
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        while tokio::time::Instant::now() < deadline {
            tick.tick().await;
            let without = http.get(&probe).send().await.map(|r| r.status().as_u16());
            let with = http
                .get(&probe)
                .header("apikey", key.expose())
                .send()
                .await
                .map(|r| r.status().as_u16());
            match (without, with) {
                (Ok(a), Ok(b)) if gateway_configured(a, b) => {
                    log.line(&format!("{probe}: {a} without the key, {b} with it"));
                    return Ok(Gateway {
                        url,
                        api_key: key,
                        key_created: deployed.key_created,
                    });
                }
                (Ok(a), Ok(b)) => last = format!("{a} without the key, {b} with it"),
                (Err(e), _) | (_, Err(e)) => last = e.to_string(),
            }
        }
        // The controller's Events say why, when it refused one of our objects (best effort:
        // the timeout above is the failure to report either way).
        let refused = match self.api.client().await {
            Ok(client) => crate::kube::manage::kong_rejections(
                &client,
                &deployed.namespace,
                &deployed.release,
            )
            .await
            .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let why = if refused.is_empty() {
            "check `kubectl -n kong logs deploy/kong-kong -c ingress-controller`".to_string()
        } else {
            let list: Vec<String> = refused
                .iter()
                .map(|f| format!("{}: {}", f.object, f.problem))
                .collect();
            format!(
                "{}; fix it and run `kubectl justpush up` again",
                list.join("; ")
            )
        };
        Err(StageError::new(format!(
            "Kong did not serve {probe} as configured within {} s (last: {last}); {why}",
            self.timeout.as_secs()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::proxy_error;

    #[test]
    fn a_proxy_error_quotes_the_api_servers_status_or_the_services_own_answer() {
        let status = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"no endpoints available for service \"api\"","reason":"ServiceUnavailable","code":503}"#;
        assert_eq!(
            proxy_error(503, status),
            "the service proxy answered HTTP 503: no endpoints available for service \"api\""
        );
        assert_eq!(
            proxy_error(404, "{\"detail\":\"Not Found\"}\n"),
            "the service answered HTTP 404 through the API server's proxy: {\"detail\":\"Not Found\"}"
        );
        let long = "#".repeat(500);
        assert_eq!(proxy_error(500, &long).matches("#").count(), 200);
    }
}
