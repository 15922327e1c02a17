//! Files that must never reach a Docker daemon, whatever a project's `.dockerignore` says:
//! justpush's own settings (`justpush.yaml` may hold `kong.adminToken`), local environment
//! files, private keys and package-registry or cloud credentials.
//!
//! `.dockerignore` patterns (see [`crate::dockerfile::SECRET_IGNORE_PATTERNS`]) keep them out of
//! generated builds; this check is the backstop for every build, a project's own Dockerfile
//! included: a `.dockerignore` that is missing, or re-includes one with `!`, cannot send them.
//! Names decide where a name is unambiguous; a `.pem` or `.key` file is judged by its content
//! (a public CA bundle an app needs at run time is kept, a private key is not), and so is
//! `.npmrc` (registry settings are kept, auth tokens are not).

use std::path::Path;

/// Largest `.pem`/`.key`/`.npmrc` whose content is looked at; a larger one is left out.
const MAX_INSPECTED_BYTES: u64 = 8 * 1024 * 1024;

/// Example environment files: documentation, kept.
const ENV_EXAMPLES: [&str; 5] = [
    ".env.example",
    ".env.sample",
    ".env.template",
    ".env.dist",
    ".env.local.example",
];

/// Directories of credentials, left out whole.
const SECRET_DIRS: [&str; 3] = [".ssh", ".aws", ".kube"];

/// Why a context path (`/`-separated, relative to the context root) is a secret, judged by its
/// name alone; `None` when the name says nothing (or only content can tell: [`by_content`]).
pub fn by_name(rel: &str, is_dir: bool) -> Option<&'static str> {
    let parts: Vec<&str> = rel.split('/').collect();
    let name = *parts.last()?;
    let dirs = if is_dir {
        &parts[..]
    } else {
        &parts[..parts.len() - 1]
    };
    if dirs.iter().any(|d| SECRET_DIRS.contains(d)) {
        return Some("a credentials directory (.ssh, .aws, .kube)");
    }
    if is_dir {
        return None;
    }
    if name == crate::detect::config::CONFIG_FILE {
        return Some("justpush's settings, which may hold kong.adminToken");
    }
    if (name == ".env" || name.starts_with(".env.") || name == ".envrc")
        && !ENV_EXAMPLES.contains(&name)
    {
        return Some("a local environment file");
    }
    if matches!(name, ".pypirc" | ".netrc" | ".git-credentials") {
        return Some("a credentials file");
    }
    if matches!(name, "credentials" | "credentials.toml") && dirs.last() == Some(&".cargo") {
        return Some("Cargo registry credentials");
    }
    if name == "config.json" && dirs.last() == Some(&".docker") {
        return Some("Docker registry credentials");
    }
    let key_stem = ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"];
    if key_stem.iter().any(|s| name.starts_with(s)) && !name.ends_with(".pub") {
        return Some("an SSH private key");
    }
    let lower = name.to_ascii_lowercase();
    if [".p12", ".pfx", ".jks", ".keystore"]
        .iter()
        .any(|e| lower.ends_with(e))
    {
        return Some("a key store");
    }
    None
}

/// Whether a file's content must be looked at to decide ([`by_content`]).
pub fn needs_content(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let lower = name.to_ascii_lowercase();
    name == ".npmrc"
        || is_git_config(rel)
        || is_cargo_config(rel)
        || lower.ends_with(".pem")
        || lower.ends_with(".key")
}

/// A repository's `.git/config`: kept (some builds read the history), unless a remote URL
/// carries a password or token (`https://user:token@host/...`).
fn is_git_config(rel: &str) -> bool {
    rel == ".git/config" || rel.ends_with("/.git/config")
}

/// A project's `.cargo/config.toml` (or legacy `.cargo/config`): kept (it may vendor sources or
/// set build flags), unless it carries a registry `token` (Cargo still reads one there).
fn is_cargo_config(rel: &str) -> bool {
    let mut parts = rel.rsplit('/');
    matches!(parts.next(), Some("config.toml" | "config")) && parts.next() == Some(".cargo")
}

/// Whether a Cargo config sets a `token` key (`token = "..."`, in `[registry]` or
/// `[registries.NAME]`, or dotted as `registry.token = ...`).
fn cargo_config_has_token(text: &str) -> bool {
    text.lines().any(|line| {
        let key = line.split('=').next().unwrap_or("").trim();
        line.contains('=') && (key == "token" || key.ends_with(".token"))
    })
}

/// Why a file whose name [`needs_content`] is a secret, judged by its text.
pub fn by_content(rel: &str, text: &str) -> Option<&'static str> {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if name == ".npmrc" {
        return crate::detect::scan::npmrc_has_credentials(text)
            .then_some("npm registry credentials: _authToken, _auth or _password");
    }
    if is_cargo_config(rel) {
        return cargo_config_has_token(text).then_some("a Cargo registry token");
    }
    if is_git_config(rel) {
        return url_with_credentials(text).then_some("a Git remote URL with a password or token");
    }
    text.contains("PRIVATE KEY-----")
        .then_some("a private key: a PEM PRIVATE KEY block")
}

/// Whether text holds a URL whose user part has a password (`scheme://user:secret@host`).
fn url_with_credentials(text: &str) -> bool {
    text.match_indices("://").any(|(i, _)| {
        let rest = &text[i + 3..];
        let authority = rest
            .split(|c: char| c == '/' || c.is_whitespace())
            .next()
            .unwrap_or("");
        authority
            .rsplit_once('@')
            .is_some_and(|(user, _)| user.contains(':'))
    })
}

/// Reads a regular file of the context (never blocking: see [`crate::input::read_bytes`]) and
/// judges it by content; a file that cannot be inspected is treated as a secret.
pub fn inspect(rel: &str, path: &Path) -> Option<&'static str> {
    match crate::input::read_bytes(path, rel, MAX_INSPECTED_BYTES) {
        Ok(bytes) => by_content(rel, &String::from_utf8_lossy(&bytes)),
        Err(_) => Some("a key or credentials file that could not be inspected"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_secrets() {
        for (rel, dir) in [
            ("justpush.yaml", false),
            (".env", false),
            (".env.production", false),
            ("app/.env.local", false),
            (".envrc", false),
            (".pypirc", false),
            (".netrc", false),
            (".git-credentials", false),
            (".docker/config.json", false),
            ("deploy/id_rsa", false),
            ("id_ed25519", false),
            ("certs/server.p12", false),
            (".ssh", true),
            ("home/.aws/credentials", false),
            (".cargo/credentials.toml", false),
            ("api/.cargo/credentials", false),
        ] {
            assert!(by_name(rel, dir).is_some(), "{rel}");
        }
        for (rel, dir) in [
            (".env.example", false),
            ("app/.env.sample", false),
            ("id_rsa.pub", false),
            ("config.json", false),
            ("src/environment.ts", false),
            ("docs", true),
            ("justpush.yaml.md", false),
            ("credentials.toml", false),
        ] {
            assert!(by_name(rel, dir).is_none(), "{rel}");
        }
    }

    #[test]
    fn pem_files_are_judged_by_content() {
        assert!(needs_content("certs/ca.pem") && needs_content("tls.KEY"));
        assert!(needs_content(".npmrc") && !needs_content("main.py"));
        let ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert_eq!(by_content("certs/ca.pem", ca), None);
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n";
        assert!(by_content("certs/server.pem", key).is_some());
        assert!(by_content("tls.key", "-----BEGIN OPENSSH PRIVATE KEY-----").is_some());
    }

    #[test]
    fn a_git_config_is_a_secret_only_with_a_token_in_a_remote_url() {
        assert!(needs_content(".git/config") && needs_content("lib/.git/config"));
        let token = "[remote \"origin\"]\n\turl = https://x-access-token:ghs_abc@github.com/a/b\n";
        assert!(by_content(".git/config", token).is_some());
        let plain =
            "[remote \"origin\"]\n\turl = https://github.com/a/b\n\turl = git@github.com:a/b\n";
        assert_eq!(by_content(".git/config", plain), None);
    }

    #[test]
    fn npmrc_with_a_token_is_a_secret_and_without_one_is_not() {
        assert!(by_content(".npmrc", "//registry.npmjs.org/:_authToken=npm_abc\n").is_some());
        assert_eq!(by_content(".npmrc", "legacy-peer-deps=true\n"), None);
    }

    #[test]
    fn a_cargo_config_is_a_secret_only_with_a_registry_token() {
        assert!(needs_content(".cargo/config.toml") && needs_content("api/.cargo/config"));
        assert!(!needs_content("config.toml") && !needs_content(".cargo/vendor.toml"));
        for token in [
            "[registry]\ntoken = \"cio_abc\"\n",
            "[registries.corp]\nindex = \"sparse+https://x/\"\ntoken = \"t\"\n",
            "registry.token = \"cio_abc\"\n",
        ] {
            assert!(by_content(".cargo/config.toml", token).is_some(), "{token}");
        }
        let vendored = "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n\
                        [source.vendored-sources]\ndirectory = \"vendor\"\n";
        assert_eq!(by_content(".cargo/config.toml", vendored), None);
        // A key that merely ends in "token" is not Cargo's token.
        assert_eq!(
            by_content(".cargo/config", "[env]\nAPI_TOKEN_FILE = \"x\"\n"),
            None
        );
    }
}
