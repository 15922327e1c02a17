//! `render` through the real binary: output shape, and bad input reported with exit codes and
//! nothing on stdout.

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"));
    c.env("NO_COLOR", "1").env_remove("KUBECONFIG");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run kubectl-justpush")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write_chart(dir: &Path, template: &str, values: &str) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: t\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(dir.join("values.yaml"), values).unwrap();
    std::fs::write(dir.join("templates/cm.yaml"), template).unwrap();
}

#[test]
fn bundled_chart_renders_like_helm_template() {
    let out = run(&["render", "--name", "demo", "-n", "apps"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("---\n# Source: justpush/templates/"),
        "{stdout}"
    );
    for kind in [
        "kind: Deployment",
        "kind: Service",
        "kind: NetworkPolicy",
        "kind: Ingress",
        "kind: KongPlugin",
    ] {
        assert!(stdout.contains(kind), "missing {kind}");
    }
    // Install order: Namespace-level policy objects before Secrets before Deployments.
    let np = stdout.find("kind: NetworkPolicy").unwrap();
    let dep = stdout.find("kind: Deployment").unwrap();
    assert!(np < dep);
    assert!(stdout.contains("namespace: apps"));
}

#[test]
fn set_flags_reach_the_templates() {
    let dir = tempfile::tempdir().unwrap();
    write_chart(dir.path(), "kind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ .Values.a | quote }}\n  b: {{ .Values.l | toJson | quote }}\n", "a: default\n");
    let chart = dir.path().to_str().unwrap();
    let out = run(&["render", chart, "--set", "a=fromset,l={x,y}"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("a: \"fromset\""), "{s}");
    assert!(s.contains(r#"b: "[\"x\",\"y\"]""#), "{s}");
}

#[test]
fn template_errors_name_file_line_column_and_action() {
    let dir = tempfile::tempdir().unwrap();
    write_chart(
        dir.path(),
        "kind: ConfigMap\nmetadata:\n  name: {{ .Values.missing.name }}\n",
        "{}\n",
    );
    let out = run(&["render", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let e = text(&out.stderr);
    assert!(e.contains("t/templates/cm.yaml:3:9"), "{e}");
    assert!(e.contains("<.Values.missing.name>"), "{e}");
}

#[test]
fn missing_required_value_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    write_chart(
        dir.path(),
        "a: {{ required \"image.tag is required\" .Values.image.tag }}\n",
        "image: {}\n",
    );
    let out = run(&["render", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("image.tag is required"));
}

#[test]
fn schema_violation_names_the_path_and_type() {
    let out = run(&["render", "--set", "components.backend.port=abc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let e = text(&out.stderr);
    assert!(
        e.contains("/components/backend/port") && e.contains("want integer"),
        "{e}"
    );
}

#[test]
fn malformed_set_names_the_fragment() {
    let out = run(&["render", "--set", "a[x]=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("a[x]=1"));
}

#[test]
fn unknown_chart_path_says_so() {
    let out = run(&["render", "/no/such/chart"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("/no/such/chart: no such file or directory"));
}

#[test]
fn bad_kube_version_is_a_usage_error() {
    let out = run(&["render", "--kube-version", "latest"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--kube-version"));
}

#[test]
fn kube_version_flag_sets_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    write_chart(dir.path(), "v: {{ .Capabilities.KubeVersion.Version }}\nold: {{ semverCompare \"<1.31-0\" .Capabilities.KubeVersion.Version }}\n", "{}\n");
    let out = run(&[
        "render",
        dir.path().to_str().unwrap(),
        "--kube-version",
        "1.30",
    ]);
    let s = text(&out.stdout);
    assert!(s.contains("v: v1.30.0") && s.contains("old: true"), "{s}");
}

#[test]
fn output_dir_writes_one_file_per_template() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["render", "--output-dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let dep =
        std::fs::read_to_string(dir.path().join("justpush/templates/deployment.yaml")).unwrap();
    assert!(dep.contains("# Source: justpush/templates/deployment.yaml"));
}

#[test]
fn api_versions_flag_extends_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    write_chart(
        dir.path(),
        "sm: {{ .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1\" }}\n",
        "{}\n",
    );
    let chart = dir.path().to_str().unwrap();
    assert!(text(&run(&["render", chart]).stdout).contains("sm: false"));
    assert!(
        text(&run(&["render", chart, "-a", "monitoring.coreos.com/v1"]).stdout)
            .contains("sm: true")
    );
}

#[test]
fn subcharts_follow_alias_condition_and_globals() {
    let chart = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/charts/umbrella"
    );
    let out = run(&["render", chart, "--name", "demo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    // The aliased subchart renders under its alias, sees the parent's globals and its section.
    assert!(
        s.contains("# Source: umbrella/charts/first/templates/deploy.yaml"),
        "{s}"
    );
    assert!(
        s.contains("replicas: \"3\"") && s.contains("team: \"platform\""),
        "{s}"
    );
    // The parent's define wins over the subchart's of the same name.
    assert!(s.contains("owner: parent-first"), "{s}");
    // A condition that is false keeps the subchart out.
    assert!(!s.contains("charts/extra/"), "{s}");
    let off = run(&["render", chart, "--set", "first.enabled=false"]);
    assert!(!text(&off.stdout).contains("charts/first/"));
}

#[test]
fn chart_archives_render_like_directories() {
    let src = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/charts/umbrella"
    );
    let dir = tempfile::tempdir().unwrap();
    let tgz = dir.path().join("umbrella-1.2.3.tgz");
    let file = std::fs::File::create(&tgz).unwrap();
    let mut ar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::default(),
    ));
    ar.append_dir_all("umbrella", src).unwrap();
    ar.into_inner().unwrap().finish().unwrap();
    let from_dir = run(&["render", src]);
    let from_tgz = run(&["render", tgz.to_str().unwrap()]);
    assert!(from_tgz.status.success(), "{}", text(&from_tgz.stderr));
    assert_eq!(text(&from_dir.stdout), text(&from_tgz.stdout));
}

#[test]
fn json_output_lists_documents_with_their_source() {
    let out = run(&["render", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let docs = v["manifests"].as_array().unwrap();
    assert!(docs.iter().any(|d| d["object"]["kind"] == "Deployment"
        && d["source"] == "justpush/templates/deployment.yaml"));
}

#[test]
fn two_objects_with_one_name_fail_the_render_naming_both() {
    // Any chart: two ConfigMaps that a template names alike.
    let dir = tempfile::tempdir().unwrap();
    write_chart(
        dir.path(),
        "{{- range .Values.names }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ . | trunc 5 }}\n{{- end }}\n",
        "names: [orders-a, orders-b]\n",
    );
    let out = run(&["render", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(out.stdout.is_empty());
    let e = text(&out.stderr);
    assert!(
        e.contains("two ConfigMap objects (v1) are named `order`")
            && e.contains("t/templates/cm.yaml (document 1)")
            && e.contains("t/templates/cm.yaml (document 2)"),
        "{e}"
    );
    // The bundled chart: explicit routes that share a name.
    let out = run(&[
        "render",
        "--set",
        "kong.routes[0].name=r,kong.routes[0].component=backend,kong.routes[0].paths={/a},kong.routes[1].name=r,kong.routes[1].component=backend,kong.routes[1].paths={/b}",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr)
            .contains("two Ingress objects (networking.k8s.io/v1) are named `justpush-route-r`"),
        "{}",
        text(&out.stderr)
    );
}

/// Issue 9 item 6: release names are refused with the flag, the rule and an example (exit 2),
/// where a name of 40 `é` used to panic in `trunc 63` and the others rendered broken objects.
#[test]
fn invalid_release_names_are_usage_errors_naming_the_flag_and_rule() {
    let e40 = "é".repeat(40);
    let long = "a".repeat(80);
    for name in [
        e40.as_str(),
        "UPPER",
        "a..b",
        long.as_str(),
        "",
        "../../x",
        "a\nkind: Secret",
        "-a",
        "a\u{1}b",
    ] {
        let out = run(&["render", &format!("--name={name}")]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name:?}: {err}");
        assert!(err.contains("--name: release name"), "{name:?}: {err}");
        assert!(err.contains("e.g. `my-app`"), "{name:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty(), "{name:?}: nothing is rendered");
    }
    let out = run(&["render", "--set", &format!("fullnameOverride={e40}")]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("fullnameOverride"), "{err}");
    assert!(run(&["render", "--name", "my-app"]).status.success());
}

#[test]
fn files_paths_leaving_the_chart_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    for call in [
        ".Files.Get \"../x\"",
        ".Files.GetBytes \"/etc/passwd\"",
        ".Files.Lines \"sub/../../x\"",
        ".Files.Glob \"../*\"",
    ] {
        let chart = dir.path().join(format!("c{}", call.len()));
        write_chart(&chart, &format!("v: {{{{ {call} }}}}\n"), "");
        let out = run(&["render", chart.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{call}: {err}");
        assert!(err.contains("the path leaves the chart"), "{call}: {err}");
    }
}

#[test]
fn empty_set_keys_are_usage_errors() {
    for expr in ["=1", "a=1,=2"] {
        let out = run(&["render", "--set", expr]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{expr}: {err}");
        assert!(err.contains("a key is empty"), "{err}");
    }
}

#[test]
fn repeat_with_a_huge_count_is_a_named_error() {
    let dir = tempfile::tempdir().unwrap();
    write_chart(dir.path(), "v: {{ repeat 99999999999 \"x\" }}\n", "");
    let out = run(&["render", dir.path().to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("over the 64 MiB limit"), "{err}");
}

/// `render | head -1`: the reader goes away while the chart is still being written, and that
/// is not a failure (exit 0, no error message), as for any Unix filter.
#[test]
fn a_reader_that_goes_away_is_not_a_failure() {
    use std::io::Read;
    // Forty components: some 350 KiB of YAML, far more than a pipe holds.
    let dir = tempfile::tempdir().unwrap();
    let components: serde_json::Map<String, serde_json::Value> = (0..40)
        .map(|i| {
            (
                format!("c{i}"),
                serde_json::json!({"enabled": true, "image": {"repository": "x/c", "tag": "1"}, "port": 8080}),
            )
        })
        .collect();
    let values = dir.path().join("many.json");
    std::fs::write(
        &values,
        serde_json::json!({ "components": components }).to_string(),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-justpush"))
        .args(["render", "--name", "shop", "-f"])
        .arg(&values)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte (the output has begun), then close the pipe before the rest is written.
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    out.read_exact(&mut first).unwrap();
    drop(out);
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}
