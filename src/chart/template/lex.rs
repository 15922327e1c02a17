//! Lexer for Go's text/template syntax: text, `{{ }}` actions with trim markers, comments.

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Text(String),
    /// Start of an action (`{{`), after left-trimming has been applied to the preceding text.
    Open,
    /// End of an action (`}}`).
    Close,
    Ident(String),
    Keyword(&'static str),
    Field(String),
    Variable(String),
    Dot,
    Str(String),
    Number(String),
    Char(char),
    Bool(bool),
    Nil,
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// A token, its byte offset in the source and whether white space preceded it inside an action.
#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
    pub space_before: bool,
}

/// A lexing or parsing failure at a byte offset.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub pos: usize,
    pub message: String,
}

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits template source into tokens.
pub fn lex(src: &str) -> Result<Vec<Token>, SyntaxError> {
    let b = src.as_bytes();
    let mut toks: Vec<Token> = Vec::new();
    let mut i = 0;
    let mut text_start = 0;
    let mut trim_next_text = false;
    while i < b.len() {
        let Some(off) = src[i..].find("{{") else {
            break;
        };
        let open = i + off;
        // Left trim marker: "{{- " with a space after the dash.
        let left_trim =
            b.get(open + 2) == Some(&b'-') && b.get(open + 3).is_some_and(|c| is_space(*c));
        let mut text = &src[text_start..open];
        if trim_next_text {
            text = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
        }
        if left_trim {
            text = text.trim_end_matches(|c: char| c.is_ascii_whitespace());
        }
        if !text.is_empty() {
            toks.push(Token {
                tok: Tok::Text(text.to_string()),
                pos: text_start,
                space_before: false,
            });
        }
        let mut j = open + 2 + if left_trim { 2 } else { 0 };
        // Comments: {{/* ... */}} with optional trim markers around.
        let mut k = j;
        while k < b.len() && is_space(b[k]) {
            k += 1;
        }
        if src[k..].starts_with("/*") {
            let Some(end) = src[k + 2..].find("*/") else {
                return Err(SyntaxError {
                    pos: open,
                    message: "unclosed comment".into(),
                });
            };
            let mut after = k + 2 + end + 2;
            let right_trim;
            let rest = &src[after..];
            if rest.starts_with(" -}}") || rest.starts_with("\t-}}") || rest.starts_with("\n-}}") {
                right_trim = true;
                after += 4;
            } else if rest.starts_with("}}") {
                right_trim = false;
                after += 2;
            } else {
                return Err(SyntaxError {
                    pos: open,
                    message: "comment ends before closing delimiter".into(),
                });
            }
            i = after;
            text_start = after;
            trim_next_text = right_trim;
            continue;
        }
        toks.push(Token {
            tok: Tok::Open,
            pos: open,
            space_before: false,
        });
        // Inside the action.
        let mut space = false;
        loop {
            if j >= b.len() {
                return Err(SyntaxError {
                    pos: open,
                    message: "unclosed action".into(),
                });
            }
            let c = b[j];
            if is_space(c) {
                // Right trim marker: " -}}".
                if b.get(j + 1) == Some(&b'-') && src[j + 2..].starts_with("}}") {
                    toks.push(Token {
                        tok: Tok::Close,
                        pos: j,
                        space_before: true,
                    });
                    j += 4;
                    trim_next_text = true;
                    break;
                }
                space = true;
                j += 1;
                continue;
            }
            if src[j..].starts_with("}}") {
                toks.push(Token {
                    tok: Tok::Close,
                    pos: j,
                    space_before: space,
                });
                j += 2;
                trim_next_text = false;
                break;
            }
            let start = j;
            let tok = match c {
                b'(' => {
                    j += 1;
                    Tok::LParen
                }
                b')' => {
                    j += 1;
                    Tok::RParen
                }
                b'|' => {
                    j += 1;
                    Tok::Pipe
                }
                b',' => {
                    j += 1;
                    Tok::Comma
                }
                b'=' => {
                    j += 1;
                    Tok::Assign
                }
                b':' => {
                    if b.get(j + 1) == Some(&b'=') {
                        j += 2;
                        Tok::Declare
                    } else {
                        return Err(SyntaxError {
                            pos: j,
                            message: "expected :=".into(),
                        });
                    }
                }
                b'"' => {
                    let (s, end) = lex_quoted(src, j)?;
                    j = end;
                    Tok::Str(s)
                }
                b'`' => {
                    let Some(end) = src[j + 1..].find('`') else {
                        return Err(SyntaxError {
                            pos: j,
                            message: "unterminated raw quoted string".into(),
                        });
                    };
                    let s = src[j + 1..j + 1 + end].to_string();
                    j = j + 1 + end + 1;
                    Tok::Str(s)
                }
                b'\'' => {
                    let (s, end) = lex_char(src, j)?;
                    j = end;
                    Tok::Char(s)
                }
                b'$' => {
                    j += 1;
                    while j < b.len()
                        && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80)
                    {
                        j += 1;
                    }
                    Tok::Variable(src[start..j].to_string())
                }
                b'.' => {
                    if b.get(j + 1).is_some_and(|c| c.is_ascii_digit()) {
                        j = lex_number(b, j);
                        Tok::Number(src[start..j].to_string())
                    } else {
                        j += 1;
                        let f0 = j;
                        while j < b.len()
                            && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80)
                        {
                            j += 1;
                        }
                        if j == f0 {
                            Tok::Dot
                        } else {
                            Tok::Field(src[f0..j].to_string())
                        }
                    }
                }
                b'0'..=b'9' | b'+' | b'-' => {
                    j = lex_number(b, j);
                    if j == start + 1 && (c == b'+' || c == b'-') {
                        return Err(SyntaxError {
                            pos: start,
                            message: format!("bad number syntax: {:?}", c as char),
                        });
                    }
                    Tok::Number(src[start..j].to_string())
                }
                c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                    while j < b.len()
                        && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80)
                    {
                        j += 1;
                    }
                    let word = &src[start..j];
                    match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        w => match KEYWORDS.iter().find(|k| **k == w) {
                            Some(k) => Tok::Keyword(k),
                            None => Tok::Ident(w.to_string()),
                        },
                    }
                }
                other => {
                    return Err(SyntaxError {
                        pos: j,
                        message: format!("unexpected {:?} in command", other as char),
                    })
                }
            };
            toks.push(Token {
                tok,
                pos: start,
                space_before: space,
            });
            space = false;
        }
        i = j;
        text_start = j;
    }
    let mut text = &src[text_start.min(src.len())..];
    if trim_next_text {
        text = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
    }
    if !text.is_empty() {
        toks.push(Token {
            tok: Tok::Text(text.to_string()),
            pos: text_start,
            space_before: false,
        });
    }
    Ok(toks)
}

fn lex_number(b: &[u8], mut j: usize) -> usize {
    if b[j] == b'+' || b[j] == b'-' {
        j += 1;
    }
    while j < b.len() {
        let c = b[j];
        let prev = b[j - 1];
        if c.is_ascii_alphanumeric()
            || c == b'_'
            || c == b'.'
            || ((c == b'+' || c == b'-') && matches!(prev, b'e' | b'E' | b'p' | b'P'))
        {
            j += 1;
        } else {
            break;
        }
    }
    j
}

fn lex_quoted(src: &str, start: usize) -> Result<(String, usize), SyntaxError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + off + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..n)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        let code = u32::from_str_radix(&hex, 16).map_err(|_| SyntaxError {
                            pos: start,
                            message: format!("invalid escape \\{e}{hex}"),
                        })?;
                        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    d if d.is_digit(8) => {
                        let mut oct = d.to_string();
                        for _ in 0..2 {
                            if let Some((_, c)) = chars.next() {
                                oct.push(c);
                            }
                        }
                        let code = u32::from_str_radix(&oct, 8).unwrap_or(0);
                        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    other => {
                        return Err(SyntaxError {
                            pos: start,
                            message: format!("unknown escape sequence \\{other}"),
                        })
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(SyntaxError {
        pos: start,
        message: "unterminated quoted string".into(),
    })
}

fn lex_char(src: &str, start: usize) -> Result<(char, usize), SyntaxError> {
    let rest = &src[start + 1..];
    let mut it = rest.char_indices();
    let (c, mut end) = match it.next() {
        Some((_, '\\')) => {
            let Some((o, e)) = it.next() else {
                return Err(SyntaxError {
                    pos: start,
                    message: "unterminated character constant".into(),
                });
            };
            let c = match e {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '\\' => '\\',
                '\'' => '\'',
                '0' => '\0',
                other => other,
            };
            (c, o + e.len_utf8())
        }
        Some((o, c)) => (c, o + c.len_utf8()),
        None => {
            return Err(SyntaxError {
                pos: start,
                message: "unterminated character constant".into(),
            })
        }
    };
    if !rest[end..].starts_with('\'') {
        return Err(SyntaxError {
            pos: start,
            message: "unterminated character constant".into(),
        });
    }
    end += 1;
    Ok((c, start + 1 + end))
}
