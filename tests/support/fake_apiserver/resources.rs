//! The resource table: which group/version/plural/kind the fake serves, and the discovery
//! documents (legacy and aggregated) built from it. Custom resources come from the
//! CustomResourceDefinition objects in the store, so creating or deleting a CRD changes discovery
//! exactly as on a real cluster.

use serde_json::{json, Value};

/// One servable resource.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub kind: String,
    pub namespaced: bool,
    pub subresources: Vec<&'static str>,
    pub short_names: Vec<String>,
    /// Built-in types omit kind/apiVersion in list items; custom resources keep them.
    pub custom: bool,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, `pods`: the form real error messages use.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Deployment.apps`: the form used in "is invalid" messages.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    pub fn has_status(&self) -> bool {
        self.subresources.contains(&"status")
    }

    fn verbs(&self) -> Vec<&'static str> {
        if self.group == "metrics.k8s.io" {
            return vec!["get", "list"];
        }
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

fn rt(
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    subresources: &[&'static str],
    short: &[&str],
) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        kind: kind.into(),
        namespaced,
        subresources: subresources.to_vec(),
        short_names: short.iter().map(|s| s.to_string()).collect(),
        custom: false,
    }
}

/// The built-in types (always served). The metrics API is added when enabled.
pub fn builtin_types(metrics: bool) -> Vec<ResourceType> {
    let mut v = vec![
        rt(
            "",
            "v1",
            "namespaces",
            "Namespace",
            false,
            &["status", "finalize"],
            &["ns"],
        ),
        rt("", "v1", "nodes", "Node", false, &["status"], &["no"]),
        rt(
            "",
            "v1",
            "pods",
            "Pod",
            true,
            &["status", "log", "eviction"],
            &["po"],
        ),
        rt("", "v1", "services", "Service", true, &["status"], &["svc"]),
        rt("", "v1", "endpoints", "Endpoints", true, &[], &["ep"]),
        rt(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            "EndpointSlice",
            true,
            &[],
            &[],
        ),
        rt("", "v1", "configmaps", "ConfigMap", true, &[], &["cm"]),
        rt("", "v1", "secrets", "Secret", true, &[], &[]),
        rt(
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            true,
            &[],
            &["sa"],
        ),
        rt(
            "",
            "v1",
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            true,
            &["status"],
            &["pvc"],
        ),
        rt(
            "",
            "v1",
            "persistentvolumes",
            "PersistentVolume",
            false,
            &["status"],
            &["pv"],
        ),
        rt("", "v1", "events", "Event", true, &[], &["ev"]),
        rt(
            "",
            "v1",
            "resourcequotas",
            "ResourceQuota",
            true,
            &["status"],
            &["quota"],
        ),
        rt(
            "",
            "v1",
            "limitranges",
            "LimitRange",
            true,
            &[],
            &["limits"],
        ),
        rt(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            true,
            &["status", "scale"],
            &["deploy"],
        ),
        rt(
            "apps",
            "v1",
            "statefulsets",
            "StatefulSet",
            true,
            &["status", "scale"],
            &["sts"],
        ),
        rt(
            "apps",
            "v1",
            "replicasets",
            "ReplicaSet",
            true,
            &["status", "scale"],
            &["rs"],
        ),
        rt(
            "apps",
            "v1",
            "daemonsets",
            "DaemonSet",
            true,
            &["status"],
            &["ds"],
        ),
        rt(
            "apps",
            "v1",
            "controllerrevisions",
            "ControllerRevision",
            true,
            &[],
            &[],
        ),
        rt("batch", "v1", "jobs", "Job", true, &["status"], &[]),
        rt(
            "batch",
            "v1",
            "cronjobs",
            "CronJob",
            true,
            &["status"],
            &["cj"],
        ),
        rt(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
            &["status"],
            &["hpa"],
        ),
        rt(
            "autoscaling",
            "v1",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
            &["status"],
            &["hpa"],
        ),
        rt(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
            &["status"],
            &["pdb"],
        ),
        rt(
            "networking.k8s.io",
            "v1",
            "ingresses",
            "Ingress",
            true,
            &["status"],
            &["ing"],
        ),
        rt(
            "networking.k8s.io",
            "v1",
            "ingressclasses",
            "IngressClass",
            false,
            &[],
            &[],
        ),
        rt(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            true,
            &[],
            &["netpol"],
        ),
        rt(
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            true,
            &[],
            &[],
        ),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "Role",
            true,
            &[],
            &[],
        ),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            true,
            &[],
            &[],
        ),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            false,
            &[],
            &[],
        ),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            &[],
            &[],
        ),
        rt(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["status"],
            &["crd", "crds"],
        ),
        rt(
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            "ValidatingWebhookConfiguration",
            false,
            &[],
            &[],
        ),
        rt(
            "storage.k8s.io",
            "v1",
            "storageclasses",
            "StorageClass",
            false,
            &[],
            &["sc"],
        ),
    ];
    if metrics {
        v.push(rt(
            "metrics.k8s.io",
            "v1beta1",
            "pods",
            "PodMetrics",
            true,
            &[],
            &[],
        ));
        v.push(rt(
            "metrics.k8s.io",
            "v1beta1",
            "nodes",
            "NodeMetrics",
            false,
            &[],
            &[],
        ));
    }
    v
}

/// Resource types defined by one CRD object (one per served version).
pub fn types_from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let kind = spec["names"]["kind"].as_str().unwrap_or_default();
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return vec![];
    }
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let short: Vec<String> = spec["names"]["shortNames"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut out = vec![];
    for v in spec["versions"].as_array().into_iter().flatten() {
        if v["served"].as_bool() == Some(false) {
            continue;
        }
        let Some(name) = v["name"].as_str() else {
            continue;
        };
        let mut subs = vec![];
        if v["subresources"]["status"].is_object() {
            subs.push("status");
        }
        if v["subresources"]["scale"].is_object() {
            subs.push("scale");
        }
        out.push(ResourceType {
            group: group.into(),
            version: name.into(),
            plural: plural.into(),
            kind: kind.into(),
            namespaced,
            subresources: subs,
            short_names: short.clone(),
            custom: true,
        });
    }
    out
}

/// `/version`.
pub fn version_doc() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.1-fake", "gitCommit": "fake",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24",
        "compiler": "gc", "platform": "linux/amd64"
    })
}

/// Groups in a stable order (built-ins first, then custom groups by name), each with versions
/// in preference order.
fn groups(types: &[ResourceType]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = vec![];
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == t.group) {
            Some((_, vs)) => {
                if !vs.contains(&t.version) {
                    vs.push(t.version.clone());
                }
            }
            None => out.push((t.group.clone(), vec![t.version.clone()])),
        }
    }
    for (_, vs) in out.iter_mut() {
        vs.sort_by_key(|v| version_priority(v));
    }
    out
}

/// Kubernetes version priority: GA before beta before alpha, higher numbers first.
fn version_priority(v: &str) -> (u8, i64, i64) {
    let rest = v.trim_start_matches('v');
    let (num, tail) = rest.split_at(
        rest.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len()),
    );
    let n: i64 = num.parse().unwrap_or(0);
    if tail.is_empty() {
        (0, -n, 0)
    } else if let Some(b) = tail.strip_prefix("beta") {
        (1, -n, -b.parse::<i64>().unwrap_or(0))
    } else if let Some(a) = tail.strip_prefix("alpha") {
        (2, -n, -a.parse::<i64>().unwrap_or(0))
    } else {
        (3, 0, 0)
    }
}

/// `/api` (legacy).
pub fn core_versions_doc() -> Value {
    json!({
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]
    })
}

/// `/apis` (legacy APIGroupList).
pub fn group_list_doc(types: &[ResourceType]) -> Value {
    let groups: Vec<Value> = groups(types)
        .iter()
        .map(|(g, vs)| group_doc_inner(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn group_doc_inner(g: &str, vs: &[String]) -> Value {
    let versions: Vec<Value> = vs
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({"name": g, "versions": versions, "preferredVersion": versions[0].clone()})
}

/// `/apis/{group}`.
pub fn group_doc(types: &[ResourceType], group: &str) -> Option<Value> {
    let gs = groups(types);
    let (g, vs) = gs.iter().find(|(g, _)| g == group)?;
    let mut d = group_doc_inner(g, vs);
    d["kind"] = json!("APIGroup");
    d["apiVersion"] = json!("v1");
    Some(d)
}

/// `/api/v1` or `/apis/{group}/{version}` (APIResourceList), None if nothing is served there.
pub fn resource_list_doc(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let mine: Vec<&ResourceType> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let mut resources = vec![];
    for t in &mine {
        let mut r = json!({
            "name": t.plural, "singularName": t.kind.to_lowercase(), "namespaced": t.namespaced,
            "kind": t.kind, "verbs": t.verbs(),
        });
        if !t.short_names.is_empty() {
            r["shortNames"] = json!(t.short_names);
        }
        resources.push(r);
        for s in &t.subresources {
            let (kind, verbs, g, v): (&str, Vec<&str>, Option<&str>, Option<&str>) = match *s {
                "status" => (&t.kind, vec!["get", "patch", "update"], None, None),
                "scale" => (
                    "Scale",
                    vec!["get", "patch", "update"],
                    Some("autoscaling"),
                    Some("v1"),
                ),
                "log" => ("Pod", vec!["get"], None, None),
                "eviction" => ("Eviction", vec!["create"], Some("policy"), Some("v1")),
                "finalize" => ("Namespace", vec!["update"], None, None),
                _ => continue,
            };
            let mut r = json!({
                "name": format!("{}/{}", t.plural, s), "singularName": "", "namespaced": t.namespaced,
                "kind": kind, "verbs": verbs,
            });
            if let (Some(g), Some(v)) = (g, v) {
                r["group"] = json!(g);
                r["version"] = json!(v);
            }
            resources.push(r);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// Aggregated discovery (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`)
/// for the core group (`core = true`, at /api) or every named group (at /apis).
pub fn aggregated_doc(types: &[ResourceType], core: bool) -> Value {
    let group_versions: Vec<(String, Vec<String>)> = if core {
        vec![(String::new(), vec!["v1".to_string()])]
    } else {
        groups(types)
    };
    let mut items = vec![];
    for (g, vs) in group_versions {
        let mut versions = vec![];
        for v in vs {
            let mut resources = vec![];
            for t in types.iter().filter(|t| t.group == g && t.version == v) {
                let subs: Vec<Value> = t
                    .subresources
                    .iter()
                    .map(|s| {
                        let (kind, verbs) = match *s {
                            "scale" => ("Scale", vec!["get", "patch", "update"]),
                            "log" => ("Pod", vec!["get"]),
                            "eviction" => ("Eviction", vec!["create"]),
                            _ => (t.kind.as_str(), vec!["get", "patch", "update"]),
                        };
                        json!({"subresource": s, "responseKind": {"group": "", "version": "", "kind": kind}, "verbs": verbs})
                    })
                    .collect();
                resources.push(json!({
                    "resource": t.plural,
                    "responseKind": {"group": g, "version": v, "kind": t.kind},
                    "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
                    "singularResource": t.kind.to_lowercase(),
                    "verbs": t.verbs(),
                    "shortNames": t.short_names,
                    "subresources": subs,
                }));
            }
            versions.push(json!({"version": v, "resources": resources, "freshness": "Current"}));
        }
        items.push(json!({"metadata": {"name": g}, "versions": versions}));
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

fn crd(
    group: &str,
    plural: &str,
    kind: &str,
    short: &[&str],
    scope: &str,
    versions: &[&str],
    status: bool,
) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut ver = json!({"name": v, "served": true, "storage": i == 0,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
            if status {
                ver["subresources"] = json!({"status": {}});
            }
            ver
        })
        .collect();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": scope,
            "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind, "listKind": format!("{kind}List"), "shortNames": short},
            "versions": vs}
    })
}

/// The CRDs of Kong's chart 3.4.1 (configuration.konghq.com: kinds, scopes, versions and status
/// subresources as in its crds/ directory; schemas left open).
pub fn kong_crds() -> Vec<Value> {
    let g = "configuration.konghq.com";
    let mut v = vec![
        crd(
            g,
            "ingressclassparameterses",
            "IngressClassParameters",
            &[],
            "Namespaced",
            &["v1alpha1"],
            false,
        ),
        crd(
            g,
            "kongclusterplugins",
            "KongClusterPlugin",
            &["kcp"],
            "Cluster",
            &["v1"],
            true,
        ),
        crd(
            g,
            "kongconsumergroups",
            "KongConsumerGroup",
            &["kcg"],
            "Namespaced",
            &["v1beta1"],
            true,
        ),
        crd(
            g,
            "kongconsumers",
            "KongConsumer",
            &["kc"],
            "Namespaced",
            &["v1"],
            true,
        ),
        crd(
            g,
            "kongcustomentities",
            "KongCustomEntity",
            &["kce"],
            "Namespaced",
            &["v1alpha1"],
            true,
        ),
        crd(
            g,
            "kongingresses",
            "KongIngress",
            &["ki"],
            "Namespaced",
            &["v1"],
            true,
        ),
        crd(
            g,
            "konglicenses",
            "KongLicense",
            &["kl"],
            "Cluster",
            &["v1alpha1"],
            true,
        ),
        crd(
            g,
            "kongplugins",
            "KongPlugin",
            &["kp"],
            "Namespaced",
            &["v1"],
            true,
        ),
        crd(
            g,
            "kongupstreampolicies",
            "KongUpstreamPolicy",
            &["kup"],
            "Namespaced",
            &["v1beta1"],
            true,
        ),
        crd(
            g,
            "kongvaults",
            "KongVault",
            &["kv"],
            "Cluster",
            &["v1alpha1"],
            true,
        ),
        crd(
            g,
            "tcpingresses",
            "TCPIngress",
            &[],
            "Namespaced",
            &["v1beta1"],
            true,
        ),
        crd(
            g,
            "udpingresses",
            "UDPIngress",
            &[],
            "Namespaced",
            &["v1beta1"],
            true,
        ),
    ];
    for c in v.iter_mut() {
        c["metadata"]["labels"] = json!({"app.kubernetes.io/name": "kong"});
    }
    v
}

/// The External Secrets Operator CRDs the chart uses: ExternalSecret, SecretStore and
/// ClusterSecretStore (external-secrets.io v1 and v1beta1).
pub fn external_secrets_crds() -> Vec<Value> {
    let g = "external-secrets.io";
    vec![
        crd(
            g,
            "externalsecrets",
            "ExternalSecret",
            &["es"],
            "Namespaced",
            &["v1", "v1beta1"],
            true,
        ),
        crd(
            g,
            "secretstores",
            "SecretStore",
            &["ss"],
            "Namespaced",
            &["v1", "v1beta1"],
            true,
        ),
        crd(
            g,
            "clustersecretstores",
            "ClusterSecretStore",
            &["css"],
            "Cluster",
            &["v1", "v1beta1"],
            true,
        ),
    ]
}
