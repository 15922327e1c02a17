//! `--set`-family expressions; the first byte picks the flag, the rest is the expression.
#![no_main]

use justpush::chart::values::{parse_set, SetKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let Ok(expr) = std::str::from_utf8(rest) else {
        return;
    };
    // --set-file reads the disk, so it is left out: its syntax is --set's.
    let kind = match first % 4 {
        0 => SetKind::Set,
        1 => SetKind::SetString,
        2 => SetKind::SetJson,
        _ => SetKind::SetLiteral,
    };
    let _ = parse_set(kind, expr);
});
