//! Python projects: `pyproject.toml` (uv or Poetry), `requirements.txt`, `setup.py`. FastAPI,
//! Flask and Django get a production server (uvicorn or gunicorn); when the project does not
//! depend on one, a pinned one is added to the image.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use super::{argv, default_port, existing, Hints, Plan, ProjectDir, Provider};
use crate::detect::{scan, value_rules, BuildPlan, DetectError, Framework, Language, Template};

/// Pinned tools installed in builder stages.
pub const UV_VERSION: &str = "0.13.9";
pub const POETRY_VERSION: &str = "2.1.4";
/// Servers added when a project needs one and does not depend on it.
pub const GUNICORN: &str = "gunicorn==23.0.0";
pub const UVICORN: &str = "uvicorn==0.34.0";

/// Where the builder puts the application's virtual environment (copied to the runtime).
pub const VENV: &str = "/app/.venv";
const UV: &str = "/opt/uv/bin/uv";

/// Detects and plans Python projects.
pub struct PythonProvider;

#[derive(Debug, Default)]
struct Manifest {
    name: Option<String>,
    deps: BTreeSet<String>,
    poetry: bool,
    scripts: Vec<String>,
}

fn normalize(dep: &str) -> String {
    dep.to_ascii_lowercase().replace('_', "-")
}

fn requirement_name(line: &str) -> Option<String> {
    static NAME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)").unwrap());
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() || line.starts_with('-') {
        return None;
    }
    NAME.captures(line).map(|c| normalize(&c[1]))
}

fn manifest(dir: &ProjectDir<'_>) -> Result<Manifest, DetectError> {
    let mut m = Manifest::default();
    if let Some(text) = dir.read("requirements.txt") {
        m.deps.extend(text.lines().filter_map(requirement_name));
    }
    if let Some(text) = dir.read("pyproject.toml") {
        let value: toml::Value = toml::from_str(&text).map_err(|e| DetectError::Manifest {
            path: dir.full("pyproject.toml").into(),
            message: e.to_string(),
        })?;
        let project = value.get("project");
        let poetry = value.get("tool").and_then(|t| t.get("poetry"));
        m.name = project
            .and_then(|p| p.get("name"))
            .or_else(|| poetry.and_then(|p| p.get("name")))
            .and_then(|n| n.as_str())
            .map(str::to_string);
        if let Some(deps) = project
            .and_then(|p| p.get("dependencies"))
            .and_then(|d| d.as_array())
        {
            m.deps.extend(
                deps.iter()
                    .filter_map(|d| d.as_str())
                    .filter_map(requirement_name),
            );
        }
        if let Some(deps) = poetry
            .and_then(|p| p.get("dependencies"))
            .and_then(|d| d.as_table())
        {
            m.deps.extend(deps.keys().map(|k| normalize(k)));
        }
        m.poetry = poetry.is_some();
        if let Some(scripts) = project
            .and_then(|p| p.get("scripts"))
            .and_then(|s| s.as_table())
        {
            m.scripts = scripts.keys().cloned().collect();
        }
    }
    m.deps.remove("python");
    Ok(m)
}

fn framework(dir: &ProjectDir<'_>, m: &Manifest) -> Option<Framework> {
    let has = |d: &str| m.deps.contains(d) || m.deps.contains(&format!("{d}[standard]"));
    if has("fastapi") {
        return Some(Framework::Fastapi);
    }
    if has("django") {
        return Some(Framework::Django);
    }
    if has("flask") {
        return Some(Framework::Flask);
    }
    // Unlisted dependencies (a requirements file kept elsewhere): look at the imports.
    static IMPORTS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?m)^\s*(?:from|import)\s+(fastapi|django|flask)\b").unwrap()
    });
    dir.find_in_sources(&["py"], |_, text| {
        IMPORTS.captures(text).map(|c| match &c[1] {
            "fastapi" => Framework::Fastapi,
            "django" => Framework::Django,
            _ => Framework::Flask,
        })
    })
}

/// `app/main.py` -> (`app.main`, no app dir); `src/app/main.py` -> (`app.main`, `src`).
fn module_path(file: &str) -> (String, Option<String>) {
    let stem = file.trim_end_matches(".py");
    let (app_dir, rest) = match stem.strip_prefix("src/") {
        Some(rest) => (Some("src".to_string()), rest),
        None => (None, stem),
    };
    let module = rest.trim_end_matches("/__init__").replace('/', ".");
    (module, app_dir)
}

/// The ASGI/WSGI application object: `module:attr`, app dir and the file it is in.
fn find_app(dir: &ProjectDir<'_>, class: &str) -> Option<CheckedApp> {
    let assign = Regex::new(&format!(
        r"(?m)^([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*\w+\s*)?=\s*{class}\("
    ))
    .ok()?;
    static FACTORY: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?m)^def\s+(create_app|make_app)\s*\(").unwrap());
    // A module-level call of an app factory: `app = create_app()`.
    static FACTORY_CALL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?m)^([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*\w+\s*)?=\s*(?:create_app|make_app|build_app|get_app|create_application|get_application)\(\s*\)")
            .unwrap()
    });
    let found = dir
        .find_in_sources(&["py"], |file, text| {
            assign
                .captures(text)
                .map(|c| (file.to_string(), c[1].to_string()))
        })
        .or_else(|| {
            dir.find_in_sources(&["py"], |file, text| {
                if !text.contains(class) {
                    return None;
                }
                FACTORY_CALL
                    .captures(text)
                    .map(|c| (file.to_string(), c[1].to_string()))
            })
        });
    let found = found.or_else(|| {
        (class == "Flask")
            .then(|| {
                dir.find_in_sources(&["py"], |file, text| {
                    FACTORY
                        .captures(text)
                        .map(|c| (file.to_string(), format!("{}()", &c[1])))
                })
            })
            .flatten()
    })?;
    let (module, app_dir) = module_path(&found.0);
    Some(CheckedApp {
        file: dir.full(&found.0),
        app: format!("{module}:{}", found.1),
        app_dir,
    })
}

/// An application object found in a source file, with the file it came from.
struct CheckedApp {
    file: String,
    app: String,
    app_dir: Option<String>,
}

impl CheckedApp {
    /// `(module:attr, app dir)`, once the module (from the file's path) passes the grammar.
    fn checked(self) -> Result<(String, Option<String>), DetectError> {
        value_rules::python_app(
            &self.file,
            "application module (from the file's path)",
            &self.app,
        )?;
        Ok((self.app, self.app_dir))
    }
}

/// The Django project package, from `manage.py`'s `DJANGO_SETTINGS_MODULE` default, and the
/// file that said so.
fn django_project(dir: &ProjectDir<'_>) -> Option<(String, String)> {
    static SETTINGS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([A-Za-z0-9_.]+)\.settings"#).unwrap()
    });
    if let Some(cap) = dir
        .read("manage.py")
        .as_deref()
        .and_then(|t| SETTINGS.captures(t))
    {
        return Some((cap[1].to_string(), "manage.py".to_string()));
    }
    dir.files()
        .find(|f| f.ends_with("/wsgi.py") && f.matches('/').count() == 1)
        .map(|f| (f.trim_end_matches("/wsgi.py").to_string(), f.to_string()))
}

/// A Procfile `web:` command as an argument vector, `$PORT` replaced by the port.
fn procfile_command(cmd: &str, port: u16) -> Vec<String> {
    let cmd = cmd
        .replace("${PORT}", &port.to_string())
        .replace("$PORT", &port.to_string());
    if cmd.contains(['&', '|', ';', '$', '>', '<', '`', '"', '\'']) {
        argv(["sh", "-c", cmd.as_str()])
    } else {
        argv(cmd.split_whitespace())
    }
}

impl Provider for PythonProvider {
    fn name(&self) -> &'static str {
        "python"
    }

    fn detect(&self, dir: &ProjectDir<'_>) -> bool {
        [
            "pyproject.toml",
            "requirements.txt",
            "setup.py",
            "manage.py",
        ]
        .iter()
        .any(|f| dir.exists(f))
    }

    fn plan(&self, dir: &ProjectDir<'_>, hints: &Hints) -> Result<Plan, DetectError> {
        let m = manifest(dir)?;
        let framework = framework(dir, &m);
        let procfile = dir.procfile_web();
        let (port, port_source) = hints
            .port_found()
            .or_else(|| {
                let port = procfile.as_deref().and_then(scan::port_in_command)?;
                Some((port, format!("{} web:", dir.full("Procfile"))))
            })
            .or_else(|| {
                dir.port_in_sources(&["py", "sh"], |file, text| {
                    if file.ends_with(".sh") {
                        scan::port_in_command(text)
                    } else {
                        scan::port_in_source(Language::Python, text)
                    }
                })
            })
            .or_else(|| dir.dotenv_port_found())
            .unwrap_or_else(|| default_port(Language::Python, framework));

        let has = |d: &str| {
            m.deps
                .iter()
                .any(|x| x == d || x.starts_with(&format!("{d}[")))
        };
        let mut server_package = None;
        let cmd = if let Some(procfile) = &procfile {
            value_rules::one_line_command(&dir.full("Procfile"), "web", procfile)?;
            procfile_command(procfile, port)
        } else {
            match framework {
                Some(Framework::Fastapi) => {
                    if !has("uvicorn") && !m.deps.contains("fastapi[standard]") {
                        server_package = Some(UVICORN);
                    }
                    let (app, app_dir) = match find_app(dir, "FastAPI") {
                        Some(found) => found.checked()?,
                        None => ("main:app".to_string(), None),
                    };
                    let mut cmd = argv(["uvicorn", app.as_str(), "--host", "0.0.0.0"]);
                    cmd.extend(argv(["--port".to_string(), port.to_string()]));
                    if let Some(app_dir) = app_dir {
                        cmd.extend(argv(["--app-dir", app_dir.as_str()]));
                    }
                    cmd
                }
                Some(Framework::Flask | Framework::Django) => {
                    if !has("gunicorn") {
                        server_package = Some(GUNICORN);
                    }
                    let (app, app_dir) = if framework == Some(Framework::Django) {
                        let (project, file) = django_project(dir)
                            .unwrap_or_else(|| ("config".into(), "manage.py".into()));
                        let app = format!("{project}.wsgi:application");
                        value_rules::python_app(&dir.full(&file), "Django project package", &app)?;
                        (app, None)
                    } else {
                        match find_app(dir, "Flask") {
                            Some(found) => found.checked()?,
                            None => ("app:app".to_string(), None),
                        }
                    };
                    let mut cmd = argv(["gunicorn", "--bind"]);
                    cmd.push(format!("0.0.0.0:{port}"));
                    if let Some(app_dir) = app_dir {
                        cmd.extend(argv(["--chdir", app_dir.as_str()]));
                    }
                    cmd.push(app);
                    cmd
                }
                _ => plain_command(dir, &m)?,
            }
        };

        let mut build = install_plan(dir, &m);
        if let Some(package) = server_package {
            let add = if build.template == Template::PythonPoetry {
                format!("{VENV}/bin/pip install --no-cache-dir {package}")
            } else {
                format!("{UV} pip install --python {VENV}/bin/python {package}")
            };
            build.build.push(add);
        }
        build.cmd = cmd;

        let openapi_runtime = (framework == Some(Framework::Fastapi))
            .then(|| fastapi_openapi_url(dir))
            .flatten();
        let health = dir.health_route_found(&["py"]);
        Ok(Plan {
            language: Language::Python,
            framework,
            name: m.name.clone(),
            port,
            port_source,
            health: health.as_ref().map(|(r, _)| r.clone()),
            health_source: health.map(|(_, f)| f),
            openapi_runtime,
            env: dir.env_reads(Language::Python, &["py"]),
            build,
        })
    }
}

/// `python3 main.py`, `python3 -m pkg`, or the project's first console script.
fn plain_command(dir: &ProjectDir<'_>, m: &Manifest) -> Result<Vec<String>, DetectError> {
    for file in ["main.py", "app.py", "server.py", "run.py", "wsgi.py"] {
        if dir.exists(file) {
            return Ok(argv(["python3", file]));
        }
    }
    if let Some(pkg) = dir
        .files()
        .find(|f| f.ends_with("/__main__.py") && f.matches('/').count() <= 2)
    {
        let (module, _) = module_path(pkg.trim_end_matches("/__main__.py"));
        value_rules::python_module(&dir.full(pkg), "module (from the file's path)", &module)?;
        return Ok(argv(["python3", "-m", module.as_str()]));
    }
    if let Some(script) = m.scripts.first() {
        value_rules::program_name(&dir.full("pyproject.toml"), "project.scripts", script)?;
        return Ok(argv([script.as_str()]));
    }
    Ok(argv(["python3", "main.py"]))
}

/// How dependencies get into `/app/.venv`: `uv sync --frozen` with a uv.lock, Poetry with a
/// Poetry project, `uv pip install -r` otherwise.
fn install_plan(dir: &ProjectDir<'_>, m: &Manifest) -> BuildPlan {
    let uv_setup = vec![
        "python3 -m venv /opt/uv".to_string(),
        format!("/opt/uv/bin/pip install --no-cache-dir uv=={UV_VERSION}"),
    ];
    if dir.exists("uv.lock") {
        let mut plan = BuildPlan::new(Template::PythonUv);
        plan.setup = uv_setup;
        if !uv_needs_sources(dir) {
            plan.manifests = existing(dir, &["pyproject.toml", "uv.lock"]);
            plan.install = vec![format!("{UV} sync --frozen --no-dev --no-install-project")];
        }
        // Local wheels, path dependencies or workspace members: the lock cannot be installed
        // from the manifests alone, so everything happens after the sources are copied.
        plan.build = vec![format!("{UV} sync --frozen --no-dev")];
        // Local wheel directories were only needed to install; the runtime stage copies /app.
        let wheel_dirs = local_find_links(dir);
        if !wheel_dirs.is_empty() {
            plan.prune = vec![format!("rm -rf {}", wheel_dirs.join(" "))];
        }
        return plan;
    }
    if dir.exists("poetry.lock") || (m.poetry && !dir.exists("requirements.txt")) {
        let mut plan = BuildPlan::new(Template::PythonPoetry);
        plan.manifests = existing(dir, &["pyproject.toml", "poetry.lock"]);
        plan.setup = vec![
            "python3 -m venv /opt/poetry".to_string(),
            format!("/opt/poetry/bin/pip install --no-cache-dir poetry=={POETRY_VERSION}"),
        ];
        plan.install = vec![
            format!("python3 -m venv {VENV}"),
            "/opt/poetry/bin/poetry install --only main --no-root --no-interaction --no-ansi"
                .to_string(),
        ];
        return plan;
    }
    let mut plan = BuildPlan::new(Template::PythonPip);
    plan.setup = uv_setup;
    let venv = format!("python3 -m venv {VENV}");
    if dir.exists("requirements.txt") {
        plan.manifests = existing(dir, &["requirements.txt"]);
        plan.install = vec![
            venv,
            format!("{UV} pip install --python {VENV}/bin/python -r requirements.txt"),
        ];
    } else if dir.exists("pyproject.toml") {
        // Dependencies only: the sources run from /app, as with requirements.txt.
        plan.manifests = existing(dir, &["pyproject.toml"]);
        plan.install = vec![
            venv,
            format!("{UV} pip install --python {VENV}/bin/python -r pyproject.toml"),
        ];
    } else {
        // setup.py needs the whole source tree to install.
        plan.install = vec![venv];
        plan.build = vec![format!("{UV} pip install --python {VENV}/bin/python .")];
    }
    plan
}

/// The project-relative directories `[tool.uv] find-links` names (safe names only).
fn local_find_links(dir: &ProjectDir<'_>) -> Vec<String> {
    let Some(text) = dir.read("pyproject.toml") else {
        return Vec::new();
    };
    let Ok(value) = toml::from_str::<toml::Value>(&text) else {
        return Vec::new();
    };
    value
        .get("tool")
        .and_then(|t| t.get("uv"))
        .and_then(|u| u.get("find-links"))
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str())
        .map(|l| l.trim_start_matches("./").trim_end_matches('/'))
        .filter(|l| {
            !l.is_empty()
                && !l.contains("://")
                && !l.starts_with('/')
                && !l.split('/').any(|s| s == "..")
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        })
        .map(str::to_string)
        .collect()
}

/// True when uv resolves from files in the project (`find-links`, path sources, workspaces).
fn uv_needs_sources(dir: &ProjectDir<'_>) -> bool {
    let Some(text) = dir.read("pyproject.toml") else {
        return false;
    };
    let Ok(value) = toml::from_str::<toml::Value>(&text) else {
        return false;
    };
    let uv = value.get("tool").and_then(|t| t.get("uv"));
    let local_links = uv
        .and_then(|u| u.get("find-links"))
        .and_then(|f| f.as_array())
        .is_some_and(|links| {
            links
                .iter()
                .filter_map(|l| l.as_str())
                .any(|l| !l.contains("://"))
        });
    let path_sources = uv
        .and_then(|u| u.get("sources"))
        .and_then(|s| s.as_table())
        .is_some_and(|sources| {
            sources
                .values()
                .any(|v| v.get("path").is_some() || v.get("workspace").is_some())
        });
    local_links || path_sources || uv.and_then(|u| u.get("workspace")).is_some()
}

/// FastAPI serves its spec at `/openapi.json` unless `openapi_url=` says otherwise.
fn fastapi_openapi_url(dir: &ProjectDir<'_>) -> Option<String> {
    static URL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"FastAPI\([^)]*?openapi_url\s*=\s*(None|["']([^"']*)["'])"#).unwrap()
    });
    let custom = dir.find_in_sources(&["py"], |_, text| {
        URL.captures(text)
            .map(|c| c.get(2).map(|m| m.as_str().to_string()))
    });
    match custom {
        Some(Some(url)) if !url.is_empty() => Some(url),
        Some(_) => None,
        None => Some("/openapi.json".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::SourceTree;

    fn plan(files: &[(&str, &str)]) -> Plan {
        let tree = SourceTree::from_memory(files.iter().copied());
        let dir = ProjectDir::new(&tree, ".");
        assert!(PythonProvider.detect(&dir));
        PythonProvider.plan(&dir, &Hints::default()).unwrap()
    }

    #[test]
    fn requirement_names() {
        assert_eq!(
            requirement_name("FastAPI[standard]>=0.110 ; python_version>'3'"),
            Some("fastapi".into())
        );
        assert_eq!(requirement_name("Flask_Cors==4"), Some("flask-cors".into()));
        assert_eq!(requirement_name("-r base.txt"), None);
        assert_eq!(requirement_name("# comment"), None);
    }

    #[test]
    fn fastapi_in_src_layout_with_custom_openapi() {
        let p = plan(&[
            ("requirements.txt", "fastapi\nuvicorn[standard]\n"),
            (
                "src/api/main.py",
                "from fastapi import FastAPI\napp = FastAPI(title='x', openapi_url='/api/openapi.json')\n",
            ),
        ]);
        assert_eq!(p.framework, Some(Framework::Fastapi));
        assert_eq!(
            p.build.cmd,
            [
                "uvicorn",
                "api.main:app",
                "--host",
                "0.0.0.0",
                "--port",
                "8000",
                "--app-dir",
                "src"
            ]
        );
        assert_eq!(p.openapi_runtime.as_deref(), Some("/api/openapi.json"));
        assert_eq!(p.build.template, Template::PythonPip);
    }

    #[test]
    fn flask_factory_gets_gunicorn_added() {
        let p = plan(&[
            ("requirements.txt", "flask\n"),
            (
                "app/__init__.py",
                "from flask import Flask\ndef create_app():\n    return Flask(__name__)\n",
            ),
        ]);
        assert_eq!(
            p.build.cmd,
            ["gunicorn", "--bind", "0.0.0.0:5000", "app:create_app()"]
        );
        assert!(p.build.build.iter().any(|c| c.contains(GUNICORN)));
        assert_eq!(p.openapi_runtime, None);
    }

    #[test]
    fn fastapi_app_built_by_a_factory() {
        let p = plan(&[
            ("requirements.txt", "fastapi\nuvicorn\n"),
            ("app/__init__.py", ""),
            (
                "app/main.py",
                "from fastapi import FastAPI\n\ndef create_app() -> FastAPI:\n    app = FastAPI()\n    return app\n\napp = create_app()\n",
            ),
        ]);
        assert_eq!(p.build.cmd[1], "app.main:app");
    }

    #[test]
    fn uv_with_a_local_wheelhouse_installs_after_the_sources() {
        let p = plan(&[
            (
                "pyproject.toml",
                "[project]\nname='x'\ndependencies=['fastapi','uvicorn']\n[tool.uv]\nno-index = true\nfind-links = ['wheelhouse']\n",
            ),
            ("uv.lock", "version = 1\n"),
            ("main.py", "app = FastAPI()\n"),
        ]);
        assert!(p.build.manifests.is_empty());
        assert!(p.build.install.is_empty());
        assert_eq!(p.build.build, ["/opt/uv/bin/uv sync --frozen --no-dev"]);
        // The wheels stay out of the runtime image.
        assert_eq!(p.build.prune, ["rm -rf wheelhouse"]);
    }

    #[test]
    fn procfile_wins() {
        let p = plan(&[
            ("requirements.txt", "fastapi\nuvicorn\n"),
            (
                "Procfile",
                "web: uvicorn app:app --host 0.0.0.0 --port $PORT\n",
            ),
            (
                "app.py",
                "import os\nport = int(os.getenv('PORT', '8100'))\n",
            ),
        ]);
        assert_eq!(p.port, 8100);
        assert_eq!(
            p.build.cmd,
            ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8100"]
        );
    }

    #[test]
    fn fastapi_without_openapi() {
        let p = plan(&[
            (
                "pyproject.toml",
                "[project]\nname='svc'\ndependencies=['fastapi','uvicorn']\n",
            ),
            ("main.py", "app = FastAPI(openapi_url=None)\n"),
        ]);
        assert_eq!(p.openapi_runtime, None);
        assert_eq!(p.name.as_deref(), Some("svc"));
    }
}
