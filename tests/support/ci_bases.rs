//! The Debian bookworm base images `scripts/test-docker.sh` makes (there is no Docker Hub on the
//! machines this is developed on), as `kubectl-justpush build` flags. Include with
//! `#[path = "support/ci_bases.rs"] mod ci_bases;`.
//!
//! Environment (set by the script, defaults as it names them): JUSTPUSH_TEST_BASE_PYTHON
//! (builder), JUSTPUSH_TEST_BASE_PYTHON_RUNTIME, JUSTPUSH_TEST_BASE_NODE_BUILD,
//! JUSTPUSH_TEST_BASE_NODE, JUSTPUSH_TEST_BASE_GO (Go 1.19 builder), JUSTPUSH_TEST_BASE_RUST
//! (Rust 1.63 builder), JUSTPUSH_TEST_BASE_DEBIAN (their runtime).

/// The host's CA bundle, for builder stages behind a TLS-intercepting proxy.
pub const HOST_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// `--base-image` for each language stage and `--ca-bundle`.
pub fn base_image_args() -> Vec<String> {
    let bases = [
        (
            "python.builder",
            "JUSTPUSH_TEST_BASE_PYTHON",
            "justpush-ci/python:bookworm",
        ),
        (
            "python.runtime",
            "JUSTPUSH_TEST_BASE_PYTHON_RUNTIME",
            "justpush-ci/python-runtime:bookworm",
        ),
        (
            "node.builder",
            "JUSTPUSH_TEST_BASE_NODE_BUILD",
            "justpush-ci/node-build:bookworm",
        ),
        (
            "node.runtime",
            "JUSTPUSH_TEST_BASE_NODE",
            "justpush-ci/node:bookworm",
        ),
        (
            "go.builder",
            "JUSTPUSH_TEST_BASE_GO",
            "justpush-ci/golang:bookworm",
        ),
        (
            "go.runtime",
            "JUSTPUSH_TEST_BASE_DEBIAN",
            "justpush-ci/debian:bookworm",
        ),
        (
            "rust.builder",
            "JUSTPUSH_TEST_BASE_RUST",
            "justpush-ci/rust:bookworm",
        ),
        (
            "rust.runtime",
            "JUSTPUSH_TEST_BASE_DEBIAN",
            "justpush-ci/debian:bookworm",
        ),
    ];
    let mut args = Vec::new();
    for (stage, var, default) in bases {
        args.push("--base-image".to_string());
        args.push(format!("{stage}={}", env_or(var, default)));
    }
    args.extend(["--ca-bundle".to_string(), HOST_CA.to_string()]);
    args
}
