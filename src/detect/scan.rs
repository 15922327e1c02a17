//! Pure text extraction over source files: the ports a service listens on, the environment
//! variables it reads, and its health routes. Every function takes text and returns data, so
//! each pattern is unit-tested on inline snippets.
//!
//! These are deliberately regular expressions, not parsers: they recognise the idioms that real
//! projects use (`app.listen(process.env.PORT || 4000)`, `os.getenv("X")`, `server.port=8081`)
//! and stay silent otherwise, in which case the framework's conventional value is used.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use super::Language;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex is valid")
}

/// Variables that the platform sets itself (the chart sets `PORT` to the container port), so
/// listing them as configuration would only add noise.
pub const PLATFORM_ENV: [&str; 8] = [
    "PORT", "HOSTNAME", "NODE_ENV", "HOME", "PATH", "PWD", "USER", "SHELL",
];

/// True for a variable the platform provides.
pub fn is_platform_env(name: &str) -> bool {
    PLATFORM_ENV.contains(&name)
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// ---------------------------------------------------------------------------------------------
// Environment variables

static PY_ENV: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        re(r#"environ\s*\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\]"#),
        re(r#"(?:environ\.get|environ\.pop|getenv)\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]"#),
    ]
});
static NODE_ENV_RE: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        re(r"process\.env\.([A-Za-z_][A-Za-z0-9_]*)"),
        re(r#"process\.env\[\s*['"`]([A-Za-z_][A-Za-z0-9_]*)['"`]\s*\]"#),
        re(r"import\.meta\.env\.([A-Za-z_][A-Za-z0-9_]*)"),
    ]
});
/// `const { A, B: b, C = 1 } = process.env`
static NODE_DESTRUCTURE: LazyLock<Regex> =
    LazyLock::new(|| re(r"\{([^{}]*)\}\s*=\s*process\.env\b"));
static GO_ENV: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![re(
        r#"os\.(?:Getenv|LookupEnv)\(\s*"([A-Za-z_][A-Za-z0-9_]*)""#,
    )]
});
static JAVA_ENV: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        re(r#"System\.getenv\(\s*"([A-Za-z_][A-Za-z0-9_]*)""#),
        // Spring placeholders that name environment-style variables: ${DB_URL:default}
        re(r"\$\{([A-Z_][A-Z0-9_]*)(?::[^}]*)?\}"),
    ]
});
static RUST_ENV: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![re(
        r#"(?:env::var|env::var_os|dotenvy::var|dotenv::var)\(\s*"([A-Za-z_][A-Za-z0-9_]*)""#,
    )]
});
/// Vite's built-in `import.meta.env` keys, which are not configuration.
const VITE_BUILTINS: [&str; 5] = ["MODE", "DEV", "PROD", "SSR", "BASE_URL"];

/// The environment variables a source file of `language` reads.
pub fn env_reads(language: Language, text: &str) -> BTreeSet<String> {
    let patterns: &[Regex] = match language {
        Language::Python => &PY_ENV,
        Language::Node | Language::Static => &NODE_ENV_RE,
        Language::Go => &GO_ENV,
        Language::Java => &JAVA_ENV,
        Language::Rust => &RUST_ENV,
    };
    let mut out = BTreeSet::new();
    for pattern in patterns {
        for cap in pattern.captures_iter(text) {
            out.insert(cap[1].to_string());
        }
    }
    if language == Language::Node {
        for cap in NODE_DESTRUCTURE.captures_iter(text) {
            for part in cap[1].split(',') {
                let key = part
                    .split([':', '='])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_start_matches("...");
                if valid_env_name(key) {
                    out.insert(key.to_string());
                }
            }
        }
        out.retain(|n| !VITE_BUILTINS.contains(&n.as_str()));
    }
    if language == Language::Python {
        out.extend(pydantic_settings_fields(text));
        out.extend(python_indirect_reads(text));
    }
    if language == Language::Node {
        out.extend(node_indirect_reads(text));
    }
    out.retain(|n| valid_env_name(n) && !is_platform_env(n));
    out
}

/// Reads through an alias (`env = os.environ; env.get("X")`) or a helper whose first parameter
/// names the variable (`def _int(name, default): os.environ.get(name)` ... `_int("X", 5)`).
fn python_indirect_reads(text: &str) -> BTreeSet<String> {
    static ALIAS: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?m)\b([A-Za-z_][A-Za-z0-9_]*)\s*=\s*os\.environ\s*$"));
    static HELPER: LazyLock<Regex> = LazyLock::new(|| {
        re(r"(?m)^[ \t]*def\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)")
    });
    let mut names: Vec<String> = Vec::new();
    for cap in ALIAS.captures_iter(text) {
        if &cap[1] != "environ" {
            for method in ["get", "pop"] {
                names.push(format!(
                    r#"\b{}\.{method}\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]"#,
                    regex::escape(&cap[1])
                ));
            }
            names.push(format!(
                r#"\b{}\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\]"#,
                regex::escape(&cap[1])
            ));
        }
    }
    for cap in HELPER.captures_iter(text) {
        let (func, param) = (&cap[1], &cap[2]);
        let body: String = text[cap.get(0).map_or(0, |m| m.end())..]
            .lines()
            .skip(1)
            .take(12)
            .collect::<Vec<_>>()
            .join("\n");
        let reads_param = Regex::new(&format!(
            r"(?:environ\.get|getenv)\(\s*{p}\b|environ\[\s*{p}\s*\]",
            p = regex::escape(param)
        ))
        .is_ok_and(|r| r.is_match(&body));
        if reads_param {
            names.push(format!(
                r#"\b{}\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]"#,
                regex::escape(func)
            ));
        }
    }
    let mut out = BTreeSet::new();
    for pattern in names {
        if let Ok(r) = Regex::new(&pattern) {
            out.extend(r.captures_iter(text).map(|c| c[1].to_string()));
        }
    }
    out
}

/// `process.env[NAME_VAR]` where `const NAME_VAR = "X"` in the same file.
fn node_indirect_reads(text: &str) -> BTreeSet<String> {
    static INDEXED: LazyLock<Regex> =
        LazyLock::new(|| re(r"process\.env\[\s*([A-Za-z_$][A-Za-z0-9_$]*)\s*\]"));
    let mut out = BTreeSet::new();
    for cap in INDEXED.captures_iter(text) {
        let constant = Regex::new(&format!(
            r#"(?:const|let|var)\s+{}\s*=\s*['"`]([A-Za-z_][A-Za-z0-9_]*)['"`]"#,
            regex::escape(&cap[1])
        ));
        if let Some(c) = constant.ok().and_then(|r| r.captures(text)) {
            out.insert(c[1].to_string());
        }
    }
    out
}

static SETTINGS_CLASS: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)^class\s+\w+\s*\(\s*(?:[\w.]+\.)?BaseSettings\s*\)\s*:"));
static SETTINGS_FIELD: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\s+([A-Za-z_][A-Za-z0-9_]*)\s*:\s*[^=]"));
static ENV_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| re(r#"env_prefix\s*[=:]\s*['"]([A-Za-z0-9_]*)['"]"#));

/// Fields of pydantic `BaseSettings` classes: each is read from the upper-cased environment
/// variable of the same name (with the class's `env_prefix`).
pub fn pydantic_settings_fields(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for m in SETTINGS_CLASS.find_iter(text) {
        let body: Vec<&str> = text[m.end()..]
            .lines()
            .skip(1)
            .take_while(|l| l.trim().is_empty() || l.starts_with(' ') || l.starts_with('\t'))
            .collect();
        let body_text = body.join("\n");
        let prefix = ENV_PREFIX
            .captures(&body_text)
            .map(|c| c[1].to_ascii_uppercase())
            .unwrap_or_default();
        // Only the class's own level: the first indented line sets it.
        let indent = body
            .iter()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .unwrap_or(4);
        for line in &body {
            if line.len() - line.trim_start().len() != indent {
                continue;
            }
            if let Some(cap) = SETTINGS_FIELD.captures(line) {
                let field = &cap[1];
                if field == "model_config" || field.starts_with('_') {
                    continue;
                }
                out.insert(format!("{prefix}{}", field.to_ascii_uppercase()));
            }
        }
    }
    out
}

static DOTENV_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*="));

/// Keys of a `.env.example`-style file (values are ignored).
pub fn dotenv_keys(text: &str) -> BTreeSet<String> {
    DOTENV_LINE
        .captures_iter(text)
        .map(|c| c[1].to_string())
        .filter(|n| !is_platform_env(n))
        .collect()
}

/// Value of `PORT=` in a `.env.example`-style file.
pub fn dotenv_port(text: &str) -> Option<u16> {
    static PORT: LazyLock<Regex> =
        LazyLock::new(|| re(r#"(?m)^\s*(?:export\s+)?PORT\s*=\s*['"]?(\d{2,5})\b"#));
    PORT.captures(text).and_then(|c| parse_port(&c[1]))
}

/// Whether an `.npmrc` carries registry credentials (`_authToken`, `_auth`, `_password`,
/// scoped `//host/:_authToken` lines included). Such a file stays out of build contexts: an
/// image layer would keep the token for anyone who pulls it.
pub fn npmrc_has_credentials(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        if line.starts_with(';') || line.starts_with('#') {
            return false;
        }
        let key = line.split('=').next().unwrap_or("").trim();
        let key = key.rsplit(':').next().unwrap_or(key);
        matches!(key, "_authToken" | "_auth" | "_password" | "password")
    })
}

// ---------------------------------------------------------------------------------------------
// Ports

fn parse_port(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|p| *p >= 80)
}

fn first_port(patterns: &[Regex], text: &str) -> Option<u16> {
    // The earliest match in the text wins, whichever pattern found it.
    patterns
        .iter()
        .filter_map(|p| {
            p.captures_iter(text)
                .filter_map(|c| {
                    let m = c.iter().skip(1).flatten().next()?;
                    Some((m.start(), parse_port(m.as_str())?))
                })
                .next()
        })
        .min_by_key(|(start, _)| *start)
        .map(|(_, port)| port)
}

static NODE_PORT: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        // process.env.PORT || 4000, Number(process.env.PORT) || 4000, ?? "4000"
        re(
            r#"process\.env(?:\.PORT|\[\s*['"`]PORT['"`]\s*\])\s*\)?\s*(?:\|\||\?\?)\s*['"`]?(\d{2,5})"#,
        ),
        // app.listen(4000), server.listen(4000, ...)
        re(r"\.listen\(\s*(\d{2,5})\b"),
        // fastify.listen({ port: 4000 }) or { port: Number(process.env.PORT) || 4000 }
        re(r#"\.listen\(\s*\{[^}]*?\bport\s*:\s*(?:[^,}]*?(?:\|\||\?\?)\s*)?['"`]?(\d{2,5})\b"#),
        // const PORT = 4000; const port = process.env.PORT || 4000 (covered above)
        re(r#"(?:const|let|var)\s+(?:PORT|port)\s*(?::\s*\w+\s*)?=\s*['"`]?(\d{2,5})\b"#),
        // Bun / Hono style: export default { port: 4000, fetch }
        re(r"\bserve\(\s*\{[^}]*?\bport\s*:\s*(\d{2,5})\b"),
    ]
});
static PY_PORT: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        // uvicorn.run(app, host="0.0.0.0", port=8001) / app.run(port=5001)
        re(
            r#"(?:uvicorn\.run|\.run|serve)\([^)]*?\bport\s*=\s*(?:int\(\s*)?(?:os\.(?:environ\.get|getenv)\(\s*['"]PORT['"]\s*,\s*)?['"]?(\d{2,5})"#,
        ),
        // os.getenv("PORT", "8001")
        re(r#"(?:getenv|environ\.get)\(\s*['"]PORT['"]\s*,\s*['"]?(\d{2,5})"#),
        // gunicorn.conf.py: bind = "0.0.0.0:8001"
        re(r#"(?m)^\s*bind\s*=\s*\[?\s*['"][^'"]*:(\d{2,5})['"]"#),
        // pydantic settings: port: int = 8001
        re(r"(?m)^\s+port\s*:\s*int\s*=\s*(\d{2,5})\b"),
    ]
});
static GO_PORT: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        // http.ListenAndServe(":9090", ...), r.Run(":9090"), e.Start(":9090"), app.Listen(":9090")
        re(
            r#"(?:ListenAndServe(?:TLS)?|\.Run|\.Start|\.Listen|net\.Listen)\(\s*(?:"tcp"\s*,\s*)?"[^":]*:(\d{2,5})""#,
        ),
        // &http.Server{Addr: ":9090"}
        re(r#"Addr\s*:\s*"[^":]*:(\d{2,5})""#),
        // port := "9090" / port = "9090" (the usual PORT fallback)
        re(r#"(?i)\bport\s*(?::=|=)\s*"(\d{2,5})""#),
    ]
});
static RUST_PORT: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        // "0.0.0.0:3000", "127.0.0.1:3000", "[::]:3000"
        re(r#""(?:0\.0\.0\.0|127\.0\.0\.1|localhost|\[::\]|::):(\d{2,5})""#),
        // .bind(("0.0.0.0", 8080))
        re(r#"bind\(\s*\(\s*"[^"]*"\s*,\s*(\d{2,5})\s*\)"#),
        // SocketAddr::from(([0, 0, 0, 0], 3000))
        re(r"SocketAddr::from\(\s*\(\s*\[[^\]]*\]\s*,\s*(\d{2,5})\s*\)"),
        // env::var("PORT").unwrap_or_else(|_| "3000".into())
        re(r#"var\(\s*"PORT"\s*\)[^;]*?"(\d{2,5})""#),
    ]
});
static JAVA_PORT: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![re(
        r#"(?m)^\s*server\.port\s*[=:]\s*(?:\$\{[A-Za-z_]+:)?(\d{2,5})"#,
    )]
});

/// The port a source file of `language` says its server listens on.
pub fn port_in_source(language: Language, text: &str) -> Option<u16> {
    match language {
        Language::Node | Language::Static => first_port(&NODE_PORT, text),
        Language::Python => first_port(&PY_PORT, text),
        Language::Go => first_port(&GO_PORT, text),
        Language::Java => first_port(&JAVA_PORT, text),
        Language::Rust => first_port(&RUST_PORT, text),
    }
}

static COMMAND_PORT: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        // uvicorn --port 8001, next start -p 4000, --port=8001
        re(r"(?:^|\s)(?:--port|-p)(?:\s+|=)(\d{2,5})\b"),
        // gunicorn --bind 0.0.0.0:8001 / -b :8001, runserver 0.0.0.0:8001
        re(r"(?:--bind|-b)(?:\s+|=)['\x22]?[^\s:'\x22]*:(\d{2,5})\b"),
        re(r"runserver\s+(?:[^\s:]*:)?(\d{2,5})\b"),
    ]
});

/// The port named on a command line (`--port 8001`, `-p 4000`, `--bind 0.0.0.0:8001`).
pub fn port_in_command(text: &str) -> Option<u16> {
    first_port(&COMMAND_PORT, text)
}

/// `server.port` of a Spring `application.yml` (plain number or `${PORT:8081}`).
pub fn spring_yaml_port(text: &str) -> Option<u16> {
    for doc in serde_yaml::Deserializer::from_str(text) {
        let Ok(value) = serde_yaml::Value::deserialize(doc) else {
            continue;
        };
        let port = value.get("server").and_then(|s| s.get("port"));
        let found = match port {
            Some(serde_yaml::Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Some(serde_yaml::Value::String(s)) => {
                static DIGITS: LazyLock<Regex> = LazyLock::new(|| re(r"(\d{2,5})\}?$"));
                DIGITS.captures(s.trim()).and_then(|c| parse_port(&c[1]))
            }
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

use serde::Deserialize as _;

static EXPOSE: LazyLock<Regex> = LazyLock::new(|| re(r"(?im)^\s*EXPOSE\s+(\d{2,5})"));

/// The first port an existing Dockerfile `EXPOSE`s.
pub fn dockerfile_expose(text: &str) -> Option<u16> {
    EXPOSE.captures(text).and_then(|c| parse_port(&c[1]))
}

// ---------------------------------------------------------------------------------------------
// Health routes

/// Route names that mean "is this service up", most preferred first.
const HEALTH_WORDS: [&str; 8] = [
    "health",
    "healthz",
    "healthcheck",
    "health-check",
    "livez",
    "readyz",
    "ready",
    "readiness",
];

static ROUTE_LITERAL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"["'`](/(?:[A-Za-z0-9_.-]+/)*(?:health|healthz|healthcheck|health-check|livez|readyz|ready|readiness)/?)["'`]"#,
    )
});
/// Django: path("health/", ...) and re_path(r"^health/?$", ...), which carry no leading slash.
static DJANGO_ROUTE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"(?:re_)?path\(\s*r?["']\^?((?:[A-Za-z0-9_-]+/)*(?:health|healthz|healthcheck|health-check|livez|readyz|ready|readiness))(/?)\??\$?["']"#,
    )
});
/// NestJS: @Controller('health') (no leading slash), Flask-RESTX/Express style names are
/// covered by ROUTE_LITERAL.
static NEST_CONTROLLER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"@Controller\(\s*['"`]/?((?:[A-Za-z0-9_-]+/)*(?:health|healthz|healthcheck|health-check|livez|readyz|ready|readiness))['"`]\s*\)"#,
    )
});
/// A per-file route prefix: FastAPI's `APIRouter(prefix="/api")`, Spring's class-level
/// `@RequestMapping("/api")`, Express/Fastify routers are not resolved.
static ROUTE_PREFIX: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        re(r#"APIRouter\([^)]*?prefix\s*=\s*["'](/[^"']*)["']"#),
        re(r#"Blueprint\([^)]*?url_prefix\s*=\s*["'](/[^"']*)["']"#),
        re(
            r#"@RequestMapping\(\s*(?:(?:value|path)\s*=\s*)?"(/[^"]*)"\s*\)\s*(?:@\w+(?:\([^)]*\))?\s*)*public\s+(?:final\s+)?class"#,
        ),
    ]
});

/// Health-like routes declared in a source file, with the file's router prefix applied.
pub fn health_routes(text: &str) -> Vec<String> {
    let prefix = ROUTE_PREFIX
        .iter()
        .find_map(|p| {
            p.captures(text)
                .map(|c| c[1].trim_end_matches('/').to_string())
        })
        .unwrap_or_default();
    // The route goes into the image's HEALTHCHECK: a prefix that is not a plain URL path
    // (spaces, quotes, newlines) is not a health route justpush can use.
    if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-._~".contains(c))
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    for cap in ROUTE_LITERAL.captures_iter(text) {
        let route = &cap[1];
        if route.contains("//") {
            continue;
        }
        if !prefix.is_empty() && !route.starts_with(&prefix) {
            out.push(format!("{prefix}{route}"));
        } else {
            out.push(route.to_string());
        }
    }
    for cap in NEST_CONTROLLER.captures_iter(text) {
        out.push(format!("/{}", &cap[1]));
    }
    for cap in DJANGO_ROUTE.captures_iter(text) {
        out.push(format!("/{}{}", &cap[1], &cap[2]));
    }
    out
}

/// The best health route among candidates: by preference (health, healthz, ..., ready), then the shortest.
pub fn best_health_route<'a>(candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .filter_map(|route| {
            let last = route
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            let rank = HEALTH_WORDS.iter().position(|w| *w == last)?;
            Some((rank, route.len(), route))
        })
        .min()
        .map(|(_, _, route)| route.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(set: BTreeSet<String>) -> Vec<String> {
        set.into_iter().collect()
    }

    #[test]
    fn node_ports() {
        let cases = [
            ("app.listen(process.env.PORT || 4000)", 4000),
            ("const port = Number(process.env.PORT) || 4100;", 4100),
            ("const PORT = process.env.PORT ?? '4200'", 4200),
            ("server.listen(4300, () => {})", 4300),
            (
                "await fastify.listen({ port: 4400, host: '0.0.0.0' })",
                4400,
            ),
            (
                "await app.listen({ host: '0.0.0.0', port: Number(process.env.PORT) || 4500 })",
                4500,
            ),
            ("const PORT = 4600;\napp.listen(PORT)", 4600),
            ("const port: number = 4700", 4700),
        ];
        for (src, want) in cases {
            assert_eq!(port_in_source(Language::Node, src), Some(want), "{src}");
        }
        assert_eq!(port_in_source(Language::Node, "app.listen(PORT)"), None);
        // Small numbers are not ports (array indices, retries).
        assert_eq!(port_in_source(Language::Node, "const port = 3;"), None);
    }

    #[test]
    fn python_ports() {
        let cases = [
            (r#"uvicorn.run(app, host="0.0.0.0", port=8001)"#, 8001),
            (
                r#"uvicorn.run("main:app", port=int(os.getenv("PORT", "8002")))"#,
                8002,
            ),
            ("app.run(host='0.0.0.0', port=5001)", 5001),
            (r#"port = int(os.environ.get("PORT", 8003))"#, 8003),
            ("bind = \"0.0.0.0:8004\"\nworkers = 2", 8004),
            (
                "class Settings(BaseSettings):\n    port: int = 8005\n",
                8005,
            ),
        ];
        for (src, want) in cases {
            assert_eq!(port_in_source(Language::Python, src), Some(want), "{src}");
        }
        assert_eq!(
            port_in_source(Language::Python, "conn = connect(port=5432)"),
            None
        );
    }

    #[test]
    fn go_rust_java_ports() {
        assert_eq!(
            port_in_source(
                Language::Go,
                r#"log.Fatal(http.ListenAndServe(":9090", mux))"#
            ),
            Some(9090)
        );
        assert_eq!(
            port_in_source(Language::Go, r#"r.Run(":9091")"#),
            Some(9091)
        );
        assert_eq!(
            port_in_source(
                Language::Go,
                "srv := &http.Server{\n\tAddr: \"0.0.0.0:9092\",\n}"
            ),
            Some(9092)
        );
        assert_eq!(
            port_in_source(
                Language::Go,
                "port := os.Getenv(\"PORT\")\nif port == \"\" {\n\tport = \"9093\"\n}"
            ),
            Some(9093)
        );
        assert_eq!(
            port_in_source(
                Language::Rust,
                r#"let listener = tokio::net::TcpListener::bind("0.0.0.0:3001").await?;"#
            ),
            Some(3001)
        );
        assert_eq!(
            port_in_source(Language::Rust, r#".bind(("0.0.0.0", 8081))?"#),
            Some(8081)
        );
        assert_eq!(
            port_in_source(
                Language::Rust,
                "let addr = SocketAddr::from(([0, 0, 0, 0], 3002));"
            ),
            Some(3002)
        );
        assert_eq!(
            port_in_source(
                Language::Java,
                "spring.application.name=x\nserver.port=8081\n"
            ),
            Some(8081)
        );
        assert_eq!(
            port_in_source(Language::Java, "server.port=${PORT:8082}"),
            Some(8082)
        );
        assert_eq!(spring_yaml_port("server:\n  port: 8083\n"), Some(8083));
        assert_eq!(
            spring_yaml_port("server:\n  port: ${PORT:8084}\n"),
            Some(8084)
        );
        assert_eq!(
            spring_yaml_port("spring:\n  application:\n    name: x\n"),
            None
        );
    }

    #[test]
    fn command_and_dockerfile_ports() {
        assert_eq!(
            port_in_command("uvicorn app.main:app --host 0.0.0.0 --port 8010"),
            Some(8010)
        );
        assert_eq!(port_in_command("next start -p 4010"), Some(4010));
        assert_eq!(
            port_in_command("gunicorn -b 0.0.0.0:8011 app:app"),
            Some(8011)
        );
        assert_eq!(port_in_command("gunicorn --bind=:8012 app:app"), Some(8012));
        assert_eq!(
            port_in_command("python manage.py runserver 0.0.0.0:8013"),
            Some(8013)
        );
        assert_eq!(port_in_command("next start"), None);
        assert_eq!(
            dockerfile_expose("FROM x\nRUN a\nEXPOSE 8080/tcp\nEXPOSE 9000\n"),
            Some(8080)
        );
        assert_eq!(dotenv_port("# c\nPORT=4321\n"), Some(4321));
    }

    #[test]
    fn python_env() {
        let src = r#"
import os
DB = os.environ["DATABASE_URL"]
KEY = os.environ.get('OPENAI_API_KEY', '')
x = os.getenv("LOG_LEVEL", "info")
from os import getenv
y = getenv("FEATURE_FLAG")
port = os.getenv("PORT", "8000")

class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APP_")
    jwt_secret: str
    redis_url: str = "redis://localhost"

    def helper(self):
        local: int = 3
"#;
        assert_eq!(
            names(env_reads(Language::Python, src)),
            [
                "APP_JWT_SECRET",
                "APP_REDIS_URL",
                "DATABASE_URL",
                "FEATURE_FLAG",
                "LOG_LEVEL",
                "OPENAI_API_KEY"
            ]
        );
    }

    #[test]
    fn python_env_through_aliases_and_helpers() {
        let src = r#"
def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default

def from_env():
    env = os.environ
    return dict(
        url=env.get("DATABASE_URL", ""),
        key=env["OPENAI_API_KEY"],
        attempts=_int("DB_CONNECT_ATTEMPTS", 5),
        other=compute("NOT_AN_ENV"),
    )
"#;
        assert_eq!(
            names(env_reads(Language::Python, src)),
            ["DATABASE_URL", "DB_CONNECT_ATTEMPTS", "OPENAI_API_KEY"]
        );
    }

    #[test]
    fn node_env_through_a_named_constant() {
        let src = "const API_BASE_VAR = \"API_BASE_URL\";\nconst v = process.env[API_BASE_VAR];\nconst w = process.env[dynamic];\n";
        assert_eq!(names(env_reads(Language::Node, src)), ["API_BASE_URL"]);
    }

    #[test]
    fn node_env() {
        let src = r#"
const url = process.env.DATABASE_URL;
const key = process.env["STRIPE_SECRET_KEY"];
const { JWT_SECRET, REDIS_URL: redis, LIMIT = 10 } = process.env;
const api = import.meta.env.VITE_API_URL;
if (import.meta.env.DEV) {}
app.listen(process.env.PORT || 3000);
"#;
        assert_eq!(
            names(env_reads(Language::Node, src)),
            [
                "DATABASE_URL",
                "JWT_SECRET",
                "LIMIT",
                "REDIS_URL",
                "STRIPE_SECRET_KEY",
                "VITE_API_URL"
            ]
        );
    }

    #[test]
    fn go_java_rust_env() {
        assert_eq!(
            names(env_reads(
                Language::Go,
                r#"dsn := os.Getenv("DATABASE_URL"); tok, ok := os.LookupEnv("API_TOKEN")"#
            )),
            ["API_TOKEN", "DATABASE_URL"]
        );
        assert_eq!(
            names(env_reads(
                Language::Java,
                "String k = System.getenv(\"PAYMENT_KEY\");\nspring.datasource.url=${DB_URL:jdbc:h2:mem:x}\nserver.port=${PORT:8080}"
            )),
            ["DB_URL", "PAYMENT_KEY"]
        );
        assert_eq!(
            names(env_reads(
                Language::Rust,
                r#"let a = std::env::var("DATABASE_URL")?; let b = env::var_os("RUST_LOG"); let c = dotenvy::var("SESSION_SECRET");"#
            )),
            ["DATABASE_URL", "RUST_LOG", "SESSION_SECRET"]
        );
        assert_eq!(
            names(dotenv_keys(
                "# comment\nDATABASE_URL=postgres://\nexport API_KEY=\nPORT=3000\n  SPACED = 1\n"
            )),
            ["API_KEY", "DATABASE_URL", "SPACED"]
        );
    }

    #[test]
    fn health_route_literals() {
        let fastapi = r#"
router = APIRouter(prefix="/api")
@router.get("/health")
def health(): ...
"#;
        assert_eq!(health_routes(fastapi), ["/api/health"]);
        assert_eq!(health_routes(r#"@app.get("/api/health")"#), ["/api/health"]);
        assert_eq!(health_routes("app.get('/healthz', h)"), ["/healthz"]);
        assert_eq!(
            health_routes("urlpatterns = [path(\"health/\", views.health)]"),
            ["/health/"]
        );
        assert_eq!(
            health_routes("@RestController\n@RequestMapping(\"/api\")\npublic class H {\n@GetMapping(\"/health\")"),
            ["/api/health"]
        );
        assert!(health_routes(r#"fetch("/api/users")"#).is_empty());
        // A prefix that is no URL path cannot reach a HEALTHCHECK line.
        assert!(health_routes(
            "router = APIRouter(prefix=\"/x\nHEALTHCHECK NONE\")\n@router.get(\"/health\")"
        )
        .is_empty());
        assert_eq!(
            health_routes("@Controller('health')\nexport class H {}"),
            ["/health"]
        );
        assert_eq!(
            best_health_route(["/ready", "/api/health", "/health", "/healthz"]),
            Some("/health".to_string())
        );
        assert_eq!(
            best_health_route(["/readyz", "/livez"]),
            Some("/livez".to_string())
        );
    }
}
