//! Reading kubeconfig files without ever echoing them. A kubeconfig holds bearer tokens and
//! client keys, and the YAML parser's own error shows the offending line with a caret under
//! it: for a broken `token:` line that is the token, printed to a terminal or a CI log. So a
//! parse error here says only which file, line and column, and what to do. The file itself
//! goes through [`crate::input`]: a FIFO, a device or a huge file is refused, never read.

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

use crate::input::{self, InputError};

/// Why a kubeconfig could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeconfigError {
    /// Not a regular file, too large, unreadable or missing.
    #[error("{0}")]
    Input(#[from] InputError),
    /// Not valid YAML, or not shaped like a kubeconfig.
    #[error(
        "kubeconfig {path}: line {line}, column {column}: not a valid kubeconfig (YAML syntax, \
         or a field of the wrong type); the text there is not shown because a kubeconfig holds \
         tokens and keys: open the file at that line and fix it (`kubectl config view` shows \
         the file with secrets hidden)"
    )]
    Parse {
        path: PathBuf,
        line: u64,
        column: u64,
    },
    /// The files of a `KUBECONFIG` list disagree (kind or apiVersion).
    #[error(
        "kubeconfig {path}: cannot be merged with the files before it in KUBECONFIG: {message}"
    )]
    Merge { path: PathBuf, message: String },
}

/// Reads one kubeconfig file; relative certificate, key, token-file and exec paths in it are
/// made relative to the file's directory, as kubectl does.
pub fn read_file(path: &Path) -> Result<Kubeconfig, KubeconfigError> {
    let bytes = input::read_bytes(path, "kubeconfig", input::MAX_CONFIG_BYTES)?;
    let text = decode(&bytes).ok_or_else(|| InputError::NotUtf8 {
        what: "kubeconfig".into(),
        path: path.to_path_buf(),
    })?;
    let mut config = Kubeconfig::from_yaml(&text).map_err(|e| parse_error(path, &e))?;
    if let Some(dir) = path.parent() {
        anchor_relative_paths(&mut config, dir);
    }
    Ok(config)
}

/// The kubeconfig kubectl would use: every file of `$KUBECONFIG` merged (the first to set a
/// value wins), else `~/.kube/config`.
pub fn read_default() -> Result<Kubeconfig, KubeconfigError> {
    let listed: Vec<PathBuf> = std::env::var_os("KUBECONFIG")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if listed.is_empty() {
        return read_file(&default_path());
    }
    let mut merged = Kubeconfig::default();
    for path in &listed {
        merged = merged
            .merge(read_file(path)?)
            .map_err(|e| KubeconfigError::Merge {
                path: path.clone(),
                message: e.to_string(),
            })?;
    }
    Ok(merged)
}

/// `--kubeconfig FILE` when given, else what kubectl would use.
pub fn read(explicit: Option<&Path>) -> Result<Kubeconfig, KubeconfigError> {
    match explicit {
        Some(p) if !p.as_os_str().is_empty() => read_file(p),
        _ => read_default(),
    }
}

/// `~/.kube/config`.
pub fn default_path() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
        .join(".kube/config")
}

/// The file's text: UTF-8 (with or without a byte-order mark) or UTF-16 with one, which is
/// what PowerShell's `>` writes.
fn decode(bytes: &[u8]) -> Option<String> {
    let utf16 = |rest: &[u8], from: fn([u8; 2]) -> u16| {
        let units: Vec<u16> = rest.chunks_exact(2).map(|c| from([c[0], c[1]])).collect();
        String::from_utf16(&units).ok()
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8(rest.to_vec()).ok(),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes),
        _ => String::from_utf8(bytes.to_vec()).ok(),
    }
}

/// Only the position of a parse error survives: its message and snippet may quote a secret.
fn parse_error(path: &Path, e: &kube::config::KubeconfigError) -> KubeconfigError {
    let location = match e {
        kube::config::KubeconfigError::Parse(inner) => inner.location(),
        _ => None,
    };
    KubeconfigError::Parse {
        path: path.to_path_buf(),
        line: location.map(|l| l.line()).unwrap_or(0),
        column: location.map(|l| l.column()).unwrap_or(0),
    }
}

fn anchor_relative_paths(config: &mut Kubeconfig, dir: &Path) {
    let anchor = |value: &mut Option<String>| {
        if let Some(v) = value {
            if Path::new(v.as_str()).is_relative() {
                *v = dir.join(v.as_str()).to_string_lossy().into_owned();
            }
        }
    };
    for named in &mut config.clusters {
        if let Some(cluster) = &mut named.cluster {
            anchor(&mut cluster.certificate_authority);
        }
    }
    for named in &mut config.auth_infos {
        if let Some(auth) = &mut named.auth_info {
            anchor(&mut auth.client_certificate);
            anchor(&mut auth.client_key);
            anchor(&mut auth.token_file);
            // A bare command name (`aws`) is looked up on PATH, as kubectl does; only a path
            // with a separator is relative to the file.
            if let Some(exec) = &mut auth.exec {
                if exec.command.as_deref().is_some_and(|c| c.contains('/')) {
                    anchor(&mut exec.command);
                }
            }
        }
    }
}

/// A server URL fit to show: any `user:password@` in it is dropped.
pub fn shown_server(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARY-0b5e-token";

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("config");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_syntax_error_gives_the_position_and_never_the_token() {
        let dir = tempfile::tempdir().unwrap();
        for broken in [
            format!("apiVersion: v1\nusers:\n- name: u\n  user:\n    token: \"{CANARY}\n"),
            format!("apiVersion: v1\nusers: {CANARY}\n"),
            format!(
                "apiVersion: v1\nusers:\n- name: u\n  user:\n    client-key-data: [{CANARY}: {{\n"
            ),
        ] {
            let p = write(dir.path(), &broken);
            let err = read_file(&p).unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(err, KubeconfigError::Parse { line, .. } if line > 0),
                "{message}"
            );
            assert!(message.contains(&p.display().to_string()), "{message}");
            assert!(message.contains("line"), "{message}");
            assert!(!message.contains(CANARY), "{message}");
            // Nor anywhere in the chain a caller might print.
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                assert!(!s.to_string().contains(CANARY));
                source = s.source();
            }
        }
    }

    #[test]
    fn a_fifo_or_a_device_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = crate::input::test_files::fifo(&dir.path().join("pipe"));
        assert!(read_file(&fifo).unwrap_err().to_string().contains("FIFO"));
        let err = read_file(Path::new("/dev/zero")).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
    }

    #[test]
    fn a_good_file_is_read_with_relative_paths_anchored_to_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:6443', certificate-authority: ca.crt}\nusers:\n- name: u\n  user: {client-key: keys/u.key, tokenFile: /abs/token, exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}}\ncurrent-context: x\n",
        );
        let kc = read_file(&p).unwrap();
        assert_eq!(kc.current_context.as_deref(), Some("x"));
        let ca = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(
            ca.certificate_authority.as_deref(),
            Some(dir.path().join("ca.crt").to_str().unwrap())
        );
        let user = kc.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(
            user.client_key.as_deref(),
            Some(dir.path().join("keys/u.key").to_str().unwrap())
        );
        assert_eq!(user.token_file.as_deref(), Some("/abs/token"));
        assert_eq!(user.exec.as_ref().unwrap().command.as_deref(), Some("aws"));
    }

    #[test]
    fn utf16_and_bom_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let text = "apiVersion: v1\ncurrent-context: x\n";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let p = dir.path().join("config");
        std::fs::write(&p, &utf16).unwrap();
        assert_eq!(read_file(&p).unwrap().current_context.as_deref(), Some("x"));
        std::fs::write(&p, [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat()).unwrap();
        assert_eq!(read_file(&p).unwrap().current_context.as_deref(), Some("x"));
    }

    #[test]
    fn a_password_in_a_server_url_is_not_shown() {
        assert_eq!(
            shown_server("https://admin:s3cret@10.0.0.1:6443/k8s"),
            "https://10.0.0.1:6443/k8s"
        );
        assert_eq!(
            shown_server("https://10.0.0.1:6443/"),
            "https://10.0.0.1:6443/"
        );
    }
}
