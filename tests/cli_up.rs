//! `up` through the real binary: preflight without kind (fails fast, leaves nothing), the
//! dry-run plan (text and JSON lines), and the empty-directory message. kind and minikube are
//! recording stand-ins on PATH; Docker is the real daemon. The tests that need Docker to answer
//! are `#[ignore]`d so the cargo tier runs before any engine is started; the test command runs
//! them with the pipeline tier, once `test-docker.sh --prepare` has started dockerd.

use std::path::Path;
use std::process::{Command, Output};

/// A stand-in that appends `name args` to $STANDIN_LOG and prints `listing` for listings.
fn stand_in(dir: &Path, name: &str, listing: &str) {
    let script = format!(
        "#!/bin/sh\necho \"{name} $*\" >> \"$STANDIN_LOG\"\ncase \"$*\" in\n  \"get clusters\"|\"profile list -o json\") printf '%s\\n' '{listing}';;\n  version|\"version --short\") echo '{name} v0.0.0-standin';;\nesac\nexit 0\n"
    );
    let p = dir.join(name);
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        Env { dir }
    }
    fn bin(&self) -> std::path::PathBuf {
        self.dir.path().join("bin")
    }
    fn log(&self) -> std::path::PathBuf {
        self.dir.path().join("calls.log")
    }
    fn state(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }
    fn calls(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
    fn up(&self, args: &[&str], kubeconfig: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
            .arg("up")
            .args(args)
            .env("PATH", self.bin())
            .env("STANDIN_LOG", self.log())
            .env("KUBECONFIG", kubeconfig)
            .env("JUSTPUSH_STATE_DIR", self.state())
            .env("JUSTPUSH_CACHE_DIR", self.dir.path().join("cache"))
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }
}

/// A kubeconfig whose current context points at a closed port on loopback.
fn silent_kubeconfig(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("kubeconfig");
    std::fs::write(
        &p,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:9\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\nusers:\n- name: u\n  user:\n    token: t\ncurrent-context: gone\n",
    )
    .unwrap();
    p
}

async fn justpush_containers() -> Vec<String> {
    use bollard::query_parameters::ListContainersOptionsBuilder;
    let docker = bollard::Docker::connect_with_local_defaults().unwrap();
    let list = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).build()))
        .await
        .expect("the Docker daemon answers (tests need it: start dockerd)");
    list.into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .filter(|n| n.contains("kind-registry") || n.contains("justpush"))
        .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
#[ignore = "needs a running Docker engine: run by scripts/test.sh Tier 5 after test-docker.sh --prepare"]
async fn up_without_kind_fails_fast_with_an_install_hint_and_leaves_nothing() {
    let env = Env::new();
    // docker and minikube stand-ins record any call; kind is absent.
    stand_in(&env.bin(), "docker", "");
    stand_in(&env.bin(), "kubectl", "");
    let kubeconfig = silent_kubeconfig(env.dir.path());
    let before = std::fs::read(&kubeconfig).unwrap();
    let containers_before = justpush_containers().await;
    let started = std::time::Instant::now();
    let out = env.up(&["--demo"], &kubeconfig);
    eprintln!("up without kind took {:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("kind is not installed"), "{err}");
    assert!(err.contains("https://kind.sigs.k8s.io"), "{err}");
    assert!(err.contains("nothing was created"), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(
        std::fs::read(&kubeconfig).unwrap(),
        before,
        "kubeconfig unchanged"
    );
    assert_eq!(env.calls(), "", "no tool was run");
    // The only state is the audit record of the failed attempt (every changing command,
    // failed ones included, is audited).
    assert_eq!(
        state_files(&env.state()),
        ["audit.jsonl"],
        "no state but the audit log"
    );
    assert_eq!(
        justpush_containers().await,
        containers_before,
        "no container created"
    );
}

#[tokio::test]
async fn up_with_docker_unreachable_says_how_to_start_it() {
    let env = Env::new();
    stand_in(&env.bin(), "kind", "");
    let kubeconfig = silent_kubeconfig(env.dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .args(["up", "--demo"])
        .env("PATH", env.bin())
        .env("STANDIN_LOG", env.log())
        .env("KUBECONFIG", &kubeconfig)
        .env("JUSTPUSH_STATE_DIR", env.state())
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no.sock", env.dir.path().display()),
        )
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("Docker is not reachable"), "{err}");
    assert!(err.contains("start the Docker daemon"), "{err}");
    assert_eq!(env.calls(), "kind version\n", "only read-only probes ran");
}

#[test]
fn dry_run_demo_shows_the_four_stages_and_touches_nothing() {
    let env = Env::new();
    stand_in(&env.bin(), "kind", "other-cluster");
    let kubeconfig = silent_kubeconfig(env.dir.path());
    let before = std::fs::read(&kubeconfig).unwrap();
    let out = env.up(&["--demo", "--dry-run"], &kubeconfig);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    for stage in [
        "Preflight:",
        "Build:",
        "Cluster:",
        "Kong:",
        "Push:",
        "Deploy:",
        "Configure:",
    ] {
        assert!(
            plan.contains(&format!("\n{stage}\n")) || plan.starts_with(stage),
            "{stage} in\n{plan}"
        );
    }
    let order: Vec<usize> = ["Build:", "Push:", "Deploy:", "Configure:"]
        .iter()
        .map(|s| plan.find(s).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{plan}");
    assert!(
        plan.contains("[backend] build image justpush/backend:<content tag> from "),
        "{plan}"
    );
    assert!(
        plan.contains("[frontend] push justpush/frontend:<content tag> to localhost:5001"),
        "{plan}"
    );
    assert!(plan.contains("create kind cluster \"justpush\""), "{plan}");
    assert!(plan.contains("gateway URL http://localhost:8080"), "{plan}");
    assert!(text(&out.stderr).contains("nothing was created or changed"));
    // Only read-only calls: the version and the cluster list.
    assert_eq!(env.calls(), "kind version\nkind get clusters\n");
    assert_eq!(std::fs::read(&kubeconfig).unwrap(), before);
    assert!(!env.state().exists());
}

// Preflight reports "all checks passed" only when Docker answers.
#[test]
#[ignore = "needs a running Docker engine: run by scripts/test.sh Tier 5 after test-docker.sh --prepare"]
fn dry_run_reuses_an_existing_cluster_and_names_the_offline_chart() {
    let env = Env::new();
    stand_in(&env.bin(), "kind", "justpush");
    let kubeconfig = silent_kubeconfig(env.dir.path());
    let chart = env.dir.path().join("kong-3.4.1.tgz");
    std::fs::write(&chart, b"").unwrap();
    // A project of its own (the demo's readiness depends on its wheelhouse being fetched).
    let project = env.dir.path().join("shop");
    std::fs::create_dir_all(project.join("api")).unwrap();
    std::fs::write(project.join("api/Dockerfile"), "FROM scratch\nCOPY . /\n").unwrap();
    let out = env.up(
        &[
            project.to_str().unwrap(),
            "--dry-run",
            "--kong-chart",
            chart.to_str().unwrap(),
        ],
        &kubeconfig,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(plan.contains("reuse the existing kind cluster"), "{plan}");
    assert!(
        plan.contains(&format!("chart from --kong-chart {}", chart.display())),
        "{plan}"
    );
    assert!(plan.contains("Preflight:\n  - all checks passed"), "{plan}");
    assert!(
        plan.contains("install release shop in namespace shop"),
        "{plan}"
    );
    assert!(
        plan.contains("[api] build image justpush/api:<content tag>"),
        "{plan}"
    );
}

#[test]
fn dry_run_json_emits_one_parseable_object_per_line() {
    let env = Env::new();
    stand_in(&env.bin(), "minikube", r#"{"valid":[]}"#);
    let kubeconfig = silent_kubeconfig(env.dir.path());
    let out = env.up(
        &["--demo", "--dry-run", "--cluster", "minikube", "-o", "json"],
        &kubeconfig,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let stages: Vec<&str> = lines.iter().map(|l| l["stage"].as_str().unwrap()).collect();
    for s in ["build", "push", "deploy", "configure"] {
        assert!(stages.contains(&s), "{stages:?}");
    }
    assert!(lines.iter().all(|l| l["action"].is_string()));
    let push: Vec<&serde_json::Value> = lines.iter().filter(|l| l["stage"] == "push").collect();
    assert_eq!(push.len(), 2);
    assert!(push[0]["action"]
        .as_str()
        .unwrap()
        .contains("minikube image load"));
    assert!(lines.iter().any(|l| l["action"]
        .as_str()
        .unwrap()
        .contains("Minikube profile \"justpush\"")));
}

#[test]
fn a_directory_with_nothing_deployable_mentions_demo() {
    let env = Env::new();
    let empty = env.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let kubeconfig = silent_kubeconfig(env.dir.path());
    let out = env.up(&[empty.to_str().unwrap()], &kubeconfig);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("nothing deployable found"), "{err}");
    assert!(err.contains("kubectl justpush up --demo"), "{err}");
    assert_eq!(env.calls(), "");
}

#[test]
fn a_missing_kong_chart_path_is_bad_input() {
    let env = Env::new();
    let kubeconfig = silent_kubeconfig(env.dir.path());
    let out = env.up(
        &["--demo", "--kong-chart", "/nonexistent/kong.tgz"],
        &kubeconfig,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--kong-chart /nonexistent/kong.tgz: no such file"));
}

/// The names of the files in a state directory (none when it does not exist).
fn state_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
