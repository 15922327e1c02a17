//! From rendered template text to ordered Kubernetes documents, as `helm template` prints them:
//! split on `---`, drop empty documents, sort by Helm's install order, `# Source:` headers.

use super::render::Rendered;

/// Helm's install order by kind; unknown kinds go last.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// One rendered Kubernetes document.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The template it came from (`justpush/templates/deployment.yaml`).
    pub source: String,
    /// The document text, without separators.
    pub text: String,
    pub kind: String,
    pub name: String,
    /// Helm hooks (`helm.sh/hook`) are applied around the release, not with it.
    pub hook: Option<String>,
}

#[derive(serde::Deserialize)]
struct Head {
    kind: Option<String>,
    metadata: Option<HeadMeta>,
}

#[derive(serde::Deserialize, Default)]
struct HeadMeta {
    name: Option<String>,
    annotations: Option<std::collections::BTreeMap<String, serde_yaml::Value>>,
}

/// Splits and orders every non-partial, non-NOTES template's output.
pub fn split_manifests(rendered: &Rendered) -> Result<Vec<Manifest>, String> {
    let mut out = Vec::new();
    for (path, text) in rendered {
        if path.ends_with("NOTES.txt") {
            continue;
        }
        for doc in split_documents(text) {
            // Like Helm, read only the head of each document, but require the whole to parse.
            let head: Option<Head> = serde_yaml::from_str(&doc)
                .map_err(|e| format!("{path}: rendered YAML is invalid: {e}\n---\n{doc}"))?;
            let Some(head) = head else { continue };
            let meta = head.metadata.unwrap_or_default();
            let kind = head.kind.unwrap_or_default();
            let name = meta.name.unwrap_or_default();
            let hook = meta
                .annotations
                .and_then(|mut a| a.remove("helm.sh/hook"))
                .and_then(|v| v.as_str().map(str::to_string));
            out.push(Manifest {
                source: path.clone(),
                text: doc,
                kind,
                name,
                hook,
            });
        }
    }
    sort_install_order(&mut out);
    Ok(out)
}

/// Splits a multi-document YAML text on `---` lines.
pub fn split_documents(text: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    for line in text.split('\n') {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            docs.push(std::mem::take(&mut cur));
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs.push(cur);
    docs.into_iter()
        .map(|d| d.trim_matches('\n').to_string())
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// Stable sort by kind in install order (unknown kinds last, by kind name).
pub fn sort_install_order(m: &mut [Manifest]) {
    m.sort_by(|a, b| {
        let ia = INSTALL_ORDER.iter().position(|k| *k == a.kind);
        let ib = INSTALL_ORDER.iter().position(|k| *k == b.kind);
        match (ia, ib) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.kind.cmp(&b.kind),
        }
    });
}

/// `helm template` output: each document with its `# Source:` header.
pub fn to_multidoc(manifests: &[Manifest]) -> String {
    let mut out = String::new();
    for m in manifests {
        out.push_str("---\n# Source: ");
        out.push_str(&m.source);
        out.push('\n');
        out.push_str(&m.text);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_orders_and_drops_empty_documents() {
        let mut r = Rendered::new();
        r.insert(
            "c/templates/a.yaml".into(),
            "---\nkind: Deployment\nmetadata:\n  name: d\n---\n# only a comment\n".into(),
        );
        r.insert(
            "c/templates/b.yaml".into(),
            "kind: Service\nmetadata:\n  name: s\n---\nkind: Widget\nmetadata:\n  name: w\n".into(),
        );
        r.insert("c/templates/NOTES.txt".into(), "hello".into());
        let m = split_manifests(&r).unwrap();
        let kinds: Vec<&str> = m.iter().map(|x| x.kind.as_str()).collect();
        assert_eq!(kinds, vec!["Service", "Deployment", "Widget"]);
        assert!(to_multidoc(&m).starts_with("---\n# Source: c/templates/b.yaml\nkind: Service"));
    }
}
