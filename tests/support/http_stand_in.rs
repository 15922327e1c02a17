//! A test-owned HTTP server (a gateway, a service's pods) on a loopback port, served from a
//! thread with its own runtime so that a test's blocking calls (running the binary, waiting on
//! the fake API server) cannot starve it. Include with
//! `#[path = "support/http_stand_in.rs"] mod http_stand_in;`.

/// Serves `app` until the test process ends; returns its base URL (`http://127.0.0.1:PORT`).
pub fn serve(app: axum::Router) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}
