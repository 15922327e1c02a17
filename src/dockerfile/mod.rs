//! Production Dockerfiles for detected components, rendered from the minijinja templates in
//! `images/templates/` (embedded at compile time), plus a `.dockerignore` per component.
//!
//! Every template is multi-stage (build tools stay in the builder), runs as the numeric
//! non-root user 10001, `EXPOSE`s the port, carries OCI labels and a `HEALTHCHECK` that needs
//! no extra package:
//!
//! * Python: `python3 -c` with `urllib.request`;
//! * Node: `node -e` with `http.get` (works on Node 18, where `fetch` is still experimental);
//! * Go, Rust, Java: the runtime images (Debian slim, Eclipse Temurin JRE) have no HTTP client,
//!   so `bash -c` opens `/dev/tcp/127.0.0.1/<port>`, sends a one-line HTTP/1.0 request and checks
//!   the status line.
//!
//! A health path that detection only guessed (`/`) counts any status below 500 as healthy (the
//! server answers); an explicit health route must answer below 400.
//!
//! Everything builds with the classic builder (Docker Engine 20.10, no BuildKit). The
//! optional CA bundle is copied from the build context (file [`CA_BUNDLE_FILE`]) into the
//! builder stage only, where the package managers are pointed at it; the final stage copies
//! nothing but build outputs, and stages that copy the whole context delete the file first.
//! The caller puts the bundle into the build context; it should be a complete bundle (system
//! roots plus the extra CA), such as the host's `/etc/ssl/certs/ca-certificates.crt`.

pub mod init;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use minijinja::{context, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use crate::detect::{Component, DockerfileSource, Language, Template, GENERATED_MARKER};

/// Name of the CA bundle inside the build context when [`DockerfileOptions::ca_bundle`] is set.
pub const CA_BUNDLE_FILE: &str = ".justpush-ca.crt";
/// Where the bundle lives in builder stages.
const CA_PATH: &str = "/usr/local/share/justpush/ca.crt";
/// The numeric user (and group) every image runs as.
pub const RUNTIME_USER: &str = "10001:10001";

/// Builder and runtime base images of one template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseImages {
    pub builder: String,
    pub runtime: String,
}

impl BaseImages {
    /// The default base images of a template for the language version a project declares
    /// (`version`: digits and dots, e.g. `3.11`); `None`, or a version that is not digits and
    /// dots, keeps the template's defaults.
    pub fn for_version(template: Template, version: Option<&str>) -> BaseImages {
        let Some(v) = version.filter(|v| valid_version_tag(v)) else {
            return BaseImages::defaults(template);
        };
        let (builder, runtime) = match template {
            Template::PythonUv | Template::PythonPip | Template::PythonPoetry => (
                format!("python:{v}-slim-bookworm"),
                format!("python:{v}-slim-bookworm"),
            ),
            Template::NodeNextjs
            | Template::NodeServer
            | Template::NodeStatic
            | Template::Static => (
                format!("node:{v}-bookworm-slim"),
                format!("node:{v}-bookworm-slim"),
            ),
            Template::Go => (
                format!("golang:{v}-bookworm"),
                "debian:bookworm-slim".into(),
            ),
            Template::Rust => (format!("rust:{v}-bookworm"), "debian:bookworm-slim".into()),
            Template::JavaMaven => (
                format!("maven:3.9-eclipse-temurin-{v}"),
                format!("eclipse-temurin:{v}-jre"),
            ),
            Template::JavaGradle => (
                format!("gradle:8.10-jdk{v}"),
                format!("eclipse-temurin:{v}-jre"),
            ),
        };
        BaseImages { builder, runtime }
    }

    /// The default base images of a template: official Debian-based images.
    pub fn defaults(template: Template) -> BaseImages {
        let (builder, runtime) = match template {
            Template::PythonUv | Template::PythonPip | Template::PythonPoetry => {
                ("python:3.12-slim-bookworm", "python:3.12-slim-bookworm")
            }
            Template::NodeNextjs
            | Template::NodeServer
            | Template::NodeStatic
            | Template::Static => ("node:20-bookworm-slim", "node:20-bookworm-slim"),
            Template::Go => ("golang:1.23-bookworm", "debian:bookworm-slim"),
            Template::Rust => ("rust:1.83-bookworm", "debian:bookworm-slim"),
            Template::JavaMaven => ("maven:3.9-eclipse-temurin-21", "eclipse-temurin:21-jre"),
            Template::JavaGradle => ("gradle:8.10-jdk21", "eclipse-temurin:21-jre"),
        };
        BaseImages {
            builder: builder.to_string(),
            runtime: runtime.to_string(),
        }
    }
}

/// Per-language replacement of base images (mirrors, air-gapped registries). Unset halves keep
/// the template's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseImageOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
}

/// What the caller can tune about generated Dockerfiles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerfileOptions {
    /// Base images by language (`static` sites use the `static` entry, then the defaults).
    #[serde(default)]
    pub base_images: BTreeMap<Language, BaseImageOverride>,
    /// Copy [`CA_BUNDLE_FILE`] from the build context into builder stages.
    #[serde(default)]
    pub ca_bundle: bool,
    /// `org.opencontainers.image.source` (the repository URL), if known.
    #[serde(default)]
    pub source_url: Option<String>,
}

impl DockerfileOptions {
    /// The base images a template renders with, for the language version the project
    /// declares (`None`: the template's defaults); overrides win.
    pub fn images_for(&self, template: Template, version: Option<&str>) -> BaseImages {
        let mut images = BaseImages::for_version(template, version);
        if let Some(o) = self.base_images.get(&template.language()) {
            if let Some(b) = &o.builder {
                images.builder = b.clone();
            }
            if let Some(r) = &o.runtime {
                images.runtime = r.clone();
            }
        }
        images
    }
}

/// Errors of Dockerfile generation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DockerfileError {
    /// The component brings its own Dockerfile.
    #[error("component `{component}` has its own Dockerfile (dockerfile: existing), so none is generated; build it with that Dockerfile, or remove it to have justpush generate one")]
    HasOwnDockerfile { component: String },
    /// The component carries no build recipe (it was not produced by detection).
    #[error("component `{component}` has no build recipe: it did not come from detection; run `justpush::detect::detect` on the source directory and render the component it returns")]
    NoBuildPlan { component: String },
    /// A value would not be safe to write into a Dockerfile.
    #[error("component `{component}`: {what} {value:?} cannot go into a Dockerfile: {reason}; fix it in the project")]
    UnsafeValue {
        component: String,
        what: &'static str,
        value: String,
        reason: &'static str,
    },
    /// A base image reference is malformed.
    #[error("base image `{image}` for {language} is not a valid image reference (expected e.g. `registry.example:5000/python:3.12-slim-bookworm`); fix the base-image option")]
    InvalidImage { language: Language, image: String },
    /// A template failed to render: a defect in justpush itself.
    #[error("rendering Dockerfile template `{template}` failed: {message}; this is a bug in justpush, please report it")]
    Template { template: Template, message: String },
}

/// The embedded template sources, by template name (partials start with `_`).
pub const TEMPLATE_SOURCES: [(&str, &str); 18] = [
    (
        "_header.j2",
        include_str!("../../images/templates/_header.j2"),
    ),
    ("_ca.j2", include_str!("../../images/templates/_ca.j2")),
    (
        "_final.j2",
        include_str!("../../images/templates/_final.j2"),
    ),
    ("_run.j2", include_str!("../../images/templates/_run.j2")),
    (
        "_builder_packages.j2",
        include_str!("../../images/templates/_builder_packages.j2"),
    ),
    (
        "_runtime_packages.j2",
        include_str!("../../images/templates/_runtime_packages.j2"),
    ),
    (
        "_writable.j2",
        include_str!("../../images/templates/_writable.j2"),
    ),
    (
        "python-uv",
        include_str!("../../images/templates/python-uv.Dockerfile.j2"),
    ),
    (
        "python-pip",
        include_str!("../../images/templates/python-pip.Dockerfile.j2"),
    ),
    (
        "python-poetry",
        include_str!("../../images/templates/python-poetry.Dockerfile.j2"),
    ),
    (
        "node-nextjs",
        include_str!("../../images/templates/node-nextjs.Dockerfile.j2"),
    ),
    (
        "node-server",
        include_str!("../../images/templates/node-server.Dockerfile.j2"),
    ),
    (
        "node-static",
        include_str!("../../images/templates/node-static.Dockerfile.j2"),
    ),
    (
        "go",
        include_str!("../../images/templates/go.Dockerfile.j2"),
    ),
    (
        "java-maven",
        include_str!("../../images/templates/java-maven.Dockerfile.j2"),
    ),
    (
        "java-gradle",
        include_str!("../../images/templates/java-gradle.Dockerfile.j2"),
    ),
    (
        "rust",
        include_str!("../../images/templates/rust.Dockerfile.j2"),
    ),
    (
        "static",
        include_str!("../../images/templates/static.Dockerfile.j2"),
    ),
];

/// The static file server the `node-static` and `static` images run.
pub const STATIC_SERVER_JS: &str = include_str!("../../images/templates/static-server.js");

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters are valid"),
    );
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in TEMPLATE_SOURCES {
        env.add_template(name, source)
            .expect("embedded templates parse (checked by tests)");
    }
    env
});

/// Renders the Dockerfile of a component whose Dockerfile is generated.
pub fn render(
    component: &Component,
    options: &DockerfileOptions,
) -> Result<String, DockerfileError> {
    if component.dockerfile == DockerfileSource::Existing {
        return Err(DockerfileError::HasOwnDockerfile {
            component: component.name.clone(),
        });
    }
    let plan = component
        .build
        .as_ref()
        .ok_or_else(|| DockerfileError::NoBuildPlan {
            component: component.name.clone(),
        })?;
    let template = plan.template;
    check_values(component)?;
    let images = options.images_for(
        template,
        plan.runtime_version.as_ref().and_then(|v| v.tag.as_deref()),
    );
    for image in [&images.builder, &images.runtime] {
        if !valid_image(image) {
            return Err(DockerfileError::InvalidImage {
                language: template.language(),
                image: image.clone(),
            });
        }
    }
    if let Some(url) = &options.source_url {
        if !safe_label(url) {
            return Err(DockerfileError::UnsafeValue {
                component: component.name.clone(),
                what: "source URL",
                value: url.clone(),
                reason: "it contains quotes, backslashes, `$` or control characters",
            });
        }
    }

    let ca = options.ca_bundle && template != Template::Static;
    let mut after_copy = Vec::new();
    if ca {
        // `COPY . .` brought the bundle into the app directory, which the final stage copies.
        after_copy.push(format!("rm -f {CA_BUNDLE_FILE}"));
    }
    if template == Template::NodeNextjs {
        // The runtime stage copies public/, which not every app has.
        after_copy.push("mkdir -p public".to_string());
    }
    after_copy.extend(plan.build.iter().cloned());
    // Pruning in the same step as the build keeps the layer count (and hadolint) down.
    after_copy.extend(plan.prune.iter().cloned());

    let (ca_env, ca_setup) = ca_settings(template.language());
    let explicit_health = component.health != "/";
    let description = match (component.language, component.framework) {
        (Some(l), Some(f)) => format!("{} ({l}, {f}), built by justpush", component.name),
        (Some(l), None) => format!("{} ({l}), built by justpush", component.name),
        _ => format!("{}, built by justpush", component.name),
    };
    let ctx = context! {
        marker => GENERATED_MARKER,
        name => component.name.clone(),
        template => template.as_str(),
        runtime_name => runtime_name(template),
        builder_image => images.builder,
        runtime_image => images.runtime,
        description => description,
        source => options.source_url.clone().unwrap_or_default(),
        port => component.port,
        user => RUNTIME_USER,
        ca => ca,
        ca_file => CA_BUNDLE_FILE,
        ca_path => CA_PATH,
        ca_env => ca_env,
        ca_setup => ca_setup,
        setup => plan.setup.clone(),
        install => plan.install.clone(),
        artifact => plan.artifact.clone().unwrap_or_default(),
        manifests => plan.manifests.join(" "),
        after_copy => after_copy,
        static_server => static_server_command(),
        start_period => if template.language() == Language::Java { "60s" } else { "20s" },
        healthcheck => json_argv(&healthcheck(template, component.port, &component.health, explicit_health)),
        cmd => json_argv(&plan.cmd),
        builder_packages => plan.builder_packages.join(" "),
        runtime_packages => plan.runtime_packages.join(" "),
        writable_paths => component
            .writable_paths
            .iter()
            .map(|w| w.path.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    };
    let tmpl = ENV
        .get_template(template.as_str())
        .map_err(|e| DockerfileError::Template {
            template,
            message: e.to_string(),
        })?;
    let text = tmpl.render(ctx).map_err(|e| DockerfileError::Template {
        template,
        message: format!("{e:#}"),
    })?;
    Ok(tidy(&text))
}

/// What the builder and runtime images must share, for the header comment.
fn runtime_name(template: Template) -> &'static str {
    match template.language() {
        Language::Python => "python3",
        Language::Node | Language::Static => "node",
        Language::Go | Language::Rust => "glibc (Debian bookworm)",
        Language::Java => "Java major version",
    }
}

/// Environment (and setup) pointing a language's package tools at the CA bundle.
fn ca_settings(language: Language) -> (String, String) {
    let vars: Vec<(&str, String)> = match language {
        Language::Python => vec![
            ("SSL_CERT_FILE", CA_PATH.into()),
            ("PIP_CERT", CA_PATH.into()),
            ("REQUESTS_CA_BUNDLE", CA_PATH.into()),
            ("UV_NATIVE_TLS", "true".into()),
        ],
        Language::Node | Language::Static => vec![
            ("NODE_EXTRA_CA_CERTS", CA_PATH.into()),
            ("NPM_CONFIG_CAFILE", CA_PATH.into()),
            ("YARN_CAFILE", CA_PATH.into()),
            ("SSL_CERT_FILE", CA_PATH.into()),
        ],
        Language::Go => vec![("SSL_CERT_FILE", CA_PATH.into())],
        Language::Rust => vec![
            ("SSL_CERT_FILE", CA_PATH.into()),
            ("CARGO_HTTP_CAINFO", CA_PATH.into()),
        ],
        Language::Java => vec![(
            "JAVA_TOOL_OPTIONS",
            "\"-Djavax.net.ssl.trustStore=/usr/local/share/justpush/truststore.p12 -Djavax.net.ssl.trustStorePassword=changeit -Djavax.net.ssl.trustStoreType=PKCS12\"".into(),
        )],
    };
    let env = vars
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" \\\n    ");
    // The JVM does not read PEM bundles: split the bundle and import every certificate into a
    // copy of the JDK's own trust store.
    let setup = if language == Language::Java {
        [
            "cp \"$JAVA_HOME/lib/security/cacerts\" /usr/local/share/justpush/truststore.p12",
            "awk '/BEGIN CERTIFICATE/{n++} {print > (\"/tmp/justpush-ca-\" n \".pem\")}' /usr/local/share/justpush/ca.crt",
            "for f in /tmp/justpush-ca-*.pem; do keytool -importcert -noprompt -storepass changeit -keystore /usr/local/share/justpush/truststore.p12 -alias \"justpush-$(basename \"$f\" .pem)\" -file \"$f\" > /dev/null || true; done",
            "rm -f /tmp/justpush-ca-*.pem",
        ]
        .join(" \\\n    && ")
    } else {
        String::new()
    };
    (env, setup)
}

/// The health check command of a template's runtime image.
fn healthcheck(template: Template, port: u16, path: &str, explicit: bool) -> Vec<String> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let max = if explicit { 400 } else { 500 };
    match template.language() {
        Language::Python => vec![
            "python3".into(),
            "-c".into(),
            format!(
                "import sys, urllib.error, urllib.request\ntry:\n    urllib.request.urlopen('{url}', timeout=4)\nexcept urllib.error.HTTPError as err:\n    sys.exit(err.code >= {max})\n"
            ),
        ],
        Language::Node | Language::Static => vec![
            "node".into(),
            "-e".into(),
            format!(
                "require('http').get('{url}', (r) => process.exit(r.statusCode < {max} ? 0 : 1)).on('error', () => process.exit(1))"
            ),
        ],
        Language::Go | Language::Rust | Language::Java => {
            let ok = if explicit { "[23]" } else { "[234]" };
            vec![
                "bash".into(),
                "-c".into(),
                format!(
                    "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET {path} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -Eq '^HTTP/[0-9.]+ {ok}[0-9]{{2}}'"
                ),
            ]
        }
    }
}

/// The shell command (`printf` lines, as in the Dockerfiles) that writes [`STATIC_SERVER_JS`]
/// to `/srv/server.js`.
pub fn static_server_command() -> String {
    let mut out = String::from("printf '%s\\n' \\\n");
    for line in STATIC_SERVER_JS.lines() {
        debug_assert!(
            !line.contains('\''),
            "static-server.js must not use single quotes"
        );
        out.push_str(&format!("        '{line}' \\\n"));
    }
    out.push_str("        > /srv/server.js");
    out
}

fn json_argv(argv: &[String]) -> String {
    serde_json::to_string(argv).expect("strings serialise")
}

/// Collapses the blank lines left by skipped template blocks.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim_end().to_string() + "\n"
}

fn valid_image(image: &str) -> bool {
    static IMAGE: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$").unwrap());
    image.len() <= 512 && IMAGE.is_match(image)
}

fn safe_label(value: &str) -> bool {
    !value
        .chars()
        .any(|c| c.is_control() || matches!(c, '"' | '\\' | '$' | '`'))
}

/// Rejects values that would break out of their place in a Dockerfile.
/// A Debian package name (Debian policy 5.6.1), so a name can sit in an `apt-get install` line.
fn valid_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// A version that can become part of an image tag: `3`, `3.11`, `1.22.3`.
fn valid_version_tag(v: &str) -> bool {
    v.len() <= 16
        && !v.is_empty()
        && v.split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
}

fn check_values(c: &Component) -> Result<(), DockerfileError> {
    let unsafe_value = |what, value: &str, reason| DockerfileError::UnsafeValue {
        component: c.name.clone(),
        what,
        value: value.to_string(),
        reason,
    };
    if crate::detect::dns_label(&c.name) != c.name {
        return Err(unsafe_value(
            "name",
            &c.name,
            "names are DNS-1123 labels (lower-case letters, digits, `-`)",
        ));
    }
    let path_ok = c.health.starts_with('/')
        && c.health
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "/-._~".contains(ch));
    if !path_ok {
        return Err(unsafe_value(
            "health path",
            &c.health,
            "it must start with `/` and use only letters, digits and `/-._~`",
        ));
    }
    if c.port == 0 {
        return Err(unsafe_value("port", "0", "the port must be 1-65535"));
    }
    if let Some(plan) = &c.build {
        for package in plan.builder_packages.iter().chain(&plan.runtime_packages) {
            if !valid_package_name(package) {
                return Err(unsafe_value(
                    "Debian package",
                    package,
                    "package names are lower-case letters, digits and `+-.`, starting with a letter or digit",
                ));
            }
        }
        for w in &c.writable_paths {
            let ok = w.path.starts_with('/')
                && w.path.len() > 1
                && !w.path.split('/').any(|s| s == "..")
                && w.path
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "/-._".contains(ch));
            if !ok {
                return Err(unsafe_value(
                    "writable path",
                    &w.path,
                    "a writable path is absolute, without `..`, in letters, digits and `/-._`",
                ));
            }
        }
        if let Some(tag) = plan.runtime_version.as_ref().and_then(|v| v.tag.as_deref()) {
            if !valid_version_tag(tag) {
                return Err(unsafe_value(
                    "language version",
                    tag,
                    "a version for an image tag is digits separated by dots (e.g. `3.11`)",
                ));
            }
        }
        // The last line of defence behind detection's grammar (detect::value_rules): RUN
        // fragments are joined into one instruction and CMD is one line, so a control
        // character anywhere would start an instruction of its own.
        let commands = plan
            .setup
            .iter()
            .chain(&plan.install)
            .chain(&plan.build)
            .chain(&plan.prune)
            .chain(&plan.cmd);
        for command in commands {
            if command.chars().any(char::is_control) {
                return Err(unsafe_value(
                    "command",
                    command,
                    "commands are one line without newlines or other control characters",
                ));
            }
        }
        let files = plan.manifests.iter().chain(plan.artifact.iter());
        for f in files {
            let ok = !f.split('/').any(|seg| seg == "..")
                && !f.starts_with('/')
                && f.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "/-._@+".contains(ch));
            if !ok {
                return Err(unsafe_value(
                    "path",
                    f,
                    "paths must be relative, inside the project, and use only letters, digits and `/-._@+`",
                ));
            }
        }
    }
    Ok(())
}

/// `.dockerignore` lines that keep secrets and justpush's own files out of every generated
/// build. They are part of the generated `.dockerignore`, and justpush appends them to a
/// project's own `.dockerignore` when it generates the Dockerfile (last, so that no `!` line
/// of the project re-includes them). `.pem` files are not listed: a public CA bundle may be
/// what the app needs at run time, so those (and private keys under any name ending `.pem` or
/// `.key`) are judged by content when the context is made (`image::secret_files`).
pub const SECRET_IGNORE_PATTERNS: [&str; 21] = [
    "**/justpush.yaml",
    ".justpush",
    "**/.git",
    "**/.env*",
    "**/*.key",
    "**/id_rsa*",
    "**/id_dsa*",
    "**/id_ecdsa*",
    "**/id_ed25519*",
    "**/*.p12",
    "**/*.pfx",
    "**/.pypirc",
    "**/.netrc",
    "**/.git-credentials",
    "**/.cargo/credentials",
    "**/.cargo/credentials.toml",
    "**/.docker/config.json",
    "**/.ssh",
    "**/.aws",
    "**/.kube",
    "**/.npmrc",
];

/// [`SECRET_IGNORE_PATTERNS`] for a component: `.npmrc` stays when its build copies it (it
/// holds no credentials: detection leaves a token-carrying one out of the manifests).
pub fn secret_ignore_lines(component: &Component) -> Vec<String> {
    let copies_npmrc = component
        .build
        .as_ref()
        .is_some_and(|b| b.manifests.iter().any(|m| m == ".npmrc"));
    SECRET_IGNORE_PATTERNS
        .iter()
        .filter(|p| !(copies_npmrc && p.ends_with(".npmrc")))
        .map(|p| p.to_string())
        .collect()
}

/// The `.dockerignore` for a component: VCS data, local environments and secrets, dependency
/// and build output directories of its language. The CA bundle file is deliberately kept.
pub fn dockerignore(component: &Component) -> String {
    let mut lines = vec![
        format!("{GENERATED_MARKER} for component `{}`.", component.name),
        "# Keep the build context small and free of secrets and local state.".into(),
        ".gitignore".into(),
        ".dockerignore".into(),
        "**/.DS_Store".into(),
        ".idea".into(),
        ".vscode".into(),
        "*.log".into(),
        "coverage".into(),
    ];
    let extra: &[&str] = match component.language {
        Some(Language::Python) => &[
            ".venv",
            "venv",
            "**/__pycache__",
            "**/*.pyc",
            ".pytest_cache",
            ".mypy_cache",
            ".ruff_cache",
            ".tox",
            "htmlcov",
        ],
        Some(Language::Node) => &[
            "node_modules",
            "**/node_modules",
            ".next",
            "out",
            "dist",
            "build",
            ".turbo",
            ".vercel",
            "npm-debug.log*",
            "yarn-error.log*",
        ],
        Some(Language::Go) => &["bin", "*.test", "*.out"],
        Some(Language::Rust) => &["target"],
        Some(Language::Java) => &["target", "build", ".gradle", "out", "*.iml"],
        Some(Language::Static) | None => &["node_modules"],
    };
    lines.extend(extra.iter().map(|s| s.to_string()));
    lines.push(
        "# Secrets and justpush's own files never go into an image: settings (justpush.yaml \
         may hold kong.adminToken), local environment files, keys, registry and cloud \
         credentials. Private keys in .pem files are left out by content."
            .into(),
    );
    lines.push("**/*.pem".into());
    lines.extend(secret_ignore_lines(component));
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_embedded_and_parses() {
        for t in Template::ALL {
            assert!(ENV.get_template(t.as_str()).is_ok(), "{t}");
        }
    }

    #[test]
    fn static_server_has_no_single_quotes() {
        assert!(!STATIC_SERVER_JS.contains('\''));
        assert!(!STATIC_SERVER_JS.contains('\\'));
    }

    #[test]
    fn image_references() {
        for ok in [
            "python:3.12-slim-bookworm",
            "127.0.0.1:5000/justpush/python:3.11",
            "gcr.io/x/y@sha256:abc",
            "debian",
        ] {
            assert!(valid_image(ok), "{ok}");
        }
        for bad in ["", "python:3.12\nRUN rm -rf /", "a b", "${X}"] {
            assert!(!valid_image(bad), "{bad}");
        }
    }

    /// A generated Node component `web` built by `plan`.
    fn node_web(plan: crate::detect::BuildPlan) -> Component {
        Component {
            name: "web".into(),
            path: ".".into(),
            language: Some(Language::Node),
            framework: None,
            port: 3000,
            dockerfile: DockerfileSource::Generated,
            start: "node server.js".into(),
            health: "/".into(),
            openapi: None,
            env: vec![],
            build: Some(plan),
            writable_paths: Vec::new(),
            port_source: "package.json scripts.start".into(),
            health_source: crate::detect::providers::GUESSED_HEALTH.into(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn packages_go_to_their_stage_and_the_declared_version_picks_the_tag() {
        let mut plan = crate::detect::BuildPlan::new(Template::NodeServer);
        plan.cmd = vec!["node".into(), "server.js".into()];
        plan.builder_packages = vec!["build-essential".into(), "python3".into()];
        plan.runtime_packages = vec!["libssl3".into()];
        plan.runtime_version = Some(crate::detect::RuntimeVersion {
            declared: ">=18".into(),
            source: "package.json engines.node".into(),
            tag: Some("18".into()),
        });
        let text = render(&node_web(plan.clone()), &DockerfileOptions::default()).unwrap();
        let runtime_stage = text.rsplit_once("FROM ${RUNTIME_IMAGE}").unwrap();
        assert!(
            runtime_stage
                .0
                .contains("install -y --no-install-recommends build-essential python3"),
            "{text}"
        );
        assert!(!runtime_stage.1.contains("build-essential"), "{text}");
        assert!(
            runtime_stage.1.contains("--no-install-recommends libssl3"),
            "{text}"
        );
        assert!(
            text.contains("ARG BUILDER_IMAGE=node:18-bookworm-slim"),
            "{text}"
        );
        // An override wins over the declared version.
        let mut options = DockerfileOptions::default();
        options.base_images.insert(
            Language::Node,
            BaseImageOverride {
                builder: Some("mirror/node:x".into()),
                runtime: None,
            },
        );
        let text = render(&node_web(plan.clone()), &options).unwrap();
        assert!(text.contains("ARG BUILDER_IMAGE=mirror/node:x"), "{text}");
        assert!(
            text.contains("ARG RUNTIME_IMAGE=node:18-bookworm-slim"),
            "{text}"
        );

        for (bad_package, bad_tag) in [("libssl3 && curl x|sh", "18"), ("libssl3", "18;x")] {
            let mut p = plan.clone();
            p.runtime_packages = vec![bad_package.into()];
            p.runtime_version.as_mut().unwrap().tag = Some(bad_tag.into());
            let e = render(&node_web(p), &DockerfileOptions::default()).unwrap_err();
            assert!(matches!(e, DockerfileError::UnsafeValue { .. }), "{e}");
        }
    }

    #[test]
    fn writable_paths_are_made_and_owned_in_the_runtime_stage_only() {
        let mut plan = crate::detect::BuildPlan::new(Template::NodeServer);
        plan.cmd = vec!["node".into(), "server.js".into()];
        let mut c = node_web(plan);
        c.writable_paths = vec![crate::detect::WritablePath {
            path: "/app/logs".into(),
            reason: "test".into(),
        }];
        let text = render(&c, &DockerfileOptions::default()).unwrap();
        let (_, runtime) = text.rsplit_once("FROM ${RUNTIME_IMAGE}").unwrap();
        assert!(
            runtime.contains("mkdir -p /app/logs \\\n    && chown 10001:10001 /app/logs"),
            "{text}"
        );
        for bad in ["/app/../etc", "logs", "/app/x y", "/app/$(id)"] {
            c.writable_paths[0].path = bad.into();
            assert!(render(&c, &DockerfileOptions::default()).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_npmrc_the_build_copies_is_not_ignored_and_any_other_is() {
        let mut plan = crate::detect::BuildPlan::new(Template::NodeServer);
        let mut c = node_web(plan.clone());
        assert!(dockerignore(&c).contains("\n**/.npmrc\n"));
        plan.manifests = vec!["package.json".into(), ".npmrc".into()];
        c.build = Some(plan);
        assert!(!dockerignore(&c).contains(".npmrc"));
        assert!(dockerignore(&c).contains("\n**/justpush.yaml\n"));
    }

    #[test]
    fn a_control_character_in_any_build_command_is_refused() {
        let mut plan = crate::detect::BuildPlan::new(Template::NodeServer);
        plan.cmd = vec!["node".into(), "server.js".into()];
        let c = node_web;
        assert!(render(&c(plan.clone()), &DockerfileOptions::default()).is_ok());
        for field in 0..5 {
            let mut bad = plan.clone();
            let injected = "true\nCOPY / /host".to_string();
            match field {
                0 => bad.setup.push(injected),
                1 => bad.install.push(injected),
                2 => bad.build.push(injected),
                3 => bad.prune.push(injected),
                _ => bad.cmd.push(injected),
            }
            let err = render(&c(bad), &DockerfileOptions::default()).unwrap_err();
            assert!(
                err.to_string().contains(r#""true\nCOPY / /host""#)
                    && err.to_string().contains("without newlines"),
                "{err}"
            );
        }
    }

    #[test]
    fn tidy_collapses_blank_runs() {
        assert_eq!(tidy("a\n\n\n\nb  \n\n"), "a\n\nb\n");
    }
}
