//! The static file server written into `node-static` and `static` images: the Dockerfile's own
//! `printf` command writes it (checking the quoting), then node runs it on a loopback port.
//! Skipped with a message when `sh` or `node` is missing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use justpush::dockerfile::static_server_command;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[test]
fn static_server_serves_files_with_spa_fallback() {
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("skipping: node is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("server.js");
    let command = static_server_command().replace("/srv/server.js", &script.to_string_lossy());
    let status = Command::new("sh").arg("-c").arg(&command).status().unwrap();
    assert!(status.success(), "the printf command failed");
    let written = std::fs::read_to_string(&script).unwrap();
    assert_eq!(written, justpush::dockerfile::STATIC_SERVER_JS);

    let www = tmp.path().join("www");
    std::fs::create_dir_all(www.join("assets")).unwrap();
    std::fs::write(www.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(www.join("assets/app.js"), "console.log(1)").unwrap();
    std::fs::write(www.join(".env"), "SECRET=1").unwrap();

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Server(
        Command::new("node")
            .arg(&script)
            .env("PORT", port.to_string())
            .env("STATIC_ROOT", &www)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "static server did not listen within 10s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    assert_eq!(get(port, "/"), (200, "<h1>home</h1>".to_string()));
    assert_eq!(
        get(port, "/assets/app.js"),
        (200, "console.log(1)".to_string())
    );
    // Client-side routes fall back to index.html; missing files with an extension do not.
    assert_eq!(get(port, "/orders/42"), (200, "<h1>home</h1>".to_string()));
    assert_eq!(get(port, "/missing.js").0, 404);
    // Dotfiles and path traversal are never served.
    assert_ne!(get(port, "/.env").1, "SECRET=1");
    assert_ne!(get(port, "/../server.js").1, written);
}
