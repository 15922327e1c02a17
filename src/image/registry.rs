//! Pushing to a registry: credentials (flags, environment, `~/.docker/config.json`), a check
//! of the registry before pushing (so auth failures and unreachable registries get their own
//! error), and skipping images the registry already holds (same config digest = same image).

use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::docker::split_reference;
use super::{ImageBackend, ImageError, RegistryAuth};

/// Environment variable for the registry password (never a command-line argument).
pub const PASSWORD_ENV: &str = "JUSTPUSH_REGISTRY_PASSWORD";
/// Environment variable for the registry user.
pub const USER_ENV: &str = "JUSTPUSH_REGISTRY_USER";

const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";

/// `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`).
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The credentials a Docker config file holds for `registry` (`auths` entries keyed by host
/// or URL, `auth` = base64 of `user:password`, or `username`/`password` fields).
pub fn credentials_from_config(json: &str, registry: &str) -> Option<RegistryAuth> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let auths = value.get("auths")?.as_object()?;
    let entry = auths
        .iter()
        .find_map(|(key, v)| (config_key_host(key) == registry).then_some(v))?;
    if let Some(encoded) = entry
        .get("auth")
        .and_then(|a| a.as_str())
        .filter(|a| !a.is_empty())
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, pass) = text.split_once(':')?;
        return Some(RegistryAuth {
            username: Some(user.to_string()),
            password: Some(pass.to_string()),
        });
    }
    let user = entry.get("username").and_then(|u| u.as_str())?;
    Some(RegistryAuth {
        username: Some(user.to_string()),
        password: entry
            .get("password")
            .and_then(|p| p.as_str())
            .map(str::to_string),
    })
}

/// `https://host:port/v1/` → `host:port`.
fn config_key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

/// Credentials for `registry`: a user from the flag or `JUSTPUSH_REGISTRY_USER` with the
/// password from `password` (stdin) or `JUSTPUSH_REGISTRY_PASSWORD`; else the Docker config;
/// else none.
pub fn resolve_credentials(
    registry: &str,
    user: Option<&str>,
    password: Option<String>,
    config: Option<&Path>,
) -> Result<RegistryAuth, ImageError> {
    let user = user
        .map(str::to_string)
        .or_else(|| std::env::var(USER_ENV).ok().filter(|u| !u.is_empty()));
    let password = password.or_else(|| std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()));
    if let Some(user) = user {
        if password.is_none() {
            return Err(ImageError::Invalid(format!(
                "a registry user (`{user}`) was given without a password; set {PASSWORD_ENV} or pass --registry-password-stdin"
            )));
        }
        return Ok(RegistryAuth {
            username: Some(user),
            password,
        });
    }
    if password.is_some() {
        return Err(ImageError::Invalid(format!(
            "a registry password was given without a user; pass --registry-user or set {USER_ENV}"
        )));
    }
    if let Some(path) = config {
        // The user's own file, wherever it is; but never a blocking or unbounded read.
        if let Ok(text) =
            crate::input::read_text(path, "Docker config", crate::input::MAX_CONFIG_BYTES)
        {
            if let Some(auth) = credentials_from_config(&text, registry) {
                return Ok(auth);
            }
        }
    }
    Ok(RegistryAuth::default())
}

/// Validates a registry address (`host[:port]`, optionally a path prefix).
pub fn validate_registry(registry: &str) -> Result<(), ImageError> {
    let host = registry.split('/').next().unwrap_or("");
    let ok = !host.is_empty()
        && !registry.contains("://")
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if ok {
        Ok(())
    } else {
        Err(ImageError::Invalid(format!(
            "--push `{registry}`: not a registry address; give host[:port][/prefix], e.g. 127.0.0.1:5000 or registry.example.com/team (no scheme)"
        )))
    }
}

/// Plain HTTP for loopback registries (insecure by Docker's default), HTTPS otherwise.
pub fn registry_base_url(host: &str) -> String {
    let bare = host.split(':').next().unwrap_or(host);
    let loopback = bare == "localhost" || bare.starts_with("127.") || host.starts_with("[::1]");
    format!("{}://{host}", if loopback { "http" } else { "https" })
}

/// Environment variable listing token-service hosts (comma-separated) trusted with registry
/// credentials although they are not the registry's own host, e.g. `auth.docker.io` for
/// Docker Hub. Only over https.
pub const TRUSTED_TOKEN_HOSTS_ENV: &str = "JUSTPUSH_REGISTRY_TOKEN_HOSTS";

/// Whether the credentials for `registry` (`host[:port]`) may be sent to a token `realm` a
/// registry's challenge named. The challenge comes from the registry, so a hostile or
/// compromised one could name any URL and collect the user's password: credentials go only
/// to the registry's own host over https, to a loopback host over http (a local registry,
/// insecure by Docker's default too), or to a host the user listed in `trusted`. `Err` says
/// why not.
pub fn credentials_may_go_to(
    registry: &str,
    realm: &str,
    trusted: &[String],
) -> Result<(), String> {
    let url = reqwest::Url::parse(realm)
        .map_err(|e| format!("the realm `{realm}` is not a URL ({e})"))?;
    let realm_host = url
        .host_str()
        .ok_or_else(|| format!("the realm `{realm}` names no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let registry_host = reqwest::Url::parse(&format!("https://{registry}"))
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    let registry_host = registry_host.trim_start_matches('[').trim_end_matches(']');
    let same_host = realm_host == registry_host;
    let loopback = realm_host == "localhost"
        || realm_host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" if same_host => Ok(()),
        "https" if trusted.iter().any(|t| t.eq_ignore_ascii_case(&realm_host)) => Ok(()),
        "https" => Err(format!(
            "the token service {realm_host} is not the registry's host {registry_host}; \
             if you trust it with these credentials, list it in {TRUSTED_TOKEN_HOSTS_ENV}"
        )),
        "http" if same_host && loopback => Ok(()),
        "http" => Err(format!(
            "the token service {realm} is plain http{}; credentials are sent in clear only to the registry's own loopback host",
            if same_host { "" } else { " on another host" }
        )),
        other => Err(format!("the realm `{realm}` uses the scheme {other}, not https")),
    }
}

/// The hosts of [`TRUSTED_TOKEN_HOSTS_ENV`].
pub fn trusted_token_hosts() -> Vec<String> {
    std::env::var(TRUSTED_TOKEN_HOSTS_ENV)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect()
}

/// The reference an image gets in a registry: `REGISTRY/justpush/NAME:TAG`.
pub fn remote_reference(registry: &str, local: &str) -> String {
    format!("{}/{local}", registry.trim_end_matches('/'))
}

/// Parses a `WWW-Authenticate: Bearer realm="..",service="..",scope=".."` challenge.
pub fn parse_bearer_challenge(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header
        .trim()
        .strip_prefix("Bearer ")
        .or_else(|| header.trim().strip_prefix("bearer "))?;
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_string();
        if key.is_empty() {
            break;
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            let v: String = chars.by_ref().take_while(|c| *c != '"').collect();
            while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            v
        } else {
            chars
                .by_ref()
                .take_while(|c| *c != ',')
                .collect::<String>()
                .trim()
                .to_string()
        };
        out.push((key, value));
    }
    Some(out)
}

/// A registry spoken to over the distribution API (for checks; pushes go through the daemon).
pub struct RegistryClient {
    registry: String,
    base: String,
    http: reqwest::Client,
    auth: RegistryAuth,
    /// Token-service hosts trusted besides the registry's own.
    trusted_token_hosts: Vec<String>,
}

impl RegistryClient {
    pub fn new(registry: &str, auth: RegistryAuth) -> RegistryClient {
        let host = registry.split('/').next().unwrap_or(registry);
        RegistryClient {
            registry: host.to_string(),
            base: registry_base_url(host),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap_or_default(),
            auth,
            trusted_token_hosts: trusted_token_hosts(),
        }
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> ImageError {
        ImageError::RegistryUnreachable {
            registry: self.registry.clone(),
            message: e.to_string(),
        }
    }

    fn auth_failed(&self, message: String) -> ImageError {
        ImageError::RegistryAuth {
            registry: self.registry.clone(),
            user: self.auth.username.clone(),
            message,
        }
    }

    /// An `Authorization` header value for `scope`, or none when the registry needs none.
    async fn authorization(&self, scope: Option<&str>) -> Result<Option<String>, ImageError> {
        let resp = self
            .http
            .get(format!("{}/v2/", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(error_chain(&e)))?;
        if resp.status().is_success() {
            return Ok(None);
        }
        if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Err(self.unreachable(format!(
                "GET /v2/ answered {} (is this a container registry?)",
                resp.status()
            )));
        }
        let challenge = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let (Some(user), Some(pass)) = (&self.auth.username, &self.auth.password) else {
            return Err(self.auth_failed("the registry requires authentication".into()));
        };
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        if challenge.to_ascii_lowercase().starts_with("basic") {
            let check = self
                .http
                .get(format!("{}/v2/", self.base))
                .header(reqwest::header::AUTHORIZATION, &basic)
                .send()
                .await
                .map_err(|e| self.unreachable(error_chain(&e)))?;
            if check.status() == reqwest::StatusCode::UNAUTHORIZED {
                return Err(self.auth_failed("401 Unauthorized".into()));
            }
            return Ok(Some(basic));
        }
        let params = parse_bearer_challenge(&challenge)
            .ok_or_else(|| self.auth_failed(format!("unsupported challenge `{challenge}`")))?;
        let get = |k: &str| params.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        let realm =
            get("realm").ok_or_else(|| self.auth_failed("challenge without realm".into()))?;
        // Refused rather than asked anonymously: the daemon's push would send the same
        // credentials to the same realm, so the whole push stops here.
        credentials_may_go_to(&self.registry, &realm, &self.trusted_token_hosts).map_err(
            |reason| ImageError::RegistryRealmRefused {
                registry: self.registry.clone(),
                realm: realm.clone(),
                reason,
            },
        )?;
        let mut req = self
            .http
            .get(&realm)
            .header(reqwest::header::AUTHORIZATION, &basic);
        if let Some(service) = get("service") {
            req = req.query(&[("service", service)]);
        }
        if let Some(scope) = scope {
            req = req.query(&[("scope", scope)]);
        }
        let token_resp = req
            .send()
            .await
            .map_err(|e| self.unreachable(error_chain(&e)))?;
        if !token_resp.status().is_success() {
            return Err(self.auth_failed(format!("token service answered {}", token_resp.status())));
        }
        let body: serde_json::Value = token_resp
            .json()
            .await
            .map_err(|e| self.auth_failed(format!("token response: {e}")))?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| self.auth_failed("token response without a token".into()))?;
        Ok(Some(format!("Bearer {token}")))
    }

    /// Checks that the registry answers and accepts the credentials.
    pub async fn check(&self) -> Result<(), ImageError> {
        self.authorization(None).await.map(|_| ())
    }

    /// The config digest of `repository:tag` in the registry, if it is there.
    pub async fn config_digest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, ImageError> {
        let scope = format!("repository:{repository}:pull");
        let auth = self.authorization(Some(&scope)).await?;
        let mut req = self
            .http
            .get(format!("{}/v2/{repository}/manifests/{tag}", self.base))
            .header(reqwest::header::ACCEPT, MANIFEST_TYPES);
        if let Some(a) = auth {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| self.unreachable(error_chain(&e)))?;
        match resp.status() {
            s if s.is_success() => {
                let body: serde_json::Value = resp
                    .json()
                    .await
                    .map_err(|e| self.unreachable(format!("reading manifest: {e}")))?;
                Ok(body
                    .pointer("/config/digest")
                    .and_then(|d| d.as_str())
                    .map(str::to_string))
            }
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => Err(self
                .auth_failed(format!(
                    "reading {repository}:{tag} answered {}",
                    resp.status()
                ))),
            s => Err(self.unreachable(format!("reading {repository}:{tag} answered {s}"))),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    text
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PushOutcome {
    pub component: String,
    pub image: String,
    /// The registry had the same image (config digest) already.
    pub skipped: bool,
}

/// Classifies a daemon push error.
pub fn classify_push_error(registry: &str, user: Option<&str>, message: &str) -> ImageError {
    let m = message.to_ascii_lowercase();
    if m.contains("unauthorized")
        || m.contains("authentication required")
        || m.contains("denied")
        || m.contains("no basic auth credentials")
    {
        ImageError::RegistryAuth {
            registry: registry.to_string(),
            user: user.map(str::to_string),
            message: message.to_string(),
        }
    } else if m.contains("connection refused")
        || m.contains("no such host")
        || m.contains("dial tcp")
        || m.contains("i/o timeout")
        || m.contains("server gave http response to https client")
    {
        ImageError::RegistryUnreachable {
            registry: registry.to_string(),
            message: message.to_string(),
        }
    } else {
        ImageError::engine(format!("pushing to {registry}"), message)
    }
}

/// Pushes a locally built image to `registry`, unless the registry holds it already.
pub async fn push_image(
    backend: &dyn ImageBackend,
    component: &str,
    local: &str,
    registry: &str,
    auth: &RegistryAuth,
) -> Result<PushOutcome, ImageError> {
    validate_registry(registry)?;
    let details = backend.inspect(local).await?.ok_or_else(|| {
        ImageError::engine(
            format!("pushing {local}"),
            "the image is not in the local daemon; build it first",
        )
    })?;
    let target = remote_reference(registry, local);
    let (repo, tag) = split_reference(&target);
    let host = registry.split('/').next().unwrap_or(registry);
    let repo_path = repo.strip_prefix(&format!("{host}/")).unwrap_or(repo);
    let client = RegistryClient::new(registry, auth.clone());
    client.check().await?;
    let remote = client.config_digest(repo_path, tag).await?;
    backend.tag(local, &target).await?;
    if remote.as_deref() == Some(details.id.as_str()) {
        return Ok(PushOutcome {
            component: component.to_string(),
            image: target,
            skipped: true,
        });
    }
    backend
        .push(&target, auth)
        .await
        .map_err(|m| classify_push_error(host, auth.username.as_deref(), &m))?;
    Ok(PushOutcome {
        component: component.to_string(),
        image: target,
        skipped: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_to_the_registrys_own_host_over_https_or_loopback_http() {
        let none: &[String] = &[];
        for (registry, realm) in [
            ("ghcr.io", "https://ghcr.io/token"),
            (
                "Registry.Example.com:443",
                "https://registry.example.com:5001/auth",
            ),
            ("127.0.0.1:5000", "http://127.0.0.1:5000/token"),
            ("localhost:5000", "http://localhost:5001/token"),
            ("[::1]:5000", "http://[::1]:5000/token"),
        ] {
            assert_eq!(
                credentials_may_go_to(registry, realm, none),
                Ok(()),
                "{realm}"
            );
        }
        for (registry, realm, why) in [
            (
                "registry.example.com",
                "https://collector.evil.test/token",
                "not the registry's host",
            ),
            (
                "registry.example.com",
                "http://registry.example.com/token",
                "plain http",
            ),
            (
                "registry.example.com",
                "http://127.0.0.1/token",
                "another host",
            ),
            (
                "127.0.0.1:5000",
                "http://localhost:5001/token",
                "another host",
            ),
            ("127.0.0.1:5000", "http://10.0.0.9/token", "another host"),
            (
                "registry.example.com",
                "ftp://registry.example.com/token",
                "scheme",
            ),
            ("registry.example.com", "/token", "not a URL"),
        ] {
            let err = credentials_may_go_to(registry, realm, none).unwrap_err();
            assert!(err.contains(why), "{realm}: {err}");
        }
    }

    #[test]
    fn a_token_host_the_user_trusts_gets_credentials_over_https_only() {
        let trusted = vec!["auth.docker.io".to_string()];
        assert_eq!(
            credentials_may_go_to(
                "registry-1.docker.io",
                "https://auth.docker.io/token",
                &trusted
            ),
            Ok(())
        );
        assert!(credentials_may_go_to(
            "registry-1.docker.io",
            "http://auth.docker.io/token",
            &trusted
        )
        .is_err());
    }

    #[test]
    fn config_auths_decode_base64_user_and_password() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        let json = format!(
            r#"{{"auths":{{"https://reg.example:5000/v1/":{{"auth":"{auth}"}},"other.example":{{"username":"bob","password":"pw"}}}}}}"#
        );
        let a = credentials_from_config(&json, "reg.example:5000").unwrap();
        assert_eq!(a.username.as_deref(), Some("alice"));
        assert_eq!(a.password.as_deref(), Some("s3cr:et"));
        let b = credentials_from_config(&json, "other.example").unwrap();
        assert_eq!(b.username.as_deref(), Some("bob"));
        assert!(credentials_from_config(&json, "missing.example").is_none());
        assert!(credentials_from_config("not json", "x").is_none());
    }

    #[test]
    fn explicit_credentials_need_both_halves() {
        let e = resolve_credentials("r", Some("u"), None, None);
        if std::env::var(PASSWORD_ENV).is_err() {
            assert!(e.unwrap_err().to_string().contains(PASSWORD_ENV));
        }
        let ok = resolve_credentials("r", Some("u"), Some("p".into()), None).unwrap();
        assert_eq!(ok.username.as_deref(), Some("u"));
    }

    #[test]
    fn registry_addresses_and_urls() {
        assert!(validate_registry("127.0.0.1:5000").is_ok());
        assert!(validate_registry("reg.example.com/team").is_ok());
        assert!(validate_registry("https://reg.example.com").is_err());
        assert!(validate_registry("").is_err());
        assert_eq!(registry_base_url("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(registry_base_url("localhost:5001"), "http://localhost:5001");
        assert_eq!(
            registry_base_url("reg.example.com"),
            "https://reg.example.com"
        );
        assert_eq!(
            remote_reference("127.0.0.1:5000/", "justpush/api:abc"),
            "127.0.0.1:5000/justpush/api:abc"
        );
    }

    #[test]
    fn bearer_challenges_parse() {
        let p = parse_bearer_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a/b:pull".into()));
        assert!(parse_bearer_challenge("Basic realm=x").is_none());
    }

    #[test]
    fn push_errors_are_named() {
        assert!(matches!(
            classify_push_error("r", None, "unauthorized: authentication required"),
            ImageError::RegistryAuth { .. }
        ));
        assert!(matches!(
            classify_push_error(
                "r",
                None,
                "Get \"http://r/v2/\": dial tcp 127.0.0.1:1: connect: connection refused"
            ),
            ImageError::RegistryUnreachable { .. }
        ));
        assert!(matches!(
            classify_push_error("r", None, "disk full"),
            ImageError::Engine { .. }
        ));
    }
}
