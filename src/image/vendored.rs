//! Crates vendored with `cargo vendor`. Each crate's directory holds `.cargo-checksum.json`:
//! the sha256 of every file cargo checks, and (for a registry crate) the checksum of the
//! published package. Cargo refuses to build a vendored crate with a listed file missing or
//! changed, and published crates ship test keys and fixtures (`tests/*.pem`, `*.key`, ...)
//! that the secret rules and `.dockerignore` lines such as `tests/` would otherwise leave
//! out. So a file of a vendored registry crate that is exactly as published (its sha256 is the
//! listed one) stays in the build context whatever those rules say; anything else in the
//! directory (a file not listed, or changed) is judged like any other file.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The checksum file's name.
pub const CHECKSUM_FILE: &str = ".cargo-checksum.json";
/// Larger checksum files are not read (the largest crates list a few thousand files).
const MAX_CHECKSUM_BYTES: u64 = 4 << 20;

/// A vendored registry crate: its published files and their sha256.
#[derive(Debug, Clone)]
pub struct VendoredCrate {
    files: BTreeMap<String, String>,
}

impl VendoredCrate {
    /// The crate vendored in `dir`, if `dir` holds the checksum file of a registry crate (a
    /// non-null `package`; git and path sources have none and get no exception).
    pub fn read(dir: &Path) -> Option<VendoredCrate> {
        let path = dir.join(CHECKSUM_FILE);
        let bytes = crate::input::read_bytes(&path, CHECKSUM_FILE, MAX_CHECKSUM_BYTES).ok()?;
        VendoredCrate::parse(&String::from_utf8_lossy(&bytes))
    }

    /// [`VendoredCrate::read`] on the file's text.
    pub fn parse(text: &str) -> Option<VendoredCrate> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let package = v.get("package")?.as_str()?;
        if !is_sha256(package) {
            return None;
        }
        let files = v
            .get("files")?
            .as_object()?
            .iter()
            .filter_map(|(k, h)| Some((k.clone(), h.as_str().filter(|h| is_sha256(h))?.into())))
            .collect();
        Some(VendoredCrate { files })
    }

    /// Whether the crate lists files below `rel` (a directory inside the crate).
    pub fn lists_below(&self, rel: &str) -> bool {
        let prefix = format!("{rel}/");
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// Whether the file at `path` is `rel` of the crate exactly as published.
    pub fn verifies(&self, rel: &str, path: &Path) -> bool {
        let Some(expected) = self.files.get(rel) else {
            return false;
        };
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return false;
        };
        if !meta.is_file() {
            return false;
        }
        match crate::input::read_bytes(path, rel, meta.len()) {
            Ok(data) => super::context::hex(&Sha256::digest(&data)) == *expected,
            Err(_) => false,
        }
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> String {
        super::super::context::hex(&Sha256::digest(data))
    }

    #[test]
    fn only_registry_crates_with_listed_files_as_published_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tests")).unwrap();
        std::fs::write(dir.path().join("tests/key.pem"), "published test key").unwrap();
        std::fs::write(dir.path().join("src.rs"), "changed").unwrap();
        let listing = serde_json::json!({
            "files": {"tests/key.pem": sha(b"published test key"), "src.rs": sha(b"original")},
            "package": sha(b"the .crate file"),
        });
        std::fs::write(dir.path().join(CHECKSUM_FILE), listing.to_string()).unwrap();
        let c = VendoredCrate::read(dir.path()).expect("a registry crate");
        assert!(c.verifies("tests/key.pem", &dir.path().join("tests/key.pem")));
        assert!(
            !c.verifies("src.rs", &dir.path().join("src.rs")),
            "changed since published"
        );
        assert!(
            !c.verifies("extra.pem", &dir.path().join("extra.pem")),
            "not listed"
        );
        assert!(c.lists_below("tests"));
        assert!(!c.lists_below("test"));
        // Git and path sources have no package checksum: no exception for them.
        assert!(VendoredCrate::parse(r#"{"files": {}, "package": null}"#).is_none());
        assert!(VendoredCrate::parse(r#"{"files": {}, "package": "not-a-sha"}"#).is_none());
        assert!(VendoredCrate::parse("not json").is_none());
    }
}
