//! Real Docker: `kubectl-justpush build` against the engine on /var/run/docker.sock and a real
//! registry. Ignored by default; `scripts/test-docker.sh` prepares the engine, the registry on
//! 127.0.0.1:5000 and the Debian bookworm base images, then runs these with `--ignored`.
//!
//! Environment (set by the script): JUSTPUSH_TEST_BASE_PYTHON (builder),
//! JUSTPUSH_TEST_BASE_PYTHON_RUNTIME, JUSTPUSH_TEST_BASE_NODE_BUILD, JUSTPUSH_TEST_BASE_NODE,
//! JUSTPUSH_TEST_REGISTRY.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HealthConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder,
    ListImagesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use justpush::image::docker::DockerEngine;

#[path = "support/ci_bases.rs"]
mod ci_bases;
use ci_bases::{base_image_args as base_args, env_or};

fn debian_base() -> String {
    env_or("JUSTPUSH_TEST_BASE_DEBIAN", "justpush-ci/debian:bookworm")
}

fn justpush(args: &[String]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    eprintln!(
        "--- kubectl-justpush {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn docker() -> Docker {
    DockerEngine::connect().unwrap().client().clone()
}

fn images_json(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["images"].as_array().unwrap().clone()
}

/// Local tags of a repository.
async fn tags_of(docker: &Docker, repository: &str) -> Vec<String> {
    let mut filters = HashMap::new();
    filters.insert("reference", vec![format!("{repository}:*")]);
    let opts = ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    docker
        .list_images(Some(opts))
        .await
        .unwrap()
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .collect()
}

/// Paths in a container's filesystem export.
async fn filesystem_paths(docker: &Docker, image: &str) -> Vec<String> {
    let c = docker
        .create_container(
            None::<bollard::query_parameters::CreateContainerOptions>,
            ContainerCreateBody {
                image: Some(image.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut bytes = Vec::new();
    let mut s = docker.export_container(&c.id);
    while let Some(chunk) = s.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    remove_container(docker, &c.id).await;
    let mut archive = tar::Archive::new(bytes.as_slice());
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

async fn remove_container(docker: &Docker, id: &str) {
    let _ = docker
        .remove_container(
            id,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await;
}

/// Runs the image, lets the engine run its own HEALTHCHECK every second, waits for the
/// `health_status: healthy` event, and asks `path` over the bridge network.
async fn run_until_healthy(docker: &Docker, image: &str, port: u16, path: &str) -> String {
    let inspect = docker.inspect_image(image).await.unwrap();
    let test = inspect.config.unwrap().healthcheck.unwrap().test.unwrap();
    let name = format!("justpush-test-{}", image.replace(['/', ':'], "-"));
    remove_container(docker, &name).await;
    let c = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            ContainerCreateBody {
                image: Some(image.into()),
                healthcheck: Some(HealthConfig {
                    test: Some(test),
                    interval: Some(1_000_000_000),
                    timeout: Some(5_000_000_000),
                    retries: Some(3),
                    start_period: Some(0),
                    start_interval: None,
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let since = (time::OffsetDateTime::now_utc().unix_timestamp() - 1).to_string();
    docker
        .start_container(
            &c.id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .unwrap();
    let mut filters = HashMap::new();
    filters.insert("container", vec![c.id.clone()]);
    filters.insert("type", vec!["container".to_string()]);
    let mut events = docker.events(Some(
        EventsOptionsBuilder::default()
            .since(&since)
            .filters(&filters)
            .build(),
    ));
    let healthy = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(ev) = events.next().await {
            let action = ev.unwrap().action.unwrap_or_default();
            if action == "health_status: healthy" {
                return Ok(());
            }
            if action == "die" {
                return Err("the container exited".to_string());
            }
        }
        Err("the event stream ended".to_string())
    })
    .await;
    let details = docker
        .inspect_container(
            &c.id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    let ip = details
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|n| n.get("bridge").and_then(|b| b.ip_address.clone()))
        .unwrap_or_default();
    let body = if healthy.as_ref().is_ok_and(|r| r.is_ok()) {
        reqwest::get(format!("http://{ip}:{port}{path}"))
            .await
            .map(|r| (r.status(), r))
            .ok()
    } else {
        None
    };
    let text = match body {
        Some((status, r)) if status.is_success() => r.text().await.unwrap_or_default(),
        _ => String::new(),
    };
    remove_container(docker, &c.id).await;
    match healthy {
        Ok(Ok(())) => {}
        Ok(Err(why)) => panic!("{image}: {why} before reporting healthy"),
        Err(_) => panic!("{image}: not healthy within 120 s"),
    }
    assert!(
        !text.is_empty(),
        "{image}: GET {path} on {ip}:{port} did not answer 2xx"
    );
    text
}

#[tokio::test]
#[ignore = "needs a Docker engine and the bookworm base images (scripts/test-docker.sh)"]
async fn demo_images_are_small_non_root_healthy_and_free_of_the_ca_bundle() {
    let mut args = vec![
        "build".to_string(),
        "--demo".into(),
        "-o".into(),
        "json".into(),
    ];
    args.extend(base_args());
    let images = images_json(&justpush(&args));
    assert_eq!(images.len(), 2, "{images:?}");
    let docker = docker();
    for img in &images {
        let component = img["component"].as_str().unwrap();
        let image = img["image"].as_str().unwrap();
        let size = img["size_bytes"].as_u64().unwrap();
        assert!(img["build_seconds"].as_f64().is_some());
        assert!(
            image.starts_with(&format!("justpush/{component}:")) && !image.ends_with(":latest")
        );
        assert!(size > 0 && size < 500_000_000, "{image}: {size} bytes");

        let inspect = docker.inspect_image(image).await.unwrap();
        assert_eq!(inspect.size.unwrap() as u64, size);
        let config = inspect.config.unwrap();
        let user = config.user.unwrap_or_default();
        let uid: u32 = user
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("{image}: user `{user}` is not numeric"));
        assert_ne!(uid, 0, "{image} runs as root");
        let hc = config.healthcheck.and_then(|h| h.test).unwrap_or_default();
        assert!(!hc.is_empty() && hc[0] != "NONE", "{image}: no HEALTHCHECK");
        let labels = config.labels.unwrap_or_default();
        assert_eq!(
            labels
                .get("org.opencontainers.image.title")
                .map(String::as_str),
            Some(component)
        );
        assert!(labels.contains_key("org.opencontainers.image.created"));

        // The CA bundle reached the builder only.
        let env = config.env.unwrap_or_default().join("\n");
        for var in [
            "NODE_EXTRA_CA_CERTS",
            "NPM_CONFIG_CAFILE",
            "PIP_CERT",
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
        ] {
            assert!(
                !env.contains(var),
                "{image}: {var} is set in the final image"
            );
        }
        let paths = filesystem_paths(&docker, image).await;
        assert!(paths.len() > 100, "{image}: the export looks empty");
        let leaked: Vec<&String> = paths
            .iter()
            .filter(|p| p.ends_with(".justpush-ca.crt") || p.contains("usr/local/share/justpush"))
            .collect();
        assert!(
            leaked.is_empty(),
            "{image}: CA bundle in the final image: {leaked:?}"
        );
        assert!(
            !paths
                .iter()
                .any(|p| p.starts_with("app/wheelhouse/") && p.ends_with(".whl")),
            "{image}: build-only wheels in the final image"
        );
    }

    let backend = images.iter().find(|i| i["component"] == "backend").unwrap();
    let body = run_until_healthy(
        &docker,
        backend["image"].as_str().unwrap(),
        8000,
        "/api/health",
    )
    .await;
    assert!(body.contains("ok") || body.contains("status"), "{body}");
    let frontend = images
        .iter()
        .find(|i| i["component"] == "frontend")
        .unwrap();
    let body = run_until_healthy(
        &docker,
        frontend["image"].as_str().unwrap(),
        3000,
        "/api/health",
    )
    .await;
    assert!(body.contains("ok"), "{body}");

    // Nothing changed: the same content tags, nothing rebuilt.
    let again = justpush(&args);
    let stderr = String::from_utf8_lossy(&again.stderr).to_string();
    let images2 = images_json(&again);
    for (a, b) in images.iter().zip(&images2) {
        assert_eq!(a["image"], b["image"]);
    }
    assert_eq!(stderr.matches("Up to date").count(), 2, "{stderr}");
}

#[tokio::test]
#[ignore = "needs a Docker engine, the bookworm base images and a registry (scripts/test-docker.sh)"]
async fn push_pull_back_and_skip_by_digest() {
    let registry = env_or("JUSTPUSH_TEST_REGISTRY", "127.0.0.1:5000");
    let mut args = vec![
        "build".to_string(),
        "--demo".into(),
        "--component".into(),
        "backend".into(),
        "--push".into(),
        registry.clone(),
        "-o".into(),
        "json".into(),
    ];
    args.extend(base_args());
    let first = justpush(&args);
    let images = images_json(&first);
    assert_eq!(images.len(), 1);
    let local = images[0]["image"].as_str().unwrap().to_string();
    let remote = images[0]["pushed"].as_str().unwrap().to_string();
    assert_eq!(remote, format!("{registry}/{local}"));

    let docker = docker();
    let local_id = docker.inspect_image(&local).await.unwrap().id.unwrap();

    // Second run: the registry has this image's digest already.
    let second = justpush(&args);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success());
    assert!(
        stderr.contains("registry has this digest"),
        "second push was not skipped: {stderr}"
    );
    assert!(!stderr.contains("Pushed"), "{stderr}");

    // Pull it back from the registry after dropping the local registry tag.
    docker
        .remove_image(
            &remote,
            Some(RemoveImageOptionsBuilder::default().noprune(true).build()),
            None,
        )
        .await
        .unwrap();
    let (repo, tag) = remote.rsplit_once(':').unwrap();
    let mut pull = docker.create_image(
        Some(
            CreateImageOptionsBuilder::default()
                .from_image(repo)
                .tag(tag)
                .build(),
        ),
        None,
        None,
    );
    while let Some(item) = pull.next().await {
        item.unwrap();
    }
    let pulled = docker.inspect_image(&remote).await.unwrap();
    assert_eq!(
        pulled.id.unwrap(),
        local_id,
        "the pulled image differs from the pushed one"
    );
    assert!(pulled
        .repo_digests
        .unwrap_or_default()
        .iter()
        .any(|d| d.starts_with(&format!("{repo}@sha256:"))));
}

#[tokio::test]
#[ignore = "needs a Docker engine and the bookworm base images (scripts/test-docker.sh)"]
async fn unreachable_registry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let app = fixture(
        dir.path(),
        "tiny-app",
        &format!("FROM {}\nCMD [\"true\"]\n", debian_base()),
    );
    // `CMD ["true"]` exits at once: the probe would fail the build before the push.
    let out = justpush(&[
        "build".into(),
        app.display().to_string(),
        "--no-probe".into(),
        "--push".into(),
        "127.0.0.1:1".into(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("registry 127.0.0.1:1 is unreachable"),
        "{stderr}"
    );
}

fn fixture(root: &Path, name: &str, dockerfile: &str) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    dir
}

#[tokio::test]
#[ignore = "needs a Docker engine and the bookworm base images (scripts/test-docker.sh)"]
async fn failing_build_reports_step_log_tail_and_path_and_leaves_no_tag() {
    let dir = tempfile::tempdir().unwrap();
    let app = fixture(
        dir.path(),
        "broken-app",
        &format!(
            "FROM {}\nRUN echo first-step-ran\nRUN echo broken-step-output && exit 3\nCMD [\"true\"]\n",
            debian_base()
        ),
    );
    let out = justpush(&["build".into(), app.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("building image for broken-app failed at step 3/")
            && stderr.contains(" `RUN echo broken-step-output && exit 3`: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("broken-step-output"),
        "log tail missing: {stderr}"
    );
    assert!(stderr.contains("returned a non-zero code: 3"), "{stderr}");
    let log = app.join(".justpush/logs/build-broken-app.log");
    assert!(
        stderr.contains(&format!("full log: {}", log.display())),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("first-step-ran") && text.contains("Step 3/"),
        "{text}"
    );
    assert!(tags_of(&docker(), "justpush/broken-app").await.is_empty());
}

#[tokio::test]
#[ignore = "needs a Docker engine and the bookworm base images (scripts/test-docker.sh)"]
async fn oversize_image_fails_with_size_and_budget_and_leaves_no_tag() {
    let dir = tempfile::tempdir().unwrap();
    let app = fixture(
        dir.path(),
        "big-app",
        &format!("FROM {}\nCMD [\"true\"]\n", debian_base()),
    );
    let out = justpush(&[
        "build".into(),
        app.display().to_string(),
        "--max-size".into(),
        "10MB".into(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("over the budget of 10.0MB (--max-size)"),
        "{stderr}"
    );
    assert!(stderr.contains("image justpush/big-app:"), "{stderr}");
    assert!(tags_of(&docker(), "justpush/big-app").await.is_empty());
}

#[tokio::test]
#[ignore = "needs a Docker engine (scripts/test-docker.sh)"]
async fn escaping_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = fixture(
        dir.path(),
        "leaky-app",
        &format!("FROM {}\nCOPY . /app\n", debian_base()),
    );
    std::os::unix::fs::symlink("../../../etc/shadow", app.join("shadow")).unwrap();
    let out = justpush(&["build".into(), app.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "`shadow` is a symbolic link to `../../../etc/shadow`, outside the build context"
        ),
        "{stderr}"
    );
    assert!(tags_of(&docker(), "justpush/leaky-app").await.is_empty());
}

/// `docker save` of an image, read whole: the outer tar and every layer tar in it. Returns the
/// number of layers and whether `needle` occurs in any of them (or in the image's config and
/// history). Layers of `docker save` are uncompressed tars; gzip ones are inflated first.
async fn saved_image_contains(image: &str, needle: &str) -> (usize, bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar");
    let engine = DockerEngine::connect().unwrap();
    justpush::image::ImageBackend::export(&engine, image, &path)
        .await
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let contains = |data: &[u8]| data.windows(needle.len()).any(|w| w == needle.as_bytes());
    let mut layers = 0;
    let mut found = contains(&bytes);
    let mut outer = tar::Archive::new(bytes.as_slice());
    for entry in outer.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if data.starts_with(&[0x1f, 0x8b]) {
            let mut inflated = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(data.as_slice()),
                &mut inflated,
            )
            .unwrap();
            data = inflated;
        }
        if name.ends_with("layer.tar") || name.starts_with("blobs/") {
            layers += 1;
            // Every file of the layer, one by one (a tar stores contents verbatim, but this
            // does not rely on it).
            if let Ok(entries) = tar::Archive::new(data.as_slice()).entries() {
                for file in entries.flatten() {
                    let mut file = file;
                    let mut text = Vec::new();
                    if std::io::Read::read_to_end(&mut file, &mut text).is_ok() && contains(&text) {
                        found = true;
                    }
                }
            }
        }
        if contains(&data) {
            found = true;
        }
    }
    (layers, found)
}

/// The image holds the app (`kept`, a path in its filesystem) but no layer holds the canary;
/// the image is removed afterwards.
async fn assert_no_layer_holds(image: &str, canary: &str, kept: &str) {
    let paths = filesystem_paths(&docker(), image).await;
    assert!(paths.iter().any(|p| p == kept), "{paths:?}");
    let (layers, found) = saved_image_contains(image, canary).await;
    assert!(layers >= 2, "docker save gave {layers} layers");
    assert!(!found, "the canary is in a layer of {image}");
    let _ = docker()
        .remove_image(
            image,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
}

/// A project carrying every kind of secret, each holding the canary.
fn project_with_secrets(dir: &Path, canary: &str) {
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "justpush.yaml",
        // A valid file (build reads it for its scan settings), with the admin token in it.
        &format!("version: 1\nname: leaky\ncomponents:\n  - name: app\n    path: .\n    port: 3000\nkong:\n  adminUrl: http://127.0.0.1:8001\n  adminToken: {canary}\n"),
    );
    write(".env", &format!("API_KEY={canary}\n"));
    write(".env.production", &format!("DB_PASSWORD={canary}\n"));
    write(
        "deploy/id_rsa",
        &format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{canary}\n"),
    );
    write(
        "certs/tls.pem",
        &format!("-----BEGIN PRIVATE KEY-----\n{canary}\n"),
    );
    write(
        ".npmrc",
        &format!("//registry.npmjs.org/:_authToken={canary}\n"),
    );
    write(
        ".docker/config.json",
        &format!("{{\"auths\":{{\"x\":{{\"auth\":\"{canary}\"}}}}}}\n"),
    );
    write(
        ".git/config",
        &format!("[remote \"origin\"]\n\turl = https://x:{canary}@example.invalid/r\n"),
    );
}

#[tokio::test]
#[ignore = "needs a Docker engine and the bookworm base images (scripts/test-docker.sh)"]
async fn secrets_reach_no_layer_of_an_image_built_with_the_projects_own_dockerfile() {
    let canary = "canary-admin-token-5f1e2d";
    let dir = tempfile::tempdir().unwrap();
    let app = fixture(
        dir.path(),
        "own-dockerfile-app",
        &format!("FROM {}\nCOPY . /app\nCMD [\"true\"]\n", debian_base()),
    );
    std::fs::write(app.join("index.html"), "<p>kept</p>\n").unwrap();
    project_with_secrets(&app, canary);
    // A .dockerignore that re-includes the settings file, as a careless one might.
    std::fs::write(app.join(".dockerignore"), "*.log\n!justpush.yaml\n").unwrap();
    // `CMD ["true"]` serves nothing: no probe (this test is about the layers).
    let out = justpush(&[
        "build".into(),
        app.display().to_string(),
        "--no-probe".into(),
        "-o".into(),
        "json".into(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let images = images_json(&out);
    assert!(
        stderr.contains("SECRETS LEFT OUT of the build context")
            && stderr.contains("justpush.yaml (justpush's settings")
            && stderr.contains("deploy/id_rsa"),
        "{stderr}"
    );
    assert!(!stderr.contains(canary), "{stderr}");
    let image = images[0]["image"].as_str().unwrap().to_string();
    assert_no_layer_holds(&image, canary, "app/index.html").await;
}

#[tokio::test]
#[ignore = "needs a Docker engine and the bookworm base images (scripts/test-docker.sh)"]
async fn secrets_reach_no_layer_of_an_image_built_with_a_generated_dockerfile() {
    let canary = "canary-admin-token-9c4b7a";
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("generated-app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("package.json"),
        r#"{"name":"generated-app","version":"1.0.0","scripts":{"start":"node server.js"}}"#,
    )
    .unwrap();
    std::fs::write(
        app.join("server.js"),
        "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT || 3000)\n",
    )
    .unwrap();
    project_with_secrets(&app, canary);
    std::fs::write(
        app.join(".dockerignore"),
        "node_modules\n!justpush.yaml\n!.env\n",
    )
    .unwrap();
    let mut args = vec![
        "build".to_string(),
        app.display().to_string(),
        "-o".into(),
        "json".into(),
    ];
    args.extend(base_args());
    let out = justpush(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let images = images_json(&out);
    assert!(!stderr.contains(canary), "{stderr}");
    let image = images[0]["image"].as_str().unwrap().to_string();
    assert_no_layer_holds(&image, canary, "app/server.js").await;
}
