//! Rendering a loaded chart the way Helm's engine does: values scoped per (sub)chart, the
//! built-in objects (`.Release`, `.Chart`, `.Capabilities`, `.Files`, `.Template`), templates
//! parsed and executed in Helm's order, and the output as `path -> text`.

use super::load::Chart;
use super::template::exec::FuncContext;
use super::template::exec::MAX_OUTPUT_BYTES;
use super::template::{funcs, Exec, TemplateError, TemplateObject, TemplateSet, Value};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Helm's default Kubernetes version (the client library Helm 4.2 is built with).
pub const DEFAULT_KUBE_VERSION: &str = "v1.36.0";

/// The API versions Helm assumes without a cluster.
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha2",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// Release facts for `.Release`.
#[derive(Debug, Clone)]
pub struct ReleaseInfo {
    pub name: String,
    pub namespace: String,
    pub revision: i64,
    pub is_upgrade: bool,
}

/// Cluster facts for `.Capabilities`.
#[derive(Debug, Clone)]
pub struct Capabilities {
    pub kube_version: String,
    pub api_versions: Vec<String>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            kube_version: DEFAULT_KUBE_VERSION.into(),
            api_versions: DEFAULT_API_VERSIONS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Capabilities {
    /// Capabilities for a given Kubernetes version (`1.30`, `v1.30.2`).
    pub fn with_kube_version(v: &str) -> Result<Capabilities, String> {
        let t = v.trim().trim_start_matches('v');
        let parts: Vec<&str> = t.split('.').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.parse::<u64>().is_err()) {
            return Err(format!(
                "--kube-version {v:?}: expected MAJOR.MINOR[.PATCH], e.g. 1.30 or v1.30.2"
            ));
        }
        let patch = parts.get(2).copied().unwrap_or("0");
        Ok(Capabilities {
            kube_version: format!("v{}.{}.{}", parts[0], parts[1], patch),
            ..Default::default()
        })
    }
}

/// Rendered templates: path (`chart/templates/x.yaml`) → text, in path order.
pub type Rendered = BTreeMap<String, String>;

/// Renders `chart` with fully coalesced `values` (the chart's defaults already merged in).
pub fn render(
    chart: &Chart,
    values: &serde_json::Value,
    release: &ReleaseInfo,
    caps: &Capabilities,
    ctx: FuncContext,
) -> Result<Rendered, TemplateError> {
    let root_values = Value::from_json_values(values);
    let mut units = Vec::new();
    collect_units(
        chart,
        &chart.name,
        root_values,
        release,
        caps,
        true,
        &mut units,
    );

    // Helm parses and executes templates ordered by path depth (deepest first), then name in
    // reverse; later `define`s win, so a parent's helpers override a subchart's.
    units.sort_by(|a, b| {
        let (ca, cb) = (a.path.matches('/').count(), b.path.matches('/').count());
        cb.cmp(&ca).then_with(|| b.path.cmp(&a.path))
    });
    let mut set = TemplateSet::default();
    for u in &units {
        set.add_file(&u.path, &u.source)?;
    }
    let funcs = funcs::all();
    set.check_functions(&funcs)?;
    let ctx = Rc::new(ctx);
    let mut out = Rendered::new();
    let mut total = 0usize;
    for u in &units {
        let base = std::path::Path::new(&u.path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("");
        if base.starts_with('_') {
            continue;
        }
        if let Value::Map(top) = &u.top {
            let mut t = BTreeMap::new();
            t.insert("Name".to_string(), Value::str(&u.path));
            t.insert("BasePath".to_string(), Value::str(&u.base_path));
            top.borrow_mut().insert("Template".into(), Value::map(t));
        }
        let mut exec = Exec::new(&set, &funcs, ctx.clone());
        let text = exec.execute_named(&u.path, &u.top)?;
        total += text.len();
        if total > MAX_OUTPUT_BYTES {
            return Err(TemplateError::render_too_large(&u.path, MAX_OUTPUT_BYTES));
        }
        out.insert(u.path.clone(), text.replace("<no value>", ""));
    }
    Ok(out)
}

struct Unit {
    path: String,
    base_path: String,
    source: String,
    top: Value,
}

fn collect_units(
    chart: &Chart,
    prefix: &str,
    values: Value,
    release: &ReleaseInfo,
    caps: &Capabilities,
    is_root: bool,
    out: &mut Vec<Unit>,
) {
    let mut subcharts = BTreeMap::new();
    for sub in &chart.subcharts {
        let key = dep_key(chart, &sub.name);
        let sub_values = match &values {
            Value::Map(m) => m.borrow().get(&key).cloned(),
            _ => None,
        };
        // A subchart whose section is missing was disabled by its condition or tags.
        let Some(sub_values @ Value::Map(_)) = sub_values else {
            continue;
        };
        let sub_prefix = format!("{prefix}/charts/{key}");
        collect_units(
            sub,
            &sub_prefix,
            sub_values.clone(),
            release,
            caps,
            false,
            out,
        );
        subcharts.insert(key, sub_values);
    }
    let mut top = BTreeMap::new();
    top.insert("Values".to_string(), values);
    top.insert("Release".to_string(), release_value(release));
    top.insert("Chart".to_string(), chart_value(chart, is_root));
    top.insert(
        "Capabilities".to_string(),
        Value::Object(Rc::new(CapabilitiesObject(caps.clone()))),
    );
    top.insert(
        "Files".to_string(),
        Value::Object(Rc::new(FilesObject(Rc::new(chart.files.clone())))),
    );
    top.insert("Subcharts".to_string(), Value::map(subcharts));
    let top = Value::map(top);
    for (path, source) in &chart.templates {
        out.push(Unit {
            path: format!("{prefix}/{path}"),
            base_path: format!("{prefix}/templates"),
            source: source.clone(),
            top: top.clone(),
        });
    }
}

/// The values key of a subchart: its alias when the dependency has one.
pub fn dep_key(parent: &Chart, sub_name: &str) -> String {
    parent
        .dependencies
        .iter()
        .find(|d| d.name == sub_name)
        .and_then(|d| d.alias.clone())
        .unwrap_or_else(|| sub_name.to_string())
}

fn release_value(r: &ReleaseInfo) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Name".to_string(), Value::str(&r.name));
    m.insert("Namespace".to_string(), Value::str(&r.namespace));
    m.insert("IsInstall".to_string(), Value::Bool(!r.is_upgrade));
    m.insert("IsUpgrade".to_string(), Value::Bool(r.is_upgrade));
    m.insert("Revision".to_string(), Value::Int(r.revision));
    m.insert("Service".to_string(), Value::str("Helm"));
    Value::map(m)
}

fn chart_value(c: &Chart, is_root: bool) -> Value {
    let md = &c.metadata;
    let get = |k: &str| md.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let str_of = |k: &str| Value::str(md.get(k).and_then(|v| v.as_str()).unwrap_or(""));
    let list_of = |k: &str| match get(k) {
        serde_json::Value::Array(_) => Value::from_json_values(&get(k)),
        _ => Value::list(Vec::new()),
    };
    let mut m = BTreeMap::new();
    m.insert("APIVersion".to_string(), str_of("apiVersion"));
    m.insert("Name".to_string(), Value::str(&c.name));
    m.insert("Version".to_string(), Value::str(&c.version));
    m.insert("AppVersion".to_string(), Value::str(&c.app_version));
    m.insert("Description".to_string(), str_of("description"));
    m.insert("Home".to_string(), str_of("home"));
    m.insert("Icon".to_string(), str_of("icon"));
    m.insert("Type".to_string(), str_of("type"));
    m.insert("KubeVersion".to_string(), str_of("kubeVersion"));
    m.insert("Condition".to_string(), str_of("condition"));
    m.insert("Tags".to_string(), str_of("tags"));
    m.insert(
        "Deprecated".to_string(),
        Value::Bool(get("deprecated").as_bool().unwrap_or(false)),
    );
    m.insert(
        "Annotations".to_string(),
        Value::from_json_values(&get("annotations")),
    );
    m.insert("Keywords".to_string(), list_of("keywords"));
    m.insert("Maintainers".to_string(), list_of("maintainers"));
    m.insert("Sources".to_string(), list_of("sources"));
    m.insert("Dependencies".to_string(), list_of("dependencies"));
    m.insert("IsRoot".to_string(), Value::Bool(is_root));
    Value::map(m)
}

/// `.Capabilities`.
struct CapabilitiesObject(Capabilities);

impl TemplateObject for CapabilitiesObject {
    fn type_name(&self) -> &str {
        "*common.Capabilities"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "KubeVersion" => Some(Value::Object(Rc::new(KubeVersionObject(
                self.0.kube_version.clone(),
            )))),
            "APIVersions" => Some(Value::Object(Rc::new(ApiVersionsObject(
                self.0.api_versions.clone(),
            )))),
            "HelmVersion" => {
                let mut m = BTreeMap::new();
                m.insert("Version".to_string(), Value::str("v4.2"));
                Some(Value::map(m))
            }
            _ => None,
        }
    }
    fn display(&self) -> String {
        format!("&{{{} {:?}}}", self.0.kube_version, self.0.api_versions)
    }
}

struct KubeVersionObject(String);

impl TemplateObject for KubeVersionObject {
    fn type_name(&self) -> &str {
        "common.KubeVersion"
    }
    fn kind(&self) -> &str {
        "struct"
    }
    fn field(&self, name: &str) -> Option<Value> {
        let t = self.0.trim_start_matches('v');
        let mut parts = t.split('.');
        let major = parts.next().unwrap_or("0").to_string();
        let minor = parts.next().unwrap_or("0").to_string();
        match name {
            "Version" | "GitVersion" | "String" => Some(Value::str(&self.0)),
            "Major" => Some(Value::from(major)),
            "Minor" => Some(Value::from(minor)),
            _ => None,
        }
    }
    fn display(&self) -> String {
        self.0.clone()
    }
    fn to_data(&self) -> Value {
        let mut m = BTreeMap::new();
        for k in ["Version", "Major", "Minor"] {
            m.insert(k.to_string(), self.field(k).unwrap_or_default());
        }
        Value::map(m)
    }
}

struct ApiVersionsObject(Vec<String>);

impl TemplateObject for ApiVersionsObject {
    fn type_name(&self) -> &str {
        "common.VersionSet"
    }
    fn kind(&self) -> &str {
        "slice"
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Has" => {
                let want = args.first().map(funcs::strval).unwrap_or_default();
                Some(Ok(Value::Bool(self.0.contains(&want))))
            }
            _ => None,
        }
    }
    fn display(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }
    fn to_data(&self) -> Value {
        Value::list(self.0.iter().map(Value::str).collect())
    }
}

/// `.Files`: the chart's non-template files.
struct FilesObject(Rc<BTreeMap<String, Vec<u8>>>);

impl TemplateObject for FilesObject {
    fn type_name(&self) -> &str {
        "files.Files"
    }
    fn kind(&self) -> &str {
        "map"
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let arg0 = args.first().map(funcs::strval).unwrap_or_default();
        if matches!(name, "Get" | "GetBytes" | "Lines" | "Glob") {
            if let Err(e) = check_chart_file_path(name, &arg0) {
                return Some(Err(e));
            }
        }
        let r = match name {
            "Get" => Value::from(
                self.0
                    .get(&arg0)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            ),
            "GetBytes" => Value::Bytes(Rc::from(self.0.get(&arg0).cloned().unwrap_or_default())),
            "Glob" => {
                let re = match glob_to_regex(&arg0) {
                    Ok(r) => r,
                    Err(e) => return Some(Err(e)),
                };
                let m: BTreeMap<String, Vec<u8>> = self
                    .0
                    .iter()
                    .filter(|(k, _)| re.is_match(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Value::Object(Rc::new(FilesObject(Rc::new(m))))
            }
            "Lines" => Value::list(
                self.0
                    .get(&arg0)
                    .map(|b| {
                        String::from_utf8_lossy(b)
                            .split('\n')
                            .map(Value::str)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "AsConfig" | "AsSecrets" => {
                let mut m = serde_json::Map::new();
                for (k, v) in self.0.iter() {
                    let key = k.rsplit('/').next().unwrap_or(k).to_string();
                    let val = if name == "AsSecrets" {
                        use base64::Engine;
                        base64::engine::general_purpose::STANDARD.encode(v)
                    } else {
                        String::from_utf8_lossy(v).into_owned()
                    };
                    m.insert(key, serde_json::Value::String(val));
                }
                let y = super::template::encode::to_yaml(&Value::from_json_values(
                    &serde_json::Value::Object(m),
                ));
                Value::from(if self.0.is_empty() { String::new() } else { y })
            }
            _ => return None,
        };
        Some(Ok(r))
    }
    fn display(&self) -> String {
        format!(
            "map[{}]",
            self.0.keys().cloned().collect::<Vec<_>>().join(" ")
        )
    }
    fn entries(&self) -> Option<Vec<(Value, Value)>> {
        Some(
            self.0
                .iter()
                .map(|(k, v)| (Value::str(k), Value::Bytes(Rc::from(v.clone()))))
                .collect(),
        )
    }
}

/// `.Files` only holds the chart's own files, so a path that leaves the chart (absolute, or with
/// a `..` part) can never name one: Helm returns "" for it, which hides a template that tries
/// to read outside the chart; it is an error here.
fn check_chart_file_path(func: &str, path: &str) -> Result<(), String> {
    let leaves = path.starts_with('/')
        || path.starts_with('\\')
        || path.split(['/', '\\']).any(|part| part == "..")
        || path.as_bytes().get(1) == Some(&b':');
    if leaves {
        return Err(format!(
            ".Files.{func} {path:?}: the path leaves the chart; .Files reads only the chart's own files, by paths relative to the chart directory without `..` (e.g. \"files/config.toml\")"
        ));
    }
    Ok(())
}

/// Go's `path.Match` glob as used by `.Files.Glob` (with `**` crossing directories).
fn glob_to_regex(glob: &str) -> Result<regex::Regex, String> {
    let mut re = String::from("^");
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 1;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' | ']' => re.push(chars[i]),
            '{' => re.push('('),
            '}' => re.push(')'),
            ',' => re.push('|'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| format!("bad glob {glob:?}: {e}"))
}
