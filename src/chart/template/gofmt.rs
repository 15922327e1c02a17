//! Go's `fmt` for template values: `%v` printing, `printf` verbs, `strconv.Quote`. Parity with
//! Helm depends on these details (a float64 1000000 prints as `1e+06`, as Helm users know).

use super::value::Value;

/// `fmt.Sprint(v)`: Go's default `%v` format.
pub fn sprint_value(v: &Value) -> String {
    match v {
        Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) | Value::Int64(i) => i.to_string(),
        Value::Float(f) => format_float_g(*f),
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => {
            let parts: Vec<String> = b.iter().map(|x| x.to_string()).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::List(l) => {
            let parts: Vec<String> = l.iter().map(sprint_value).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Map(m) => {
            let parts: Vec<String> = m
                .borrow()
                .iter()
                .map(|(k, v)| format!("{k}:{}", sprint_value(v)))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::Object(o) => o.display(),
    }
}

/// `fmt.Sprint(args...)`: spaces only between operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            let prev_str = matches!(args[i - 1], Value::String(_));
            let this_str = matches!(a, Value::String(_));
            if !prev_str && !this_str {
                out.push(' ');
            }
        }
        out.push_str(&sprint_value(a));
    }
    out
}

/// `fmt.Sprintln(args...)`: always spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(sprint_value).collect();
    format!("{}\n", parts.join(" "))
}

/// Go's `%v` for a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): shortest round-trip digits,
/// in `%e` form when the decimal exponent is below -4 or at least 6.
pub fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (neg, digits, exp) = shortest_digits(f);
    let sign = if neg { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        format!("{sign}{m}{}", exponent_suffix(exp))
    } else {
        format!("{sign}{}", place_decimal(&digits, exp))
    }
}

fn exponent_suffix(exp: i32) -> String {
    let s = if exp < 0 { '-' } else { '+' };
    format!("e{s}{:02}", exp.abs())
}

/// Shortest round-trip decimal digits of |f| and the decimal exponent of the first digit.
fn shortest_digits(f: f64) -> (bool, String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0').to_string();
    let digits = if digits.is_empty() {
        "0".into()
    } else {
        digits
    };
    (f < 0.0, digits, exp.parse().unwrap_or(0))
}

/// Writes digits d1d2d3... with the first digit at 10^exp, as plain decimal.
fn place_decimal(digits: &str, exp: i32) -> String {
    if exp < 0 {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            format!("{}{}", digits, "0".repeat(int_len - digits.len()))
        } else {
            format!("{}.{}", &digits[..int_len], &digits[int_len..])
        }
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's fmt limit on widths and precisions (`tooLarge` in fmt/print.go).
const GO_MAX_WIDTH: usize = 1_000_000;

/// `fmt.Sprintf` over template values, with Go's error markers for mismatched verbs.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    let mut argi = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        if i >= chars.len() {
            out.push_str("%!(NOVERB)");
            break;
        }
        let mut spec = Spec {
            minus: false,
            plus: false,
            zero: false,
            space: false,
            sharp: false,
            width: None,
            prec: None,
        };
        while i < chars.len() {
            match chars[i] {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            i += 1;
        }
        let mut num = String::new();
        while i < chars.len() && chars[i].is_ascii_digit() {
            num.push(chars[i]);
            i += 1;
        }
        // Go's fmt gives up on a width or precision once the digits read so far pass 1e6 (it
        // checks before adding each digit) and prints `%!(NOVERB)` for the rest of the format;
        // following it also keeps `%99999999999d` from allocating the padding.
        let too_large = |n: &str| {
            let digits = n.trim_start_matches('0');
            let head = &digits[..digits.len().saturating_sub(1)];
            head.len() > 7 || head.parse::<usize>().is_ok_and(|v| v > GO_MAX_WIDTH)
        };
        if !num.is_empty() {
            if too_large(&num) {
                out.push_str("%!(NOVERB)");
                break;
            }
            spec.width = num.parse().ok();
        }
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            let mut p = String::new();
            while i < chars.len() && chars[i].is_ascii_digit() {
                p.push(chars[i]);
                i += 1;
            }
            if !p.is_empty() && too_large(&p) {
                out.push_str("%!(NOVERB)");
                break;
            }
            spec.prec = Some(p.parse().unwrap_or(0));
        }
        if i >= chars.len() {
            out.push_str("%!(NOVERB)");
            break;
        }
        let verb = chars[i];
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        out.push_str(&format_one(verb, &spec, arg));
    }
    if argi < args.len() {
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), sprint_value(a)))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn bad_verb(verb: char, arg: &Value) -> String {
    match arg {
        Value::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", arg.type_name(), sprint_value(arg)),
    }
}

fn pad(s: String, spec: &Spec, numeric: bool) -> String {
    let Some(w) = spec.width else { return s };
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let fill = w - len;
    if spec.minus {
        format!("{s}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        let (sign, rest) = if s.starts_with('-') || s.starts_with('+') {
            s.split_at(1)
        } else {
            ("", s.as_str())
        };
        format!("{sign}{}{rest}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

fn signed(s: String, neg: bool, spec: &Spec) -> String {
    if neg {
        s
    } else if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

fn format_one(verb: char, spec: &Spec, arg: &Value) -> String {
    match verb {
        'v' => {
            let s = match arg {
                Value::String(s) if spec.sharp => go_quote(s),
                Value::Int(i) | Value::Int64(i) => signed(i.to_string(), *i < 0, spec),
                Value::Float(f) => signed(format_float_g(*f), *f < 0.0, spec),
                other => sprint_value(other),
            };
            let numeric = matches!(arg, Value::Int(_) | Value::Int64(_) | Value::Float(_));
            pad(s, spec, numeric)
        }
        's' => match arg {
            Value::String(s) => {
                let s = match spec.prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.to_string(),
                };
                pad(s, spec, false)
            }
            Value::Bytes(b) => pad(String::from_utf8_lossy(b).into_owned(), spec, false),
            Value::List(_) | Value::Map(_) => pad(sprint_value(arg), spec, false),
            Value::Object(o) => pad(o.display(), spec, false),
            other => bad_verb('s', other),
        },
        'q' => match arg {
            Value::String(s) => pad(go_quote(s), spec, false),
            Value::Int(i) | Value::Int64(i) => match char::from_u32(*i as u32) {
                Some(c) => format!("'{c}'"),
                None => bad_verb('q', arg),
            },
            other => bad_verb('q', other),
        },
        'd' => match arg {
            Value::Int(i) | Value::Int64(i) => pad(signed(i.to_string(), *i < 0, spec), spec, true),
            other => bad_verb('d', other),
        },
        't' => match arg {
            Value::Bool(b) => pad(b.to_string(), spec, false),
            other => bad_verb('t', other),
        },
        'x' | 'X' => {
            let s = match arg {
                Value::Int(i) | Value::Int64(i) => {
                    let h = format!("{:x}", i.unsigned_abs());
                    let h = if spec.sharp { format!("0x{h}") } else { h };
                    if *i < 0 {
                        format!("-{h}")
                    } else {
                        h
                    }
                }
                Value::String(s) => s.bytes().map(|b| format!("{b:02x}")).collect(),
                Value::Bytes(b) => b.iter().map(|b| format!("{b:02x}")).collect(),
                other => return bad_verb(verb, other),
            };
            let s = if verb == 'X' { s.to_uppercase() } else { s };
            pad(s, spec, true)
        }
        'o' => match arg {
            Value::Int(i) | Value::Int64(i) => pad(format!("{i:o}"), spec, true),
            other => bad_verb('o', other),
        },
        'b' => match arg {
            Value::Int(i) | Value::Int64(i) => pad(format!("{i:b}"), spec, true),
            other => bad_verb('b', other),
        },
        'c' => match arg {
            Value::Int(i) | Value::Int64(i) => char::from_u32(*i as u32)
                .map(String::from)
                .unwrap_or_default(),
            other => bad_verb('c', other),
        },
        'f' | 'F' => match arg {
            Value::Float(f) => {
                let p = spec.prec.unwrap_or(6);
                pad(signed(format!("{f:.p$}"), *f < 0.0, spec), spec, true)
            }
            other => bad_verb(verb, other),
        },
        'e' | 'E' => match arg {
            Value::Float(f) => {
                let p = spec.prec.unwrap_or(6);
                let s = format!("{:.p$e}", f);
                let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                let s = format!("{m}{}", exponent_suffix(e.parse().unwrap_or(0)));
                let s = if verb == 'E' { s.to_uppercase() } else { s };
                pad(signed(s, *f < 0.0, spec), spec, true)
            }
            other => bad_verb(verb, other),
        },
        'g' | 'G' => match arg {
            Value::Float(f) => pad(signed(format_float_g(*f), *f < 0.0, spec), spec, true),
            other => bad_verb(verb, other),
        },
        'T' => pad(arg.type_name(), spec, false),
        other => bad_verb(other, arg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go_percent_v() {
        let cases = [
            (8000.0, "8000"),
            (1000000.0, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1.5, "1.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.25, "-2.25"),
            (0.0, "0"),
            (1e21, "1e+21"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float_g(f), want, "{f}");
        }
    }

    #[test]
    fn printf_matches_go_for_common_verbs() {
        let s = |x: &str| Value::str(x);
        assert_eq!(sprintf("%s-%d", &[s("a"), Value::Int64(3)]), "a-3");
        assert_eq!(sprintf("%q", &[s("a\"b\n")]), "\"a\\\"b\\n\"");
        assert_eq!(sprintf("%d", &[Value::Float(3.0)]), "%!d(float64=3)");
        assert_eq!(sprintf("%s", &[Value::Int(3)]), "%!s(int=3)");
        assert_eq!(sprintf("%v %v", &[Value::Nil]), "<nil> %!v(MISSING)");
        assert_eq!(
            sprintf("%5s|%-3d|", &[s("ab"), Value::Int(7)]),
            "   ab|7  |"
        );
        assert_eq!(sprintf("%05d", &[Value::Int(-42)]), "-0042");
        assert_eq!(sprintf("%.2f", &[Value::Float(1.23456)]), "1.23");
        assert_eq!(sprintf("%x", &[s("hi")]), "6869");
        assert_eq!(sprintf("a", &[Value::Int(1)]), "a%!(EXTRA int=1)");
    }

    #[test]
    fn sprint_spaces_only_between_non_strings() {
        let v = [Value::Int(1), Value::Int(2), Value::str("a"), Value::Int(3)];
        assert_eq!(sprint(&v), "1 2a3");
        assert_eq!(sprintln(&v), "1 2 a 3\n");
    }
}
