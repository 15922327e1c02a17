//! OpenAPI input: Swagger 2.0, OpenAPI 3.0 and 3.1 documents (YAML or JSON) read into one
//! small model holding only what gateway derivation needs. Syntax errors carry line and
//! column; structural errors carry the JSON pointer of the offending node.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

/// Which specification a document follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SpecVersion {
    #[serde(rename = "swagger-2.0")]
    Swagger2,
    #[serde(rename = "openapi-3.0")]
    OpenApi30,
    #[serde(rename = "openapi-3.1")]
    OpenApi31,
}

/// The methods an OpenAPI path item may hold, in the order routes are derived.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// A parsed API description.
#[derive(Debug, Clone)]
pub struct ApiSpec {
    /// Where the document came from (file path or URL), for messages.
    pub source: String,
    pub version: SpecVersion,
    /// `info.title`.
    pub title: String,
    /// Path prefix every route gets: OpenAPI 3 `servers[0]` URL path, Swagger 2 `basePath`.
    pub base_path: String,
    /// Scheme, host and port of the first absolute server URL (Swagger 2: `schemes[0]` and
    /// `host`), e.g. `https://api.example.test:8443`: the upstream an external Kong proxies to
    /// when none is given.
    pub server_origin: Option<String>,
    /// Document-level `x-` extensions.
    pub extensions: Map<String, Value>,
    /// Document-level security (None: not given).
    pub security: Option<Vec<SecurityRequirement>>,
    /// Security schemes by name.
    pub schemes: BTreeMap<String, SecurityScheme>,
    /// `components.x-kong` (decK's home for `$ref`-erenced Kong objects).
    pub x_kong_components: Value,
    pub paths: Vec<PathItem>,
    /// Things worth telling the user that do not stop derivation.
    pub warnings: Vec<Diagnostic>,
}

/// One entry of `paths`.
#[derive(Debug, Clone)]
pub struct PathItem {
    pub path: String,
    /// JSON pointer of the path item, e.g. `/paths/~1pets~1{id}`.
    pub pointer: String,
    pub extensions: Map<String, Value>,
    /// Path-level `servers` prefix, when the path item overrides the document's.
    pub base_path: Option<String>,
    pub operations: Vec<Operation>,
}

/// One operation (method) of a path item.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Upper-case HTTP method.
    pub method: String,
    pub operation_id: Option<String>,
    pub pointer: String,
    pub extensions: Map<String, Value>,
    /// Operation-level security (None: inherits the document's).
    pub security: Option<Vec<SecurityRequirement>>,
    /// Operation-level `servers` prefix.
    pub base_path: Option<String>,
}

/// One alternative of a `security` list: every named scheme is required together (AND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityRequirement {
    /// Scheme names (sorted) with their scopes.
    pub schemes: BTreeMap<String, Vec<String>>,
    pub pointer: String,
}

/// Where an apiKey scheme's key travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyLocation {
    Header,
    Query,
    Cookie,
}

/// A security scheme, reduced to what Kong can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityScheme {
    ApiKey {
        name: String,
        location: KeyLocation,
    },
    /// `http` bearer, with its `bearerFormat` hint (`JWT` is what Kong's jwt plugin checks).
    HttpBearer {
        bearer_format: Option<String>,
    },
    HttpBasic,
    OAuth2,
    OpenIdConnect,
    /// Anything else (mutualTLS, http digest, ...), with its description for the warning.
    Unsupported(String),
}

/// A warning with the place it refers to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// JSON pointer into the document ("" for the whole document).
    pub pointer: String,
    pub message: String,
}

/// Why a document could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    #[error("{source_name}:{line}:{column}: invalid {format}: {message}; fix the syntax at that position")]
    Syntax {
        source_name: String,
        format: &'static str,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{source_name}: at {pointer}: {message}")]
    Structure {
        source_name: String,
        pointer: String,
        message: String,
    },
    #[error("{source_name}: {message}")]
    Unsupported {
        source_name: String,
        message: String,
    },
    /// The document breaks a structural limit (depth, alias expansion).
    #[error("{source_name}: {problem}")]
    Limit {
        source_name: String,
        problem: crate::yaml_limits::YamlLimitError,
    },
    /// A `$ref` chain that never reaches a value, or a reference out of the document.
    #[error("{source_name}: at {pointer}: {message}")]
    Reference {
        source_name: String,
        pointer: String,
        message: String,
    },
    #[error("fetching the OpenAPI spec from {url}: {message}")]
    Fetch { url: String, message: String },
    /// The file was refused before parsing: not a regular file, too large, or (for a project's
    /// spec) a symlink leading out of the project.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
}

impl ApiSpec {
    /// Reads and parses a spec file the user named (on the command line): it may live
    /// anywhere, but must be a regular file within [`crate::input::MAX_SPEC_BYTES`].
    pub fn load(path: &Path) -> Result<ApiSpec, SpecError> {
        let text = crate::input::read_text(path, "OpenAPI spec", crate::input::MAX_SPEC_BYTES)?;
        ApiSpec::parse(&text, &path.display().to_string())
    }

    /// Reads and parses a spec file a project names (`openapi.file`, or found by detection):
    /// it must resolve inside `root`, so a project cannot make justpush read, and quote in
    /// its errors, a file of the user's through a symlink.
    pub fn load_in_project(root: &Path, path: &Path) -> Result<ApiSpec, SpecError> {
        let text = crate::input::read_text_inside(
            root,
            path,
            "OpenAPI spec",
            crate::input::MAX_SPEC_BYTES,
        )?;
        ApiSpec::parse(&text, &path.display().to_string())
    }

    /// Parses a document's text (YAML or JSON, told apart by the first character).
    pub fn parse(text: &str, source: &str) -> Result<ApiSpec, SpecError> {
        let doc = parse_document(text, source)?;
        from_document(&doc, source)
    }
}

/// Fetches a running service's spec (e.g. `http://svc:8000/openapi.json`) and parses it.
pub async fn fetch(url: &str, timeout: std::time::Duration) -> Result<ApiSpec, SpecError> {
    let fail = |message: String| SpecError::Fetch {
        url: url.to_string(),
        message,
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let resp = client
        .get(url)
        .header("accept", "application/json, application/yaml")
        .send()
        .await
        .map_err(|e| {
            fail(format!(
                "{e}; is the service running and serving its spec there?"
            ))
        })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(format!(
            "HTTP {status}; set the component's `openapi.runtime` path in justpush.yaml to where the service serves its spec"
        )));
    }
    let text = resp.text().await.map_err(|e| fail(e.to_string()))?;
    ApiSpec::parse(&text, url)
}

/// Text to a JSON value, with line and column on syntax errors. YAML mapping keys that are
/// not strings (response codes like `200:`) become strings.
pub fn parse_document(text: &str, source: &str) -> Result<Value, SpecError> {
    let first = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .next();
    if first == Some('{') {
        return serde_json::from_str(text).map_err(|e| SpecError::Syntax {
            source_name: source.to_string(),
            format: "JSON",
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        });
    }
    // serde_yaml caps aliases only relative to the document's size (100 times its events),
    // which a 64 MiB spec turns into billions of nodes: check absolute limits first.
    crate::yaml_limits::check_yaml(text).map_err(|e| SpecError::Limit {
        source_name: source.to_string(),
        problem: e,
    })?;
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        SpecError::Syntax {
            source_name: source.to_string(),
            format: "YAML",
            line,
            column,
            message: strip_position(&e.to_string()),
        }
    })?;
    // `<<: *anchor` merge keys, which hand-written specs use to share parameters.
    yaml.apply_merge().map_err(|e| SpecError::Syntax {
        source_name: source.to_string(),
        format: "YAML",
        line: e.location().map(|l| l.line()).unwrap_or(0),
        column: e.location().map(|l| l.column()).unwrap_or(0),
        message: strip_position(&e.to_string()),
    })?;
    Ok(yaml_to_json(yaml))
}

fn strip_position(message: &str) -> String {
    // Both parsers append " at line L column C"; the error carries those separately.
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn yaml_to_json(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    Y::Null => "null".to_string(),
                    other => serde_yaml::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                out.insert(key, yaml_to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

/// Escapes one JSON pointer segment (RFC 6901).
pub fn pointer_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

struct Reader<'a> {
    source: &'a str,
    root: &'a Value,
}

impl<'a> Reader<'a> {
    fn err(&self, pointer: &str, message: impl Into<String>) -> SpecError {
        SpecError::Structure {
            source_name: self.source.to_string(),
            pointer: if pointer.is_empty() {
                "/".to_string()
            } else {
                pointer.to_string()
            },
            message: message.into(),
        }
    }

    fn object(
        &self,
        v: &'a Value,
        pointer: &str,
        what: &str,
    ) -> Result<&'a Map<String, Value>, SpecError> {
        v.as_object().ok_or_else(|| {
            self.err(
                pointer,
                format!("{what} must be an object, found {}", kind_of(v)),
            )
        })
    }

    fn string(&self, v: &'a Value, pointer: &str, what: &str) -> Result<&'a str, SpecError> {
        v.as_str().ok_or_else(|| {
            self.err(
                pointer,
                format!("{what} must be a string, found {}", kind_of(v)),
            )
        })
    }

    /// Follows a local `$ref` (`#/components/...`), once or repeatedly.
    fn deref(&self, v: &'a Value, pointer: &str) -> Result<(&'a Value, String), SpecError> {
        let mut cur = v;
        let mut at = pointer.to_string();
        for _ in 0..16 {
            let Some(r) = cur.get("$ref").and_then(Value::as_str) else {
                return Ok((cur, at));
            };
            let Some(local) = r.strip_prefix('#') else {
                return Err(self.err(
                    &format!("{at}/$ref"),
                    format!("external reference `{r}` is not supported; bundle the spec into one file first (e.g. `redocly bundle`)"),
                ));
            };
            cur = self.root.pointer(local).ok_or_else(|| {
                self.err(
                    &format!("{at}/$ref"),
                    format!("reference `{r}` points to nothing"),
                )
            })?;
            at = local.to_string();
        }
        Err(self.err(pointer, "reference cycle"))
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn extensions_of(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, _)| k.starts_with("x-"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Checks every `$ref` of the document, wherever it is: a reference to another file or a URL
/// is refused (justpush never reads outside the spec), and a chain of references that comes
/// back to itself (`a -> b -> a`, or `a -> a`) is an error, since it names no value at all.
/// A schema that contains a reference to itself further down (a tree type) is fine.
fn check_refs(doc: &Value, source: &str) -> Result<(), SpecError> {
    let fail = |pointer: &str, message: String| SpecError::Reference {
        source_name: source.to_string(),
        pointer: pointer.to_string(),
        message,
    };
    let ref_of = |v: &Value| v.get("$ref").and_then(Value::as_str).map(str::to_string);
    // Iterative walk (the document is at most yaml_limits::MAX_DEPTH deep, but there is no
    // need to recurse at all).
    let mut stack = vec![(doc, String::new())];
    let mut good: std::collections::HashSet<String> = std::collections::HashSet::new();
    while let Some((node, at)) = stack.pop() {
        match node {
            Value::Object(m) => {
                if let Some(r) = ref_of(node) {
                    let Some(local) = r.strip_prefix('#') else {
                        return Err(fail(
                            &format!("{at}/$ref"),
                            format!("external reference `{r}` is not supported; justpush reads only the spec itself: bundle the spec into one file first (e.g. `redocly bundle`)"),
                        ));
                    };
                    // Follow the chain while it lands on further references.
                    let mut seen = vec![at.clone()];
                    let mut target = local.to_string();
                    while !good.contains(&target) {
                        if seen.contains(&target) {
                            seen.push(target);
                            return Err(fail(
                                &format!("{at}/$ref"),
                                format!(
                                    "reference cycle: {}; point one of these references at a real schema",
                                    seen.iter()
                                        .map(|p| format!("#{p}"))
                                        .collect::<Vec<_>>()
                                        .join(" -> ")
                                ),
                            ));
                        }
                        let Some(next) = doc.pointer(&target).and_then(ref_of) else {
                            break;
                        };
                        seen.push(target);
                        let Some(next_local) = next.strip_prefix('#') else {
                            break; // reported where that reference is walked
                        };
                        target = next_local.to_string();
                    }
                    good.extend(seen);
                }
                for (k, v) in m {
                    stack.push((v, format!("{at}/{}", pointer_segment(k))));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    stack.push((v, format!("{at}/{i}")));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Builds the model from a parsed document.
pub fn from_document(doc: &Value, source: &str) -> Result<ApiSpec, SpecError> {
    check_refs(doc, source)?;
    let r = Reader { source, root: doc };
    let root = r.object(doc, "", "the document")?;
    let version = detect_version(&r, root)?;
    let mut warnings = Vec::new();
    let title = match root.get("info") {
        Some(info) => {
            let info = r.object(info, "/info", "info")?;
            match info.get("title") {
                Some(t) => r.string(t, "/info/title", "info.title")?.to_string(),
                None => String::new(),
            }
        }
        None => {
            warnings.push(Diagnostic {
                pointer: "/info".into(),
                message: "no `info` object; the API is named after the release".into(),
            });
            String::new()
        }
    };
    let base_path = match version {
        SpecVersion::Swagger2 => match root.get("basePath") {
            Some(b) => normalise_prefix(r.string(b, "/basePath", "basePath")?),
            None => String::new(),
        },
        _ => {
            servers_prefix(&r, root.get("servers"), "/servers", &mut warnings)?.unwrap_or_default()
        }
    };
    let server_origin = server_origin(root, version);
    let schemes = read_schemes(&r, root, version, &mut warnings)?;
    let security = match root.get("security") {
        Some(s) => Some(read_security(&r, s, "/security", &schemes)?),
        None => None,
    };
    let x_kong_components = root
        .get("components")
        .and_then(|c| c.get("x-kong"))
        .cloned()
        .unwrap_or(Value::Null);

    let paths_value = root.get("paths");
    let mut paths = Vec::new();
    if let Some(pv) = paths_value {
        let pm = r.object(pv, "/paths", "paths")?;
        for (path, item) in pm {
            if path.starts_with("x-") {
                continue;
            }
            let pointer = format!("/paths/{}", pointer_segment(path));
            if !path.starts_with('/') {
                return Err(r.err(&pointer, format!("path `{path}` must start with `/`")));
            }
            let (item, item_at) = r.deref(item, &pointer)?;
            let im = r.object(item, &item_at, "a path item")?;
            let item_base = match version {
                SpecVersion::Swagger2 => None,
                _ => servers_prefix(
                    &r,
                    im.get("servers"),
                    &format!("{pointer}/servers"),
                    &mut warnings,
                )?,
            };
            let mut operations = Vec::new();
            for method in METHODS {
                let Some(op) = im.get(method) else { continue };
                let op_at = format!("{pointer}/{method}");
                let om = r.object(op, &op_at, "an operation")?;
                let operation_id = match om.get("operationId") {
                    Some(id) => Some(
                        r.string(id, &format!("{op_at}/operationId"), "operationId")?
                            .to_string(),
                    ),
                    None => None,
                };
                let security = match om.get("security") {
                    Some(s) => Some(read_security(
                        &r,
                        s,
                        &format!("{op_at}/security"),
                        &schemes,
                    )?),
                    None => None,
                };
                let op_base = match version {
                    SpecVersion::Swagger2 => None,
                    _ => servers_prefix(
                        &r,
                        om.get("servers"),
                        &format!("{op_at}/servers"),
                        &mut warnings,
                    )?,
                };
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    operation_id,
                    pointer: op_at,
                    extensions: extensions_of(om),
                    security,
                    base_path: op_base,
                });
            }
            if operations.is_empty() {
                warnings.push(Diagnostic {
                    pointer: pointer.clone(),
                    message: format!("path `{path}` has no operations; no route is made for it"),
                });
            }
            paths.push(PathItem {
                path: path.clone(),
                pointer,
                extensions: extensions_of(im),
                base_path: item_base,
                operations,
            });
        }
    }
    if paths.iter().all(|p| p.operations.is_empty()) {
        return Err(SpecError::Unsupported {
            source_name: source.to_string(),
            message: "the spec has no paths with operations, so there is nothing to route; add operations under `paths` (or check that the right file was given)".into(),
        });
    }
    Ok(ApiSpec {
        source: source.to_string(),
        version,
        title,
        base_path,
        server_origin,
        extensions: extensions_of(root),
        security,
        schemes,
        x_kong_components,
        paths,
        warnings,
    })
}

fn detect_version(r: &Reader, root: &Map<String, Value>) -> Result<SpecVersion, SpecError> {
    let unsupported = |message: String| SpecError::Unsupported {
        source_name: r.source.to_string(),
        message,
    };
    if let Some(v) = root.get("openapi") {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(r.err(
                    "/openapi",
                    format!(
                        "`openapi` must be a version string, found {}",
                        kind_of(other)
                    ),
                ))
            }
        };
        return if text == "3.0" || text.starts_with("3.0.") {
            Ok(SpecVersion::OpenApi30)
        } else if text == "3.1" || text.starts_with("3.1.") {
            Ok(SpecVersion::OpenApi31)
        } else {
            Err(unsupported(format!(
                "OpenAPI version `{text}` is not supported; justpush reads Swagger 2.0 and OpenAPI 3.0 and 3.1"
            )))
        };
    }
    if let Some(v) = root.get("swagger") {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        return if text == "2.0" || text == "2" {
            Ok(SpecVersion::Swagger2)
        } else {
            Err(unsupported(format!(
                "Swagger version `{text}` is not supported; justpush reads Swagger 2.0 and OpenAPI 3.0 and 3.1"
            )))
        };
    }
    Err(unsupported(
        "not an OpenAPI document: neither an `openapi` nor a `swagger` version field at the top; is this the API spec?".into(),
    ))
}

fn server_origin(root: &Map<String, Value>, version: SpecVersion) -> Option<String> {
    if version == SpecVersion::Swagger2 {
        let host = root.get("host")?.as_str()?;
        let scheme = root
            .get("schemes")
            .and_then(|s| s.get(0))
            .and_then(Value::as_str)
            .unwrap_or("http");
        return Some(format!("{scheme}://{host}"));
    }
    let server = root.get("servers")?.get(0)?;
    let mut url = server.get("url")?.as_str()?.to_string();
    if let Some(vars) = server.get("variables").and_then(Value::as_object) {
        for (name, var) in vars {
            if let Some(d) = var.get("default").and_then(Value::as_str) {
                url = url.replace(&format!("{{{name}}}"), d);
            }
        }
    }
    let i = url.find("://")?;
    let end = url[i + 3..]
        .find('/')
        .map(|j| i + 3 + j)
        .unwrap_or(url.len());
    Some(url[..end].to_string())
}

/// `/api/` and `api` become `/api`; `/` becomes the empty prefix.
fn normalise_prefix(p: &str) -> String {
    let trimmed = p.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

/// The path part of the first server URL, with server variables at their defaults.
fn servers_prefix(
    r: &Reader,
    servers: Option<&Value>,
    pointer: &str,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Option<String>, SpecError> {
    let Some(servers) = servers else {
        return Ok(None);
    };
    let list = servers.as_array().ok_or_else(|| {
        r.err(
            pointer,
            format!("servers must be a list, found {}", kind_of(servers)),
        )
    })?;
    let mut prefixes = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let at = format!("{pointer}/{i}");
        let sm = r.object(s, &at, "a server")?;
        let url = r.string(
            sm.get("url")
                .ok_or_else(|| r.err(&at, "a server needs a `url`"))?,
            &format!("{at}/url"),
            "server url",
        )?;
        let mut url = url.to_string();
        if let Some(vars) = sm.get("variables").and_then(Value::as_object) {
            for (name, var) in vars {
                if let Some(d) = var.get("default").and_then(Value::as_str) {
                    url = url.replace(&format!("{{{name}}}"), d);
                }
            }
        }
        let path = match url.find("://") {
            Some(i) => {
                let rest = &url[i + 3..];
                rest.find('/')
                    .map(|j| rest[j..].to_string())
                    .unwrap_or_default()
            }
            None => url.clone(),
        };
        prefixes.push(normalise_prefix(&path));
    }
    let Some(first) = prefixes.first().cloned() else {
        return Ok(None);
    };
    if prefixes.iter().any(|p| *p != first) {
        warnings.push(Diagnostic {
            pointer: pointer.to_string(),
            message: format!(
                "servers have different paths ({}); routes use the first one, `{}`",
                prefixes.join(", "),
                if first.is_empty() { "/" } else { &first }
            ),
        });
    }
    Ok(Some(first))
}

fn read_schemes(
    r: &Reader,
    root: &Map<String, Value>,
    version: SpecVersion,
    warnings: &mut Vec<Diagnostic>,
) -> Result<BTreeMap<String, SecurityScheme>, SpecError> {
    let (value, at) = match version {
        SpecVersion::Swagger2 => (
            root.get("securityDefinitions"),
            "/securityDefinitions".to_string(),
        ),
        _ => (
            root.get("components")
                .and_then(|c| c.get("securitySchemes")),
            "/components/securitySchemes".to_string(),
        ),
    };
    let mut out = BTreeMap::new();
    let Some(value) = value else { return Ok(out) };
    for (name, scheme) in r.object(value, &at, "security schemes")? {
        let sat = format!("{at}/{}", pointer_segment(name));
        let (scheme, sat) = r.deref(scheme, &sat)?;
        let sm = r.object(scheme, &sat, "a security scheme")?;
        let ty = r.string(
            sm.get("type")
                .ok_or_else(|| r.err(&sat, "a security scheme needs a `type`"))?,
            &format!("{sat}/type"),
            "type",
        )?;
        let parsed = match ty {
            "apiKey" => {
                let key_name = r.string(
                    sm.get("name").ok_or_else(|| {
                        r.err(
                            &sat,
                            "an apiKey scheme needs a `name` (the header, query or cookie name)",
                        )
                    })?,
                    &format!("{sat}/name"),
                    "name",
                )?;
                let location = match sm.get("in").and_then(Value::as_str) {
                    Some("header") => KeyLocation::Header,
                    Some("query") => KeyLocation::Query,
                    Some("cookie") if version != SpecVersion::Swagger2 => KeyLocation::Cookie,
                    other => {
                        return Err(r.err(
                            &format!("{sat}/in"),
                            format!(
                                "apiKey `in` must be header, query or cookie, found {}",
                                other
                                    .map(|s| format!("`{s}`"))
                                    .unwrap_or_else(|| "nothing".into())
                            ),
                        ))
                    }
                };
                SecurityScheme::ApiKey {
                    name: key_name.to_string(),
                    location,
                }
            }
            "http" => match sm
                .get("scheme")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("bearer") => SecurityScheme::HttpBearer {
                    bearer_format: sm
                        .get("bearerFormat")
                        .and_then(Value::as_str)
                        .map(String::from),
                },
                Some("basic") => SecurityScheme::HttpBasic,
                Some(other) => SecurityScheme::Unsupported(format!("http scheme `{other}`")),
                None => {
                    return Err(r.err(
                        &sat,
                        "an http security scheme needs a `scheme` (bearer or basic)",
                    ))
                }
            },
            "basic" if version == SpecVersion::Swagger2 => SecurityScheme::HttpBasic,
            "oauth2" => SecurityScheme::OAuth2,
            "openIdConnect" => SecurityScheme::OpenIdConnect,
            other => {
                warnings.push(Diagnostic {
                    pointer: sat.clone(),
                    message: format!("security scheme type `{other}` has no Kong OSS plugin; operations requiring only it are refused unless kong.security maps it"),
                });
                SecurityScheme::Unsupported(format!("type `{other}`"))
            }
        };
        out.insert(name.clone(), parsed);
    }
    Ok(out)
}

fn read_security(
    r: &Reader,
    v: &Value,
    pointer: &str,
    schemes: &BTreeMap<String, SecurityScheme>,
) -> Result<Vec<SecurityRequirement>, SpecError> {
    let list = v.as_array().ok_or_else(|| {
        r.err(
            pointer,
            format!(
                "security must be a list of requirement objects, found {}",
                kind_of(v)
            ),
        )
    })?;
    let mut out = Vec::new();
    for (i, req) in list.iter().enumerate() {
        let at = format!("{pointer}/{i}");
        let rm = r.object(req, &at, "a security requirement")?;
        let mut names = BTreeMap::new();
        for (name, scopes) in rm {
            let sat = format!("{at}/{}", pointer_segment(name));
            if !schemes.contains_key(name) {
                let known: Vec<&str> = schemes.keys().map(String::as_str).collect();
                return Err(r.err(
                    &sat,
                    format!(
                        "security scheme `{name}` is not defined (defined: {}); add it to the security schemes or fix the name",
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    ),
                ));
            }
            let scopes = scopes
                .as_array()
                .ok_or_else(|| r.err(&sat, "scopes must be a list"))?
                .iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect();
            names.insert(name.clone(), scopes);
        }
        out.push(SecurityRequirement {
            schemes: names,
            pointer: at,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "openapi: 3.0.3\ninfo: {title: Pets, version: '1'}\npaths:\n  /pets:\n    get:\n      responses:\n        200: {description: ok}\n";

    #[test]
    fn a_project_spec_that_links_out_of_the_project_is_refused_unread() {
        let outside = tempfile::tempdir().unwrap();
        // Would parse as YAML and show up in a syntax or structure error if it were read.
        std::fs::write(outside.path().join("creds"), "token: CANARY-outside-7f3\n").unwrap();
        let project = tempfile::tempdir().unwrap();
        let link = project.path().join("openapi.yaml");
        std::os::unix::fs::symlink(outside.path().join("creds"), &link).unwrap();
        let err = ApiSpec::load_in_project(project.path(), &link).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(
                err,
                SpecError::Input(crate::input::InputError::OutsideProject { .. })
            ),
            "{message}"
        );
        assert!(message.contains("openapi.yaml") && message.contains("outside the project"));
        assert!(!message.contains("CANARY"), "{message}");

        // The same file named on the command line is the user's own choice, and is read.
        let err = ApiSpec::load(&link).unwrap_err();
        assert!(matches!(err, SpecError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn a_project_spec_inside_the_project_loads_even_through_a_link() {
        let project = tempfile::tempdir().unwrap();
        std::fs::create_dir(project.path().join("api")).unwrap();
        std::fs::write(project.path().join("api/spec.yaml"), MINIMAL).unwrap();
        std::os::unix::fs::symlink("api/spec.yaml", project.path().join("openapi.yaml")).unwrap();
        let spec =
            ApiSpec::load_in_project(project.path(), &project.path().join("openapi.yaml")).unwrap();
        assert_eq!(spec.title, "Pets");
    }

    #[test]
    fn a_spec_that_is_a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = crate::input::test_files::fifo(&dir.path().join("openapi.yaml"));
        let err = ApiSpec::load(&fifo).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
    }

    #[test]
    fn yaml_and_json_give_the_same_model() {
        let y = ApiSpec::parse(MINIMAL, "a.yaml").unwrap();
        let json = serde_json::to_string(&parse_document(MINIMAL, "a.yaml").unwrap()).unwrap();
        let j = ApiSpec::parse(&json, "a.json").unwrap();
        assert_eq!(y.version, SpecVersion::OpenApi30);
        assert_eq!(j.paths[0].operations[0].method, "GET");
        assert_eq!(y.paths[0].path, j.paths[0].path);
    }

    #[test]
    fn yaml_anchors_and_merge_keys_are_resolved() {
        let text = "openapi: 3.0.0\ninfo: {title: x, version: '1'}\nx-common: &common {x-kong-name: shared}\npaths:\n  /a:\n    <<: *common\n    get: {responses: {}}\n";
        let s = ApiSpec::parse(text, "x.yaml").unwrap();
        assert_eq!(s.paths[0].extensions["x-kong-name"], "shared");
    }

    #[test]
    fn yaml_syntax_error_has_line_and_column() {
        let text = "openapi: 3.0.0\npaths:\n  /a:\n    get: {responses: {200: {description: x}}\n  bad: [\n";
        let err = ApiSpec::parse(text, "bad.yaml").unwrap_err();
        match &err {
            SpecError::Syntax {
                line,
                column,
                format,
                ..
            } => {
                assert_eq!(*format, "YAML");
                assert!(*line >= 4, "{err}");
                assert!(*column >= 1);
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().starts_with("bad.yaml:"), "{err}");
    }

    #[test]
    fn json_syntax_error_has_line_and_column() {
        let err = ApiSpec::parse(
            "{\n  \"openapi\": \"3.1.0\",\n  \"paths\": {,}\n}",
            "bad.json",
        )
        .unwrap_err();
        match err {
            SpecError::Syntax {
                line,
                column,
                format,
                ..
            } => {
                assert_eq!((format, line, column), ("JSON", 3, 13));
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn structural_error_names_the_pointer() {
        let text = "openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /a/b:\n    get:\n      security: {apiKey: []}\n";
        let err = ApiSpec::parse(text, "s.yaml").unwrap_err();
        assert!(
            err.to_string().contains("at /paths/~1a~1b/get/security:"),
            "{err}"
        );
    }

    #[test]
    fn undefined_scheme_is_an_error_with_pointer() {
        let text = "openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get:\n      security: [{nope: []}]\n";
        let err = ApiSpec::parse(text, "s.yaml").unwrap_err().to_string();
        assert!(
            err.contains("/paths/~1a/get/security/0/nope") && err.contains("not defined"),
            "{err}"
        );
    }

    #[test]
    fn unsupported_versions_and_non_specs_are_rejected() {
        for (text, needle) in [
            ("openapi: 4.0.0\npaths: {}\n", "`4.0.0` is not supported"),
            ("swagger: '1.2'\n", "Swagger version `1.2`"),
            ("name: not-a-spec\n", "not an OpenAPI document"),
        ] {
            let err = ApiSpec::parse(text, "x.yaml").unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn no_paths_is_an_error() {
        let err = ApiSpec::parse(
            "openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths: {}\n",
            "x.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no paths with operations"), "{err}");
    }

    #[test]
    fn servers_and_base_path_give_the_prefix() {
        let text = "openapi: 3.0.0\ninfo: {title: x, version: '1'}\nservers:\n  - url: 'https://{host}/{base}/'\n    variables:\n      host: {default: example.com}\n      base: {default: v2}\npaths:\n  /a: {get: {responses: {}}}\n";
        assert_eq!(ApiSpec::parse(text, "x").unwrap().base_path, "/v2");
        let swagger = "swagger: '2.0'\ninfo: {title: x, version: '1'}\nbasePath: /api/\npaths:\n  /a: {get: {responses: {}}}\n";
        let s = ApiSpec::parse(swagger, "x").unwrap();
        assert_eq!(
            (s.version, s.base_path.as_str()),
            (SpecVersion::Swagger2, "/api")
        );
    }

    #[test]
    fn schemes_are_read_for_both_generations() {
        let oas = "openapi: 3.1.0\ninfo: {title: x, version: '1'}\ncomponents:\n  securitySchemes:\n    k: {type: apiKey, in: cookie, name: sid}\n    b: {type: http, scheme: Bearer}\n    o: {type: openIdConnect, openIdConnectUrl: 'https://x/.well-known'}\npaths:\n  /a: {get: {responses: {}}}\n";
        let s = ApiSpec::parse(oas, "x").unwrap();
        assert_eq!(
            s.schemes["k"],
            SecurityScheme::ApiKey {
                name: "sid".into(),
                location: KeyLocation::Cookie
            }
        );
        assert_eq!(
            s.schemes["b"],
            SecurityScheme::HttpBearer {
                bearer_format: None
            }
        );
        assert_eq!(s.schemes["o"], SecurityScheme::OpenIdConnect);
        let sw = "swagger: '2.0'\ninfo: {title: x, version: '1'}\nsecurityDefinitions:\n  k: {type: apiKey, in: query, name: key}\n  b: {type: basic}\npaths:\n  /a: {get: {responses: {}}}\n";
        let s = ApiSpec::parse(sw, "x").unwrap();
        assert_eq!(
            s.schemes["k"],
            SecurityScheme::ApiKey {
                name: "key".into(),
                location: KeyLocation::Query
            }
        );
        assert_eq!(s.schemes["b"], SecurityScheme::HttpBasic);
    }

    #[test]
    fn reference_cycles_and_self_references_are_refused_by_name() {
        let head = "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses: {'200': {description: ok}}\n";
        let cycle = format!("{head}components: {{schemas: {{a: {{$ref: '#/components/schemas/b'}}, b: {{$ref: '#/components/schemas/a'}}}}}}\n");
        let err = ApiSpec::parse(&cycle, "s.yaml").unwrap_err();
        assert!(matches!(err, SpecError::Reference { .. }), "{err}");
        assert!(err.to_string().contains("reference cycle"), "{err}");
        let own =
            format!("{head}components: {{schemas: {{a: {{$ref: '#/components/schemas/a'}}}}}}\n");
        let err = ApiSpec::parse(&own, "s.yaml").unwrap_err();
        assert!(
            err.to_string()
                .contains("reference cycle: #/components/schemas/a -> #/components/schemas/a"),
            "{err}"
        );
        // A recursive tree type is a real schema, not a cycle of references.
        let tree = format!("{head}components: {{schemas: {{node: {{properties: {{kids: {{items: {{$ref: '#/components/schemas/node'}}}}}}}}}}}}\n");
        ApiSpec::parse(&tree, "s.yaml").unwrap();
    }

    #[test]
    fn external_references_anywhere_are_refused_unread() {
        let text = "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses: {'200': {description: ok, content: {application/json: {schema: {$ref: '/etc/passwd#/x'}}}}}\n";
        let err = ApiSpec::parse(text, "s.yaml").unwrap_err();
        assert!(
            err.to_string()
                .contains("external reference `/etc/passwd#/x`"),
            "{err}"
        );
    }

    #[test]
    fn alias_bombs_and_deep_specs_are_refused_by_their_limit() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..=10 {
            let items = vec![format!("*a{}", i - 1); 9].join(", ");
            bomb.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        bomb.push_str("openapi: 3.0.0\npaths: {}\n");
        let err = ApiSpec::parse(&bomb, "s.yaml").unwrap_err();
        assert!(matches!(err, SpecError::Limit { .. }), "{err}");
        let deep = format!(
            "openapi: 3.0.0\nx: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = ApiSpec::parse(&deep, "s.yaml").unwrap_err();
        assert!(
            err.to_string().contains("deeper than the limit of 128"),
            "{err}"
        );
        let json = format!(
            "{{\"openapi\": \"3.0.0\", \"x\": {}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = ApiSpec::parse(&json, "s.json").unwrap_err();
        assert!(
            err.to_string().contains("recursion limit exceeded"),
            "{err}"
        );
    }
}
