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

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Option<IdentityMeta>,
}

#[derive(serde::Deserialize, Default)]
struct IdentityMeta {
    name: Option<String>,
    namespace: Option<String>,
}

/// Fails when two documents are the same Kubernetes object (same apiVersion, kind, namespace
/// and name): applying both would silently keep only the last, so a render that produces a
/// name twice is wrong whatever made it. Documents without a namespace are in
/// `default_namespace` (the release's).
pub fn check_unique_objects(manifests: &[Manifest], default_namespace: &str) -> Result<(), String> {
    let mut seen: std::collections::HashMap<(String, String, String, String), usize> =
        std::collections::HashMap::new();
    // "file (document N)": one template often renders many objects.
    let mut per_source: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let origin: Vec<String> = manifests
        .iter()
        .map(|m| {
            let n = per_source.entry(m.source.as_str()).or_insert(0);
            *n += 1;
            format!("{} (document {n})", m.source)
        })
        .collect();
    for (i, m) in manifests.iter().enumerate() {
        let id: Identity = match serde_yaml::from_str(&m.text) {
            Ok(id) => id,
            // split_manifests parsed every document already; nothing else to say here.
            Err(_) => continue,
        };
        let meta = id.metadata.unwrap_or_default();
        let Some(name) = meta.name.filter(|n| !n.is_empty()) else {
            continue;
        };
        let api_version = id.api_version.unwrap_or_default();
        let kind = id.kind.unwrap_or_default();
        let namespace = meta
            .namespace
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default_namespace.to_string());
        let key = (api_version, kind, namespace, name);
        if let Some(first) = seen.insert(key.clone(), i) {
            let (api_version, kind, namespace, name) = key;
            return Err(format!(
                "two {kind} objects ({api_version}) are named `{name}` in namespace {namespace}: one from {}, one from {}; Kubernetes would keep only one of them. Give them different names (for generated names: shorten what makes them, e.g. the release name)",
                origin[first], origin[i]
            ));
        }
    }
    Ok(())
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

    fn manifests(docs: &[(&str, &str)]) -> Vec<Manifest> {
        let mut r = Rendered::new();
        for (path, text) in docs {
            r.insert((*path).into(), (*text).into());
        }
        split_manifests(&r).unwrap()
    }

    #[test]
    fn two_objects_of_one_kind_and_name_are_an_error_naming_both_sources() {
        let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: x\n";
        let m = manifests(&[
            ("c/templates/a.yaml", ingress),
            (
                "c/templates/b.yaml",
                "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: x\n  namespace: shop\n",
            ),
        ]);
        let err = check_unique_objects(&m, "shop").unwrap_err();
        assert!(
            err.contains(
                "two Ingress objects (networking.k8s.io/v1) are named `x` in namespace shop"
            ) && err.contains("c/templates/a.yaml")
                && err.contains("c/templates/b.yaml"),
            "{err}"
        );
        // Another namespace, kind or API group is another object.
        assert!(check_unique_objects(&m, "other").is_ok());
        let m = manifests(&[
            ("c/templates/a.yaml", ingress),
            (
                "c/templates/b.yaml",
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n---\napiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata:\n  name: x\n",
            ),
        ]);
        assert!(check_unique_objects(&m, "shop").is_ok());
        // Within one template file too.
        let m = manifests(&[("c/templates/a.yaml", &format!("{ingress}---\n{ingress}"))]);
        assert!(check_unique_objects(&m, "shop").is_err());
    }
}
