//! The cargo-tier stand-in for the `fuzz/` targets (issue 9 item 10): one bounded, seeded
//! property per parser that reads user input, fed structured hostile input built from grammar
//! fragments (YAML-ish, template-ish, spec-shaped documents, `.dockerignore` lines) with
//! multi-byte and control characters, huge numbers and nesting a few hundred levels deep.
//!
//! Every property asserts the same three things: the parser does not panic, a success stays
//! within the library's own limits, and a failure displays a non-empty message. The runs are
//! reproducible (fixed seed, no persistence files); see docs/fuzzing.md for reproducing and
//! for the inputs still excluded until their fixes land.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::{json, Map, Value};

use justpush::chart::strvals::{MAX_KEY_DEPTH, MAX_LIST_INDEX};
use justpush::chart::template::{self, lex, parse};
use justpush::chart::values::{parse_set, parse_values_yaml, SetKind, ValueLayers};
use justpush::detect::config::KongConfig;
use justpush::image::context::DockerIgnore;
use justpush::kong::chart_values::chart_values;
use justpush::kong::derive::{derive, GatewaySettings};
use justpush::kong::spec::ApiSpec;

/// Cases per property: enough to hit every fragment many times, small enough that the whole
/// file runs in well under a minute in a debug build.
const CASES: u32 = 256;

/// The seed every property starts from, so CI and a developer see the same cases. Override it
/// for exploration with `PROPTEST_RNG_SEED=<n>` (see docs/fuzzing.md).
const SEED: u64 = 0x6a75_7374_7075_7368; // "justpush"

fn config() -> Config {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    Config {
        cases: CASES,
        rng_seed: RngSeed::Fixed(seed),
        // No `proptest-regressions/` files written into the repo: a failure prints its
        // minimal input, which becomes a unit test next to the fixed parser.
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Shared fragments
// ---------------------------------------------------------------------------------------------

/// Strings that break naive parsers: multi-byte and zero-width characters, bidi overrides,
/// control characters, huge and odd numbers, quotes and escapes.
const HOSTILE: &[&str] = &[
    "é",
    "日本語",
    "🦀",
    "e\u{301}",
    "\u{202e}gnp.exe",
    "\u{feff}",
    "\u{200b}",
    "\u{0}",
    "\u{7}",
    "\u{1b}[31m",
    "\u{7f}",
    "\t",
    "\r\n",
    "\r",
    "\u{85}",
    "\u{2028}",
    "99999999999999999999999999",
    "-9223372036854775809",
    "9223372036854775807",
    "18446744073709551616",
    "1e999",
    "-0",
    "0x7fffffffffffffff",
    "0o777",
    "007",
    "1_000",
    "NaN",
    ".inf",
    "-.inf",
    "\"",
    "'",
    "\\",
    "\\u0000",
    "\\uD800",
    "%s%n%x",
    "${HOME}",
    "$(id)",
    "`id`",
    "<script>",
    "",
    " ",
];

/// Plain names, so generated documents also reach the code behind the syntax checks.
const WORDS: &[&str] = &[
    "a", "b", "name", "id", "users", "items", "v1", "x", "list", "global", "image", "tag", "port",
    "true", "null", "yes", "on", "0", "1", "-1", "3.14",
];

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(WORDS).prop_map(str::to_string)
}

fn hostile() -> impl Strategy<Value = String> {
    prop::sample::select(HOSTILE).prop_map(str::to_string)
}

/// A short string made of plain and hostile pieces, sometimes long.
fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => word(),
        3 => hostile(),
        2 => prop::collection::vec(prop_oneof![word(), hostile()], 1..5).prop_map(|v| v.concat()),
        1 => (word(), 200usize..5000).prop_map(|(w, n)| w.repeat(n)),
        1 => any::<char>().prop_map(|c| c.to_string()),
    ]
}

/// Nesting depth for the deep cases: up to a few hundred levels, where a recursive parser
/// without a limit starts to matter but a test thread's stack still holds a limited one.
fn depth() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..20, 100usize..400]
}

/// Inserts a fragment at a char boundary, the way a typo or an attacker corrupts a file.
fn splice(text: &str, at: usize, fragment: &str) -> String {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    format!("{}{fragment}{}", &text[..at], &text[at..])
}

fn nesting_depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(nesting_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(nesting_depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn longest_list(v: &Value) -> usize {
    match v {
        Value::Array(items) => items
            .len()
            .max(items.iter().map(longest_list).max().unwrap_or(0)),
        Value::Object(map) => map.values().map(longest_list).max().unwrap_or(0),
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// YAML-ish documents (values files, and the YAML form of specs)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Yaml {
    Scalar(String),
    Map(Vec<(String, Yaml)>),
    Seq(Vec<Yaml>),
}

fn yaml_tree() -> impl Strategy<Value = Yaml> {
    let leaf = prop_oneof![
        atom().prop_map(Yaml::Scalar),
        // Scalars in YAML's own syntax: quoted, block, tagged, anchored and aliased once
        // (never an alias of aliases: alias bombs are excluded until the YAML-limits work
        // lands, see docs/fuzzing.md).
        atom().prop_map(|s| Yaml::Scalar(format!("{s:?}"))),
        atom().prop_map(|s| Yaml::Scalar(format!("'{}'", s.replace('\'', "''")))),
        atom().prop_map(|s| Yaml::Scalar(format!("|\n  {s}"))),
        atom().prop_map(|s| Yaml::Scalar(format!("!!str {s}"))),
        atom().prop_map(|s| Yaml::Scalar(format!("!!binary {s}"))),
        atom().prop_map(|s| Yaml::Scalar(format!("&anchor {s}"))),
        Just(Yaml::Scalar("*anchor".into())),
        Just(Yaml::Scalar("{a: [1, {b: c}], d: }".into())),
        Just(Yaml::Scalar("[".into())),
        Just(Yaml::Scalar("~".into())),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(
                (prop_oneof![atom(), Just("<<".to_string())], inner.clone()),
                0..6
            )
            .prop_map(Yaml::Map),
            prop::collection::vec(inner, 0..6).prop_map(Yaml::Seq),
        ]
    })
}

fn render_yaml(node: &Yaml, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match node {
        Yaml::Scalar(s) => {
            out.push(' ');
            out.push_str(&s.replace('\n', &format!("\n{pad}")));
            out.push('\n');
        }
        Yaml::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
        Yaml::Seq(items) if items.is_empty() => out.push_str(" []\n"),
        Yaml::Map(entries) => {
            out.push('\n');
            for (k, v) in entries {
                out.push_str(&format!("{pad}{k}:"));
                render_yaml(v, indent + 2, out);
            }
        }
        Yaml::Seq(items) => {
            out.push('\n');
            for v in items {
                out.push_str(&format!("{pad}-"));
                render_yaml(v, indent + 2, out);
            }
        }
    }
}

/// Nesting a few hundred levels deep in each of YAML's notations.
fn deep_yaml() -> impl Strategy<Value = String> {
    (depth(), 0..5u8).prop_map(|(n, style)| match style {
        0 => format!("a: {}1{}\n", "[".repeat(n), "]".repeat(n)),
        1 => format!("a: {}1{}\n", "{a: ".repeat(n), "}".repeat(n)),
        2 => {
            (0..n)
                .map(|i| format!("{}k:\n", " ".repeat(i)))
                .collect::<String>()
                + &" ".repeat(n)
                + "v\n"
        }
        3 => format!("a:\n{}x\n", "- ".repeat(n)),
        // Unbalanced: opened and never closed.
        _ => format!("a: {}\n", "[{".repeat(n)),
    })
}

/// A values document: a generated tree, sometimes corrupted, several documents, or deep.
fn values_document() -> BoxedStrategy<String> {
    prop_oneof![
        4 => yaml_tree().prop_map(|t| {
            let mut out = String::new();
            render_yaml(&t, 0, &mut out);
            out
        }),
        2 => (yaml_tree(), any::<usize>(), prop_oneof![hostile(), Just(":".into()), Just("\n-".into()), Just("\t".into()), Just("---\n".into())])
            .prop_map(|(t, at, frag)| {
                let mut out = String::new();
                render_yaml(&t, 0, &mut out);
                splice(&out, at, &frag)
            }),
        1 => prop::collection::vec(yaml_tree(), 1..4).prop_map(|docs| {
            docs.iter()
                .map(|t| {
                    let mut out = String::from("---");
                    render_yaml(t, 0, &mut out);
                    out
                })
                .collect::<String>()
        }),
        2 => deep_yaml(),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config())]

    /// `-f values.yaml`: the event-driven YAML reader Helm-compatible values come from.
    #[test]
    fn values_files_parse_or_fail_with_a_message(doc in values_document()) {
        match parse_values_yaml(&doc) {
            Ok(values) => {
                // The reader has no depth limit of its own yet; the generator stays within
                // a few hundred levels (deeper input is the YAML-limits work).
                prop_assert!(nesting_depth(&Value::Object(values)) <= 1000);
            }
            Err(message) => prop_assert!(!message.trim().is_empty()),
        }
        // The same text through the layered path `-f` takes, which names the file.
        let layers = ValueLayers::new().values_file("fuzz.yaml");
        let reader = |_: &str| Ok::<_, std::io::Error>(doc.as_bytes().to_vec());
        if let Err(e) = layers.user_values(&reader) {
            let message = e.to_string();
            prop_assert!(message.contains("fuzz.yaml"), "{message}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// --set and friends
// ---------------------------------------------------------------------------------------------

/// A `--set` key: dotted parts with list indexes, escapes and hostile characters.
fn set_key() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        4 => word(),
        2 => hostile(),
        1 => Just("a\\.b".to_string()),
        1 => Just("a\\,b".to_string()),
        1 => Just("".to_string()),
    ];
    let index = prop_oneof![
        4 => Just(String::new()),
        2 => (0i64..10).prop_map(|i| format!("[{i}]")),
        1 => prop_oneof![
            Just(MAX_LIST_INDEX),
            Just(MAX_LIST_INDEX + 1),
            Just(-1i64),
            Just(i64::MAX),
        ]
        .prop_map(|i| format!("[{i}]")),
        1 => Just("[99999999999999999999]".to_string()),
        1 => Just("[".to_string()),
        1 => Just("[1][2][3]".to_string()),
    ];
    prop_oneof![
        6 => prop::collection::vec((part, index), 1..6).prop_map(|parts| {
            parts.into_iter().map(|(p, i)| p + &i).collect::<Vec<_>>().join(".")
        }),
        // Deep key paths around and far beyond MAX_KEY_DEPTH.
        1 => depth().prop_map(|n| vec!["k"; n].join(".")),
        1 => depth().prop_map(|n| "[0]".repeat(n)),
    ]
}

fn set_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => atom(),
        1 => prop::collection::vec(atom(), 0..5).prop_map(|v| format!("{{{}}}", v.join(","))),
        1 => Just("{a,{b,c}}".to_string()),
        1 => Just("\\,".to_string()),
        1 => Just("x\\".to_string()),
        // JSON-ish right-hand sides for --set-json, deep ones included.
        1 => Just("{\"a\":[1,2,{\"b\":null}]}".to_string()),
        1 => depth().prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n))),
        1 => depth().prop_map(|n| format!("{}1", "{\"a\":".repeat(n))),
    ]
}

fn set_expression() -> BoxedStrategy<String> {
    prop_oneof![
        6 => prop::collection::vec((set_key(), prop_oneof![Just("="), Just("=="), Just("")], set_value()), 1..5)
            .prop_map(|pairs| {
                pairs.into_iter().map(|(k, eq, v)| format!("{k}{eq}{v}")).collect::<Vec<_>>().join(",")
            }),
        1 => (set_expression_soup(), 0..1usize).prop_map(|(s, _)| s),
        1 => depth().prop_map(|n| format!("{{{}}}", "\"a\":{".repeat(n) + &"}".repeat(n))),
    ]
    .boxed()
}

/// Expression soup: the metacharacters of the syntax in random order.
fn set_expression_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(&["=", ",", ".", "[", "]", "{", "}", "\\", "0", "a", "é"][..])
                .prop_map(str::to_string),
            hostile(),
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

fn set_kind() -> impl Strategy<Value = SetKind> {
    prop::sample::select(
        &[
            SetKind::Set,
            SetKind::SetString,
            SetKind::SetJson,
            SetKind::SetLiteral,
            SetKind::SetFile,
        ][..],
    )
}

proptest! {
    #![proptest_config(config())]

    /// `--set`, `--set-string`, `--set-json`, `--set-literal`, `--set-file` expressions.
    #[test]
    fn set_expressions_parse_within_limits_or_fail_with_a_message(
        kind in set_kind(),
        expr in set_expression(),
        file_text in atom(),
    ) {
        // --set-file reads through the FileReader: give it generated contents, not the disk.
        let reader = |_: &str| Ok::<_, std::io::Error>(file_text.as_bytes().to_vec());
        let layers = ValueLayers::new().set(kind, expr.clone());
        let result = if kind == SetKind::SetFile {
            layers.user_values(&reader)
        } else {
            parse_set(kind, &expr)
        };
        match result {
            Ok(values) => {
                let values = Value::Object(values);
                // A key path is at most MAX_KEY_DEPTH deep and every level may carry a list
                // index; --set-json values nest further (serde_json stops them at 128).
                let limit = if kind == SetKind::SetJson { 2 * MAX_KEY_DEPTH + 130 } else { 2 * MAX_KEY_DEPTH + 2 };
                prop_assert!(nesting_depth(&values) <= limit, "{} levels", nesting_depth(&values));
                prop_assert!(longest_list(&values) as i64 <= MAX_LIST_INDEX + 1);
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(!message.trim().is_empty());
                prop_assert!(message.contains(kind.flag()), "{message}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAPI specs and the routes derived from them
// ---------------------------------------------------------------------------------------------

fn path_template() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        4 => word(),
        2 => atom().prop_map(|a| format!("{{{a}}}")),
        1 => hostile(),
        1 => prop::sample::select(&["(", ")", ".", "+", "?", "*", "[", "$", "{", "}", "{}", "~", "%2F", ".."][..])
            .prop_map(str::to_string),
        1 => (word(), word()).prop_map(|(a, b)| format!("{a}.{{{b}}}")),
        1 => Just("x".repeat(300)),
    ];
    prop_oneof![
        8 => prop::collection::vec(segment, 0..6).prop_map(|s| format!("/{}", s.join("/"))),
        1 => atom(),
        1 => Just("//".to_string()),
    ]
}

fn scheme_object() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"type": "apiKey", "in": "header", "name": "X-API-Key"})),
        Just(json!({"type": "apiKey", "in": "query", "name": "key"})),
        Just(json!({"type": "apiKey", "in": "cookie", "name": "session"})),
        Just(json!({"type": "apiKey", "in": "nowhere", "name": ""})),
        Just(json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})),
        Just(json!({"type": "http", "scheme": "bearer"})),
        Just(json!({"type": "http", "scheme": "basic"})),
        Just(json!({"type": "http", "scheme": "digest"})),
        Just(json!({"type": "oauth2", "flows": {}})),
        Just(json!({"type": "openIdConnect", "openIdConnectUrl": "https://x"})),
        Just(json!({"type": "mutualTLS"})),
        Just(json!({"type": "basic"})),
        atom().prop_map(|t| json!({"type": t, "name": t})),
        Just(json!({"$ref": "#/components/securitySchemes/loop"})),
        Just(json!(42)),
    ]
}

/// An `x-kong-plugin-*` extension: known plugins with good and bad configs, code-running
/// plugins, unknown names.
fn kong_plugin() -> impl Strategy<Value = (String, Value)> {
    let name = prop_oneof![
        Just("rate-limiting"),
        Just("cors"),
        Just("key-auth"),
        Just("request-transformer"),
        Just("pre-function"),
        Just("post-function"),
        Just("proxy-cache"),
        Just("ip-restriction"),
        Just("no-such-plugin"),
        Just(""),
    ];
    let config = prop_oneof![
        Just(json!({"minute": 5, "hour": 1})),
        Just(json!({"second": -1, "minute": 1e300})),
        Just(json!({"origins": ["(", "*", "https://é.example"]})),
        Just(json!({"key_names": ["bad header", "X-Key", ""]})),
        Just(json!({"access": ["os.execute('id')"]})),
        Just(json!("not an object")),
        Just(json!({"config": {"minute": 99999999999999999999u128 as f64}})),
        atom().prop_map(|a| json!({"config": {a.clone(): a}})),
    ];
    (name, config).prop_map(|(n, c)| {
        let value = if c.get("config").is_some() {
            c
        } else {
            json!({ "config": c })
        };
        (format!("x-kong-plugin-{n}"), value)
    })
}

fn parameter() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (atom(), prop::sample::select(&["path", "query", "header", "cookie", "body", "bogus"][..]), any::<bool>())
            .prop_map(|(name, place, required)| json!({"name": name, "in": place, "required": required, "schema": {"type": "string"}})),
        1 => Just(json!({"$ref": "#/components/parameters/p"})),
        1 => Just(json!({"$ref": "#/components/parameters/missing"})),
        1 => Just(json!({"$ref": "other.yaml#/p"})),
        1 => Just(json!({"$ref": 7})),
        1 => Just(json!("not a parameter")),
    ]
}

fn security_requirement() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop_oneof![4 => prop::sample::select(&["key", "jwt", "basic", "oauth", "oidc", "mtls", "odd", "undefined"][..]).prop_map(str::to_string), 1 => atom()],
        prop::collection::vec(atom(), 0..2),
        0..3,
    )
    .prop_map(|m| json!(m))
}

fn operation() -> impl Strategy<Value = Value> {
    (
        prop::option::of(atom()),
        prop::collection::vec(parameter(), 0..3),
        prop::option::of(prop::collection::vec(security_requirement(), 0..3)),
        prop::collection::vec(kong_plugin(), 0..2),
        prop::option::of(atom()),
    )
        .prop_map(|(id, params, security, plugins, tag)| {
            let mut op = Map::new();
            if let Some(id) = id {
                op.insert("operationId".into(), json!(id));
            }
            op.insert("parameters".into(), json!(params));
            if let Some(s) = security {
                op.insert("security".into(), json!(s));
            }
            for (k, v) in plugins {
                op.insert(k, v);
            }
            if let Some(t) = tag {
                op.insert("tags".into(), json!([t]));
            }
            op.insert("responses".into(), json!({"200": {"description": "ok"}}));
            Value::Object(op)
        })
}

fn path_item() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => prop::collection::btree_map(
            prop_oneof![
                8 => prop::sample::select(&justpush::kong::spec::METHODS[..]).prop_map(str::to_string),
                1 => Just("parameters".to_string()),
                1 => prop::sample::select(&["GET", "connect", "x-kong-name", "$ref", "servers"][..]).prop_map(str::to_string),
            ],
            operation(),
            0..4,
        )
        .prop_map(|m| json!(m)),
        1 => Just(json!({"$ref": "#/paths/~1loop"})),
        1 => Just(json!(null)),
    ]
}

fn spec_document() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just(json!("3.0.3")),
            Just(json!("3.1.0")),
            Just(json!("3.2.0")),
            Just(json!("4.0")),
            Just(json!(3.0)),
            atom().prop_map(|a| json!(a)),
        ],
        any::<bool>(),
        atom(),
        prop::collection::btree_map(path_template(), path_item(), 0..6),
        prop::collection::btree_map(
            prop::sample::select(&["key", "jwt", "basic", "oauth", "oidc", "mtls", "odd", "loop"][..]).prop_map(str::to_string),
            scheme_object(),
            0..5,
        ),
        prop::option::of(prop::collection::vec(security_requirement(), 0..3)),
        prop::collection::vec(kong_plugin(), 0..2),
        prop::option::of(atom()),
    )
        .prop_map(|(version, swagger, title, paths, schemes, security, plugins, base)| {
            let mut doc = Map::new();
            if swagger {
                doc.insert("swagger".into(), json!("2.0"));
                if let Some(b) = base {
                    doc.insert("basePath".into(), json!(b));
                }
                doc.insert("securityDefinitions".into(), json!(schemes));
            } else {
                doc.insert("openapi".into(), version);
                if let Some(b) = base {
                    doc.insert("servers".into(), json!([{"url": b}]));
                }
                doc.insert(
                    "components".into(),
                    json!({
                        "securitySchemes": schemes,
                        "parameters": {"p": {"name": "p", "in": "path", "required": true}, "loop": {"$ref": "#/components/parameters/loop"}},
                    }),
                );
            }
            doc.insert("info".into(), json!({"title": title, "version": "1"}));
            doc.insert("paths".into(), json!(paths));
            if let Some(s) = security {
                doc.insert("security".into(), json!(s));
            }
            for (k, v) in plugins {
                doc.insert(k, v);
            }
            Value::Object(doc)
        })
}

/// A spec as text: JSON or YAML, sometimes corrupted, sometimes deeply nested.
fn spec_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => spec_document().prop_map(|d| serde_json::to_string_pretty(&d).unwrap()),
        4 => spec_document().prop_map(|d| serde_yaml::to_string(&d).unwrap()),
        2 => (spec_document(), any::<bool>(), any::<usize>(), prop_oneof![hostile(), Just("\n  - [".into()), Just(": &x *x".into()), Just("}".into())])
            .prop_map(|(d, as_json, at, frag)| {
                let text = if as_json { serde_json::to_string(&d).unwrap() } else { serde_yaml::to_string(&d).unwrap() };
                splice(&text, at, &frag)
            }),
        1 => depth().prop_map(|n| format!("{{\"openapi\":\"3.0.0\",\"paths\":{}1{}}}", "{\"a\":".repeat(n), "}".repeat(n))),
        1 => deep_yaml().prop_map(|y| format!("openapi: 3.0.0\npaths:\n  /x:\n    get:\n      x-deep:\n{}", y.lines().map(|l| format!("        {l}\n")).collect::<String>())),
        1 => values_document(),
    ]
}

fn gateway_settings() -> impl Strategy<Value = GatewaySettings> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::btree_set(
            prop::sample::select(&["pre-function", "proxy-cache", "no-such-plugin"][..])
                .prop_map(str::to_string),
            0..2,
        ),
        atom(),
    )
        .prop_map(|(allow_public, hide, allow, release)| {
            let mut s = GatewaySettings::from_config(&KongConfig::default(), &release);
            s.allow_public = allow_public;
            s.hide_credentials = hide;
            s.allow_plugins = allow.into_iter().collect::<BTreeSet<_>>();
            s.security = BTreeMap::new();
            s
        })
}

proptest! {
    #![proptest_config(config())]

    /// OpenAPI reading, then route derivation and the chart values rendered from the routes.
    #[test]
    fn specs_parse_and_derive_or_fail_with_a_message(text in spec_text(), settings in gateway_settings()) {
        match ApiSpec::parse(&text, "fuzz.yaml") {
            Ok(spec) => match derive(&spec, &settings) {
                Ok(plan) => {
                    let (values, _warnings) = chart_values(&plan, &settings, "backend");
                    prop_assert!(values.is_object());
                }
                Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
            },
            Err(e) => {
                let message = e.to_string();
                prop_assert!(message.contains("fuzz.yaml"), "{message}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The template lexer, parser and engine
// ---------------------------------------------------------------------------------------------

/// Token soup: every delimiter, keyword and literal form of the template language in random
/// order, so the lexer and parser meet every half-open construct.
fn template_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => prop::sample::select(&[
            "{{", "}}", "{{- ", " -}}", "{{/*", "*/}}", "/*", "*/", "(", ")", "|", ":=", "=", ",",
            "$", "$x", ".", ".Values", ".Values.a.b", "..", "\"", "`", "'", "'a'", "'\\n'", "\\",
            "if", "else", "end", "range", "with", "define", "template", "block", "break",
            "continue", "nil", "true", "1", "-1", "0x1F", "1e9", "1.5", "\"s\"", "`raw`",
            "include", "tpl", "printf", " ", "\n", "-", "'é'", "\"\\u00e9\"", "\"\\xff\"",
        ][..]).prop_map(str::to_string),
        2 => atom(),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

/// A literal argument: numbers at the edges of Go's types, strings, multi-byte included.
fn literal(multibyte: bool) -> impl Strategy<Value = String> {
    let text = if multibyte {
        atom().boxed()
    } else {
        // Excluded until the template-functions work lands (multi-byte slicing in trunc,
        // substr, abbrev, wrap, wrapWith panics on a char boundary): ASCII only.
        prop::collection::vec(
            prop::sample::select(&["a", "b c", "word", "x-y", " ", "", "\t"][..]),
            0..6,
        )
        .prop_map(|v| v.concat())
        .boxed()
    };
    prop_oneof![
        3 => text.prop_map(|s| format!("{s:?}")),
        2 => prop_oneof![-5i64..60, Just(i64::MAX), Just(i64::MIN), Just(-1), Just(0)].prop_map(|n| n.to_string()),
        1 => Just("9999999999999999999999".to_string()),
        1 => Just("1e308".to_string()),
        1 => Just("nil".to_string()),
        1 => Just("true".to_string()),
        2 => prop::sample::select(&[".Values.s", ".Values.n", ".Values.list", ".Values.map", ".Values.missing.deep", ".Release.Name", "."][..]).prop_map(str::to_string),
    ]
}

/// Counts for functions that allocate by count: excluded until those functions are bounded
/// (`repeat`, `indent`, `nindent`, `until`, `seq`, `randAlphaNum`... with a huge count
/// allocate it whole): small counts only.
fn small_count() -> impl Strategy<Value = String> {
    prop_oneof![-3i64..50, Just(0)].prop_map(|n| n.to_string())
}

/// One function call with generated arguments; the string functions Helm charts lean on.
fn function_call() -> BoxedStrategy<String> {
    prop_oneof![
        // Multi-byte strings excluded here (see `literal`).
        (
            prop::sample::select(&["trunc", "abbrev", "wrap"][..]),
            literal(false),
            literal(false)
        )
            .prop_map(|(f, a, b)| format!("{f} {a} {b}")),
        (literal(false), literal(false), literal(false))
            .prop_map(|(a, b, c)| format!("substr {a} {b} {c}")),
        (literal(false), literal(false), literal(false))
            .prop_map(|(a, b, c)| format!("wrapWith {a} {b} {c}")),
        (
            prop::sample::select(&["repeat", "indent", "nindent"][..]),
            small_count(),
            literal(true)
        )
            .prop_map(|(f, n, s)| format!("{f} {n} {s}")),
        (
            prop::sample::select(&["until", "randAlphaNum"][..]),
            small_count()
        )
            .prop_map(|(f, n)| format!("{f} {n}")),
        (
            prop::sample::select(
                &[
                    "quote",
                    "squote",
                    "upper",
                    "lower",
                    "title",
                    "trim",
                    "nospace",
                    "b64enc",
                    "b64dec",
                    "toYaml",
                    "toJson",
                    "fromYaml",
                    "fromJson",
                    "len",
                    "kindOf",
                    "toString",
                    "int",
                    "int64",
                    "float64",
                    "atoi",
                    "first",
                    "last",
                    "sortAlpha",
                    "keys",
                    "camelcase",
                    "snakecase",
                    "kebabcase",
                    "sha256sum",
                    "semver",
                    "empty",
                    "not",
                    "uniq",
                    "regexQuoteMeta",
                ][..]
            ),
            literal(true)
        )
            .prop_map(|(f, a)| format!("{f} {a}")),
        (
            prop::sample::select(
                &[
                    "default",
                    "replace",
                    "trimAll",
                    "trimPrefix",
                    "contains",
                    "split",
                    "splitList",
                    "join",
                    "eq",
                    "lt",
                    "add",
                    "sub",
                    "mul",
                    "div",
                    "mod",
                    "max",
                    "index",
                    "hasKey",
                    "get",
                    "regexMatch",
                    "regexFind",
                    "semverCompare",
                    "printf",
                    "ternary",
                    "dict",
                    "list",
                    "append",
                    "cat",
                    "coalesce",
                ][..]
            ),
            literal(true),
            literal(true)
        )
            .prop_map(|(f, a, b)| format!("{f} {a} {b}")),
        (literal(true), literal(true))
            .prop_map(|(a, b)| format!("printf \"%s|%d|%v|%q|%x|%5.2f\" {a} {b}")),
    ]
    .boxed()
}

/// A well-formed template built from the grammar: actions, pipes, variables and blocks
/// nested to a generated depth, so the engine (not only the parser) runs it.
fn template_source() -> BoxedStrategy<String> {
    let action = prop_oneof![
        4 => function_call().prop_map(|c| format!("{{{{ {c} }}}}")),
        2 => (function_call(), prop::sample::select(&["quote", "upper", "toYaml", "len", "default \"d\""][..]))
            .prop_map(|(c, f)| format!("{{{{ {c} | {f} }}}}")),
        1 => function_call().prop_map(|c| format!("{{{{- $v := {c} -}}}}{{{{ $v }}}}")),
        1 => atom().prop_map(|t| t.replace("{{", "{ {")),
    ];
    let body = prop::collection::vec(action, 1..6).prop_map(|v| v.concat());
    let block = (
        body,
        prop::sample::select(&["if", "with", "range"][..]),
        literal(true),
        depth(),
        any::<bool>(),
    )
        .prop_map(|(body, kw, cond, n, with_else)| {
            let n = n.min(300);
            let open = format!("{{{{ {kw} {cond} }}}}");
            let close = if with_else {
                "{{ else }}x{{ end }}"
            } else {
                "{{ end }}"
            };
            format!("{}{body}{}", open.repeat(n), close.repeat(n))
        });
    prop_oneof![
        3 => block,
        1 => (function_call(), depth()).prop_map(|(c, n)| {
            // Parenthesised pipelines a few hundred deep.
            let n = n.min(300);
            format!("{{{{ {}{c}{} }}}}", "(".repeat(n), ")".repeat(n))
        }),
        1 => (function_call(), 1usize..5).prop_map(|(c, n)| {
            format!("{{{{ define \"t\" }}}}{{{{ {c} }}}}{{{{ end }}}}{}", "{{ include \"t\" . }}".repeat(n))
        }),
        // Excluded until the executor's include/template depth fits the stack: a template
        // that includes itself recurses up to exec's MAX_DEPTH (1000, Helm's) and overflows
        // the stack after ~150 levels in a debug build (also in the debug binary's 8 MiB
        // main thread). Re-enable with:
        // 1 => Just("{{ define \"loop\" }}{{ include \"loop\" . }}{{ end }}{{ include \"loop\" . }}".to_string()),
    ]
    .boxed()
}

/// Values a chart would see: strings, numbers, lists and maps of generated content.
fn template_values() -> impl Strategy<Value = Value> {
    (
        atom(),
        prop_oneof![
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            Just(json!(null))
        ],
        prop::collection::vec(atom(), 0..4),
        prop::collection::btree_map(atom(), atom(), 0..4),
    )
        .prop_map(|(s, n, list, map)| json!({"s": s, "n": n, "list": list, "map": map}))
}

proptest! {
    #![proptest_config(config())]

    /// The lexer and parser on token soup: a syntax error has a message and a position
    /// inside the source.
    #[test]
    fn template_soup_lexes_and_parses_or_fails_with_a_position(src in template_soup()) {
        if let Err(e) = lex::lex(&src) {
            prop_assert!(!e.message.trim().is_empty());
            prop_assert!(e.pos <= src.len(), "position {} past the end ({})", e.pos, src.len());
        }
        if let Err(e) = parse::parse(&src) {
            prop_assert!(!e.message.trim().is_empty());
            prop_assert!(e.pos <= src.len(), "position {} past the end ({})", e.pos, src.len());
        }
        if let Err(e) = template::render_str("fuzz.tpl", &src, &template::Value::Nil) {
            prop_assert!(!e.to_string().trim().is_empty());
        }
    }

    /// The engine on well-formed templates with generated values and function arguments.
    #[test]
    fn templates_render_or_fail_with_a_message(src in template_source(), values in template_values(), release in atom()) {
        // Rendered on a thread with the binary's main-thread stack (8 MiB): the engine
        // recurses per nesting level and a debug build spends ~15 KiB a level, so up to
        // MAX_NESTING levels of blocks around calls need more than a test thread's 2 MiB.
        let outcome = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || {
                let data = template::Value::map(
                    [
                        ("Values".to_string(), template::Value::from_json_values(&values)),
                        ("Release".to_string(), template::Value::from_json(&json!({"Name": release}), false)),
                    ]
                    .into_iter()
                    .collect(),
                );
                template::render_str("fuzz.tpl", &src, &data).err().map(|e| e.to_string())
            })
            .unwrap()
            .join();
        // A panic inside the thread comes back as Err: the property fails on it.
        let outcome = outcome.map_err(|_| TestCaseError::fail("the template engine panicked"))?;
        if let Some(message) = outcome {
            prop_assert!(!message.trim().is_empty());
            prop_assert!(message.contains("fuzz.tpl"), "{message}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// .dockerignore
// ---------------------------------------------------------------------------------------------

fn ignore_line() -> BoxedStrategy<String> {
    let piece = prop_oneof![
        4 => word(),
        3 => prop::sample::select(&[
            "*", "**", "?", "/", "!", "#", "[", "]", "[a-z]", "[!a]", "[^a]", "[]", "[\\]", "\\",
            "\\*", ".", "..", "./", "../", "{", "}", "(", ")", "+", "$", "^", "|", " ", "\t",
            "-", "[z-a]", "[[:alpha:]]",
        ][..]).prop_map(str::to_string),
        2 => hostile(),
    ];
    prop_oneof![
        8 => prop::collection::vec(piece, 0..10).prop_map(|v| v.concat()),
        1 => depth().prop_map(|n| vec!["**"; n].join("/")),
        1 => depth().prop_map(|n| "[".repeat(n)),
    ]
    .boxed()
}

fn context_path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            word(),
            hostile(),
            Just(".git".to_string()),
            Just("node_modules".to_string())
        ],
        1..6,
    )
    .prop_map(|v| v.join("/"))
}

proptest! {
    #![proptest_config(config())]

    /// `.dockerignore` parsing, then matching context paths against the parsed patterns.
    #[test]
    fn dockerignore_parses_and_matches_or_names_the_line(
        lines in prop::collection::vec(ignore_line(), 0..12),
        paths in prop::collection::vec(context_path(), 0..8),
    ) {
        let text = lines.join("\n");
        match DockerIgnore::parse(&text) {
            Ok(ignore) => {
                for p in &paths {
                    let _ = ignore.excludes(p);
                }
                let _ = ignore.has_exceptions();
            }
            Err(message) => prop_assert!(message.contains(".dockerignore line"), "{message}"),
        }
    }
}
