//! Server-side apply of rendered objects through discovery and `DynamicObject`, with the
//! release's labels added, transient API errors retried, and deletes with foreground
//! propagation. Object identity and labelling are pure; `Applier` is the I/O.

use std::collections::HashMap;
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::{json, Value as J};

use super::KubeError;

/// Field manager of every apply.
pub const FIELD_MANAGER: &str = "kubectl-justpush";
/// Label naming the release on every object.
pub const RELEASE_LABEL: &str = "justpush.dev/release";
/// Annotation with the revision that last applied an object.
pub const REVISION_ANNOTATION: &str = "justpush.dev/revision";
/// The chart's instance label (also on pods, which is what watches select on).
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// The chart's component label.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// Identity of an object: group/version, kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ObjectKey {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    pub fn of(obj: &J) -> ObjectKey {
        let s = |p: &str| obj.pointer(p).and_then(J::as_str).unwrap_or("").to_string();
        let ns = s("/metadata/namespace");
        ObjectKey {
            api_version: s("/apiVersion"),
            kind: s("/kind"),
            namespace: (!ns.is_empty()).then_some(ns),
            name: s("/metadata/name"),
        }
    }

    /// The group, without the version: objects keep their identity across API versions.
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("")
    }

    /// Identity ignoring the API version (for prune: moving v1beta1 to v1 is no removal).
    pub fn identity(&self) -> (String, String, Option<String>, String) {
        (
            self.group().to_string(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// Whether an object belongs to the gateway configuration: its failure leaves the app running.
pub fn is_kong_object(obj: &J) -> bool {
    let key = ObjectKey::of(obj);
    key.group().ends_with("konghq.com")
        || key.kind == "Ingress"
        || obj
            .pointer("/metadata/labels/konghq.com~1credential")
            .is_some()
}

/// Whether delete and prune must leave the object (Helm's `helm.sh/resource-policy: keep`).
pub fn is_kept(obj: &J) -> bool {
    obj.pointer("/metadata/annotations/helm.sh~1resource-policy")
        .and_then(J::as_str)
        == Some("keep")
}

/// Adds the release label and revision annotation, and the namespace if the kind is
/// namespaced and the object has none.
pub fn label_object(obj: &mut J, release: &str, revision: u32, namespace: Option<&str>) {
    if !obj.get("metadata").is_some_and(J::is_object) {
        obj["metadata"] = json!({});
    }
    let meta = &mut obj["metadata"];
    if let Some(ns) = namespace {
        if meta
            .get("namespace")
            .and_then(J::as_str)
            .is_none_or(str::is_empty)
        {
            meta["namespace"] = J::String(ns.to_string());
        }
    }
    if !meta.get("labels").is_some_and(J::is_object) {
        meta["labels"] = json!({});
    }
    meta["labels"][RELEASE_LABEL] = J::String(release.to_string());
    if !meta.get("annotations").is_some_and(J::is_object) {
        meta["annotations"] = json!({});
    }
    meta["annotations"][REVISION_ANNOTATION] = J::String(revision.to_string());
}

/// Whether an API error is worth retrying (the server or the network, not the request).
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 409 | 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Retries an API call on transient errors: 4 attempts, 100 ms to 800 ms apart.
pub async fn retry<T, F, Fut>(mut f: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        match f().await {
            Err(e) if attempt < 3 && is_transient(&e) => {
                attempt += 1;
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
}

/// Applies, reads and deletes objects of any kind, caching discovery per kind.
pub struct Applier {
    client: kube::Client,
    kinds: HashMap<(String, String), (ApiResource, ApiCapabilities)>,
}

impl Applier {
    pub fn new(client: kube::Client) -> Applier {
        Applier {
            client,
            kinds: HashMap::new(),
        }
    }

    /// The API resource of a kind, or None when the cluster does not serve it.
    pub async fn resource(
        &mut self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<(ApiResource, ApiCapabilities)>, KubeError> {
        let k = (api_version.to_string(), kind.to_string());
        if let Some(r) = self.kinds.get(&k) {
            return Ok(Some(r.clone()));
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        match retry(|| kube::discovery::pinned_kind(&self.client, &gvk)).await {
            Ok(r) => {
                self.kinds.insert(k, r.clone());
                Ok(Some(r))
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(kube::Error::Discovery(_)) => Ok(None),
            Err(e) => Err(KubeError::api(
                format!("discovering {kind} ({api_version})"),
                e,
            )),
        }
    }

    async fn api_for(&mut self, key: &ObjectKey) -> Result<(Api<DynamicObject>, bool), KubeError> {
        let (ar, caps) = self
            .resource(&key.api_version, &key.kind)
            .await?
            .ok_or_else(|| KubeError::Api {
                context: format!("applying {key}"),
                message: format!(
                    "the cluster does not serve {} {}; install the CRD or operator that provides it",
                    key.api_version, key.kind
                ),
                code: Some(404),
            })?;
        let namespaced = caps.scope == Scope::Namespaced;
        let api = match (&key.namespace, namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        };
        Ok((api, namespaced))
    }

    /// Whether a kind is namespaced (unknown kinds are assumed namespaced).
    pub async fn is_namespaced(
        &mut self,
        api_version: &str,
        kind: &str,
    ) -> Result<bool, KubeError> {
        Ok(self
            .resource(api_version, kind)
            .await?
            .is_none_or(|(_, caps)| caps.scope == Scope::Namespaced))
    }

    /// Server-side apply (forced) of one object; returns the object as the server has it.
    pub async fn apply(&mut self, obj: &J) -> Result<J, KubeError> {
        let key = ObjectKey::of(obj);
        let (api, _) = self.api_for(&key).await?;
        let dynamic: DynamicObject = serde_json::from_value(obj.clone())
            .map_err(|e| KubeError::Other(format!("{key} is not a Kubernetes object: {e}")))?;
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&dynamic);
        let out = retry(|| api.patch(&key.name, &pp, &patch))
            .await
            .map_err(|e| KubeError::api(format!("applying {key}"), e))?;
        Ok(serde_json::to_value(out).unwrap_or(J::Null))
    }

    /// The object as it is in the cluster, if it exists.
    pub async fn get(&mut self, key: &ObjectKey) -> Result<Option<J>, KubeError> {
        if self.resource(&key.api_version, &key.kind).await?.is_none() {
            return Ok(None);
        }
        let (api, _) = self.api_for(key).await?;
        let out = retry(|| api.get_opt(&key.name))
            .await
            .map_err(|e| KubeError::api(format!("reading {key}"), e))?;
        Ok(out.map(|o| serde_json::to_value(o).unwrap_or(J::Null)))
    }

    /// Deletes an object (background propagation: the garbage collector removes dependents);
    /// gone already is fine.
    pub async fn delete(&mut self, key: &ObjectKey) -> Result<(), KubeError> {
        if self.resource(&key.api_version, &key.kind).await?.is_none() {
            return Ok(());
        }
        let (api, _) = self.api_for(key).await?;
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        match retry(|| api.delete(&key.name, &dp)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(KubeError::api(format!("deleting {key}"), e)),
        }
    }

    /// Lists objects of a kind with a label selector in a namespace (None: cluster-wide).
    pub async fn list(
        &mut self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<J>, KubeError> {
        let Some((ar, caps)) = self.resource(api_version, kind).await? else {
            return Ok(Vec::new());
        };
        let api: Api<DynamicObject> = match namespace {
            Some(ns) if caps.scope == Scope::Namespaced => {
                Api::namespaced_with(self.client.clone(), ns, &ar)
            }
            _ => Api::all_with(self.client.clone(), &ar),
        };
        let lp = kube::api::ListParams::default().labels(selector);
        let list = retry(|| api.list(&lp))
            .await
            .map_err(|e| KubeError::api(format!("listing {kind}"), e))?;
        Ok(list
            .items
            .into_iter()
            .map(|mut o| {
                // Lists carry the kind on the list, not the items.
                let mut v = serde_json::to_value(&mut o).unwrap_or(J::Null);
                v["apiVersion"] = J::String(api_version.to_string());
                v["kind"] = J::String(kind.to_string());
                v
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_keys() {
        let mut o = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "labels": {"a": "b"}}});
        label_object(&mut o, "todo", 4, Some("apps"));
        assert_eq!(o["metadata"]["namespace"], "apps");
        assert_eq!(o["metadata"]["labels"]["a"], "b");
        assert_eq!(o["metadata"]["labels"][RELEASE_LABEL], "todo");
        assert_eq!(o["metadata"]["annotations"][REVISION_ANNOTATION], "4");
        let k = ObjectKey::of(&o);
        assert_eq!(k.group(), "apps");
        assert_eq!(k.to_string(), "Deployment/api");
        let mut cm = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
        label_object(&mut cm, "todo", 1, None);
        assert!(cm["metadata"].get("namespace").is_none());
        assert_eq!(ObjectKey::of(&cm).group(), "");
    }

    #[test]
    fn kong_and_kept_objects() {
        assert!(is_kong_object(
            &json!({"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin"})
        ));
        assert!(is_kong_object(
            &json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress"})
        ));
        assert!(is_kong_object(
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"labels": {"konghq.com/credential": "key-auth"}}})
        ));
        assert!(!is_kong_object(
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {}})
        ));
        assert!(is_kept(
            &json!({"metadata": {"annotations": {"helm.sh/resource-policy": "keep"}}})
        ));
        assert!(!is_kept(&json!({"metadata": {}})));
    }
}
