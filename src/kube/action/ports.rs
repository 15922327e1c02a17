//! The two interfaces the deploy action runs over, in the manner of Helm's `kube.Interface`
//! and its release `Storage`: [`ClusterOps`] (the objects of the app) and [`ReleaseStore`]
//! (the release's revision records and its lease). [`super::kube_ops`] implements them with
//! kube-rs; the unit tests of the phases use the in-memory fakes of `fake.rs`, and the
//! integration tier runs the kube-rs implementations against the fake API server.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value as J;
use tokio_util::sync::CancellationToken;

use crate::kube::apply::ObjectKey;
use crate::kube::record::ReleaseRecord;
use crate::kube::wait::{WaitFor, WaitOutcome, WaitProgress};
use crate::kube::KubeError;

/// What the action does to the app's objects and namespace.
#[async_trait]
pub trait ClusterOps: Send {
    /// Whether the cluster serves Kong's CRDs (KongPlugin).
    async fn serves_kong(&mut self) -> Result<bool, KubeError>;
    /// Creates the namespace unless it exists; true when this call created it.
    async fn ensure_namespace(&mut self, namespace: &str) -> Result<bool, KubeError>;
    /// Deletes a namespace (with everything left in it).
    async fn delete_namespace(&mut self, namespace: &str) -> Result<(), KubeError>;
    /// Whether objects of a kind live in a namespace (unknown kinds: yes).
    async fn is_namespaced(&mut self, api_version: &str, kind: &str) -> Result<bool, KubeError>;
    /// The object as the cluster has it, if it exists.
    async fn get(&mut self, key: &ObjectKey) -> Result<Option<J>, KubeError>;
    /// Server-side apply of one object.
    async fn apply(&mut self, obj: &J) -> Result<(), KubeError>;
    /// Deletes an object; gone already is fine.
    async fn delete(&mut self, key: &ObjectKey) -> Result<(), KubeError>;
    /// The release's Secrets by name, for the chart's `lookup` (generated credentials are
    /// reused from them).
    async fn release_secrets(
        &mut self,
        namespace: &str,
        release: &str,
    ) -> Result<BTreeMap<String, J>, KubeError>;
    /// Waits until the workloads are ready, fail, time out, or `interrupt` fires.
    async fn wait_ready(
        &mut self,
        spec: &WaitFor,
        interrupt: &CancellationToken,
        progress: &mut (dyn FnMut(WaitProgress) + Send),
    ) -> Result<WaitOutcome, KubeError>;
}

/// The release's revision records and its lease, in one namespace.
#[async_trait]
pub trait ReleaseStore: Send + Sync {
    /// Every revision, oldest first.
    async fn list(&self) -> Result<Vec<ReleaseRecord>, KubeError>;
    /// Writes a record (creates or replaces it).
    async fn save(&self, record: &ReleaseRecord) -> Result<(), KubeError>;
    /// Deletes a revision's record.
    async fn delete(&self, revision: u32) -> Result<(), KubeError>;
    /// Deletes the oldest records beyond what is kept.
    async fn prune(&self, records: &[ReleaseRecord]) -> Result<(), KubeError>;
    /// Takes the release's lease (renewed every `renew_every`) or says who holds it.
    async fn acquire_lease(
        &self,
        holder: &str,
        renew_every: Duration,
    ) -> Result<Box<dyn HeldRelease>, KubeError>;
}

/// A lease this run holds.
#[async_trait]
pub trait HeldRelease: Send + Sync {
    /// Cancelled once the lease is no longer ours.
    fn lost(&self) -> CancellationToken;
    /// Who took it over, once lost.
    fn taken_by(&self) -> Option<String>;
    /// Gives it up (deletes it if still ours).
    async fn release(self: Box<Self>);
}
