//! Release records: one Secret per revision (`justpush.release.v1.<name>.v<rev>`, type
//! `justpush.dev/release.v1`) holding gzip'd JSON of what was deployed, so `history` and
//! `rollback` work from any machine. Secret values never enter a record: values and Secret
//! objects keep only key names and a short SHA-256 of each value.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};
use serde_json::Value as J;
use sha2::Digest;

use super::KubeError;

/// Secret type of release records.
pub const RECORD_TYPE: &str = "justpush.dev/release.v1";
/// Revisions kept per release.
pub const KEEP_REVISIONS: usize = 10;
/// Prefix of redacted values.
pub const REDACTED_PREFIX: &str = "redacted:sha256:";
/// A secret value meaning "keep what the cluster has" (no value was supplied).
pub const KEEP_SECRET: &str = "redacted:sha256:keep";

/// Where a revision is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReleaseStatus {
    Pending,
    Building,
    Deploying,
    Deployed,
    Failed,
    Superseded,
    RolledBack,
}

impl ReleaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Pending => "PENDING",
            ReleaseStatus::Building => "BUILDING",
            ReleaseStatus::Deploying => "DEPLOYING",
            ReleaseStatus::Deployed => "DEPLOYED",
            ReleaseStatus::Failed => "FAILED",
            ReleaseStatus::Superseded => "SUPERSEDED",
            ReleaseStatus::RolledBack => "ROLLED_BACK",
        }
    }
}

/// One step of a run, as the `up` pipeline and deploy report them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordEvent {
    pub time: String,
    pub stage: String,
    pub message: String,
}

/// What one revision deployed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRecord {
    pub name: String,
    pub namespace: String,
    pub revision: u32,
    pub status: ReleaseStatus,
    pub chart_version: String,
    pub app_version: String,
    /// The values used, secret values redacted.
    pub values: J,
    /// The applied objects in install order, Secret values redacted.
    pub objects: Vec<J>,
    /// Component name to image reference.
    pub images: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
    /// `Kind/name` of the Kong objects (Ingresses, KongPlugins, KongConsumer, credential).
    pub kong_objects: Vec<String>,
    /// Name of the Secret holding the consumer's API key (read it there, not here).
    pub api_key_secret: Option<String>,
    pub warnings: Vec<String>,
    pub events: Vec<RecordEvent>,
    /// Why this revision exists ("Install complete", "Rollback to 3", ...).
    pub description: String,
    /// The namespace was created by this release's first install (delete removes it then).
    #[serde(default)]
    pub namespace_created: bool,
    /// Where the gateway serves the app, when the deployer knows (`up` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_url: Option<String>,
}

/// Current time in RFC 3339.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Name of the record Secret of a revision.
pub fn record_name(release: &str, revision: u32) -> String {
    format!("justpush.release.v1.{release}.v{revision}")
}

/// A short, non-reversible fingerprint of a secret value.
pub fn fingerprint(value: &[u8]) -> String {
    let d = sha2::Sha256::digest(value);
    let hex: String = d.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{REDACTED_PREFIX}{hex}")
}

/// Values with every secret value replaced by its fingerprint: components' secretEnv, the
/// database password, and the consumer's API key and JWT secret.
pub fn redact_values(values: &J) -> J {
    let mut v = values.clone();
    if let Some(J::Object(components)) = v.get_mut("components") {
        for c in components.values_mut() {
            if let Some(J::Object(env)) = c.get_mut("secretEnv") {
                for val in env.values_mut() {
                    *val = J::String(fingerprint(scalar_text(val).as_bytes()));
                }
            }
        }
    }
    for ptr in [
        "/database/auth/password",
        "/kong/consumer/apiKey",
        "/kong/consumer/jwt/secret",
    ] {
        if let Some(val) = v.pointer_mut(ptr) {
            if !scalar_text(val).is_empty() {
                *val = J::String(fingerprint(scalar_text(val).as_bytes()));
            }
        }
    }
    v
}

fn scalar_text(v: &J) -> String {
    match v {
        J::String(s) => s.clone(),
        J::Null => String::new(),
        other => other.to_string(),
    }
}

/// A Secret object with its `data` and `stringData` values replaced by fingerprints of the
/// decoded values (other kinds are returned unchanged).
pub fn redact_object(obj: &J) -> J {
    if obj.get("kind").and_then(J::as_str) != Some("Secret") {
        return obj.clone();
    }
    let mut o = obj.clone();
    if let Some(J::Object(data)) = o.get_mut("data") {
        for val in data.values_mut() {
            let raw = val.as_str().map(decode_b64).unwrap_or_default();
            *val = J::String(fingerprint(&raw));
        }
    }
    if let Some(J::Object(data)) = o.get_mut("stringData") {
        for val in data.values_mut() {
            *val = J::String(fingerprint(scalar_text(val).as_bytes()));
        }
    }
    o
}

fn decode_b64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_else(|_| s.as_bytes().to_vec())
}

/// Whether an object holds redacted values (and so cannot be applied as stored).
pub fn is_redacted(obj: &J) -> bool {
    ["data", "stringData"].iter().any(|k| {
        obj.get(*k).and_then(J::as_object).is_some_and(|m| {
            m.values()
                .any(|v| v.as_str().is_some_and(|s| s.starts_with(REDACTED_PREFIX)))
        })
    })
}

/// gzip'd JSON of a record.
pub fn encode(record: &ReleaseRecord) -> Vec<u8> {
    let json = serde_json::to_vec(record).expect("records serialise");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json).expect("in-memory write");
    gz.finish().expect("in-memory write")
}

/// A record from its gzip'd JSON.
pub fn decode(bytes: &[u8]) -> Result<ReleaseRecord, String> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut json)
        .map_err(|e| format!("not gzip: {e}"))?;
    serde_json::from_slice(&json).map_err(|e| format!("not a release record: {e}"))
}

/// The record Secret of a revision.
pub fn to_secret(record: &ReleaseRecord) -> Secret {
    let labels = BTreeMap::from([
        ("owner".to_string(), "justpush".to_string()),
        ("name".to_string(), record.name.clone()),
        ("status".to_string(), record.status.as_str().to_string()),
        ("version".to_string(), record.revision.to_string()),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(record_name(&record.name, record.revision)),
            namespace: Some(record.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        type_: Some(RECORD_TYPE.to_string()),
        data: Some(BTreeMap::from([(
            "release".to_string(),
            ByteString(encode(record)),
        )])),
        ..Default::default()
    }
}

/// The record a record Secret holds.
pub fn from_secret(secret: &Secret) -> Result<ReleaseRecord, String> {
    let data = secret
        .data
        .as_ref()
        .and_then(|d| d.get("release"))
        .ok_or("no `release` key")?;
    decode(&data.0)
}

/// Revisions to delete so that only the newest [`KEEP_REVISIONS`] remain.
pub fn revisions_to_prune(mut revisions: Vec<u32>) -> Vec<u32> {
    revisions.sort_unstable();
    let n = revisions.len().saturating_sub(KEEP_REVISIONS);
    revisions.truncate(n);
    revisions
}

/// The revision `rollback` goes to by default: the newest DEPLOYED or SUPERSEDED one before
/// the current.
pub fn last_good(records: &[ReleaseRecord], current: u32) -> Option<&ReleaseRecord> {
    records
        .iter()
        .filter(|r| r.revision < current)
        .filter(|r| {
            matches!(
                r.status,
                ReleaseStatus::Deployed | ReleaseStatus::Superseded
            )
        })
        .max_by_key(|r| r.revision)
}

/// The release's records in one namespace, in the cluster.
#[derive(Clone)]
pub struct RecordStore {
    api: Api<Secret>,
    namespace: String,
    release: String,
}

impl RecordStore {
    pub fn new(client: kube::Client, namespace: &str, release: &str) -> RecordStore {
        RecordStore {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            release: release.to_string(),
        }
    }

    /// Every revision, oldest first (unreadable records are skipped with their name).
    pub async fn list(&self) -> Result<Vec<ReleaseRecord>, KubeError> {
        let lp = ListParams::default().labels(&format!("owner=justpush,name={}", self.release));
        let list = self.api.list(&lp).await.map_err(|e| {
            KubeError::api(
                format!(
                    "listing release records of {} in namespace {}",
                    self.release, self.namespace
                ),
                e,
            )
        })?;
        let mut out: Vec<ReleaseRecord> = list
            .items
            .iter()
            .filter(|s| s.type_.as_deref() == Some(RECORD_TYPE))
            .filter_map(|s| from_secret(s).ok())
            .collect();
        out.sort_by_key(|r| r.revision);
        Ok(out)
    }

    /// Writes a record (creating or replacing its Secret).
    pub async fn save(&self, record: &ReleaseRecord) -> Result<(), KubeError> {
        let secret = to_secret(record);
        let name = record_name(&record.name, record.revision);
        let ctx = || {
            format!(
                "saving release record {name} in namespace {}",
                self.namespace
            )
        };
        match self
            .api
            .get_opt(&name)
            .await
            .map_err(|e| KubeError::api(ctx(), e))?
        {
            Some(existing) => {
                let mut s = secret;
                s.metadata.resource_version = existing.metadata.resource_version;
                self.api
                    .replace(&name, &PostParams::default(), &s)
                    .await
                    .map_err(|e| KubeError::api(ctx(), e))?;
            }
            None => {
                self.api
                    .create(&PostParams::default(), &secret)
                    .await
                    .map_err(|e| KubeError::api(ctx(), e))?;
            }
        }
        Ok(())
    }

    /// Deletes a revision's record.
    pub async fn delete(&self, revision: u32) -> Result<(), KubeError> {
        let name = record_name(&self.release, revision);
        match self.api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(KubeError::api(format!("deleting release record {name}"), e)),
        }
    }

    /// Deletes the oldest records beyond [`KEEP_REVISIONS`].
    pub async fn prune(&self, records: &[ReleaseRecord]) -> Result<(), KubeError> {
        for rev in revisions_to_prune(records.iter().map(|r| r.revision).collect()) {
            self.delete(rev).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(rev: u32, status: ReleaseStatus) -> ReleaseRecord {
        ReleaseRecord {
            name: "todo".into(),
            namespace: "apps".into(),
            revision: rev,
            status,
            chart_version: "0.1.0".into(),
            app_version: "0.1.0".into(),
            values: json!({}),
            objects: vec![],
            images: BTreeMap::new(),
            created_at: now(),
            updated_at: now(),
            kong_objects: vec![],
            api_key_secret: None,
            warnings: vec![],
            events: vec![],
            description: String::new(),
            namespace_created: false,
            gateway_url: None,
        }
    }

    #[test]
    fn values_and_secrets_are_redacted() {
        let v = json!({
            "components": {"api": {"secretEnv": {"TOKEN": "s3cret"}, "env": {"A": "plain"}}},
            "kong": {"consumer": {"apiKey": "k3y", "jwt": {"secret": ""}}},
            "database": {"auth": {"password": "pw"}}
        });
        let r = redact_values(&v);
        let text = r.to_string();
        assert!(!text.contains("s3cret") && !text.contains("k3y") && !text.contains("\"pw\""));
        assert!(text.contains("plain"));
        assert_eq!(
            r["components"]["api"]["secretEnv"]["TOKEN"],
            json!(fingerprint(b"s3cret"))
        );
        assert_eq!(r["kong"]["consumer"]["jwt"]["secret"], json!(""));

        let s = json!({"kind": "Secret", "data": {"key": "czNjcmV0"}, "stringData": {"b": "x"}});
        let rs = redact_object(&s);
        assert_eq!(rs["data"]["key"], json!(fingerprint(b"s3cret")));
        assert!(is_redacted(&rs));
        assert!(!is_redacted(&s));
        let cm = json!({"kind": "ConfigMap", "data": {"a": "b"}});
        assert_eq!(redact_object(&cm), cm);
    }

    #[test]
    fn records_round_trip_through_a_secret() {
        let mut r = record(3, ReleaseStatus::Deployed);
        r.objects
            .push(json!({"kind": "ConfigMap", "metadata": {"name": "c"}}));
        let s = to_secret(&r);
        assert_eq!(
            s.metadata.name.as_deref(),
            Some("justpush.release.v1.todo.v3")
        );
        assert_eq!(s.metadata.labels.as_ref().unwrap()["status"], "DEPLOYED");
        assert_eq!(from_secret(&s).unwrap(), r);
        assert!(decode(b"nope").is_err());
    }

    #[test]
    fn keeps_ten_and_finds_last_good() {
        assert_eq!(revisions_to_prune((1..=12).rev().collect()), vec![1, 2]);
        assert!(revisions_to_prune((1..=10).collect()).is_empty());
        let rs = vec![
            record(1, ReleaseStatus::Superseded),
            record(2, ReleaseStatus::Failed),
            record(3, ReleaseStatus::Deployed),
        ];
        assert_eq!(last_good(&rs, 3).unwrap().revision, 1);
        assert!(last_good(&rs, 1).is_none());
    }
}
