//! Where an app writes at run time (framework conventions, SQLite URLs, log and upload
//! directories), as container paths with the reason each was found. The chart mounts a volume
//! at each and the generated Dockerfile gives the runtime user those paths only, so the root
//! filesystem can stay read-only.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use super::providers::ProjectDir;
use super::{Language, WritablePath};

/// Where the generated Dockerfile puts the app, which is also its working directory; `None`
/// for languages whose runtime has no app directory (Go and Rust run a binary from `/`, Java a
/// jar), where relative paths in code cannot be mapped and nothing is guessed.
pub fn app_root(language: Language) -> Option<&'static str> {
    match language {
        Language::Python | Language::Node => Some("/app"),
        _ => None,
    }
}

/// Directories that, present in the repository, are where apps conventionally write.
const CONVENTIONAL_DIRS: [&str; 3] = ["logs", "uploads", "data"];

/// Folders never read for code: dependencies and build output are not the app's.
const SKIPPED: [&str; 6] = [
    "node_modules/",
    ".venv/",
    "venv/",
    ".git/",
    "dist/",
    "build/",
];

/// Files kept in a directory only so that it exists in a checkout; a volume hiding them hides
/// nothing the app reads.
fn is_placeholder(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    [".gitkeep", ".keep", ".gitignore", ".placeholder"].contains(&base)
        || base.to_ascii_lowercase().starts_with("readme")
}

/// What one pass over a component's code found: the directories it writes, and the files it
/// writes in the app's own root (no volume can go there).
#[derive(Default)]
struct Scan {
    /// App-relative directory → the first reason seen.
    dirs: BTreeMap<String, String>,
    /// (file, reason) for writes straight into the app root.
    root_files: Vec<(String, String)>,
    /// App-relative directory → the repository files an empty volume there would hide.
    hidden: BTreeMap<String, Vec<String>>,
}

fn scan(dir: &ProjectDir<'_>, language: Language) -> Scan {
    let mut out = Scan::default();
    let prefix = if dir.path == "." {
        String::new()
    } else {
        format!("{}/", dir.path.trim_matches('/'))
    };
    let files: Vec<&str> = dir.tree.files_under(dir.path).collect();
    for file in &files {
        let rel = &file[prefix.len()..];
        if SKIPPED
            .iter()
            .any(|s| rel.starts_with(s) || rel.contains(&format!("/{s}")))
        {
            continue;
        }
        let is_code = match language {
            Language::Python => rel.ends_with(".py"),
            Language::Node => [".js", ".mjs", ".cjs", ".ts"]
                .iter()
                .any(|e| rel.ends_with(e)),
            _ => false,
        };
        let is_config = rel.ends_with(".env.example")
            || rel.ends_with(".cfg")
            || rel.ends_with(".ini")
            || rel.ends_with(".toml");
        if !is_code && !is_config {
            continue;
        }
        let Some(text) = dir.tree.read(file) else {
            continue;
        };
        for (target, why) in scan_text(&text, language) {
            let why = format!("{rel}: {why}");
            match target {
                Target::Dir(d) => {
                    out.dirs.entry(d).or_insert(why);
                }
                Target::RootFile(f) => out.root_files.push((f, why)),
            }
        }
    }
    for name in CONVENTIONAL_DIRS {
        let inside = format!("{prefix}{name}/");
        let kept: Vec<&str> = files
            .iter()
            .filter(|f| f.starts_with(&inside))
            .copied()
            .collect();
        // A conventional directory that holds real files is read, not written, unless the
        // code says otherwise: an empty volume there would hide what the app ships.
        if !kept.is_empty() && kept.iter().all(|f| is_placeholder(f)) {
            out.dirs
                .entry(name.to_string())
                .or_insert_with(|| format!("{name}/ is in the repository, empty"));
        }
    }
    for d in out.dirs.keys() {
        let inside = format!("{prefix}{d}/");
        let shipped: Vec<String> = files
            .iter()
            .filter(|f| f.starts_with(&inside) && !is_placeholder(f))
            .map(|f| f[prefix.len()..].to_string())
            .collect();
        if !shipped.is_empty() {
            out.hidden.insert(d.clone(), shipped);
        }
    }
    out
}

/// The writable directories of the component in `dir`, as absolute container paths, sorted.
pub(super) fn detect(dir: &ProjectDir<'_>, language: Language) -> Vec<WritablePath> {
    let Some(root) = app_root(language) else {
        return Vec::new();
    };
    scan(dir, language)
        .dirs
        .into_iter()
        .map(|(rel, reason)| WritablePath {
            path: format!("{root}/{rel}"),
            reason,
        })
        .collect()
}

/// What a user must change for the component in `dir` to run with a read-only root: writes
/// into the app's own directory (a volume there would hide the code, so they would fail), and
/// repository files that the empty volume of a writable path hides.
pub(super) fn warnings(dir: &ProjectDir<'_>, language: Language) -> Vec<String> {
    let Some(root) = app_root(language) else {
        return Vec::new();
    };
    let found = scan(dir, language);
    let mut out = Vec::new();
    for (file, why) in &found.root_files {
        out.push(format!(
            "{why} writes {root}/{file} in the app's own directory, which stays read-only (a volume there would hide the code{sqlite}); fix: move it into a subdirectory, e.g. data/{file}, which then gets a writable volume at {root}/data (or list that directory under the component's `writable:` in justpush.yaml)",
            sqlite = if is_sqlite(file, why) {
                "; SQLite also needs the file's directory writable for its journal"
            } else {
                ""
            }
        ));
    }
    for (d, files) in &found.hidden {
        let shown: Vec<&str> = files.iter().take(3).map(String::as_str).collect();
        let more = if files.len() > 3 {
            format!(" and {} more", files.len() - 3)
        } else {
            String::new()
        };
        out.push(format!(
            "{root}/{d} gets an empty volume (writable at run time), which hides {}{more} from the repository; create those files at start-up, or move them out of {d}/",
            shown.join(", ")
        ));
    }
    out
}

fn is_sqlite(file: &str, why: &str) -> bool {
    why.contains("SQLite")
        || why.contains("database NAME")
        || [".db", ".sqlite", ".sqlite3"]
            .iter()
            .any(|e| file.ends_with(e))
}

/// Where a write found in code lands, relative to the app directory.
enum Target {
    /// A subdirectory: it gets a volume.
    Dir(String),
    /// A file in the app directory itself: it cannot.
    RootFile(String),
}

/// The app-relative directories `text` writes to, each with the code that shows it.
fn scan_text(text: &str, language: Language) -> Vec<(Target, String)> {
    static FLASK_INSTANCE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"instance_relative_config\s*=\s*True|\.instance_path\b").unwrap()
    });
    // Three slashes then a relative path: relative to the working directory (or, under
    // Flask-SQLAlchemy 3, to the instance folder). Four slashes is absolute and not ours.
    static SQLITE_URL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"sqlite:///([^/\s'"][^\s'"?]*)"#).unwrap());
    static DJANGO_SQLITE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"["']NAME["']\s*:\s*(?:BASE_DIR\s*/\s*|os\.path\.join\(\s*BASE_DIR\s*,\s*)((?:["'][^"']+["']\s*[/,]?\s*)+)"#,
        )
        .unwrap()
    });
    static DJANGO_MEDIA: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"MEDIA_ROOT\s*=\s*(?:BASE_DIR\s*/\s*|os\.path\.join\(\s*BASE_DIR\s*,\s*)["']([^"']+)["']"#,
        )
        .unwrap()
    });
    static PY_WRITES: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(os\.makedirs|os\.mkdir|FileHandler|RotatingFileHandler|TimedRotatingFileHandler)\(\s*["']([^"']+)["']"#,
        )
        .unwrap()
    });
    static NODE_WRITES: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(mkdirSync|mkdir|createWriteStream|writeFileSync|appendFileSync)\(\s*(?:path\.join\(\s*__dirname\s*,\s*)?["'`]([^"'`$]+)["'`]"#,
        )
        .unwrap()
    });
    static MULTER_DEST: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"\bdest\s*:\s*["'`]([^"'`$]+)["'`]"#).unwrap());

    let mut out = Vec::new();
    let flask = language == Language::Python && text.contains("flask");
    if flask && FLASK_INSTANCE.is_match(text) {
        out.push((
            Target::Dir("instance".to_string()),
            "Flask's instance folder".to_string(),
        ));
    }
    for cap in SQLITE_URL.captures_iter(text) {
        let file = &cap[1];
        // Flask-SQLAlchemy puts a relative SQLite file in the instance folder.
        let (placed, why) = if flask && text.contains("flask_sqlalchemy") {
            (format!("instance/{file}"), "Flask-SQLAlchemy SQLite file")
        } else {
            (file.to_string(), "SQLite file")
        };
        if let Some(t) = file_target(&placed) {
            out.push((t, format!("{why} `sqlite:///{file}`")));
        }
    }
    if language == Language::Python {
        for cap in DJANGO_SQLITE.captures_iter(text) {
            // `BASE_DIR / 'db' / 'db.sqlite3'` and `os.path.join(BASE_DIR, 'db', 'x')` alike.
            let name = cap[1]
                .split(['"', '\''])
                .skip(1)
                .step_by(2)
                .collect::<Vec<_>>()
                .join("/");
            if let Some(t) = file_target(&name) {
                out.push((t, format!("Django database NAME `{name}`")));
            }
        }
        for cap in DJANGO_MEDIA.captures_iter(text) {
            if let Some(d) = clean_dir(&cap[1]) {
                out.push((Target::Dir(d), format!("Django MEDIA_ROOT `{}`", &cap[1])));
            }
        }
        for cap in PY_WRITES.captures_iter(text) {
            let target = if cap[1].ends_with("Handler") {
                file_target(&cap[2])
            } else {
                clean_dir(&cap[2]).map(Target::Dir)
            };
            if let Some(t) = target {
                out.push((t, format!("{}(\"{}\")", &cap[1], &cap[2])));
            }
        }
    }
    if language == Language::Node {
        for cap in NODE_WRITES.captures_iter(text) {
            let target = if cap[1].starts_with("mkdir") {
                clean_dir(&cap[2]).map(Target::Dir)
            } else {
                file_target(&cap[2])
            };
            if let Some(t) = target {
                out.push((t, format!("{}('{}')", &cap[1], &cap[2])));
            }
        }
        for cap in MULTER_DEST.captures_iter(text) {
            if let Some(d) = clean_dir(&cap[1]) {
                out.push((
                    Target::Dir(d),
                    format!("upload destination `dest: '{}'`", &cap[1]),
                ));
            }
        }
    }
    out
}

/// Where writing file `rel` lands: its directory when that is a subdirectory of the app, or
/// the file itself when it sits in the app's own root (`db.sqlite3`), which no volume can
/// cover without hiding the code. `None` for paths that leave the app or are not plain names.
fn file_target(rel: &str) -> Option<Target> {
    let rel = rel.trim_start_matches("./");
    match rel.rsplit_once('/') {
        Some((dir, _)) => clean_dir(dir).map(Target::Dir),
        None => clean_dir(rel).map(Target::RootFile),
    }
}

/// `rel` as a clean app-relative directory: no `..`, not absolute, not the app root, and only
/// letters, digits and `-._` in each segment, so a hostile project cannot point a volume (or a
/// Dockerfile `RUN`) outside the app.
fn clean_dir(rel: &str) -> Option<String> {
    let rel = rel.trim_start_matches("./").trim_end_matches('/');
    if rel.is_empty() || rel.starts_with('/') {
        return None;
    }
    let segments: Vec<&str> = rel
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let ok = !segments.is_empty()
        && segments.iter().all(|s| {
            *s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        });
    ok.then(|| segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::tree::SourceTree;

    fn found(files: &[(&str, &str)], language: Language) -> Vec<(String, String)> {
        let tree = SourceTree::from_memory(files.iter().map(|(p, c)| (*p, *c)));
        detect(&ProjectDir::new(&tree, "."), language)
            .into_iter()
            .map(|w| (w.path, w.reason))
            .collect()
    }

    fn paths(files: &[(&str, &str)], language: Language) -> Vec<String> {
        found(files, language).into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn flask_instance_folder_and_log_handler() {
        let app = "from flask import Flask\nfrom flask_sqlalchemy import SQLAlchemy\n\
                   app = Flask(__name__, instance_relative_config=True)\n\
                   app.config['SQLALCHEMY_DATABASE_URI'] = 'sqlite:///site.db'\n\
                   h = logging.FileHandler('logs/app.log')\n";
        let got = found(&[("app.py", app)], Language::Python);
        assert_eq!(
            got,
            vec![
                (
                    "/app/instance".into(),
                    "app.py: Flask's instance folder".into()
                ),
                (
                    "/app/logs".into(),
                    "app.py: FileHandler(\"logs/app.log\")".into()
                ),
            ]
        );
    }

    #[test]
    fn sqlite_urls_relative_to_the_working_dir() {
        assert_eq!(
            paths(
                &[(".env.example", "DATABASE_URL=sqlite:///./data/app.db\n")],
                Language::Python
            ),
            vec!["/app/data"]
        );
        // A file in the app root cannot get a volume; four slashes is absolute, not ours.
        assert!(paths(
            &[(
                "main.py",
                "u = 'sqlite:///app.db'\nv = 'sqlite:////var/x/y.db'\n"
            )],
            Language::Python
        )
        .is_empty());
    }

    #[test]
    fn django_sqlite_and_media_but_not_static_root() {
        let settings =
            "DATABASES = {'default': {'ENGINE': 'x', 'NAME': BASE_DIR / 'db' / 'db.sqlite3'}}\n\
                        STATIC_ROOT = BASE_DIR / 'staticfiles'\n\
                        MEDIA_ROOT = os.path.join(BASE_DIR, 'media')\n";
        assert_eq!(
            paths(&[("site/settings.py", settings)], Language::Python),
            vec!["/app/db", "/app/media"]
        );
    }

    #[test]
    fn node_uploads_and_repo_dirs() {
        let server = "const upload = multer({ dest: 'uploads/' });\n\
                      fs.mkdirSync(path.join(__dirname, 'cache/img'), {recursive: true});\n";
        let got = paths(
            &[
                ("server.js", server),
                ("logs/.gitkeep", ""),
                ("node_modules/x/index.js", "fs.mkdirSync('nope')"),
            ],
            Language::Node,
        );
        assert_eq!(got, vec!["/app/cache/img", "/app/logs", "/app/uploads"]);
    }

    #[test]
    fn hostile_paths_never_leave_the_app() {
        let code = "os.makedirs('../../etc')\nos.makedirs('/etc/x')\n\
                    logging.FileHandler('a b/$(id)/x.log')\nos.makedirs('ok/../..')\n";
        assert!(paths(&[("app.py", code)], Language::Python).is_empty());
    }

    fn warned(files: &[(&str, &str)], language: Language) -> Vec<String> {
        let tree = SourceTree::from_memory(files.iter().map(|(p, c)| (*p, *c)));
        warnings(&ProjectDir::new(&tree, "."), language)
    }

    #[test]
    fn a_sqlite_file_in_the_app_root_is_a_warning_naming_setting_file_and_fix() {
        let settings = "BASE_DIR = Path(__file__).resolve().parent.parent\n\
                        DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': BASE_DIR / 'db.sqlite3'}}\n";
        let files = [("mysite/settings.py", settings)];
        assert!(paths(&files, Language::Python).is_empty());
        let got = warned(&files, Language::Python);
        assert_eq!(got.len(), 1, "{got:?}");
        for part in [
            "mysite/settings.py: Django database NAME `db.sqlite3`",
            "/app/db.sqlite3",
            "read-only",
            "journal",
            "data/db.sqlite3",
            "writable volume at /app/data",
            "`writable:` in justpush.yaml",
        ] {
            assert!(got[0].contains(part), "`{part}` missing: {}", got[0]);
        }
        // Not only SQLite: a log file in the root, and Node's too.
        let log = warned(
            &[("app.py", "logging.FileHandler('app.log')")],
            Language::Python,
        );
        assert!(
            log[0].contains("/app/app.log") && !log[0].contains("journal"),
            "{log:?}"
        );
        let node = warned(
            &[("server.js", "fs.appendFileSync('visits.txt', 'x')")],
            Language::Node,
        );
        assert!(node[0].contains("/app/visits.txt"), "{node:?}");
        // Placed in a subdirectory, it is a writable path and nothing to warn about.
        let moved = [("app.py", "URL = 'sqlite:///data/app.db'")];
        assert_eq!(paths(&moved, Language::Python), ["/app/data"]);
        assert!(warned(&moved, Language::Python).is_empty());
    }

    #[test]
    fn shipped_files_are_not_hidden_by_a_guessed_volume_and_are_named_when_written_over() {
        // data/ with real content and no code writing there is read, not written.
        let repo_only = [("data/countries.json", "[]"), ("app.py", "")];
        assert!(paths(&repo_only, Language::Python).is_empty());
        assert!(warned(&repo_only, Language::Python).is_empty());
        // Placeholders only: the directory exists to be written to.
        assert_eq!(
            paths(&[("uploads/.gitkeep", "")], Language::Node),
            ["/app/uploads"]
        );
        // Code writes there and the repository ships a file there: the volume hides it.
        let both = [
            ("data/seed.csv", "a,b"),
            ("app.py", "os.makedirs('data', exist_ok=True)"),
        ];
        assert_eq!(paths(&both, Language::Python), ["/app/data"]);
        let got = warned(&both, Language::Python);
        assert!(
            got.len() == 1 && got[0].contains("/app/data") && got[0].contains("data/seed.csv"),
            "{got:?}"
        );
    }

    #[test]
    fn binaries_without_an_app_dir_get_no_guess() {
        assert!(paths(&[("logs/.gitkeep", "")], Language::Go).is_empty());
    }
}
