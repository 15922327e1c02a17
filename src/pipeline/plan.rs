//! What a run will do, decided before anything runs: the release, its components and image
//! names ([`AppPlan`]), and the step list `up --dry-run` prints ([`PlanStep`]). Pure.

use super::progress::Stage;
use crate::cluster::{self, Provider};
use crate::detect::{Component, DetectedApp, DockerfileSource};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Which cluster a run targets, after `--cluster` and the kubeconfig were looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Target {
    /// kind cluster `justpush` with the local registry on localhost:5001.
    Kind,
    /// Minikube profile `justpush`, images loaded with `minikube image load`.
    Minikube,
    /// The kubeconfig's current context, pushing to a registry the cluster can pull from.
    Current { context: String, registry: String },
}

impl Target {
    /// The provider of a local cluster, when the target is one.
    pub fn provider(&self) -> Option<Provider> {
        match self {
            Target::Kind => Some(Provider::Kind),
            Target::Minikube => Some(Provider::Minikube),
            Target::Current { .. } => None,
        }
    }

    /// The registry images are pushed to, `None` when they are loaded (Minikube).
    pub fn registry(&self) -> Option<String> {
        match self {
            Target::Kind => Some(format!("localhost:{}", cluster::REGISTRY_HOST_PORT)),
            Target::Minikube => None,
            Target::Current { registry, .. } => Some(registry.trim_end_matches('/').to_string()),
        }
    }
}

/// One component to build and deploy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentPlan {
    pub name: String,
    /// The build context (absolute, or relative to where `up` runs).
    pub context: PathBuf,
    /// `repository` without tag.
    pub image: String,
    /// The tag: the image layer's content tag, known once the build context is made.
    pub tag: String,
    /// What detection found (language, port, health path, OpenAPI, env).
    pub detected: Component,
}

impl ComponentPlan {
    /// `repository:tag`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.image, self.tag)
    }
}

/// The release one run installs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppPlan {
    pub release: String,
    pub namespace: String,
    /// The project root.
    pub source: PathBuf,
    pub components: Vec<ComponentPlan>,
}

/// The release name for a project directory: its name as a DNS label (`demo` for `--demo`).
pub fn release_name(dir: &Path, demo: bool) -> String {
    if demo {
        return "demo".into();
    }
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".into());
    crate::chart::names::release_name_from(&name)
}

/// The plan for a detected app on a target.
pub fn app_plan(
    root: &Path,
    app: &DetectedApp,
    release: &str,
    namespace: &str,
    target: &Target,
) -> AppPlan {
    let _ = target;
    let components = app
        .components
        .iter()
        .map(|c| {
            let context = if c.path == "." {
                root.to_path_buf()
            } else {
                root.join(&c.path)
            };
            ComponentPlan {
                name: c.name.clone(),
                image: format!("{}/{}", crate::image::REPOSITORY_PREFIX, c.name),
                tag: "<content tag>".into(),
                context,
                detected: c.clone(),
            }
        })
        .collect();
    AppPlan {
        release: release.into(),
        namespace: namespace.into(),
        source: root.to_path_buf(),
        components,
    }
}

/// One line of `up --dry-run`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanStep {
    pub stage: Stage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    pub action: String,
}

/// What is known about the world when planning (from read-only probes).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlanContext {
    /// The kind cluster or Minikube profile already exists.
    pub cluster_exists: bool,
    /// Where Kong's chart will come from (flag, cache, or download URL).
    pub kong_chart_source: String,
    /// Preflight findings that would stop a real run.
    pub blockers: Vec<String>,
}

fn step(stage: Stage, component: Option<&str>, action: impl Into<String>) -> PlanStep {
    PlanStep {
        stage,
        component: component.map(str::to_string),
        action: action.into(),
    }
}

/// Where the gateway will answer, as the plan says it.
fn gateway_url_hint(target: &Target) -> String {
    match target {
        Target::Kind => format!("http://localhost:{}", cluster::PROXY_HOST_PORTS.0),
        Target::Minikube => format!("http://<minikube ip>:{}", cluster::PROXY_NODE_PORTS.0),
        Target::Current { .. } => "from the kong-proxy Service".into(),
    }
}

/// The Cluster stage's steps for the target.
fn cluster_steps(target: &Target, ctx: &PlanContext) -> Vec<PlanStep> {
    let mut s = Vec::new();
    let reuse = |what: String| {
        if ctx.cluster_exists {
            format!("reuse the existing {what}")
        } else {
            format!("create {what}")
        }
    };
    match target {
        Target::Kind => {
            s.push(step(
                Stage::Cluster,
                None,
                reuse(format!(
                    "kind cluster {:?} (host 127.0.0.1:{}/{} → Kong NodePorts {}/{}, containerd reads registry mirrors from certs.d)",
                    cluster::CLUSTER_NAME,
                    cluster::PROXY_HOST_PORTS.0,
                    cluster::PROXY_HOST_PORTS.1,
                    cluster::PROXY_NODE_PORTS.0,
                    cluster::PROXY_NODE_PORTS.1
                )),
            ));
            s.push(step(
                Stage::Cluster,
                None,
                format!(
                    "start registry container {} on 127.0.0.1:{} and connect it to the `kind` network; point each node's containerd at it for localhost:{}",
                    cluster::REGISTRY_NAME,
                    cluster::REGISTRY_HOST_PORT,
                    cluster::REGISTRY_HOST_PORT
                ),
            ));
            s.push(step(
                Stage::Cluster,
                None,
                "apply ConfigMap kube-public/local-registry-hosting",
            ));
        }
        Target::Minikube => s.push(step(
            Stage::Cluster,
            None,
            reuse(format!(
                "Minikube profile {:?} with the docker driver",
                cluster::CLUSTER_NAME
            )),
        )),
        Target::Current { context, registry } => s.push(step(
            Stage::Cluster,
            None,
            format!("use the current context {context:?}; images go to {registry}"),
        )),
    }
    s
}

/// The steps of a run, by stage.
pub fn plan_steps(plan: &AppPlan, target: &Target, ctx: &PlanContext) -> Vec<PlanStep> {
    let mut s = Vec::new();
    if ctx.blockers.is_empty() {
        s.push(step(Stage::Preflight, None, "all checks passed"));
    }
    for b in &ctx.blockers {
        s.push(step(Stage::Preflight, None, format!("would stop: {b}")));
    }
    for c in &plan.components {
        let how = match c.detected.dockerfile {
            DockerfileSource::Existing => "its own Dockerfile".to_string(),
            DockerfileSource::Generated => format!(
                "a generated Dockerfile ({})",
                c.detected
                    .build
                    .as_ref()
                    .map(|b| b.template.as_str())
                    .unwrap_or("generated")
            ),
        };
        s.push(step(
            Stage::Build,
            Some(&c.name),
            format!(
                "build image {} from {} with {how} through the Docker Engine API",
                c.reference(),
                c.context.display()
            ),
        ));
    }
    s.extend(cluster_steps(target, ctx));
    s.push(step(
        Stage::Kong,
        None,
        format!(
            "install Kong (chart {}, DB-less, Kong Ingress Controller) into namespace {} unless that version is there; chart from {}",
            crate::cluster::kong::KONG_CHART_VERSION,
            crate::cluster::kong::KONG_NAMESPACE,
            ctx.kong_chart_source
        ),
    ));
    s.push(step(
        Stage::Kong,
        None,
        format!(
            "wait until Kong is ready; gateway URL {}",
            gateway_url_hint(target)
        ),
    ));
    for c in &plan.components {
        let how = match target.registry() {
            None => format!("load {} with `minikube image load`", c.reference()),
            Some(r) => format!(
                "push {} to {r} (skipped when the registry has the same image)",
                c.reference()
            ),
        };
        s.push(step(Stage::Push, Some(&c.name), how));
    }
    s.push(step(
        Stage::Deploy,
        None,
        format!(
            "install release {} in namespace {} from the bundled chart ({} Deployment(s), Services, probes, PDB, HPA, NetworkPolicies) by server-side apply; wait until ready; on failure roll back",
            plan.release,
            plan.namespace,
            plan.components.len()
        ),
    ));
    let specs: Vec<String> = plan
        .components
        .iter()
        .filter(|c| c.detected.openapi.is_some())
        .map(|c| c.name.clone())
        .collect();
    s.push(step(
        Stage::Configure,
        None,
        if specs.is_empty() {
            "Kong Ingress routes per component, key-auth and rate limiting, a consumer with a generated API key".to_string()
        } else {
            format!(
                "Kong routes from the OpenAPI spec of {}, key-auth on secured operations, rate limiting, CORS, a consumer with a generated API key",
                specs.join(", ")
            )
        },
    ));
    s.push(step(
        Stage::Configure,
        None,
        "check the gateway: 401 without the key, an answer with it",
    ));
    s
}

/// The dry-run plan as text, grouped by stage.
pub fn plan_text(steps: &[PlanStep]) -> String {
    let mut out = String::new();
    let mut last: Option<Stage> = None;
    for s in steps {
        if last != Some(s.stage) {
            out.push_str(&format!("{}:\n", s.stage.title()));
            last = Some(s.stage);
        }
        match &s.component {
            Some(c) => out.push_str(&format!("  - [{c}] {}\n", s.action)),
            None => out.push_str(&format!("  - {}\n", s.action)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_follow_the_target() {
        assert_eq!(Target::Kind.registry().as_deref(), Some("localhost:5001"));
        assert_eq!(Target::Minikube.registry(), None);
        assert_eq!(
            Target::Current {
                context: "prod".into(),
                registry: "reg.example/team/".into()
            }
            .registry()
            .as_deref(),
            Some("reg.example/team")
        );
    }
}
