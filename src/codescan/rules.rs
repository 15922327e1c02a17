//! The scan rules: pure functions from one file's path and (bounded) content to findings.
//!
//! Each rule looks for what a malicious upload carries and is written against its benign
//! look-alike (a `wait-for-it` health check next to a reverse shell, `install_requires` next to
//! a socket in `setup.py`), so a real project scans clean. Secrets are never copied into a
//! finding: its hint names the kind and length only.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// How bad a finding is; `strict` fails on `High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Medium,
    High,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Medium => "medium",
            Severity::High => "high",
        })
    }
}

/// One rule: its stable id, what it finds, how bad and what to do.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub fix: &'static str,
}

pub const MINER: Rule = Rule {
    id: "JP-SCAN-001",
    title: "crypto-miner signature",
    severity: Severity::High,
    fix: "remove the miner (binary, config or pool URL); nothing in an app image should mine",
};
pub const REVERSE_SHELL: Rule = Rule {
    id: "JP-SCAN-002",
    title: "reverse shell",
    severity: Severity::High,
    fix: "remove the code that hands a shell to a network peer",
};
pub const PIPE_TO_SHELL: Rule = Rule {
    id: "JP-SCAN-003",
    title: "download piped into a shell",
    severity: Severity::Medium,
    fix: "download to a file, check its sha256 (sha256sum -c) or signature, then run it; or install the tool from a package",
};
pub const NPM_INSTALL_SCRIPT: Rule = Rule {
    id: "JP-SCAN-004",
    title: "npm install-time script fetches and runs code",
    severity: Severity::High,
    fix: "remove the fetch from the lifecycle script; vendor the tool as a dependency with a lockfile entry",
};
pub const SETUP_PY_NETWORK: Rule = Rule {
    id: "JP-SCAN-005",
    title: "setup.py uses the network at install time",
    severity: Severity::High,
    fix: "declare what setup.py downloads as a dependency (install_requires / build-system requires) instead of fetching it in setup.py",
};
pub const BINARY: Rule = Rule {
    id: "JP-SCAN-006",
    title: "executable binary committed in the source",
    severity: Severity::High,
    fix: "build the binary from source in the Dockerfile, or install it from a package; a vetted binary can be silenced with scan.ignore",
};
pub const PRIVATE_KEY: Rule = Rule {
    id: "JP-SCAN-007",
    title: "private key in the tree",
    severity: Severity::High,
    fix: "remove the key, rotate it, and give it at run time as a Kubernetes Secret (justpush.yaml env with secret: true)",
};
pub const CLOUD_KEY: Rule = Rule {
    id: "JP-SCAN-008",
    title: "cloud access key in the tree",
    severity: Severity::High,
    fix: "remove the key, revoke it with the cloud provider, and give credentials at run time as a Kubernetes Secret",
};
pub const SERVICE_ACCOUNT: Rule = Rule {
    id: "JP-SCAN-009",
    title: "GCP service-account key file in the tree",
    severity: Severity::High,
    fix: "remove the file, delete the key in the GCP console, and mount credentials at run time as a Kubernetes Secret",
};
pub const API_TOKEN: Rule = Rule {
    id: "JP-SCAN-010",
    title: "API token in the tree",
    severity: Severity::High,
    fix: "remove the token, revoke it with its service, and give it at run time as a Kubernetes Secret",
};

/// Every rule, in id order.
pub const RULES: [Rule; 10] = [
    MINER,
    REVERSE_SHELL,
    PIPE_TO_SHELL,
    NPM_INSTALL_SCRIPT,
    SETUP_PY_NETWORK,
    BINARY,
    PRIVATE_KEY,
    CLOUD_KEY,
    SERVICE_ACCOUNT,
    API_TOKEN,
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// One thing found in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    /// `/`-separated path relative to the scanned directory.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// What was seen, with any secret redacted.
    pub hint: String,
    pub fix: &'static str,
}

/// At most this many findings of one rule in one file: one is enough to act on, and a
/// generated file must not flood the report.
const MAX_PER_RULE_AND_FILE: usize = 5;

/// Bytes looked at to decide whether a file is text.
const TEXT_SNIFF_BYTES: usize = 8 * 1024;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("scan rule patterns are valid")
}

/// Scans one file's content (a bounded prefix) and returns its findings, in line order.
pub fn scan_file(path: &str, data: &[u8]) -> Vec<Finding> {
    let mut out = Findings {
        path,
        list: Vec::new(),
    };
    if let Some(kind) = executable_kind(data) {
        out.add(&BINARY, 1, format!("{kind} executable"));
        return out.list;
    }
    if data[..data.len().min(TEXT_SNIFF_BYTES)].contains(&0) {
        // Not text (an image, a font, an archive): the text rules do not apply.
        return out.list;
    }
    let text = String::from_utf8_lossy(data);
    let name = path.rsplit('/').next().unwrap_or(path);
    // Documentation is read, not run: the code rules skip it; secrets in it still count.
    if !is_documentation(name) {
        miners(&text, &mut out);
        reverse_shells(&text, &mut out);
        if is_build_script(name, &text) {
            pipe_to_shell(&text, &mut out);
        }
        if name == "package.json" {
            npm_lifecycle(&text, &mut out);
        }
        if name == "setup.py" {
            setup_py_network(&text, &mut out);
        }
    }
    secrets(&text, &mut out);
    out.list
        .sort_by(|a, b| a.line.cmp(&b.line).then(a.rule.cmp(b.rule)));
    out.list
}

struct Findings<'p> {
    path: &'p str,
    list: Vec<Finding>,
}

impl Findings<'_> {
    fn add(&mut self, rule: &Rule, line: usize, hint: String) {
        let same = self.list.iter().filter(|f| f.rule == rule.id).count();
        if same >= MAX_PER_RULE_AND_FILE || self.has(rule, line) {
            return;
        }
        self.list.push(Finding {
            rule: rule.id,
            title: rule.title,
            severity: rule.severity,
            path: self.path.to_string(),
            line,
            hint,
            fix: rule.fix,
        });
    }

    fn has(&self, rule: &Rule, line: usize) -> bool {
        self.list
            .iter()
            .any(|f| f.rule == rule.id && f.line == line)
    }
}

/// ELF, PE or Mach-O, judged by magic bytes (images, fonts, archives and WebAssembly have
/// other magic and are not flagged).
pub fn executable_kind(data: &[u8]) -> Option<&'static str> {
    let word = |at: usize| -> Option<[u8; 4]> { data.get(at..at + 4)?.try_into().ok() };
    let first = word(0)?;
    match first {
        [0x7f, b'E', b'L', b'F'] => Some("ELF"),
        [0xfe, 0xed, 0xfa, 0xce | 0xcf] | [0xce | 0xcf, 0xfa, 0xed, 0xfe] => Some("Mach-O"),
        // 0xCAFEBABE is also a Java class file; a fat Mach-O has a small architecture count
        // where a class file has its version (45 and up).
        [0xca, 0xfe, 0xba, 0xbe] => {
            let count = u32::from_be_bytes(word(4)?);
            (count > 0 && count < 30).then_some("Mach-O universal")
        }
        [b'M', b'Z', ..] => {
            // "MZ" alone begins plenty of text; a PE file points at its "PE\0\0" header.
            let at = u32::from_le_bytes(word(0x3c)?) as usize;
            (word(at)? == *b"PE\0\0").then_some("PE (Windows)")
        }
        _ => None,
    }
}

fn is_documentation(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".md", ".markdown", ".rst", ".adoc", ".txt"]
        .iter()
        .any(|e| lower.ends_with(e))
        || lower.starts_with("license")
        || lower.starts_with("changelog")
}

/// Files that run at build or install time: Dockerfiles, Makefiles, shell scripts (by name or
/// shebang), package.json.
fn is_build_script(name: &str, text: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let shebang = text.lines().next().is_some_and(|l| {
        l.starts_with("#!")
            && ["sh", "bash", "zsh", "ksh", "dash", "ash"]
                .iter()
                .any(|s| l.ends_with(&format!("/{s}")) || l.ends_with(&format!(" {s}")))
    });
    shebang
        || lower == "dockerfile"
        || lower == "containerfile"
        || lower.starts_with("dockerfile.")
        || lower.ends_with(".dockerfile")
        || lower == "makefile"
        || lower == "gnumakefile"
        || lower.ends_with(".mk")
        || lower == "justfile"
        || lower == "package.json"
        || [".sh", ".bash", ".zsh", ".ksh"]
            .iter()
            .any(|e| lower.ends_with(e))
}

static MINER_PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)stratum\+(?:tcp|ssl|tls|udp)://",
        // One letter in brackets: the same regex, but this file does not carry the words
        // themselves (and so scans clean).
        r"(?i)\b(?:xmri[g]|xmr-sta[k]|cryptonigh[t]|coinhiv[e]|coin-hiv[e]|miner[d]|cpumine[r]|ccmine[r]|cgmine[r]|bfgmine[r])\b",
        r"(?i)\b(?:minexm[r]|supportxm[r]|moneroocea[n]|nanopoo[l]|hashvaul[t]|f2poo[l]|2miner[s])\.(?:com|org|net|pro|stream)\b",
        r"(?i)--donate-leve[l]\b",
    ]
    .iter()
    .map(|p| re(p))
    .collect()
});

fn miners(text: &str, out: &mut Findings) {
    for (n, line) in text.lines().enumerate() {
        if let Some(m) = MINER_PATTERNS.iter().find_map(|r| r.find(line)) {
            out.add(&MINER, n + 1, format!("`{}`", excerpt(m.as_str())));
        }
    }
}

static DEV_TCP: LazyLock<Regex> = LazyLock::new(|| re(r"/dev/(?:tcp|udp)/"));
/// What turns a /dev/tcp connection into a shell: an interactive shell, the shell's streams
/// bound to the socket, or stdin taken from it. A health check (`echo > /dev/tcp/db/5432`,
/// `... >/dev/null 2>&1`) has none of these.
static DEV_TCP_SHELL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r">&\s*/dev/(?:tcp|udp)/|\b(?:ba|z|k|da)?sh\s+-i\b|\b(?:ba|z|k|da)?sh\b\s*<&\s*\d|\b0<&\s*\d",
    )
});
static SHELL_FROM_FD: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(?:ba|z|k|da)?sh\s+-i\s*[<>]&\s*\d"));
static NETCAT_EXEC: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:nc|ncat|netcat)(?:\.traditional|\.openbsd)?\s(?:[^|;&\n]*\s)?(?:-[a-zA-Z]*[ec]\b|--(?:sh-)?exec\b)",
    )
});
static MKFIFO: LazyLock<Regex> = LazyLock::new(|| re(r"\bmkfifo\b"));
static NET_TOOL: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(?:nc|ncat|netcat|telnet|socat)\b|openssl\s+s_client"));
static SHELL_WORD: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?:ba|z|k|da)?sh\b"));
static SOCAT_EXEC: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\bsocat\b.*\b(?:exec|system):"));
static DUP2_SOCKET: LazyLock<Regex> =
    LazyLock::new(|| re(r"\bdup2\s*\(\s*[\w.]+\.fileno\(\)\s*,\s*[0-2]\s*\)"));
static SPAWNS_SHELL: LazyLock<Regex> =
    LazyLock::new(|| re(r#"pty\.spawn\s*\(|/bin/(?:ba|z)?sh\b|\[\s*["'](?:ba)?sh["']"#));
static PERL_STD_REOPEN: LazyLock<Regex> =
    LazyLock::new(|| re(r#"open\s*\(\s*STD(?:IN|OUT|ERR)\s*,\s*["']?[>+<]*&"#));
static PERL_EXEC_SHELL: LazyLock<Regex> =
    LazyLock::new(|| re(r#"\bexec\s*\(?\s*["'](?:/bin/)?(?:ba)?sh\b"#));

fn reverse_shells(text: &str, out: &mut Findings) {
    let has_socket = text.contains("socket");
    let python_shell = has_socket && SPAWNS_SHELL.is_match(text);
    let perl_reopen = has_socket && PERL_STD_REOPEN.is_match(text);
    for (n, line) in text.lines().enumerate() {
        let hint = if DEV_TCP.is_match(line) && DEV_TCP_SHELL.is_match(line) {
            Some("a shell bound to a /dev/tcp connection")
        } else if SHELL_FROM_FD.is_match(line) {
            Some("an interactive shell on a socket's file descriptor")
        } else if NETCAT_EXEC.is_match(line) {
            Some("netcat running a program for its peer (its e or c option)")
        } else if MKFIFO.is_match(line) && NET_TOOL.is_match(line) && SHELL_WORD.is_match(line) {
            Some("a FIFO piping a shell through a network tool")
        } else if SOCAT_EXEC.is_match(line) {
            Some("socat running a program for its peer (an exec or system address)")
        } else if python_shell && DUP2_SOCKET.is_match(line) {
            Some("a socket's descriptor duplicated onto stdin/stdout before a shell starts")
        } else if perl_reopen && PERL_EXEC_SHELL.is_match(line) {
            Some("STDIN/STDOUT reopened on a socket, then a shell")
        } else {
            None
        };
        if let Some(hint) = hint {
            out.add(&REVERSE_SHELL, n + 1, hint.to_string());
        }
    }
}

static PIPE_SHELL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:curl|wget)\b[^|\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+(?:\S+=\S*\s+)*)?(?:\S*/)?(?:bash|sh|zsh|ksh|dash|ash|python[0-9.]*|perl|ruby|node)\b",
    )
});
static SHELL_OF_DOWNLOAD: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\b(?:bash|sh|zsh|ksh|dash|python[0-9.]*)\b[^\n]*(?:\$\(|<\(|`)\s*(?:curl|wget)\b")
});

fn pipe_to_shell(text: &str, out: &mut Findings) {
    for (n, line) in text.lines().enumerate() {
        if let Some(m) = PIPE_SHELL
            .find(line)
            .or_else(|| SHELL_OF_DOWNLOAD.find(line))
        {
            out.add(&PIPE_TO_SHELL, n + 1, format!("`{}`", skeleton(m.as_str())));
        }
    }
}

/// npm runs these on `npm install` / `npm ci`, before any code of the app is reviewed.
const NPM_LIFECYCLE: [&str; 6] = [
    "preinstall",
    "install",
    "postinstall",
    "prepare",
    "preprepare",
    "postprepare",
];

static FETCHES_AND_RUNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"\b(?:curl|wget)\b[^\n]*(?:https?|ftp)://",
        r"\|\s*(?:ba|z|da)?sh\b",
        r#"\bnode\s+(?:-e|--eval|-p|--print)\b.*(?:https?:|require\(\s*['"](?:https?|net|child_process)['"]|\bfetch\s*\()"#,
        r"\beval\b",
        r"\bbase64\s+(?:-d|--decode)\b",
        r"\bpython[0-9.]*\s+-c\b.*\b(?:urllib|requests|socket)\b",
    ]
    .iter()
    .map(|p| re(p))
    .collect()
});

fn npm_lifecycle(text: &str, out: &mut Findings) {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let Some(scripts) = value.get("scripts").and_then(|s| s.as_object()) else {
        return;
    };
    for name in NPM_LIFECYCLE {
        let Some(command) = scripts.get(name).and_then(|c| c.as_str()) else {
            continue;
        };
        if FETCHES_AND_RUNS.iter().any(|r| r.is_match(command)) {
            let key = format!("\"{name}\"");
            let line = text
                .lines()
                .position(|l| {
                    l.trim_start()
                        .strip_prefix(&key)
                        .is_some_and(|rest| rest.trim_start().starts_with(':'))
                })
                .map_or(1, |n| n + 1);
            out.add(
                &NPM_INSTALL_SCRIPT,
                line,
                format!("scripts.{name}: `{}`", skeleton(command)),
            );
        }
    }
}

static SETUP_PY_IMPORT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^\s*(?:import|from)\s+(?:socket|urllib|urllib2|urllib3|requests|httpx|http\.client|httplib|ftplib|telnetlib|aiohttp|pycurl)\b",
    )
});
static SETUP_PY_CALL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"\b(?:socket\.socket|socket\.create_connection|urlopen|urlretrieve|requests\.(?:get|post|put|request)|httpx\.(?:get|post)|HTTPS?Connection)\s*\(|\bos\.system\s*\(\s*f?["'](?:curl|wget)\b"#,
    )
});

fn setup_py_network(text: &str, out: &mut Findings) {
    for (n, line) in text.lines().enumerate() {
        if let Some(m) = SETUP_PY_IMPORT
            .find(line)
            .or_else(|| SETUP_PY_CALL.find(line))
        {
            out.add(
                &SETUP_PY_NETWORK,
                n + 1,
                format!("`{}`", excerpt(m.as_str().trim())),
            );
        }
    }
}

static PEM_PRIVATE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----")
});
/// What follows a real key's BEGIN line (after a newline or a JSON `\n`): base64 or headers.
static PEM_BODY: LazyLock<Regex> = LazyLock::new(|| {
    re(r#"^(?:\\r|\\n|[\r\n \t"'])*(?:[A-Za-z0-9+/=]{32,}|Proc-Type:|Version:|Comment:)"#)
});
static AWS_KEY_ID: LazyLock<Regex> = LazyLock::new(|| re(r"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b"));
static AWS_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})(?:[^A-Za-z0-9/+=]|$)"#,
    )
});
static GCP_TYPE: LazyLock<Regex> = LazyLock::new(|| re(r#""type"\s*:\s*"service_account""#));
static GCP_KEY: LazyLock<Regex> =
    LazyLock::new(|| re(r#""private_key"\s*:\s*"-----BEGIN [A-Z ]*PRIVATE KEY-----"#));
static TOKENS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    [
        ("GitHub token", r"\b(gh[pousr]_[A-Za-z0-9]{36,})\b"),
        ("GitHub token", r"\b(github_pat_[A-Za-z0-9_]{60,})\b"),
        ("GitLab token", r"\b(glpat-[A-Za-z0-9_\-]{20,})"),
        (
            "Slack token",
            r"\b(xox[abposr]-[0-9]{6,}-[A-Za-z0-9\-]{10,})",
        ),
        (
            "Slack webhook",
            r"(https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{20,})",
        ),
        ("Stripe live key", r"\b((?:sk|rk)_live_[A-Za-z0-9]{20,})\b"),
        ("npm token", r"\b(npm_[A-Za-z0-9]{36})\b"),
    ]
    .into_iter()
    .map(|(k, p)| (k, re(p)))
    .collect()
});

fn secrets(text: &str, out: &mut Findings) {
    let service_account = GCP_TYPE.is_match(text);
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if service_account && GCP_KEY.is_match(line) {
            out.add(
                &SERVICE_ACCOUNT,
                line_no,
                "\"private_key\" of a \"service_account\" key file (value not shown)".into(),
            );
        } else if let Some(c) = PEM_PRIVATE.captures(line) {
            let end = c.get(0).map_or(0, |m| m.end());
            // The key body may be on the next lines: look at what follows the BEGIN line.
            let offset = line_start(text, n) + end;
            let rest = &text[offset..text.len().min(offset + 256)];
            if PEM_BODY.is_match(rest) {
                out.add(
                    &PRIVATE_KEY,
                    line_no,
                    format!("a {} block (content not shown)", &c[1]),
                );
            }
        }
        for c in AWS_KEY_ID.captures_iter(line) {
            let id = &c[1];
            // AWS's documentation key (AKIAIOSFODNN7EXAMPLE) is not a credential.
            if !id.ends_with("EXAMPLE") {
                out.add(&CLOUD_KEY, line_no, redacted("AWS access key id", id));
            }
        }
        if let Some(c) = AWS_SECRET.captures(line) {
            if !c[1].contains("EXAMPLE") && looks_random(&c[1]) {
                out.add(
                    &CLOUD_KEY,
                    line_no,
                    redacted("AWS secret access key", &c[1]),
                );
            }
        }
        for (kind, pattern) in TOKENS.iter() {
            for c in pattern.captures_iter(line) {
                let token = &c[1];
                if looks_random(token) {
                    out.add(&API_TOKEN, line_no, redacted(kind, token));
                }
            }
        }
    }
}

/// Byte offset of line `n` (0-based) in `text`, as `str::lines` counts them.
fn line_start(text: &str, n: usize) -> usize {
    let mut at = 0;
    for _ in 0..n {
        match text[at..].find('\n') {
            Some(i) => at += i + 1,
            None => return text.len(),
        }
    }
    at
}

/// A placeholder (`ghp_xxxx...`, `sk_live_000...`) has few distinct characters after its type
/// prefix.
fn looks_random(token: &str) -> bool {
    let body = token.split_once(['_', '-']).map_or(token, |(_, b)| b);
    let mut seen: Vec<char> = body.chars().collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len() >= 10
}

/// The kind, the token's type prefix (four characters, the part that is a public format
/// marker) and its length: enough to find it, nothing to use.
fn redacted(kind: &str, secret: &str) -> String {
    let prefix: String = secret.chars().take(4).collect();
    format!("{kind} {prefix}… ({} characters, not shown)", secret.len())
}

/// A command with only its command words, flags and operators kept, everything else (URLs,
/// headers, arguments that may carry a token) shown as `…`: what it does, nothing it uses.
fn skeleton(command: &str) -> String {
    let mut words: Vec<&str> = Vec::new();
    for word in command.split_whitespace() {
        let plain = word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._/-".contains(c))
            && word.len() <= 24;
        let operator = matches!(word, "|" | "||" | "&&" | ";" | "<(" | "$(");
        let keep = (plain || operator) && !word.contains("//");
        let shown = if keep { word } else { "…" };
        if !(shown == "…" && words.last() == Some(&"…")) {
            words.push(shown);
        }
    }
    excerpt(&words.join(" "))
}

/// At most 80 characters of matched text, for a code (never a secret) finding.
fn excerpt(text: &str) -> String {
    let one_line = text.replace(['\n', '\r', '\t'], " ");
    if one_line.chars().count() <= 80 {
        one_line
    } else {
        let cut: String = one_line.chars().take(77).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests;
