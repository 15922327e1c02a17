//! The `up` pipeline's orchestration: success, and a failure at each stage with its cleanup.
//! The first group uses fake stages that record what they were asked to do; the second builds
//! real images through the Docker engine and pushes them to the real registry on
//! 127.0.0.1:5000 (scripts/test-docker.sh prepares both), with fake cluster-side stages.

use async_trait::async_trait;
use justpush::detect::{Component, DockerfileSource};
use justpush::pipeline::plan::{AppPlan, ComponentPlan};
use justpush::pipeline::progress::{self, Event, Progress, ProgressOutput, Shown, Stage, Status};
use justpush::pipeline::{
    self as pl, ApiKey, BuiltImage, ClusterBootstrap, DeployError, Deployed, Deployer, Gateway,
    GatewayConfigurer, ImageBuilder, ImagePublisher, KongState, PublishedImage, Rollback,
    StageError, StageLog, Stages,
};
use std::cell::RefCell;
use std::path::{Path, PathBuf};

#[derive(Default)]
struct Calls(RefCell<Vec<String>>);
impl Calls {
    fn push(&self, s: impl Into<String>) {
        self.0.borrow_mut().push(s.into());
    }
    fn all(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// Which stage fails, if any.
#[derive(Default, Clone, Copy, PartialEq)]
enum FailAt {
    #[default]
    Nowhere,
    BuildSecond,
    Cluster,
    Kong,
    PushSecond,
    Deploy,
    Configure,
}

struct Fakes<'c> {
    calls: &'c Calls,
    fail: FailAt,
    /// Components whose image existed before the run (content tag hit).
    cached: Vec<&'static str>,
    /// A step that never finishes on its own (it waits to be cancelled).
    hang: Option<Hang>,
}

/// Where a fake stage hangs, and how the test learns that it got there.
struct Hang {
    at: HangAt,
    reached: tokio::sync::Notify,
}

#[derive(Clone, Copy, PartialEq)]
enum HangAt {
    BuildSecond,
    Cluster,
    PushSecond,
    /// Removing an image during Build's cleanup.
    Remove,
}

impl Fakes<'_> {
    /// Hangs here if this is the hanging step: tells the test, then waits until the pipeline
    /// drops the future (recorded as "<what> cancelled").
    async fn maybe_hang(&self, at: HangAt, what: &str) {
        let Some(h) = self.hang.as_ref().filter(|h| h.at == at) else {
            return;
        };
        struct OnDrop<'a>(&'a Calls, String);
        impl Drop for OnDrop<'_> {
            fn drop(&mut self) {
                self.0.push(format!("{} cancelled", self.1));
            }
        }
        let _guard = OnDrop(self.calls, what.to_string());
        h.reached.notify_one();
        std::future::pending::<()>().await;
    }
}

#[async_trait(?Send)]
impl ImageBuilder for Fakes<'_> {
    async fn build(
        &self,
        c: &ComponentPlan,
        log: &mut dyn StageLog,
    ) -> Result<BuiltImage, StageError> {
        self.calls.push(format!("build {}", c.name));
        log.line("step 1/2 FROM base");
        if c.name == "frontend" {
            self.maybe_hang(HangAt::BuildSecond, "build frontend").await;
        }
        if self.fail == FailAt::BuildSecond && c.name == "frontend" {
            return Err(StageError {
                message: "step 2/2 `RUN npm ci` failed: exit 1".into(),
                log: Some(PathBuf::from("/tmp/build-frontend.log")),
            });
        }
        Ok(BuiltImage {
            component: c.name.clone(),
            reference: format!("justpush/{}:t1", c.name),
            id: format!("sha256:{}", c.name),
            new: !self.cached.contains(&c.name.as_str()),
        })
    }
    async fn remove(&self, image: &BuiltImage) -> Result<(), StageError> {
        self.calls.push(format!("remove {}", image.reference));
        self.maybe_hang(HangAt::Remove, &format!("remove {}", image.reference))
            .await;
        Ok(())
    }
}

#[async_trait(?Send)]
impl ClusterBootstrap for Fakes<'_> {
    async fn ensure_cluster(&self, _log: &mut dyn StageLog) -> Result<String, StageError> {
        self.calls.push("cluster");
        self.maybe_hang(HangAt::Cluster, "cluster").await;
        if self.fail == FailAt::Cluster {
            return Err(StageError::new(
                "`kind create cluster` failed (exit 1): no space left",
            ));
        }
        Ok("kind cluster justpush (created)".into())
    }
    async fn ensure_kong(&self, _log: &mut dyn StageLog) -> Result<KongState, StageError> {
        self.calls.push("kong");
        if self.fail == FailAt::Kong {
            return Err(StageError::new(
                "Deployment kong/kong-kong was not ready within 300 s",
            ));
        }
        Ok(KongState {
            installed_now: true,
            version: "3.4.1".into(),
            gateway_url: "http://localhost:8080".into(),
        })
    }
}

#[async_trait(?Send)]
impl ImagePublisher for Fakes<'_> {
    fn describe(&self) -> String {
        "push to localhost:5001".into()
    }
    async fn publish(
        &self,
        img: &BuiltImage,
        _log: &mut dyn StageLog,
    ) -> Result<PublishedImage, StageError> {
        self.calls.push(format!("push {}", img.reference));
        if img.component == "frontend" {
            self.maybe_hang(HangAt::PushSecond, "push frontend").await;
        }
        if self.fail == FailAt::PushSecond && img.component == "frontend" {
            return Err(StageError::new(
                "registry localhost:5001 unreachable: connection refused",
            ));
        }
        Ok(PublishedImage {
            component: img.component.clone(),
            reference: format!("localhost:5001/{}", img.reference),
        })
    }
}

#[async_trait(?Send)]
impl Deployer for Fakes<'_> {
    async fn deploy(
        &self,
        plan: &AppPlan,
        images: &[PublishedImage],
        events: &[Event],
        log: &mut dyn StageLog,
    ) -> Result<Deployed, DeployError> {
        // The deployer gets the run so far for the release record.
        assert!(events
            .iter()
            .any(|e| e.stage == Stage::Push && e.status == Status::Succeeded));
        self.calls.push(format!(
            "deploy {} [{}]",
            plan.release,
            images
                .iter()
                .map(|i| i.reference.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        log.line("waiting for 2 Deployments");
        if self.fail == FailAt::Deploy {
            return Err(DeployError {
                error: StageError::new(
                    "backend: CrashLoopBackOff: ModuleNotFoundError: No module named 'app'",
                ),
                rollback: Rollback::Deleted,
            });
        }
        Ok(Deployed {
            release: plan.release.clone(),
            namespace: plan.namespace.clone(),
            revision: 1,
            api_key_secret: Some("demo-consumer-key".into()),
            key_created: true,
        })
    }
    async fn record_events(&self, d: &Deployed, events: &[Event]) -> Result<(), StageError> {
        self.calls.push(format!(
            "record {} events for revision {}",
            events.len(),
            d.revision
        ));
        Ok(())
    }
}

#[async_trait(?Send)]
impl GatewayConfigurer for Fakes<'_> {
    async fn configure(
        &self,
        _plan: &AppPlan,
        d: &Deployed,
        kong: &KongState,
        _log: &mut dyn StageLog,
    ) -> Result<Gateway, StageError> {
        self.calls.push(format!(
            "configure revision {} at {}",
            d.revision, kong.gateway_url
        ));
        if self.fail == FailAt::Configure {
            return Err(StageError::new(
                "Kong answered 404 for /api/tasks after 60 s",
            ));
        }
        Ok(Gateway {
            url: "http://localhost:8080".into(),
            api_key: ApiKey::new("secret-key-123"),
            key_created: true,
        })
    }
}

struct Sink(std::rc::Rc<RefCell<String>>);
impl ProgressOutput for Sink {
    fn write(&mut self, shown: &Shown) {
        if let Some(s) = &shown.stderr {
            self.0.borrow_mut().push_str(s);
        }
        if let Some(s) = &shown.stdout {
            self.0.borrow_mut().push_str(s);
        }
    }
}

fn component(name: &str) -> ComponentPlan {
    ComponentPlan {
        name: name.into(),
        context: PathBuf::from(format!("/src/{name}")),
        image: format!("justpush/{name}"),
        tag: "<content tag>".into(),
        detected: Component {
            name: name.into(),
            path: name.into(),
            language: None,
            framework: None,
            port: 8000,
            dockerfile: DockerfileSource::Existing,
            start: String::new(),
            health: "/".into(),
            openapi: None,
            env: vec![],
            build: None,
            writable_paths: Vec::new(),
            port_source: "Dockerfile EXPOSE".into(),
            health_source: "guessed: no health route in the sources".into(),
            warnings: Vec::new(),
        },
    }
}

fn plan(names: &[&str], root: &Path) -> AppPlan {
    AppPlan {
        release: "demo".into(),
        namespace: "demo".into(),
        source: root.to_path_buf(),
        components: names.iter().map(|n| component(n)).collect(),
    }
}

async fn run_with(
    fakes: &Fakes<'_>,
    state: &Path,
) -> (Result<pl::Outcome, pl::Failure>, Vec<Event>, String) {
    run_with_signals(fakes, state, &pl::Interrupts::default()).await
}

async fn run_with_signals(
    fakes: &Fakes<'_>,
    state: &Path,
    signals: &pl::Interrupts,
) -> (Result<pl::Outcome, pl::Failure>, Vec<Event>, String) {
    let out = std::rc::Rc::new(RefCell::new(String::new()));
    let log = progress::RunLog::create(state, "run1").unwrap();
    let mut p = Progress::new(
        Box::new(progress::EventLines),
        Box::new(Sink(out.clone())),
        Some(log),
    );
    let stages = Stages {
        builder: fakes,
        bootstrap: fakes,
        publisher: fakes,
        deployer: fakes,
        gateway: fakes,
    };
    let r = pl::run_interruptible(
        &plan(&["backend", "frontend"], state),
        &stages,
        &mut p,
        signals,
    )
    .await;
    let events = p.events().to_vec();
    let text = out.borrow().clone();
    (r, events, text)
}

fn stages_seen(events: &[Event]) -> Vec<Stage> {
    let mut s: Vec<Stage> = Vec::new();
    for e in events {
        if !s.contains(&e.stage) {
            s.push(e.stage);
        }
    }
    s
}

#[tokio::test]
async fn a_successful_run_goes_through_every_stage_in_order_and_keeps_its_events() {
    let calls = Calls::default();
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes {
        calls: &calls,
        fail: FailAt::Nowhere,
        cached: vec![],
        hang: None,
    };
    let (r, events, text) = run_with(&fakes, dir.path()).await;
    let o = r.unwrap();
    assert_eq!(
        calls.all(),
        vec![
            "build backend",
            "build frontend",
            "cluster",
            "kong",
            "push justpush/backend:t1",
            "push justpush/frontend:t1",
            "deploy demo [localhost:5001/justpush/backend:t1, localhost:5001/justpush/frontend:t1]",
            "configure revision 1 at http://localhost:8080",
            &format!("record {} events for revision 1", events.len()),
        ]
    );
    assert_eq!(
        stages_seen(&events),
        vec![
            Stage::Build,
            Stage::Cluster,
            Stage::Kong,
            Stage::Push,
            Stage::Deploy,
            Stage::Configure
        ]
    );
    assert_eq!(o.gateway.unwrap().url, "http://localhost:8080");
    assert!(o.warning.is_none());
    // Every step that started also ended.
    for e in events.iter().filter(|e| e.status == Status::Started) {
        assert!(
            events
                .iter()
                .any(|f| f.stage == e.stage && f.component == e.component && f.status.is_final()),
            "{e:?} never ended"
        );
    }
    assert!(
        text.contains("[build] backend running: step 1/2 FROM base"),
        "{text}"
    );
    assert!(
        !text.contains("secret-key-123"),
        "the key is not in progress output"
    );
    let on_disk = progress::read_run_log(&dir.path().join("runs/run1.jsonl")).unwrap();
    assert_eq!(on_disk, events);
    assert!(!std::fs::read_to_string(dir.path().join("runs/run1.jsonl"))
        .unwrap()
        .contains("secret-key-123"));
}

#[tokio::test]
async fn a_failed_build_removes_what_this_run_built_and_touches_no_cluster() {
    let calls = Calls::default();
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes {
        calls: &calls,
        fail: FailAt::BuildSecond,
        cached: vec![],
        hang: None,
    };
    let (r, events, _) = run_with(&fakes, dir.path()).await;
    let f = r.unwrap_err();
    assert_eq!(f.stage, Stage::Build);
    assert_eq!(f.component.as_deref(), Some("frontend"));
    assert!(f.reason.contains("RUN npm ci"));
    assert_eq!(f.log, Some(PathBuf::from("/tmp/build-frontend.log")));
    assert_eq!(
        calls.all(),
        vec![
            "build backend",
            "build frontend",
            "remove justpush/backend:t1"
        ]
    );
    assert!(
        f.cleanup
            .contains("removed the images this run built (justpush/backend:t1)"),
        "{}",
        f.cleanup
    );
    assert_eq!(stages_seen(&events), vec![Stage::Build]);
    assert!(
        f.to_string().contains("Build failed (frontend)")
            && f.to_string().contains("log: /tmp/build-frontend.log")
    );
}

#[tokio::test]
async fn a_failed_build_keeps_images_that_existed_before_the_run() {
    let calls = Calls::default();
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes {
        calls: &calls,
        fail: FailAt::BuildSecond,
        cached: vec!["backend"],
        hang: None,
    };
    let (r, _, _) = run_with(&fakes, dir.path()).await;
    let f = r.unwrap_err();
    assert_eq!(calls.all(), vec!["build backend", "build frontend"]);
    assert_eq!(f.cleanup, "nothing was created");
}

#[tokio::test]
async fn cluster_and_kong_failures_stop_before_any_push() {
    for (fail, stage) in [
        (FailAt::Cluster, Stage::Cluster),
        (FailAt::Kong, Stage::Kong),
    ] {
        let calls = Calls::default();
        let dir = tempfile::tempdir().unwrap();
        let fakes = Fakes {
            calls: &calls,
            fail,
            cached: vec![],
            hang: None,
        };
        let (r, _, _) = run_with(&fakes, dir.path()).await;
        let f = r.unwrap_err();
        assert_eq!(f.stage, stage);
        assert!(!calls
            .all()
            .iter()
            .any(|c| c.starts_with("push") || c.starts_with("deploy")));
        assert!(f.cleanup.contains("no application object was created"));
        assert_eq!(
            f.log,
            Some(dir.path().join("runs/run1.jsonl")),
            "the run log is the log"
        );
    }
}

#[tokio::test]
async fn a_failed_push_stops_before_deploy() {
    let calls = Calls::default();
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes {
        calls: &calls,
        fail: FailAt::PushSecond,
        cached: vec![],
        hang: None,
    };
    let (r, _, _) = run_with(&fakes, dir.path()).await;
    let f = r.unwrap_err();
    assert_eq!(f.stage, Stage::Push);
    assert_eq!(f.component.as_deref(), Some("frontend"));
    assert!(!calls.all().iter().any(|c| c.starts_with("deploy")));
    assert!(f.cleanup.contains("nothing in the cluster was changed"));
}

#[tokio::test]
async fn a_failed_deploy_reports_the_rollback_and_skips_configure() {
    let calls = Calls::default();
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes {
        calls: &calls,
        fail: FailAt::Deploy,
        cached: vec![],
        hang: None,
    };
    let (r, events, _) = run_with(&fakes, dir.path()).await;
    let f = r.unwrap_err();
    assert_eq!(f.stage, Stage::Deploy);
    assert!(f.reason.contains("CrashLoopBackOff"));
    assert_eq!(f.cleanup, "the objects this install created were deleted");
    assert!(!calls.all().iter().any(|c| c.starts_with("configure")));
    assert!(events
        .iter()
        .any(|e| e.stage == Stage::Deploy && e.message.contains("were deleted")));
}

#[tokio::test]
async fn a_failed_configure_leaves_the_app_running_with_a_warning() {
    let calls = Calls::default();
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes {
        calls: &calls,
        fail: FailAt::Configure,
        cached: vec![],
        hang: None,
    };
    let (r, events, _) = run_with(&fakes, dir.path()).await;
    let o = r.unwrap();
    assert!(o.gateway.is_none());
    let w = o.warning.unwrap();
    assert!(
        w.contains("the app is running (release demo revision 1)"),
        "{w}"
    );
    assert!(!calls.all().iter().any(|c| c.starts_with("remove")));
    assert!(
        calls.all().iter().any(|c| c.starts_with("record")),
        "events still recorded"
    );
    assert!(events
        .iter()
        .any(|e| e.stage == Stage::Configure && e.status == Status::Warning));
}

/// Runs the fakes, pressing Ctrl-C (cancelling the token, as the signal handler does) once the
/// hanging step has been reached.
async fn interrupted_run(
    calls: &Calls,
    at: HangAt,
    state: &Path,
) -> (pl::Failure, Vec<Event>, String) {
    let fakes = Fakes {
        calls,
        fail: FailAt::Nowhere,
        cached: vec![],
        hang: Some(Hang {
            at,
            reached: tokio::sync::Notify::new(),
        }),
    };
    let signals = pl::Interrupts::default();
    let press = async {
        fakes.hang.as_ref().unwrap().reached.notified().await;
        signals.interrupt.cancel();
    };
    let ((r, events, text), ()) = tokio::join!(run_with_signals(&fakes, state, &signals), press);
    (r.expect_err("an interrupted run fails"), events, text)
}

fn interruption_event(events: &[Event], stage: Stage) -> &Event {
    events
        .iter()
        .find(|e| {
            e.stage == stage
                && e.component.is_none()
                && e.status == Status::Failed
                && e.message
                    .starts_with(&format!("interrupted during {}", stage.title()))
        })
        .unwrap_or_else(|| panic!("no interruption event for {stage:?}: {events:#?}"))
}

#[tokio::test]
async fn ctrl_c_during_build_stops_it_removes_what_was_built_and_starts_nothing_else() {
    let calls = Calls::default();
    let dir = tempfile::tempdir().unwrap();
    let (f, events, text) = interrupted_run(&calls, HangAt::BuildSecond, dir.path()).await;
    assert!(f.interrupted);
    assert_eq!(f.stage, Stage::Build);
    assert_eq!(f.component.as_deref(), Some("frontend"));
    // The build in flight was dropped, then Build's own cleanup ran; nothing after Build.
    assert_eq!(
        calls.all(),
        vec![
            "build backend",
            "build frontend",
            "build frontend cancelled",
            "remove justpush/backend:t1"
        ]
    );
    assert_eq!(
        f.cleanup,
        "removed the images this run built (justpush/backend:t1); nothing else was created"
    );
    assert!(
        f.to_string()
            .starts_with("interrupted during Build (frontend); cleaned up: removed the images"),
        "{f}"
    );
    assert_eq!(stages_seen(&events), vec![Stage::Build]);
    let e = interruption_event(&events, Stage::Build);
    assert!(
        e.message.contains("removed the images this run built"),
        "{e:?}"
    );
    assert!(events.iter().any(|e| e.stage == Stage::Build
        && e.component.as_deref() == Some("frontend")
        && e.status == Status::Failed
        && e.message == "interrupted (Ctrl-C)"));
    assert!(text.contains("interrupted during Build"), "{text}");
    // The run log on disk says so too.
    let on_disk = progress::read_run_log(&dir.path().join("runs/run1.jsonl")).unwrap();
    assert_eq!(on_disk, events);
}

#[tokio::test]
async fn ctrl_c_during_push_stops_it_keeps_the_images_and_never_deploys() {
    let calls = Calls::default();
    let dir = tempfile::tempdir().unwrap();
    let (f, events, _) = interrupted_run(&calls, HangAt::PushSecond, dir.path()).await;
    assert!(f.interrupted);
    assert_eq!(f.stage, Stage::Push);
    assert_eq!(f.component.as_deref(), Some("frontend"));
    assert_eq!(
        calls.all(),
        vec![
            "build backend",
            "build frontend",
            "cluster",
            "kong",
            "push justpush/backend:t1",
            "push justpush/frontend:t1",
            "push frontend cancelled",
        ]
    );
    // The same cleanup as a failed push: nothing removed, nothing deployed.
    assert!(
        f.cleanup.starts_with("nothing in the cluster was changed"),
        "{}",
        f.cleanup
    );
    assert!(!stages_seen(&events).contains(&Stage::Deploy));
    interruption_event(&events, Stage::Push);
    let on_disk = progress::read_run_log(&dir.path().join("runs/run1.jsonl")).unwrap();
    assert_eq!(on_disk, events);
}

#[tokio::test]
async fn ctrl_c_during_cluster_bootstrap_stops_before_any_push() {
    let calls = Calls::default();
    let dir = tempfile::tempdir().unwrap();
    let (f, events, _) = interrupted_run(&calls, HangAt::Cluster, dir.path()).await;
    assert!(f.interrupted);
    assert_eq!(f.stage, Stage::Cluster);
    assert_eq!(
        calls.all(),
        vec![
            "build backend",
            "build frontend",
            "cluster",
            "cluster cancelled"
        ]
    );
    assert!(f.cleanup.contains("no application object was created"));
    assert!(!stages_seen(&events).contains(&Stage::Kong));
    interruption_event(&events, Stage::Cluster);
}

#[tokio::test]
async fn a_second_ctrl_c_abandons_the_cleanup_and_says_what_was_left() {
    let calls = Calls::default();
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes {
        calls: &calls,
        fail: FailAt::BuildSecond,
        cached: vec![],
        hang: Some(Hang {
            at: HangAt::Remove,
            reached: tokio::sync::Notify::new(),
        }),
    };
    let signals = pl::Interrupts::default();
    let press = async {
        // The build failed and its cleanup is stuck removing an image: Ctrl-C twice.
        fakes.hang.as_ref().unwrap().reached.notified().await;
        signals.interrupt.cancel();
        signals.abort.cancel();
    };
    let ((r, events, _), ()) = tokio::join!(run_with_signals(&fakes, dir.path(), &signals), press);
    let f = r.unwrap_err();
    assert!(f.interrupted);
    assert_eq!(f.stage, Stage::Build);
    assert!(
        f.reason.contains("RUN npm ci"),
        "the build's own error is kept"
    );
    assert_eq!(
        calls.all(),
        vec![
            "build backend",
            "build frontend",
            "remove justpush/backend:t1",
            "remove justpush/backend:t1 cancelled"
        ]
    );
    assert!(
        f.cleanup
            .starts_with("aborted (second Ctrl-C) before the cleanup finished")
            && f.cleanup.contains("left [justpush/backend:t1]"),
        "{}",
        f.cleanup
    );
    interruption_event(&events, Stage::Build);
}

// ------------------------------------------------------------------------------------------
// The Build stage's probe, with an engine whose builds and containers are scripted.

mod probed {
    use super::*;
    use justpush::image::probe::run::{ContainerState, ProbeContainer, ProbeEngine};
    use justpush::image::probe::ImageFacts;
    use justpush::image::{BuildRequest, ImageBackend, ImageDetails, ImageError, RegistryAuth};
    use justpush::pipeline::stages::EngineBuilder;
    use std::collections::{BTreeSet, HashMap};
    use std::sync::Mutex;

    /// Builds succeed; the container of `dies` exits with code 3, the others listen on 8000
    /// and answer 200 on /healthz only.
    struct ScriptedEngine {
        dies: &'static str,
        images: Mutex<HashMap<String, ImageDetails>>,
        removed: Mutex<Vec<String>>,
        containers: Mutex<Vec<ProbeContainer>>,
    }

    #[async_trait::async_trait]
    impl ImageBackend for ScriptedEngine {
        async fn ping(&self) -> Result<(), ImageError> {
            Ok(())
        }
        async fn inspect(&self, reference: &str) -> Result<Option<ImageDetails>, ImageError> {
            Ok(self.images.lock().unwrap().get(reference).cloned())
        }
        async fn build(
            &self,
            request: &BuildRequest,
            _context: Vec<u8>,
            _on_line: &(dyn for<'l> Fn(&'l str) + Send + Sync),
        ) -> Result<(), String> {
            self.images.lock().unwrap().insert(
                request.reference.clone(),
                ImageDetails {
                    id: "sha256:1".into(),
                    size: 1000,
                    ..Default::default()
                },
            );
            Ok(())
        }
        async fn remove(&self, reference: &str) -> Result<(), ImageError> {
            self.removed.lock().unwrap().push(reference.into());
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
        fn prober(&self) -> Option<&dyn ProbeEngine> {
            Some(self)
        }
    }

    #[async_trait::async_trait]
    impl ProbeEngine for ScriptedEngine {
        async fn image_facts(&self, _: &str) -> Result<ImageFacts, ImageError> {
            Ok(ImageFacts::default())
        }
        async fn start(&self, c: &ProbeContainer) -> Result<String, ImageError> {
            self.containers.lock().unwrap().push(c.clone());
            Ok(c.image.clone())
        }
        async fn state(&self, id: &str) -> Result<ContainerState, ImageError> {
            Ok(if id.contains(self.dies) {
                ContainerState::Exited {
                    code: 3,
                    oom_killed: false,
                }
            } else {
                ContainerState::Running {
                    ip: "10.0.0.2".into(),
                    pid: Some(1),
                }
            })
        }
        async fn listening_ports(&self, _: u32) -> Option<BTreeSet<u16>> {
            Some([8000].into())
        }
        async fn connects(&self, _: &str, port: u16) -> bool {
            port == 8000
        }
        async fn get(
            &self,
            _: &str,
            _: u16,
            path: &str,
            _: usize,
        ) -> Result<(u16, Vec<u8>), String> {
            Ok((if path == "/healthz" { 200 } else { 404 }, Vec::new()))
        }
        async fn logs(&self, _: &str, _: usize) -> String {
            "KeyError: 'SETTINGS_FILE'".into()
        }
        async fn remove(&self, id: &str) -> Result<(), ImageError> {
            self.removed.lock().unwrap().push(format!("container {id}"));
            Ok(())
        }
        async fn pause(&self) {}
    }

    /// A project of `names`, each with its own Dockerfile (built as it is).
    fn project(dir: &Path, names: &[&str]) -> AppPlan {
        for n in names {
            std::fs::create_dir_all(dir.join(n)).unwrap();
            std::fs::write(dir.join(n).join("Dockerfile"), "FROM scratch\nCOPY . /\n").unwrap();
        }
        plan(names, dir)
    }

    fn builder<'a>(engine: &'a ScriptedEngine, root: &Path) -> EngineBuilder<'a> {
        let mut options = justpush::image::BuildOptions::for_dir(root);
        options.log_dir = root.join("logs");
        options.probe = justpush::image::probe::ProbeSettings::from_config(
            root,
            None,
            std::time::Duration::from_secs(5),
        );
        EngineBuilder {
            backend: engine,
            root: root.to_path_buf(),
            options,
            probed: Default::default(),
        }
    }

    fn engine(dies: &'static str) -> ScriptedEngine {
        ScriptedEngine {
            dies,
            images: Default::default(),
            removed: Default::default(),
            containers: Default::default(),
        }
    }

    /// A container that dies in the probe fails Build with its exit code and log: nothing is
    /// pushed or deployed, the images this run built are removed, and so is the container.
    #[tokio::test]
    async fn a_container_dying_in_the_probe_fails_the_build_and_nothing_is_deployed() {
        let calls = Calls::default();
        let dir = tempfile::tempdir().unwrap();
        let plan = project(dir.path(), &["backend", "frontend"]);
        let engine = engine("frontend");
        let builder = builder(&engine, dir.path());
        let fakes = Fakes {
            calls: &calls,
            fail: FailAt::Nowhere,
            cached: vec![],
            hang: None,
        };
        let stages = Stages {
            builder: &builder,
            bootstrap: &fakes,
            publisher: &fakes,
            deployer: &fakes,
            gateway: &fakes,
        };
        let out = std::rc::Rc::new(RefCell::new(String::new()));
        let mut p = Progress::new(
            Box::new(progress::EventLines),
            Box::new(Sink(out.clone())),
            None,
        );
        let f = pl::run(&plan, &stages, &mut p).await.unwrap_err();
        assert_eq!(f.stage, Stage::Build);
        assert_eq!(f.component.as_deref(), Some("frontend"));
        assert!(
            f.reason.contains("exited with code 3")
                && f.reason.contains("KeyError: 'SETTINGS_FILE'")
                && f.reason.contains("--no-probe"),
            "{}",
            f.reason
        );
        assert!(
            calls.all().is_empty(),
            "no cluster, push or deploy: {:?}",
            calls.all()
        );
        let removed = engine.removed.lock().unwrap().clone();
        assert!(
            removed
                .iter()
                .any(|r| r.starts_with("container justpush/frontend:")),
            "{removed:?}"
        );
        assert!(
            removed.iter().any(|r| r.starts_with("justpush/frontend:")),
            "{removed:?}"
        );
        assert!(
            removed.iter().any(|r| r.starts_with("justpush/backend:")),
            "{removed:?}"
        );
        // The backend's probe ran as the chart runs it, and what it found was kept for Deploy.
        let backend = engine
            .containers
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.image.starts_with("justpush/backend:"))
            .cloned()
            .expect("the backend was probed");
        assert_eq!(
            (backend.user.as_str(), backend.tmpfs[0].as_str()),
            ("10001:10001", "/tmp")
        );
        let probed = builder.probed.lock().unwrap();
        assert_eq!(probed["backend"].0.health_path(), Some("/healthz"));
    }
}

// ------------------------------------------------------------------------------------------
// Real Docker builds and a real registry.

mod real {
    use super::*;
    use justpush::image::docker::DockerEngine;
    use justpush::image::ImageBackend;
    use justpush::pipeline::stages::{EngineBuilder, RegistryPublisher};

    const REGISTRY: &str = "127.0.0.1:5000";
    const BASE: &str = "justpush-ci/debian:bookworm";

    fn project(dir: &Path, second_fails: bool) -> AppPlan {
        let nonce = format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        for (name, fails) in [("api", false), ("web", second_fails)] {
            let d = dir.join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("hello.txt"), format!("{name} {nonce}\n")).unwrap();
            let run = if fails {
                "RUN echo breaking on purpose && false"
            } else {
                "RUN test -s /hello.txt"
            };
            std::fs::write(
                d.join("Dockerfile"),
                format!("FROM {BASE}\nCOPY hello.txt /hello.txt\n{run}\nCMD [\"cat\", \"/hello.txt\"]\n"),
            )
            .unwrap();
        }
        let app = justpush::detect::detect(dir).unwrap();
        assert_eq!(app.components.len(), 2, "{app:?}");
        justpush::pipeline::plan::app_plan(
            dir,
            &app,
            "realtest",
            "realtest",
            &justpush::pipeline::plan::Target::Current {
                context: "fake".into(),
                registry: REGISTRY.into(),
            },
        )
    }

    async fn require_docker(engine: &DockerEngine) {
        engine
            .ping()
            .await
            .expect("Docker answers (scripts/test-docker.sh starts it)");
        assert!(
            engine.inspect(BASE).await.unwrap().is_some(),
            "{BASE} is missing: run scripts/test-docker.sh --prepare"
        );
    }

    async fn run_real(
        plan: &AppPlan,
        engine: &DockerEngine,
        calls: &Calls,
        state: &Path,
    ) -> Result<pl::Outcome, pl::Failure> {
        let mut options = justpush::image::BuildOptions::for_dir(&plan.source);
        options.log_dir = state.join("logs");
        let builder = EngineBuilder {
            backend: engine,
            root: plan.source.clone(),
            options,
            probed: Default::default(),
        };
        let publisher = RegistryPublisher {
            backend: engine,
            registry: REGISTRY.into(),
        };
        let fakes = Fakes {
            calls,
            fail: FailAt::Nowhere,
            cached: vec![],
            hang: None,
        };
        let stages = Stages {
            builder: &builder,
            bootstrap: &fakes,
            publisher: &publisher,
            deployer: &fakes,
            gateway: &fakes,
        };
        let out = std::rc::Rc::new(RefCell::new(String::new()));
        let mut p = Progress::new(
            Box::new(progress::EventLines),
            Box::new(Sink(out.clone())),
            None,
        );
        let r = pl::run(plan, &stages, &mut p).await;
        eprintln!("{}", out.borrow());
        r
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs Docker, the bookworm base images and the registry on 127.0.0.1:5000 (scripts/test-docker.sh)"]
    async fn real_images_are_built_and_pushed_then_deployed_by_reference() {
        let dir = tempfile::tempdir().unwrap();
        let engine = DockerEngine::connect().unwrap();
        require_docker(&engine).await;
        let plan = project(dir.path(), false);
        let calls = Calls::default();
        let o = run_real(&plan, &engine, &calls, dir.path()).await.unwrap();
        let refs: Vec<&str> = o.images.iter().map(|i| i.reference.as_str()).collect();
        assert!(
            refs.iter()
                .all(|r| r.starts_with("127.0.0.1:5000/justpush/")),
            "{refs:?}"
        );
        let deploy = calls
            .all()
            .into_iter()
            .find(|c| c.starts_with("deploy"))
            .unwrap();
        for r in &refs {
            assert!(deploy.contains(r), "{deploy}");
            // The registry serves the manifest of what was pushed.
            let (repo, tag) = r
                .trim_start_matches("127.0.0.1:5000/")
                .rsplit_once(':')
                .unwrap();
            let resp = reqwest::Client::new()
                .get(format!("http://{REGISTRY}/v2/{repo}/manifests/{tag}"))
                .header(
                    "Accept",
                    "application/vnd.docker.distribution.manifest.v2+json",
                )
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{r} in the registry");
        }
        // Leave the daemon as it was (the registry keeps its blobs; that is its job).
        for r in &refs {
            let _ = engine.remove(r).await;
            let _ = engine.remove(r.trim_start_matches("127.0.0.1:5000/")).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs Docker, the bookworm base images and the registry on 127.0.0.1:5000 (scripts/test-docker.sh)"]
    async fn a_real_failed_build_leaves_no_image_behind() {
        let dir = tempfile::tempdir().unwrap();
        let engine = DockerEngine::connect().unwrap();
        require_docker(&engine).await;
        let plan = project(dir.path(), true);
        let calls = Calls::default();
        let f = run_real(&plan, &engine, &calls, dir.path())
            .await
            .unwrap_err();
        assert_eq!(f.stage, Stage::Build);
        assert_eq!(f.component.as_deref(), Some("web"));
        assert!(
            f.reason.contains("breaking on purpose") || f.reason.contains("false"),
            "{}",
            f.reason
        );
        let log = f.log.clone().expect("the build log");
        assert!(log.exists(), "{}", log.display());
        assert!(
            f.cleanup
                .contains("removed the images this run built (justpush/api:"),
            "{}",
            f.cleanup
        );
        let api = f
            .cleanup
            .split('(')
            .nth(1)
            .unwrap()
            .split(')')
            .next()
            .unwrap()
            .to_string();
        assert!(
            engine.inspect(&api).await.unwrap().is_none(),
            "{api} was removed"
        );
        assert!(
            calls.all().is_empty(),
            "no cluster stage ran: {:?}",
            calls.all()
        );
    }
}
