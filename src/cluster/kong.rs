//! Installing Kong (the Kong Ingress Controller, DB-less) into a local cluster by rendering
//! Kong's official `kong` chart with our renderer: which chart, which values, and the manifests
//! to apply (the chart's CRDs first, as `helm install` does).

use super::{Provider, PROXY_NODE_PORTS};
use crate::chart::load::Chart;
use crate::chart::manifest::{sort_install_order, split_documents, Manifest};
use crate::chart::render::{Capabilities, ReleaseInfo};
use crate::chart::ChartError;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The pinned version of Kong's chart.
pub const KONG_CHART_VERSION: &str = "3.4.1";
/// Release name and namespace of the gateway.
pub const KONG_RELEASE: &str = "kong";
pub const KONG_NAMESPACE: &str = "kong";

/// Where Kong's chart comes from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KongChartError {
    #[error("Kong's chart {KONG_CHART_VERSION} is not in the cache ({cache}); pass --kong-chart DIR|TGZ with Kong's `kong` chart (from https://charts.konghq.com, kong-{KONG_CHART_VERSION}.tgz) to install offline")]
    NotCached { cache: PathBuf },
    #[error("--kong-chart {path}: the chart is {name} {version}, expected Kong's `kong` chart (pinned {KONG_CHART_VERSION})")]
    NotKong {
        path: PathBuf,
        name: String,
        version: String,
    },
    #[error(transparent)]
    Chart(#[from] ChartError),
}

/// The cached archive path for the pinned chart.
pub fn cached_chart_path(cache_dir: &Path) -> PathBuf {
    cache_dir
        .join("charts")
        .join(format!("kong-{KONG_CHART_VERSION}.tgz"))
}

/// Loads Kong's chart from `--kong-chart`, else from the cache.
pub fn load_kong_chart(flag: Option<&Path>, cache_dir: &Path) -> Result<Chart, KongChartError> {
    let path = match flag {
        Some(p) => p.to_path_buf(),
        None => {
            let cached = cached_chart_path(cache_dir);
            if !cached.exists() {
                return Err(KongChartError::NotCached { cache: cached });
            }
            cached
        }
    };
    let chart = Chart::load(&path).map_err(ChartError::from)?;
    if chart.name != "kong" {
        return Err(KongChartError::NotKong {
            path,
            name: chart.name,
            version: chart.version,
        });
    }
    Ok(chart)
}

/// Values for a DB-less Kong Ingress Controller reachable from the host: on kind the proxy's
/// NodePorts are the ones the cluster maps to localhost; on Minikube they are reached at the
/// node's IP. CRDs are applied from the chart's `crds/` directly, so the chart does not template
/// them a second time.
pub fn kong_values(provider: Provider) -> serde_json::Map<String, serde_json::Value> {
    let _ = provider; // Both providers expose NodePorts; kind maps them to the host.
    let v = json!({
        "env": { "database": "off" },
        "ingressController": { "enabled": true, "installCRDs": false },
        "proxy": {
            "type": "NodePort",
            "http": { "nodePort": PROXY_NODE_PORTS.0 },
            "tls": { "nodePort": PROXY_NODE_PORTS.1 },
        },
        // Kong Manager needs the Admin API, which a DB-less controller-managed Kong keeps
        // private; its Service would only open NodePorts nothing maps.
        "manager": { "enabled": false },
    });
    v.as_object().cloned().unwrap_or_default()
}

/// Everything to apply for Kong: its CRDs, then the rendered release in install order.
pub fn kong_manifests(
    chart: &Chart,
    provider: Provider,
    caps: &Capabilities,
) -> Result<Vec<Manifest>, KongChartError> {
    let release = ReleaseInfo {
        name: KONG_RELEASE.into(),
        namespace: KONG_NAMESPACE.into(),
        revision: 1,
        is_upgrade: false,
    };
    let rendered = crate::chart::render_release(chart, &kong_values(provider), &release, caps)?;
    let mut crds = Vec::new();
    for (path, data) in chart.files.iter().filter(|(p, _)| p.starts_with("crds/")) {
        for doc in split_documents(&String::from_utf8_lossy(data)) {
            let head: serde_yaml::Value = serde_yaml::from_str(&doc).unwrap_or_default();
            let name = head["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            crds.push(Manifest {
                source: format!("{}/{path}", chart.name),
                text: doc,
                kind: "CustomResourceDefinition".into(),
                name,
                hook: None,
            });
        }
    }
    let mut all = crds;
    all.extend(rendered.manifests);
    sort_install_order(&mut all);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kong_dir() -> PathBuf {
        std::env::var_os("JUSTPUSH_KONG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/kong"))
            })
            .join("chart-kong-3.4.1")
    }

    #[test]
    fn kong_renders_dbless_with_crds_and_host_reachable_proxy() {
        let dir = kong_dir();
        assert!(
            dir.is_dir(),
            "Kong's chart is test data at {}",
            dir.display()
        );
        let chart = load_kong_chart(Some(&dir), Path::new("/nonexistent")).unwrap();
        // A real cluster's discovery lists kinds too (`networking.k8s.io/v1/IngressClass`),
        // which Kong's chart checks before creating its IngressClass.
        let mut caps = Capabilities::default();
        caps.api_versions.extend(
            [
                "networking.k8s.io/v1/IngressClass",
                "apiextensions.k8s.io/v1/CustomResourceDefinition",
                "policy/v1/PodDisruptionBudget",
            ]
            .map(String::from),
        );
        let m = kong_manifests(&chart, Provider::Kind, &caps).unwrap();
        let crds: Vec<&str> = m
            .iter()
            .filter(|x| x.kind == "CustomResourceDefinition")
            .map(|x| x.name.as_str())
            .collect();
        assert!(
            crds.contains(&"kongplugins.configuration.konghq.com")
                && crds.contains(&"kongconsumers.configuration.konghq.com"),
            "{crds:?}"
        );
        // CRDs come before the objects that use them.
        let first_non_crd = m
            .iter()
            .position(|x| {
                x.kind != "CustomResourceDefinition"
                    && x.kind != "Namespace"
                    && x.kind != "ServiceAccount"
                    && x.kind != "Secret"
                    && x.kind != "ConfigMap"
                    && x.kind != "PodDisruptionBudget"
                    && x.kind != "NetworkPolicy"
            })
            .unwrap();
        assert!(m[first_non_crd..]
            .iter()
            .all(|x| x.kind != "CustomResourceDefinition"));
        let proxy = m
            .iter()
            .find(|x| x.kind == "Service" && x.name == "kong-kong-proxy")
            .expect("proxy Service");
        let svc: serde_json::Value = serde_yaml::from_str(&proxy.text).unwrap();
        assert_eq!(svc["spec"]["type"], "NodePort");
        let ports: Vec<i64> = svc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["nodePort"].as_i64())
            .collect();
        assert_eq!(ports, vec![30080, 30443]);
        let deploy = m
            .iter()
            .find(|x| x.kind == "Deployment")
            .expect("Kong Deployment");
        assert!(
            deploy.text.contains("KONG_DATABASE") && deploy.text.contains("\"off\""),
            "DB-less"
        );
        assert!(
            deploy.text.contains("ingress-controller"),
            "controller container"
        );
        assert!(m
            .iter()
            .any(|x| x.kind == "IngressClass" && x.name == "kong"));
        assert!(
            !m.iter()
                .any(|x| x.kind == "Service" && x.name.contains("manager")),
            "no Kong Manager Service"
        );
    }

    #[test]
    fn missing_chart_says_how_to_install_offline() {
        let e = load_kong_chart(None, Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--kong-chart") && e.contains("kong-3.4.1.tgz"),
            "{e}"
        );
    }

    #[test]
    fn another_chart_is_refused() {
        let ours = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/chart"));
        let e = load_kong_chart(Some(&ours), Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected Kong's `kong` chart"), "{e}");
    }
}
