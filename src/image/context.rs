//! The build context: a tar of one component directory as `docker build` would send it, with
//! `.dockerignore` applied (Docker's pattern semantics), symlinks that leave the directory
//! refused, and justpush's own files (generated Dockerfile, CA bundle) added.

use regex::Regex;
use sha2::{Digest, Sha256};
use std::path::{Component as PathPart, Path, PathBuf};

use super::vendored::VendoredCrate;
use super::{secret_files, ImageError};
use crate::input::{self, MAX_IGNORE_BYTES};

/// Where justpush keeps its own state inside a project (build logs); never sent to the daemon.
pub const STATE_DIR: &str = ".justpush";
/// The name the generated Dockerfile gets inside the context.
pub const GENERATED_DOCKERFILE: &str = ".justpush.Dockerfile";

/// One `.dockerignore` line, compiled.
#[derive(Debug, Clone)]
struct Pattern {
    regex: Regex,
    exception: bool,
}

/// The patterns of a `.dockerignore` file, matched the way Docker matches them: the last
/// matching line decides, `!` lines re-include, a pattern that matches a directory matches
/// everything below it, `*` and `?` stay within one path segment, `**` spans any number.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Parses `.dockerignore` text. A malformed pattern is an error naming the line.
    pub fn parse(text: &str) -> Result<DockerIgnore, String> {
        let mut patterns = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean(body);
            if cleaned.is_empty() {
                continue;
            }
            let regex = Regex::new(&pattern_regex(&cleaned)).map_err(|e| {
                format!(
                    ".dockerignore line {}: pattern `{line}` is invalid: {e}",
                    n + 1
                )
            })?;
            patterns.push(Pattern { regex, exception });
        }
        Ok(DockerIgnore { patterns })
    }

    /// Whether a `/`-separated path relative to the context root is left out.
    pub fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        let parts: Vec<&str> = path.split('/').collect();
        for p in &self.patterns {
            // The path itself or any of its parent directories.
            let hit = (1..=parts.len()).any(|n| p.regex.is_match(&parts[..n].join("/")));
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether any `!` line exists (then an excluded directory must still be walked).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }
}

/// Go's `filepath.Clean` for patterns, plus dropping a leading `/` (Docker does both).
fn clean(pattern: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in pattern.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

/// The regular expression of one cleaned pattern (moby's patternmatcher translation).
fn pattern_regex(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                if chars.get(i + 1) == Some(&'/') {
                    i += 1;
                }
                if i + 1 >= chars.len() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                // A character class, passed through (`[!...]` is Go's negation).
                let mut j = i + 1;
                let mut class = String::from("[");
                if chars.get(j) == Some(&'!') || chars.get(j) == Some(&'^') {
                    class.push('^');
                    j += 1;
                }
                let mut closed = false;
                while j < chars.len() {
                    let d = chars[j];
                    if d == ']' {
                        closed = true;
                        break;
                    }
                    if d == '\\' && j + 1 < chars.len() {
                        class.push_str(&regex::escape(&chars[j + 1].to_string()));
                        j += 2;
                        continue;
                    }
                    if d == '[' || d == '&' || d == '~' {
                        class.push('\\');
                    }
                    class.push(d);
                    j += 1;
                }
                if closed {
                    class.push(']');
                    re.push_str(&class);
                    i = j;
                } else {
                    re.push_str(r"\[");
                }
            }
            '\\' if i + 1 < chars.len() => {
                i += 1;
                re.push_str(&regex::escape(&chars[i].to_string()));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    re
}

/// A file justpush adds to the context that is not on disk.
#[derive(Debug, Clone)]
pub struct ExtraFile {
    pub path: String,
    pub contents: Vec<u8>,
}

/// The default budget for a build context's files (`--max-context`): far above a real
/// project's sources, low enough that the in-memory tar cannot exhaust memory.
pub const DEFAULT_MAX_CONTEXT_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// A file kept out of the context although no `.dockerignore` line excluded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// `/`-separated path relative to the context root.
    pub path: String,
    /// Why (see [`super::secret_files`]).
    pub reason: &'static str,
}

/// The tar sent to the daemon and the digest of what is in it.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The uncompressed tar.
    pub tar: Vec<u8>,
    /// sha256 over paths, modes, link targets and contents in tar order (mtimes left out, so
    /// a `touch` does not change the tag).
    pub digest: String,
    /// Number of regular files in the tar.
    pub files: usize,
    /// Secrets the `.dockerignore` let through, left out anyway (the caller warns).
    pub left_out: Vec<LeftOut>,
    /// Sockets, FIFOs and devices skipped (never opened), as `docker build` skips them.
    pub skipped_special: Vec<String>,
}

/// What a walk of the context directory found.
#[derive(Default)]
struct Walk {
    entries: Vec<String>,
    left_out: Vec<LeftOut>,
    skipped_special: Vec<String>,
}

impl BuildContext {
    /// Tars `dir`, honouring its `.dockerignore`, refusing symlinks that escape it, and adding
    /// `extra` files (replacing files of the same path).
    pub fn create(dir: &Path, extra: &[ExtraFile]) -> Result<BuildContext, ImageError> {
        let ignore_text = read_dockerignore(dir)?.unwrap_or_default();
        BuildContext::create_with_ignore(dir, &ignore_text, extra)
    }

    /// [`BuildContext::create`] with the given `.dockerignore` text instead of the file's (a
    /// generated build without a `.dockerignore` uses the one `init` would write).
    pub fn create_with_ignore(
        dir: &Path,
        ignore_text: &str,
        extra: &[ExtraFile],
    ) -> Result<BuildContext, ImageError> {
        BuildContext::create_within(dir, ignore_text, extra, DEFAULT_MAX_CONTEXT_BYTES)
    }

    /// [`BuildContext::create_with_ignore`] with a budget for the files' total size, checked
    /// from their sizes before any is read: a 5 GiB (even sparse) file is refused, never read
    /// into memory.
    pub fn create_within(
        dir: &Path,
        ignore_text: &str,
        extra: &[ExtraFile],
        max_bytes: u64,
    ) -> Result<BuildContext, ImageError> {
        let ignore = DockerIgnore::parse(ignore_text).map_err(|message| ImageError::Context {
            dir: dir.to_path_buf(),
            message: format!("{message}; fix the pattern"),
        })?;
        let mut found = Walk::default();
        walk(dir, dir, "", &ignore, extra, &mut found)?;
        found.entries.sort();
        check_budget(dir, &found.entries, extra, max_bytes)?;

        let mut builder = tar::Builder::new(Vec::new());
        let mut hasher = Sha256::new();
        let mut files = 0;
        for rel in &found.entries {
            let full = dir.join(rel);
            let meta = std::fs::symlink_metadata(&full)
                .map_err(|e| ImageError::io(format!("reading {}", full.display()), e))?;
            let mut header = tar::Header::new_gnu();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(
                meta.modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
            );
            let mode = {
                use std::os::unix::fs::PermissionsExt;
                meta.permissions().mode() & 0o7777
            };
            header.set_mode(mode);
            let ft = meta.file_type();
            if ft.is_symlink() {
                let target = std::fs::read_link(&full)
                    .map_err(|e| ImageError::io(format!("reading link {}", full.display()), e))?;
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                hash_entry(
                    &mut hasher,
                    'l',
                    rel,
                    mode,
                    target.to_string_lossy().as_bytes(),
                );
                builder
                    .append_link(&mut header, rel, &target)
                    .map_err(|e| ImageError::io("writing the context tar".into(), e))?;
            } else if ft.is_dir() {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                hash_entry(&mut hasher, 'd', rel, mode, b"");
                builder
                    .append_data(&mut header, format!("{rel}/"), std::io::empty())
                    .map_err(|e| ImageError::io("writing the context tar".into(), e))?;
            } else if ft.is_file() {
                // Opened non-blocking and checked again once open: a file swapped for a FIFO
                // since the walk is refused instead of blocking the build.
                let data = input::read_bytes(&full, rel, meta.len().min(max_bytes))?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                hash_entry(&mut hasher, 'f', rel, mode, &data);
                builder
                    .append_data(&mut header, rel, data.as_slice())
                    .map_err(|e| ImageError::io("writing the context tar".into(), e))?;
                files += 1;
            }
        }
        for file in extra {
            let mut header = tar::Header::new_gnu();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(file.contents.len() as u64);
            hash_entry(&mut hasher, 'f', &file.path, 0o644, &file.contents);
            builder
                .append_data(&mut header, &file.path, file.contents.as_slice())
                .map_err(|e| ImageError::io("writing the context tar".into(), e))?;
            files += 1;
        }
        let tar = builder
            .into_inner()
            .map_err(|e| ImageError::io("writing the context tar".into(), e))?;
        Ok(BuildContext {
            tar,
            digest: hex(&hasher.finalize()),
            files,
            left_out: found.left_out,
            skipped_special: found.skipped_special,
        })
    }
}

/// The paths a build context made with `ignore_text` would carry, found by the same walk and
/// without reading any file: what a scanner must look at to see exactly what the daemon gets.
#[derive(Debug, Clone, Default)]
pub struct ContextListing {
    /// `/`-separated paths relative to the context root (directories, files, symlinks), sorted.
    pub entries: Vec<String>,
    /// Secrets left out by name or content (the build warns about them).
    pub left_out: Vec<LeftOut>,
    /// Sockets, FIFOs and devices, never opened.
    pub skipped_special: Vec<String>,
}

/// Lists what [`BuildContext::create_with_ignore`] would put in the tar for `dir`, before
/// justpush's own files are added.
pub fn list_context(dir: &Path, ignore_text: &str) -> Result<ContextListing, ImageError> {
    let ignore = DockerIgnore::parse(ignore_text).map_err(|message| ImageError::Context {
        dir: dir.to_path_buf(),
        message: format!("{message}; fix the pattern"),
    })?;
    let mut found = Walk::default();
    walk(dir, dir, "", &ignore, &[], &mut found)?;
    found.entries.sort();
    Ok(ContextListing {
        entries: found.entries,
        left_out: found.left_out,
        skipped_special: found.skipped_special,
    })
}

/// Refuses a context whose regular files (by their sizes on disk: nothing is read) exceed
/// `max_bytes`, naming the largest files.
fn check_budget(
    dir: &Path,
    entries: &[String],
    extra: &[ExtraFile],
    max_bytes: u64,
) -> Result<(), ImageError> {
    let mut sizes: Vec<(u64, &str)> = Vec::new();
    for rel in entries {
        let full = dir.join(rel);
        let meta = std::fs::symlink_metadata(&full)
            .map_err(|e| ImageError::io(format!("reading {}", full.display()), e))?;
        if meta.is_file() {
            sizes.push((meta.len(), rel));
        }
    }
    let total: u64 = sizes.iter().map(|(n, _)| *n).sum::<u64>()
        + extra.iter().map(|x| x.contents.len() as u64).sum::<u64>();
    if total <= max_bytes {
        return Ok(());
    }
    sizes.sort_by_key(|s| std::cmp::Reverse(s.0));
    let largest: Vec<String> = sizes
        .iter()
        .take(3)
        .map(|(n, rel)| format!("{rel} ({})", super::human_size(*n)))
        .collect();
    Err(ImageError::Context {
        dir: dir.to_path_buf(),
        message: format!(
            "its files add up to {} ({total} bytes), over the build context budget of {} (--max-context); the largest: {}. List what the image does not need in .dockerignore, or raise --max-context",
            super::human_size(total),
            super::human_size(max_bytes),
            largest.join(", ")
        ),
    })
}

fn hash_entry(hasher: &mut Sha256, kind: char, path: &str, mode: u32, data: &[u8]) {
    hasher.update([kind as u8]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(mode.to_le_bytes());
    hasher.update((data.len() as u64).to_le_bytes());
    hasher.update(data);
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A vendored crate being walked, and where it starts (`vendor/openssl/`).
struct InCrate<'a> {
    krate: &'a VendoredCrate,
    prefix: String,
}

impl InCrate<'_> {
    /// `rel` relative to the crate's directory.
    fn inner<'r>(&self, rel: &'r str) -> &'r str {
        rel.strip_prefix(&self.prefix).unwrap_or(rel)
    }
}

fn walk(
    root: &Path,
    dir: &Path,
    prefix: &str,
    ignore: &DockerIgnore,
    extra: &[ExtraFile],
    out: &mut Walk,
) -> Result<(), ImageError> {
    walk_in(root, dir, prefix, ignore, extra, None, out)
}

fn walk_in(
    root: &Path,
    dir: &Path,
    prefix: &str,
    ignore: &DockerIgnore,
    extra: &[ExtraFile],
    in_crate: Option<&InCrate<'_>>,
    out: &mut Walk,
) -> Result<(), ImageError> {
    // A crate vendored here: its published files are kept as published (see `vendored`).
    let found = match in_crate {
        None => VendoredCrate::read(dir),
        Some(_) => None,
    };
    let here = found.as_ref().map(|krate| InCrate {
        krate,
        prefix: if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        },
    });
    let in_crate = in_crate.or(here.as_ref());
    let read = std::fs::read_dir(dir)
        .map_err(|e| ImageError::io(format!("reading directory {}", dir.display()), e))?;
    for entry in read {
        let entry =
            entry.map_err(|e| ImageError::io(format!("reading directory {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if prefix.is_empty() && name == STATE_DIR {
            continue;
        }
        if extra.iter().any(|x| x.path == rel) {
            continue;
        }
        let ft = entry
            .file_type()
            .map_err(|e| ImageError::io(format!("reading {}", entry.path().display()), e))?;
        let excluded = ignore.excludes(&rel);
        // `.dockerignore` itself and the Dockerfile are always sent (the daemon reads them).
        let always = prefix.is_empty() && (name == ".dockerignore" || name == "Dockerfile");
        if ft.is_dir() {
            let published = in_crate.is_some_and(|c| c.krate.lists_below(c.inner(&rel)));
            if published {
                out.entries.push(rel.clone());
                walk_in(root, &entry.path(), &rel, ignore, extra, in_crate, out)?;
                continue;
            }
            if excluded && !ignore.has_exceptions() {
                continue;
            }
            if !excluded {
                if let Some(reason) = secret_files::by_name(&rel, true) {
                    out.left_out.push(LeftOut { path: rel, reason });
                    continue;
                }
                out.entries.push(rel.clone());
            }
            walk_in(root, &entry.path(), &rel, ignore, extra, in_crate, out)?;
            continue;
        }
        if ft.is_file() && in_crate.is_some_and(|c| c.krate.verifies(c.inner(&rel), &entry.path()))
        {
            out.entries.push(rel);
            continue;
        }
        if excluded && !always {
            continue;
        }
        if ft.is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(|e| {
                ImageError::io(format!("reading link {}", entry.path().display()), e)
            })?;
            if !link_stays_inside(&rel, &target) {
                return Err(ImageError::Context {
                    dir: root.to_path_buf(),
                    message: format!(
                        "`{rel}` is a symbolic link to `{}`, outside the build context; the daemon cannot follow it. Copy the file into the directory, or list `{rel}` in .dockerignore",
                        target.display()
                    ),
                });
            }
        } else if !ft.is_file() {
            // Sockets, FIFOs and devices: skipped, as `docker build` does, and never opened
            // (a read of a FIFO blocks; one of /dev/zero never ends).
            out.skipped_special.push(rel);
            continue;
        }
        if !always {
            let reason = secret_files::by_name(&rel, false).or_else(|| {
                (ft.is_file() && secret_files::needs_content(&rel))
                    .then(|| secret_files::inspect(&rel, &entry.path()))
                    .flatten()
            });
            if let Some(reason) = reason {
                out.left_out.push(LeftOut { path: rel, reason });
                continue;
            }
        }
        out.entries.push(rel);
    }
    Ok(())
}

/// Whether a symlink at `rel` (relative to the context root) pointing at `target` resolves
/// inside the context. Absolute targets never do: inside the image they point elsewhere.
pub fn link_stays_inside(rel: &str, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: Vec<String> = rel.split('/').map(String::from).collect();
    depth.pop(); // the link itself
    for part in target.components() {
        match part {
            PathPart::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            PathPart::Normal(s) => depth.push(s.to_string_lossy().into_owned()),
            PathPart::CurDir => {}
            PathPart::RootDir | PathPart::Prefix(_) => return false,
        }
    }
    true
}

/// The `.dockerignore` sent with a generated Dockerfile: the project's own patterns, then the
/// generated Dockerfile and the ignore file itself, which the classic builder drops from the
/// context after reading them (so `COPY . .` does not copy them into the image), then
/// `secret_lines` ([`crate::dockerfile::secret_ignore_lines`]). Last, because the last
/// matching line decides: a project's `!justpush.yaml` cannot bring the file back.
pub fn generated_dockerignore(project: &str, secret_lines: &[String]) -> String {
    let mut text = project.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("{GENERATED_DOCKERFILE}\n.dockerignore\n"));
    text.push_str(
        "# Added by justpush: secrets and justpush's own files never go into an image.\n",
    );
    for line in secret_lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// Reads a context's `.dockerignore`, if it has one: a regular file of at most
/// [`MAX_IGNORE_BYTES`] that stays inside the context (a FIFO, a device, a huge file or a
/// symlink out of the directory is refused, never read).
pub fn read_dockerignore(dir: &Path) -> Result<Option<String>, ImageError> {
    let path = dir.join(".dockerignore");
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ImageError::io(format!("reading {}", path.display()), e)),
        Ok(_) => {}
    }
    let text = input::read_text_inside(dir, &path, ".dockerignore", MAX_IGNORE_BYTES)?;
    Ok(Some(text))
}

/// The directory a component's context is made from.
pub fn component_dir(root: &Path, path: &str) -> PathBuf {
    if path == "." {
        root.to_path_buf()
    } else {
        root.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).unwrap()
    }

    #[test]
    fn plain_names_match_at_the_root_and_below_directories() {
        let i = ig("node_modules\n*.pyc\n");
        assert!(i.excludes("node_modules"));
        assert!(i.excludes("node_modules/next/package.json"));
        assert!(
            !i.excludes("src/node_modules"),
            "no implicit **/ (unlike .gitignore)"
        );
        assert!(i.excludes("a.pyc"));
        assert!(!i.excludes("app/a.pyc"), "* stays in one segment");
        assert!(!i.excludes("app/main.py"));
    }

    #[test]
    fn double_star_spans_directories() {
        let i = ig("**/*.pyc\n**/__pycache__\ndocs/**\n");
        assert!(i.excludes("a.pyc"));
        assert!(i.excludes("app/x/y.pyc"));
        assert!(i.excludes("app/__pycache__/m.cpython-311.pyc"));
        assert!(i.excludes("docs/a/b.md"));
        assert!(!i.excludes("docsx/a"));
    }

    #[test]
    fn exceptions_re_include_and_the_last_line_wins() {
        let i = ig("*.md\n!README.md\n");
        assert!(i.excludes("CHANGES.md"));
        assert!(!i.excludes("README.md"));
        let i = ig("!README.md\n*.md\n");
        assert!(
            i.excludes("README.md"),
            "a later pattern overrides an earlier exception"
        );
        let i = ig("data\n!data/keep.txt\n");
        assert!(i.excludes("data/drop.txt"));
        assert!(!i.excludes("data/keep.txt"));
        assert!(i.has_exceptions());
    }

    #[test]
    fn patterns_are_cleaned_and_comments_skipped() {
        let i = ig("# comment\n/build/\n./dist\n  tmp  \nsrc/../cache\n");
        assert!(i.excludes("build/x"));
        assert!(i.excludes("dist"));
        assert!(i.excludes("tmp"));
        assert!(i.excludes("cache/y"));
        assert!(!i.excludes("# comment"));
    }

    #[test]
    fn question_marks_classes_and_escapes() {
        let i = ig("file?.txt\n[ab]*.log\n[!c]x\nlit\\*\n");
        assert!(i.excludes("file1.txt"));
        assert!(!i.excludes("file10.txt"));
        assert!(i.excludes("a-1.log"));
        assert!(!i.excludes("c-1.log"));
        assert!(i.excludes("dx"));
        assert!(!i.excludes("cx"));
        assert!(i.excludes("lit*"));
        assert!(!i.excludes("litx"));
    }

    #[test]
    fn symlink_escape_is_judged_from_the_link_location() {
        assert!(link_stays_inside("a/b", Path::new("c")));
        assert!(link_stays_inside("a/b", Path::new("../c")));
        assert!(!link_stays_inside("a/b", Path::new("../../c")));
        assert!(!link_stays_inside("b", Path::new("../etc/passwd")));
        assert!(!link_stays_inside("b", Path::new("/etc/passwd")));
    }

    fn tar_names(ctx: &BuildContext) -> Vec<String> {
        let mut a = tar::Archive::new(ctx.tar.as_slice());
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    /// `cargo vendor` output with a published test key, and the same key name elsewhere.
    fn vendored_project(p: &Path) {
        use sha2::{Digest, Sha256};
        let key = "-----BEGIN PRIVATE KEY-----\nMIIfixture\n-----END PRIVATE KEY-----\n";
        let krate = p.join("vendor/native-fixture");
        std::fs::create_dir_all(krate.join("tests")).unwrap();
        std::fs::create_dir_all(krate.join("src")).unwrap();
        std::fs::write(krate.join("tests/key.pem"), key).unwrap();
        std::fs::write(krate.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
        // Added after vendoring: not published, so judged as any file.
        std::fs::write(krate.join("tests/mine.pem"), key).unwrap();
        let sha = |b: &[u8]| hex(&Sha256::digest(b));
        let listing = serde_json::json!({
            "files": {"tests/key.pem": sha(key.as_bytes()), "src/lib.rs": sha(b"pub fn f() {}\n")},
            "package": sha(b"native-fixture-0.1.0.crate"),
        });
        std::fs::write(krate.join(".cargo-checksum.json"), listing.to_string()).unwrap();
        std::fs::create_dir_all(p.join("tests")).unwrap();
        std::fs::write(p.join("tests/key.pem"), key).unwrap();
        std::fs::write(p.join("main.rs"), "fn main() {}\n").unwrap();
    }

    #[test]
    fn a_vendored_crates_published_files_stay_so_cargo_can_verify_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        vendored_project(p);
        // A common .dockerignore line that would take the crate's tests away too.
        let listing = list_context(p, "tests\n").unwrap();
        let names = &listing.entries;
        for kept in [
            "vendor/native-fixture/tests/key.pem",
            "vendor/native-fixture/src/lib.rs",
            "vendor/native-fixture/.cargo-checksum.json",
        ] {
            assert!(names.iter().any(|n| n == kept), "{kept} missing: {names:?}");
        }
        // The project's own key and the one added beside the published files stay out.
        assert!(!names.iter().any(|n| n == "tests/key.pem"), "{names:?}");
        let left: Vec<&str> = listing.left_out.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(left, ["vendor/native-fixture/tests/mine.pem"]);
        // A published file changed since (another key now) is judged as any file: left out.
        std::fs::write(
            p.join("vendor/native-fixture/tests/key.pem"),
            "-----BEGIN PRIVATE KEY-----\nMIIanother\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let listing = list_context(p, "").unwrap();
        assert!(!listing
            .entries
            .iter()
            .any(|n| n == "vendor/native-fixture/tests/key.pem"));
    }

    #[test]
    fn context_honours_dockerignore_and_adds_extra_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::write(
            p.join(".dockerignore"),
            "secret.txt\nlogs\n!logs/keep.log\n",
        )
        .unwrap();
        std::fs::write(p.join("main.py"), "print(1)\n").unwrap();
        std::fs::write(p.join("secret.txt"), "x").unwrap();
        std::fs::create_dir_all(p.join("logs")).unwrap();
        std::fs::write(p.join("logs/a.log"), "a").unwrap();
        std::fs::write(p.join("logs/keep.log"), "k").unwrap();
        std::fs::create_dir_all(p.join(".justpush/logs")).unwrap();
        std::fs::write(p.join(".justpush/logs/build-x.log"), "old").unwrap();
        let extra = [ExtraFile {
            path: GENERATED_DOCKERFILE.into(),
            contents: b"FROM scratch\n".to_vec(),
        }];
        let ctx = BuildContext::create(p, &extra).unwrap();
        let names = tar_names(&ctx);
        assert!(names.contains(&"main.py".to_string()), "{names:?}");
        assert!(names.contains(&"logs/keep.log".to_string()), "{names:?}");
        assert!(names.contains(&".dockerignore".to_string()), "{names:?}");
        assert!(
            names.contains(&GENERATED_DOCKERFILE.to_string()),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|n| n == "secret.txt" || n == "logs/a.log"),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|n| n.starts_with(".justpush/")),
            "{names:?}"
        );
    }

    #[test]
    fn digest_follows_contents_not_mtimes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::write(p.join("a.txt"), "one").unwrap();
        let first = BuildContext::create(p, &[]).unwrap().digest;
        let f = std::fs::File::options()
            .write(true)
            .open(p.join("a.txt"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(5))
            .unwrap();
        assert_eq!(BuildContext::create(p, &[]).unwrap().digest, first);
        std::fs::write(p.join("a.txt"), "two").unwrap();
        assert_ne!(BuildContext::create(p, &[]).unwrap().digest, first);
    }

    #[test]
    fn escaping_symlinks_are_refused_and_inner_ones_kept() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::write(p.join("a.txt"), "one").unwrap();
        std::os::unix::fs::symlink("a.txt", p.join("inner")).unwrap();
        let ctx = BuildContext::create(p, &[]).unwrap();
        assert!(tar_names(&ctx).contains(&"inner".to_string()));
        std::os::unix::fs::symlink("../../etc/passwd", p.join("leak")).unwrap();
        let err = BuildContext::create(p, &[]).unwrap_err().to_string();
        assert!(
            err.contains("`leak` is a symbolic link") && err.contains("outside the build context"),
            "{err}"
        );
        // Ignored links are not looked at.
        std::fs::write(p.join(".dockerignore"), "leak\n").unwrap();
        assert!(BuildContext::create(p, &[]).is_ok());
    }

    #[test]
    fn a_given_ignore_text_replaces_the_missing_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("node_modules/x")).unwrap();
        std::fs::write(d.path().join("node_modules/x/i.js"), "").unwrap();
        std::fs::write(d.path().join("index.js"), "").unwrap();
        let all = BuildContext::create(d.path(), &[]).unwrap();
        assert!(tar_names(&all).contains(&"node_modules/x/i.js".to_string()));
        let some = BuildContext::create_with_ignore(d.path(), "node_modules\n", &[]).unwrap();
        assert_eq!(tar_names(&some), ["index.js"]);
    }

    #[test]
    fn generated_dockerignore_drops_justpush_files_and_secrets_last() {
        let secrets: Vec<String> = crate::dockerfile::SECRET_IGNORE_PATTERNS
            .iter()
            .map(|p| p.to_string())
            .collect();
        // A project that re-includes justpush.yaml and .env: the additions come after and win.
        let t = generated_dockerignore("node_modules\n!justpush.yaml\n!.env", &secrets);
        assert!(t.starts_with(
            "node_modules\n!justpush.yaml\n!.env\n.justpush.Dockerfile\n.dockerignore\n"
        ));
        let i = ig(&t);
        assert!(i.excludes(GENERATED_DOCKERFILE) && i.excludes(".dockerignore"));
        for path in [
            "justpush.yaml",
            ".justpush/logs/build-api.log",
            ".env",
            ".env.production",
            ".git/config",
            "deploy/id_rsa",
            "tls/server.key",
            ".npmrc",
            ".pypirc",
            ".docker/config.json",
            "home/.aws/credentials",
        ] {
            assert!(i.excludes(path), "{path} must be excluded:\n{t}");
        }
        assert!(!i.excludes("src/main.py"));
    }

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn a_dockerignore_that_is_a_fifo_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        mkfifo(&d.path().join(".dockerignore"));
        let err = BuildContext::create(d.path(), &[]).unwrap_err().to_string();
        assert!(
            err.contains(".dockerignore") && err.contains("FIFO"),
            "{err}"
        );
    }

    #[test]
    fn a_huge_dockerignore_is_refused_by_its_size() {
        let d = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(d.path().join(".dockerignore")).unwrap();
        f.set_len(5 << 30).unwrap();
        let err = BuildContext::create(d.path(), &[]).unwrap_err().to_string();
        assert!(
            err.contains(".dockerignore") && err.contains("over the limit"),
            "{err}"
        );
    }

    #[test]
    fn a_dockerignore_linking_out_of_the_context_is_refused_unread() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "canary-4711\n").unwrap();
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret"),
            d.path().join(".dockerignore"),
        )
        .unwrap();
        let err = BuildContext::create(d.path(), &[]).unwrap_err().to_string();
        assert!(err.contains("outside the project"), "{err}");
        assert!(!err.contains("canary-4711"), "{err}");
        // /dev/zero through a link: outside too, never read.
        std::fs::remove_file(d.path().join(".dockerignore")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", d.path().join(".dockerignore")).unwrap();
        assert!(BuildContext::create(d.path(), &[]).is_err());
    }

    #[test]
    fn fifos_and_sockets_in_a_context_are_skipped_never_opened() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("main.py"), "print(1)\n").unwrap();
        mkfifo(&d.path().join("pipe"));
        let _socket = std::os::unix::net::UnixListener::bind(d.path().join("sock")).unwrap();
        let ctx = BuildContext::create(d.path(), &[]).unwrap();
        assert_eq!(tar_names(&ctx), ["main.py"]);
        let mut skipped = ctx.skipped_special.clone();
        skipped.sort();
        assert_eq!(skipped, ["pipe", "sock"]);
    }

    #[test]
    fn a_5_gib_sparse_file_is_refused_by_the_budget_before_it_is_read() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("main.py"), "print(1)\n").unwrap();
        let f = std::fs::File::create(d.path().join("disk.img")).unwrap();
        f.set_len(5 << 30).unwrap();
        let err = BuildContext::create(d.path(), &[]).unwrap_err().to_string();
        assert!(
            err.contains("over the build context budget of")
                && err.contains("disk.img (5.37GB)")
                && err.contains("--max-context"),
            "{err}"
        );
        // Within a budget that allows it, small files still go through.
        std::fs::remove_file(d.path().join("disk.img")).unwrap();
        assert!(BuildContext::create_within(d.path(), "", &[], 100).is_ok());
        assert!(BuildContext::create_within(d.path(), "", &[], 5).is_err());
    }

    #[test]
    fn secrets_are_left_out_whatever_the_dockerignore_says() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let write = |rel: &str, text: &str| {
            let path = p.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("main.py", "print(1)\n");
        write("justpush.yaml", "kong:\n  adminToken: canary\n");
        write(".env", "API_KEY=canary\n");
        write(".env.example", "API_KEY=\n");
        write("deploy/id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\n");
        write("deploy/id_rsa.pub", "ssh-ed25519 AAAA\n");
        write(".npmrc", "//registry.npmjs.org/:_authToken=npm_canary\n");
        write("certs/ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n");
        write("certs/tls.pem", "-----BEGIN PRIVATE KEY-----\nMIIE\n");
        write(".ssh/config", "Host x\n");
        // A .dockerignore that re-includes them changes nothing.
        write(".dockerignore", "!justpush.yaml\n!.env\n");
        let ctx = BuildContext::create(p, &[]).unwrap();
        let names = tar_names(&ctx);
        for kept in [
            "main.py",
            ".env.example",
            "deploy/id_rsa.pub",
            "certs/ca.pem",
        ] {
            assert!(names.iter().any(|n| n == kept), "{kept}: {names:?}");
        }
        let mut left: Vec<&str> = ctx.left_out.iter().map(|l| l.path.as_str()).collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".env",
                ".npmrc",
                ".ssh",
                "certs/tls.pem",
                "deploy/id_rsa",
                "justpush.yaml"
            ]
        );
        let tar = String::from_utf8_lossy(&ctx.tar);
        assert!(!tar.contains("canary"), "a secret reached the tar");
    }
}
