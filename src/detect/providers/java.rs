//! Java projects: Maven (`pom.xml`) or Gradle (`build.gradle`, `build.gradle.kts`), with
//! Spring Boot recognised. Both are built into one executable jar run with `java -jar`.

use std::sync::LazyLock;

use regex::Regex;

use super::{argv, default_port, existing, Hints, Plan, ProjectDir, Provider};
use crate::detect::{scan, BuildPlan, DetectError, Framework, Language, Template};

const JAVA_EXTS: [&str; 2] = ["java", "kt"];

/// Detects and plans Maven and Gradle projects.
pub struct JavaProvider;

impl Provider for JavaProvider {
    fn name(&self) -> &'static str {
        "java"
    }

    fn detect(&self, dir: &ProjectDir<'_>) -> bool {
        ["pom.xml", "build.gradle", "build.gradle.kts"]
            .iter()
            .any(|f| dir.exists(f))
    }

    fn plan(&self, dir: &ProjectDir<'_>, hints: &Hints) -> Result<Plan, DetectError> {
        let maven = dir.exists("pom.xml");
        let build_file = if maven {
            dir.read("pom.xml")
        } else {
            dir.read("build.gradle")
                .or_else(|| dir.read("build.gradle.kts"))
        }
        .unwrap_or_default();
        let spring =
            build_file.contains("spring-boot") || build_file.contains("org.springframework.boot");
        let framework = spring.then_some(Framework::SpringBoot);

        let properties = [
            "src/main/resources/application.properties",
            "src/main/resources/application.yml",
            "src/main/resources/application.yaml",
        ];
        let (port, port_source) = hints
            .port_found()
            .or_else(|| {
                properties.iter().find_map(|f| {
                    let text = dir.read(f)?;
                    let port = if f.ends_with(".properties") {
                        scan::port_in_source(Language::Java, &text)
                    } else {
                        scan::spring_yaml_port(&text)
                    }?;
                    Some((port, format!("{} server.port", dir.full(f))))
                })
            })
            .or_else(|| dir.dotenv_port_found())
            .unwrap_or_else(|| default_port(Language::Java, framework));

        let mut env = dir.env_reads(Language::Java, &JAVA_EXTS);
        for f in properties {
            if let Some(text) = dir.read(f) {
                env.extend(scan::env_reads(Language::Java, &text));
            }
        }

        let health = dir.health_route_found(&JAVA_EXTS).or_else(|| {
            build_file
                .contains("spring-boot-starter-actuator")
                .then(|| {
                    (
                        "/actuator/health".to_string(),
                        "spring-boot-starter-actuator's default".to_string(),
                    )
                })
        });
        let openapi_runtime = build_file
            .contains("springdoc-openapi")
            .then(|| "/v3/api-docs".to_string());

        let mut build;
        if maven {
            build = BuildPlan::new(Template::JavaMaven);
            build.manifests = existing(dir, &["pom.xml"]);
            build.install = vec!["mvn -B -q dependency:go-offline".to_string()];
            build.build = vec![
                "mvn -B -DskipTests package".to_string(),
                "mkdir -p /out".to_string(),
                "find target -maxdepth 1 -name '*.jar' ! -name '*-sources.jar' ! -name '*-javadoc.jar' ! -name '*-tests.jar' -exec cp {} /out/app.jar ';'".to_string(),
            ];
            build.artifact = Some("target".to_string());
        } else {
            build = BuildPlan::new(Template::JavaGradle);
            build.manifests = existing(
                dir,
                &[
                    "settings.gradle",
                    "settings.gradle.kts",
                    "build.gradle",
                    "build.gradle.kts",
                    "gradle.properties",
                ],
            );
            let task = if spring { "bootJar" } else { "build" };
            build.build = vec![
                format!("gradle --no-daemon -x test {task}"),
                "mkdir -p /out".to_string(),
                "find build/libs -maxdepth 1 -name '*.jar' ! -name '*-plain.jar' ! -name '*-sources.jar' ! -name '*-javadoc.jar' -exec cp {} /out/app.jar ';'".to_string(),
            ];
            build.artifact = Some("build/libs".to_string());
        }
        build.cmd = argv(["java", "-XX:MaxRAMPercentage=75", "-jar", "/app/app.jar"]);

        Ok(Plan {
            language: Language::Java,
            framework,
            name: project_name(dir, maven, &build_file),
            port,
            port_source,
            health: health.as_ref().map(|(r, _)| r.clone()),
            health_source: health.map(|(_, f)| f),
            openapi_runtime,
            env,
            build,
        })
    }
}

/// Maven's `artifactId` (the project's own, not the parent's) or Gradle's `rootProject.name`.
fn project_name(dir: &ProjectDir<'_>, maven: bool, build_file: &str) -> Option<String> {
    if maven {
        static PARENT: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"(?s)<parent>.*?</parent>").unwrap());
        static ARTIFACT: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"<artifactId>\s*([^<\s]+)\s*</artifactId>").unwrap());
        let without_parent = PARENT.replace(build_file, "");
        return ARTIFACT.captures(&without_parent).map(|c| c[1].to_string());
    }
    static ROOT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"rootProject\.name\s*=\s*["']([^"']+)["']"#).unwrap());
    ["settings.gradle", "settings.gradle.kts"]
        .iter()
        .find_map(|f| {
            dir.read(f)
                .and_then(|t| ROOT.captures(&t).map(|c| c[1].to_string()))
        })
}
