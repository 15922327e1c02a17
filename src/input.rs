//! Reading files the user (or an uploaded project) hands us, without trusting them.
//!
//! Every file justpush reads on a user's behalf — values files, `justpush.yaml`, OpenAPI specs,
//! `.dockerignore`, chart files — may be hostile: a FIFO that blocks a read forever, a device
//! that never ends (`/dev/zero`), a 5 GiB sparse file, or a symlink that leads out of the
//! project to the user's keys. These functions refuse each of those with an error that names
//! the file, the rule and the fix, and never read more than a stated limit into memory.
//!
//! The limits are documented in `docs/security.md`; they are far above any real input (GitHub's
//! whole REST spec is about 11 MB).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Largest values file, `--set-file` file or `justpush.yaml` read.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;
/// Largest OpenAPI document read (file, stdin or a running app's answer).
pub const MAX_SPEC_BYTES: u64 = 64 * 1024 * 1024;
/// Largest single chart file (template, values, schema) read.
pub const MAX_CHART_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Largest `.dockerignore` read.
pub const MAX_IGNORE_BYTES: u64 = 1024 * 1024;

/// Why a user-supplied file was not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    #[error("{what} {path}: cannot read it: {source}")]
    Io {
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path}: is {kind}, not a regular file; give the path of a regular file")]
    NotRegular {
        what: String,
        path: PathBuf,
        kind: &'static str,
    },
    #[error(
        "{what} {path}: is {size} bytes, over the limit of {limit} bytes; \
         give a smaller file (limits are listed in docs/security.md)"
    )]
    TooLarge {
        what: String,
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{what} {path}: is not UTF-8 text; save it as UTF-8")]
    NotUtf8 { what: String, path: PathBuf },
    #[error(
        "{what} {path}: resolves to {resolved}, outside the project {root}; \
         files read for a project must stay inside it (replace the symlink with the file)"
    )]
    OutsideProject {
        what: String,
        path: PathBuf,
        resolved: PathBuf,
        root: PathBuf,
    },
    #[error(
        "{field}: `{value}` is an absolute path; paths in a project's configuration are \
         relative to the project directory (write it relative to {root})"
    )]
    AbsolutePath {
        field: String,
        value: String,
        root: PathBuf,
    },
    #[error(
        "{field}: `{value}` leaves the project with `..`; paths in a project's configuration \
         must stay inside the project directory"
    )]
    ParentDir { field: String, value: String },
}

/// What kind of non-regular file a path is, for the error.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Reads at most `limit` bytes of a regular file; anything else is refused before it is opened
/// for reading, so a FIFO or a device can never block or flood the process.
pub fn read_bytes(path: &Path, what: &str, limit: u64) -> Result<Vec<u8>, InputError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| InputError::Io {
        what: what.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let check = |meta: &std::fs::Metadata| -> Result<(), InputError> {
        if !meta.is_file() {
            return Err(InputError::NotRegular {
                what: what.to_string(),
                path: path.to_path_buf(),
                kind: kind_of(meta),
            });
        }
        if meta.len() > limit {
            return Err(InputError::TooLarge {
                what: what.to_string(),
                path: path.to_path_buf(),
                size: meta.len(),
                limit,
            });
        }
        Ok(())
    };
    check(&std::fs::metadata(path).map_err(io)?)?;
    // O_NONBLOCK: should the path be swapped for a FIFO between the check and the open, the
    // open still returns at once; the opened file is checked again below.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    check(&file.metadata().map_err(io)?)?;
    let mut data = Vec::new();
    file.take(limit + 1).read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 > limit {
        return Err(InputError::TooLarge {
            what: what.to_string(),
            path: path.to_path_buf(),
            size: data.len() as u64,
            limit,
        });
    }
    Ok(data)
}

/// Reads the first `limit` bytes of a regular file (with the same refusals as [`read_bytes`])
/// and says whether the file was longer: for scanners that look at a bounded prefix of every
/// file instead of refusing large ones.
pub fn read_prefix(path: &Path, what: &str, limit: u64) -> Result<(Vec<u8>, bool), InputError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| InputError::Io {
        what: what.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let check = |meta: &std::fs::Metadata| -> Result<(), InputError> {
        if meta.is_file() {
            Ok(())
        } else {
            Err(InputError::NotRegular {
                what: what.to_string(),
                path: path.to_path_buf(),
                kind: kind_of(meta),
            })
        }
    };
    // symlink_metadata: a scanner never follows links (the caller walks them as links).
    check(&std::fs::symlink_metadata(path).map_err(io)?)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .map_err(io)?;
    check(&file.metadata().map_err(io)?)?;
    let mut data = Vec::new();
    file.take(limit + 1).read_to_end(&mut data).map_err(io)?;
    let truncated = data.len() as u64 > limit;
    data.truncate(limit as usize);
    Ok((data, truncated))
}

/// Reads a regular UTF-8 text file of at most `limit` bytes.
pub fn read_text(path: &Path, what: &str, limit: u64) -> Result<String, InputError> {
    let data = read_bytes(path, what, limit)?;
    String::from_utf8(data).map_err(|_| InputError::NotUtf8 {
        what: what.to_string(),
        path: path.to_path_buf(),
    })
}

/// Reads at most `limit` bytes from a reader (stdin, an HTTP body) as text.
pub fn read_text_from(reader: impl Read, what: &str, limit: u64) -> Result<String, InputError> {
    let data = read_bytes_from(reader, what, limit)?;
    String::from_utf8(data).map_err(|_| InputError::NotUtf8 {
        what: what.to_string(),
        path: PathBuf::from(what),
    })
}

/// Reads at most `limit` bytes from a reader (stdin, an HTTP body).
pub fn read_bytes_from(reader: impl Read, what: &str, limit: u64) -> Result<Vec<u8>, InputError> {
    let path = PathBuf::from(what);
    let mut data = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut data)
        .map_err(|source| InputError::Io {
            what: what.to_string(),
            path: path.clone(),
            source,
        })?;
    if data.len() as u64 > limit {
        return Err(InputError::TooLarge {
            what: what.to_string(),
            path,
            size: data.len() as u64,
            limit,
        });
    }
    Ok(data)
}

/// Checks that `path` (a file inside `root`, possibly through symlinks) resolves inside `root`,
/// and returns the resolved path. A path that does not exist is returned as given: the caller's
/// read reports it.
pub fn resolve_inside(root: &Path, path: &Path, what: &str) -> Result<PathBuf, InputError> {
    let root_real = std::fs::canonicalize(root).map_err(|source| InputError::Io {
        what: "project directory".to_string(),
        path: root.to_path_buf(),
        source,
    })?;
    let resolved = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !is_dangling_link(path) => {
            return Ok(path.to_path_buf())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling link: where it points decides, even though nothing is there yet.
            let target = std::fs::read_link(path).map_err(|source| InputError::Io {
                what: what.to_string(),
                path: path.to_path_buf(),
                source,
            })?;
            let base = path.parent().unwrap_or(Path::new("."));
            let joined = if target.is_absolute() {
                target
            } else {
                base.join(target)
            };
            lexical_normalise(&joined)
        }
        Err(source) => {
            return Err(InputError::Io {
                what: what.to_string(),
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if resolved.starts_with(&root_real) {
        Ok(resolved)
    } else {
        Err(InputError::OutsideProject {
            what: what.to_string(),
            path: path.to_path_buf(),
            resolved,
            root: root_real,
        })
    }
}

fn is_dangling_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Removes `.` and folds `..` without touching the file system.
fn lexical_normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Checks a path written in a project's configuration (`field` names where, for the error):
/// it must be relative and must not climb with `..`. Returns it joined to `root`; symlinks are
/// checked when the file is read ([`read_text_inside`]).
pub fn config_path(root: &Path, field: &str, value: &str) -> Result<PathBuf, InputError> {
    let p = Path::new(value);
    if p.is_absolute() {
        return Err(InputError::AbsolutePath {
            field: field.to_string(),
            value: value.to_string(),
            root: root.to_path_buf(),
        });
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(InputError::ParentDir {
            field: field.to_string(),
            value: value.to_string(),
        });
    }
    Ok(root.join(p))
}

/// Reads a text file that must stay inside `root` even through symlinks.
pub fn read_text_inside(
    root: &Path,
    path: &Path,
    what: &str,
    limit: u64,
) -> Result<String, InputError> {
    let resolved = resolve_inside(root, path, what)?;
    read_text(&resolved, what, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_within_the_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("values.yaml");
        std::fs::write(&p, "a: 1\n").unwrap();
        assert_eq!(read_text(&p, "values file", 100).unwrap(), "a: 1\n");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_by_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.yaml");
        // Sparse: 5 GiB on paper, nothing on disk, and never read.
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(5 * 1024 * 1024 * 1024).unwrap();
        let err = read_text(&p, "values file", MAX_CONFIG_BYTES).unwrap_err();
        assert!(matches!(err, InputError::TooLarge { size, .. } if size == 5 << 30));
        assert!(err.to_string().contains("big.yaml"), "{err}");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let p = test_files::fifo(&dir.path().join("pipe"));
        let err = read_text(&p, "values file", 100).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let err = read_bytes(Path::new("/dev/zero"), "spec file", 100).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
        let err = read_bytes(Path::new("/tmp"), "spec file", 100).unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");
    }

    #[test]
    fn a_stream_over_the_limit_is_refused_after_limit_plus_one_bytes() {
        let err = read_text_from(std::io::repeat(b'a'), "stdin", 1000).unwrap_err();
        assert!(matches!(err, InputError::TooLarge { size: 1001, .. }));
    }

    #[test]
    fn a_symlink_out_of_the_project_is_refused_and_one_inside_is_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "canary").unwrap();
        let project = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret"),
            project.path().join(".dockerignore"),
        )
        .unwrap();
        let err = read_text_inside(
            project.path(),
            &project.path().join(".dockerignore"),
            ".dockerignore",
            100,
        )
        .unwrap_err();
        assert!(matches!(err, InputError::OutsideProject { .. }), "{err}");
        assert!(!err.to_string().contains("canary"));

        std::fs::write(project.path().join("real"), "inside").unwrap();
        std::os::unix::fs::symlink("real", project.path().join("link")).unwrap();
        let text = read_text_inside(project.path(), &project.path().join("link"), "x", 100);
        assert_eq!(text.unwrap(), "inside");
    }

    #[test]
    fn a_dangling_symlink_pointing_out_is_refused() {
        let project = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("../../nowhere/x", project.path().join("spec.yaml")).unwrap();
        let err =
            resolve_inside(project.path(), &project.path().join("spec.yaml"), "spec").unwrap_err();
        assert!(matches!(err, InputError::OutsideProject { .. }), "{err}");
    }

    #[test]
    fn config_paths_must_be_relative_and_stay_inside() {
        let root = Path::new("/p");
        assert_eq!(
            config_path(root, "openapi.file", "api/openapi.yaml").unwrap(),
            PathBuf::from("/p/api/openapi.yaml")
        );
        let err = config_path(root, "openapi.file", "/etc/passwd").unwrap_err();
        assert!(err.to_string().contains("openapi.file"), "{err}");
        assert!(err.to_string().contains("absolute"), "{err}");
        let err = config_path(root, "openapi.file", "api/../../x").unwrap_err();
        assert!(err.to_string().contains("`..`"), "{err}");
    }
}

/// Special files for the tests of every module that reads user input through this one.
#[cfg(test)]
pub(crate) mod test_files {
    use std::path::{Path, PathBuf};

    /// Makes a FIFO at `path` (with mkfifo, as a user would) and returns the path.
    pub fn fifo(path: &Path) -> PathBuf {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo runs");
        assert!(made.success(), "mkfifo {}", path.display());
        path.to_path_buf()
    }
}
