//! Which Kong plugins a spec's `x-kong-plugin-*` may use, and whether their configs are ones
//! Kong accepts. The facts (Kong's plugin schemas, the code-running and Enterprise-only
//! plugins, with the Kong version they come from) are data, `plugins.yaml`; this module only
//! reads them and applies them. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

/// `plugins.yaml`, as read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginFacts {
    /// The Kong version the facts describe.
    pub kong_version: String,
    /// Plugins that authenticate requests.
    pub authentication: BTreeSet<String>,
    /// Plugins that run code or invoke functions, with what they do.
    pub runs_code: BTreeMap<String, String>,
    /// Kong Enterprise plugins.
    pub enterprise: BTreeSet<String>,
    /// Plugins Kong does not let be scoped to a consumer.
    pub no_consumer: BTreeSet<String>,
    /// The plugins justpush knows and checks.
    pub plugins: BTreeMap<String, PluginSchema>,
}

/// Kong's schema of one plugin's `config`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginSchema {
    pub fields: BTreeMap<String, FieldRule>,
    #[serde(default)]
    pub at_least_one_of: Vec<Vec<String>>,
    #[serde(default)]
    pub only_one_of: Vec<Vec<String>>,
    #[serde(default)]
    pub not_decreasing: Vec<String>,
    #[serde(default)]
    pub required_if: Vec<RequiredIf>,
    #[serde(default)]
    pub exclusive: Vec<[String; 2]>,
}

/// `then` fields are required when `field` equals `equals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredIf {
    pub field: String,
    pub equals: Value,
    pub then: Vec<String>,
}

/// What one config field must be.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldRule {
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    pub elements: Option<Box<FieldRule>>,
    pub values: Option<Box<FieldRule>>,
    pub fields: Option<BTreeMap<String, FieldRule>>,
    pub one_of: Option<Vec<Value>>,
    pub gt: Option<f64>,
    pub between: Option<[f64; 2]>,
    pub len_min: Option<usize>,
    pub format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Set,
    Map,
    Record,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    HeaderName,
    CorsOrigin,
    Regex,
    IpOrCidr,
    NoTemplate,
}

/// The facts, read once from the embedded `plugins.yaml`.
pub fn facts() -> &'static PluginFacts {
    static FACTS: OnceLock<PluginFacts> = OnceLock::new();
    FACTS.get_or_init(|| {
        // The file is part of the source; a unit test reads it, so this cannot fail at run time.
        serde_yaml::from_str(include_str!("plugins.yaml")).expect("src/kong/plugins.yaml is valid")
    })
}

/// Why an `x-kong-plugin-*` is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginProblem {
    /// JSON pointer below the extension (`/config/minute`), empty for the plugin as a whole.
    pub at: String,
    pub message: String,
    /// Refused by policy (not allowed) rather than an invalid config.
    pub not_allowed: bool,
}

impl PluginProblem {
    fn invalid(at: &str, message: String) -> PluginProblem {
        PluginProblem {
            at: at.to_string(),
            message,
            not_allowed: false,
        }
    }
    fn refused(message: String) -> PluginProblem {
        PluginProblem {
            at: String::new(),
            message,
            not_allowed: true,
        }
    }
}

/// Whether a spec may use plugin `name` with `config`; `allowed` is `kong.allowPlugins`.
/// Allowed plugins justpush has no schema for are passed through unchecked.
pub fn check_plugin(
    name: &str,
    config: &Value,
    allowed: &BTreeSet<String>,
) -> Result<(), PluginProblem> {
    let f = facts();
    if let Some(schema) = f.plugins.get(name) {
        return check_config(name, schema, config);
    }
    if allowed.contains(name) {
        return Ok(());
    }
    let allow = format!("add `{name}` to kong.allowPlugins in justpush.yaml");
    if f.enterprise.contains(name) {
        let code = f
            .runs_code
            .get(name)
            .map(|what| format!(" (it {what})"))
            .unwrap_or_default();
        return Err(PluginProblem::refused(format!(
            "`{name}` is a Kong Enterprise plugin{code}; the open-source Kong {} that justpush installs does not have it: remove the extension, or, if your gateway is Kong Enterprise, {allow}",
            f.kong_version
        )));
    }
    if let Some(what) = f.runs_code.get(name) {
        return Err(PluginProblem::refused(format!(
            "`{name}` {what}, and a spec (which a running app may serve itself) must not decide what code the gateway runs: remove the extension, or, if you trust whoever writes the spec, {allow}"
        )));
    }
    Err(PluginProblem::refused(format!(
        "`{name}` is not a plugin justpush knows how to check (known: {}); remove the extension, or, if it is a plugin you trust the spec to configure, {allow}",
        f.plugins.keys().cloned().collect::<Vec<_>>().join(", ")
    )))
}

fn check_config(plugin: &str, schema: &PluginSchema, config: &Value) -> Result<(), PluginProblem> {
    let Some(obj) = config.as_object() else {
        return Err(PluginProblem::invalid(
            "/config",
            format!("{plugin}: config must be an object"),
        ));
    };
    check_record(plugin, &schema.fields, obj, "/config")?;
    let given = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
    for set in &schema.at_least_one_of {
        if !set.iter().any(|k| given(k)) {
            return Err(PluginProblem::invalid(
                "/config",
                format!(
                    "{plugin}: at least one of {} is required (Kong's rule)",
                    set.join(", ")
                ),
            ));
        }
    }
    for set in &schema.only_one_of {
        let present: Vec<&String> = set.iter().filter(|k| given(k)).collect();
        if present.len() > 1 {
            return Err(PluginProblem::invalid(
                "/config",
                format!(
                    "{plugin}: only one of {} may be set, found {}",
                    set.join(", "),
                    present
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            ));
        }
    }
    for [a, b] in &schema.exclusive {
        if given(a) && given(b) {
            return Err(PluginProblem::invalid(
                &format!("/config/{b}"),
                format!(
                    "{plugin}: `{a}` cannot be used together with `{b}` (Kong's rule); keep one"
                ),
            ));
        }
    }
    // Kong: a longer window's limit cannot be lower than a shorter window's.
    let limits: Vec<(&String, f64)> = schema
        .not_decreasing
        .iter()
        .filter_map(|k| obj.get(k).and_then(Value::as_f64).map(|v| (k, v)))
        .collect();
    for (i, (shorter, low)) in limits.iter().enumerate() {
        for (longer, high) in &limits[i + 1..] {
            if high < low {
                return Err(PluginProblem::invalid(
                    &format!("/config/{longer}"),
                    format!("{plugin}: the limit for {longer} ({high}) cannot be lower than the limit for {shorter} ({low}); limits must not decrease in the order {}", schema.not_decreasing.join(" < ")),
                ));
            }
        }
    }
    for rule in &schema.required_if {
        if obj.get(&rule.field) != Some(&rule.equals) {
            continue;
        }
        for path in &rule.then {
            let found = path
                .split('.')
                .try_fold(config, |cur, seg| cur.get(seg))
                .is_some_and(|v| !v.is_null());
            if !found {
                return Err(PluginProblem::invalid(
                    &format!("/config/{}", path.replace('.', "/")),
                    format!(
                        "{plugin}: `{path}` is required when `{}` is {}",
                        rule.field, rule.equals
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn check_record(
    plugin: &str,
    fields: &BTreeMap<String, FieldRule>,
    obj: &serde_json::Map<String, Value>,
    at: &str,
) -> Result<(), PluginProblem> {
    for (key, value) in obj {
        let here = format!("{at}/{}", super::spec::pointer_segment(key));
        let Some(rule) = fields.get(key) else {
            return Err(PluginProblem::invalid(
                &here,
                format!(
                    "{plugin}: unknown field `{key}` (Kong {} knows: {})",
                    facts().kong_version,
                    fields.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        // Kong treats null as "use the default".
        if !value.is_null() {
            check_value(plugin, rule, value, &here)?;
        }
    }
    for (key, rule) in fields {
        if rule.required && obj.get(key).is_none_or(Value::is_null) {
            return Err(PluginProblem::invalid(
                &format!("{at}/{key}"),
                format!("{plugin}: `{key}` is required"),
            ));
        }
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn check_value(plugin: &str, rule: &FieldRule, v: &Value, at: &str) -> Result<(), PluginProblem> {
    let wrong = |expected: &str| {
        PluginProblem::invalid(
            at,
            format!("{plugin}: expected {expected}, found {}", type_name(v)),
        )
    };
    match rule.kind {
        FieldKind::String if !v.is_string() => return Err(wrong("a string")),
        FieldKind::Boolean if !v.is_boolean() => return Err(wrong("a boolean")),
        FieldKind::Number if !v.is_number() => return Err(wrong("a number")),
        FieldKind::Integer if !(v.is_i64() || v.is_u64()) => return Err(wrong("an integer")),
        FieldKind::Array | FieldKind::Set if !v.is_array() => return Err(wrong("a list")),
        FieldKind::Map | FieldKind::Record if !v.is_object() => return Err(wrong("an object")),
        _ => {}
    }
    if let Some(allowed) = &rule.one_of {
        if !allowed.contains(v) {
            let list: Vec<String> = allowed
                .iter()
                .map(|a| {
                    a.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| a.to_string())
                })
                .collect();
            return Err(PluginProblem::invalid(
                at,
                format!("{plugin}: {v} is not one of {}", list.join(", ")),
            ));
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(gt) = rule.gt {
            if n <= gt {
                return Err(PluginProblem::invalid(
                    at,
                    format!("{plugin}: {n} must be greater than {gt}"),
                ));
            }
        }
        if let Some([lo, hi]) = rule.between {
            if n < lo || n > hi {
                return Err(PluginProblem::invalid(
                    at,
                    format!("{plugin}: {n} must be between {lo} and {hi}"),
                ));
            }
        }
    }
    if let Some(min) = rule.len_min {
        let len = match v {
            Value::String(s) => s.chars().count(),
            Value::Array(a) => a.len(),
            _ => min,
        };
        if len < min {
            return Err(PluginProblem::invalid(
                at,
                format!("{plugin}: needs at least {min} item(s)"),
            ));
        }
    }
    if let (Some(format), Some(s)) = (rule.format, v.as_str()) {
        check_format(plugin, format, s, at)?;
    }
    match v {
        Value::Array(items) => {
            if let Some(el) = &rule.elements {
                for (i, item) in items.iter().enumerate() {
                    check_value(plugin, el, item, &format!("{at}/{i}"))?;
                }
            }
            if rule.kind == FieldKind::Set {
                for (i, item) in items.iter().enumerate() {
                    if items[..i].contains(item) {
                        return Err(PluginProblem::invalid(
                            &format!("{at}/{i}"),
                            format!("{plugin}: {item} is listed twice in a set"),
                        ));
                    }
                }
            }
        }
        Value::Object(m) => match (&rule.fields, &rule.values) {
            (Some(fields), _) => check_record(plugin, fields, m, at)?,
            (None, Some(values)) => {
                for (k, item) in m {
                    check_value(
                        plugin,
                        values,
                        item,
                        &format!("{at}/{}", super::spec::pointer_segment(k)),
                    )?;
                }
            }
            (None, None) => {}
        },
        _ => {}
    }
    Ok(())
}

/// An HTTP header name (RFC 9110 token).
pub fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn check_format(plugin: &str, format: Format, s: &str, at: &str) -> Result<(), PluginProblem> {
    let fail = |m: String| Err(PluginProblem::invalid(at, format!("{plugin}: {m}")));
    match format {
        Format::HeaderName if !is_header_name(s) => fail(format!(
            "`{s}` is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        )),
        Format::CorsOrigin if s != "*" => match fancy_regex::Regex::new(s) {
            Ok(_) => Ok(()),
            Err(e) => fail(format!(
                "origin `{s}` is neither \"*\" nor a regex Kong can compile ({e}); escape regex characters (e.g. `https://app\\.example\\.com`)"
            )),
        },
        Format::Regex => match fancy_regex::Regex::new(s) {
            Ok(_) => Ok(()),
            Err(e) => fail(format!("`{s}` is not a valid regex ({e})")),
        },
        Format::IpOrCidr if !is_ip_or_cidr(s) => fail(format!(
            "`{s}` is not an IP address or CIDR range (e.g. 10.0.0.0/8)"
        )),
        Format::NoTemplate if s.contains("$(") => fail(format!(
            "`{s}` holds a `$(...)` template, which Kong evaluates as Lua: a spec may not run code on the gateway; use a literal value (or configure it in justpush.yaml)"
        )),
        _ => Ok(()),
    }
}

fn is_ip_or_cidr(s: &str) -> bool {
    let (ip, bits) = match s.split_once('/') {
        Some((ip, bits)) => (ip, Some(bits)),
        None => (s, None),
    };
    let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u8>().is_ok_and(|n| n <= max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(name: &str, config: Value) -> Result<(), PluginProblem> {
        check_plugin(name, &config, &BTreeSet::new())
    }

    #[test]
    fn the_facts_parse_and_name_their_kong_version() {
        let f = facts();
        assert_eq!(f.kong_version, "3.9");
        assert!(f.plugins.contains_key("rate-limiting"));
        // Nothing is both known-safe and code-running or Enterprise-only.
        for name in f.plugins.keys() {
            assert!(!f.runs_code.contains_key(name), "{name}");
            assert!(!f.enterprise.contains(name), "{name}");
        }
    }

    #[test]
    fn code_running_unknown_and_enterprise_plugins_are_refused_unless_allowed() {
        let e = check("pre-function", json!({"access": ["os.execute('id')"]})).unwrap_err();
        assert!(e.not_allowed);
        assert!(
            e.message.contains("runs the Lua code") && e.message.contains("kong.allowPlugins"),
            "{}",
            e.message
        );
        let e = check("openid-connect", json!({})).unwrap_err();
        assert!(
            e.message.contains("Kong Enterprise plugin") && e.message.contains("3.9"),
            "{}",
            e.message
        );
        let e = check("rate-limiting-advanced", json!({})).unwrap_err();
        assert!(
            e.message.contains("Kong Enterprise plugin"),
            "{}",
            e.message
        );
        let e = check("http-log", json!({"http_endpoint": "http://x"})).unwrap_err();
        assert!(
            e.message.contains("not a plugin justpush knows"),
            "{}",
            e.message
        );
        let allowed = BTreeSet::from(["pre-function".to_string(), "http-log".to_string()]);
        assert!(check_plugin("pre-function", &json!({}), &allowed).is_ok());
        assert!(check_plugin("http-log", &json!({}), &allowed).is_ok());
    }

    #[test]
    fn rate_limiting_windows_must_not_decrease() {
        assert!(check(
            "rate-limiting",
            json!({"second": 5, "minute": 100, "hour": 100})
        )
        .is_ok());
        let e = check("rate-limiting", json!({"second": 10, "minute": 5})).unwrap_err();
        assert_eq!(e.at, "/config/minute");
        assert!(
            e.message
                .contains("cannot be lower than the limit for second"),
            "{}",
            e.message
        );
        let e = check("rate-limiting", json!({"hour": 500, "day": 100})).unwrap_err();
        assert_eq!(e.at, "/config/day");
        let e = check("rate-limiting", json!({"policy": "local"})).unwrap_err();
        assert!(
            e.message.contains("at least one of second, minute"),
            "{}",
            e.message
        );
        let e = check("rate-limiting", json!({"minute": 0})).unwrap_err();
        assert!(e.message.contains("greater than 0"), "{}", e.message);
        let e = check("rate-limiting", json!({"minute": 5, "policy": "redis"})).unwrap_err();
        assert_eq!(e.at, "/config/redis/host");
        let e = check("rate-limiting", json!({"minute": 5, "polcy": "local"})).unwrap_err();
        assert!(e.message.contains("unknown field `polcy`"), "{}", e.message);
        let e = check("rate-limiting", json!({"minute": "5"})).unwrap_err();
        assert!(
            e.message.contains("expected a number, found a string"),
            "{}",
            e.message
        );
    }

    #[test]
    fn key_auth_key_names_must_be_header_names() {
        assert!(check("key-auth", json!({"key_names": ["X-API-Key", "apikey"]})).is_ok());
        let e = check(
            "key-auth",
            json!({"key_names": ["X-API-Key", "bad header"]}),
        )
        .unwrap_err();
        assert_eq!(e.at, "/config/key_names/1");
        assert!(
            e.message.contains("not a valid header name"),
            "{}",
            e.message
        );
        let e = check("key-auth", json!({"key_names": []})).unwrap_err();
        assert!(e.message.contains("at least 1"), "{}", e.message);
        let e = check("key-auth", json!({"hide_credentials": "yes"})).unwrap_err();
        assert!(e.message.contains("expected a boolean"), "{}", e.message);
    }

    #[test]
    fn cors_origins_must_compile_as_regex() {
        assert!(check(
            "cors",
            json!({"origins": ["*", "https://app\\.example\\.test", "https://(?!evil).*"]})
        )
        .is_ok());
        let e = check("cors", json!({"origins": ["https://(app.example.test"]})).unwrap_err();
        assert_eq!(e.at, "/config/origins/0");
        assert!(
            e.message.contains("regex Kong can compile"),
            "{}",
            e.message
        );
        let e = check("cors", json!({"methods": ["GET", "FETCH"]})).unwrap_err();
        assert!(
            e.message.contains("\"FETCH\" is not one of"),
            "{}",
            e.message
        );
    }

    #[test]
    fn other_value_rules() {
        let e = check(
            "request-transformer",
            json!({"add": {"headers": ["X-User:$(headers.host)"]}}),
        )
        .unwrap_err();
        assert!(e.message.contains("evaluates as Lua"), "{}", e.message);
        assert!(check(
            "request-transformer",
            json!({"add": {"headers": ["X-Via:kong"]}})
        )
        .is_ok());
        let e = check("ip-restriction", json!({"allow": ["10.0.0.0/33"]})).unwrap_err();
        assert!(e.message.contains("CIDR"), "{}", e.message);
        assert!(check("ip-restriction", json!({"deny": ["10.0.0.0/8", "::1"]})).is_ok());
        let e = check("acl", json!({"allow": ["a"], "deny": ["b"]})).unwrap_err();
        assert!(
            e.message.contains("only one of allow, deny"),
            "{}",
            e.message
        );
        let e = check("request-termination", json!({"status_code": 99})).unwrap_err();
        assert!(e.message.contains("between 100 and 599"), "{}", e.message);
        let e = check("request-termination", json!({"message": "x", "body": "y"})).unwrap_err();
        assert!(
            e.message.contains("cannot be used together"),
            "{}",
            e.message
        );
        let e = check("proxy-cache", json!({"cache_ttl": 30})).unwrap_err();
        assert!(
            e.message.contains("`strategy` is required"),
            "{}",
            e.message
        );
        let e = check("jwt", json!({"claims_to_verify": ["exp", "exp"]})).unwrap_err();
        assert!(e.message.contains("twice"), "{}", e.message);
    }
}
