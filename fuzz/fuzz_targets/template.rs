//! The template lexer, parser and engine (a chart template, or a `tpl` value).
#![no_main]

use justpush::chart::template::{lex, parse, render_str, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|src: &str| {
    let _ = lex::lex(src);
    if parse::parse(src).is_ok() {
        let values = serde_json::json!({"s": "é日本", "n": 3, "list": ["a", "b"], "map": {"k": "v"}});
        let data = Value::map(
            [("Values".to_string(), Value::from_json_values(&values))]
                .into_iter()
                .collect(),
        );
        let _ = render_str("fuzz.tpl", src, &data);
    }
});
