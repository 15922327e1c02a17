//! `kubectl justpush dashboard`: a web page and a REST API inside the binary, on the loopback
//! address only, for a token the launch generates. This first part serves the Importer's
//! read side (the projects under `--dir` and what detection finds in each) behind the
//! security the whole dashboard will use ([`guard`]); deploying and managing from the page
//! come next (issue 12).
//!
//! The deciding is pure ([`guard::admit`], [`project_dir`]); this module is the thin axum
//! shell around it. Pages and scripts are embedded (no CDN, nothing fetched at run time).

pub mod guard;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::middleware::Next;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value as J};

use self::guard::{RequestFacts, Token, COOKIE, CSRF_HEADER};

/// What a launch serves.
pub struct Dashboard {
    pub token: Token,
    pub port: u16,
    /// Projects are this directory and its direct subdirectories; nothing else can be named.
    pub root: PathBuf,
}

/// The strict policy every response carries: only this origin's scripts, styles and
/// requests, no framing, no referrer.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// Most projects listed (a `--dir` with thousands of subdirectories lists the first ones).
const MAX_PROJECTS: usize = 200;

/// The router, every route behind the guard.
pub fn router(dashboard: Arc<Dashboard>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/app.js", get(|| asset(APP_JS, "text/javascript")))
        .route("/assets/app.css", get(|| asset(APP_CSS, "text/css")))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/projects", get(projects))
        .route("/api/v1/projects/{name}/detect", get(detect))
        .route(
            "/api/v1/projects/{name}/components/{component}/spec",
            get(spec_download),
        )
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "no such page or endpoint") })
        .layer(axum::middleware::from_fn_with_state(
            dashboard.clone(),
            admit,
        ))
        .with_state(dashboard)
}

/// The `?token=` of a request's query, if any.
fn query_token(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v)
}

fn text_header(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The guard around every route; a page request with the right `?token=` gets the cookie and
/// is sent to the same page without the token (so it leaves the address bar and history).
async fn admit(State(d): State<Arc<Dashboard>>, req: Request, next: Next) -> Response<Body> {
    let headers = req.headers();
    let facts = RequestFacts {
        method: req.method().as_str(),
        host: text_header(headers, header::HOST),
        origin: text_header(headers, header::ORIGIN),
        cookie: text_header(headers, header::COOKIE),
        authorization: text_header(headers, header::AUTHORIZATION),
        csrf: headers.contains_key(CSRF_HEADER),
    };
    let in_query = query_token(req.uri().query());
    let mut response = match guard::admit(&facts, &d.token, d.port, in_query) {
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
            problem(status, refusal.message())
        }
        Ok(()) if in_query.is_some() => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::SEE_OTHER;
            let cookie = format!(
                "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
                d.token.reveal()
            );
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/"));
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Ok(()) => next.run(req).await,
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JSON error body: `{"error": ...}`.
fn problem(status: StatusCode, message: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(json!({ "error": message }).to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn json_response(value: &J) -> Response<Body> {
    let mut r = Response::new(Body::from(value.to_string()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn asset(text: &'static str, content_type: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn index() -> Response<Body> {
    asset(INDEX_HTML, "text/html; charset=utf-8").await
}

async fn openapi() -> Response<Body> {
    json_response(&openapi_document())
}

/// The REST API as OpenAPI 3.1 (what this part of the dashboard serves).
pub fn openapi_document() -> J {
    let error = json!({"description": "refused or failed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "justpush dashboard", "version": env!("CARGO_PKG_VERSION")},
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/api/v1/projects": {"get": {
                "operationId": "listProjects",
                "summary": "The projects under --dir: the directory itself and its direct subdirectories that hold something deployable",
                "responses": {
                    "200": {"description": "projects", "content": {"application/json": {"schema": {"type": "object", "required": ["projects"], "properties": {"projects": {"type": "array", "items": {"$ref": "#/components/schemas/Project"}}}}}}},
                    "401": error
                }
            }},
            "/api/v1/projects/{name}/detect": {"get": {
                "operationId": "detectProject",
                "summary": "What detection finds in a project: components, languages, ports, health paths, OpenAPI documents",
                "parameters": [{"name": "name", "in": "path", "required": true, "description": "`.` for --dir itself, else one of its direct subdirectories", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the detected app", "content": {"application/json": {"schema": {"type": "object"}}}}, "400": error, "401": error, "404": error, "422": error}
            }},
            "/api/v1/projects/{name}/components/{component}/spec": {"get": {
                "operationId": "downloadSpec",
                "summary": "A component's OpenAPI document file, as found in the project (a download)",
                "parameters": [
                    {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "component", "in": "path", "required": true, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "the document", "content": {"application/yaml": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "object"}}}}, "400": error, "401": error, "404": error, "422": error}
            }}
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the launch's token (printed with the URL, and in the dashboard's state file)"},
                "session": {"type": "apiKey", "in": "cookie", "name": COOKIE}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "Project": {"type": "object", "required": ["name", "components"], "properties": {"name": {"type": "string"}, "components": {"type": "integer", "minimum": 1}}}
            }
        }
    })
}

/// The project directory `name` stands for: `.` is the root, anything else must be the name
/// of a real (not symlinked) direct subdirectory. The browser never sends a path.
pub fn project_dir(root: &Path, name: &str) -> Result<PathBuf, String> {
    if name == "." {
        return Ok(root.to_path_buf());
    }
    let plain = !name.is_empty()
        && name != ".."
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0']);
    if !plain {
        return Err(format!(
            "project `{name}` is not a project name: use `.` or the name of a directory directly under --dir"
        ));
    }
    let dir = root.join(name);
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(dir),
        _ => Err(format!("no project `{name}` under --dir")),
    }
}

async fn projects(State(d): State<Arc<Dashboard>>) -> Response<Body> {
    let root = d.root.clone();
    let listed = tokio::task::spawn_blocking(move || list_projects(&root)).await;
    match listed {
        Ok(list) => json_response(&json!({ "projects": list })),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// The root and its direct subdirectories (sorted, not hidden) where detection finds something.
fn list_projects(root: &Path) -> Vec<J> {
    let mut names = vec![".".to_string()];
    if let Ok(read) = std::fs::read_dir(root) {
        let mut subs: Vec<String> = read
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        subs.sort();
        names.extend(subs);
    }
    names
        .into_iter()
        .filter_map(|name| {
            let dir = project_dir(root, &name).ok()?;
            let app = crate::detect::detect(&dir).ok()?;
            (!app.components.is_empty())
                .then(|| json!({"name": name, "components": app.components.len()}))
        })
        .take(MAX_PROJECTS)
        .collect()
}

async fn detect(State(d): State<Arc<Dashboard>>, UrlPath(name): UrlPath<String>) -> Response<Body> {
    let dir = match project_dir(&d.root, &name) {
        Ok(dir) => dir,
        Err(m) if m.starts_with("no project") => return problem(StatusCode::NOT_FOUND, &m),
        Err(m) => return problem(StatusCode::BAD_REQUEST, &m),
    };
    match tokio::task::spawn_blocking(move || crate::detect::detect(&dir)).await {
        Ok(Ok(app)) => json_response(&serde_json::to_value(&app).unwrap_or(J::Null)),
        Ok(Err(e)) => problem(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// A component's OpenAPI document as a download: the file detection found in the project
/// (read inside it, bounded). A document served only at run time has no file here.
async fn spec_download(
    State(d): State<Arc<Dashboard>>,
    UrlPath((name, component)): UrlPath<(String, String)>,
) -> Response<Body> {
    let dir = match project_dir(&d.root, &name) {
        Ok(dir) => dir,
        Err(m) if m.starts_with("no project") => return problem(StatusCode::NOT_FOUND, &m),
        Err(m) => return problem(StatusCode::BAD_REQUEST, &m),
    };
    let read = tokio::task::spawn_blocking(move || spec_file(&dir, &component)).await;
    match read {
        Ok(Ok((file_name, text))) => {
            let content_type = if file_name.ends_with(".json") {
                "application/json"
            } else {
                "application/yaml"
            };
            let mut r = Response::new(Body::from(text));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Ok(Err((status, m))) => problem(status, &m),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// The download name and text of `component`'s spec file in the project at `dir`.
fn spec_file(dir: &Path, component: &str) -> Result<(String, String), (StatusCode, String)> {
    let app = crate::detect::detect(dir)
        .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let c = app
        .components
        .iter()
        .find(|c| c.name == component)
        .ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                format!("no component `{component}` in this project"),
            )
        })?;
    let file = match &c.openapi {
        Some(crate::detect::OpenApi::File(f)) => f,
        Some(crate::detect::OpenApi::Runtime(p)) => {
            return Err((
                StatusCode::NOT_FOUND,
                format!("component `{component}` serves its OpenAPI document at run time ({p}); `build` or `up` reads it from the built image"),
            ))
        }
        None => {
            return Err((
                StatusCode::NOT_FOUND,
                format!("component `{component}` has no OpenAPI document"),
            ))
        }
    };
    let text = crate::input::read_text_inside(
        dir,
        &dir.join(file),
        "OpenAPI document",
        crate::input::MAX_SPEC_BYTES,
    )
    .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    // The name is made here, from the component's name (detection checked it) and the
    // document's extension: nothing from the file name reaches the header as given.
    let ext = if file.ends_with(".json") {
        "json"
    } else {
        "yaml"
    };
    Ok((format!("{component}-openapi.{ext}"), text))
}

/// Where a running dashboard is described: `{url, port, pid, token}`, mode 0600.
pub fn state_file(state_dir: &Path) -> PathBuf {
    state_dir.join("dashboard.json")
}

/// Binds 127.0.0.1:`port` (0: any free port), writes the state file, announces the URL with
/// `announce`, and serves until `stop` fires; the state file is removed then.
pub async fn serve(
    root: PathBuf,
    port: u16,
    state_dir: &Path,
    announce: impl FnOnce(&str),
    stop: tokio_util::sync::CancellationToken,
) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("binding {addr}: {e}; choose another --port"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let token = Token::generate();
    let url = format!("http://127.0.0.1:{port}/?token={}", token.reveal());
    let file = state_file(state_dir);
    write_private(
        &file,
        &json!({"url": url, "port": port, "pid": std::process::id(), "token": token.reveal()}),
    )?;
    announce(&url);
    let dashboard = Arc::new(Dashboard { token, port, root });
    let served = axum::serve(listener, router(dashboard))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    let _ = std::fs::remove_file(&file);
    served.map_err(|e| format!("serving the dashboard: {e}"))
}

/// Writes `value` to `path` readable by its owner only (created so, never widened after).
fn write_private(path: &Path, value: &J) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    f.write_all(value.to_string().as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_root_and_its_direct_subdirectories_can_be_named() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("shop")).unwrap();
        std::os::unix::fs::symlink("/etc", d.path().join("etc-link")).unwrap();
        assert_eq!(project_dir(d.path(), ".").unwrap(), d.path());
        assert_eq!(
            project_dir(d.path(), "shop").unwrap(),
            d.path().join("shop")
        );
        for bad in ["..", "../etc", "shop/../..", ".git", "", "a\\b", "/etc"] {
            let e = project_dir(d.path(), bad).unwrap_err();
            assert!(e.contains("not a project name"), "{bad}: {e}");
        }
        // A symlink out of --dir is not a project, nor is a file or a missing name.
        assert!(project_dir(d.path(), "etc-link")
            .unwrap_err()
            .contains("no project"));
        assert!(project_dir(d.path(), "nope")
            .unwrap_err()
            .contains("no project"));
    }

    #[test]
    fn the_token_is_read_from_the_query_only_by_its_name() {
        assert_eq!(query_token(Some("a=1&token=abc")), Some("abc"));
        assert_eq!(query_token(Some("xtoken=abc")), None);
        assert_eq!(query_token(None), None);
    }
}
