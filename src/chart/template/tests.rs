//! Go text/template and Helm semantics, checked on inline templates.

use super::{render_str, Value};
use serde_json::json;

fn r(src: &str, data: serde_json::Value) -> String {
    render_str("t.yaml", src, &Value::from_json_values(&data))
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn err(src: &str, data: serde_json::Value) -> String {
    render_str("t.yaml", src, &Value::from_json_values(&data))
        .expect_err(src)
        .to_string()
}

#[test]
fn trim_markers_remove_adjacent_whitespace() {
    assert_eq!(r("a  {{- 1 -}}  \n b", json!({})), "a1b");
    assert_eq!(r("a {{ 1 }} b", json!({})), "a 1 b");
    assert_eq!(r("x\n{{- /* comment */ -}}\ny", json!({})), "xy");
    assert_eq!(r("{{-3}}", json!({})), "-3");
}

#[test]
fn control_flow_follows_go() {
    let src = "{{ if eq .a 1.0 }}one{{ else if eq .a 2.0 }}two{{ else }}other{{ end }}";
    assert_eq!(r(src, json!({"a": 2})), "two");
    assert_eq!(r(src, json!({"a": 5})), "other");
    assert_eq!(
        r(
            "{{ with .m }}{{ .k }}{{ else }}none{{ end }}",
            json!({"m": {"k": "v"}})
        ),
        "v"
    );
    assert_eq!(
        r(
            "{{ with .m }}{{ .k }}{{ else }}none{{ end }}",
            json!({"m": {}})
        ),
        "none"
    );
    assert_eq!(
        r(
            "{{ range $i, $v := .l }}{{ $i }}={{ $v }};{{ end }}",
            json!({"l": ["a", "b"]})
        ),
        "0=a;1=b;"
    );
    assert_eq!(
        r(
            "{{ range $k, $v := .m }}{{ $k }}{{ $v }}{{ end }}",
            json!({"m": {"b": 2, "a": 1}})
        ),
        "a1b2"
    );
    assert_eq!(
        r("{{ range .l }}x{{ else }}empty{{ end }}", json!({"l": []})),
        "empty"
    );
    assert_eq!(r("{{ range 3 }}{{ . }}{{ end }}", json!({})), "012");
    assert_eq!(r("{{ range .l }}{{ if eq . 2.0 }}{{ continue }}{{ end }}{{ if eq . 4.0 }}{{ break }}{{ end }}{{ . }}{{ end }}", json!({"l": [1, 2, 3, 4, 5]})), "13");
}

#[test]
fn variables_scope_and_assignment() {
    assert_eq!(
        r(
            "{{ $x := 1 }}{{ range .l }}{{ $x = . }}{{ end }}{{ $x }}",
            json!({"l": [7, 8]})
        ),
        "8"
    );
    assert_eq!(
        r(
            "{{ $x := \"a\" }}{{ if true }}{{ $x := \"b\" }}{{ end }}{{ $x }}",
            json!({})
        ),
        "a"
    );
    assert_eq!(
        r(
            "{{ range .l }}{{ $.top }}{{ end }}",
            json!({"l": [1], "top": "T"})
        ),
        "T"
    );
}

#[test]
fn set_mutates_shared_dicts_like_go_maps() {
    let src = "{{ $d := dict \"a\" 1 }}{{ $e := $d }}{{ $_ := set $e \"b\" 2 }}{{ keys $d | sortAlpha | join \",\" }}";
    assert_eq!(r(src, json!({})), "a,b");
    assert_eq!(
        r(
            "{{ $_ := set .Values \"x\" \"y\" }}{{ .Values.x }}",
            json!({"Values": {}})
        ),
        "y"
    );
}

#[test]
fn define_include_template_and_tpl() {
    let src = "{{ define \"n\" }}[{{ . }}]{{ end }}{{ include \"n\" \"a\" | upper }}{{ template \"n\" \"b\" }}{{ tpl \"{{ .x }}!\" . }}";
    assert_eq!(r(src, json!({"x": "y"})), "[A][b]y!");
}

#[test]
fn numbers_keep_go_types() {
    assert_eq!(
        r(
            "{{ .a }} {{ typeOf .a }} {{ typeOf 1 }} {{ typeOf (add 1 2) }} {{ .big }}",
            json!({"a": 8000, "big": 1000000})
        ),
        "8000 float64 int int64 1e+06"
    );
    assert_eq!(
        r(
            "{{ printf \"%d\" (int64 .a) }} {{ printf \"%d\" .a }}",
            json!({"a": 3})
        ),
        "3 %!d(float64=3)"
    );
    assert!(err("{{ eq .a 1 }}", json!({"a": 1})).contains("incompatible types for comparison"));
}

#[test]
fn missing_values_render_empty_and_nil_chains_fail_with_position() {
    assert_eq!(r("a{{ .missing }}b", json!({})), "ab");
    let e = err("line1\n  {{ .a.b.c }}", json!({"a": {}}));
    assert!(e.contains("t.yaml:2:3"), "{e}");
    assert!(e.contains("<.a.b.c>"), "{e}");
    assert!(e.contains("nil pointer evaluating interface {}.c"), "{e}");
}

#[test]
fn required_and_fail_are_user_errors() {
    let e = err("{{ required \"image.tag is required\" .image }}", json!({}));
    assert_eq!(e, "execution error at (t.yaml:1:1): image.tag is required");
    let e = err("x\n{{ fail \"nope\" }}", json!({}));
    assert_eq!(e, "execution error at (t.yaml:2:1): nope");
}

#[test]
fn parse_errors_name_the_position() {
    let e = err("ok\n{{ if .a }}unterminated", json!({}));
    assert!(
        e.contains("t.yaml:2:1") && e.contains("unexpected EOF in if"),
        "{e}"
    );
    let e = err("{{ nosuchfunc 1 }}", json!({}));
    assert!(e.contains("function \"nosuchfunc\" not defined"), "{e}");
}

#[test]
fn sprig_strings_lists_and_dicts() {
    assert_eq!(r("{{ \"x\" | quote }} {{ trunc 3 \"abcdef\" }} {{ trimSuffix \"-\" \"a-\" }} {{ \"a b\" | replace \" \" \"_\" }}", json!({})), "\"x\" abc a a_b");
    assert_eq!(
        r(
            "{{ toYaml .m | nindent 2 }}",
            json!({"m": {"b": [1, 2], "a": "true"}})
        ),
        "\n  a: \"true\"\n  b:\n  - 1\n  - 2"
    );
    assert_eq!(r("{{ default \"d\" .x }} {{ default \"d\" \"\" }} {{ default \"d\" \"v\" }} {{ empty 0 }} {{ coalesce \"\" nil \"c\" }}", json!({})), "d d v true c");
    assert_eq!(r("{{ ternary \"y\" \"n\" true }} {{ list 1 2 | toJson }} {{ dict \"k\" \"<v>\" | toJson }}", json!({})), "y [1,2] {\"k\":\"\\u003cv\\u003e\"}");
    assert_eq!(r("{{ $m := merge (dict \"a\" 1 \"f\" false) (dict \"a\" 2 \"b\" 3 \"f\" true) }}{{ toJson $m }}", json!({})), "{\"a\":1,\"b\":3,\"f\":true}");
    assert_eq!(
        r(
            "{{ $m := mergeOverwrite (dict \"a\" 1) (dict \"a\" 2) }}{{ $m.a }}",
            json!({})
        ),
        "2"
    );
    assert_eq!(r("{{ get (dict) \"x\" | quote }} {{ hasKey (dict \"a\" 1) \"a\" }} {{ omit (dict \"a\" 1 \"b\" 2) \"a\" | toJson }}", json!({})), "\"\" true {\"b\":2}");
    assert_eq!(
        r(
            "{{ b64enc \"hi\" }} {{ b64dec \"aGk=\" }} {{ sha256sum \"a\" | trunc 8 }}",
            json!({})
        ),
        "aGk= hi ca978112"
    );
    assert_eq!(
        r(
            "{{ semverCompare \">=1.19-0\" \"v1.30.0\" }} {{ (semver \"3.9\").Minor }}",
            json!({})
        ),
        "true 9"
    );
    assert_eq!(r("{{ regexFind \"^[0-9]+.[0-9]+\" \"3.9.1-x\" }} {{ splitList \",\" \"a,b\" | len }} {{ (split \"/\" \"a/b\")._1 }}", json!({})), "3.9 2 b");
    assert_eq!(
        r("{{ randAlphaNum 12 | len }} {{ uuidv4 | len }}", json!({})),
        "12 36"
    );
}

#[test]
fn and_or_short_circuit_and_return_the_deciding_value() {
    assert_eq!(
        r(
            "{{ or .a \"fallback\" }} {{ and 1 0 }} {{ and .x .x.y }}",
            json!({"a": ""})
        ),
        "fallback 0 "
    );
}

#[test]
fn certificates_are_pem() {
    let out = r("{{ $ca := genCA \"ca\" 365 }}{{ $c := genSignedCert \"svc\" nil (list \"svc.ns\") 365 $ca }}{{ $c.Cert }}{{ $c.Key }}", json!({}));
    assert!(out.starts_with("-----BEGIN CERTIFICATE-----"), "{out}");
    assert!(out.contains("PRIVATE KEY-----"));
}
