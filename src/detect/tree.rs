//! A read-only snapshot of a project's files: the list of paths, read once, plus text reads
//! on demand. Detection sees the project only through this, so tests can build trees in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::DetectError;

/// Directories never looked into: dependencies, build outputs, VCS and tool caches.
pub const SKIPPED_DIRS: [&str; 14] = [
    "node_modules",
    ".git",
    "target",
    ".venv",
    "venv",
    "dist",
    "build",
    "__pycache__",
    ".next",
    ".gradle",
    ".idea",
    ".vscode",
    ".mypy_cache",
    ".pytest_cache",
];

/// Deepest directory level scanned; deeper files are ignored.
const MAX_DEPTH: usize = 12;
/// Upper bound on the files listed, so a stray home directory does not take minutes.
const MAX_FILES: usize = 50_000;
/// Files larger than this are not read as text (their names still count).
const MAX_READ_BYTES: u64 = 512 * 1024;

/// The files of a project, by `/`-separated path relative to its root.
#[derive(Debug, Clone)]
pub struct SourceTree {
    files: BTreeSet<String>,
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    Disk(PathBuf),
    Memory(BTreeMap<String, String>),
}

impl SourceTree {
    /// Lists the files under `root`, skipping dependency, build and VCS directories (`node_modules`, `.git`, `target`, `.venv`, `dist`, `build`, ...).
    pub fn scan(root: &Path) -> Result<Self, DetectError> {
        let mut files = BTreeSet::new();
        let walker = walkdir::WalkDir::new(root)
            .max_depth(MAX_DEPTH)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| {
                entry.depth() == 0
                    || !entry.file_type().is_dir()
                    || !SKIPPED_DIRS.contains(&entry.file_name().to_string_lossy().as_ref())
            });
        for entry in walker {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) if err.depth() == 0 => {
                    return Err(DetectError::Unreadable {
                        path: root.to_path_buf(),
                        source: err
                            .into_io_error()
                            .unwrap_or_else(|| std::io::Error::other("walk failed")),
                    })
                }
                // An unreadable subdirectory is not the project's problem to solve here.
                Err(_) => continue,
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(root) else {
                continue;
            };
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.insert(rel.join("/"));
            if files.len() >= MAX_FILES {
                break;
            }
        }
        Ok(SourceTree {
            files,
            source: Source::Disk(root.to_path_buf()),
        })
    }

    /// A tree held in memory: `(path, contents)` pairs, paths `/`-separated.
    pub fn from_memory<I, P, C>(files: I) -> Self
    where
        I: IntoIterator<Item = (P, C)>,
        P: Into<String>,
        C: Into<String>,
    {
        let map: BTreeMap<String, String> = files
            .into_iter()
            .map(|(p, c)| (p.into(), c.into()))
            .collect();
        SourceTree {
            files: map.keys().cloned().collect(),
            source: Source::Memory(map),
        }
    }

    /// True if the file exists.
    pub fn exists(&self, rel: &str) -> bool {
        self.files.contains(rel)
    }

    /// True if any file lies under directory `rel` (`.` or empty is the root).
    pub fn is_dir(&self, rel: &str) -> bool {
        let prefix = dir_prefix(rel);
        if prefix.is_empty() {
            return !self.files.is_empty();
        }
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|f| f.starts_with(&prefix))
    }

    /// Reads a file as text (lossy UTF-8); `None` if absent, unreadable or too large.
    pub fn read(&self, rel: &str) -> Option<String> {
        if !self.files.contains(rel) {
            return None;
        }
        match &self.source {
            Source::Memory(map) => map.get(rel).cloned(),
            Source::Disk(root) => {
                let path = root.join(rel);
                let meta = std::fs::metadata(&path).ok()?;
                if meta.len() > MAX_READ_BYTES {
                    return None;
                }
                let bytes = std::fs::read(&path).ok()?;
                Some(String::from_utf8_lossy(&bytes).into_owned())
            }
        }
    }

    /// Every file under directory `dir`, as paths relative to the tree root.
    pub fn files_under<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = dir_prefix(dir);
        self.files
            .range(prefix.clone()..)
            .take_while(move |f| f.starts_with(&prefix))
            .map(String::as_str)
    }

    /// The immediate subdirectories of `dir` that contain files, as full relative paths.
    pub fn subdirs(&self, dir: &str) -> Vec<String> {
        let prefix = dir_prefix(dir);
        let mut out = BTreeSet::new();
        for f in self.files_under(dir) {
            let rest = &f[prefix.len()..];
            if let Some((first, _)) = rest.split_once('/') {
                out.insert(format!("{prefix}{first}"));
            }
        }
        out.into_iter().collect()
    }
}

/// `backend` -> `backend/`, `.` -> ``.
fn dir_prefix(dir: &str) -> String {
    let dir = dir.trim_matches('/');
    if dir.is_empty() || dir == "." {
        String::new()
    } else {
        format!("{dir}/")
    }
}

/// Joins a directory and a relative path (`.` is the root).
pub fn join(dir: &str, rel: &str) -> String {
    let prefix = dir_prefix(dir);
    format!("{prefix}{rel}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_skips_dependency_and_build_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, body) in [
            ("package.json", "{}"),
            ("src/index.js", "x"),
            ("node_modules/express/index.js", "x"),
            ("api/.venv/lib/x.py", "x"),
            ("api/main.py", "x"),
            ("target/debug/app", "x"),
            (".git/HEAD", "x"),
            ("web/dist/index.html", "x"),
        ] {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let tree = SourceTree::scan(root).unwrap();
        let files: Vec<&str> = tree.files_under(".").collect();
        assert_eq!(files, vec!["api/main.py", "package.json", "src/index.js"]);
        assert!(tree.is_dir("api"));
        assert!(!tree.is_dir("web"));
        assert_eq!(tree.subdirs("."), vec!["api", "src"]);
        assert_eq!(tree.read("package.json").as_deref(), Some("{}"));
    }

    #[test]
    fn memory_tree_lists_and_reads() {
        let tree = SourceTree::from_memory([
            ("apps/web/package.json", "{}"),
            ("apps/api/go.mod", "module x"),
        ]);
        assert_eq!(tree.subdirs("apps"), vec!["apps/api", "apps/web"]);
        assert!(tree.is_dir("apps/web"));
        assert!(!tree.is_dir("apps/we"));
        assert_eq!(tree.read("apps/api/go.mod").as_deref(), Some("module x"));
        assert_eq!(tree.read("missing"), None);
    }
}
