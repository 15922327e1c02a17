//! One snapshot test per example project under `tests/fixtures/projects/` (as nixpacks'
//! generate_plan_tests): the detection result, and the Dockerfile generated for every
//! component without its own. Review changes with `cargo insta review`.

use std::path::{Path, PathBuf};

use justpush::detect::{detect, DetectError, DockerfileSource, Framework, Language, Template};
use justpush::dockerfile::{dockerignore, render, DockerfileOptions};

fn fixture(name: &str) -> PathBuf {
    // Relative, so that error messages (which name the path) snapshot the same everywhere.
    Path::new("tests/fixtures/projects").join(name)
}

fn check_fixture(name: &str) {
    let app = detect(&fixture(name)).unwrap_or_else(|e| panic!("detecting {name}: {e}"));
    insta::assert_yaml_snapshot!(format!("detect__{name}"), app);
    for component in &app.components {
        if component.dockerfile == DockerfileSource::Generated {
            let text = render(component, &DockerfileOptions::default())
                .unwrap_or_else(|e| panic!("rendering {name}/{}: {e}", component.name));
            insta::assert_snapshot!(format!("dockerfile__{name}__{}", component.name), text);
        }
    }
}

macro_rules! fixture_tests {
    ($($test:ident => $dir:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_fixture($dir);
            }
        )*

        /// Every fixture directory has a test above.
        #[test]
        fn every_fixture_has_a_test() {
            let mut listed: Vec<&str> = vec![$($dir,)* "empty"];
            listed.sort();
            let mut dirs: Vec<String> = std::fs::read_dir("tests/fixtures/projects")
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            dirs.sort();
            assert_eq!(dirs, listed);
        }
    };
}

fixture_tests! {
    nextjs => "nextjs",
    express => "express",
    fastify => "fastify",
    vite => "vite",
    nestjs => "nestjs",
    fastapi_uv => "fastapi-uv",
    flask_requirements => "flask-requirements",
    flask_instance => "flask-instance",
    node_uploads => "node-uploads",
    flask_sqlite_root => "flask-sqlite-root",
    django_poetry => "django-poetry",
    python_pyproject => "python-pyproject",
    go => "go",
    go_stdlib => "go-stdlib",
    go_cgo => "go-cgo",
    go_sqlite3 => "go-sqlite3",
    spring_maven => "spring-maven",
    spring_gradle => "spring-gradle",
    rust_axum => "rust-axum",
    rust_std => "rust-std",
    rust_openssl => "rust-openssl",
    rust_vendored => "rust-vendored",
    static_site => "static",
    monorepo => "monorepo",
    apps_monorepo => "apps-monorepo",
    compose => "compose",
    existing_dockerfile => "existing-dockerfile",
    own_dockerfile_root => "own-dockerfile-root",
    dockerfile_only => "dockerfile-only",
    express_devstart => "express-devstart",
    node_native => "node-native",
    node_engines => "node-engines",
    probe_stdlib => "probe-stdlib",
    python_version => "python-version",
    python_sdist => "python-sdist",
    django_sqlite => "django-sqlite",
}

#[test]
fn empty_directory_is_an_error_that_says_what_to_do() {
    let err = detect(&fixture("empty")).unwrap_err();
    assert!(matches!(err, DetectError::NothingDeployable { .. }));
    insta::assert_snapshot!("detect__empty", err.to_string());
}

#[test]
fn missing_directory_is_an_error() {
    let err = detect(Path::new("tests/fixtures/projects/does-not-exist")).unwrap_err();
    assert!(matches!(err, DetectError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("does-not-exist"));
}

#[test]
fn serialised_form_has_exactly_the_contract_keys() {
    let app = detect(&fixture("monorepo")).unwrap();
    let json = serde_json::to_value(&app).unwrap();
    let keys: Vec<&str> = json["components"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "path",
            "language",
            "framework",
            "port",
            "port_source",
            "dockerfile",
            "start",
            "health",
            "health_source",
            "openapi",
            "env"
        ]
    );
}

/// One fixture per template, for the checks that apply to every template.
pub const TEMPLATE_FIXTURES: [(Template, &str, &str); 11] = [
    (Template::PythonUv, "fastapi-uv", "todo-api"),
    (
        Template::PythonPip,
        "flask-requirements",
        "flask-requirements",
    ),
    (Template::PythonPoetry, "django-poetry", "blog"),
    (Template::NodeNextjs, "nextjs", "storefront"),
    (Template::NodeServer, "express", "orders-api"),
    (Template::NodeStatic, "vite", "dashboard"),
    (Template::Go, "go", "inventory"),
    (Template::JavaMaven, "spring-maven", "payments"),
    (Template::JavaGradle, "spring-gradle", "inventory-service"),
    (Template::Rust, "rust-axum", "ledger"),
    (Template::Static, "static", "static"),
];

fn component(dir: &str, name: &str) -> justpush::detect::Component {
    detect(&fixture(dir))
        .unwrap()
        .components
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{dir} has no component {name}"))
}

#[test]
fn template_fixtures_cover_every_template() {
    for (template, dir, name) in TEMPLATE_FIXTURES {
        let c = component(dir, name);
        assert_eq!(
            c.build.as_ref().map(|b| b.template),
            Some(template),
            "{dir}"
        );
    }
    let covered: Vec<Template> = TEMPLATE_FIXTURES.iter().map(|t| t.0).collect();
    assert_eq!(covered, Template::ALL);
}

fn final_stage(dockerfile: &str) -> &str {
    let at = dockerfile.rfind("\nFROM ").expect("multi-stage");
    &dockerfile[at..]
}

#[test]
fn every_template_follows_the_image_rules() {
    let bare_python = regex::Regex::new(r#"(RUN|&&|\[)\s*"?python[ "]"#).unwrap();
    for (template, dir, name) in TEMPLATE_FIXTURES {
        let c = component(dir, name);
        let text = render(&c, &DockerfileOptions::default()).unwrap();
        let last = final_stage(&text);
        assert!(
            text.matches("\nFROM ").count() >= 2,
            "{template}: multi-stage"
        );
        assert!(
            text.contains(" AS builder"),
            "{template}: named builder stage"
        );
        assert!(
            last.contains("\nUSER 10001:10001\n"),
            "{template}: numeric non-root user"
        );
        assert!(
            last.contains(&format!("\nEXPOSE {}\n", c.port)),
            "{template}: EXPOSE"
        );
        assert!(last.contains("\nHEALTHCHECK "), "{template}: HEALTHCHECK");
        assert!(
            last.contains("org.opencontainers.image.title="),
            "{template}: OCI labels"
        );
        assert!(
            last.contains(&format!("PORT={}", c.port)),
            "{template}: PORT set"
        );
        assert!(
            text.starts_with("# Generated by justpush"),
            "{template}: marker"
        );
        // The final stage takes build outputs only, never the raw build context.
        for line in last.lines().filter(|l| l.starts_with("COPY ")) {
            assert!(line.contains("--from=builder"), "{template}: {line}");
        }
        // No BuildKit-only syntax: the classic builder of Engine 20.10 must build it.
        assert!(!text.contains("--mount"), "{template}");
        assert!(!text.contains("<<"), "{template}: heredoc");
        if matches!(c.language, Some(Language::Python | Language::Node)) {
            // Must build on plain Debian with python3/nodejs from apt, too.
            assert!(!text.contains("corepack"), "{template}");
            assert!(
                !bare_python.is_match(&text),
                "{template}: python3, not python"
            );
        }
        if c.language == Some(Language::Python) {
            assert!(
                text.contains("python3 -m venv"),
                "{template}: explicit venv"
            );
        }
        let ignore = dockerignore(&c);
        for secret in [
            "**/.env*",
            "**/.git",
            "**/justpush.yaml",
            ".justpush",
            "**/*.pem",
        ] {
            assert!(
                ignore.contains(&format!("\n{secret}\n")),
                "{template}: {secret}"
            );
        }
        assert!(!ignore.contains(".justpush-ca.crt"));
    }
}

#[test]
fn ca_bundle_stays_in_the_builder() {
    let options = DockerfileOptions {
        ca_bundle: true,
        ..Default::default()
    };
    for (template, dir, name) in TEMPLATE_FIXTURES {
        let c = component(dir, name);
        let text = render(&c, &options).unwrap();
        let last = final_stage(&text);
        for needle in ["justpush-ca", "ca.crt", "truststore", "CAFILE", "PIP_CERT"] {
            assert!(
                !last.contains(needle),
                "{template}: `{needle}` in the final stage"
            );
        }
        if template == Template::Static {
            // Nothing is downloaded; the bundle is only removed from the site.
            assert!(!text.contains("COPY .justpush-ca.crt"));
            continue;
        }
        let builder = &text[..text.len() - last.len()];
        assert!(
            builder.contains("COPY .justpush-ca.crt /usr/local/share/justpush/ca.crt"),
            "{template}"
        );
        // A builder that copies the whole context deletes the bundle from it before the final
        // stage could copy the directory.
        if let Some(at) = builder.find("\nCOPY . .\n") {
            assert!(
                builder[at..].contains("rm -f .justpush-ca.crt"),
                "{template}"
            );
        }
        insta::assert_snapshot!(format!("dockerfile_ca__{template}"), text);
    }
}

#[test]
fn base_images_are_overridable_per_language() {
    let options: DockerfileOptions = serde_json::from_value(serde_json::json!({
        "base_images": {
            "python": {"builder": "127.0.0.1:5000/justpush/python:3.11-bookworm", "runtime": "127.0.0.1:5000/justpush/python:3.11-bookworm"},
            "node": {"runtime": "127.0.0.1:5000/justpush/node:18-bookworm"}
        },
        "source_url": "https://example.com/acme/todo"
    }))
    .unwrap();
    let py = render(&component("fastapi-uv", "todo-api"), &options).unwrap();
    assert!(py.contains("ARG BUILDER_IMAGE=127.0.0.1:5000/justpush/python:3.11-bookworm\n"));
    assert!(py.contains("ARG RUNTIME_IMAGE=127.0.0.1:5000/justpush/python:3.11-bookworm\n"));
    assert!(py.contains("org.opencontainers.image.source=\"https://example.com/acme/todo\""));
    let node = render(&component("nextjs", "storefront"), &options).unwrap();
    assert!(node.contains("ARG BUILDER_IMAGE=node:20-bookworm-slim\n"));
    assert!(node.contains("ARG RUNTIME_IMAGE=127.0.0.1:5000/justpush/node:18-bookworm\n"));
    let go = render(&component("go", "inventory"), &options).unwrap();
    // No Go override: the tag comes from the fixture's go.mod (`go 1.22`).
    assert!(go.contains("ARG BUILDER_IMAGE=golang:1.22-bookworm\n"));
}

#[test]
fn unsafe_values_are_refused() {
    let mut c = component("express", "orders-api");
    c.health = "/x' && rm -rf / #".into();
    let err = render(&c, &DockerfileOptions::default()).unwrap_err();
    assert!(err.to_string().contains("health path"), "{err}");
    let mut options = DockerfileOptions::default();
    options.base_images.insert(
        Language::Node,
        justpush::dockerfile::BaseImageOverride {
            builder: Some("node:20\nRUN curl evil".into()),
            runtime: None,
        },
    );
    let err = render(&component("express", "orders-api"), &options).unwrap_err();
    assert!(
        err.to_string().contains("not a valid image reference"),
        "{err}"
    );
}

#[test]
fn existing_dockerfile_is_not_regenerated() {
    let c = component("existing-dockerfile", "existing-dockerfile");
    assert_eq!(c.dockerfile, DockerfileSource::Existing);
    let err = render(&c, &DockerfileOptions::default()).unwrap_err();
    assert!(err.to_string().contains("own Dockerfile"), "{err}");
}

/// The demo stack in `images/` (or `$JUSTPUSH_DEMO_ROOT`) is detected as the product promises:
/// a Next.js frontend on 3000 and a FastAPI backend on 8000. Skipped while it does not exist.
#[test]
fn demo_stack() {
    let root = std::env::var_os("JUSTPUSH_DEMO_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("images"));
    for (dir, language, framework, port) in [
        ("frontend", Language::Node, Framework::Nextjs, 3000),
        ("backend", Language::Python, Framework::Fastapi, 8000),
    ] {
        let path = root.join(dir);
        if !path.is_dir() {
            eprintln!("skipping demo {dir}: {} does not exist yet", path.display());
            continue;
        }
        let app = detect(&path).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("{}", serde_json::to_string_pretty(&app).unwrap());
        assert_eq!(app.components.len(), 1, "{dir}: {app:?}");
        let c = &app.components[0];
        assert_eq!(c.language, Some(language), "{dir}");
        assert_eq!(c.framework, Some(framework), "{dir}");
        assert_eq!(c.port, port, "{dir}");
        if c.dockerfile == DockerfileSource::Generated {
            render(c, &DockerfileOptions::default()).unwrap();
        }
    }
}
