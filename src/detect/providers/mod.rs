//! One [`Provider`] per language, as in nixpacks: `detect` says whether a directory is a
//! project of that language, `plan` says how to build and run it. Providers only read files
//! through [`ProjectDir`].

mod go;
mod java;
mod node;
mod python;
mod rust;
mod static_site;
mod toolchain;

use std::collections::BTreeSet;

use super::scan;
use super::tree::{join, SourceTree};
use super::{BuildPlan, DetectError, Framework, Language};

pub use go::GoProvider;
pub use java::JavaProvider;
pub use node::NodeProvider;
pub use python::PythonProvider;
pub use rust::RustProvider;
pub use static_site::StaticProvider;

/// A language's detector and planner.
pub trait Provider: Sync {
    /// Short name, for messages.
    fn name(&self) -> &'static str;
    /// True if `dir` is a project this provider can build.
    fn detect(&self, dir: &ProjectDir<'_>) -> bool;
    /// How to build and run the project in `dir`.
    fn plan(&self, dir: &ProjectDir<'_>, hints: &Hints) -> Result<Plan, DetectError>;
}

/// Facts known from outside the directory's own sources (a compose file).
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// The container port a compose file declares.
    pub port: Option<u16>,
}

impl Hints {
    /// The compose file's port, with its source.
    pub fn port_found(&self) -> Option<(u16, String)> {
        self.port
            .map(|p| (p, "the compose file's ports".to_string()))
    }
}

/// A framework's (or language's) conventional port, with that said as its source.
pub fn default_port(language: Language, framework: Option<Framework>) -> (u16, String) {
    let port = super::conventional_port(language, framework);
    let whose = framework.map_or_else(|| language.to_string(), |f| f.to_string());
    (port, format!("{whose}{DEFAULT_PORT_SUFFIX}"))
}

/// How a port source that is only a framework's (or language's) default ends.
const DEFAULT_PORT_SUFFIX: &str = "'s default port";

/// True when `port_source` is only a default, not something the project states.
pub fn is_default_port_source(port_source: &str) -> bool {
    port_source.ends_with(DEFAULT_PORT_SUFFIX)
}

/// Where a health path came from when none was found.
pub const GUESSED_HEALTH: &str = "guessed: no health route in the sources";

/// What a provider found: plain data, turned into a [`super::Component`] by the layout pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub language: Language,
    pub framework: Option<Framework>,
    /// The project's own name from its manifest, if it has one.
    pub name: Option<String>,
    /// The port the service listens on (stated in code or config, else the convention).
    pub port: u16,
    /// Where `port` was found (`main.py`, `package.json scripts.start`, `fastapi's default port`).
    pub port_source: String,
    /// An explicit health route, if one was found.
    pub health: Option<String>,
    /// Where `health` was found (the source file), when it was.
    pub health_source: Option<String>,
    /// The URL path a framework serves its OpenAPI document on.
    pub openapi_runtime: Option<String>,
    /// Environment variables read by the code.
    pub env: BTreeSet<String>,
    /// How to build the image; `build.cmd` is the start command.
    pub build: BuildPlan,
}

/// The providers in the order they are asked. Compiled languages come before Python and Node
/// because their projects often carry a package.json for assets; a framework match from a
/// later provider still wins over a framework-less earlier one.
pub fn providers() -> [&'static dyn Provider; 6] {
    [
        &JavaProvider,
        &GoProvider,
        &RustProvider,
        &PythonProvider,
        &NodeProvider,
        &StaticProvider,
    ]
}

/// Plans `dir` with the best-matching provider, or `None` if no provider recognises it.
pub fn plan_dir(dir: &ProjectDir<'_>, hints: &Hints) -> Result<Option<Plan>, DetectError> {
    let mut plans = Vec::new();
    for provider in providers() {
        if provider.detect(dir) {
            plans.push(provider.plan(dir, hints)?);
        }
    }
    if let Some(i) = plans.iter().position(|p| p.framework.is_some()) {
        return Ok(Some(plans.swap_remove(i)));
    }
    // The static provider is last, so a framework-less project beats a stray index.html.
    Ok(plans.into_iter().next())
}

/// A directory of a [`SourceTree`] seen as a project root.
#[derive(Debug, Clone, Copy)]
pub struct ProjectDir<'a> {
    pub tree: &'a SourceTree,
    /// `/`-separated path relative to the tree root; `.` for the root.
    pub path: &'a str,
}

impl<'a> ProjectDir<'a> {
    /// A view of `path` in `tree`.
    pub fn new(tree: &'a SourceTree, path: &'a str) -> Self {
        ProjectDir { tree, path }
    }

    /// Path of `rel` relative to the tree root.
    pub fn full(&self, rel: &str) -> String {
        join(self.path, rel)
    }

    /// True if the file exists.
    pub fn exists(&self, rel: &str) -> bool {
        self.tree.exists(&self.full(rel))
    }

    /// Reads a file as text.
    pub fn read(&self, rel: &str) -> Option<String> {
        self.tree.read(&self.full(rel))
    }

    /// True if any file lies under `rel`.
    pub fn has_dir(&self, rel: &str) -> bool {
        self.tree.is_dir(&self.full(rel))
    }

    /// Every file under the directory, relative to it.
    pub fn files(&self) -> impl Iterator<Item = &'a str> + 'a {
        let skip = if self.path == "." || self.path.is_empty() {
            0
        } else {
            self.path.len() + 1
        };
        self.tree.files_under(self.path).map(move |f| &f[skip..])
    }

    /// Source files with one of `exts`, tests excluded, shallow entry points first.
    pub fn sources(&self, exts: &[&str]) -> Vec<&'a str> {
        let mut files: Vec<&str> = self
            .files()
            .filter(|f| {
                let name = f.rsplit('/').next().unwrap_or(f);
                name.rsplit_once('.')
                    .is_some_and(|(_, ext)| exts.contains(&ext))
                    && !is_test_path(f)
            })
            .collect();
        files.sort_by_key(|f| (f.matches('/').count(), entry_rank(f), f.to_string()));
        files
    }

    /// Finds the first source file whose text yields a value.
    pub fn find_in_sources<T>(
        &self,
        exts: &[&str],
        mut f: impl FnMut(&str, &str) -> Option<T>,
    ) -> Option<T> {
        for file in self.sources(exts) {
            if let Some(text) = self.read(file) {
                if let Some(v) = f(file, &text) {
                    return Some(v);
                }
            }
        }
        None
    }

    /// The environment variables read by sources of `language`, plus the keys of
    /// `.env.example`-style files.
    pub fn env_reads(&self, language: Language, exts: &[&str]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for file in self.sources(exts) {
            if let Some(text) = self.read(file) {
                out.extend(scan::env_reads(language, &text));
            }
        }
        out.extend(self.dotenv_keys());
        out
    }

    /// Keys of `.env.example`, `.env.sample`, `.env.template`, `.env.dist`, `example.env`.
    pub fn dotenv_keys(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for name in DOTENV_EXAMPLES {
            if let Some(text) = self.read(name) {
                out.extend(scan::dotenv_keys(&text));
            }
        }
        out
    }

    /// `PORT=` of a `.env.example`-style file.
    pub fn dotenv_port(&self) -> Option<u16> {
        self.dotenv_port_found().map(|(p, _)| p)
    }

    /// `PORT=` of a `.env.example`-style file, with the file's path.
    pub fn dotenv_port_found(&self) -> Option<(u16, String)> {
        DOTENV_EXAMPLES.iter().find_map(|name| {
            let port = self.read(name).and_then(|t| scan::dotenv_port(&t))?;
            Some((port, format!("{} PORT=", self.full(name))))
        })
    }

    /// The first port `port_in` finds in sources with `exts`, with the file's path.
    pub fn port_in_sources(
        &self,
        exts: &[&str],
        port_in: impl Fn(&str, &str) -> Option<u16>,
    ) -> Option<(u16, String)> {
        self.find_in_sources(exts, |file, text| {
            port_in(file, text).map(|p| (p, self.full(file)))
        })
    }

    /// The best health route declared in sources with `exts`.
    pub fn health_route(&self, exts: &[&str]) -> Option<String> {
        self.health_route_found(exts).map(|(r, _)| r)
    }

    /// The best health route declared in sources with `exts`, with the first file declaring it.
    pub fn health_route_found(&self, exts: &[&str]) -> Option<(String, String)> {
        let mut routes: Vec<(String, &str)> = Vec::new();
        for file in self.sources(exts) {
            if let Some(text) = self.read(file) {
                routes.extend(scan::health_routes(&text).into_iter().map(|r| (r, file)));
            }
        }
        let best = scan::best_health_route(routes.iter().map(|(r, _)| r.as_str()))?;
        let file = routes.iter().find(|(r, _)| *r == best).map(|(_, f)| *f)?;
        Some((best, self.full(file)))
    }

    /// Port from a Procfile-like start declaration (`Procfile` `web:` line).
    pub fn procfile_web(&self) -> Option<String> {
        let text = self.read("Procfile")?;
        text.lines()
            .find_map(|l| l.strip_prefix("web:").map(|c| c.trim().to_string()))
    }
}

/// Example env files whose keys document configuration.
pub const DOTENV_EXAMPLES: [&str; 6] = [
    ".env.example",
    ".env.sample",
    ".env.template",
    ".env.dist",
    "example.env",
    ".env.local.example",
];

fn is_test_path(path: &str) -> bool {
    let mut parts = path.split('/').peekable();
    while let Some(part) = parts.next() {
        let last = parts.peek().is_none();
        if !last {
            if matches!(
                part,
                "test" | "tests" | "__tests__" | "spec" | "e2e" | "testdata" | "fixtures"
            ) {
                return true;
            }
        } else {
            return part.ends_with("_test.go")
                || part.contains(".test.")
                || part.contains(".spec.")
                || part.starts_with("test_")
                || part.ends_with("_test.py")
                || part == "conftest.py";
        }
    }
    false
}

/// Lower is earlier: the usual entry points are read first.
fn entry_rank(path: &str) -> usize {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    match stem {
        "main" | "server" | "app" | "index" | "application" => 0,
        _ => 1,
    }
}

/// Turns strings into an owned argument vector.
fn argv<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}

/// The `COPY`-before-install manifests among `names` that exist in `dir`.
fn existing(dir: &ProjectDir<'_>, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter(|n| dir.exists(n))
        .map(|n| n.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_paths_are_excluded() {
        for p in [
            "tests/test_api.py",
            "src/__tests__/a.js",
            "handler_test.go",
            "app.spec.ts",
            "a.test.js",
            "conftest.py",
        ] {
            assert!(is_test_path(p), "{p}");
        }
        for p in ["main.py", "src/server.ts", "cmd/api/main.go", "testing.py"] {
            assert!(!is_test_path(p), "{p}");
        }
    }

    #[test]
    fn sources_are_ordered_entry_points_first() {
        let tree = SourceTree::from_memory([
            ("svc/zeta.py", ""),
            ("svc/main.py", ""),
            ("svc/pkg/app.py", ""),
            ("svc/tests/test_x.py", ""),
        ]);
        let dir = ProjectDir::new(&tree, "svc");
        assert_eq!(dir.sources(&["py"]), ["main.py", "zeta.py", "pkg/app.py"]);
    }
}
