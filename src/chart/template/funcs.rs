//! Go's builtin template functions plus the Helm and Sprig functions charts use, with their
//! Go behaviour (including the quirks charts depend on: `merge` fills only empty keys, `get`
//! returns "" for a missing key, `b64dec` returns the error text, `keys` order is sorted here
//! because Go's is random and charts sort it anyway).

use super::encode::{to_json, to_pretty_json, to_yaml};
use super::exec::{Exec, Func, FuncError, FuncMap};
use super::gofmt::{go_quote, sprint, sprint_value, sprintf, sprintln};
use super::semver::{satisfies, Version};
use super::value::{TemplateObject, Value};
use base64::Engine;
use rand::Rng;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::rc::Rc;

type R = Result<Value, FuncError>;

/// Longest string one function call may make (`repeat`, `indent`, `rand*`): far above any
/// Kubernetes object (etcd stores at most 1.5 MiB) and low enough that a hostile count fails
/// with an error instead of exhausting memory.
pub const MAX_STRING_BYTES: usize = 64 << 20;

/// Most items a list-making function (`until`, `untilStep`) may produce.
pub const MAX_LIST_ITEMS: usize = 100_000;

/// All functions available to templates.
pub fn all() -> FuncMap {
    let table: &[(&'static str, Func)] = &[
        // Go builtins
        ("print", |_, a| Ok(Value::from(sprint(&a)))),
        ("printf", f_printf),
        ("println", |_, a| Ok(Value::from(sprintln(&a)))),
        ("len", f_len),
        ("index", f_index),
        ("slice", f_slice),
        ("not", |_, a| Ok(Value::Bool(!arg(&a, 0)?.truthy()))),
        ("eq", f_eq),
        ("ne", |e, a| f_eq(e, a).map(|v| Value::Bool(!v.truthy()))),
        ("lt", |_, a| cmp_op(&a, |o| o == Ordering::Less)),
        ("le", |_, a| cmp_op(&a, |o| o != Ordering::Greater)),
        ("gt", |_, a| cmp_op(&a, |o| o == Ordering::Greater)),
        ("ge", |_, a| cmp_op(&a, |o| o != Ordering::Less)),
        ("html", |_, a| Ok(Value::from(html_escape(&sprint(&a))))),
        ("js", |_, a| Ok(Value::from(js_escape(&sprint(&a))))),
        ("urlquery", |_, a| Ok(Value::from(url_escape(&sprint(&a))))),
        // Helm
        ("include", f_include),
        ("tpl", f_tpl),
        ("required", f_required),
        ("fail", |_, a| Err(FuncError::User(strval(arg(&a, 0)?)))),
        ("toYaml", |_, a| Ok(Value::from(to_yaml(arg(&a, 0)?)))),
        ("toYamlPretty", |_, a| Ok(Value::from(to_yaml(arg(&a, 0)?)))),
        ("mustToYaml", |_, a| Ok(Value::from(to_yaml(arg(&a, 0)?)))),
        ("fromYaml", f_from_yaml),
        ("fromYamlArray", f_from_yaml_array),
        ("toJson", |_, a| Ok(Value::from(to_json(arg(&a, 0)?)))),
        ("mustToJson", |_, a| Ok(Value::from(to_json(arg(&a, 0)?)))),
        ("toRawJson", |_, a| {
            Ok(Value::from(
                to_json(arg(&a, 0)?)
                    .replace("\\u003c", "<")
                    .replace("\\u003e", ">")
                    .replace("\\u0026", "&"),
            ))
        }),
        ("toPrettyJson", |_, a| {
            Ok(Value::from(to_pretty_json(arg(&a, 0)?)))
        }),
        ("fromJson", f_from_json),
        ("fromJsonArray", f_from_json_array),
        ("lookup", f_lookup),
        // Sprig: defaults and logic
        ("default", f_default),
        ("empty", |_, a| {
            Ok(Value::Bool(!a.first().is_some_and(|v| v.truthy())))
        }),
        ("coalesce", |_, a| {
            Ok(a.into_iter().find(|v| v.truthy()).unwrap_or_default())
        }),
        ("all", |_, a| Ok(Value::Bool(a.iter().all(|v| v.truthy())))),
        ("any", |_, a| Ok(Value::Bool(a.iter().any(|v| v.truthy())))),
        ("ternary", |_, a| {
            Ok(if arg(&a, 2)?.truthy() {
                arg(&a, 0)?.clone()
            } else {
                arg(&a, 1)?.clone()
            })
        }),
        ("deepCopy", |_, a| Ok(arg(&a, 0)?.deep_copy())),
        ("mustDeepCopy", |_, a| Ok(arg(&a, 0)?.deep_copy())),
        ("kindOf", |_, a| Ok(Value::from(arg(&a, 0)?.kind_name()))),
        ("kindIs", |_, a| {
            Ok(Value::Bool(arg(&a, 1)?.kind_name() == strval(arg(&a, 0)?)))
        }),
        ("typeOf", |_, a| Ok(Value::from(arg(&a, 0)?.type_name()))),
        ("typeIs", |_, a| {
            Ok(Value::Bool(arg(&a, 1)?.type_name() == strval(arg(&a, 0)?)))
        }),
        ("typeIsLike", |_, a| {
            let t = strval(arg(&a, 0)?);
            let got = arg(&a, 1)?.type_name();
            Ok(Value::Bool(got == t || format!("*{got}") == t))
        }),
        // Sprig: strings
        ("quote", |_, a| {
            Ok(Value::from(
                a.iter()
                    .filter(|v| !v.is_nil())
                    .map(|v| go_quote(&strval(v)))
                    .collect::<Vec<_>>()
                    .join(" "),
            ))
        }),
        ("squote", |_, a| {
            Ok(Value::from(
                a.iter()
                    .filter(|v| !v.is_nil())
                    .map(|v| format!("'{}'", strval(v)))
                    .collect::<Vec<_>>()
                    .join(" "),
            ))
        }),
        ("toString", |_, a| Ok(Value::from(strval(arg(&a, 0)?)))),
        ("toStrings", |_, a| {
            Ok(Value::list(
                strslice(arg(&a, 0)?).into_iter().map(Value::from).collect(),
            ))
        }),
        ("upper", |_, a| Ok(Value::from(s(&a, 0)?.to_uppercase()))),
        ("lower", |_, a| Ok(Value::from(s(&a, 0)?.to_lowercase()))),
        ("title", |_, a| Ok(Value::from(title(&s(&a, 0)?)))),
        ("trim", |_, a| Ok(Value::from(s(&a, 0)?.trim()))),
        ("trimAll", |_, a| {
            let cut: Vec<char> = s(&a, 0)?.chars().collect();
            Ok(Value::from(s(&a, 1)?.trim_matches(|c| cut.contains(&c))))
        }),
        ("trimPrefix", |_, a| {
            let (p, x) = (s(&a, 0)?, s(&a, 1)?);
            Ok(Value::from(x.strip_prefix(p.as_str()).unwrap_or(&x)))
        }),
        ("trimSuffix", |_, a| {
            let (p, x) = (s(&a, 0)?, s(&a, 1)?);
            Ok(Value::from(x.strip_suffix(p.as_str()).unwrap_or(&x)))
        }),
        ("contains", |_, a| {
            Ok(Value::Bool(s(&a, 1)?.contains(s(&a, 0)?.as_str())))
        }),
        ("hasPrefix", |_, a| {
            Ok(Value::Bool(s(&a, 1)?.starts_with(s(&a, 0)?.as_str())))
        }),
        ("hasSuffix", |_, a| {
            Ok(Value::Bool(s(&a, 1)?.ends_with(s(&a, 0)?.as_str())))
        }),
        ("replace", |_, a| {
            Ok(Value::from(
                s(&a, 2)?.replace(s(&a, 0)?.as_str(), &s(&a, 1)?),
            ))
        }),
        ("repeat", f_repeat),
        ("substr", f_substr),
        ("nospace", |_, a| {
            Ok(Value::from(
                s(&a, 0)?
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>(),
            ))
        }),
        ("trunc", f_trunc),
        ("abbrev", |_, a| {
            let w = int_of(arg(&a, 0)?)?;
            let x = s(&a, 1)?;
            // Sprig returns the string unchanged below width 4 (goutils would fail).
            Ok(Value::from(if w < 4 {
                x
            } else {
                abbreviate_full(&x, 0, w)
            }))
        }),
        ("abbrevboth", |_, a| {
            let (left, right) = (int_of(arg(&a, 0)?)?, int_of(arg(&a, 1)?)?);
            let x = s(&a, 2)?;
            Ok(Value::from(if right < 4 || (left > 0 && right < 7) {
                x
            } else {
                abbreviate_full(&x, left, right)
            }))
        }),
        ("initials", |_, a| Ok(Value::from(initials(&s(&a, 0)?)))),
        ("indent", |_, a| {
            Ok(Value::from(indent(int_of(arg(&a, 0)?)?, &s(&a, 1)?)?))
        }),
        ("nindent", |_, a| {
            Ok(Value::from(format!(
                "\n{}",
                indent(int_of(arg(&a, 0)?)?, &s(&a, 1)?)?
            )))
        }),
        ("wrap", |_, a| {
            Ok(Value::from(wrap(
                &s(&a, 1)?,
                int_of(arg(&a, 0)?)?,
                "\n",
                false,
            )))
        }),
        // Sprig's wrapWith splits words longer than the width (wrap does not).
        ("wrapWith", |_, a| {
            Ok(Value::from(wrap(
                &s(&a, 2)?,
                int_of(arg(&a, 0)?)?,
                &s(&a, 1)?,
                true,
            )))
        }),
        ("cat", |_, a| {
            Ok(Value::from(
                a.iter()
                    .filter(|v| !v.is_nil())
                    .map(sprint_value)
                    .collect::<Vec<_>>()
                    .join(" "),
            ))
        }),
        ("join", |_, a| {
            Ok(Value::from(strslice(arg(&a, 1)?).join(&s(&a, 0)?)))
        }),
        ("split", |_, a| {
            let parts = split_sep(&s(&a, 1)?, &s(&a, 0)?);
            Ok(Value::map(
                parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| (format!("_{i}"), Value::from(p)))
                    .collect(),
            ))
        }),
        ("splitList", |_, a| {
            Ok(Value::list(
                split_sep(&s(&a, 1)?, &s(&a, 0)?)
                    .into_iter()
                    .map(Value::from)
                    .collect(),
            ))
        }),
        ("splitn", |_, a| {
            let n = int_of(arg(&a, 1)?)?.max(0) as usize;
            let x = s(&a, 2)?;
            let parts: Vec<&str> = x.splitn(n, s(&a, 0)?.as_str()).collect();
            Ok(Value::map(
                parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| (format!("_{i}"), Value::from(p)))
                    .collect(),
            ))
        }),
        ("camelcase", |_, a| {
            Ok(Value::from(
                s(&a, 0)?
                    .split(['_', '-', ' '])
                    .map(title)
                    .collect::<String>(),
            ))
        }),
        ("snakecase", |_, a| Ok(Value::from(snake(&s(&a, 0)?)))),
        ("kebabcase", |_, a| {
            Ok(Value::from(snake(&s(&a, 0)?).replace('_', "-")))
        }),
        ("regexMatch", |_, a| {
            Ok(Value::Bool(re(&s(&a, 0)?)?.is_match(&s(&a, 1)?)))
        }),
        ("mustRegexMatch", |_, a| {
            Ok(Value::Bool(re(&s(&a, 0)?)?.is_match(&s(&a, 1)?)))
        }),
        ("regexFind", |_, a| {
            Ok(Value::from(
                re(&s(&a, 0)?)?
                    .find(&s(&a, 1)?)
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default(),
            ))
        }),
        ("regexFindAll", |_, a| {
            let n = int_of(arg(&a, 2)?)?;
            let x = s(&a, 1)?;
            let all: Vec<Value> = re(&s(&a, 0)?)?
                .find_iter(&x)
                .map(|m| Value::from(m.as_str()))
                .collect();
            let take = if n < 0 {
                all.len()
            } else {
                (n as usize).min(all.len())
            };
            Ok(Value::list(all[..take].to_vec()))
        }),
        ("regexReplaceAll", |_, a| {
            Ok(Value::from(
                re(&s(&a, 0)?)?
                    .replace_all(&s(&a, 1)?, go_repl(&s(&a, 2)?).as_str())
                    .into_owned(),
            ))
        }),
        ("regexReplaceAllLiteral", |_, a| {
            Ok(Value::from(
                re(&s(&a, 0)?)?
                    .replace_all(&s(&a, 1)?, regex::NoExpand(&s(&a, 2)?))
                    .into_owned(),
            ))
        }),
        ("regexSplit", |_, a| {
            let n = int_of(arg(&a, 2)?)?;
            let x = s(&a, 1)?;
            let r = re(&s(&a, 0)?)?;
            let parts: Vec<Value> = if n < 0 {
                r.split(&x).map(Value::from).collect()
            } else {
                r.splitn(&x, n as usize).map(Value::from).collect()
            };
            Ok(Value::list(parts))
        }),
        ("regexQuoteMeta", |_, a| {
            Ok(Value::from(regex::escape(&s(&a, 0)?)))
        }),
        ("b64enc", |_, a| {
            Ok(Value::from(
                base64::engine::general_purpose::STANDARD.encode(bytes_of(arg(&a, 0)?)),
            ))
        }),
        ("b64dec", |_, a| {
            Ok(Value::from(match base64::engine::general_purpose::STANDARD
                .decode(s(&a, 0)?.as_bytes())
            {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => format!("illegal base64 data: {e}"),
            }))
        }),
        ("sha256sum", |_, a| {
            use sha2::Digest;
            Ok(Value::from(hex(&sha2::Sha256::digest(
                s(&a, 0)?.as_bytes(),
            ))))
        }),
        ("sha1sum", |_, a| {
            use sha1::Digest;
            Ok(Value::from(hex(&sha1::Sha1::digest(s(&a, 0)?.as_bytes()))))
        }),
        ("adler32sum", |_, a| {
            Ok(Value::from(adler32(s(&a, 0)?.as_bytes()).to_string()))
        }),
        ("randAlphaNum", |_, a| {
            Ok(Value::from(random_string(
                int_of(arg(&a, 0)?)?,
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            )?))
        }),
        ("randAlpha", |_, a| {
            Ok(Value::from(random_string(
                int_of(arg(&a, 0)?)?,
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            )?))
        }),
        ("randNumeric", |_, a| {
            Ok(Value::from(random_string(
                int_of(arg(&a, 0)?)?,
                b"0123456789",
            )?))
        }),
        ("randAscii", |_, a| {
            let chars: Vec<u8> = (32u8..127).collect();
            Ok(Value::from(random_string(int_of(arg(&a, 0)?)?, &chars)?))
        }),
        ("uuidv4", |_, _| Ok(Value::from(uuid_v4()))),
        // Sprig: numbers
        ("int", |_, a| Ok(Value::Int(to_int64(arg(&a, 0)?)))),
        ("int64", |_, a| Ok(Value::Int64(to_int64(arg(&a, 0)?)))),
        ("float64", |_, a| Ok(Value::Float(to_float64(arg(&a, 0)?)))),
        ("atoi", |_, a| {
            Ok(Value::Int(s(&a, 0)?.trim().parse().unwrap_or(0)))
        }),
        ("add", |_, a| Ok(Value::Int64(a.iter().map(to_int64).sum()))),
        ("add1", |_, a| Ok(Value::Int64(to_int64(arg(&a, 0)?) + 1))),
        ("sub", |_, a| {
            Ok(Value::Int64(to_int64(arg(&a, 0)?) - to_int64(arg(&a, 1)?)))
        }),
        ("mul", |_, a| {
            Ok(Value::Int64(a.iter().map(to_int64).product()))
        }),
        ("div", |_, a| {
            let d = to_int64(arg(&a, 1)?);
            if d == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            Ok(Value::Int64(to_int64(arg(&a, 0)?) / d))
        }),
        ("mod", |_, a| {
            let d = to_int64(arg(&a, 1)?);
            if d == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            Ok(Value::Int64(to_int64(arg(&a, 0)?) % d))
        }),
        ("max", |_, a| {
            Ok(Value::Int64(a.iter().map(to_int64).max().unwrap_or(0)))
        }),
        ("min", |_, a| {
            Ok(Value::Int64(a.iter().map(to_int64).min().unwrap_or(0)))
        }),
        ("addf", |_, a| {
            Ok(Value::Float(a.iter().map(to_float64).sum()))
        }),
        ("mulf", |_, a| {
            Ok(Value::Float(a.iter().map(to_float64).product()))
        }),
        ("floor", |_, a| {
            Ok(Value::Float(to_float64(arg(&a, 0)?).floor()))
        }),
        ("ceil", |_, a| {
            Ok(Value::Float(to_float64(arg(&a, 0)?).ceil()))
        }),
        ("until", |_, a| {
            let n = to_int64(arg(&a, 0)?);
            if n > MAX_LIST_ITEMS as i64 {
                return Err(format!(
                    "until {n}: the list would hold more than {MAX_LIST_ITEMS} items, the limit of a list made by a template function"
                ).into());
            }
            Ok(Value::list((0..n.max(0)).map(Value::Int).collect()))
        }),
        ("untilStep", |_, a| {
            let (start, stop, step) = (
                to_int64(arg(&a, 0)?),
                to_int64(arg(&a, 1)?),
                to_int64(arg(&a, 2)?),
            );
            let mut out = Vec::new();
            let mut i = start;
            while step != 0
                && ((step > 0 && i < stop) || (step < 0 && i > stop))
                && out.len() < MAX_LIST_ITEMS
            {
                out.push(Value::Int(i));
                i += step;
            }
            Ok(Value::list(out))
        }),
        // Sprig: lists
        ("list", |_, a| Ok(Value::list(a))),
        ("tuple", |_, a| Ok(Value::list(a))),
        ("append", f_append),
        ("mustAppend", f_append),
        ("push", f_append),
        ("prepend", |_, a| {
            let mut l = list_of(arg(&a, 0)?, "prepend")?;
            l.insert(0, arg(&a, 1)?.clone());
            Ok(Value::list(l))
        }),
        ("concat", |_, a| {
            let mut out = Vec::new();
            for x in &a {
                out.extend(list_of(x, "concat")?);
            }
            Ok(Value::list(out))
        }),
        ("first", |_, a| {
            Ok(list_of(arg(&a, 0)?, "first")?
                .first()
                .cloned()
                .unwrap_or_default())
        }),
        ("mustFirst", |_, a| {
            Ok(list_of(arg(&a, 0)?, "first")?
                .first()
                .cloned()
                .unwrap_or_default())
        }),
        ("last", |_, a| {
            Ok(list_of(arg(&a, 0)?, "last")?
                .last()
                .cloned()
                .unwrap_or_default())
        }),
        ("rest", |_, a| {
            Ok(Value::list(
                list_of(arg(&a, 0)?, "rest")?.into_iter().skip(1).collect(),
            ))
        }),
        ("initial", |_, a| {
            let mut l = list_of(arg(&a, 0)?, "initial")?;
            l.pop();
            Ok(Value::list(l))
        }),
        ("reverse", |_, a| {
            Ok(Value::list(
                list_of(arg(&a, 0)?, "reverse")?.into_iter().rev().collect(),
            ))
        }),
        ("uniq", |_, a| {
            let mut out: Vec<Value> = Vec::new();
            for x in list_of(arg(&a, 0)?, "uniq")? {
                if !out.iter().any(|y| deep_equal(y, &x)) {
                    out.push(x);
                }
            }
            Ok(Value::list(out))
        }),
        ("compact", |_, a| {
            Ok(Value::list(
                list_of(arg(&a, 0)?, "compact")?
                    .into_iter()
                    .filter(|v| v.truthy())
                    .collect(),
            ))
        }),
        ("without", |_, a| {
            let drop = &a[1..];
            Ok(Value::list(
                list_of(arg(&a, 0)?, "without")?
                    .into_iter()
                    .filter(|v| !drop.iter().any(|d| deep_equal(d, v)))
                    .collect(),
            ))
        }),
        ("has", |_, a| {
            Ok(Value::Bool(
                list_of(arg(&a, 1)?, "has")?
                    .iter()
                    .any(|v| deep_equal(v, arg(&a, 0).unwrap_or(&Value::Nil))),
            ))
        }),
        ("sortAlpha", |_, a| {
            let mut l = strslice(arg(&a, 0)?);
            l.sort();
            Ok(Value::list(l.into_iter().map(Value::from).collect()))
        }),
        // Sprig: dicts
        ("dict", |_, a| {
            let mut m = BTreeMap::new();
            let mut it = a.chunks(2);
            for pair in &mut it {
                let k = strval(&pair[0]);
                m.insert(k, pair.get(1).cloned().unwrap_or(Value::str("")));
            }
            Ok(Value::map(m))
        }),
        ("set", |_, a| {
            let m = map_of(arg(&a, 0)?, "set")?;
            m.borrow_mut()
                .insert(strval(arg(&a, 1)?), arg(&a, 2)?.clone());
            Ok(Value::Map(m))
        }),
        ("unset", |_, a| {
            let m = map_of(arg(&a, 0)?, "unset")?;
            m.borrow_mut().remove(&strval(arg(&a, 1)?));
            Ok(Value::Map(m))
        }),
        ("hasKey", |_, a| {
            Ok(Value::Bool(
                map_of(arg(&a, 0)?, "hasKey")?
                    .borrow()
                    .contains_key(&strval(arg(&a, 1)?)),
            ))
        }),
        ("get", |_, a| {
            Ok(map_of(arg(&a, 0)?, "get")?
                .borrow()
                .get(&strval(arg(&a, 1)?))
                .cloned()
                .unwrap_or(Value::str("")))
        }),
        ("keys", |_, a| {
            let mut out = Vec::new();
            for d in &a {
                out.extend(map_of(d, "keys")?.borrow().keys().map(Value::str));
            }
            Ok(Value::list(out))
        }),
        ("values", |_, a| {
            Ok(Value::list(
                map_of(arg(&a, 0)?, "values")?
                    .borrow()
                    .values()
                    .cloned()
                    .collect(),
            ))
        }),
        ("pluck", |_, a| {
            let k = strval(arg(&a, 0)?);
            let mut out = Vec::new();
            for d in &a[1..] {
                if let Some(v) = map_of(d, "pluck")?.borrow().get(&k) {
                    out.push(v.clone());
                }
            }
            Ok(Value::list(out))
        }),
        ("pick", |_, a| {
            let m = map_of(arg(&a, 0)?, "pick")?;
            let want: Vec<String> = a[1..].iter().map(strval).collect();
            let picked = m
                .borrow()
                .iter()
                .filter(|(k, _)| want.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok(Value::map(picked))
        }),
        ("omit", |_, a| {
            let m = map_of(arg(&a, 0)?, "omit")?;
            let drop: Vec<String> = a[1..].iter().map(strval).collect();
            let kept = m
                .borrow()
                .iter()
                .filter(|(k, _)| !drop.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok(Value::map(kept))
        }),
        ("dig", |_, a| {
            let (keys, rest) = a.split_at(a.len().saturating_sub(2));
            let default = rest.first().cloned().unwrap_or_default();
            let mut cur = rest.get(1).cloned().unwrap_or_default();
            for k in keys {
                let next = match &cur {
                    Value::Map(m) => m.borrow().get(&strval(k)).cloned(),
                    _ => None,
                };
                match next {
                    Some(v) => cur = v,
                    None => return Ok(default),
                }
            }
            Ok(cur)
        }),
        ("merge", |_, a| merge_fn(a, false)),
        ("mustMerge", |_, a| merge_fn(a, false)),
        ("mergeOverwrite", |_, a| merge_fn(a, true)),
        ("mustMergeOverwrite", |_, a| merge_fn(a, true)),
        // Sprig: versions
        ("semverCompare", |_, a| {
            let v = Version::parse(&s(&a, 1)?).map_err(|e| e.to_string())?;
            Ok(Value::Bool(satisfies(&s(&a, 0)?, &v)?))
        }),
        ("semver", |_, a| {
            Ok(Value::Object(Rc::new(SemverObject(Version::parse(&s(
                &a, 0,
            )?)?))))
        }),
        // Sprig: certificates
        ("genCA", super::certs::gen_ca),
        ("genCAWithKey", super::certs::gen_ca),
        ("genSelfSignedCert", super::certs::gen_self_signed),
        ("genSelfSignedCertWithKey", super::certs::gen_self_signed),
        ("genSignedCert", super::certs::gen_signed),
        ("genSignedCertWithKey", super::certs::gen_signed),
        ("genPrivateKey", super::certs::gen_private_key),
    ];
    table.iter().copied().collect()
}

fn arg(a: &[Value], i: usize) -> Result<&Value, String> {
    a.get(i).ok_or_else(|| {
        format!(
            "wrong number of args: want at least {} got {}",
            i + 1,
            a.len()
        )
    })
}

/// A string parameter: Go converts template strings; nil becomes "" (Go would refuse; charts
/// that render with Helm never pass nil where it matters).
fn s(a: &[Value], i: usize) -> Result<String, String> {
    match arg(a, i)? {
        Value::String(x) => Ok(x.to_string()),
        Value::Nil => Ok(String::new()),
        Value::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
    }
}

/// Sprig's `strval`: strings as they are, everything else through `%v`.
pub fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => sprint_value(other),
    }
}

fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l.iter().filter(|x| !x.is_nil()).map(strval).collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

fn bytes_of(v: &Value) -> Vec<u8> {
    match v {
        Value::Bytes(b) => b.to_vec(),
        other => strval(other).into_bytes(),
    }
}

fn int_of(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) | Value::Int64(i) => Ok(*i),
        Value::Float(f) => Ok(*f as i64),
        other => Err(format!(
            "wrong type for value; expected int; got {}",
            other.type_name()
        )),
    }
}

/// spf13/cast's ToInt64: numbers truncate, strings parse (base prefixes allowed), bools 0/1.
pub fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => {
            let t = s.trim();
            let t = t.strip_suffix(".0").unwrap_or(t);
            parse_go_int(t).unwrap_or(0)
        }
        _ => 0,
    }
}

fn parse_go_int(t: &str) -> Option<i64> {
    let (neg, b) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let l = b.to_ascii_lowercase();
    let v = if let Some(h) = l.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = l.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if let Some(bin) = l.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()?
    } else if l.len() > 1 && l.starts_with('0') {
        i64::from_str_radix(&l[1..], 8).ok()?
    } else {
        l.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn list_of(v: &Value, func: &str) -> Result<Vec<Value>, String> {
    match v {
        Value::List(l) => Ok(l.to_vec()),
        Value::Nil => Ok(Vec::new()),
        other => Err(format!("Cannot {func} on type {}", other.kind_name())),
    }
}

fn map_of(v: &Value, func: &str) -> Result<super::value::MapRef, String> {
    match v {
        Value::Map(m) => Ok(m.clone()),
        other => Err(format!(
            "wrong type for value in {func}; expected map[string]interface {{}}; got {}",
            other.type_name()
        )),
    }
}

fn f_printf(_: &mut Exec, a: Vec<Value>) -> R {
    let fmt = s(&a, 0)?;
    Ok(Value::from(sprintf(&fmt, &a[1..])))
}

fn f_len(_: &mut Exec, a: Vec<Value>) -> R {
    let n = match arg(&a, 0)? {
        Value::String(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.borrow().len(),
        Value::Nil => return Err("len of nil pointer".into()),
        other => return Err(format!("len of type {}", other.type_name()).into()),
    };
    Ok(Value::Int(n as i64))
}

fn f_index(_: &mut Exec, a: Vec<Value>) -> R {
    let mut cur = arg(&a, 0)?.clone();
    for k in &a[1..] {
        cur = match (&cur, k) {
            (Value::Map(m), key) => m.borrow().get(&strval(key)).cloned().unwrap_or(Value::Nil),
            (Value::List(l), i) => {
                let i = int_of(i)?;
                if i < 0 || i as usize >= l.len() {
                    return Err(format!("error calling index: index out of range: {i}").into());
                }
                l[i as usize].clone()
            }
            (Value::Nil, _) => return Err("index of untyped nil".into()),
            (other, _) => {
                return Err(format!("can't index item of type {}", other.type_name()).into())
            }
        };
    }
    Ok(cur)
}

fn f_slice(_: &mut Exec, a: Vec<Value>) -> R {
    let v = arg(&a, 0)?;
    let idx: Vec<i64> = a[1..].iter().map(int_of).collect::<Result<_, _>>()?;
    match v {
        Value::String(s) => {
            let start = *idx.first().unwrap_or(&0) as usize;
            let end = idx.get(1).map(|e| *e as usize).unwrap_or(s.len());
            s.get(start..end)
                .map(Value::from)
                .ok_or_else(|| "slice index out of range".into())
        }
        Value::List(l) => {
            let start = *idx.first().unwrap_or(&0) as usize;
            let end = idx.get(1).map(|e| *e as usize).unwrap_or(l.len());
            l.get(start..end)
                .map(|x| Value::list(x.to_vec()))
                .ok_or_else(|| "slice index out of range".into())
        }
        other => Err(format!("can't slice item of type {}", other.type_name()).into()),
    }
}

#[derive(PartialEq)]
enum Basic {
    Bool,
    Int,
    Float,
    Str,
    Nil,
    Other,
}

fn basic(v: &Value) -> Basic {
    match v {
        Value::Bool(_) => Basic::Bool,
        Value::Int(_) | Value::Int64(_) => Basic::Int,
        Value::Float(_) => Basic::Float,
        Value::String(_) => Basic::Str,
        Value::Nil => Basic::Nil,
        _ => Basic::Other,
    }
}

/// Go's `eq`: basic kinds must match (ints of any size compare), and `eq x a b c` is true when
/// x equals any of the rest.
fn f_eq(_: &mut Exec, a: Vec<Value>) -> R {
    let first = arg(&a, 0)?;
    if a.len() < 2 {
        return Err("missing argument for comparison".into());
    }
    for other in &a[1..] {
        let (k1, k2) = (basic(first), basic(other));
        let equal = if k1 == Basic::Nil || k2 == Basic::Nil {
            k1 == k2
        } else if k1 != k2 {
            return Err("incompatible types for comparison".into());
        } else {
            match (first, other) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::String(x), Value::String(y)) => x == y,
                _ => return Err("invalid type for comparison".into()),
            }
        };
        if equal {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn cmp_op(a: &[Value], pred: fn(Ordering) -> bool) -> R {
    let (x, y) = (arg(a, 0)?, arg(a, 1)?);
    let o = match (x, y) {
        (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => {
            return Err(if basic(x) == basic(y) {
                "invalid type for comparison".into()
            } else {
                "incompatible types for comparison".into()
            })
        }
    };
    Ok(Value::Bool(pred(o)))
}

fn deep_equal(a: &Value, b: &Value) -> bool {
    a.to_json() == b.to_json() && a.type_name() == b.type_name()
}

fn f_include(e: &mut Exec, a: Vec<Value>) -> R {
    let name = s(&a, 0)?;
    let data = a.get(1).cloned().unwrap_or_default();
    e.execute_named(&name, &data)
        .map(Value::from)
        .map_err(|err| err.to_string().into())
}

fn f_tpl(e: &mut Exec, a: Vec<Value>) -> R {
    let src = s(&a, 0)?;
    let data = a.get(1).cloned().unwrap_or_default();
    let name = e.current_file().to_string();
    e.execute_source(&name, &src, &data)
        .map(|out| Value::from(out.replace("<no value>", "")))
        .map_err(|err| err.to_string().into())
}

fn f_required(_: &mut Exec, a: Vec<Value>) -> R {
    let msg = s(&a, 0)?;
    let v = arg(&a, 1)?;
    match v {
        Value::Nil => Err(FuncError::User(msg)),
        Value::String(x) if x.is_empty() => Err(FuncError::User(msg)),
        other => Ok(other.clone()),
    }
}

fn f_default(_: &mut Exec, a: Vec<Value>) -> R {
    let d = arg(&a, 0)?.clone();
    match a.get(1) {
        Some(v) if v.truthy() => Ok(v.clone()),
        _ => Ok(d),
    }
}

fn f_from_yaml(e: &mut Exec, a: Vec<Value>) -> R {
    let src = s(&a, 0)?;
    if let Some(v) = e.context.from_yaml_cache.borrow().get(&src) {
        return Ok(v.deep_copy());
    }
    let v = match serde_yaml::from_str::<serde_json::Value>(&src) {
        Ok(serde_json::Value::Null) => Value::map(BTreeMap::new()),
        Ok(v @ serde_json::Value::Object(_)) => Value::from_json_values(&v),
        Ok(_) => error_map("error unmarshaling JSON: json: cannot unmarshal into Go value of type map[string]interface {}"),
        Err(e) => error_map(&format!("error converting YAML to JSON: {e}")),
    };
    e.context
        .from_yaml_cache
        .borrow_mut()
        .insert(src, v.deep_copy());
    Ok(v)
}

fn f_from_yaml_array(_: &mut Exec, a: Vec<Value>) -> R {
    let src = s(&a, 0)?;
    match serde_yaml::from_str::<serde_json::Value>(&src) {
        Ok(v @ serde_json::Value::Array(_)) => Ok(Value::from_json_values(&v)),
        Ok(serde_json::Value::Null) => Ok(Value::list(Vec::new())),
        Ok(_) => Ok(Value::list(vec![Value::str(
            "error unmarshaling JSON: cannot unmarshal into []interface {}",
        )])),
        Err(e) => Ok(Value::list(vec![Value::from(e.to_string())])),
    }
}

fn f_from_json(_: &mut Exec, a: Vec<Value>) -> R {
    match serde_json::from_str::<serde_json::Value>(&s(&a, 0)?) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(Value::from_json_values(&v)),
        Ok(_) => Ok(error_map(
            "json: cannot unmarshal into Go value of type map[string]interface {}",
        )),
        Err(e) => Ok(error_map(&e.to_string())),
    }
}

fn f_from_json_array(_: &mut Exec, a: Vec<Value>) -> R {
    match serde_json::from_str::<serde_json::Value>(&s(&a, 0)?) {
        Ok(v @ serde_json::Value::Array(_)) => Ok(Value::from_json_values(&v)),
        Ok(_) => Ok(Value::list(vec![Value::str(
            "json: cannot unmarshal into []interface {}",
        )])),
        Err(e) => Ok(Value::list(vec![Value::from(e.to_string())])),
    }
}

fn error_map(msg: &str) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Error".to_string(), Value::str(msg));
    Value::map(m)
}

fn f_lookup(e: &mut Exec, a: Vec<Value>) -> R {
    let args: Vec<String> = (0..4).map(|i| s(&a, i)).collect::<Result<_, _>>()?;
    match &e.context.lookup {
        Some(f) => f(&args[0], &args[1], &args[2], &args[3]).map_err(FuncError::from),
        None => Ok(Value::map(BTreeMap::new())),
    }
}

/// Sprig's `substr` slices bytes as Go does, and fails where Go's slice would panic (Helm
/// reports `error calling substr: runtime error: slice bounds out of range`).
fn f_substr(_: &mut Exec, a: Vec<Value>) -> R {
    let (start, end, x) = (int_of(arg(&a, 0)?)?, int_of(arg(&a, 1)?)?, s(&a, 2)?);
    let len = x.len() as i64;
    let out_of_range = |what: String| format!("runtime error: slice bounds out of range {what}");
    let r = if start < 0 {
        if end < 0 {
            return Err(out_of_range(format!("[:{end}]")).into());
        }
        if end > len {
            return Err(out_of_range(format!("[:{end}] with length {len}")).into());
        }
        go_byte_slice(&x, 0, end as usize)
    } else if end < 0 || end > len {
        if start > len {
            return Err(out_of_range(format!("[{start}:{len}]")).into());
        }
        go_byte_slice(&x, start as usize, x.len())
    } else {
        if start > end {
            return Err(out_of_range(format!("[{start}:{end}]")).into());
        }
        go_byte_slice(&x, start as usize, end as usize)
    };
    Ok(Value::from(r))
}

/// Sprig's `trunc`: the first `c` bytes, or the last `-c` bytes when `c` is negative.
fn f_trunc(_: &mut Exec, a: Vec<Value>) -> R {
    let c = int_of(arg(&a, 0)?)?;
    let x = s(&a, 1)?;
    let len = x.len() as i64;
    let r = if c < 0 && len + c > 0 {
        go_byte_slice(&x, (len + c) as usize, x.len())
    } else if c >= 0 && len > c {
        go_byte_slice(&x, 0, c as usize)
    } else {
        &x[..]
    };
    Ok(Value::from(r))
}

/// Go's `strings.Repeat`, with Helm's error for a negative count and a bound on the result.
fn f_repeat(_: &mut Exec, a: Vec<Value>) -> R {
    let count = int_of(arg(&a, 0)?)?;
    let x = s(&a, 1)?;
    if count < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let size = (x.len() as u128) * (count as u128);
    if size > MAX_STRING_BYTES as u128 {
        return Err(format!(
            "repeat {count}: the result would be {size} bytes, over the {} MiB limit of a string made by a template function",
            MAX_STRING_BYTES >> 20
        ).into());
    }
    Ok(Value::from(x.repeat(count as usize)))
}

/// `s[start:end]` as Go slices bytes, narrowed to whole characters: Go would cut a multi-byte
/// character in half and produce invalid UTF-8 (Helm then prints `\xc3`-style escapes); here a
/// character the cut falls inside is left out, so the result never exceeds Go's byte count.
fn go_byte_slice(x: &str, start: usize, end: usize) -> &str {
    let mut from = start.min(x.len());
    while !x.is_char_boundary(from) {
        from += 1;
    }
    let mut to = end.min(x.len()).max(from);
    while !x.is_char_boundary(to) {
        to -= 1;
    }
    &x[from..to.max(from)]
}

/// goutils' `AbbreviateFull` (Sprig's `abbrev` and `abbrevboth`): byte offsets as in Go,
/// narrowed to whole characters by [`go_byte_slice`].
fn abbreviate_full(x: &str, offset: i64, max_width: i64) -> String {
    let len = x.len() as i64;
    if x.is_empty() || len <= max_width {
        return x.to_string();
    }
    let mut offset = offset.min(len);
    if len - offset < max_width - 3 {
        offset = len - (max_width - 3);
    }
    if offset <= 4 {
        return format!("{}...", go_byte_slice(x, 0, (max_width - 3) as usize));
    }
    if max_width < 7 {
        // goutils fails here ("Minimum abbreviation width with offset is 7") and Sprig
        // prints the empty result.
        return String::new();
    }
    if offset + max_width - 3 < len {
        let rest = go_byte_slice(x, offset as usize, x.len());
        return format!("...{}", abbreviate_full(rest, 0, max_width - 3));
    }
    format!(
        "...{}",
        go_byte_slice(x, (len - (max_width - 3)) as usize, x.len())
    )
}

/// goutils' `Initials` as Sprig calls it: the first byte after each whitespace byte, read as
/// a Latin-1 character (Go's `rune(str[i])`), so `é` gives `Ã` exactly as in Helm.
fn initials(x: &str) -> String {
    let mut out = String::new();
    let mut last_was_gap = true;
    for &b in x.as_bytes() {
        let ch = char::from(b);
        if matches!(
            ch,
            ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | '\u{85}' | '\u{a0}'
        ) {
            last_was_gap = true;
        } else if last_was_gap {
            out.push(ch);
            last_was_gap = false;
        }
    }
    out
}

fn f_append(_: &mut Exec, a: Vec<Value>) -> R {
    let list = arg(&a, 0)?;
    let mut l = match list {
        Value::List(l) => l.to_vec(),
        other => return Err(format!("Cannot push on type {}", other.kind_name()).into()),
    };
    l.push(arg(&a, 1)?.clone());
    Ok(Value::list(l))
}

/// mergo semantics: recursive for maps; without overwrite a key is only set when the
/// destination lacks it or holds an empty value; with overwrite non-empty sources win.
fn merge_fn(a: Vec<Value>, overwrite: bool) -> R {
    let dst = map_of(arg(&a, 0)?, "merge")?;
    for src in &a[1..] {
        if let Value::Map(sm) = src {
            merge_into(&dst, &sm.borrow(), overwrite);
        }
    }
    Ok(Value::Map(dst))
}

fn merge_into(dst: &super::value::MapRef, src: &BTreeMap<String, Value>, overwrite: bool) {
    for (k, sv) in src {
        let existing = dst.borrow().get(k).cloned();
        match (existing, sv) {
            (Some(Value::Map(dm)), Value::Map(sm)) => {
                if Rc::ptr_eq(&dm, sm) {
                    continue;
                }
                let src_inner = sm.borrow().clone();
                merge_into(&dm, &src_inner, overwrite);
            }
            (Some(dv), sv) => {
                if overwrite || !dv.truthy() {
                    dst.borrow_mut().insert(k.clone(), sv.clone());
                }
            }
            (None, sv) => {
                dst.borrow_mut().insert(k.clone(), sv.clone());
            }
        }
    }
}

fn indent(n: i64, s: &str) -> Result<String, String> {
    let lines = s.matches('\n').count() as u128 + 1;
    let size = s.len() as u128 + lines * n.max(0) as u128;
    if size > MAX_STRING_BYTES as u128 {
        return Err(format!(
            "indent {n}: the result would be {size} bytes, over the {} MiB limit of a string made by a template function",
            MAX_STRING_BYTES >> 20
        ));
    }
    let pad = " ".repeat(n.max(0) as usize);
    Ok(format!("{pad}{}", s.replace('\n', &format!("\n{pad}"))))
}

/// goutils' `WrapCustom` (Apache commons' WordUtils.wrap) as Sprig calls it: break at the
/// last space before the limit, counting bytes as Go does; long words are kept whole, or with
/// `split_long_words` (wrapWith) cut every `width` bytes. Go would cut inside a multi-byte
/// character there; this cut moves back to the character's start (or past it when the
/// character alone is wider than the limit), so every line is valid UTF-8.
fn wrap(text: &str, width: i64, newline: &str, split_long_words: bool) -> String {
    if text.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let width = width.max(1) as usize;
    let b = text.as_bytes();
    let mut out = String::new();
    let mut offset = 0;
    while b.len() - offset > width {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1).min(b.len());
        // Spaces are single bytes, so every cut at one falls on a character boundary.
        if let Some(i) = b[offset..end].iter().rposition(|&c| c == b' ') {
            out.push_str(&text[offset..offset + i]);
            out.push_str(newline);
            offset += i + 1;
        } else if split_long_words {
            let mut cut = offset + width;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == offset {
                cut = offset + width;
                while !text.is_char_boundary(cut) {
                    cut += 1;
                }
                if cut == b.len() {
                    break;
                }
            }
            out.push_str(&text[offset..cut]);
            out.push_str(newline);
            offset = cut;
        } else {
            match b[width + offset..].iter().position(|&c| c == b' ') {
                None => {
                    out.push_str(&text[offset..]);
                    offset = b.len();
                }
                Some(i) => {
                    let at = width + offset + i;
                    out.push_str(&text[offset..at]);
                    out.push_str(newline);
                    offset = at + 1;
                }
            }
        }
    }
    out.push_str(&text[offset..]);
    out
}

fn split_sep(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(String::from).collect()
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '\'';
    }
    out
}

fn snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out.replace(['-', ' '], "_")
}

fn re(p: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(p).map_err(|e| format!("error parsing regexp: {e}"))
}

/// Go's `$1`/`${name}` expansion reads like the regex crate's (both take `$1x` as the group
/// named "1x"), so the replacement passes through unchanged.
fn go_repl(r: &str) -> String {
    r.to_string()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn random_string(n: i64, charset: &[u8]) -> Result<String, String> {
    if n > MAX_STRING_BYTES as i64 {
        return Err(format!(
            "{n} random characters are over the {} MiB limit of a string made by a template function",
            MAX_STRING_BYTES >> 20
        ));
    }
    let mut rng = rand::thread_rng();
    Ok((0..n.max(0))
        .map(|_| charset[rng.gen_range(0..charset.len())] as char)
        .collect())
}

fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

fn js_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c => out.push(c),
        }
    }
    out
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// `*semver.Version`: fields and methods as Masterminds exposes them.
struct SemverObject(Version);

impl TemplateObject for SemverObject {
    fn type_name(&self) -> &str {
        "*semver.Version"
    }
    fn field(&self, name: &str) -> Option<Value> {
        let v = &self.0;
        Some(match name {
            "Major" => Value::Int64(v.major as i64),
            "Minor" => Value::Int64(v.minor as i64),
            "Patch" => Value::Int64(v.patch as i64),
            "Prerelease" => Value::str(&v.pre),
            "Metadata" => Value::str(&v.meta),
            "Original" => Value::str(&v.original),
            "String" => Value::from(self.display()),
            _ => return None,
        })
    }
    fn display(&self) -> String {
        let v = &self.0;
        let mut s = format!("{}.{}.{}", v.major, v.minor, v.patch);
        if !v.pre.is_empty() {
            s.push_str(&format!("-{}", v.pre));
        }
        if !v.meta.is_empty() {
            s.push_str(&format!("+{}", v.meta));
        }
        s
    }
}
