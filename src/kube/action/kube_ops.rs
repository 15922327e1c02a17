//! [`ClusterOps`] and [`ReleaseStore`] over kube-rs: the [`Applier`] (server-side apply with
//! cached discovery), the watch-based wait, the record Secrets and the coordination Lease.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use serde_json::Value as J;
use tokio_util::sync::CancellationToken;

use super::ports::{ClusterOps, HeldRelease, ReleaseStore};
use crate::kube::apply::{retry, Applier, ObjectKey, INSTANCE_LABEL};
use crate::kube::lease::HeldLease;
use crate::kube::record::{RecordStore, ReleaseRecord};
use crate::kube::wait::{WaitFor, WaitOutcome, WaitProgress};
use crate::kube::KubeError;

/// The app's objects in a real (or the fake API server's) cluster.
pub struct KubeCluster {
    client: kube::Client,
    applier: Applier,
}

impl KubeCluster {
    pub fn new(client: &kube::Client) -> KubeCluster {
        KubeCluster {
            client: client.clone(),
            applier: Applier::new(client.clone()),
        }
    }
}

#[async_trait]
impl ClusterOps for KubeCluster {
    async fn serves_kong(&mut self) -> Result<bool, KubeError> {
        Ok(self
            .applier
            .resource("configuration.konghq.com/v1", "KongPlugin")
            .await?
            .is_some())
    }

    async fn ensure_namespace(&mut self, ns: &str) -> Result<bool, KubeError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let exists = retry(|| api.get_opt(ns))
            .await
            .map_err(|e| KubeError::api(format!("reading namespace {ns}"), e))?
            .is_some();
        if exists {
            return Ok(false);
        }
        let n = Namespace {
            metadata: ObjectMeta {
                name: Some(ns.to_string()),
                labels: Some(
                    [(
                        "app.kubernetes.io/managed-by".to_string(),
                        "kubectl-justpush".to_string(),
                    )]
                    .into(),
                ),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &n).await {
            Ok(_) => Ok(true),
            // Created meanwhile by someone else: not ours to delete.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(KubeError::api(format!("creating namespace {ns}"), e)),
        }
    }

    async fn delete_namespace(&mut self, ns: &str) -> Result<(), KubeError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api.delete(ns, &Default::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(KubeError::api(format!("deleting namespace {ns}"), e)),
        }
    }

    async fn is_namespaced(&mut self, api_version: &str, kind: &str) -> Result<bool, KubeError> {
        self.applier.is_namespaced(api_version, kind).await
    }

    async fn get(&mut self, key: &ObjectKey) -> Result<Option<J>, KubeError> {
        self.applier.get(key).await
    }

    async fn apply(&mut self, obj: &J) -> Result<(), KubeError> {
        self.applier.apply(obj).await.map(|_| ())
    }

    async fn delete(&mut self, key: &ObjectKey) -> Result<(), KubeError> {
        self.applier.delete(key).await
    }

    async fn release_secrets(
        &mut self,
        namespace: &str,
        release: &str,
    ) -> Result<BTreeMap<String, J>, KubeError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let lp = ListParams::default().labels(&format!("{INSTANCE_LABEL}={release}"));
        let list = retry(|| api.list(&lp))
            .await
            .map_err(|e| KubeError::api(format!("reading the Secrets of {release}"), e))?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|s| {
                let name = s.metadata.name.clone()?;
                let mut j = serde_json::to_value(&s).ok()?;
                j["apiVersion"] = "v1".into();
                j["kind"] = "Secret".into();
                Some((name, j))
            })
            .collect())
    }

    async fn wait_ready(
        &mut self,
        spec: &WaitFor,
        interrupt: &CancellationToken,
        progress: &mut (dyn FnMut(WaitProgress) + Send),
    ) -> Result<WaitOutcome, KubeError> {
        crate::kube::wait::wait_ready(&self.client, spec, interrupt, progress).await
    }
}

/// The release's records (Secrets of type `justpush.dev/release.v1`) and its Lease.
pub struct KubeReleases {
    client: kube::Client,
    namespace: String,
    release: String,
    records: RecordStore,
}

impl KubeReleases {
    pub fn new(client: &kube::Client, namespace: &str, release: &str) -> KubeReleases {
        KubeReleases {
            client: client.clone(),
            namespace: namespace.to_string(),
            release: release.to_string(),
            records: RecordStore::new(client.clone(), namespace, release),
        }
    }
}

#[async_trait]
impl ReleaseStore for KubeReleases {
    async fn list(&self) -> Result<Vec<ReleaseRecord>, KubeError> {
        self.records.list().await
    }

    async fn save(&self, record: &ReleaseRecord) -> Result<(), KubeError> {
        self.records.save(record).await
    }

    async fn delete(&self, revision: u32) -> Result<(), KubeError> {
        self.records.delete(revision).await
    }

    async fn prune(&self, records: &[ReleaseRecord]) -> Result<(), KubeError> {
        self.records.prune(records).await
    }

    async fn acquire_lease(
        &self,
        holder: &str,
        renew_every: Duration,
    ) -> Result<Box<dyn HeldRelease>, KubeError> {
        let held = crate::kube::lease::acquire_with(
            self.client.clone(),
            &self.namespace,
            &self.release,
            holder,
            renew_every,
        )
        .await?;
        Ok(Box::new(held))
    }
}

#[async_trait]
impl HeldRelease for HeldLease {
    fn lost(&self) -> CancellationToken {
        HeldLease::lost(self)
    }

    fn taken_by(&self) -> Option<String> {
        HeldLease::taken_by(self)
    }

    async fn release(self: Box<Self>) {
        HeldLease::release(*self).await
    }
}
