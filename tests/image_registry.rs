//! The registry side of pushes against a real HTTP registry owned by the test (axum): basic
//! and token authentication, named auth failures, an unreachable registry, and skipping a
//! push when the registry holds the image's config digest already.

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use justpush::image::registry::{push_image, RegistryClient};
use justpush::image::{BuildRequest, ImageBackend, ImageDetails, ImageError, RegistryAuth};

#[path = "support/http_stand_in.rs"]
mod http_stand_in;

#[derive(Clone)]
struct Registry {
    /// `Basic` or `Bearer` authentication.
    bearer: bool,
    user: &'static str,
    password: &'static str,
    /// The config digest the manifest of `justpush/api:t1` names.
    digest: &'static str,
    addr: Arc<Mutex<String>>,
}

fn basic_ok(reg: &Registry, headers: &HeaderMap) -> bool {
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", reg.user, reg.password))
    );
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(want.as_str())
}

fn authorized(reg: &Registry, headers: &HeaderMap) -> bool {
    if reg.bearer {
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer good-token")
    } else {
        basic_ok(reg, headers)
    }
}

fn challenge(reg: &Registry) -> Response {
    let value = if reg.bearer {
        format!(
            "Bearer realm=\"http://{}/token\",service=\"test-registry\"",
            reg.addr.lock().unwrap()
        )
    } else {
        "Basic realm=\"test\"".to_string()
    };
    (StatusCode::UNAUTHORIZED, [("www-authenticate", value)], "").into_response()
}

async fn v2(State(reg): State<Registry>, headers: HeaderMap) -> Response {
    if authorized(&reg, &headers) {
        "{}".into_response()
    } else {
        challenge(&reg)
    }
}

async fn token(State(reg): State<Registry>, headers: HeaderMap) -> Response {
    if basic_ok(&reg, &headers) {
        axum::Json(serde_json::json!({"token": "good-token"})).into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

async fn manifest(
    State(reg): State<Registry>,
    UrlPath((ns, name, tag)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&reg, &headers) {
        return challenge(&reg);
    }
    if ns == "justpush" && name == "api" && tag == "t1" {
        axum::Json(serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": reg.digest, "size": 1},
            "layers": []
        }))
        .into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

async fn serve(bearer: bool) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let reg = Registry {
        bearer,
        user: "alice",
        password: "wonderland",
        digest: "sha256:aaaa",
        addr: Arc::new(Mutex::new(addr.clone())),
    };
    let app = Router::new()
        .route("/v2/", get(v2))
        .route("/token", get(token))
        .route("/v2/{ns}/{name}/manifests/{tag}", get(manifest))
        .with_state(reg);
    let handle = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, handle)
}

fn auth(user: &str, password: &str) -> RegistryAuth {
    RegistryAuth {
        username: Some(user.into()),
        password: Some(password.into()),
    }
}

#[tokio::test]
async fn basic_auth_is_checked_and_failures_are_named() {
    let (addr, _h) = serve(false).await;
    RegistryClient::new(&addr, auth("alice", "wonderland"))
        .check()
        .await
        .unwrap();
    let err = RegistryClient::new(&addr, auth("alice", "wrong"))
        .check()
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::RegistryAuth { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "registry {addr} refused the credentials of user `alice`"
        )),
        "{text}"
    );
    assert!(
        !text.contains("wrong"),
        "the password leaked into the message: {text}"
    );
    let none = RegistryClient::new(&addr, RegistryAuth::default())
        .check()
        .await
        .unwrap_err();
    assert!(none.to_string().contains("(none were given)"), "{none}");
}

#[tokio::test]
async fn token_auth_reads_the_config_digest() {
    let (addr, _h) = serve(true).await;
    let client = RegistryClient::new(&addr, auth("alice", "wonderland"));
    assert_eq!(
        client
            .config_digest("justpush/api", "t1")
            .await
            .unwrap()
            .as_deref(),
        Some("sha256:aaaa")
    );
    assert_eq!(
        client.config_digest("justpush/api", "other").await.unwrap(),
        None
    );
    let bad = RegistryClient::new(&addr, auth("alice", "nope"))
        .check()
        .await
        .unwrap_err();
    assert!(matches!(bad, ImageError::RegistryAuth { .. }), "{bad}");
}

#[tokio::test]
async fn an_unreachable_registry_is_named() {
    // A port nothing listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let err = RegistryClient::new(&addr, RegistryAuth::default())
        .check()
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImageError::RegistryUnreachable { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("registry {addr} is unreachable")),
        "{err}"
    );
}

/// A local engine that holds one image and records pushes.
struct OneImage {
    id: &'static str,
    pushed: Mutex<Vec<String>>,
    tagged: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl ImageBackend for OneImage {
    async fn ping(&self) -> Result<(), ImageError> {
        Ok(())
    }
    async fn inspect(&self, reference: &str) -> Result<Option<ImageDetails>, ImageError> {
        Ok((reference == "justpush/api:t1").then(|| ImageDetails {
            id: self.id.into(),
            size: 1,
            ..Default::default()
        }))
    }
    async fn build(
        &self,
        _: &BuildRequest,
        _: Vec<u8>,
        _: &(dyn for<'l> Fn(&'l str) + Send + Sync),
    ) -> Result<(), String> {
        unreachable!("no builds here")
    }
    async fn remove(&self, _: &str) -> Result<(), ImageError> {
        Ok(())
    }
    async fn tag(&self, _: &str, target: &str) -> Result<(), ImageError> {
        self.tagged.lock().unwrap().push(target.into());
        Ok(())
    }
    async fn push(&self, reference: &str, _: &RegistryAuth) -> Result<(), String> {
        self.pushed.lock().unwrap().push(reference.into());
        Ok(())
    }
    async fn export(&self, _: &str, _: &Path) -> Result<(), ImageError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_push_is_skipped_when_the_registry_has_the_digest() {
    let (addr, _h) = serve(false).await;
    let creds = auth("alice", "wonderland");
    let same = OneImage {
        id: "sha256:aaaa",
        pushed: Mutex::new(Vec::new()),
        tagged: Mutex::new(Vec::new()),
    };
    let outcome = push_image(&same, "api", "justpush/api:t1", &addr, &creds)
        .await
        .unwrap();
    assert!(outcome.skipped);
    assert_eq!(outcome.image, format!("{addr}/justpush/api:t1"));
    assert!(same.pushed.lock().unwrap().is_empty());

    let changed = OneImage {
        id: "sha256:bbbb",
        pushed: Mutex::new(Vec::new()),
        tagged: Mutex::new(Vec::new()),
    };
    let outcome = push_image(&changed, "api", "justpush/api:t1", &addr, &creds)
        .await
        .unwrap();
    assert!(!outcome.skipped);
    assert_eq!(
        *changed.pushed.lock().unwrap(),
        [format!("{addr}/justpush/api:t1")]
    );
    assert_eq!(
        *changed.tagged.lock().unwrap(),
        [format!("{addr}/justpush/api:t1")]
    );

    let err = push_image(
        &changed,
        "api",
        "justpush/api:t1",
        &addr,
        &auth("alice", "bad"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ImageError::RegistryAuth { .. }), "{err}");
}

/// Every `Authorization` header a token service received (`None` for a request without one).
type SeenAuthorization = Arc<Mutex<Vec<Option<String>>>>;

/// A token service that records what it was sent and hands out a token to anyone.
fn collecting_token_service() -> (String, SeenAuthorization) {
    let seen: SeenAuthorization = Arc::default();
    let record = seen.clone();
    let app = Router::new().fallback(move |headers: HeaderMap| {
        let record = record.clone();
        async move {
            let value = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            record.lock().unwrap().push(value);
            axum::Json(serde_json::json!({"token": "collected"}))
        }
    });
    (http_stand_in::serve(app), seen)
}

/// A registry whose every answer is a challenge naming `realm` as its token service.
fn hostile_registry(realm: String) -> String {
    let app = Router::new().fallback(move || {
        let realm = realm.clone();
        async move {
            (
                StatusCode::UNAUTHORIZED,
                [(
                    "www-authenticate",
                    format!("Bearer realm=\"{realm}\",service=\"registry\""),
                )],
                "",
            )
        }
    });
    let base = http_stand_in::serve(app);
    base.trim_start_matches("http://").to_string()
}

#[tokio::test]
async fn credentials_never_reach_a_token_service_on_another_host() {
    let (collector, seen) = collecting_token_service();
    // The collector listens on 127.0.0.1; named `localhost` it is another host than the
    // registry's `127.0.0.1`, and plain http.
    let port = collector.rsplit(':').next().unwrap();
    let registry = hostile_registry(format!("http://localhost:{port}/token"));
    let engine = OneImage {
        id: "sha256:bbbb",
        pushed: Mutex::new(Vec::new()),
        tagged: Mutex::new(Vec::new()),
    };
    let err = push_image(
        &engine,
        "api",
        "justpush/api:t1",
        &registry,
        &auth("alice", "wonderland"),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, ImageError::RegistryRealmRefused { .. }),
        "{message}"
    );
    assert!(message.contains(&format!("localhost:{port}")), "{message}");
    assert!(!message.contains("wonderland"), "{message}");
    assert!(
        seen.lock().unwrap().iter().all(Option::is_none),
        "the token service got credentials: {:?}",
        seen.lock().unwrap()
    );
    assert!(
        engine.pushed.lock().unwrap().is_empty(),
        "the daemon pushed"
    );

    // The stand-in does take credentials when they are sent, so the check above can fail.
    let probe = reqwest::Client::new()
        .get(format!("{collector}/token"))
        .basic_auth("alice", Some("wonderland"))
        .send()
        .await
        .unwrap();
    assert!(probe.status().is_success());
    assert_eq!(seen.lock().unwrap().iter().flatten().count(), 1);
}
