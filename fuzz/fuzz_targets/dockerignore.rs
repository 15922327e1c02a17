//! `.dockerignore` parsing, then matching a few context paths against the patterns.
#![no_main]

use justpush::image::context::DockerIgnore;
use libfuzzer_sys::fuzz_target;

const PATHS: &[&str] = &["justpush.yaml", ".git/config", "src/main.rs", "a/b/c/é.txt", ".env"];

fuzz_target!(|text: &str| {
    if let Ok(ignore) = DockerIgnore::parse(text) {
        for path in PATHS {
            let _ = ignore.excludes(path);
        }
    }
});
