//! The dashboard through the real binary over real HTTP (raw requests, so Host and Origin can
//! be anything a browser or an attacker would send): the token exchange, the cookie's
//! attributes, the guards, the security headers, the OpenAPI document, the projects and their
//! detection, path names refused, the 0600 state file, and Ctrl-C removing it.

#[path = "support/fixture_copy.rs"]
mod fixture_copy;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

struct Running {
    child: Child,
    port: u16,
    token: String,
    state: tempfile::TempDir,
    _projects: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `dashboard --port 0` over a directory with two projects, a plain directory and a
/// symlink out; returns once it printed its URL (read from stderr: no sleeping).
fn start() -> Running {
    let projects = tempfile::tempdir().unwrap();
    for name in ["fastapi-uv", "express"] {
        fixture_copy::copy_dir(
            &std::path::Path::new("tests/fixtures/projects").join(name),
            &projects.path().join(name),
        );
    }
    std::fs::create_dir(projects.path().join("notes")).unwrap();
    std::os::unix::fs::symlink("/etc", projects.path().join("etc")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .args(["dashboard", "--port", "0", "--dir"])
        .arg(projects.path())
        .env("JUSTPUSH_STATE_DIR", state.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the dashboard prints its URL").unwrap();
        if let Some(i) = line.find("http://127.0.0.1:") {
            break line[i..].trim().to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let rest = url.strip_prefix("http://127.0.0.1:").unwrap();
    let (port, query) = rest.split_once('/').unwrap();
    let token = query.strip_prefix("?token=").unwrap().to_string();
    Running {
        child,
        port: port.parse().unwrap(),
        token,
        state,
        _projects: projects,
    }
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// One HTTP/1.1 request with exactly these headers.
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut text =
        format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    s.write_all(text.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

#[test]
fn the_token_is_exchanged_for_a_strict_cookie_and_every_route_needs_it() {
    let d = start();
    let host = format!("127.0.0.1:{}", d.port);
    let h = [("Host", host.as_str())];
    // Nothing without the token, not even the page.
    for path in [
        "/",
        "/api/v1/openapi.json",
        "/api/v1/projects",
        "/assets/app.js",
    ] {
        let a = request(d.port, "GET", path, &h);
        assert_eq!(a.status, 401, "{path}: {}", a.body);
        assert!(a.body.contains("open the URL"), "{}", a.body);
    }
    // The printed URL: a cookie, and a redirect that takes the token out of the address bar.
    let a = request(d.port, "GET", &format!("/?token={}", d.token), &h);
    assert_eq!(a.status, 303, "{}", a.head);
    assert_eq!(a.header("location").as_deref(), Some("/"));
    let cookie = a.header("set-cookie").unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    let page = request(d.port, "GET", "/", &[("Host", &host), ("Cookie", &session)]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<title>justpush dashboard</title>"));
    assert!(
        !page.body.contains(&d.token),
        "the page never holds the token"
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(
        page.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(
        page.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    // A wrong token is no token.
    let wrong = request(d.port, "GET", &format!("/?token={}", "0".repeat(64)), &h);
    assert_eq!(wrong.status, 401);
}

#[test]
fn host_origin_and_csrf_guards_hold_even_with_the_token() {
    let d = start();
    let bearer = format!("Bearer {}", d.token);
    let host = format!("127.0.0.1:{}", d.port);
    let ok = request(
        d.port,
        "GET",
        "/api/v1/projects",
        &[("Host", &host), ("Authorization", &bearer)],
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    // DNS rebinding: the attacker's name in Host.
    let rebound = format!("attacker.example:{}", d.port);
    let a = request(
        d.port,
        "GET",
        "/api/v1/projects",
        &[("Host", &rebound), ("Authorization", &bearer)],
    );
    assert_eq!(a.status, 421, "{}", a.body);
    let a = request(
        d.port,
        "GET",
        "/api/v1/projects",
        &[
            ("Host", &host),
            ("Authorization", &bearer),
            ("Origin", "http://attacker.example"),
        ],
    );
    assert_eq!(a.status, 403, "{}", a.body);
    // A change without the CSRF header is refused before any route runs.
    let a = request(
        d.port,
        "POST",
        "/api/v1/projects",
        &[("Host", &host), ("Authorization", &bearer)],
    );
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("X-Justpush-CSRF"), "{}", a.body);
}

#[test]
fn projects_under_dir_are_listed_and_detected_and_paths_are_refused() {
    let d = start();
    let bearer = format!("Bearer {}", d.token);
    let host = format!("127.0.0.1:{}", d.port);
    let get = |path: &str| {
        request(
            d.port,
            "GET",
            path,
            &[("Host", &host), ("Authorization", &bearer)],
        )
    };
    let list: serde_json::Value = serde_json::from_str(&get("/api/v1/projects").body).unwrap();
    let names: Vec<&str> = list["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    // Not the plain directory, not the symlink out of --dir, not the root (nothing there).
    assert_eq!(names, ["express", "fastapi-uv"]);
    let a = get("/api/v1/projects/fastapi-uv/detect");
    assert_eq!(a.status, 200, "{}", a.body);
    let app: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(app["components"][0]["language"], "python", "{app}");
    // The spec found in the project, as a download; a runtime one is not a file here.
    let a = get("/api/v1/projects/express/components/orders-api/spec");
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("openapi:"), "{}", a.body);
    assert_eq!(
        a.header("content-disposition").as_deref(),
        Some(r#"attachment; filename="orders-api-openapi.yaml""#)
    );
    let runtime = get("/api/v1/projects/fastapi-uv/components/todo-api/spec");
    assert_eq!(runtime.status, 404, "{}", runtime.body);
    assert!(runtime.body.contains("at run time"), "{}", runtime.body);
    for (path, status) in [
        ("/api/v1/projects/express/components/nope/spec", 404),
        ("/api/v1/projects/..%2Fetc/components/x/spec", 400),
        ("/api/v1/projects/etc/detect", 404),
        ("/api/v1/projects/..%2F..%2Fetc/detect", 400),
        ("/api/v1/projects/.git/detect", 400),
        ("/api/v1/projects/nope/detect", 404),
        ("/api/v1/nothing", 404),
    ] {
        let a = get(path);
        assert_eq!(a.status, status, "{path}: {}", a.body);
    }
}

#[test]
fn the_openapi_document_is_3_1_and_names_every_route_it_serves() {
    let d = start();
    let bearer = format!("Bearer {}", d.token);
    let host = format!("127.0.0.1:{}", d.port);
    let a = request(
        d.port,
        "GET",
        "/api/v1/openapi.json",
        &[("Host", &host), ("Authorization", &bearer)],
    );
    assert_eq!(a.status, 200);
    let doc: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/projects",
        "/api/v1/projects/{name}/detect",
        "/api/v1/projects/{name}/components/{component}/spec",
    ] {
        assert!(
            doc["paths"][path]["get"]["operationId"].is_string(),
            "{path}"
        );
    }
    // Every operation is secured by the document's default: the bearer token or the cookie.
    assert_eq!(
        doc["security"],
        serde_json::json!([{"bearer": []}, {"session": []}])
    );
    assert!(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
    // And our own OpenAPI reader (the one Kong routes come from) takes it.
    justpush::kong::spec::ApiSpec::parse(&a.body, "openapi.json").unwrap();
}

#[test]
fn the_state_file_is_private_and_ctrl_c_removes_it() {
    use std::os::unix::fs::PermissionsExt;
    let mut d = start();
    let file = d.state.path().join("dashboard.json");
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(state["port"], d.port);
    assert_eq!(state["token"], d.token.as_str());
    assert_eq!(state["pid"], d.child.id());
    unsafe {
        libc::kill(d.child.id() as i32, libc::SIGINT);
    }
    let status = d.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!file.exists(), "the state file outlived the dashboard");
}

/// Debian's chromium, which the test command installs (`/usr/bin/chromium`).
fn chromium() -> Option<std::path::PathBuf> {
    let path = std::path::PathBuf::from(
        std::env::var_os("CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()),
    );
    path.exists().then_some(path)
}

/// The Importer in a real browser: the printed URL (token → cookie → redirect), the page's
/// script under the strict CSP, its requests with the cookie, and the table it draws.
#[test]
fn the_importer_page_shows_the_projects_and_components_in_a_real_browser() {
    let Some(chromium) = chromium() else {
        // The test command installs it; a CI run without it is a broken setup, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing (scripts/test.sh installs Debian's chromium)"
        );
        eprintln!("skipping: no /usr/bin/chromium (set CHROMIUM, or run scripts/test.sh)");
        return;
    };
    let d = start();
    let profile = tempfile::tempdir().unwrap();
    // The flags a sandboxed, offline machine needs (no background networking, no updates).
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("http://127.0.0.1:{}/?token={}", d.port, d.token))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let why = format!("{dom}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(dom.contains("2 project(s)"), "{why}");
    assert!(
        dom.contains(r#"<option value="express">express</option>"#)
            && dom.contains(r#"<option value="fastapi-uv">fastapi-uv</option>"#),
        "{why}"
    );
    // The first project (express) is detected and drawn.
    assert!(
        dom.contains("<td>node</td>") && dom.contains("<td>express</td>"),
        "{why}"
    );
    assert!(dom.contains("1 component(s)"), "{why}");
    // Its spec file is offered as a download (the express fixture has openapi.yaml).
    assert!(
        dom.contains(r#"href="/api/v1/projects/express/components/orders-api/spec""#)
            && dom.contains("Download openapi.yaml"),
        "{why}"
    );
}
