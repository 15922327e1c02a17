//! Python projects: `pyproject.toml` (uv or Poetry), `requirements.txt`, `setup.py`. FastAPI,
//! Flask and Django get a production server (uvicorn or gunicorn); when the project does not
//! depend on one, a pinned one is added to the image.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use super::{argv, default_port, existing, Hints, Plan, ProjectDir, Provider};
use crate::detect::{
    scan, value_rules, BuildPlan, DetectError, Framework, Language, RuntimeVersion, Template,
};

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
        if framework == Some(Framework::Django) && dir.exists("manage.py") {
            // After the server package: collectstatic imports the settings with everything
            // installed.
            build.build.extend(django_collectstatic(dir));
            build.init_command = argv(DJANGO_MIGRATE);
        }
        let declared = python_version(dir)?;
        let minor = declared
            .as_ref()
            .and_then(|(v, _)| v.tag.as_deref())
            .and_then(|t| t.strip_prefix("3."))
            .and_then(|m| m.parse().ok())
            .unwrap_or(DEFAULT_MINOR);
        let compile = compilation(dir, minor);
        // First in the builder: a mismatched base fails before minutes of installs, and the
        // headers are there before anything compiles.
        let mut first = Vec::new();
        if let Some((version, spec)) = &declared {
            first.push(version_check(version, spec));
        }
        if compile.reason.is_some() {
            build.builder_packages = std::iter::once("build-essential".to_string())
                .chain(compile.builder_packages)
                .collect();
            build.runtime_packages = compile.runtime_packages.into_iter().collect();
            first.push(PYTHON_HEADERS.to_string());
        }
        build.setup.splice(0..0, first);
        build.runtime_version = declared.map(|(v, _)| v);

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

/// Python minors that have an official `python:3.X-slim-bookworm` image.
const SLIM_BOOKWORM_MINORS: std::ops::RangeInclusive<u64> = 8..=13;
/// Python's minor when the project declares nothing: the default base images' tag.
const DEFAULT_MINOR: u64 = 12;

/// A comparison in a version specifier, once `~=`, `^` and `~` are expanded into these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    /// `==`, a prefix match when the clause has a wildcard (`==3.11.*`).
    Eq,
    Ne,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    op: Op,
    release: Vec<u64>,
    /// `==3.11.*`: only the release's components are compared.
    prefix: bool,
}

/// A PEP 440 specifier set (`>=3.10,<4`) or a Poetry constraint (`^3.11 || ~3.9`): any of the
/// groups, each a conjunction of clauses. No groups means any version.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PythonSpec(Vec<Vec<Clause>>);

impl Clause {
    fn new(op: Op, release: &[u64], prefix: bool) -> Clause {
        Clause {
            op,
            release: release.to_vec(),
            prefix,
        }
    }

    /// `release` padded (or cut) to major.minor.micro, as PEP 440 compares releases.
    fn padded(&self) -> [u64; 3] {
        let mut v = [0; 3];
        for (slot, part) in v.iter_mut().zip(&self.release) {
            *slot = *part;
        }
        v
    }

    fn allows(&self, v: [u64; 3]) -> bool {
        if self.prefix {
            let n = self.release.len().min(3);
            let same = v[..n] == self.release[..n];
            return if self.op == Op::Ne { !same } else { same };
        }
        let r = self.padded();
        match self.op {
            Op::Ge => v >= r,
            Op::Gt => v > r,
            Op::Le => v <= r,
            Op::Lt => v < r,
            Op::Eq => v == r,
            Op::Ne => v != r,
        }
    }

    /// The same test in Python, on `v = sys.version_info[:3]`.
    fn python(&self) -> String {
        let tuple = |parts: &[u64]| {
            let items: Vec<String> = parts.iter().map(u64::to_string).collect();
            format!("({},)", items.join(","))
        };
        if self.prefix {
            let n = self.release.len().min(3);
            let op = if self.op == Op::Ne { "!=" } else { "==" };
            return format!("v[:{n}]{op}{}", tuple(&self.release[..n]));
        }
        let op = match self.op {
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Eq => "==",
            Op::Ne => "!=",
        };
        format!("v{op}{}", tuple(&self.padded()))
    }
}

impl PythonSpec {
    /// Parses a specifier; the error says what part was not understood.
    fn parse(text: &str) -> Result<PythonSpec, String> {
        static CLAUSE: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"^(===|==|!=|~=|<=|>=|<|>|\^|~|=)?\s*v?([0-9]+(?:\.[0-9]+)*)(\.\*)?$")
                .unwrap()
        });
        let mut groups = Vec::new();
        for group in text.split("||") {
            let mut clauses = Vec::new();
            // PEP 440 separates clauses with commas, Poetry also with spaces (`>=3.8 <4`).
            let group = group.replace(',', " ");
            let mut tokens = group.split_whitespace().peekable();
            while let Some(mut token) = tokens.next().map(str::to_string) {
                if token == "*" {
                    continue;
                }
                // `>= 3.10`: an operator on its own is joined with the version after it.
                if token.chars().all(|c| "<>=!~^".contains(c)) {
                    token.push_str(tokens.next().unwrap_or_default());
                }
                let caps = CLAUSE
                    .captures(&token)
                    .ok_or_else(|| format!("`{token}` is not a version clause"))?;
                let op = caps.get(1).map_or("", |m| m.as_str());
                let release: Vec<u64> = caps[2]
                    .split('.')
                    .map(|p| {
                        p.parse()
                            .map_err(|_| format!("`{token}`: number too large"))
                    })
                    .collect::<Result<_, _>>()?;
                let wildcard = caps.get(3).is_some();
                if wildcard && !matches!(op, "==" | "!=" | "" | "=") {
                    return Err(format!("`{token}`: a wildcard only goes with == or !="));
                }
                let major = release[0];
                let upper = |len: usize| {
                    // The next release at `len` components: ~3.11 -> 3.12, ^3.11 -> 4.
                    let mut next = release[..len].to_vec();
                    next[len - 1] += 1;
                    next
                };
                match op {
                    "==" | "===" => clauses.push(Clause::new(Op::Eq, &release, wildcard)),
                    "!=" => clauses.push(Clause::new(Op::Ne, &release, wildcard)),
                    // A bare version (Poetry, .python-version) means that release line.
                    "" | "=" => clauses.push(Clause::new(Op::Eq, &release, true)),
                    ">=" => clauses.push(Clause::new(Op::Ge, &release, false)),
                    ">" => clauses.push(Clause::new(Op::Gt, &release, false)),
                    "<=" => clauses.push(Clause::new(Op::Le, &release, false)),
                    "<" => clauses.push(Clause::new(Op::Lt, &release, false)),
                    "~=" => {
                        if release.len() < 2 {
                            return Err(format!("`{token}`: ~= needs at least major.minor"));
                        }
                        clauses.push(Clause::new(Op::Ge, &release, false));
                        clauses.push(Clause::new(Op::Eq, &release[..release.len() - 1], true));
                    }
                    "^" => {
                        clauses.push(Clause::new(Op::Ge, &release, false));
                        let len = if major == 0 { release.len().min(2) } else { 1 };
                        clauses.push(Clause::new(Op::Lt, &upper(len), false));
                    }
                    _ => {
                        // `~`: Poetry's "this minor" (`~3` is this major).
                        clauses.push(Clause::new(Op::Ge, &release, false));
                        clauses.push(Clause::new(Op::Lt, &upper(release.len().min(2)), false));
                    }
                }
            }
            if clauses.is_empty() {
                // `*` (or an empty alternative) allows everything.
                return Ok(PythonSpec(Vec::new()));
            }
            groups.push(clauses);
        }
        Ok(PythonSpec(groups))
    }

    fn allows(&self, v: [u64; 3]) -> bool {
        self.0.is_empty() || self.0.iter().any(|g| g.iter().all(|c| c.allows(v)))
    }

    /// True when some micro release of 3.`minor` is allowed.
    fn allows_minor(&self, minor: u64) -> bool {
        (0..=60).any(|micro| self.allows([3, minor, micro]))
    }

    /// The lowest minor with a slim-bookworm image the specifier allows.
    fn image_minor(&self) -> Option<u64> {
        SLIM_BOOKWORM_MINORS.clone().find(|m| self.allows_minor(*m))
    }

    /// A Python expression, true when `v` (`sys.version_info[:3]`) is allowed.
    fn python(&self) -> String {
        if self.0.is_empty() {
            return "True".to_string();
        }
        self.0
            .iter()
            .map(|g| {
                let all: Vec<String> = g.iter().map(Clause::python).collect();
                format!("({})", all.join(" and "))
            })
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// The Python version the project declares, in this precedence: `.python-version` (what
/// pyenv and uv run, an exact line), `runtime.txt` (`python-3.x.y`, a platform pin), then the
/// ranges: `[project] requires-python`, `[tool.poetry.dependencies] python`. A
/// `.python-version` naming another interpreter (`pypy3.10`, `system`) is passed over.
fn python_version(
    dir: &ProjectDir<'_>,
) -> Result<Option<(RuntimeVersion, PythonSpec)>, DetectError> {
    static LEADING_VERSION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[0-9]+(\.[0-9]+){0,2}").unwrap());
    let first_line = |f: &str| {
        dir.read(f).and_then(|t| {
            t.lines()
                .map(|l| l.split('#').next().unwrap_or_default().trim().to_string())
                .find(|l| !l.is_empty())
        })
    };
    let pinned = |line: Option<String>, strip: &str| {
        line.and_then(|l| {
            let l = l.strip_prefix(strip).unwrap_or(&l).to_string();
            // `3.12-dev`, `3.11.4t`: the release line is what picks the image.
            LEADING_VERSION.find(&l).map(|m| m.as_str().to_string())
        })
    };
    let pyproject: Option<toml::Value> = dir
        .read("pyproject.toml")
        .and_then(|t| toml::from_str(&t).ok());
    let field = |path: &[&str]| {
        let mut v = pyproject.as_ref()?;
        for key in path {
            v = v.get(key)?;
        }
        v.as_str().map(str::to_string)
    };
    let candidates = [
        (
            ".python-version",
            ".python-version",
            pinned(first_line(".python-version"), ""),
        ),
        (
            "runtime.txt",
            "runtime.txt",
            pinned(first_line("runtime.txt"), "python-"),
        ),
        (
            "pyproject.toml",
            "pyproject.toml [project] requires-python",
            field(&["project", "requires-python"]),
        ),
        (
            "pyproject.toml",
            "pyproject.toml [tool.poetry.dependencies] python",
            field(&["tool", "poetry", "dependencies", "python"]),
        ),
    ];
    for (file, source, value) in candidates {
        let Some(declared) = value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
        else {
            continue;
        };
        value_rules::python_version(&dir.full(file), source, &declared)?;
        let spec = PythonSpec::parse(&declared).map_err(|message| DetectError::Manifest {
            path: dir.full(file).into(),
            message: format!(
                "{source} `{declared}` is not a Python version or specifier ({message}); write one such as 3.11, 3.11.4 or >=3.10,<4"
            ),
        })?;
        let tag = spec.image_minor().map(|m| format!("3.{m}"));
        return Ok(Some((
            RuntimeVersion {
                declared,
                source: source.to_string(),
                tag,
            },
            spec,
        )));
    }
    Ok(None)
}

/// The builder's first step when a version is declared: the base image's Python must satisfy
/// the declaration, or the build stops naming it, where it is, the Python found and the flags
/// that pick other bases. `declared` passed `value_rules::python_version` (no quotes).
fn version_check(version: &RuntimeVersion, spec: &PythonSpec) -> String {
    format!(
        "python3 -c 'import sys;v=sys.version_info[:3];{expr} or sys.exit(\"justpush: {source} declares Python {declared}, but the builder image has Python \"+\".\".join(map(str,v))+\". Use base images with a matching Python: --base-image python.builder=IMAGE --base-image python.runtime=IMAGE (or change {source}).\")'",
        expr = spec.python(),
        source = version.source,
        declared = version.declared,
    )
}

/// Packages with C extensions and no pure-Python fallback that publish wheels only for the
/// Python versions current at each release: an old pin (`==`, `<`, `~=`) may have no wheel
/// for the image's Python, and pip then compiles it.
const C_EXTENSION_PACKAGES: [&str; 14] = [
    "cffi",
    "frozenlist",
    "greenlet",
    "httptools",
    "lxml",
    "mmh3",
    "multidict",
    "numpy",
    "psutil",
    "regex",
    "ujson",
    "uvloop",
    "wrapt",
    "yarl",
];

/// Packages that publish no Linux wheels at all (always compiled), with the Debian headers
/// the builder needs and the shared libraries the runtime then links.
const SOURCE_ONLY_PACKAGES: [(&str, &[&str], &[&str]); 4] = [
    ("psycopg2", &["libpq-dev"], &["libpq5"]),
    (
        "mysqlclient",
        &["default-libmysqlclient-dev", "pkg-config"],
        &["libmariadb3"],
    ),
    (
        "python-ldap",
        &["libldap2-dev", "libsasl2-dev"],
        &["libldap-2.5-0", "libsasl2-2"],
    ),
    ("uwsgi", &[], &[]),
];

/// Extra Debian packages some C extensions compile against, and what their runtime links.
const EXTENSION_HEADERS: [(&str, &[&str], &[&str]); 2] = [
    ("cffi", &["libffi-dev"], &["libffi8"]),
    (
        "lxml",
        &["libxml2-dev", "libxslt1-dev"],
        &["libxml2", "libxslt1.1"],
    ),
];

/// Installs Python's headers when the builder's Python has none: the official images carry
/// them (`/usr/local/include/python3.X`), Debian's `python3` needs `python3-dev`, which is
/// installed only then (on an official base it would add a second, unused Python).
const PYTHON_HEADERS: &str = "python3 -c 'import os,sys,sysconfig;sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()[\"include\"],\"Python.h\")))' || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-dev && rm -rf /var/lib/apt/lists/*)";

/// What the builder must add so dependencies that build from source compile.
#[derive(Debug, Default, PartialEq, Eq)]
struct Compilation {
    /// Why a compiler is needed (the first reason found), for tests and docs.
    reason: Option<String>,
    builder_packages: BTreeSet<String>,
    runtime_packages: BTreeSet<String>,
}

impl Compilation {
    fn need(&mut self, reason: impl FnOnce() -> String) {
        if self.reason.is_none() {
            self.reason = Some(reason());
        }
    }

    /// Records what a named dependency needs; `pinned_old` when its version is capped.
    fn dependency(&mut self, file: &str, name: &str, pinned_old: bool) {
        if let Some((_, build, run)) = SOURCE_ONLY_PACKAGES.iter().find(|(p, _, _)| *p == name) {
            self.need(|| format!("{file}: {name} is published as source only"));
            self.builder_packages
                .extend(build.iter().map(|p| p.to_string()));
            self.runtime_packages
                .extend(run.iter().map(|p| p.to_string()));
        }
        if pinned_old && C_EXTENSION_PACKAGES.contains(&name) {
            self.need(|| {
                format!(
                    "{file}: {name} is pinned to a release that may have no wheel for this Python"
                )
            });
            if let Some((_, build, run)) = EXTENSION_HEADERS.iter().find(|(p, _, _)| *p == name) {
                self.builder_packages
                    .extend(build.iter().map(|p| p.to_string()));
                self.runtime_packages
                    .extend(run.iter().map(|p| p.to_string()));
            }
        }
    }

    /// One requirement (a requirements.txt line or a PEP 508 string).
    fn requirement(&mut self, file: &str, line: &str) {
        static CAPPED: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"(===|==|~=|<=|<)\s*[0-9]").unwrap());
        let line = line.split(" #").next().unwrap_or_default().trim();
        if line.is_empty() || line.starts_with('#') {
            return;
        }
        if line.contains("--no-binary") {
            self.need(|| format!("{file}: `{line}` asks pip to build from source"));
        }
        let target = line
            .strip_prefix("-e ")
            .or_else(|| line.strip_prefix("--editable "))
            .map(str::trim);
        let url = line
            .split_once(" @ ")
            .map(|(_, u)| u.trim())
            .or(target)
            .unwrap_or(line);
        let vcs = ["git+", "hg+", "svn+", "bzr+"]
            .iter()
            .any(|p| url.starts_with(p));
        let path = url.starts_with("./")
            || url.starts_with("../")
            || url.starts_with('/')
            || url.starts_with("file:")
            || url == "."
            || url.ends_with(".tar.gz")
            || url.ends_with(".zip");
        if vcs || path {
            self.need(|| format!("{file}: `{line}` is built from its sources"));
            return;
        }
        if let Some(name) = requirement_name(line) {
            let name = name.split('[').next().unwrap_or_default().to_string();
            self.dependency(file, &name, CAPPED.is_match(line));
        }
    }
}

/// True when one of a lock's wheel file names installs on Linux CPython 3.`minor`.
fn wheel_fits(file: &str, minor: u64) -> bool {
    let Some(stem) = file.strip_suffix(".whl") else {
        return false;
    };
    let parts: Vec<&str> = stem.rsplitn(4, '-').collect();
    let [platform, abi, python, _] = parts[..] else {
        return false;
    };
    let cp = format!("cp3{minor}");
    let platform_ok = platform.split('.').any(|p| {
        p == "any"
            || ((p.starts_with("manylinux") || p.starts_with("linux"))
                && (p.ends_with("x86_64") || p.ends_with("aarch64")))
    });
    let python_ok = python
        .split('.')
        .any(|p| p == "py3" || p == cp || p == format!("py3{minor}"));
    let abi3_ok = abi.split('.').any(|a| a == "abi3")
        && python.split('.').any(|p| {
            p.strip_prefix("cp3")
                .and_then(|m| m.parse::<u64>().ok())
                .is_some_and(|m| m <= minor)
        });
    let abi_ok = abi.split('.').any(|a| a == "none" || a == cp);
    platform_ok && ((python_ok && abi_ok) || abi3_ok)
}

/// Locked packages that will build from source: an sdist with no wheel for the target, or a
/// VCS / directory source. uv.lock and poetry.lock keep the files each release offers.
fn lock_needs_compiler(dir: &ProjectDir<'_>, minor: u64, c: &mut Compilation) {
    let parse = |f: &str| {
        dir.read(f)
            .and_then(|t| toml::from_str::<toml::Value>(&t).ok())
    };
    let packages = |lock: &toml::Value| {
        lock.get("package")
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default()
    };
    let name_of = |p: &toml::Value| {
        p.get("name")
            .and_then(|n| n.as_str())
            .map(normalize)
            .unwrap_or_default()
    };
    if let Some(lock) = parse("uv.lock") {
        for p in packages(&lock) {
            let name = name_of(&p);
            let source = p.get("source");
            let from_vcs_or_dir = source.is_some_and(|s| {
                s.get("git").is_some() || s.get("directory").is_some() || s.get("path").is_some()
            });
            let wheels: Vec<&str> = p
                .get("wheels")
                .and_then(|w| w.as_array())
                .into_iter()
                .flatten()
                .filter_map(|w| w.get("url").or_else(|| w.get("path")))
                .filter_map(|u| u.as_str())
                .map(|u| u.rsplit('/').next().unwrap_or(u))
                .collect();
            let sdist_only =
                p.get("sdist").is_some() && !wheels.iter().any(|w| wheel_fits(w, minor));
            if from_vcs_or_dir || sdist_only {
                c.need(|| format!("uv.lock: {name} has no wheel for Python 3.{minor}"));
            }
            c.dependency("uv.lock", &name, false);
        }
    }
    if let Some(lock) = parse("poetry.lock") {
        for p in packages(&lock) {
            let name = name_of(&p);
            let source_type = p
                .get("source")
                .and_then(|s| s.get("type"))
                .and_then(|t| t.as_str());
            let files: Vec<&str> = p
                .get("files")
                .and_then(|f| f.as_array())
                .into_iter()
                .flatten()
                .filter_map(|f| f.get("file").and_then(|n| n.as_str()))
                .collect();
            let has_sdist = files
                .iter()
                .any(|f| f.ends_with(".tar.gz") || f.ends_with(".zip"));
            let sdist_only = has_sdist && !files.iter().any(|f| wheel_fits(f, minor));
            if matches!(source_type, Some("git" | "directory" | "file")) || sdist_only {
                c.need(|| format!("poetry.lock: {name} has no wheel for Python 3.{minor}"));
            }
            c.dependency("poetry.lock", &name, false);
        }
    }
}

/// The project's own C extension: `Extension(` / `ext_modules` in setup.py, or a build
/// backend that compiles (Cython, pybind11, scikit-build, meson-python).
fn own_extension(dir: &ProjectDir<'_>) -> Option<String> {
    if let Some(setup) = dir.read("setup.py") {
        if setup.contains("Extension(")
            || setup.contains("ext_modules")
            || setup.contains("cythonize")
        {
            return Some("setup.py builds a C extension".to_string());
        }
    }
    let pyproject: toml::Value = toml::from_str(&dir.read("pyproject.toml")?).ok()?;
    let requires = pyproject
        .get("build-system")
        .and_then(|b| b.get("requires"))
        .and_then(|r| r.as_array())?;
    requires
        .iter()
        .filter_map(|r| r.as_str())
        .filter_map(requirement_name)
        .find(|r| {
            [
                "cython",
                "pybind11",
                "scikit-build",
                "scikit-build-core",
                "meson-python",
            ]
            .contains(&r.as_str())
        })
        .map(|r| format!("pyproject.toml [build-system] requires {r}"))
}

/// Everything that makes the builder compile: see [`Compilation`].
fn compilation(dir: &ProjectDir<'_>, minor: u64) -> Compilation {
    let mut c = Compilation::default();
    if let Some(text) = dir.read("requirements.txt") {
        for line in text.lines() {
            c.requirement("requirements.txt", line);
        }
    }
    if let Some(pyproject) = dir
        .read("pyproject.toml")
        .and_then(|t| toml::from_str::<toml::Value>(&t).ok())
    {
        let deps = pyproject
            .get("project")
            .and_then(|p| p.get("dependencies"))
            .and_then(|d| d.as_array());
        for dep in deps.into_iter().flatten().filter_map(|d| d.as_str()) {
            c.requirement("pyproject.toml", dep);
        }
        let poetry_deps = pyproject
            .get("tool")
            .and_then(|t| t.get("poetry"))
            .and_then(|p| p.get("dependencies"))
            .and_then(|d| d.as_table());
        for (name, spec) in poetry_deps.into_iter().flatten() {
            let from_source = spec.get("git").is_some() || spec.get("path").is_some();
            if from_source {
                c.need(|| format!("pyproject.toml: {name} is built from its sources"));
            }
            let version = spec
                .as_str()
                .or_else(|| spec.get("version").and_then(|v| v.as_str()))
                .unwrap_or("*");
            let capped = version.chars().next().is_some_and(|ch| ch.is_ascii_digit())
                || version.starts_with("==")
                || version.starts_with('<')
                || version.starts_with('~');
            c.dependency("pyproject.toml", &normalize(name), capped);
        }
    }
    lock_needs_compiler(dir, minor, &mut c);
    if let Some(reason) = own_extension(dir) {
        c.need(|| reason);
    }
    c
}

/// Django's migrate, run by the chart as an init container before each pod's app starts.
pub const DJANGO_MIGRATE: [&str; 4] = ["python3", "manage.py", "migrate", "--noinput"];

/// Django settings modules: `settings.py` or a `settings/` package.
fn django_settings(dir: &ProjectDir<'_>) -> Vec<(String, String)> {
    dir.sources(&["py"])
        .into_iter()
        .filter(|f| f.ends_with("settings.py") || f.contains("/settings/"))
        .filter_map(|f| dir.read(f).map(|t| (f.to_string(), t)))
        .collect()
}

/// `collectstatic` at build time when the settings use django.contrib.staticfiles and set
/// STATIC_ROOT. Variables the settings require at import (`os.environ["X"]`, `env("X")`) get
/// build-only placeholder values for this one command: never a real secret, and nothing of
/// them reaches the image's environment.
fn django_collectstatic(dir: &ProjectDir<'_>) -> Option<String> {
    static STATIC_ROOT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?m)^\s*STATIC_ROOT\s*=").unwrap());
    static REQUIRED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?:os\.environ\[\s*|\benv(?:\.(?:str|bool|int|db|url))?\(\s*)['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*[\])]"#,
        )
        .unwrap()
    });
    let settings = django_settings(dir);
    let uses_staticfiles = settings
        .iter()
        .any(|(_, t)| t.contains("django.contrib.staticfiles"));
    let has_root = settings.iter().any(|(_, t)| STATIC_ROOT.is_match(t));
    if !(uses_staticfiles && has_root && dir.exists("manage.py")) {
        return None;
    }
    let required: BTreeSet<String> = settings
        .iter()
        .flat_map(|(_, t)| REQUIRED.captures_iter(t).map(|c| c[1].to_string()))
        .collect();
    let placeholders: Vec<String> = required
        .iter()
        .map(|name| {
            let upper = name.to_ascii_uppercase();
            let value = if upper.ends_with("_URL") {
                "sqlite:////tmp/justpush-build.sqlite3"
            } else if upper.contains("PORT") || upper == "DEBUG" {
                "0"
            } else {
                "justpush-build-only"
            };
            format!("{name}={value}")
        })
        .collect();
    let run = format!("{VENV}/bin/python3 manage.py collectstatic --noinput");
    Some(if placeholders.is_empty() {
        run
    } else {
        format!("env {} {run}", placeholders.join(" "))
    })
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

    fn spec(text: &str) -> PythonSpec {
        PythonSpec::parse(text).unwrap()
    }

    #[test]
    fn specifiers_pick_the_lowest_minor_with_an_image() {
        for (text, minor) in [
            (">=3.11", Some(11)),
            (">=3.10,<4", Some(10)),
            (">= 3.9, != 3.9.*", Some(10)),
            ("~=3.11", Some(11)),
            ("~=3.11.4", Some(11)),
            ("==3.12.*", Some(12)),
            ("^3.11", Some(11)),
            ("~3.10", Some(10)),
            (">=3.6", Some(8)),
            ("3.11", Some(11)),
            ("3.11.4", Some(11)),
            (">=3.8 <3.10 || ^3.12", Some(8)),
            ("*", Some(8)),
            (">=3.14", None),
            ("<3", None),
        ] {
            assert_eq!(spec(text).image_minor(), minor, "{text}");
        }
        assert!(!spec("~=3.11.4").allows([3, 11, 3]));
        assert!(spec("~=3.11.4").allows([3, 11, 9]));
        assert!(!spec("~3.10").allows([3, 11, 0]));
        assert!(!spec("^3.11").allows([4, 0, 0]));
        assert!(spec(">3.11").allows([3, 11, 1]));
        assert!(
            !spec("==3.11").allows([3, 11, 2]),
            "PEP 440: ==3.11 is 3.11.0"
        );
        for bad in ["python3", ">=3.11.*", "~=3", ">=", "3.x"] {
            assert!(PythonSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_builder_check_is_the_same_test_in_python() {
        assert_eq!(
            spec(">=3.10,!=3.11.*,<4").python(),
            "(v>=(3,10,0,) and v[:2]!=(3,11,) and v<(4,0,0,))"
        );
        assert_eq!(
            spec("^3.11 || ~3.9").python(),
            "(v>=(3,11,0,) and v<(4,0,0,)) or (v>=(3,9,0,) and v<(3,10,0,))"
        );
        assert_eq!(spec("*").python(), "True");
    }

    #[test]
    fn version_precedence_pin_files_before_ranges() {
        let p = plan(&[
            (
                "pyproject.toml",
                "[project]\nname='x'\nrequires-python='>=3.9'\ndependencies=['flask']\n",
            ),
            (".python-version", "# pyenv\n3.11.7\n"),
            ("runtime.txt", "python-3.10.4\n"),
            ("app.py", "app = Flask(__name__)\n"),
        ]);
        let v = p.build.runtime_version.clone().unwrap();
        assert_eq!(
            (v.declared.as_str(), v.source.as_str(), v.tag.as_deref()),
            ("3.11.7", ".python-version", Some("3.11"))
        );
        // The check is the builder's first step, and names the declaration and the flags.
        let check = &p.build.setup[0];
        assert!(
            check.starts_with(
                "python3 -c 'import sys;v=sys.version_info[:3];(v[:3]==(3,11,7,)) or sys.exit("
            ),
            "{check}"
        );
        assert!(
            check.contains(
                ".python-version declares Python 3.11.7, but the builder image has Python"
            ),
            "{check}"
        );
        assert!(
            check.contains("--base-image python.builder=IMAGE --base-image python.runtime=IMAGE")
        );

        let runtime_txt = plan(&[
            ("requirements.txt", "flask\n"),
            ("runtime.txt", "python-3.10.4\n"),
        ]);
        assert_eq!(
            runtime_txt.build.runtime_version.unwrap().tag.as_deref(),
            Some("3.10")
        );

        let poetry = plan(&[(
            "pyproject.toml",
            "[tool.poetry]\nname='x'\n[tool.poetry.dependencies]\npython='^3.9'\nflask='*'\n",
        )]);
        let v = poetry.build.runtime_version.unwrap();
        assert_eq!(v.source, "pyproject.toml [tool.poetry.dependencies] python");
        assert_eq!(v.tag.as_deref(), Some("3.9"));

        let pypy = plan(&[
            ("requirements.txt", "flask\n"),
            (".python-version", "pypy3.10\n"),
        ]);
        assert_eq!(pypy.build.runtime_version, None);
        assert!(!pypy.build.setup[0].contains("sys.version_info"));
    }

    #[test]
    fn hostile_or_unreadable_versions_are_refused_naming_the_file() {
        let tree = SourceTree::from_memory([
            ("requirements.txt", "flask\n"),
            (
                "pyproject.toml",
                "[project]\nname='x'\nrequires-python=\"3.11') or __import__('os').system('id\"\n",
            ),
        ]);
        let dir = ProjectDir::new(&tree, ".");
        let err = PythonProvider
            .plan(&dir, &Hints::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pyproject.toml") && err.contains("requires-python"),
            "{err}"
        );

        let tree = SourceTree::from_memory([
            ("requirements.txt", "flask\n"),
            (
                "pyproject.toml",
                "[project]\nname='x'\nrequires-python='>=three'\n",
            ),
        ]);
        let dir = ProjectDir::new(&tree, ".");
        let err = PythonProvider
            .plan(&dir, &Hints::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is not a Python version or specifier"),
            "{err}"
        );
    }

    #[test]
    fn wheels_that_fit_linux_cpython() {
        assert!(wheel_fits(
            "mmh3-3.0.0-cp39-cp39-manylinux2010_x86_64.whl",
            9
        ));
        assert!(!wheel_fits(
            "mmh3-3.0.0-cp39-cp39-manylinux2010_x86_64.whl",
            11
        ));
        assert!(wheel_fits("flask-3.0.0-py3-none-any.whl", 11));
        assert!(wheel_fits("six-1.16.0-py2.py3-none-any.whl", 11));
        assert!(wheel_fits(
            "cryptography-42.0.0-cp39-abi3-manylinux_2_28_x86_64.whl",
            12
        ));
        assert!(!wheel_fits("x-1.0-cp311-cp311-macosx_11_0_arm64.whl", 11));
        assert!(!wheel_fits("x-1.0-cp311-cp311-win_amd64.whl", 11));
        assert!(!wheel_fits("x-1.0.tar.gz", 11));
    }

    #[test]
    fn a_compiler_only_when_something_builds_from_source() {
        let compiled = |files: &[(&str, &str)]| {
            let p = plan(files);
            assert!(p
                .build
                .runtime_packages
                .iter()
                .all(|p| !p.contains("dev") && p != "build-essential"));
            (
                p.build.builder_packages.clone(),
                p.build.runtime_packages.clone(),
                p.build.setup.iter().any(|s| s == PYTHON_HEADERS),
            )
        };
        let none: (Vec<String>, Vec<String>, bool) = (vec![], vec![], false);
        assert_eq!(
            compiled(&[("requirements.txt", "flask==3.0.0\nmmh3>=4\n")]),
            none
        );
        let gcc = (vec!["build-essential".to_string()], vec![], true);
        assert_eq!(
            compiled(&[("requirements.txt", "flask\nmmh3==3.0.0\n")]),
            gcc
        );
        assert_eq!(
            compiled(&[("requirements.txt", "--no-binary :all:\nflask\n")]),
            gcc
        );
        assert_eq!(
            compiled(&[(
                "requirements.txt",
                "git+https://example.com/a/b.git#egg=b\n"
            )]),
            gcc
        );
        assert_eq!(compiled(&[("requirements.txt", "-e ./libs/core\n")]), gcc);
        assert_eq!(
            compiled(&[("requirements.txt", "psycopg2==2.9.9\n")]),
            (
                vec!["build-essential".to_string(), "libpq-dev".to_string()],
                vec!["libpq5".to_string()],
                true
            )
        );
        assert_eq!(compiled(&[("setup.py", "from setuptools import setup, Extension\nsetup(ext_modules=[Extension('x', ['x.c'])])\n")]), gcc);
        let uv_lock = |wheel: &str| {
            format!("version = 1\n[[package]]\nname = \"mmh3\"\nversion = \"3.0.0\"\nsource = {{ registry = \"https://pypi.org/simple\" }}\nsdist = {{ url = \"https://files/mmh3-3.0.0.tar.gz\" }}\nwheels = [{{ url = \"https://files/{wheel}\" }}]\n")
        };
        let pyproject = "[project]\nname='x'\nrequires-python='>=3.11'\ndependencies=['mmh3']\n";
        let old = uv_lock("mmh3-3.0.0-cp39-cp39-manylinux2010_x86_64.whl");
        assert_eq!(
            compiled(&[("pyproject.toml", pyproject), ("uv.lock", &old)]).0,
            gcc.0
        );
        let fits = uv_lock("mmh3-3.0.0-cp311-cp311-manylinux2014_x86_64.whl");
        assert_eq!(
            compiled(&[("pyproject.toml", pyproject), ("uv.lock", &fits)]).0,
            none.0
        );
        let poetry_lock = "[[package]]\nname = \"mmh3\"\nversion = \"3.0.0\"\nfiles = [{file = \"mmh3-3.0.0.tar.gz\", hash = \"sha256:0\"}]\n";
        let poetry =
            "[tool.poetry]\nname='x'\n[tool.poetry.dependencies]\npython='^3.11'\nmmh3='*'\n";
        assert_eq!(
            compiled(&[("pyproject.toml", poetry), ("poetry.lock", poetry_lock)]).0,
            gcc.0
        );
    }

    #[test]
    fn django_collects_static_with_placeholders_and_migrates_in_an_init_container() {
        let settings = "import os\nSECRET_KEY = os.environ['DJANGO_SECRET_KEY']\nDB = env.db('DATABASE_URL')\nINSTALLED_APPS = ['django.contrib.staticfiles']\nSTATIC_ROOT = BASE_DIR / 'static'\n";
        let p = plan(&[
            ("requirements.txt", "django\n"),
            (
                "manage.py",
                "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\n",
            ),
            ("shop/settings.py", settings),
        ]);
        assert_eq!(
            p.build.build.last().unwrap(),
            "env DATABASE_URL=sqlite:////tmp/justpush-build.sqlite3 DJANGO_SECRET_KEY=justpush-build-only /app/.venv/bin/python3 manage.py collectstatic --noinput"
        );
        assert_eq!(p.build.init_command, DJANGO_MIGRATE);
        // Without STATIC_ROOT there is nothing to collect into.
        let p = plan(&[
            ("requirements.txt", "django\n"),
            (
                "manage.py",
                "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\n",
            ),
            (
                "shop/settings.py",
                "INSTALLED_APPS = ['django.contrib.staticfiles']\n",
            ),
        ]);
        assert!(!p.build.build.iter().any(|c| c.contains("collectstatic")));
        assert_eq!(p.build.init_command, DJANGO_MIGRATE);
        let flask = plan(&[
            ("requirements.txt", "flask\n"),
            ("app.py", "app = Flask(__name__)\n"),
        ]);
        assert!(flask.build.init_command.is_empty());
    }
}
