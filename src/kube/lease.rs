//! One deploy per release at a time: a coordination.k8s.io Lease per release, held by
//! `user@host pid N`, renewed while the deploy runs, and taken over once it has expired (its
//! holder died without releasing it).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};

use super::KubeError;

/// How long a lease lives without renewal.
pub const LEASE_SECONDS: i32 = 60;
/// How often a held lease is renewed.
pub const RENEW_EVERY: Duration = Duration::from_secs(15);

/// Name of a release's lease.
pub fn lease_name(release: &str) -> String {
    format!("justpush.release.{release}")
}

/// This process, as lease holders are named.
pub fn holder_identity() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host} pid {}", std::process::id())
}

/// Whether a lease may be taken: no holder, or not renewed within its duration.
pub fn is_free(spec: Option<&LeaseSpec>, now: Timestamp) -> bool {
    let Some(spec) = spec else { return true };
    if spec.holder_identity.as_deref().is_none_or(str::is_empty) {
        return true;
    }
    let duration = spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS) as i64;
    let last = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    match last {
        Some(t) => now.as_second() - t.as_second() > duration,
        None => true,
    }
}

fn now_micro() -> MicroTime {
    MicroTime(Timestamp::now())
}

/// A held lease; call [`HeldLease::release`] when done (it expires anyway).
pub struct HeldLease {
    api: Api<Lease>,
    name: String,
    holder: String,
    stop: tokio_util::sync::CancellationToken,
    /// Cancelled once a renewal finds the lease held by someone else, or gone.
    lost: tokio_util::sync::CancellationToken,
    /// Who holds it then (or why there is none).
    taken_by: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

/// What a renewal found.
#[derive(Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Still ours: renew it.
    Ours,
    /// Another holder took it over (it expired while we could not renew), or it was deleted.
    Lost(String),
}

/// Whether a lease read back during a deploy is still held by `holder`.
pub fn renewal(lease: Option<&Lease>, holder: &str) -> Renewal {
    let Some(l) = lease else {
        return Renewal::Lost("nobody: the lease was deleted".into());
    };
    match l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) {
        Some(h) if h == holder => Renewal::Ours,
        Some(h) => Renewal::Lost(h.to_string()),
        None => Renewal::Lost("nobody: the lease was released".into()),
    }
}

/// Takes the release's lease or says who holds it (renewed every [`RENEW_EVERY`]).
pub async fn acquire(
    client: kube::Client,
    namespace: &str,
    release: &str,
    holder: &str,
) -> Result<HeldLease, KubeError> {
    acquire_with(client, namespace, release, holder, RENEW_EVERY).await
}

/// [`acquire`] with a chosen renewal interval.
pub async fn acquire_with(
    client: kube::Client,
    namespace: &str,
    release: &str,
    holder: &str,
    renew_every: Duration,
) -> Result<HeldLease, KubeError> {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    let name = lease_name(release);
    let ctx = || format!("taking lease {name} in namespace {namespace}");
    let taken_at = now_micro();
    let spec = LeaseSpec {
        holder_identity: Some(holder.to_string()),
        lease_duration_seconds: Some(LEASE_SECONDS),
        acquire_time: Some(taken_at.clone()),
        renew_time: Some(taken_at),
        ..Default::default()
    };
    let existing = super::apply::retry(|| api.get_opt(&name))
        .await
        .map_err(|e| KubeError::api(ctx(), e))?;
    let refused = |l: &Lease| {
        let s = l.spec.clone().unwrap_or_default();
        let renewed = s
            .renew_time
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_else(|| "never".into());
        KubeError::Other(format!(
            "another deploy of release {release} is in progress: lease {namespace}/{name} is held by {} (last renewed {renewed}, expires {} s after that); wait for it to finish, or if that run died, retry after the lease expires",
            s.holder_identity.unwrap_or_default(),
            s.lease_duration_seconds.unwrap_or(LEASE_SECONDS)
        ))
    };
    match existing {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(namespace.to_string()),
                    labels: Some(
                        [
                            ("owner".to_string(), "justpush".to_string()),
                            ("name".to_string(), release.to_string()),
                        ]
                        .into(),
                    ),
                    ..Default::default()
                },
                spec: Some(spec),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    let now = api.get(&name).await.map_err(|e| KubeError::api(ctx(), e))?;
                    return Err(refused(&now));
                }
                Err(e) => return Err(KubeError::api(ctx(), e)),
            }
        }
        Some(l) => {
            if !is_free(l.spec.as_ref(), Timestamp::now()) {
                return Err(refused(&l));
            }
            let mut taken = l.clone();
            taken.spec = Some(spec);
            // The resourceVersion makes this a compare-and-swap: a racing taker gets 409.
            match api.replace(&name, &PostParams::default(), &taken).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    let now = api.get(&name).await.map_err(|e| KubeError::api(ctx(), e))?;
                    return Err(refused(&now));
                }
                Err(e) => return Err(KubeError::api(ctx(), e)),
            }
        }
    }
    let held = HeldLease {
        api: api.clone(),
        name: name.clone(),
        holder: holder.to_string(),
        stop: tokio_util::sync::CancellationToken::new(),
        lost: tokio_util::sync::CancellationToken::new(),
        taken_by: Default::default(),
    };
    let (stop, lost, taken_by) = (held.stop.clone(), held.lost.clone(), held.taken_by.clone());
    let holder = holder.to_string();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(renew_every) => {}
            }
            // Read, check it is still ours, and write back with its resourceVersion: a blind
            // patch would renew a lease another deploy took over while we could not reach the
            // API server. An unreachable server or a racing write is retried next time.
            let Ok(current) = api.get_opt(&name).await else {
                continue;
            };
            match renewal(current.as_ref(), &holder) {
                Renewal::Lost(by) => {
                    *taken_by.lock().unwrap() = Some(by);
                    lost.cancel();
                    return;
                }
                Renewal::Ours => {}
            }
            let Some(mut l) = current else { continue };
            if let Some(spec) = l.spec.as_mut() {
                spec.renew_time = Some(now_micro());
            }
            let _ = api.replace(&name, &PostParams::default(), &l).await;
        }
    });
    Ok(held)
}

impl HeldLease {
    /// Cancelled when the lease is no longer ours (see [`HeldLease::taken_by`]).
    pub fn lost(&self) -> tokio_util::sync::CancellationToken {
        self.lost.clone()
    }

    /// Who took the lease over, once it is lost.
    pub fn taken_by(&self) -> Option<String> {
        self.taken_by.lock().unwrap().clone()
    }

    /// Gives the lease up (deletes it if still ours).
    pub async fn release(self) {
        self.stop.cancel();
        if let Ok(Some(l)) = self.api.get_opt(&self.name).await {
            let ours = l.spec.as_ref().and_then(|s| s.holder_identity.as_deref())
                == Some(self.holder.as_str());
            if ours {
                let _ = self.api.delete(&self.name, &Default::default()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed_secs_ago: i64) -> LeaseSpec {
        let t = Timestamp::from_second(Timestamp::now().as_second() - renewed_secs_ago).unwrap();
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(60),
            renew_time: Some(MicroTime(t)),
            ..Default::default()
        }
    }

    #[test]
    fn lease_is_free_when_unheld_or_expired() {
        let now = Timestamp::now();
        assert!(is_free(None, now));
        assert!(is_free(Some(&LeaseSpec::default()), now));
        assert!(!is_free(Some(&spec("a@b pid 1", 5)), now));
        assert!(is_free(Some(&spec("a@b pid 1", 120)), now));
        assert!(holder_identity().contains(" pid "));
    }

    #[test]
    fn a_renewal_keeps_only_a_lease_still_held_by_us() {
        let lease = |holder: Option<&str>| Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(String::from),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(renewal(Some(&lease(Some("me"))), "me"), Renewal::Ours);
        assert_eq!(
            renewal(Some(&lease(Some("carol"))), "me"),
            Renewal::Lost("carol".into())
        );
        assert!(
            matches!(renewal(Some(&lease(None)), "me"), Renewal::Lost(w) if w.contains("released"))
        );
        assert!(matches!(renewal(None, "me"), Renewal::Lost(w) if w.contains("deleted")));
    }
}
