//! Helm's `--set` family of flags: parses `a.b=c,list[0]=x,l={a,b}` expressions into values.
//!
//! Owns the syntax of `--set`, `--set-string`, `--set-file`, `--set-json` and `--set-literal`,
//! reproducing Helm's `pkg/strvals` behaviour, quirks included: users copy `--set` lines from
//! chart READMEs written against Helm, so anything Helm accepts must mean the same here.

use std::fmt;

use serde_json::{Map, Value};

use super::values::ValuesError;

/// Largest list index `--set` accepts (Helm's guard against `a[999999999]=x` eating memory).
pub const MAX_LIST_INDEX: i64 = 65536;

/// Deepest key path `--set` accepts, counting every `.` and every `[i]` that descends (Helm
/// counts only `.`; a chain of `[0][0]...` or `[0].a[0].a...` recursed without a limit).
pub const MAX_KEY_DEPTH: usize = 30;

/// One level deeper in a key path, or the error once past [`MAX_KEY_DEPTH`].
fn deeper(depth: usize) -> Result<usize, Halt> {
    let depth = depth + 1;
    if depth > MAX_KEY_DEPTH {
        return Err(syntax(format!(
            "key path is nested deeper than the maximum of {MAX_KEY_DEPTH} levels \
             (each `.` and `[i]` is a level)"
        )));
    }
    Ok(depth)
}

/// Which `--set`-family flag an expression came from; decides how the right-hand side is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetKind {
    /// `--set`: `true`/`false`/`null`/int64 are typed, everything else is a string.
    Set,
    /// `--set-string`: every value stays a string.
    SetString,
    /// `--set-file`: every value is a path whose contents become the string value.
    SetFile,
    /// `--set-json`: every value is a JSON document (or the whole flag is one JSON object).
    SetJson,
    /// `--set-literal`: one `key=value` whose value is taken verbatim, commas and all.
    SetLiteral,
}

impl SetKind {
    /// The command-line flag this kind corresponds to, for messages.
    pub fn flag(self) -> &'static str {
        match self {
            SetKind::Set => "--set",
            SetKind::SetString => "--set-string",
            SetKind::SetFile => "--set-file",
            SetKind::SetJson => "--set-json",
            SetKind::SetLiteral => "--set-literal",
        }
    }

    /// One-line reminder of the syntax, appended to parse errors so the user can fix the flag.
    pub(crate) fn syntax_hint(self) -> &'static str {
        match self {
            SetKind::Set | SetKind::SetString => {
                "expected key=value pairs separated by commas, e.g. `a.b=1,list[0]=x,l={x,y}`; \
                 escape a literal `,` `.` `=` `[` or `\\` with a backslash"
            }
            SetKind::SetFile => {
                "expected key=path pairs separated by commas, e.g. `config=./app.conf`; \
                 escape a literal `,` `.` `=` `[` or `\\` with a backslash"
            }
            SetKind::SetJson => {
                "expected key=<JSON> pairs separated by commas, e.g. `a={\"b\":[1,2]},c=\"x\"`, \
                 or one JSON object"
            }
            SetKind::SetLiteral => {
                "expected one key=value whose value is taken verbatim, e.g. `a.b=x,y`"
            }
        }
    }
}

impl fmt::Display for SetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.flag())
    }
}

/// Reads the files named by `--set-file` (and `-f`), so parsing stays testable without a disk.
pub trait FileReader {
    /// Returns the bytes of `path`.
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>>;
}

impl<F> FileReader for F
where
    F: Fn(&str) -> std::io::Result<Vec<u8>>,
{
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        self(path)
    }
}

/// Reads paths from the local filesystem, `-` meaning standard input, like Helm.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalFiles;

/// Through [`crate::input`]: a FIFO, a device or a file over
/// [`crate::input::MAX_CONFIG_BYTES`] is refused unread, with an
/// [`crate::input::InputError`] inside the `io::Error` (see [`input_error`]).
impl FileReader for LocalFiles {
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        let limit = crate::input::MAX_CONFIG_BYTES;
        if path.trim() == "-" {
            return crate::input::read_bytes_from(std::io::stdin(), "standard input", limit)
                .map_err(std::io::Error::other);
        }
        crate::input::read_bytes(std::path::Path::new(path), "file", limit)
            .map_err(std::io::Error::other)
    }
}

/// The refusal [`LocalFiles`] wrapped in a read error, if that is what the error is: it already
/// names the file, the rule and the fix.
pub(crate) fn input_error(
    error: std::io::Error,
) -> Result<Box<crate::input::InputError>, std::io::Error> {
    let is_refusal = error
        .get_ref()
        .is_some_and(|inner| inner.is::<crate::input::InputError>());
    if !is_refusal {
        return Err(error);
    }
    match error
        .into_inner()
        .map(|inner| inner.downcast::<crate::input::InputError>())
    {
        Some(Ok(refusal)) => Ok(refusal),
        _ => unreachable!("checked to hold an InputError above"),
    }
}

/// A reader for kinds that never read files; `--set-file` needs a real one.
struct NoFiles;

impl FileReader for NoFiles {
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("no file reader was given to read {path:?}"),
        ))
    }
}

/// Parses one flag value (`--set EXPR`) into a fresh map. `--set-file` needs [`apply_set`].
pub fn parse_set(kind: SetKind, expr: &str) -> Result<Map<String, Value>, ValuesError> {
    let mut out = Map::new();
    apply_set(kind, expr, &mut out, &NoFiles)?;
    Ok(out)
}

/// Parses one flag value and writes it into `dest`, the way Helm layers each `--set` onto the
/// values gathered so far (so `--set a.b=1` extends an `a` map that came from a `-f` file).
pub fn apply_set(
    kind: SetKind,
    expr: &str,
    dest: &mut Map<String, Value>,
    files: &dyn FileReader,
) -> Result<(), ValuesError> {
    if kind == SetKind::SetJson {
        let trimmed = expr.trim();
        // Helm accepts a whole JSON object as `--set-json '{"a":1}'` and deep-merges it.
        if trimmed.starts_with('{') {
            let object: Map<String, Value> =
                serde_json::from_str(trimmed).map_err(|e| ValuesError::InvalidSet {
                    kind,
                    expr: expr.to_owned(),
                    reason: format!("the value starts with `{{` but is not a JSON object: {e}"),
                })?;
            merge_maps(dest, object);
            return Ok(());
        }
    }
    let mut parser = Parser {
        input: expr,
        pos: 0,
        kind,
        files,
    };
    // Helm silently drops an empty key (`--set =1` sets nothing and exits 0): a typo that
    // deploys without the value the user meant, so it is refused here.
    let empty_key = expr.starts_with('=')
        || kind != SetKind::SetLiteral
            && expr
                .match_indices(",=")
                .any(|(i, _)| !expr[..i].ends_with('\\'));
    if empty_key {
        return Err(ValuesError::InvalidSet {
            kind,
            expr: expr.to_owned(),
            reason: "a key is empty (nothing before `=`); write the key, e.g. `a.b=1`".into(),
        });
    }
    let result = loop {
        match parser.key(dest, 0) {
            Ok(()) => continue,
            Err(Halt::End) => break Ok(()),
            Err(Halt::Fail(fail)) => break Err(fail),
        }
    };
    result.map_err(|fail| match fail {
        Fail::Syntax(reason) => ValuesError::InvalidSet {
            kind,
            expr: expr.to_owned(),
            reason,
        },
        Fail::File { path, source } => match input_error(source) {
            Ok(refusal) => ValuesError::SetFileRefused {
                expr: expr.to_owned(),
                source: refusal,
            },
            Err(source) => ValuesError::SetFileRead {
                expr: expr.to_owned(),
                path,
                source,
            },
        },
    })
}

/// Helm's `--set` type inference: `true`/`false`/`null` in any case, then int64 without a
/// leading zero (so `"0"` is a number but `"007"` stays a string); everything else is a string.
pub fn typed_value(raw: &str) -> Value {
    if go_equal_fold(raw, "true") {
        return Value::Bool(true);
    }
    if go_equal_fold(raw, "false") {
        return Value::Bool(false);
    }
    if go_equal_fold(raw, "null") {
        return Value::Null;
    }
    if raw == "0" {
        return Value::from(0i64);
    }
    if !raw.is_empty() && !raw.starts_with('0') {
        // Same grammar as Go's strconv.ParseInt(s, 10, 64): optional sign, decimal digits.
        if let Ok(n) = raw.parse::<i64>() {
            return Value::from(n);
        }
    }
    Value::String(raw.to_owned())
}

/// Deep-merges `overlay` into `base`: maps merge key by key, anything else replaces
/// (nulls included, so a later layer can still delete a key when values are coalesced).
pub fn merge_maps(base: &mut Map<String, Value>, overlay: Map<String, Value>) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                merge_maps(existing, incoming)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Go's `strings.EqualFold` against an ASCII lowercase word: Unicode simple folding means
/// `ſ` (long s) matches `s` and the Kelvin sign matches `k`; nothing else outside ASCII does.
fn go_equal_fold(candidate: &str, word: &str) -> bool {
    let mut c = candidate.chars();
    for w in word.chars() {
        let Some(ch) = c.next() else { return false };
        let folded = match ch {
            '\u{17F}' => 's',
            '\u{212A}' => 'k',
            other => other.to_ascii_lowercase(),
        };
        if folded != w {
            return false;
        }
    }
    c.next().is_none()
}

/// Why parsing stopped: Helm ends quietly at end of input (even mid-key, e.g. `a[1`).
enum Halt {
    End,
    Fail(Fail),
}

enum Fail {
    Syntax(String),
    File {
        path: String,
        source: std::io::Error,
    },
}

fn syntax(reason: impl Into<String>) -> Halt {
    Halt::Fail(Fail::Syntax(reason.into()))
}

/// Where a read stopped: at one of the stop characters or at end of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    At(char),
    End,
}

/// Outcome of looking for a `{a,b}` list literal.
enum ListRead {
    List(Vec<Value>),
    NotList,
    End,
    Fail(Halt),
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    kind: SetKind,
    files: &'a dyn FileReader,
}

impl Parser<'_> {
    fn next_char(&mut self) -> Option<char> {
        let ch = self.input[self.pos..].chars().next()?;
        self.pos += ch.len_utf8();
        Some(ch)
    }

    fn unread(&mut self, ch: char) {
        self.pos -= ch.len_utf8();
    }

    fn literal(&self) -> bool {
        self.kind == SetKind::SetLiteral
    }

    /// Reads up to (and consumes) the first stop character. Outside `--set-literal` a
    /// backslash takes the next character as-is; a trailing lone backslash ends the input.
    fn read_until(&mut self, stops: &[char]) -> (String, Stop) {
        let mut out = String::new();
        loop {
            let Some(ch) = self.next_char() else {
                return (out, Stop::End);
            };
            if stops.contains(&ch) {
                return (out, Stop::At(ch));
            }
            if ch == '\\' && !self.literal() {
                match self.next_char() {
                    Some(escaped) => out.push(escaped),
                    None => return (out, Stop::End),
                }
            } else {
                out.push(ch);
            }
        }
    }

    fn rest(&mut self) -> String {
        let rest = self.input[self.pos..].to_owned();
        self.pos = self.input.len();
        rest
    }

    /// Turns a raw right-hand side into a value according to the flag kind.
    fn convert(&self, raw: String) -> Result<Value, Halt> {
        match self.kind {
            SetKind::Set | SetKind::SetJson => Ok(typed_value(&raw)),
            SetKind::SetString | SetKind::SetLiteral => Ok(Value::String(raw)),
            SetKind::SetFile => match self.files.read_file(&raw) {
                Ok(bytes) => Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
                Err(source) => Err(Halt::Fail(Fail::File { path: raw, source })),
            },
        }
    }

    /// Parses one `key...=value` (recursing through `.` and `[i]`) into `data`.
    fn key(&mut self, data: &mut Map<String, Value>, depth: usize) -> Result<(), Halt> {
        let stops: &[char] = if self.literal() {
            &['=', '[', '.']
        } else {
            &['=', '[', ',', '.']
        };
        let (key, stop) = self.read_until(stops);
        match stop {
            Stop::End if key.is_empty() => Err(Halt::End),
            Stop::End => Err(syntax(format!("key {key:?} has no value"))),
            Stop::At('[') => {
                let index = self.list_index()?;
                let existed = data.contains_key(&key);
                let mut list = match data.get_mut(&key) {
                    None => Vec::new(),
                    Some(Value::Array(items)) => std::mem::take(items),
                    Some(other) => {
                        return Err(syntax(format!(
                            "key {key:?} already holds {}, so it cannot be indexed as a list",
                            describe(other)
                        )))
                    }
                };
                let result = self.list_item(&mut list, index, depth);
                // Helm stores the list even when the item ended early (`a[1]` yields `a: []`).
                if key.is_empty() && existed {
                    // `set` ignores the empty key; just give back what was taken out.
                    data.insert(key, Value::Array(list));
                } else {
                    set(data, &key, Value::Array(list));
                }
                result
            }
            Stop::At('=') if self.literal() => {
                let value = self.rest();
                set(data, &key, Value::String(value));
                Ok(())
            }
            Stop::At('=') if self.kind == SetKind::SetJson => {
                if self.skip_blank_and_comma() {
                    set(data, &key, Value::Null);
                    return Ok(());
                }
                let value = self.json_value(&key)?;
                set(data, &key, value);
                self.skip_blank_and_comma();
                Ok(())
            }
            Stop::At('=') => match self.list_literal() {
                ListRead::List(items) => {
                    set(data, &key, Value::Array(items));
                    Ok(())
                }
                ListRead::End => {
                    set(data, &key, Value::String(String::new()));
                    Err(Halt::End)
                }
                ListRead::NotList => {
                    let (raw, _) = self.read_until(&[',']);
                    let value = self.convert(raw)?;
                    set(data, &key, value);
                    Ok(())
                }
                ListRead::Fail(halt) => Err(halt),
            },
            Stop::At(',') => Err(syntax(format!(
                "key {key:?} has no value (a pair cannot end with `,`)"
            ))),
            Stop::At(_) => {
                // '.': descend into (or create) the map under `key`.
                let depth = deeper(depth)?;
                match data.get_mut(&key) {
                    Some(Value::Object(inner)) => {
                        let result = self.key(inner, depth);
                        if result.is_ok() && inner.is_empty() {
                            return Err(syntax(format!("key map {key:?} has no value")));
                        }
                        result
                    }
                    Some(other) => Err(syntax(format!(
                        "key {key:?} already holds {}, so it cannot hold nested keys",
                        describe(other)
                    ))),
                    None => {
                        let mut inner = Map::new();
                        let result = self.key(&mut inner, depth);
                        if result.is_ok() && inner.is_empty() {
                            return Err(syntax(format!("key map {key:?} has no value")));
                        }
                        if !inner.is_empty() {
                            set(data, &key, Value::Object(inner));
                        }
                        result
                    }
                }
            }
        }
    }

    /// Reads the `N]` of `[N]`; end of input mid-index ends parsing quietly, like Helm.
    fn list_index(&mut self) -> Result<i64, Halt> {
        let (raw, stop) = self.read_until(&[']']);
        if stop == Stop::End {
            return Err(Halt::End);
        }
        // Go's strconv.Atoi grammar: optional sign and decimal digits, nothing else.
        raw.parse::<i64>().map_err(|_| {
            syntax(format!(
                "invalid list index {raw:?} (want a number such as 0)"
            ))
        })
    }

    /// Parses what follows `[index]` and stores it at `index` of `list`.
    fn list_item(&mut self, list: &mut Vec<Value>, index: i64, depth: usize) -> Result<(), Halt> {
        if index < 0 {
            return Err(syntax(format!(
                "negative list index {index} is not allowed"
            )));
        }
        let (junk, stop) = self.read_until(&['[', '.', '=']);
        if !junk.is_empty() {
            return Err(syntax(format!(
                "unexpected {junk:?} after a list index (want `=`, `.` or `[`)"
            )));
        }
        match stop {
            Stop::End => Err(Halt::End),
            Stop::At('=') if self.literal() => {
                let value = self.rest();
                set_index(list, index, Value::String(value))
            }
            Stop::At('=') if self.kind == SetKind::SetJson => {
                if self.skip_blank_and_comma() {
                    return set_index(list, index, Value::Null);
                }
                let value = self.json_value(&format!("[{index}]"))?;
                set_index(list, index, value)?;
                self.skip_blank_and_comma();
                Ok(())
            }
            Stop::At('=') => match self.list_literal() {
                ListRead::List(items) => set_index(list, index, Value::Array(items)),
                ListRead::End => set_index(list, index, Value::String(String::new())),
                ListRead::NotList => {
                    let (raw, _) = self.read_until(&[',']);
                    let value = self.convert(raw)?;
                    set_index(list, index, value)
                }
                ListRead::Fail(halt) => Err(halt),
            },
            Stop::At('[') => {
                let depth = deeper(depth)?;
                let next = self.list_index()?;
                let slot = usize::try_from(index).ok().filter(|&i| i < list.len());
                let mut inner = match slot.map(|i| &mut list[i]) {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => std::mem::take(items),
                    Some(other) => {
                        return Err(syntax(format!(
                        "list item [{index}] already holds {}, so it cannot be indexed as a list",
                        describe(other)
                    )))
                    }
                };
                match self.list_item(&mut inner, next, depth) {
                    Ok(()) => set_index(list, index, Value::Array(inner)),
                    Err(halt) => {
                        // Helm works on the existing inner list in place, so edits made before
                        // the early end stay; a new inner list is dropped.
                        if let Some(i) = slot {
                            if list[i].is_array() {
                                list[i] = Value::Array(inner);
                            }
                        }
                        Err(halt)
                    }
                }
            }
            Stop::At(_) => {
                // '.': a map inside the list. Helm replaces a non-map item rather than failing.
                let depth = deeper(depth)?;
                let slot = usize::try_from(index).ok().filter(|&i| i < list.len());
                match slot {
                    Some(i) => {
                        // Edit the existing map in place, as Helm does, so that whatever was
                        // set before an early end of input is kept.
                        let mut inner = match std::mem::take(&mut list[i]) {
                            Value::Object(map) => map,
                            _ => Map::new(),
                        };
                        let result = self.key(&mut inner, depth);
                        list[i] = Value::Object(inner);
                        result?;
                        if index > MAX_LIST_INDEX {
                            return set_index(list, index, Value::Null);
                        }
                        Ok(())
                    }
                    None => {
                        let mut inner = Map::new();
                        self.key(&mut inner, depth)?;
                        set_index(list, index, Value::Object(inner))
                    }
                }
            }
        }
    }

    /// Reads a `{a,b,c}` list literal if one starts here.
    fn list_literal(&mut self) -> ListRead {
        match self.next_char() {
            None => return ListRead::End,
            Some('{') => {}
            Some(other) => {
                self.unread(other);
                return ListRead::NotList;
            }
        }
        let mut items = Vec::new();
        loop {
            let (raw, stop) = self.read_until(&[',', '}']);
            match stop {
                Stop::End => {
                    return ListRead::Fail(syntax("list literal is missing its closing `}`"))
                }
                Stop::At('}') => {
                    // A comma right after `}` belongs to the list; anything else is the next key.
                    if let Some(next) = self.next_char() {
                        if next != ',' {
                            self.unread(next);
                        }
                    }
                    return match self.convert(raw) {
                        Ok(value) => {
                            items.push(value);
                            ListRead::List(items)
                        }
                        Err(halt) => ListRead::Fail(halt),
                    };
                }
                Stop::At(_) => match self.convert(raw) {
                    Ok(value) => items.push(value),
                    Err(halt) => return ListRead::Fail(halt),
                },
            }
        }
    }

    /// `--set-json`: skips whitespace; true if the value is empty (end of input or a comma,
    /// which is consumed), false if a value starts here.
    fn skip_blank_and_comma(&mut self) -> bool {
        loop {
            match self.next_char() {
                None | Some(',') => return true,
                Some(ch) if ch.is_whitespace() => continue,
                Some(ch) => {
                    self.unread(ch);
                    return false;
                }
            }
        }
    }

    /// `--set-json`: decodes one JSON value starting here and consumes exactly its text.
    fn json_value(&mut self, key: &str) -> Result<Value, Halt> {
        let rest = &self.input[self.pos..];
        let body = rest.trim_start_matches([' ', '\t', '\n', '\r']);
        let lead = rest.len() - body.len();
        let bad = |reason: String| syntax(format!("value of {key:?} is not valid JSON: {reason}"));
        let (value, len) = match body.chars().next() {
            Some('{' | '[' | '"') => {
                let mut stream = serde_json::Deserializer::from_str(body).into_iter::<Value>();
                match stream.next() {
                    Some(Ok(value)) => (value, stream.byte_offset()),
                    Some(Err(e)) => return Err(bad(e.to_string())),
                    None => return Err(bad("unexpected end of input".to_owned())),
                }
            }
            _ => {
                let len = json_scalar_len(body).map_err(bad)?;
                let value = serde_json::from_str(&body[..len]).map_err(|e| bad(e.to_string()))?;
                (value, len)
            }
        };
        self.pos += lead + len;
        Ok(value)
    }
}

/// Length of the JSON number or `true`/`false`/`null` at the start of `s`. Like Go's stream
/// decoder, the value ends at the first character that cannot continue it (`1b=2` is `1`
/// followed by the key `b`).
fn json_scalar_len(s: &str) -> Result<usize, String> {
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err("unexpected end of input".to_owned());
    };
    for word in ["true", "false", "null"] {
        if first == word.as_bytes()[0] {
            for (i, expected) in word.bytes().enumerate() {
                match bytes.get(i) {
                    None => return Err("unexpected end of input".to_owned()),
                    Some(&b) if b != expected => {
                        return Err(format!(
                            "invalid character {:?} in literal {word}",
                            char_at(s, i)
                        ))
                    }
                    Some(_) => {}
                }
            }
            return Ok(word.len());
        }
    }
    if first != b'-' && !first.is_ascii_digit() {
        return Err(format!(
            "invalid character {:?} looking for the beginning of a value",
            char_at(s, 0)
        ));
    }
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let need_digit = |at: usize, what: &str| -> Result<(), String> {
        match bytes.get(at) {
            None => Err("unexpected end of input".to_owned()),
            Some(b) if b.is_ascii_digit() => Ok(()),
            Some(_) => Err(format!("invalid character {:?} {what}", char_at(s, at))),
        }
    };
    let mut i = usize::from(first == b'-');
    need_digit(i, "in numeric literal")?;
    // A leading zero stands alone: `01` is `0` followed by `1`.
    i += if bytes[i] == b'0' { 1 } else { digits(i) };
    if bytes.get(i) == Some(&b'.') {
        need_digit(i + 1, "after decimal point in numeric literal")?;
        i += 1 + digits(i + 1);
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        need_digit(i, "in exponent of numeric literal")?;
        i += digits(i);
    }
    Ok(i)
}

fn char_at(s: &str, byte: usize) -> char {
    s[byte..].chars().next().unwrap_or('?')
}

/// Stores `value` under `key`; like Helm, an empty key is silently dropped (`=x` sets nothing).
fn set(data: &mut Map<String, Value>, key: &str, value: Value) {
    if !key.is_empty() {
        data.insert(key.to_owned(), value);
    }
}

/// Stores `value` at `index`, padding with nulls; refuses indexes beyond [`MAX_LIST_INDEX`].
fn set_index(list: &mut Vec<Value>, index: i64, value: Value) -> Result<(), Halt> {
    if index < 0 {
        return Err(syntax(format!(
            "negative list index {index} is not allowed"
        )));
    }
    if index > MAX_LIST_INDEX {
        return Err(syntax(format!(
            "list index {index} is larger than the maximum of {MAX_LIST_INDEX}"
        )));
    }
    let index = index as usize;
    if list.len() <= index {
        list.resize(index + 1, Value::Null);
    }
    list[index] = value;
    Ok(())
}

/// "a string", "a map", ... for messages about conflicting keys.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::SetKind::*;
    use super::*;
    use serde_json::json;

    /// Numbers compare by value: Helm's JSON decoding yields float64 where we keep integers.
    fn normalise(value: &Value) -> Value {
        match value {
            Value::Number(n) => json!(n.as_f64()),
            Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), normalise(v))).collect())
            }
            other => other.clone(),
        }
    }

    /// Expected results recorded from Helm v4.2.3's own parser (`helm_python.parse_set_*`).
    #[test]
    fn parses_like_helm() {
        let cases: &[(SetKind, &str, &str)] = &[
            (Set, r#"a.b=c"#, r#"{"a":{"b":"c"}}"#),
            (
                Set,
                r#"name1=value1,name2=value2"#,
                r#"{"name1":"value1","name2":"value2"}"#,
            ),
            (Set, r#"a=1,b=2"#, r#"{"a":1,"b":2}"#),
            (Set, r#"a[0]=x"#, r#"{"a":["x"]}"#),
            (Set, r#"a[1].b=y"#, r#"{"a":[null,{"b":"y"}]}"#),
            (Set, r#"a[0][1]=2"#, r#"{"a":[[null,2]]}"#),
            (Set, r#"a[0][1][2]=x"#, r#"{"a":[[null,[null,null,"x"]]]}"#),
            (Set, r#"a[0].b[1].c=3"#, r#"{"a":[{"b":[null,{"c":3}]}]}"#),
            (Set, r#"a={a,b,c}"#, r#"{"a":["a","b","c"]}"#),
            (
                Set,
                r#"a={1,true,null,007}"#,
                r#"{"a":[1,true,null,"007"]}"#,
            ),
            (Set, r#"a={}"#, r#"{"a":[""]}"#),
            (Set, r#"a={a,,b}"#, r#"{"a":["a","","b"]}"#),
            (Set, r#"name={a, b}"#, r#"{"name":["a"," b"]}"#),
            (Set, r#"a={x\,y,z}"#, r#"{"a":["x,y","z"]}"#),
            (Set, r#"a={x\},y}"#, r#"{"a":["x}","y"]}"#),
            (Set, r#"a={a,b},c=d"#, r#"{"a":["a","b"],"c":"d"}"#),
            (Set, r#"a\.b=c\,d"#, r#"{"a.b":"c,d"}"#),
            (Set, r#"a\=b=c"#, r#"{"a=b":"c"}"#),
            (Set, r#"a\\b=c"#, r#"{"a\\b":"c"}"#),
            (Set, r#"a=b\"#, r#"{"a":"b"}"#),
            (Set, r#"a="#, r#"{"a":""}"#),
            (Set, r#"a=,b=1"#, r#"{"a":"","b":1}"#),
            (Set, r#"a=null"#, r#"{"a":null}"#),
            (Set, r#"a=NULL"#, r#"{"a":null}"#),
            (Set, r#"a=true"#, r#"{"a":true}"#),
            (Set, r#"a=True"#, r#"{"a":true}"#),
            (Set, r#"a=TRUE"#, r#"{"a":true}"#),
            (Set, r#"a=false"#, r#"{"a":false}"#),
            (Set, r#"a=FALSE"#, r#"{"a":false}"#),
            (Set, r#"a=0"#, r#"{"a":0}"#),
            (Set, r#"a=00"#, r#"{"a":"00"}"#),
            (Set, r#"a=007"#, r#"{"a":"007"}"#),
            (Set, r#"a=-0"#, r#"{"a":0}"#),
            (Set, r#"a=-5"#, r#"{"a":-5}"#),
            (Set, r#"a=+5"#, r#"{"a":5}"#),
            (Set, r#"a=-05"#, r#"{"a":-5}"#),
            (Set, r#"a=1e3"#, r#"{"a":"1e3"}"#),
            (Set, r#"a=0x10"#, r#"{"a":"0x10"}"#),
            (Set, r#"a=0.5"#, r#"{"a":"0.5"}"#),
            (Set, r#"a=1.5"#, r#"{"a":"1.5"}"#),
            (Set, r#"a=1_000"#, r#"{"a":"1_000"}"#),
            (
                Set,
                r#"a=9223372036854775807"#,
                r#"{"a":9223372036854775807}"#,
            ),
            (
                Set,
                r#"a=9223372036854775808"#,
                r#"{"a":"9223372036854775808"}"#,
            ),
            (
                Set,
                r#"a=-9223372036854775808"#,
                r#"{"a":-9223372036854775808}"#,
            ),
            (Set, r#"a= 5"#, r#"{"a":" 5"}"#),
            (Set, r#"a=t"#, r#"{"a":"t"}"#),
            (Set, r#"a=yes"#, r#"{"a":"yes"}"#),
            (Set, r#"a=b=c"#, r#"{"a":"b=c"}"#),
            (Set, r#"a=1,"#, r#"{"a":1}"#),
            (Set, r#"a.b.c=1,a.b.d=2"#, r#"{"a":{"b":{"c":1,"d":2}}}"#),
            (Set, r#"a[0]=x,a[0]=y"#, r#"{"a":["y"]}"#),
            (Set, r#"a[1]=1,a[0]=2"#, r#"{"a":[2,1]}"#),
            (
                Set,
                r#"a[2].b=1,a[0].c=2"#,
                r#"{"a":[{"c":2},null,{"b":1}]}"#,
            ),
            (Set, r#"a[0]=1,a[0].b=2"#, r#"{"a":[{"b":2}]}"#),
            (Set, r#"a[0].b=1,a[0]=2"#, r#"{"a":[2]}"#),
            (Set, r#"a[0].b=1,a[0].c=2"#, r#"{"a":[{"b":1,"c":2}]}"#),
            (Set, r#"a[0][0]=1,a[0].b=2"#, r#"{"a":[{"b":2}]}"#),
            (Set, r#"a={a,b},a[3]=c"#, r#"{"a":["a","b",null,"c"]}"#),
            (Set, r#"a.b=1,a=2"#, r#"{"a":2}"#),
            (Set, r#"a.b=1,a=null"#, r#"{"a":null}"#),
            (Set, r#"a.b=null"#, r#"{"a":{"b":null}}"#),
            (Set, r#"a[+1]=1"#, r#"{"a":[null,1]}"#),
            (Set, r#"a[1]"#, r#"{"a":[]}"#),
            (Set, r#"a[1"#, r#"{}"#),
            (Set, r#"a."#, r#"{}"#),
            (Set, r#"a[0]."#, r#"{"a":[]}"#),
            (Set, r#"a[0].c="#, r#"{"a":[]}"#),
            (Set, r#"a[0].b=1,a[0].c="#, r#"{"a":[{"b":1,"c":""}]}"#),
            (Set, r#"a[0][1"#, r#"{"a":[]}"#),
            (Set, r#".a=x"#, r#"{}"#),
            (Set, r#"a[0]=x,[0]=y"#, r#"{"a":["x"]}"#),
            (Set, r#"a=1,b[0"#, r#"{"a":1}"#),
            (
                SetString,
                r#"a=1,b=true,c=null,d={1,true}"#,
                r#"{"a":"1","b":"true","c":"null","d":["1","true"]}"#,
            ),
            (SetString, r#"a[0]=1"#, r#"{"a":["1"]}"#),
            (SetString, r#"a="#, r#"{"a":""}"#),
            (SetString, r#"a=007,b=-5"#, r#"{"a":"007","b":"-5"}"#),
            (SetJson, r#"a=1"#, r#"{"a":1}"#),
            (SetJson, r#"a=1.5"#, r#"{"a":1.5}"#),
            (SetJson, r#"a={"b":[1,2]}"#, r#"{"a":{"b":[1,2]}}"#),
            (SetJson, r#"a=[1,2],b="x""#, r#"{"a":[1,2],"b":"x"}"#),
            (SetJson, r#"a=1b=2"#, r#"{"a":1,"b":2}"#),
            (SetJson, r#"a=1 b=2"#, r#"{"a":1,"b":2}"#),
            (SetJson, r#"a=1 , b=2"#, r#"{" b":2,"a":1}"#),
            (SetJson, r#"a=  "x"  "#, r#"{"a":"x"}"#),
            (SetJson, r#"a="#, r#"{"a":null}"#),
            (SetJson, r#"a=,b=1"#, r#"{"a":null,"b":1}"#),
            (SetJson, r#"a=null"#, r#"{"a":null}"#),
            (SetJson, r#"a="x"y=1"#, r#"{"a":"x","y":1}"#),
            (SetJson, r#"a={"b":1}c=2"#, r#"{"a":{"b":1},"c":2}"#),
            (SetJson, r#"a[1]={"x":1}"#, r#"{"a":[null,{"x":1}]}"#),
            (SetJson, r#"a[0]="#, r#"{"a":[null]}"#),
            (SetJson, r#"a[0]=1,a[2]=2"#, r#"{"a":[1,null,2]}"#),
            (
                SetJson,
                r#"a.b={"c":1},a.b.d=2"#,
                r#"{"a":{"b":{"c":1,"d":2}}}"#,
            ),
            (SetJson, r#"a={"x":1},a.y=2"#, r#"{"a":{"x":1,"y":2}}"#),
            (SetJson, r#"a.b=true"#, r#"{"a":{"b":true}}"#),
            (SetJson, r#"a\.b=1"#, r#"{"a.b":1}"#),
            (SetJson, r#"a=1,"#, r#"{"a":1}"#),
            (SetJson, r#" a=1"#, r#"{" a":1}"#),
            (SetJson, r#"a="\u00e9""#, r#"{"a":"\u00e9"}"#),
            (SetJson, r#"a=-1.5e2"#, r#"{"a":-150}"#),
            (SetLiteral, r#"a=b,c=d"#, r#"{"a":"b,c=d"}"#),
            (SetLiteral, r#"a.b=c\,d"#, r#"{"a":{"b":"c\\,d"}}"#),
            (SetLiteral, r#"a\.b=c"#, r#"{"a\\":{"b":"c"}}"#),
            (SetLiteral, r#"a[0]=x"#, r#"{"a":["x"]}"#),
            (SetLiteral, r#"a[1].b=x"#, r#"{"a":[null,{"b":"x"}]}"#),
            (SetLiteral, r#"a[0][1]=x"#, r#"{"a":[[null,"x"]]}"#),
            (SetLiteral, r#"a="#, r#"{"a":""}"#),
            (SetLiteral, r#"a=null"#, r#"{"a":"null"}"#),
            (SetLiteral, r#"a=1"#, r#"{"a":"1"}"#),
            (SetLiteral, r#"a={a,b}"#, r#"{"a":"{a,b}"}"#),
            (SetLiteral, r#"a,b=c"#, r#"{"a,b":"c"}"#),
            (SetLiteral, r#"a=b=c"#, r#"{"a":"b=c"}"#),
        ];
        for (kind, expr, expected) in cases {
            let got =
                parse_set(*kind, expr).unwrap_or_else(|e| panic!("{kind} {expr:?} failed: {e}"));
            let expected: Value = serde_json::from_str(expected).unwrap();
            assert_eq!(
                normalise(&Value::Object(got)),
                normalise(&expected),
                "{kind} {expr:?}"
            );
        }
    }

    #[test]
    fn rejects_what_helm_rejects_and_names_the_problem() {
        let deep_ok = (0..=30)
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join(".")
            + "=1";
        let too_deep = (0..=31)
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join(".")
            + "=1";
        assert!(
            parse_set(Set, &deep_ok).is_ok(),
            "30 nested levels are allowed"
        );
        let cases: &[(SetKind, &str, &str)] = &[
            (
                Set,
                "a[x]=1",
                r#"invalid --set "a[x]=1": invalid list index "x""#,
            ),
            (Set, "a[ 1]=1", r#"invalid list index " 1""#),
            (Set, "a[99999999999999999999]=1", "invalid list index"),
            (Set, "a[-1]=1", "negative list index -1"),
            (Set, "a[0][-1]=1", "negative list index -1"),
            (Set, "a[65537]=1", "larger than the maximum of 65536"),
            (Set, "a[65537].b=1", "larger than the maximum of 65536"),
            (Set, "a[1]x=1", r#"unexpected "x" after a list index"#),
            (Set, "a", r#"key "a" has no value"#),
            (Set, "a\\", r#"key "a" has no value"#),
            (Set, "a.b\\", r#"key "b" has no value"#),
            (
                Set,
                "a,",
                r#"key "a" has no value (a pair cannot end with `,`)"#,
            ),
            (Set, "a=1,,b=2", r#"key "" has no value"#),
            (Set, ",a=1", r#"key "" has no value"#),
            (Set, "a=b,c", r#"key "c" has no value"#),
            (Set, "a=\\{x,y}", r#"key "y}" has no value"#),
            (Set, "a={a,b}x", r#"key "x" has no value"#),
            (Set, "a.=x", r#"key map "a" has no value"#),
            (Set, "a..b=x", r#"key map "a" has no value"#),
            (Set, "a={a", "list literal is missing its closing `}`"),
            (Set, "a=1,a.b=2", r#"key "a" already holds a number"#),
            (Set, "a=null,a.b=1", r#"key "a" already holds null"#),
            (
                Set,
                "a=1,a[0]=2",
                r#"key "a" already holds a number, so it cannot be indexed"#,
            ),
            (Set, "a.b=1,a[0]=2", r#"key "a" already holds a map"#),
            (Set, "a[0]=1,a.b=2", r#"key "a" already holds a list"#),
            (
                Set,
                "a[0]=1,a[0][0]=2",
                "list item [0] already holds a number",
            ),
            (
                Set,
                &too_deep,
                "nested deeper than the maximum of 30 levels",
            ),
            (
                SetString,
                "a",
                r#"invalid --set-string "a": key "a" has no value"#,
            ),
            (
                SetJson,
                "a=tru",
                r#"value of "a" is not valid JSON: unexpected end of input"#,
            ),
            (SetJson, "a=foo", "invalid character 'o' in literal false"),
            (
                SetJson,
                "a=bar",
                "invalid character 'b' looking for the beginning of a value",
            ),
            (SetJson, "a=-x", "invalid character 'x' in numeric literal"),
            (SetJson, "a=1.x", "after decimal point"),
            (SetJson, "a=1ex", "in exponent"),
            (SetJson, "a=[1,2", r#"value of "a" is not valid JSON"#),
            (SetJson, "a[0]={", r#"value of "[0]" is not valid JSON"#),
            (SetJson, "a=truex", r#"key "x" has no value"#),
            (SetJson, "a=01", r#"key "1" has no value"#),
            (
                SetJson,
                "{\"a\":",
                "starts with `{` but is not a JSON object",
            ),
            (
                SetLiteral,
                "a",
                r#"invalid --set-literal "a": key "a" has no value"#,
            ),
            (SetLiteral, "a.=x", r#"key map "a" has no value"#),
            (SetLiteral, "a[x]=1", r#"invalid list index "x""#),
            (SetLiteral, "a[0]x=1", r#"unexpected "x""#),
            (SetLiteral, "a[-1]=1", "negative list index -1"),
            // Helm drops these silently (exit 0 without the value); refused here.
            (Set, "=1", "a key is empty"),
            (Set, "a=1,=2", "a key is empty"),
            (SetString, "=x", "a key is empty"),
            (SetLiteral, "=x", "a key is empty"),
        ];
        for (kind, expr, needle) in cases {
            let err = parse_set(*kind, expr).expect_err(expr).to_string();
            assert!(
                err.contains(needle),
                "{kind} {expr:?}: {err:?} lacks {needle:?}"
            );
            assert!(
                err.contains("expected "),
                "{err:?} should say what the syntax is"
            );
        }
    }

    #[test]
    fn list_padding_reaches_the_maximum_index() {
        let values = parse_set(Set, "a[65536]=1").unwrap();
        let list = values["a"].as_array().unwrap();
        assert_eq!(list.len(), 65537);
        assert!(list[..65536].iter().all(Value::is_null));
        assert_eq!(list[65536], json!(1));
    }

    #[test]
    fn typed_values_follow_helm() {
        let cases = [
            ("true", json!(true)),
            ("True", json!(true)),
            ("tRuE", json!(true)),
            ("FALSE", json!(false)),
            ("falſe", json!(false)), // Go's EqualFold folds the long s
            ("Null", Value::Null),
            ("0", json!(0)),
            ("-0", json!(0)),
            ("00", json!("00")),
            ("007", json!("007")),
            ("-5", json!(-5)),
            ("+5", json!(5)),
            ("-05", json!(-5)),
            ("1e3", json!("1e3")),
            ("0x10", json!("0x10")),
            ("1.5", json!("1.5")),
            ("1_000", json!("1_000")),
            ("9223372036854775807", json!(i64::MAX)),
            ("9223372036854775808", json!("9223372036854775808")),
            ("-9223372036854775808", json!(i64::MIN)),
            (" 5", json!(" 5")),
            ("yes", json!("yes")),
            ("", json!("")),
        ];
        for (raw, expected) in cases {
            assert_eq!(typed_value(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn set_json_accepts_a_whole_object_and_deep_merges_it() {
        let mut base = parse_set(Set, "a.keep=1,a.b=2").unwrap();
        apply_set(
            SetJson,
            r#" {"a": {"b": [1, 2]}, "c": null} "#,
            &mut base,
            &NoFiles,
        )
        .unwrap();
        assert_eq!(
            Value::Object(base),
            json!({"a": {"keep": 1, "b": [1, 2]}, "c": null})
        );
    }

    #[test]
    fn set_layers_onto_existing_values() {
        let mut base = serde_json::from_value(json!({"a": {"x": 1}, "l": ["p", "q"]})).unwrap();
        apply_set(Set, "a.y=2,l[2]=r", &mut base, &NoFiles).unwrap();
        assert_eq!(
            Value::Object(base.clone()),
            json!({"a": {"x": 1, "y": 2}, "l": ["p", "q", "r"]})
        );
        let err = apply_set(Set, "a.x.z=1", &mut base, &NoFiles).unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"key "x" already holds a number"#),
            "{err}"
        );
    }

    fn fake_files(path: &str) -> std::io::Result<Vec<u8>> {
        match path {
            "cert.pem" => Ok(b"-----BEGIN-----\n".to_vec()),
            "a,b.txt" => Ok(b"comma".to_vec()),
            "007" => Ok(b"not a number".to_vec()),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file",
            )),
        }
    }

    #[test]
    fn set_file_reads_each_path_through_the_reader() {
        let mut values = Map::new();
        apply_set(
            SetFile,
            r"tls.cert=cert.pem,odd=a\,b.txt,n=007,l={cert.pem,007}",
            &mut values,
            &fake_files,
        )
        .unwrap();
        assert_eq!(
            Value::Object(values),
            json!({
                "tls": {"cert": "-----BEGIN-----\n"},
                "odd": "comma",
                "n": "not a number",
                "l": ["-----BEGIN-----\n", "not a number"],
            })
        );
    }

    #[test]
    fn set_file_names_the_missing_file() {
        let err = apply_set(SetFile, "a=missing.txt", &mut Map::new(), &fake_files).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ValuesError::SetFileRead { ref path, .. } if path == "missing.txt"));
        assert!(
            message.contains(r#"cannot read "missing.txt": no such file"#),
            "{message}"
        );
        let err = parse_set(SetFile, "a=x").unwrap_err();
        assert!(matches!(err, ValuesError::SetFileRead { .. }), "{err}");
    }

    #[test]
    fn deep_key_paths_of_every_shape_are_refused_without_overflowing_the_stack() {
        // On the default 2 MiB test thread: unbounded recursion over 20,000 levels overflows.
        let dots = format!("{}x=1", "a.".repeat(20_000));
        let lists = format!("a{}=1", "[0]".repeat(20_000));
        let mixed = format!("{}x=1", "a[0].".repeat(20_000));
        for expr in [dots, lists, mixed] {
            let err = parse_set(Set, &expr).unwrap_err();
            assert!(
                err.to_string()
                    .contains("nested deeper than the maximum of 30"),
                "{}",
                &err.to_string()[..200]
            );
        }
        let at_limit = format!("a{}=1", "[0]".repeat(MAX_KEY_DEPTH));
        parse_set(Set, &at_limit).unwrap();
    }

    #[test]
    fn set_file_refuses_fifos_devices_and_huge_files_unread() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = crate::input::test_files::fifo(&dir.path().join("pipe"));
        let sparse = dir.path().join("sparse");
        std::fs::File::create(&sparse)
            .unwrap()
            .set_len(5 << 30)
            .unwrap();
        for (path, why) in [
            (fifo.display().to_string(), "FIFO"),
            ("/dev/zero".to_string(), "character device"),
            ("/dev/urandom".to_string(), "character device"),
            (sparse.display().to_string(), "over the limit"),
        ] {
            let expr = format!("x={path}");
            let err = apply_set(SetFile, &expr, &mut Map::new(), &LocalFiles).unwrap_err();
            assert!(matches!(err, ValuesError::SetFileRefused { .. }), "{err}");
            let message = err.to_string();
            assert!(
                message.contains(why) && message.contains(&path),
                "{message}"
            );
        }
    }
}
