//! Go modules: `go.mod`. The main package is the root's, else the first `cmd/*` (or other
//! directory) that declares `package main` with a `func main`.

use std::sync::LazyLock;

use regex::Regex;

use super::{argv, default_port, existing, Hints, Plan, ProjectDir, Provider};
use crate::detect::{scan, value_rules, BuildPlan, DetectError, Framework, Language, Template};

/// Detects and plans Go modules.
pub struct GoProvider;

fn is_main(text: &str) -> bool {
    static MAIN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?m)^package\s+main\b").unwrap());
    static FUNC: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?m)^func\s+main\s*\(\s*\)").unwrap());
    MAIN.is_match(text) && FUNC.is_match(text)
}

/// The package to build, as a `go build` argument (`.` or `./cmd/api`).
fn main_package(dir: &ProjectDir<'_>) -> String {
    let mut candidates: Vec<String> = Vec::new();
    for file in dir.sources(&["go"]) {
        if let Some(text) = dir.read(file) {
            if is_main(&text) {
                let pkg = file.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                candidates.push(pkg.to_string());
            }
        }
    }
    // The root first, then cmd/*, then anything else; shallow before deep.
    candidates.sort_by_key(|p| {
        (
            !p.is_empty(),
            !p.starts_with("cmd/"),
            p.matches('/').count(),
            p.clone(),
        )
    });
    match candidates.first() {
        Some(p) if p.is_empty() => ".".to_string(),
        Some(p) => format!("./{p}"),
        None => ".".to_string(),
    }
}

impl Provider for GoProvider {
    fn name(&self) -> &'static str {
        "go"
    }

    fn detect(&self, dir: &ProjectDir<'_>) -> bool {
        dir.exists("go.mod")
    }

    fn plan(&self, dir: &ProjectDir<'_>, hints: &Hints) -> Result<Plan, DetectError> {
        let gomod = dir.read("go.mod").unwrap_or_default();
        static MODULE: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"(?m)^module\s+(\S+)").unwrap());
        let module = MODULE.captures(&gomod).map(|c| c[1].to_string());
        let framework = [
            ("github.com/gin-gonic/gin", Framework::Gin),
            ("github.com/labstack/echo", Framework::Echo),
            ("github.com/gofiber/fiber", Framework::Fiber),
            ("github.com/go-chi/chi", Framework::Chi),
        ]
        .into_iter()
        .find(|(path, _)| gomod.contains(path))
        .map(|(_, f)| f);
        let (port, port_source) = hints
            .port_found()
            .or_else(|| {
                dir.port_in_sources(&["go"], |_, text| scan::port_in_source(Language::Go, text))
            })
            .or_else(|| dir.dotenv_port_found())
            .unwrap_or_else(|| default_port(Language::Go, framework));
        let health = dir.health_route_found(&["go"]);
        let package = main_package(dir);
        // The directory name goes into `RUN go build ... ./cmd/<name>`.
        value_rules::relative_path(
            &dir.full(package.trim_start_matches("./")),
            "main package directory",
            &package,
        )?;
        let mut build = BuildPlan::new(Template::Go);
        build.manifests = existing(dir, &["go.mod", "go.sum"]);
        // A vendored module needs its sources for everything, so download nothing up front.
        if !dir.has_dir("vendor") {
            build.install = vec!["go mod download".to_string()];
        }
        build.build = vec![format!(
            "go build -trimpath -ldflags=\"-s -w\" -o /out/app {package}"
        )];
        build.artifact = Some(package);
        build.cmd = argv(["/usr/local/bin/app"]);
        Ok(Plan {
            language: Language::Go,
            framework,
            name: module.map(|m| m.rsplit('/').next().unwrap_or(&m).to_string()),
            port,
            port_source,
            health: health.as_ref().map(|(r, _)| r.clone()),
            health_source: health.map(|(_, f)| f),
            openapi_runtime: None,
            env: dir.env_reads(Language::Go, &["go"]),
            build,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::SourceTree;

    #[test]
    fn main_package_prefers_root_then_cmd() {
        let main = "package main\n\nfunc main() {}\n";
        let tree = SourceTree::from_memory([
            (
                "go.mod",
                "module example.com/acme/shop\n\nrequire github.com/gin-gonic/gin v1.10.0\n",
            ),
            ("tools/gen/main.go", main),
            ("cmd/api/main.go", main),
            ("internal/x.go", "package internal\n"),
        ]);
        let dir = ProjectDir::new(&tree, ".");
        assert_eq!(main_package(&dir), "./cmd/api");
        let plan = GoProvider.plan(&dir, &Hints::default()).unwrap();
        assert_eq!(plan.name.as_deref(), Some("shop"));
        assert_eq!(plan.framework, Some(Framework::Gin));
        assert_eq!(plan.port, 8080);
    }
}
