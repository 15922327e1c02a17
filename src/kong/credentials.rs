//! The developer consumer's credentials: generated once (256 random bits and more), kept
//! across upgrades, replaced only when asked (`credentials --rotate`). The decision is pure
//! ([`plan_credential`]); reading and writing the credential Secret goes through
//! [`CredentialStore`] (kube-rs in [`KubeStore`]). Secret values never reach logs or argv.

use std::collections::BTreeMap;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::derive::CredentialKind;

/// Field manager of every write.
pub const FIELD_MANAGER: &str = "kubectl-justpush";
/// Random bytes in a generated key or secret (256 bits).
pub const KEY_BYTES: usize = 32;

/// What happened to a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// No credential existed: a fresh one was generated.
    Created,
    /// The existing credential is kept as it is.
    Kept,
    /// The existing credential was replaced on request.
    Rotated,
}

/// A credential's plain data (as in the Secret, decoded) and what happened to it.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialPlan {
    pub kind: CredentialKind,
    pub data: BTreeMap<String, String>,
    pub outcome: Outcome,
}

impl std::fmt::Debug for CredentialPlan {
    // Values stay out of debug output (and so out of panics and logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialPlan")
            .field("kind", &self.kind)
            .field("fields", &self.data.keys().collect::<Vec<_>>())
            .field("outcome", &self.outcome)
            .finish()
    }
}

/// Why a credential cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialError {
    #[error("credential Secret {name} exists but its `{field}` is missing or empty; it is not replaced silently: run `kubectl justpush credentials --rotate` to generate a new one")]
    Damaged { name: String, field: String },
    #[error("no {kind} credential found (Secret {namespace}/{name}); deploy first with `kubectl justpush up`, or check --name and --namespace")]
    Missing {
        kind: &'static str,
        namespace: String,
        name: String,
    },
    #[error("{action} Secret {namespace}/{name}: {message}")]
    Api {
        action: &'static str,
        namespace: String,
        name: String,
        message: String,
    },
}

/// A fresh random key: [`KEY_BYTES`] bytes from the OS generator, base64url without padding
/// (43 characters, URL- and header-safe).
pub fn generate_key(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; KEY_BYTES];
    rng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The fields that make a credential of `kind` usable (the ones [`plan_credential`] generates).
fn secret_fields(kind: CredentialKind) -> &'static [&'static str] {
    match kind {
        CredentialKind::KeyAuth => &["key"],
        CredentialKind::Jwt => &["key", "secret"],
        CredentialKind::BasicAuth => &["username", "password"],
    }
}

/// Decides the credential to use: the existing one unless `rotate`; a new one when none
/// exists or on rotation. `username` is the consumer's (jwt issuer, basic-auth user).
pub fn plan_credential(
    kind: CredentialKind,
    secret_name: &str,
    existing: Option<&BTreeMap<String, String>>,
    username: &str,
    rotate: bool,
    rng: &mut impl RngCore,
) -> Result<CredentialPlan, CredentialError> {
    if let (Some(data), false) = (existing, rotate) {
        for field in secret_fields(kind) {
            if data.get(*field).is_none_or(|v| v.is_empty()) {
                return Err(CredentialError::Damaged {
                    name: secret_name.to_string(),
                    field: (*field).to_string(),
                });
            }
        }
        return Ok(CredentialPlan {
            kind,
            data: data.clone(),
            outcome: Outcome::Kept,
        });
    }
    let outcome = if existing.is_some() {
        Outcome::Rotated
    } else {
        Outcome::Created
    };
    let mut data = BTreeMap::new();
    match kind {
        CredentialKind::KeyAuth => {
            data.insert("key".into(), generate_key(rng));
        }
        CredentialKind::Jwt => {
            // The issuer stays what it was, so tokens name the same credential after rotation.
            let issuer = existing
                .and_then(|d| d.get("key").filter(|k| !k.is_empty()).cloned())
                .unwrap_or_else(|| username.to_string());
            data.insert("key".into(), issuer);
            data.insert("algorithm".into(), "HS256".into());
            data.insert("secret".into(), generate_key(rng));
        }
        CredentialKind::BasicAuth => {
            data.insert("username".into(), username.to_string());
            data.insert("password".into(), generate_key(rng));
        }
    }
    Ok(CredentialPlan {
        kind,
        data,
        outcome,
    })
}

/// The credential Secret's name, as the bundled chart names it.
pub fn secret_name(release: &str, kind: CredentialKind) -> String {
    crate::chart::names::dns_name(&format!("{}-consumer-{}", fullname(release), kind.plugin()))
}

/// The chart's `justpush.fullname` without overrides.
pub fn fullname(release: &str) -> String {
    let mut name = if release.contains("justpush") {
        release.to_string()
    } else {
        format!("{release}-justpush")
    };
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}

/// The chart's default consumer username.
pub fn consumer_username(release: &str) -> String {
    format!("{release}-developer")
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// An HS256 JWT for Kong's jwt plugin: `iss` names the credential (its `key`), `exp` is
/// `now + ttl` seconds since the epoch.
pub fn mint_jwt(issuer: &str, secret: &str, now: u64, ttl_seconds: u64) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = b64.encode(
        serde_json::json!({"iss": issuer, "iat": now, "exp": now + ttl_seconds}).to_string(),
    );
    let signing_input = format!("{header}.{payload}");
    let signature = b64.encode(hmac_sha256(secret.as_bytes(), signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

/// Chart values that make a render use these credentials (for the deploy pipeline: plan the
/// credentials from the cluster's Secrets first, then render with these values so an offline
/// render never draws a new key). Values stay in memory; never pass them on a command line.
pub fn consumer_values(plans: &[CredentialPlan]) -> serde_json::Value {
    let mut consumer = serde_json::Map::new();
    for p in plans {
        match p.kind {
            CredentialKind::KeyAuth => {
                consumer.insert("apiKey".into(), p.data["key"].clone().into());
            }
            CredentialKind::Jwt => {
                consumer.insert(
                    "jwt".into(),
                    serde_json::json!({"issuer": p.data["key"], "secret": p.data["secret"]}),
                );
            }
            CredentialKind::BasicAuth => {}
        }
    }
    serde_json::json!({"kong": {"consumer": consumer}})
}

/// Reads and writes credential Secrets.
#[async_trait::async_trait]
pub trait CredentialStore {
    /// The Secret's decoded data, None when it does not exist.
    async fn read(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, CredentialError>;
    /// Creates or replaces the Secret's data (server-side apply).
    async fn write(
        &self,
        namespace: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
        data: &BTreeMap<String, String>,
    ) -> Result<(), CredentialError>;
}

/// The store on a cluster, through kube-rs.
pub struct KubeStore {
    pub client: kube::Client,
}

#[async_trait::async_trait]
impl CredentialStore for KubeStore {
    async fn read(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, CredentialError> {
        use k8s_openapi::api::core::v1::Secret;
        let api: kube::Api<Secret> = kube::Api::namespaced(self.client.clone(), namespace);
        let secret = api.get_opt(name).await.map_err(|e| CredentialError::Api {
            action: "reading",
            namespace: namespace.into(),
            name: name.into(),
            message: e.to_string(),
        })?;
        Ok(secret.map(|s| {
            let mut out: BTreeMap<String, String> = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                .collect();
            out.extend(s.string_data.unwrap_or_default());
            out
        }))
    }

    async fn write(
        &self,
        namespace: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
        data: &BTreeMap<String, String>,
    ) -> Result<(), CredentialError> {
        use k8s_openapi::api::core::v1::Secret;
        let api: kube::Api<Secret> = kube::Api::namespaced(self.client.clone(), namespace);
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "type": "Opaque",
            "data": data.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(b64.encode(v)))).collect::<serde_json::Map<_, _>>(),
        });
        let params = kube::api::PatchParams::apply(FIELD_MANAGER).force();
        api.patch(name, &params, &kube::api::Patch::Apply(&body))
            .await
            .map(|_| ())
            .map_err(|e| CredentialError::Api {
                action: "writing",
                namespace: namespace.into(),
                name: name.into(),
                message: e.to_string(),
            })
    }
}

/// Labels of a credential Secret (KIC finds credentials by `konghq.com/credential`).
pub fn credential_labels(release: &str, kind: CredentialKind) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "justpush".to_string()),
        (
            "app.kubernetes.io/instance".to_string(),
            release.to_string(),
        ),
        (
            "app.kubernetes.io/component".to_string(),
            "gateway".to_string(),
        ),
        (
            "konghq.com/credential".to_string(),
            kind.plugin().to_string(),
        ),
    ])
}

/// Reads the credential of `kind` and, when `rotate`, replaces it. Without `rotate` nothing is
/// written: showing a credential never changes it.
pub async fn show_or_rotate(
    store: &dyn CredentialStore,
    namespace: &str,
    release: &str,
    kind: CredentialKind,
    rotate: bool,
) -> Result<CredentialPlan, CredentialError> {
    let name = secret_name(release, kind);
    let existing = store.read(namespace, &name).await?;
    if existing.is_none() && !rotate {
        return Err(CredentialError::Missing {
            kind: kind.plugin(),
            namespace: namespace.into(),
            name,
        });
    }
    let plan = plan_credential(
        kind,
        &name,
        existing.as_ref(),
        &consumer_username(release),
        rotate,
        &mut rand::rngs::OsRng,
    )?;
    if plan.outcome != Outcome::Kept {
        store
            .write(
                namespace,
                &name,
                &credential_labels(release, kind),
                &plan.data,
            )
            .await?;
    }
    Ok(plan)
}

/// For a deploy: the credentials the release will carry, read from the cluster, generated
/// only where none exists (never rotated). Nothing is written here: render the chart with
/// [`consumer_values`] of the result and apply it; then print the `Created` ones once.
pub async fn plan_for_deploy(
    store: &dyn CredentialStore,
    namespace: &str,
    release: &str,
    kinds: &[CredentialKind],
) -> Result<Vec<CredentialPlan>, CredentialError> {
    let mut out = Vec::new();
    for kind in kinds {
        let name = secret_name(release, *kind);
        let existing = store.read(namespace, &name).await?;
        out.push(plan_credential(
            *kind,
            &name,
            existing.as_ref(),
            &consumer_username(release),
            false,
            &mut rand::rngs::OsRng,
        )?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    #[test]
    fn generated_keys_have_256_bits_and_differ() {
        let mut r = rand::rngs::OsRng;
        let a = generate_key(&mut r);
        let b = generate_key(&mut r);
        assert_ne!(a, b);
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&a)
            .unwrap();
        assert_eq!(decoded.len() * 8, 256);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{a}"
        );
    }

    #[test]
    fn an_existing_key_is_kept_and_only_rotation_replaces_it() {
        let existing = BTreeMap::from([("key".to_string(), "old-key-value".to_string())]);
        let kept = plan_credential(
            CredentialKind::KeyAuth,
            "s",
            Some(&existing),
            "dev",
            false,
            &mut rng(),
        )
        .unwrap();
        assert_eq!(
            (kept.outcome, kept.data["key"].as_str()),
            (Outcome::Kept, "old-key-value")
        );
        let rotated = plan_credential(
            CredentialKind::KeyAuth,
            "s",
            Some(&existing),
            "dev",
            true,
            &mut rng(),
        )
        .unwrap();
        assert_eq!(rotated.outcome, Outcome::Rotated);
        assert_ne!(rotated.data["key"], "old-key-value");
        let fresh =
            plan_credential(CredentialKind::KeyAuth, "s", None, "dev", false, &mut rng()).unwrap();
        assert_eq!(fresh.outcome, Outcome::Created);
        assert_eq!(fresh.data["key"].len(), 43);
    }

    #[test]
    fn a_damaged_secret_is_not_silently_replaced() {
        let empty = BTreeMap::from([("key".to_string(), String::new())]);
        let err = plan_credential(
            CredentialKind::KeyAuth,
            "demo-justpush-consumer-key-auth",
            Some(&empty),
            "dev",
            false,
            &mut rng(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("--rotate"), "{err}");
    }

    #[test]
    fn jwt_rotation_keeps_the_issuer() {
        let existing = BTreeMap::from([
            ("key".to_string(), "mobile-app".to_string()),
            ("algorithm".to_string(), "HS256".to_string()),
            ("secret".to_string(), "s".repeat(43)),
        ]);
        let p = plan_credential(
            CredentialKind::Jwt,
            "s",
            Some(&existing),
            "dev",
            true,
            &mut rng(),
        )
        .unwrap();
        assert_eq!(p.data["key"], "mobile-app");
        assert_ne!(p.data["secret"], "s".repeat(43));
        let fresh = plan_credential(
            CredentialKind::Jwt,
            "s",
            None,
            "demo-developer",
            false,
            &mut rng(),
        )
        .unwrap();
        assert_eq!(
            (fresh.data["key"].as_str(), fresh.data["algorithm"].as_str()),
            ("demo-developer", "HS256")
        );
    }

    #[test]
    fn consumer_values_carry_the_planned_credentials() {
        let key =
            plan_credential(CredentialKind::KeyAuth, "s", None, "dev", false, &mut rng()).unwrap();
        let jwt =
            plan_credential(CredentialKind::Jwt, "s", None, "dev", false, &mut rng()).unwrap();
        let v = consumer_values(&[key.clone(), jwt.clone()]);
        assert_eq!(v["kong"]["consumer"]["apiKey"], key.data["key"].as_str());
        assert_eq!(
            v["kong"]["consumer"]["jwt"]["secret"],
            jwt.data["secret"].as_str()
        );
        assert_eq!(v["kong"]["consumer"]["jwt"]["issuer"], "dev");
    }

    /// Secrets in memory, counting writes.
    #[derive(Default)]
    struct MemoryStore {
        secrets: std::sync::Mutex<BTreeMap<String, BTreeMap<String, String>>>,
        writes: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl CredentialStore for MemoryStore {
        async fn read(
            &self,
            ns: &str,
            name: &str,
        ) -> Result<Option<BTreeMap<String, String>>, CredentialError> {
            Ok(self
                .secrets
                .lock()
                .unwrap()
                .get(&format!("{ns}/{name}"))
                .cloned())
        }
        async fn write(
            &self,
            ns: &str,
            name: &str,
            _: &BTreeMap<String, String>,
            data: &BTreeMap<String, String>,
        ) -> Result<(), CredentialError> {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.secrets
                .lock()
                .unwrap()
                .insert(format!("{ns}/{name}"), data.clone());
            Ok(())
        }
    }

    #[tokio::test]
    async fn deploy_planning_keeps_existing_keys_and_never_writes() {
        let store = MemoryStore::default();
        store.secrets.lock().unwrap().insert(
            "apps/demo-justpush-consumer-key-auth".into(),
            BTreeMap::from([("key".to_string(), "kept".to_string())]),
        );
        let plans = plan_for_deploy(
            &store,
            "apps",
            "demo",
            &[CredentialKind::KeyAuth, CredentialKind::Jwt],
        )
        .await
        .unwrap();
        assert_eq!(
            (plans[0].outcome, plans[0].data["key"].as_str()),
            (Outcome::Kept, "kept")
        );
        assert_eq!(plans[1].outcome, Outcome::Created);
        assert_eq!(store.writes.load(std::sync::atomic::Ordering::SeqCst), 0);
        // Rotation through the same store writes exactly once and changes the key.
        let rotated = show_or_rotate(&store, "apps", "demo", CredentialKind::KeyAuth, true)
            .await
            .unwrap();
        assert_eq!(rotated.outcome, Outcome::Rotated);
        assert_eq!(store.writes.load(std::sync::atomic::Ordering::SeqCst), 1);
        let shown = show_or_rotate(&store, "apps", "demo", CredentialKind::KeyAuth, false)
            .await
            .unwrap();
        assert_eq!(shown.data["key"], rotated.data["key"]);
        assert_eq!(store.writes.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn debug_output_hides_values() {
        let p =
            plan_credential(CredentialKind::KeyAuth, "s", None, "dev", false, &mut rng()).unwrap();
        assert!(!format!("{p:?}").contains(&p.data["key"]));
    }

    #[test]
    fn names_follow_the_chart() {
        assert_eq!(
            secret_name("demo", CredentialKind::KeyAuth),
            "demo-justpush-consumer-key-auth"
        );
        assert_eq!(
            secret_name("justpush", CredentialKind::Jwt),
            "justpush-consumer-jwt"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_and_tokens_verify() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let token = mint_jwt("iss-1", "secret", 1_700_000_000, 3600);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(
            payload,
            serde_json::json!({"iss": "iss-1", "iat": 1_700_000_000u64, "exp": 1_700_003_600u64})
        );
        let expected = b64.encode(hmac_sha256(
            b"secret",
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
        ));
        assert_eq!(parts[2], expected);
    }
}
