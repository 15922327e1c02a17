//! In-memory [`ClusterOps`] and [`ReleaseStore`] for the phase tests: a map of objects, a set
//! of namespaces, records and a lease, with faults injected by name. No watch, no HTTP: the
//! wait answers from a script, so a phase test runs in milliseconds.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use serde_json::Value as J;
use tokio_util::sync::CancellationToken;

use super::ports::{ClusterOps, HeldRelease, ReleaseStore};
use crate::kube::apply::ObjectKey;
use crate::kube::record::ReleaseRecord;
use crate::kube::wait::{WaitFor, WaitOutcome, WaitProgress};
use crate::kube::KubeError;

fn refused(what: &str, code: u16) -> KubeError {
    KubeError::Api {
        context: what.to_string(),
        message: format!("injected fault ({code})"),
        code: Some(code),
    }
}

/// The objects of a cluster, and the faults to answer with.
#[derive(Default)]
pub struct FakeCluster {
    pub objects: BTreeMap<ObjectKey, J>,
    pub namespaces: BTreeSet<String>,
    pub kong: bool,
    /// `Kind/name` → HTTP status the apply fails with (0: the connection is lost).
    pub fail_apply: BTreeMap<String, u16>,
    /// `Kind/name` whose delete fails.
    pub fail_delete: BTreeSet<String>,
    pub fail_delete_namespace: bool,
    /// What each wait answers, in order (Ready when the script is empty).
    pub waits: VecDeque<WaitOutcome>,
    /// Runs at the start of each wait (a lease taken over, a Ctrl-C pressed meanwhile).
    pub during_wait: Option<Box<dyn FnMut() + Send>>,
    /// The `WaitFor` of each wait, for assertions.
    pub waited: Vec<WaitFor>,
}

impl FakeCluster {
    pub fn with_kong() -> FakeCluster {
        FakeCluster {
            kong: true,
            ..Default::default()
        }
    }

    /// `Kind/name` → the object, for end-state comparisons.
    pub fn by_name(&self) -> BTreeMap<String, J> {
        self.objects
            .iter()
            .map(|(k, o)| (format!("{}/{}", k.kind, k.name), o.clone()))
            .collect()
    }

    /// A Secret's decoded data.
    pub fn secret_data(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let (_, o) = self
            .objects
            .iter()
            .find(|(k, _)| k.kind == "Secret" && k.name == name)?;
        let data = o.get("data")?.as_object()?;
        Some(
            data.iter()
                .map(|(k, v)| {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(v.as_str().unwrap_or(""))
                        .unwrap_or_default();
                    (k.clone(), String::from_utf8_lossy(&bytes).into_owned())
                })
                .collect(),
        )
    }
}

/// What the API server does to a Secret's stringData: merges it into data, base64.
fn as_stored(obj: &J) -> J {
    let mut o = obj.clone();
    if o.get("kind").and_then(J::as_str) == Some("Secret") {
        if let Some(J::Object(sd)) = o.as_object_mut().and_then(|m| m.remove("stringData")) {
            let data = o
                .as_object_mut()
                .unwrap()
                .entry("data")
                .or_insert_with(|| J::Object(Default::default()));
            for (k, v) in sd {
                let text = v.as_str().unwrap_or("").as_bytes().to_vec();
                data[k] = J::String(base64::engine::general_purpose::STANDARD.encode(text));
            }
        }
    }
    o
}

#[async_trait]
impl ClusterOps for FakeCluster {
    async fn serves_kong(&mut self) -> Result<bool, KubeError> {
        Ok(self.kong)
    }

    async fn ensure_namespace(&mut self, namespace: &str) -> Result<bool, KubeError> {
        Ok(self.namespaces.insert(namespace.to_string()))
    }

    async fn delete_namespace(&mut self, namespace: &str) -> Result<(), KubeError> {
        if self.fail_delete_namespace {
            return Err(refused(&format!("deleting namespace {namespace}"), 500));
        }
        self.namespaces.remove(namespace);
        self.objects
            .retain(|k, _| k.namespace.as_deref() != Some(namespace));
        Ok(())
    }

    async fn is_namespaced(&mut self, _api_version: &str, kind: &str) -> Result<bool, KubeError> {
        Ok(!matches!(
            kind,
            "Namespace" | "ClusterRole" | "IngressClass"
        ))
    }

    async fn get(&mut self, key: &ObjectKey) -> Result<Option<J>, KubeError> {
        Ok(self.objects.get(key).cloned())
    }

    async fn apply(&mut self, obj: &J) -> Result<(), KubeError> {
        let key = ObjectKey::of(obj);
        if let Some(code) = self.fail_apply.get(&format!("{}/{}", key.kind, key.name)) {
            return Err(match code {
                0 => KubeError::Other(format!("applying {key}: connection reset by peer")),
                c => refused(&format!("applying {key}"), *c),
            });
        }
        if let Some(ns) = &key.namespace {
            if !self.namespaces.contains(ns) {
                return Err(refused(
                    &format!("applying {key}: namespace {ns} not found"),
                    404,
                ));
            }
        }
        self.objects.insert(key, as_stored(obj));
        Ok(())
    }

    async fn delete(&mut self, key: &ObjectKey) -> Result<(), KubeError> {
        if self
            .fail_delete
            .contains(&format!("{}/{}", key.kind, key.name))
        {
            return Err(refused(&format!("deleting {key}"), 500));
        }
        self.objects.remove(key);
        Ok(())
    }

    async fn release_secrets(
        &mut self,
        namespace: &str,
        release: &str,
    ) -> Result<BTreeMap<String, J>, KubeError> {
        Ok(self
            .objects
            .iter()
            .filter(|(k, o)| {
                k.kind == "Secret"
                    && k.namespace.as_deref() == Some(namespace)
                    && o.pointer("/metadata/labels/app.kubernetes.io~1instance")
                        .and_then(J::as_str)
                        == Some(release)
            })
            .map(|(k, o)| (k.name.clone(), o.clone()))
            .collect())
    }

    async fn wait_ready(
        &mut self,
        spec: &WaitFor,
        interrupt: &CancellationToken,
        _progress: &mut (dyn FnMut(WaitProgress) + Send),
    ) -> Result<WaitOutcome, KubeError> {
        self.waited.push(spec.clone());
        if let Some(f) = self.during_wait.as_mut() {
            f();
        }
        if interrupt.is_cancelled() {
            return Ok(WaitOutcome::Interrupted);
        }
        Ok(self.waits.pop_front().unwrap_or(WaitOutcome::Ready))
    }
}

/// Records and the lease of one release.
#[derive(Default, Clone)]
pub struct FakeReleases {
    pub records: Arc<Mutex<BTreeMap<u32, ReleaseRecord>>>,
    /// Who holds the lease, if anyone.
    pub lease: Arc<Mutex<Option<String>>>,
    /// Revisions whose record cannot be deleted.
    pub fail_delete: Arc<Mutex<BTreeSet<u32>>>,
    /// Cancelled to take the lease over (as another deploy would after an expiry).
    pub take_over: CancellationToken,
}

impl FakeReleases {
    pub fn records(&self) -> Vec<ReleaseRecord> {
        self.records.lock().unwrap().values().cloned().collect()
    }

    /// Another deploy takes the lease over.
    pub fn lease_taken_by(&self, holder: &str) {
        *self.lease.lock().unwrap() = Some(holder.to_string());
        self.take_over.cancel();
    }
}

#[async_trait]
impl ReleaseStore for FakeReleases {
    async fn list(&self) -> Result<Vec<ReleaseRecord>, KubeError> {
        Ok(self.records())
    }

    async fn save(&self, record: &ReleaseRecord) -> Result<(), KubeError> {
        self.records
            .lock()
            .unwrap()
            .insert(record.revision, record.clone());
        Ok(())
    }

    async fn delete(&self, revision: u32) -> Result<(), KubeError> {
        if self.fail_delete.lock().unwrap().contains(&revision) {
            return Err(refused(&format!("deleting release record {revision}"), 500));
        }
        self.records.lock().unwrap().remove(&revision);
        Ok(())
    }

    async fn prune(&self, records: &[ReleaseRecord]) -> Result<(), KubeError> {
        let revisions = records.iter().map(|r| r.revision).collect();
        for rev in crate::kube::record::revisions_to_prune(revisions) {
            self.records.lock().unwrap().remove(&rev);
        }
        Ok(())
    }

    async fn acquire_lease(
        &self,
        holder: &str,
        _renew_every: Duration,
    ) -> Result<Box<dyn HeldRelease>, KubeError> {
        let mut lease = self.lease.lock().unwrap();
        if let Some(other) = lease.as_ref().filter(|h| *h != holder) {
            return Err(KubeError::Other(format!(
                "release is being deployed by {other}"
            )));
        }
        *lease = Some(holder.to_string());
        Ok(Box::new(FakeLease {
            lease: self.lease.clone(),
            holder: holder.to_string(),
            lost: self.take_over.clone(),
        }))
    }
}

struct FakeLease {
    lease: Arc<Mutex<Option<String>>>,
    holder: String,
    lost: CancellationToken,
}

#[async_trait]
impl HeldRelease for FakeLease {
    fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    fn taken_by(&self) -> Option<String> {
        self.lease
            .lock()
            .unwrap()
            .clone()
            .filter(|h| *h != self.holder)
    }

    async fn release(self: Box<Self>) {
        let mut lease = self.lease.lock().unwrap();
        if lease.as_deref() == Some(self.holder.as_str()) {
            *lease = None;
        }
    }
}
