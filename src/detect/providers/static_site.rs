//! Static sites: an `index.html` at the directory's top (or in `public/`), served as files.

use super::{argv, Hints, Plan, ProjectDir, Provider};
use crate::detect::{BuildPlan, DetectError, Language, Template};

/// Detects and plans plain static sites.
pub struct StaticProvider;

impl Provider for StaticProvider {
    fn name(&self) -> &'static str {
        "static"
    }

    fn detect(&self, dir: &ProjectDir<'_>) -> bool {
        dir.exists("index.html") || dir.exists("public/index.html")
    }

    fn plan(&self, dir: &ProjectDir<'_>, hints: &Hints) -> Result<Plan, DetectError> {
        let root = if dir.exists("index.html") {
            "."
        } else {
            "public"
        };
        let mut build = BuildPlan::new(Template::Static);
        build.artifact = Some(root.to_string());
        build.cmd = argv(["node", "/srv/server.js"]);
        Ok(Plan {
            language: Language::Static,
            framework: None,
            name: None,
            port: hints.port.unwrap_or(8080),
            port_source: hints.port_found().map_or_else(
                || "the static server's default port".to_string(),
                |(_, s)| s,
            ),
            health: None,
            health_source: None,
            openapi_runtime: None,
            env: dir.dotenv_keys(),
            build,
        })
    }
}
