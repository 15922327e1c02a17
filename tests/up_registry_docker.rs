//! The local-registry side of the kind bootstrap through the real Docker engine: the registry
//! container is created, bound to 127.0.0.1, connected to the nodes' network, restarted when
//! stopped, left alone when running; the containerd `hosts.toml` lands in a node. A container
//! of the local Debian base image stands in for `registry:2` and for the kind node (no Docker
//! Hub here). Needs Docker and `justpush-ci/debian:bookworm` (scripts/test-docker.sh --prepare):
//! `cargo test --test up_registry_docker -- --ignored`.

use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, RemoveContainerOptionsBuilder,
};
use justpush::pipeline::shell::DockerRegistry;
use justpush::pipeline::{bootstrap::LocalRegistry, StageLog};

const BASE: &str = "justpush-ci/debian:bookworm";

struct Lines(Vec<String>);
impl StageLog for Lines {
    fn line(&mut self, m: &str) {
        self.0.push(m.to_string());
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn exec_output(docker: &bollard::Docker, container: &str, cmd: &[&str]) -> String {
    use bollard::exec::{CreateExecOptions, StartExecResults};
    use futures::StreamExt;
    let e = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut out = String::new();
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&e.id, None).await.unwrap()
    {
        while let Some(Ok(chunk)) = output.next().await {
            out.push_str(&chunk.to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and justpush-ci/debian:bookworm (scripts/test-docker.sh --prepare)"]
async fn the_registry_container_is_created_connected_restarted_and_nodes_point_at_it() {
    let engine = justpush::image::docker::DockerEngine::connect().unwrap();
    let docker = engine.client().clone();
    docker
        .inspect_image(BASE)
        .await
        .expect("the Debian base image (scripts/test-docker.sh --prepare)");
    let nonce = std::process::id();
    let network = format!("jp-test-net-{nonce}");
    let node = format!("jp-test-node-{nonce}");
    let reg_name = format!("jp-test-registry-{nonce}");
    docker
        .create_network(bollard::models::NetworkCreateRequest {
            name: network.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&node).build()),
            bollard::models::ContainerCreateBody {
                image: Some(BASE.into()),
                cmd: Some(vec!["sleep".into(), "600".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    docker.start_container(&node, None).await.unwrap();

    let port = free_port();
    let reg = DockerRegistry {
        docker: docker.clone(),
        name: reg_name.clone(),
        image: BASE.into(),
        cmd: Some(vec!["sleep".into(), "600".into()]),
        host_port: port,
        network: network.clone(),
    };
    let mut log = Lines(vec![]);
    let result = async {
        reg.ensure(&mut log).await.unwrap();
        let info = docker
            .inspect_container(&reg_name, None::<InspectContainerOptions>)
            .await
            .unwrap();
        assert_eq!(info.state.as_ref().and_then(|s| s.running), Some(true));
        let nets = info
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.clone())
            .unwrap_or_default();
        assert!(nets.contains_key(&network), "{:?}", nets.keys());
        let binding = info
            .host_config
            .as_ref()
            .and_then(|h| h.port_bindings.clone())
            .and_then(|b| b.get("5000/tcp").cloned().flatten())
            .unwrap();
        assert_eq!(binding[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(
            binding[0].host_port.as_deref(),
            Some(port.to_string().as_str())
        );
        assert!(
            log.0
                .iter()
                .any(|l| l.contains(&format!("creating {reg_name}"))),
            "{:?}",
            log.0
        );

        // Running and connected: nothing to do. Stopped: started again, still connected.
        let mut again = Lines(vec![]);
        reg.ensure(&mut again).await.unwrap();
        assert!(again.0.is_empty(), "{:?}", again.0);
        docker.stop_container(&reg_name, None).await.unwrap();
        reg.ensure(&mut again).await.unwrap();
        let info = docker
            .inspect_container(&reg_name, None::<InspectContainerOptions>)
            .await
            .unwrap();
        assert_eq!(info.state.as_ref().and_then(|s| s.running), Some(true));

        reg.configure_node(&node).await.unwrap();
        let toml = exec_output(
            &docker,
            &node,
            &[
                "cat",
                &format!("/etc/containerd/certs.d/localhost:{port}/hosts.toml"),
            ],
        )
        .await;
        assert_eq!(toml, justpush::cluster::registry_hosts_toml());
        let e = reg
            .configure_node("jp-test-no-such-node")
            .await
            .unwrap_err();
        assert!(e.message.contains("jp-test-no-such-node"), "{}", e.message);
    };
    // Clean up what this test made even when an assertion failed.
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(result)).await;
    for c in [&reg_name, &node] {
        let _ = docker
            .remove_container(
                c,
                Some(RemoveContainerOptionsBuilder::new().force(true).build()),
            )
            .await;
    }
    let _ = docker.remove_network(&network).await;
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}
