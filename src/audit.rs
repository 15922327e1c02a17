//! The audit log: one JSON line per command that changes something, appended to
//! `<state>/audit.jsonl`. The record and its redaction are pure; `append` is the only writer.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What replaces a secret value wherever it would have been written.
pub const REDACTED: &str = "[redacted]";

/// Secret values learnt while the command ran (stdin, generated keys): replaced in messages.
static KNOWN_SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a secret value so that no audit record ever contains it.
pub fn note_secret(value: &str) {
    let v = value.trim();
    if v.is_empty() {
        return;
    }
    if let Ok(mut known) = KNOWN_SECRETS.lock() {
        known.push(v.to_string());
    }
}

/// The secret values known to this process: those noted, plus the values of environment
/// variables whose names look secret (JUSTPUSH_REGISTRY_PASSWORD, API_TOKEN, ...).
pub fn known_secrets() -> Vec<String> {
    let mut all: Vec<String> = KNOWN_SECRETS.lock().map(|k| k.clone()).unwrap_or_default();
    for (k, v) in std::env::vars() {
        if key_looks_secret(&k) && !v.trim().is_empty() {
            all.push(v.trim().to_string());
        }
    }
    all
}

/// The result of the audited command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "status")]
pub enum Outcome {
    Ok,
    Failed { message: String },
    Interrupted { message: String },
}

/// Who ran the command: the OS user and, when a cluster is involved, the kubeconfig user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditUser {
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube: Option<String>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// RFC 3339, UTC.
    pub time: String,
    pub user: AuditUser,
    pub action: String,
    pub target: BTreeMap<String, String>,
    pub inputs: BTreeMap<String, String>,
    pub outcome: Outcome,
}

/// True when a flag or variable name looks like it holds a credential.
pub fn key_looks_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "token",
        "secret",
        "key",
        "credential",
        "auth",
        "private",
        "cert",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// Replaces every known secret value inside `text`; longest first so that a secret containing
/// another is removed whole.
pub fn redact_text(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| s.len() >= 3).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in sorted {
        out = out.replace(s.as_str(), REDACTED);
    }
    out
}

/// Inputs with secret-looking keys redacted and known secret values removed from the rest.
pub fn redact_inputs(
    inputs: BTreeMap<String, String>,
    secrets: &[String],
) -> BTreeMap<String, String> {
    inputs
        .into_iter()
        .map(|(k, v)| {
            let v = if key_looks_secret(&k) {
                REDACTED.to_string()
            } else {
                redact_text(&v, secrets)
            };
            (k, v)
        })
        .collect()
}

/// Builds a record whose inputs and messages carry no secret.
pub fn build_record(
    time: String,
    user: AuditUser,
    action: &str,
    target: BTreeMap<String, String>,
    inputs: BTreeMap<String, String>,
    outcome: Outcome,
    secrets: &[String],
) -> AuditRecord {
    let outcome = match outcome {
        Outcome::Ok => Outcome::Ok,
        Outcome::Failed { message } => Outcome::Failed {
            message: redact_text(&message, secrets),
        },
        Outcome::Interrupted { message } => Outcome::Interrupted {
            message: redact_text(&message, secrets),
        },
    };
    let target = target
        .into_iter()
        .map(|(k, v)| (k, redact_text(&v, secrets)))
        .collect();
    AuditRecord {
        time,
        user,
        action: action.to_string(),
        target,
        inputs: redact_inputs(inputs, secrets),
        outcome,
    }
}

/// The OS user: $USER, else $LOGNAME, else `uid <n>`.
pub fn os_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Some(u) = std::env::var(var).ok().filter(|u| !u.is_empty()) {
            return u;
        }
    }
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| format!("uid {}", m.uid()))
        .unwrap_or_else(|_| "unknown".into())
}

/// Now, RFC 3339 UTC to the second.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The audit file: `<state>/audit.jsonl`.
pub fn audit_path() -> PathBuf {
    crate::pipeline::progress::state_dir().join("audit.jsonl")
}

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    #[error("writing the audit log {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the audit log {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Appends one record as one line. One `write` call on an O_APPEND file, so lines written by
/// concurrent processes never interleave; the file is 0600 and its directory 0700 because
/// targets and messages say what was done where.
pub fn append(path: &Path, record: &AuditRecord) -> Result<(), AuditError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let err = |source| AuditError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?;
    }
    let mut line = serde_json::to_vec(record).map_err(|e| err(std::io::Error::other(e)))?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    let written = file.write(&line).map_err(err)?;
    if written != line.len() {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            format!("short write ({written} of {} bytes)", line.len()),
        )));
    }
    Ok(())
}

/// A line of the log that is not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptLine {
    pub line: usize,
    pub problem: String,
}

/// Streams the log, keeping the records `keep` accepts; corrupt lines are collected, not fatal.
pub fn read_filtered(
    path: &Path,
    mut keep: impl FnMut(&AuditRecord) -> bool,
) -> Result<(Vec<AuditRecord>, Vec<CorruptLine>), AuditError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], vec![])),
        Err(source) => {
            return Err(AuditError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut records = Vec::new();
    let mut corrupt = Vec::new();
    for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|source| AuditError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice::<AuditRecord>(&line) {
            Ok(r) if keep(&r) => records.push(r),
            Ok(_) => {}
            Err(e) => corrupt.push(CorruptLine {
                line: i + 1,
                problem: e.to_string(),
            }),
        }
    }
    Ok((records, corrupt))
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2026-12-03T15:00:00Z`, `...+02:00`,
/// fractions allowed); None when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(&rest[..1], "+" | "-") && &rest[3..4] == ":" => {
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian).
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn secret_looking_inputs_are_redacted_and_others_kept() {
        let inputs = map(&[
            ("secret", "API_TOKEN"),
            ("registry-password-stdin", "true"),
            ("admin-token", "kong-admin-tok"),
            ("api-key", "k"),
            ("replicas", "4"),
            ("env", "LOG=debug"),
        ]);
        let out = redact_inputs(inputs, &[]);
        for k in [
            "secret",
            "registry-password-stdin",
            "admin-token",
            "api-key",
        ] {
            assert_eq!(out[k], REDACTED, "{k}");
        }
        assert_eq!(out["replicas"], "4");
        assert_eq!(out["env"], "LOG=debug");
    }

    #[test]
    fn known_secret_values_are_replaced_inside_messages_and_inputs() {
        let secrets = vec!["hunter22".to_string(), "hunter22-long".to_string()];
        let r = build_record(
            "2026-12-03T15:00:00Z".into(),
            AuditUser {
                os: "me".into(),
                kube: None,
            },
            "redeploy",
            map(&[("release", "shop")]),
            map(&[("env", "X=hunter22")]),
            Outcome::Failed {
                message: "registry refused hunter22-long and hunter22".into(),
            },
            &secrets,
        );
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains("hunter22"), "{line}");
        assert_eq!(
            r.outcome,
            Outcome::Failed {
                message: "registry refused [redacted] and [redacted]".into()
            }
        );
        assert_eq!(r.inputs["env"], "X=[redacted]");
    }

    #[test]
    fn records_round_trip_with_their_outcome() {
        let r = build_record(
            "2026-12-03T15:00:00Z".into(),
            AuditUser {
                os: "me".into(),
                kube: Some("admin".into()),
            },
            "scale",
            map(&[("release", "shop")]),
            map(&[]),
            Outcome::Interrupted {
                message: "interrupted".into(),
            },
            &[],
        );
        let line = serde_json::to_string(&r).unwrap();
        assert!(
            line.contains(r#""outcome":{"status":"interrupted""#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<AuditRecord>(&line).unwrap(), r);
    }

    #[test]
    fn append_makes_private_files_and_reading_skips_corrupt_lines() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/audit.jsonl");
        let r = build_record(
            "2026-12-03T15:00:00Z".into(),
            AuditUser {
                os: "me".into(),
                kube: None,
            },
            "build",
            map(&[]),
            map(&[]),
            Outcome::Ok,
            &[],
        );
        append(&path, &r).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{not json\n")
            .unwrap();
        append(&path, &r).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let (records, corrupt) = read_filtered(&path, |_| true).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(corrupt.len(), 1);
        assert_eq!(corrupt[0].line, 2);
    }

    #[test]
    fn rfc3339_times_become_epoch_seconds() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-12-03T15:00:00Z"), Some(1796310000));
        assert_eq!(
            parse_rfc3339("2026-12-03T17:00:00.5+02:00"),
            Some(1796310000)
        );
        assert_eq!(parse_rfc3339("2026-13-03T15:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
