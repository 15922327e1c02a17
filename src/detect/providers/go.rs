//! Go modules: `go.mod`. The main package is the root's, else the first `cmd/*` (or other
//! directory) that declares `package main` with a `func main`. go.mod's `go` line (and
//! `toolchain`) pick the builder's tag and its minimum; cgo is on when a dependency needs it
//! or the sources `import "C"`.

use std::sync::LazyLock;

use regex::Regex;

use super::toolchain::{self, Minimum};
use super::{argv, default_port, existing, Hints, Plan, ProjectDir, Provider};
use crate::detect::{
    scan, value_rules, BuildPlan, DetectError, Framework, Language, RuntimeVersion, Template,
};

/// Modules that need cgo and nothing but gcc and glibc (they bundle their C sources), so a
/// `CGO_ENABLED=0` build either fails or builds a binary that fails at run time (go-sqlite3:
/// "Binary was compiled with 'CGO_ENABLED=0', go-sqlite3 requires cgo to work").
const CGO_MODULES: &[&str] = &[
    "github.com/mattn/go-sqlite3",
    "github.com/confluentinc/confluent-kafka-go",
    "github.com/DataDog/zstd",
    "github.com/linxGnu/grocksdb",
    "github.com/valyala/gozstd",
];

/// Why cgo is needed, if it is: a module from [`CGO_MODULES`] in go.mod, or a source file
/// with `import "C"`.
fn cgo_reason(dir: &ProjectDir<'_>, gomod: &str) -> Option<String> {
    static IMPORT_C: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"(?m)^import\s+"C"\s*$"#).unwrap());
    if let Some(m) = CGO_MODULES.iter().find(|m| {
        gomod
            .split_whitespace()
            .any(|word| word == **m || word.starts_with(&format!("{m}/")))
    }) {
        return Some(format!("go.mod requires {m}"));
    }
    dir.sources(&["go"])
        .into_iter()
        .filter(|f| !f.ends_with("_test.go"))
        .find(|f| dir.read(f).is_some_and(|t| IMPORT_C.is_match(&t)))
        .map(|f| format!("{f} imports \"C\""))
}

/// The Go version go.mod declares: the `go` line is the minimum, a `toolchain` line (Go 1.21+)
/// the release the project builds with, so it picks the tag when present.
fn declared_version(
    dir: &ProjectDir<'_>,
    gomod: &str,
) -> Result<Option<(RuntimeVersion, Option<String>)>, DetectError> {
    static GO: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?m)^go\s+(\S+)\s*$").unwrap());
    static TOOLCHAIN: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?m)^toolchain\s+go(\S+)\s*$").unwrap());
    let Some(go) = GO.captures(gomod).map(|c| c[1].to_string()) else {
        return Ok(None);
    };
    let file = dir.full("go.mod");
    let minimum = toolchain::numeric_part(&go).map(str::to_string);
    let Some(minimum) = minimum else {
        // `go 1.x;rm -rf /` and the like: refused naming the file, as any value that would
        // reach the Dockerfile.
        value_rules::version_number(&file, "go line", &go)?;
        return Ok(None);
    };
    let toolchain_version = TOOLCHAIN
        .captures(gomod)
        .and_then(|c| toolchain::numeric_part(&c[1]).map(str::to_string));
    let (declared, source, tag) = match &toolchain_version {
        Some(t) => (
            format!("go {go}, toolchain go{t}"),
            "go.mod toolchain line".to_string(),
            toolchain::major_minor(t),
        ),
        None => (
            format!("go {go}"),
            "go.mod go line".to_string(),
            toolchain::major_minor(&minimum),
        ),
    };
    value_rules::version_number(&file, "go line", &tag)?;
    Ok(Some((
        RuntimeVersion {
            declared,
            source,
            tag: Some(tag),
        },
        Some(minimum),
    )))
}

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
        if let Some((version, minimum)) = declared_version(dir, &gomod)? {
            if let Some(minimum) = minimum {
                let min = Minimum {
                    file: "go.mod",
                    field: "go line",
                    version: &minimum,
                };
                // `go env GOVERSION` prints `go1.19.8`.
                build.setup.push(toolchain::check_command(
                    &dir.full("go.mod"),
                    &min,
                    "go",
                    "Go",
                    "have=\"$(go env GOVERSION)\" && have=\"${have#go}\"",
                )?);
            }
            build.runtime_version = Some(version);
        }
        let cgo = cgo_reason(dir, &gomod);
        if cgo.is_some() {
            // The C compiler and glibc headers; the runtime is Debian bookworm like the
            // builder, so the binary finds the same glibc it was linked against.
            build.builder_packages = vec!["gcc".to_string(), "libc6-dev".to_string()];
        }
        let cgo_enabled = if cgo.is_some() { 1 } else { 0 };
        build.manifests = existing(dir, &["go.mod", "go.sum"]);
        // A vendored module needs its sources for everything, so download nothing up front.
        if !dir.has_dir("vendor") {
            build.install = vec!["go mod download".to_string()];
        }
        build.build = vec![format!(
            "CGO_ENABLED={cgo_enabled} go build -trimpath -ldflags=\"-s -w\" -o /out/app {package}"
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

    fn plan_of(files: &[(&str, &str)]) -> Result<Plan, DetectError> {
        let tree = SourceTree::from_memory(files.iter().copied());
        GoProvider.plan(&ProjectDir::new(&tree, "."), &Hints::default())
    }

    const MAIN: &str = "package main\n\nfunc main() {}\n";

    #[test]
    fn go_line_and_toolchain_pick_the_tag_and_the_minimum() {
        let plan = plan_of(&[("go.mod", "module x\n\ngo 1.21.0\n"), ("main.go", MAIN)]).unwrap();
        let v = plan.build.runtime_version.unwrap();
        assert_eq!(
            (v.declared.as_str(), v.tag.as_deref()),
            ("go 1.21.0", Some("1.21"))
        );
        assert!(
            plan.build.setup[0].contains("declares Go 1.21.0"),
            "{:?}",
            plan.build.setup
        );
        assert!(plan.build.setup[0].contains("--base-image go.builder=IMAGE"));

        let plan = plan_of(&[
            ("go.mod", "module x\n\ngo 1.21\n\ntoolchain go1.22.5\n"),
            ("main.go", MAIN),
        ])
        .unwrap();
        let v = plan.build.runtime_version.unwrap();
        assert_eq!(v.tag.as_deref(), Some("1.22"));
        assert_eq!(v.source, "go.mod toolchain line");
        // The go line stays the minimum the builder must meet.
        assert!(plan.build.setup[0].contains("declares Go 1.21,"));

        let plan = plan_of(&[("go.mod", "module x\n"), ("main.go", MAIN)]).unwrap();
        assert_eq!(plan.build.runtime_version, None);
        assert!(plan.build.setup.is_empty());
    }

    #[test]
    fn a_hostile_go_line_is_refused_naming_go_mod() {
        let err = plan_of(&[("go.mod", "module x\n\ngo x;curl|sh\n"), ("main.go", MAIN)])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("go.mod: go line"), "{err}");
    }

    #[test]
    fn cgo_is_on_for_cgo_modules_and_import_c_and_off_otherwise() {
        let sqlite = plan_of(&[
            (
                "go.mod",
                "module x\n\ngo 1.22\n\nrequire github.com/mattn/go-sqlite3 v1.14.22\n",
            ),
            ("main.go", MAIN),
        ])
        .unwrap();
        assert!(sqlite.build.build[0].starts_with("CGO_ENABLED=1 go build"));
        assert_eq!(sqlite.build.builder_packages, ["gcc", "libc6-dev"]);
        assert!(sqlite.build.runtime_packages.is_empty());

        let import_c =
            "package main\n\n// int one() { return 1; }\nimport \"C\"\n\nfunc main() {}\n";
        let own_c = plan_of(&[("go.mod", "module x\n"), ("main.go", import_c)]).unwrap();
        assert!(own_c.build.build[0].starts_with("CGO_ENABLED=1 "));

        // A module path that merely starts like a cgo one is not it.
        let plain = plan_of(&[
            (
                "go.mod",
                "module x\n\nrequire github.com/mattn/go-sqlite3x v1.0.0\n",
            ),
            ("main.go", MAIN),
        ])
        .unwrap();
        assert!(plain.build.build[0].starts_with("CGO_ENABLED=0 go build"));
        assert!(plain.build.builder_packages.is_empty());
    }
}
