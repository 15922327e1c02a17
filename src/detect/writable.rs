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

/// The writable directories of the component in `dir`, as absolute container paths, sorted.
pub(super) fn detect(dir: &ProjectDir<'_>, language: Language) -> Vec<WritablePath> {
    let Some(root) = app_root(language) else {
        return Vec::new();
    };
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    let prefix = if dir.path == "." {
        String::new()
    } else {
        format!("{}/", dir.path.trim_matches('/'))
    };
    let files: Vec<&str> = dir.tree.files_under(dir.path).collect();
    for name in CONVENTIONAL_DIRS {
        let inside = format!("{prefix}{name}/");
        if files.iter().any(|f| f.starts_with(&inside)) {
            found
                .entry(name.to_string())
                .or_insert_with(|| format!("{name}/ is in the repository"));
        }
    }
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
        for (path, why) in scan_text(&text, language) {
            found.entry(path).or_insert_with(|| format!("{rel}: {why}"));
        }
    }
    found
        .into_iter()
        .map(|(rel, reason)| WritablePath {
            path: format!("{root}/{rel}"),
            reason,
        })
        .collect()
}

/// The app-relative directories `text` writes to, each with the code that shows it.
fn scan_text(text: &str, language: Language) -> Vec<(String, String)> {
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
            "instance".to_string(),
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
        if let Some(d) = parent_dir(&placed) {
            out.push((d, format!("{why} `sqlite:///{file}`")));
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
            if let Some(d) = parent_dir(&name) {
                out.push((d, format!("Django database NAME `{name}`")));
            }
        }
        for cap in DJANGO_MEDIA.captures_iter(text) {
            if let Some(d) = clean_dir(&cap[1]) {
                out.push((d, format!("Django MEDIA_ROOT `{}`", &cap[1])));
            }
        }
        for cap in PY_WRITES.captures_iter(text) {
            let dir = if cap[1].ends_with("Handler") {
                parent_dir(&cap[2])
            } else {
                clean_dir(&cap[2])
            };
            if let Some(d) = dir {
                out.push((d, format!("{}(\"{}\")", &cap[1], &cap[2])));
            }
        }
    }
    if language == Language::Node {
        for cap in NODE_WRITES.captures_iter(text) {
            let dir = if cap[1].starts_with("mkdir") {
                clean_dir(&cap[2])
            } else {
                parent_dir(&cap[2])
            };
            if let Some(d) = dir {
                out.push((d, format!("{}('{}')", &cap[1], &cap[2])));
            }
        }
        for cap in MULTER_DEST.captures_iter(text) {
            if let Some(d) = clean_dir(&cap[1]) {
                out.push((d, format!("upload destination `dest: '{}'`", &cap[1])));
            }
        }
    }
    out
}

/// The directory holding file `rel`, if that is a subdirectory of the app. A file in the app's
/// own root (`db.sqlite3`) has none: a volume there would hide the code, so it is not a
/// writable path (docs/projects/writable.md says which setting to change).
fn parent_dir(rel: &str) -> Option<String> {
    let rel = rel.trim_start_matches("./");
    let (dir, _) = rel.rsplit_once('/')?;
    clean_dir(dir)
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

    #[test]
    fn binaries_without_an_app_dir_get_no_guess() {
        assert!(paths(&[("logs/.gitkeep", "")], Language::Go).is_empty());
    }
}
