//! `-f values.yaml`: the YAML values reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = justpush::chart::values::parse_values_yaml(text);
});
