//! Loading a Helm chart from a directory, a `.tgz` archive or the copy embedded in the binary,
//! into plain data: metadata, default values, schema, templates, other files and subcharts.

use flate2::read::GzDecoder;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The bundled chart, compiled into the binary so `kubectl-justpush` works anywhere.
static BUNDLED: include_dir::Dir<'static> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/chart");

/// A chart's files by path relative to the chart root.
pub type ChartFiles = BTreeMap<String, Vec<u8>>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("chart {path}: no such file or directory; pass a chart directory or .tgz archive, or omit CHART for the bundled chart")]
    NotFound { path: PathBuf },
    #[error("chart {path}: cannot read {what}: {source}")]
    Io {
        path: PathBuf,
        what: String,
        source: std::io::Error,
    },
    #[error("chart {chart}: {file} is not valid YAML: {message}")]
    BadYaml {
        chart: String,
        file: String,
        message: String,
    },
    #[error("chart {chart}: values.schema.json is not valid JSON: {message}")]
    BadSchema { chart: String, message: String },
    #[error("chart {chart}: Chart.yaml is missing; a chart directory needs Chart.yaml with apiVersion, name and version")]
    NoChartYaml { chart: String },
    #[error("chart {chart}: Chart.yaml: {message}")]
    BadMetadata { chart: String, message: String },
    /// A file of a chart directory was refused unread: a symlink leading out of the chart, a
    /// FIFO or device, or a file over the size limit.
    #[error("chart {chart}: {source}")]
    Refused {
        chart: PathBuf,
        #[source]
        source: crate::input::InputError,
    },
}

/// A dependency declared in Chart.yaml.
#[derive(Debug, Clone, Default)]
pub struct Dependency {
    pub name: String,
    pub alias: Option<String>,
    pub condition: Option<String>,
    pub tags: Vec<String>,
}

/// A loaded chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Chart.yaml as data.
    pub metadata: serde_json::Value,
    pub name: String,
    pub version: String,
    pub app_version: String,
    /// values.yaml (an empty map when absent).
    pub values: serde_json::Value,
    pub schema: Option<serde_json::Value>,
    /// `templates/...` paths and their sources.
    pub templates: Vec<(String, String)>,
    /// Every other file, for `.Files`.
    pub files: ChartFiles,
    pub dependencies: Vec<Dependency>,
    pub subcharts: Vec<Chart>,
}

impl Chart {
    /// Loads the chart embedded in the binary.
    pub fn bundled() -> Result<Chart, LoadError> {
        let mut files = ChartFiles::new();
        collect_embedded(&BUNDLED, &mut files);
        Chart::from_files("justpush (bundled)", files)
    }

    /// Loads a chart from a directory or a `.tgz` archive.
    pub fn load(path: &Path) -> Result<Chart, LoadError> {
        if !path.exists() {
            return Err(LoadError::NotFound {
                path: path.to_path_buf(),
            });
        }
        let files = if path.is_dir() {
            read_dir_files(path)?
        } else {
            read_archive(path)?
        };
        Chart::from_files(&path.display().to_string(), files)
    }

    /// Builds a chart from its files (paths relative to the chart root).
    pub fn from_files(origin: &str, files: ChartFiles) -> Result<Chart, LoadError> {
        let mut unpack_budget = MAX_CHART_UNPACKED_BYTES;
        Chart::from_files_within(origin, files, &mut unpack_budget)
    }

    /// [`Chart::from_files`], with the bytes that subchart archives may still unpack to: one
    /// budget for the whole tree, so archives nested in archives cannot multiply it.
    fn from_files_within(
        origin: &str,
        files: ChartFiles,
        unpack_budget: &mut u64,
    ) -> Result<Chart, LoadError> {
        let files = apply_helmignore(files);
        let chart_yaml = files
            .get("Chart.yaml")
            .ok_or_else(|| LoadError::NoChartYaml {
                chart: origin.to_string(),
            })?;
        crate::yaml_limits::check_yaml(&String::from_utf8_lossy(chart_yaml)).map_err(|e| {
            LoadError::BadYaml {
                chart: origin.to_string(),
                file: "Chart.yaml".into(),
                message: e.to_string(),
            }
        })?;
        let metadata: serde_json::Value =
            serde_yaml::from_slice(chart_yaml).map_err(|e| LoadError::BadYaml {
                chart: origin.to_string(),
                file: "Chart.yaml".into(),
                message: e.to_string(),
            })?;
        let field = |k: &str| {
            metadata.get(k).and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_f64().map(|f| f.to_string()))
            })
        };
        let name = field("name").ok_or_else(|| LoadError::BadMetadata {
            chart: origin.into(),
            message: "name is required".into(),
        })?;
        let version = field("version").ok_or_else(|| LoadError::BadMetadata {
            chart: origin.into(),
            message: "version is required".into(),
        })?;
        let app_version = field("appVersion").unwrap_or_default();
        // Chart defaults are read with the same YAML rules as `-f` files (Helm's YAML 1.1).
        let values = match files.get("values.yaml") {
            Some(b) => serde_json::Value::Object(
                super::values::parse_values_yaml(&String::from_utf8_lossy(b)).map_err(
                    |message| LoadError::BadYaml {
                        chart: name.clone(),
                        file: "values.yaml".into(),
                        message,
                    },
                )?,
            ),
            None => serde_json::json!({}),
        };
        let schema = match files.get("values.schema.json") {
            Some(b) => Some(serde_json::from_slice(b).map_err(|e| LoadError::BadSchema {
                chart: name.clone(),
                message: e.to_string(),
            })?),
            None => None,
        };
        let dependencies = metadata
            .get("dependencies")
            .and_then(|d| d.as_array())
            .map(|deps| {
                deps.iter()
                    .map(|d| Dependency {
                        name: d
                            .get("name")
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_string(),
                        alias: d.get("alias").and_then(|v| v.as_str()).map(str::to_string),
                        condition: d
                            .get("condition")
                            .and_then(|v| v.as_str())
                            .map(str::to_string),
                        tags: d
                            .get("tags")
                            .and_then(|t| t.as_array())
                            .map(|t| {
                                t.iter()
                                    .filter_map(|x| x.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut templates = Vec::new();
        let mut other = ChartFiles::new();
        let mut sub_files: BTreeMap<String, ChartFiles> = BTreeMap::new();
        let mut sub_archives = Vec::new();
        for (path, data) in files {
            if let Some(rest) = path.strip_prefix("charts/") {
                match rest.split_once('/') {
                    Some((dir, inner)) => {
                        sub_files
                            .entry(dir.to_string())
                            .or_default()
                            .insert(inner.to_string(), data);
                    }
                    None if rest.ends_with(".tgz") || rest.ends_with(".tar.gz") => {
                        sub_archives.push((rest.to_string(), data))
                    }
                    None => {}
                }
            } else if path.starts_with("templates/") {
                templates.push((path, String::from_utf8_lossy(&data).into_owned()));
            } else if !matches!(
                path.as_str(),
                "Chart.yaml"
                    | "values.yaml"
                    | "values.schema.json"
                    | "Chart.lock"
                    | "requirements.yaml"
                    | "requirements.lock"
            ) {
                other.insert(path, data);
            }
        }
        let mut subcharts = Vec::new();
        for (dir, f) in sub_files {
            subcharts.push(Chart::from_files_within(
                &format!("{name}/charts/{dir}"),
                f,
                unpack_budget,
            )?);
        }
        for (file, data) in sub_archives {
            let f = untar(&data, unpack_budget).map_err(|e| LoadError::Io {
                path: PathBuf::from(&file),
                what: "subchart archive".into(),
                source: e,
            })?;
            subcharts.push(Chart::from_files_within(
                &format!("{name}/charts/{file}"),
                f,
                unpack_budget,
            )?);
        }
        Ok(Chart {
            metadata,
            name,
            version,
            app_version,
            values,
            schema,
            templates,
            files: other,
            dependencies,
            subcharts,
        })
    }
}

fn collect_embedded(dir: &include_dir::Dir<'static>, out: &mut ChartFiles) {
    for f in dir.files() {
        out.insert(
            f.path().to_string_lossy().replace('\\', "/"),
            f.contents().to_vec(),
        );
    }
    for d in dir.dirs() {
        collect_embedded(d, out);
    }
}

/// Reads every file under a chart directory. Symlinks are followed only while they stay in
/// the chart: a template linked to `/etc/passwd` or `~/.kube/config` would otherwise be
/// rendered (or quoted in a template error) into the output. Each directory is read once, so
/// a link back up the tree cannot loop.
fn read_dir_files(root: &Path) -> Result<ChartFiles, LoadError> {
    let refused = |source| LoadError::Refused {
        chart: root.to_path_buf(),
        source,
    };
    let mut out = ChartFiles::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let real = crate::input::resolve_inside(root, &dir, "chart directory").map_err(refused)?;
        if !seen.insert(real) {
            continue;
        }
        let entries = std::fs::read_dir(&dir).map_err(|e| LoadError::Io {
            path: dir.clone(),
            what: "directory".into(),
            source: e,
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| LoadError::Io {
                path: dir.clone(),
                what: "directory entry".into(),
                source: e,
            })?;
            let p = entry.path();
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            let what = format!("chart file {rel}");
            let resolved = crate::input::resolve_inside(root, &p, &what).map_err(refused)?;
            if resolved.is_dir() {
                stack.push(p);
                continue;
            }
            let data =
                crate::input::read_bytes(&resolved, &what, crate::input::MAX_CHART_FILE_BYTES)
                    .map_err(refused)?;
            out.insert(rel, data);
        }
    }
    Ok(out)
}

fn read_archive(path: &Path) -> Result<ChartFiles, LoadError> {
    // Through input.rs: a FIFO or device given as the chart is refused, never read.
    let data = crate::input::read_bytes(path, "chart archive", crate::input::MAX_CHART_FILE_BYTES)
        .map_err(|source| LoadError::Refused {
            chart: path.to_path_buf(),
            source,
        })?;
    let mut unpack_budget = MAX_CHART_UNPACKED_BYTES;
    untar(&data, &mut unpack_budget).map_err(|e| LoadError::Io {
        path: path.to_path_buf(),
        what: "archive (expected a gzipped tar of a chart directory)".into(),
        source: e,
    })
}

/// Most bytes the archives of one chart tree (the chart and its subchart archives) unpack to:
/// a gzip bomb stops here instead of filling memory.
pub const MAX_CHART_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;
/// Most entries one chart archive may hold.
pub const MAX_CHART_ARCHIVE_ENTRIES: usize = 10_000;

fn over_limit(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// Unpacks a chart archive, dropping the top directory (`kong/templates/x` → `templates/x`).
/// Every entry is read through a limit (the tar header's size is not trusted), each file at
/// most [`crate::input::MAX_CHART_FILE_BYTES`], and `unpack_budget` shrinks by what is read.
fn untar(data: &[u8], unpack_budget: &mut u64) -> std::io::Result<ChartFiles> {
    let mut out = ChartFiles::new();
    let mut ar = tar::Archive::new(GzDecoder::new(data));
    for (count, entry) in ar.entries()?.enumerate() {
        if count >= MAX_CHART_ARCHIVE_ENTRIES {
            return Err(over_limit(format!(
                "it holds more than {MAX_CHART_ARCHIVE_ENTRIES} entries; a chart needs far fewer"
            )));
        }
        let entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path()?.to_string_lossy().replace('\\', "/");
        let Some((_, rel)) = path.split_once('/') else {
            continue;
        };
        if rel.split('/').any(|c| c == "..") {
            continue;
        }
        let limit = crate::input::MAX_CHART_FILE_BYTES.min(*unpack_budget);
        let mut buf = Vec::new();
        entry.take(limit + 1).read_to_end(&mut buf)?;
        if buf.len() as u64 > limit {
            return Err(over_limit(format!(
                "{rel} unpacks past the limit ({} bytes a file, {MAX_CHART_UNPACKED_BYTES} bytes \
                 a chart tree); is it a gzip bomb?",
                crate::input::MAX_CHART_FILE_BYTES
            )));
        }
        *unpack_budget -= buf.len() as u64;
        out.insert(rel.to_string(), buf);
    }
    Ok(out)
}

/// Drops files matched by the chart's `.helmignore` (Helm's rules: a pattern without a slash
/// matches any path component; with one, the path from the root; a trailing slash matches
/// directories; `!` negates).
fn apply_helmignore(mut files: ChartFiles) -> ChartFiles {
    let Some(ignore) = files.remove(".helmignore") else {
        return files;
    };
    let rules: Vec<(bool, bool, regex::Regex, bool)> = String::from_utf8_lossy(&ignore)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (neg, l) = match l.strip_prefix('!') {
                Some(r) => (true, r),
                None => (false, l),
            };
            let dir_only = l.ends_with('/');
            let l = l.trim_end_matches('/');
            let anchored = l.contains('/');
            let l = l.trim_start_matches('/');
            glob_regex(l).map(|re| (neg, dir_only, re, anchored))
        })
        .collect();
    files.retain(|path, _| {
        let comps: Vec<&str> = path.split('/').collect();
        let mut ignored = false;
        for (neg, dir_only, re, anchored) in &rules {
            // Check every prefix of the path (directories) and the file itself.
            let hit = (1..=comps.len()).any(|n| {
                let is_dir = n < comps.len();
                if *dir_only && !is_dir {
                    return false;
                }
                if *anchored {
                    re.is_match(&comps[..n].join("/"))
                } else {
                    re.is_match(comps[n - 1])
                }
            });
            if hit {
                ignored = !neg;
            }
        }
        !ignored
    });
    files
}

fn glob_regex(glob: &str) -> Option<regex::Regex> {
    let mut re = String::from("^");
    for c in glob.chars() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' | ']' => re.push(c),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helmignore_drops_directories_and_globs() {
        let mut f = ChartFiles::new();
        for p in [
            ".helmignore",
            "Chart.yaml",
            "ci/a.yaml",
            "templates/tests/t.yaml",
            "templates/d.yaml",
            "x.swp",
            "sub/ci/z",
        ] {
            f.insert(p.to_string(), b"x".to_vec());
        }
        f.insert(
            ".helmignore".into(),
            b"ci\ntemplates/tests\n*.swp\n".to_vec(),
        );
        let kept: Vec<String> = apply_helmignore(f).into_keys().collect();
        assert_eq!(kept, vec!["Chart.yaml", "templates/d.yaml"]);
    }

    fn chart_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("templates")).unwrap();
        std::fs::write(
            dir.path().join("Chart.yaml"),
            "apiVersion: v2\nname: t\nversion: 0.1.0\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn a_chart_file_that_links_out_of_the_chart_is_refused_unread() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("passwd"), "root:CANARY-hash:0:0\n").unwrap();
        for link in ["templates/leak.yaml", "files/leak.txt"] {
            let chart = chart_dir();
            let path = chart.path().join(link);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(outside.path().join("passwd"), &path).unwrap();
            let err = Chart::load(chart.path()).unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, LoadError::Refused { .. }), "{message}");
            assert!(message.contains(link), "{message}");
            assert!(message.contains("outside the project"), "{message}");
            assert!(!message.contains("CANARY"), "{message}");
        }
    }

    #[test]
    fn a_chart_directory_that_links_out_of_the_chart_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x.yaml"), "kind: CANARY").unwrap();
        let chart = chart_dir();
        std::os::unix::fs::symlink(outside.path(), chart.path().join("templates/more")).unwrap();
        let err = Chart::load(chart.path()).unwrap_err();
        assert!(err.to_string().contains("templates/more"), "{err}");
        assert!(!err.to_string().contains("CANARY"), "{err}");
    }

    #[test]
    fn links_inside_the_chart_are_followed_and_a_loop_ends() {
        let chart = chart_dir();
        std::fs::write(chart.path().join("templates/_real.tpl"), "{{/* x */}}").unwrap();
        std::os::unix::fs::symlink("_real.tpl", chart.path().join("templates/_alias.tpl")).unwrap();
        // A directory link back up the tree: read once, not forever.
        std::os::unix::fs::symlink("..", chart.path().join("templates/up")).unwrap();
        let loaded = Chart::load(chart.path()).unwrap();
        let names: Vec<&str> = loaded.templates.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            names.iter().any(|n| n.ends_with("templates/_alias.tpl")),
            "{names:?}"
        );
    }

    #[test]
    fn a_fifo_in_a_chart_is_refused_without_blocking() {
        let chart = chart_dir();
        crate::input::test_files::fifo(&chart.path().join("templates/pipe.yaml"));
        let err = Chart::load(chart.path()).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
    }

    #[test]
    fn bundled_chart_loads() {
        let c = Chart::bundled().expect("bundled chart");
        assert_eq!(c.name, "justpush");
        assert!(!c.templates.is_empty());
    }

    /// A gzipped tar of `files` under a top directory `c/`.
    fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (path, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, format!("c/{path}"), *data)
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn an_archive_entry_that_unpacks_past_the_file_limit_is_refused() {
        // 17 MiB of zeros gzip to a few KiB: a small gzip bomb.
        let zeros = vec![0u8; (crate::input::MAX_CHART_FILE_BYTES + (1 << 20)) as usize];
        let data = tgz(&[("Chart.yaml", b"name: c\nversion: 1\n"), ("x.bin", &zeros)]);
        assert!(data.len() < 1 << 20);
        let mut budget = MAX_CHART_UNPACKED_BYTES;
        let err = untar(&data, &mut budget).unwrap_err();
        assert!(err.to_string().contains("gzip bomb"), "{err}");
    }

    #[test]
    fn the_unpack_budget_is_shared_by_the_whole_tree() {
        let data = tgz(&[("a", &[1u8; 600]), ("b", &[2u8; 600])]);
        let mut budget = 1000;
        assert!(untar(&data, &mut budget).is_err());
        let mut budget = 1200;
        assert_eq!(untar(&data, &mut budget).unwrap().len(), 2);
        assert_eq!(budget, 0);
    }

    #[test]
    fn a_chart_path_that_is_a_fifo_or_device_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = crate::input::test_files::fifo(&dir.path().join("chart.tgz"));
        for path in [fifo.as_path(), Path::new("/dev/zero")] {
            let err = Chart::load(path).unwrap_err();
            assert!(matches!(err, LoadError::Refused { .. }), "{err}");
        }
    }

    #[test]
    fn an_alias_bomb_in_a_charts_values_is_refused() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..=10 {
            let items = vec![format!("*a{}", i - 1); 9].join(", ");
            bomb.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        let mut files = ChartFiles::new();
        files.insert("Chart.yaml".into(), b"name: c\nversion: 1.0.0\n".to_vec());
        files.insert("values.yaml".into(), bomb.into_bytes());
        let err = Chart::from_files("c", files).unwrap_err();
        assert!(err.to_string().contains("alias bomb"), "{err}");
    }
}
