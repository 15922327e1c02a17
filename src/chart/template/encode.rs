//! `toYaml` and `toJson` as Helm writes them (sigs.k8s.io/yaml over go-yaml v2, and Go's
//! encoding/json): sorted keys, block style, sequences not indented under their key, strings
//! quoted only when they would read back as something else.

use super::value::Value;

/// Serialises a value as YAML, without the trailing newline (as Helm's `toYaml` trims it).
pub fn to_yaml(v: &Value) -> String {
    let data = v.to_json();
    let mut out = String::new();
    emit(&data, 0, &mut out, Ctx::Top);
    // Helm trims exactly one trailing newline (strings.TrimSuffix).
    if out.ends_with('\n') {
        out.pop();
    }
    out
}

/// Serialises JSON data as a YAML document (with a trailing newline).
pub fn json_to_yaml(v: &serde_json::Value) -> String {
    let mut out = String::new();
    emit(v, 0, &mut out, Ctx::Top);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Top,
    /// Value after `key:`.
    MapValue,
    /// Value after `- `.
    SeqItem,
}

fn emit(v: &serde_json::Value, indent: usize, out: &mut String, ctx: Ctx) {
    use serde_json::Value as J;
    let pad = " ".repeat(indent);
    match v {
        J::Object(m) if !m.is_empty() => {
            if ctx == Ctx::MapValue {
                out.push('\n');
            }
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.iter().enumerate() {
                // The first key of a map inside a sequence item shares the "- " line.
                if !(ctx == Ctx::SeqItem && i == 0) {
                    out.push_str(&pad);
                }
                out.push_str(&scalar_string(k, indent, true));
                out.push(':');
                let child = &m[*k];
                match child {
                    J::Object(c) if !c.is_empty() => emit(child, indent + 2, out, Ctx::MapValue),
                    J::Array(c) if !c.is_empty() => emit(child, indent, out, Ctx::MapValue),
                    _ => {
                        out.push(' ');
                        emit(child, indent + 2, out, Ctx::MapValue);
                    }
                }
            }
        }
        J::Array(a) if !a.is_empty() => {
            if ctx == Ctx::MapValue {
                out.push('\n');
            }
            for (i, item) in a.iter().enumerate() {
                if !(ctx == Ctx::SeqItem && i == 0) {
                    out.push_str(&pad);
                }
                out.push_str("- ");
                match item {
                    J::Object(c) if !c.is_empty() => emit(item, indent + 2, out, Ctx::SeqItem),
                    J::Array(c) if !c.is_empty() => emit(item, indent + 2, out, Ctx::SeqItem),
                    _ => emit(item, indent + 2, out, Ctx::SeqItem),
                }
            }
        }
        J::Object(_) => {
            out.push_str("{}\n");
        }
        J::Array(_) => {
            out.push_str("[]\n");
        }
        J::Null => out.push_str("null\n"),
        J::Bool(b) => {
            out.push_str(if *b { "true\n" } else { "false\n" });
        }
        J::Number(n) => {
            out.push_str(&json_number(n));
            out.push('\n');
        }
        J::String(s) => {
            out.push_str(&scalar_string(s, indent, false));
            out.push('\n');
        }
    }
}

fn json_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        let f = n.as_f64().unwrap_or(0.0);
        go_json_float(f)
    }
}

/// Go's encoding/json float format: `'f'` unless the exponent is below -6 or at least 21.
pub fn go_json_float(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", e.abs())
    } else if f.fract() == 0.0 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// Would this plain scalar read back as something other than the string itself?
fn resolves_to_non_string(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    if matches!(
        l.as_str(),
        "" | "~"
            | "null"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | ".inf"
            | "-.inf"
            | "+.inf"
            | ".nan"
    ) {
        return true;
    }
    // Numbers in YAML 1.1 and 1.2 forms, including base-60 and underscores.
    let num = l.trim_start_matches(['+', '-']).replace('_', "");
    if num.is_empty() {
        return false;
    }
    if num.parse::<f64>().is_ok() {
        return true;
    }
    if let Some(h) = num.strip_prefix("0x") {
        return !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(o) = num.strip_prefix("0o") {
        return !o.is_empty() && o.chars().all(|c| c.is_digit(8));
    }
    if let Some(b) = num.strip_prefix("0b") {
        return !b.is_empty() && b.chars().all(|c| c == '0' || c == '1');
    }
    // Base 60 (1:20) and dates would be read as timestamps by some parsers.
    if num.contains(':')
        && num
            .split(':')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.'))
    {
        return true;
    }
    if num.len() >= 8 && num.as_bytes()[4] == b'-' && num[..4].chars().all(|c| c.is_ascii_digit()) {
        return true;
    }
    false
}

fn plain_allowed(s: &str, is_key: bool) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // "-" followed by a non-space and not alone is fine in YAML, but keep it simple and
        // safe except for the common "-foo" flag-like strings.
        if first != '-' || s.len() <= 1 || s.starts_with("- ") || s.starts_with("---") {
            return false;
        }
    }
    if s.starts_with(' ')
        || s.ends_with(' ')
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
    {
        return false;
    }
    if s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return false;
    }
    if is_key && (s.contains('[') || s.contains('{')) {
        return false;
    }
    !s.contains('\t')
}

fn scalar_string(s: &str, indent: usize, is_key: bool) -> String {
    if !is_key && s.contains('\n') && literal_block_ok(s) {
        let chomp = if s.ends_with("\n\n") || s == "\n" {
            "+"
        } else if s.ends_with('\n') {
            ""
        } else {
            "-"
        };
        let pad = " ".repeat(indent.max(2));
        let body = s.strip_suffix('\n').unwrap_or(s);
        let mut out = format!("|{chomp}");
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
                out.push_str(line);
            }
        }
        return out;
    }
    if resolves_to_non_string(s) || !plain_allowed(s, is_key) {
        return double_quoted(s);
    }
    s.to_string()
}

fn literal_block_ok(s: &str) -> bool {
    !s.starts_with(' ')
        && !s.starts_with('\n')
        && !s
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{feff}')
        && !s.lines().any(|l| l.ends_with(' '))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `json.Marshal` of a template value: sorted keys, HTML-safe escapes.
pub fn to_json(v: &Value) -> String {
    let mut out = String::new();
    json_write(&v.to_json(), &mut out);
    out
}

fn json_write(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value as J;
    match v {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Number(n) => out.push_str(&json_number(n)),
        J::String(s) => json_string(s, out),
        J::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_write(x, out);
            }
            out.push(']');
        }
        J::Object(m) => {
            out.push('{');
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                json_write(&m[*k], out);
            }
            out.push('}');
        }
    }
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Indented JSON as Go's `json.MarshalIndent(v, "", "  ")` writes it.
pub fn to_pretty_json(v: &Value) -> String {
    fn write(v: &serde_json::Value, indent: usize, out: &mut String) {
        use serde_json::Value as J;
        let pad = "  ".repeat(indent + 1);
        let end = "  ".repeat(indent);
        match v {
            J::Array(a) if !a.is_empty() => {
                out.push_str("[\n");
                for (i, x) in a.iter().enumerate() {
                    out.push_str(&pad);
                    write(x, indent + 1, out);
                    if i + 1 < a.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&end);
                out.push(']');
            }
            J::Object(m) if !m.is_empty() => {
                out.push_str("{\n");
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for (i, k) in keys.iter().enumerate() {
                    out.push_str(&pad);
                    json_string(k, out);
                    out.push_str(": ");
                    write(&m[*k], indent + 1, out);
                    if i + 1 < keys.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&end);
                out.push('}');
            }
            other => json_write(other, out),
        }
    }
    let mut out = String::new();
    write(&v.to_json(), 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn y(v: serde_json::Value) -> String {
        to_yaml(&Value::from_json(&v, true))
    }

    #[test]
    fn yaml_layout_matches_go_yaml_v2() {
        assert_eq!(
            y(json!({"b": 1, "a": {"c": [1, 2], "d": []}})),
            "a:\n  c:\n  - 1\n  - 2\n  d: []\nb: 1"
        );
        assert_eq!(
            y(json!([{"name": "x", "v": 1}, "s"])),
            "- name: x\n  v: 1\n- s"
        );
        assert_eq!(y(json!({"k": {}})), "k: {}");
    }

    #[test]
    fn yaml_quotes_strings_that_would_change_type() {
        assert_eq!(
            y(json!({"a": "true", "b": "1.0", "c": "", "d": "x: y", "e": "0755", "f": "plain"})),
            "a: \"true\"\nb: \"1.0\"\nc: \"\"\nd: \"x: y\"\ne: \"0755\"\nf: plain"
        );
    }

    #[test]
    fn yaml_round_trips_awkward_strings() {
        for s in [
            "a\nb",
            "a\nb\n",
            "  lead",
            "#x",
            "- x",
            "*a",
            "on",
            "1e3",
            "a\tb",
            "x\n\n",
            "null",
            "{a}",
            "2024-01-01",
        ] {
            // Templates put a newline after `toYaml` output, as Helm's trims its own.
            let text = y(json!({ "k": s })) + "\n";
            let back: serde_json::Value = serde_yaml::from_str(&text).unwrap();
            assert_eq!(back["k"], json!(s), "{text}");
        }
    }

    #[test]
    fn json_is_go_compatible() {
        let v = Value::from_json(&json!({"b": "<&>", "a": 1.5, "c": 8000}), true);
        assert_eq!(
            to_json(&v),
            r#"{"a":1.5,"b":"\u003c\u0026\u003e","c":8000}"#
        );
        assert_eq!(go_json_float(1e21), "1e+21");
    }
}
