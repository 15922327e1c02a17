//! `routes`: the Kong routes and plugins an OpenAPI spec becomes, without a cluster; and the
//! shared loading of a spec plus the gateway settings for `render --openapi` and `kong sync`.

use crate::detect::config::{AppConfig, KongConfig, CONFIG_FILE};
use crate::error::CliError;
use crate::kong::derive::{derive, GatewaySettings, RoutePlan};
use crate::kong::spec::ApiSpec;
use crate::output::{table, Format, Shell};
use clap::Args;
use std::path::{Path, PathBuf};

/// Where the spec and the gateway settings come from.
#[derive(Debug, Args, Clone)]
pub struct SpecArgs {
    /// OpenAPI 3.0/3.1 or Swagger 2.0 document (YAML or JSON), or a project directory whose
    /// justpush.yaml (or detection) names the spec file.
    #[arg(value_name = "SPEC", required_unless_present = "url")]
    pub spec: Option<PathBuf>,
    /// Fetch the spec from a running service instead, e.g. http://localhost:8000/openapi.json.
    #[arg(long, value_name = "URL", conflicts_with = "spec")]
    pub url: Option<String>,
    /// justpush.yaml with the gateway settings (rate limits, CORS, transformers); default:
    /// ./justpush.yaml when it exists, else built-in defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Release name (names the anonymous consumer and the Admin API objects; default: the
    /// `name` in justpush.yaml, else justpush).
    #[arg(long)]
    pub name: Option<String>,
    /// Make operations whose security Kong cannot enforce (oauth2, openIdConnect, mutualTLS,
    /// ...) public routes, with a warning, instead of refusing the spec (as
    /// `kong.allowPublic: true` in justpush.yaml).
    #[arg(long)]
    pub allow_public: bool,
}

#[derive(Debug, Args)]
pub struct RoutesArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Print the bundled chart's values for these routes instead (a values file for
    /// `helm install -f`; what `render --openapi` layers under the user's values).
    #[arg(long)]
    pub chart_values: bool,
    /// Component serving the spec (with --chart-values; default: the project's, else backend).
    #[arg(long, value_name = "NAME")]
    pub component: Option<String>,
}

/// The release name: the flag, else justpush.yaml's `name` (the given file or ./justpush.yaml),
/// else `justpush`.
pub fn release_name(flag: Option<&str>, config: Option<&Path>) -> Result<String, CliError> {
    if let Some(n) = flag {
        super::render::check_release_flag("--name", n)?;
        return Ok(n.to_string());
    }
    let path = config
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(CONFIG_FILE));
    if path.is_file() {
        return AppConfig::load(&path)
            .map(|c| c.name)
            .map_err(|e| CliError::usage(e.to_string()));
    }
    Ok("justpush".to_string())
}

/// The gateway settings: the given justpush.yaml, ./justpush.yaml, or the defaults.
pub fn kong_config(explicit: Option<&Path>) -> Result<KongConfig, CliError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let default = PathBuf::from(CONFIG_FILE);
            if !default.is_file() {
                return Ok(KongConfig::default());
            }
            default
        }
    };
    AppConfig::load(&path)
        .map(|c| c.kong)
        .map_err(|e| CliError::usage(e.to_string()))
}

/// A spec with what was derived from it.
pub struct LoadedSpec {
    pub spec: ApiSpec,
    pub plan: RoutePlan,
    pub settings: GatewaySettings,
    /// The component serving the spec, when the spec was found through a project.
    pub component: Option<String>,
    /// The release name.
    pub release: String,
}

/// The spec file of a project directory: the first component whose justpush.yaml entry (or,
/// without justpush.yaml, detection) names an `openapi.file`.
fn project_spec(dir: &Path) -> Result<(PathBuf, String), CliError> {
    use crate::detect::OpenApi;
    let config_path = dir.join(CONFIG_FILE);
    let entries: Vec<(String, Option<OpenApi>)> = if config_path.is_file() {
        let config = AppConfig::load(&config_path).map_err(|e| CliError::usage(e.to_string()))?;
        config
            .components
            .into_iter()
            .map(|c| (c.name, c.openapi))
            .collect()
    } else {
        let app = crate::detect::detect(dir).map_err(|e| CliError::usage(e.to_string()))?;
        app.components
            .into_iter()
            .map(|c| (c.name, c.openapi))
            .collect()
    };
    let mut runtime = None;
    for (name, openapi) in entries {
        match openapi {
            Some(OpenApi::File(f)) => return Ok((dir.join(f), name)),
            Some(OpenApi::Runtime(path)) => runtime = Some((name, path)),
            None => {}
        }
    }
    Err(CliError::usage(match runtime {
        Some((name, path)) => format!(
            "{}: component {name} serves its spec at runtime ({path}) and has no spec file; run it and pass --url http://HOST:PORT{path}, or pass the file",
            dir.display()
        ),
        None => format!(
            "{}: no component has an OpenAPI spec (none detected, none in justpush.yaml); pass the spec file",
            dir.display()
        ),
    }))
}

/// Reads the spec (file, project, or URL) and derives its plan; warnings go to stderr.
pub fn load_plan(args: &SpecArgs, shell: &mut Shell) -> Result<LoadedSpec, CliError> {
    let kong = kong_config(args.config.as_deref())?;
    let release = release_name(args.name.as_deref(), args.config.as_deref())?;
    let mut settings = GatewaySettings::from_config(&kong, &release);
    settings.allow_public |= args.allow_public;
    let (spec, component) = match (&args.spec, &args.url) {
        (_, Some(url)) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| CliError::failed(e.to_string()))?;
            let spec = runtime
                .block_on(crate::kong::spec::fetch(
                    url,
                    std::time::Duration::from_secs(20),
                ))
                .map_err(|e| CliError::failed(e.to_string()))?;
            (spec, None)
        }
        (Some(path), None) if path.is_dir() => {
            let (file, component) = project_spec(path)?;
            shell
                .status(
                    "Using",
                    &format!("{} (component {component})", file.display()),
                )
                .ok();
            (
                ApiSpec::load_in_project(path, &file)
                    .map_err(|e| CliError::usage(e.to_string()))?,
                Some(component),
            )
        }
        (Some(path), None) => (
            ApiSpec::load(path).map_err(|e| CliError::usage(e.to_string()))?,
            None,
        ),
        (None, None) => {
            return Err(CliError::usage(
                "pass a spec file, a project directory, or --url",
            ))
        }
    };
    let plan = derive(&spec, &settings).map_err(|e| CliError::usage(e.to_string()))?;
    for w in &plan.warnings {
        shell
            .warn(&format!(
                "{}: at {}: {}",
                spec.source,
                if w.pointer.is_empty() {
                    "/"
                } else {
                    &w.pointer
                },
                w.message
            ))
            .ok();
    }
    Ok(LoadedSpec {
        spec,
        plan,
        settings,
        component,
        release,
    })
}

pub fn run(args: &RoutesArgs, shell: &mut Shell) -> Result<(), CliError> {
    let LoadedSpec {
        spec,
        plan,
        settings,
        component,
        ..
    } = load_plan(&args.spec, shell)?;
    let component = args
        .component
        .clone()
        .or(component)
        .unwrap_or_else(|| "backend".into());
    let io = CliError::io;
    if args.chart_values {
        let (values, warnings) =
            crate::kong::chart_values::chart_values(&plan, &settings, &component);
        for w in warnings {
            shell.warn(&w).ok();
        }
        if shell.format == Format::Json {
            return shell.structured(&values).map_err(io);
        }
        let header = format!(
            "# Chart values generated by `kubectl justpush routes {} --chart-values`: Kong routes\n# derived from the OpenAPI spec. Regenerate instead of editing.\n",
            spec.source
        );
        let body = serde_yaml::to_string(&values).map_err(|e| CliError::failed(e.to_string()))?;
        return shell.data(&(header + &body)).map_err(io);
    }
    match shell.format {
        Format::Json | Format::Yaml => shell.structured(&plan).map_err(io),
        Format::Text => {
            let mut rows = vec![["NAME", "METHODS", "PATH", "PRIORITY", "AUTH", "PLUGINS"]
                .map(String::from)
                .to_vec()];
            for r in &plan.routes {
                rows.push(vec![
                    r.name.clone(),
                    r.methods.join(","),
                    r.paths.join(","),
                    r.regex_priority.to_string(),
                    r.auth.to_string(),
                    r.plugins
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                ]);
            }
            shell.data(&table(&rows)).map_err(io)?;
            if let Some(anon) = &plan.anonymous_consumer {
                shell
                    .status("Consumer", &format!("{} (anonymous, refused by request-termination) backs the OR-combined authentication", anon.username))
                    .ok();
            }
            Ok(())
        }
    }
}
