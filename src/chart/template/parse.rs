//! Parser for Go's text/template: turns tokens into a tree of nodes plus `define`d templates.

use super::lex::{lex, SyntaxError, Tok, Token};
use std::rc::Rc;

#[derive(Debug, Clone)]
pub enum Node {
    Text(Rc<str>),
    Action(Pipeline),
    If(Branch),
    With(Branch),
    Range(Branch),
    Template {
        name: String,
        pipe: Option<Pipeline>,
        pos: usize,
    },
    Break(usize),
    Continue(usize),
}

/// `if`, `with` and `range`: a pipeline, a body and an optional `else` body.
#[derive(Debug, Clone)]
pub struct Branch {
    pub pipe: Pipeline,
    pub body: Vec<Node>,
    pub else_body: Vec<Node>,
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub pos: usize,
    /// End offset of the action's source, to quote it in errors.
    pub end: usize,
    pub decl: Vec<String>,
    /// `=` rather than `:=`.
    pub is_assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub enum Arg {
    /// `.A.B` on dot; an empty chain is dot itself.
    Field(Vec<String>),
    /// `$x.A.B`.
    Variable(String, Vec<String>),
    /// `(pipeline).A.B` or a literal followed by fields.
    Chain(Box<Arg>, Vec<String>),
    Pipe(Box<Pipeline>),
    Ident(String),
    Str(Rc<str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
}

/// Deepest nesting of blocks (`if`/`with`/`range`/`define`/`block`, each `else if` of a chain)
/// and parenthesised pipelines a template may have. The parser and the executor recurse once
/// per level, and a debug build spends about 10 KiB of stack per level, so without a limit a
/// hostile `tpl` value (or a generated chart) of a few hundred levels overflows the stack.
/// Real charts nest a handful of levels; Go's own parser stops parentheses at 10,000 only
/// because its stacks grow.
pub const MAX_NESTING: usize = 100;

/// A parsed file: its main body and the templates it defines.
pub struct Parsed {
    pub body: Vec<Node>,
    pub defines: Vec<(String, Vec<Node>)>,
}

/// Parses template source.
pub fn parse(src: &str) -> Result<Parsed, SyntaxError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        defines: Vec::new(),
        depth: 0,
    };
    let (body, end) = p.list()?;
    if let Some(e) = end {
        return Err(SyntaxError {
            pos: e.1,
            message: format!("unexpected {{{{{}}}}}", e.0),
        });
    }
    Ok(Parsed {
        body,
        defines: p.defines,
    })
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    defines: Vec<(String, Vec<Node>)>,
    /// Current nesting, checked against [`MAX_NESTING`].
    depth: usize,
}

/// How a list ended: `end` or `else` (with its position).
type ListEnd = Option<(&'static str, usize)>;

impl Parser {
    /// Enters one level of nesting at `pos`, refusing to go past [`MAX_NESTING`]; every
    /// successful call is paired with a `self.depth -= 1` once the level is parsed.
    fn nest(&mut self, pos: usize) -> Result<(), SyntaxError> {
        if self.depth >= MAX_NESTING {
            return Err(SyntaxError {
                pos,
                message: format!(
                    "template nests deeper than {MAX_NESTING} levels of blocks, `else if` \
                     branches and parentheses; flatten it (e.g. move inner parts into a `define`)"
                ),
            });
        }
        self.depth += 1;
        Ok(())
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn next(&mut self) -> Result<Token, SyntaxError> {
        let t = self.toks.get(self.i).cloned().ok_or_else(|| SyntaxError {
            pos: self.toks.last().map(|t| t.pos).unwrap_or(0),
            message: "unexpected EOF".into(),
        })?;
        self.i += 1;
        Ok(t)
    }

    fn expect_close(&mut self, ctx: &str) -> Result<(), SyntaxError> {
        let t = self.next()?;
        match t.tok {
            Tok::Close => Ok(()),
            other => Err(SyntaxError {
                pos: t.pos,
                message: format!("unexpected {} in {ctx}", describe(&other)),
            }),
        }
    }

    /// Parses nodes until EOF, `{{end}}` or `{{else}}` (which is left for the caller when it is
    /// `else`; `end` is consumed).
    fn list(&mut self) -> Result<(Vec<Node>, ListEnd), SyntaxError> {
        let mut nodes = Vec::new();
        while let Some(t) = self.peek().cloned() {
            match t.tok {
                Tok::Text(s) => {
                    self.i += 1;
                    nodes.push(Node::Text(Rc::from(s.as_str())));
                }
                Tok::Open => {
                    self.i += 1;
                    let kw = self.peek().cloned();
                    match kw.as_ref().map(|k| &k.tok) {
                        Some(Tok::Keyword("end")) => {
                            self.i += 1;
                            self.expect_close("end")?;
                            return Ok((nodes, Some(("end", t.pos))));
                        }
                        Some(Tok::Keyword("else")) => {
                            self.i += 1;
                            return Ok((nodes, Some(("else", t.pos))));
                        }
                        Some(Tok::Keyword(k)) => {
                            let k: &'static str = k;
                            self.i += 1;
                            if let Some(n) = self.keyword(k, t.pos)? {
                                nodes.push(n);
                            }
                        }
                        _ => {
                            let pipe = self.pipeline(t.pos, true)?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
                other => {
                    return Err(SyntaxError {
                        pos: t.pos,
                        message: format!("unexpected {}", describe(&other)),
                    })
                }
            }
        }
        Ok((nodes, None))
    }

    fn keyword(&mut self, k: &'static str, pos: usize) -> Result<Option<Node>, SyntaxError> {
        match k {
            "if" | "with" | "range" => {
                let b = self.branch(k, pos)?;
                Ok(Some(match k {
                    "if" => Node::If(b),
                    "with" => Node::With(b),
                    _ => Node::Range(b),
                }))
            }
            "break" | "continue" => {
                self.expect_close(k)?;
                Ok(Some(if k == "break" {
                    Node::Break(pos)
                } else {
                    Node::Continue(pos)
                }))
            }
            "template" | "block" => {
                let t = self.next()?;
                let Tok::Str(name) = t.tok else {
                    return Err(SyntaxError {
                        pos: t.pos,
                        message: format!("unexpected {} in {k} clause", describe(&t.tok)),
                    });
                };
                let pipe = if matches!(self.peek().map(|t| &t.tok), Some(Tok::Close)) {
                    self.i += 1;
                    None
                } else {
                    Some(self.pipeline(pos, false)?)
                };
                if k == "block" {
                    self.nest(pos)?;
                    let listed = self.list();
                    self.depth -= 1;
                    let (body, end) = listed?;
                    if end.map(|e| e.0) != Some("end") {
                        return Err(SyntaxError {
                            pos,
                            message: "unexpected EOF in block".into(),
                        });
                    }
                    self.defines.push((name.clone(), body));
                }
                Ok(Some(Node::Template { name, pipe, pos }))
            }
            "define" => {
                let t = self.next()?;
                let Tok::Str(name) = t.tok else {
                    return Err(SyntaxError {
                        pos: t.pos,
                        message: "define clause needs a quoted name".into(),
                    });
                };
                self.expect_close("define clause")?;
                self.nest(pos)?;
                let listed = self.list();
                self.depth -= 1;
                let (body, end) = listed?;
                if end.map(|e| e.0) != Some("end") {
                    return Err(SyntaxError {
                        pos,
                        message: format!("unexpected EOF in define {name:?}"),
                    });
                }
                self.defines.push((name, body));
                Ok(None)
            }
            other => Err(SyntaxError {
                pos,
                message: format!("unexpected {{{{{other}}}}}"),
            }),
        }
    }

    fn branch(&mut self, k: &'static str, pos: usize) -> Result<Branch, SyntaxError> {
        self.nest(pos)?;
        let branch = self.branch_body(k, pos);
        self.depth -= 1;
        branch
    }

    fn branch_body(&mut self, k: &'static str, pos: usize) -> Result<Branch, SyntaxError> {
        let pipe = self.pipeline(pos, true)?;
        let (body, end) = self.list()?;
        let mut else_body = Vec::new();
        match end {
            Some(("end", _)) => {}
            Some(("else", epos)) => {
                // `{{else if ...}}` / `{{else with ...}}` chain into a nested branch.
                if let Some(Tok::Keyword(k2)) = self.peek().map(|t| t.tok.clone()) {
                    if (k2 == "if" || k2 == "with") && (k == "if" || k == "with") {
                        self.i += 1;
                        let inner = self.branch(k2, epos)?;
                        else_body.push(if k2 == "if" {
                            Node::If(inner)
                        } else {
                            Node::With(inner)
                        });
                        return Ok(Branch {
                            pipe,
                            body,
                            else_body,
                        });
                    }
                }
                self.expect_close("else")?;
                let (eb, end2) = self.list()?;
                if end2.map(|e| e.0) != Some("end") {
                    return Err(SyntaxError {
                        pos,
                        message: format!(
                            "expected end; found {}",
                            end2.map(|e| e.0).unwrap_or("EOF")
                        ),
                    });
                }
                else_body = eb;
            }
            _ => {
                return Err(SyntaxError {
                    pos,
                    message: format!("unexpected EOF in {k}"),
                })
            }
        }
        Ok(Branch {
            pipe,
            body,
            else_body,
        })
    }

    /// Parses `[decl :=] cmd | cmd ...` up to and including `}}` (or `)` when nested).
    fn pipeline(&mut self, pos: usize, allow_decl: bool) -> Result<Pipeline, SyntaxError> {
        let mut decl = Vec::new();
        let mut is_assign = false;
        if allow_decl {
            // Look ahead for `$x :=`, `$x =` or `$i, $v :=`.
            let save = self.i;
            let mut vars = Vec::new();
            loop {
                match self.peek().map(|t| t.tok.clone()) {
                    Some(Tok::Variable(v)) => {
                        self.i += 1;
                        vars.push(v);
                        match self.peek().map(|t| t.tok.clone()) {
                            Some(Tok::Declare) => {
                                self.i += 1;
                                decl = vars;
                                break;
                            }
                            Some(Tok::Assign) => {
                                self.i += 1;
                                decl = vars;
                                is_assign = true;
                                break;
                            }
                            Some(Tok::Comma) if vars.len() == 1 => {
                                self.i += 1;
                                continue;
                            }
                            _ => {
                                self.i = save;
                                break;
                            }
                        }
                    }
                    _ => {
                        self.i = save;
                        break;
                    }
                }
            }
        }
        let mut cmds = Vec::new();
        let end;
        loop {
            let cmd = self.command()?;
            cmds.push(cmd);
            let t = self.next()?;
            match t.tok {
                Tok::Pipe => continue,
                Tok::Close | Tok::RParen => {
                    end = t.pos;
                    break;
                }
                other => {
                    return Err(SyntaxError {
                        pos: t.pos,
                        message: format!("unexpected {} in operand", describe(&other)),
                    })
                }
            }
        }
        if cmds.iter().any(|c| c.args.is_empty()) {
            return Err(SyntaxError {
                pos,
                message: "missing value for command".into(),
            });
        }
        Ok(Pipeline {
            pos,
            end,
            decl,
            is_assign,
            cmds,
        })
    }

    fn command(&mut self) -> Result<Command, SyntaxError> {
        let pos = self.peek().map(|t| t.pos).unwrap_or(0);
        let mut args = Vec::new();
        loop {
            match self.peek().map(|t| &t.tok) {
                None | Some(Tok::Close) | Some(Tok::RParen) | Some(Tok::Pipe) => break,
                _ => {}
            }
            let a = self.operand()?;
            args.push(a);
        }
        Ok(Command { pos, args })
    }

    fn operand(&mut self) -> Result<Arg, SyntaxError> {
        let t = self.next()?;
        let term = match t.tok {
            Tok::Field(f) => {
                let mut chain = vec![f];
                self.fields(&mut chain);
                return Ok(Arg::Field(chain));
            }
            Tok::Dot => Arg::Field(Vec::new()),
            Tok::Variable(v) => {
                let mut chain = Vec::new();
                self.fields(&mut chain);
                return Ok(Arg::Variable(v, chain));
            }
            Tok::LParen => {
                self.nest(t.pos)?;
                let p = self.pipeline(t.pos, true);
                self.depth -= 1;
                Arg::Pipe(Box::new(p?))
            }
            Tok::Ident(name) => Arg::Ident(name),
            Tok::Str(s) => Arg::Str(Rc::from(s.as_str())),
            Tok::Bool(b) => Arg::Bool(b),
            Tok::Nil => Arg::Nil,
            Tok::Char(c) => Arg::Int(c as i64),
            Tok::Number(n) => parse_number(&n).ok_or(SyntaxError {
                pos: t.pos,
                message: format!("bad number syntax: {n:?}"),
            })?,
            other => {
                return Err(SyntaxError {
                    pos: t.pos,
                    message: format!("unexpected {} in operand", describe(&other)),
                })
            }
        };
        let mut chain = Vec::new();
        self.fields(&mut chain);
        if chain.is_empty() {
            Ok(term)
        } else {
            Ok(Arg::Chain(Box::new(term), chain))
        }
    }

    /// Collects `.A.B` fields written directly after a term (no space between).
    fn fields(&mut self, chain: &mut Vec<String>) {
        while let Some(t) = self.peek() {
            match &t.tok {
                Tok::Field(f) if !t.space_before => {
                    chain.push(f.clone());
                    self.i += 1;
                }
                _ => break,
            }
        }
    }
}

fn parse_number(s: &str) -> Option<Arg> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let clean: String = body.chars().filter(|c| *c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains('p') {
            None
        } else {
            i64::from_str_radix(h, 16).ok()
        }
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.chars().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.chars().all(|c| c.is_ascii_digit()) {
        lower.parse().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(Arg::Int(if neg { -i } else { i }));
    }
    let f: f64 = lower.parse().ok()?;
    Some(Arg::Float(if neg { -f } else { f }))
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Close => "\"}}\"".into(),
        Tok::Open => "\"{{\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Keyword(k) => format!("<{k}>"),
        Tok::Ident(i) => format!("{i:?}"),
        Tok::Text(_) => "text".into(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, MAX_NESTING};
    use crate::chart::template::{render_str, Value};

    /// `n` levels of each nesting construct around `x`.
    fn nested(construct: &str, n: usize) -> String {
        match construct {
            "if" | "with" | "range" => {
                format!(
                    "{}x{}",
                    format!("{{{{ {construct} 1 }}}}").repeat(n),
                    "{{ end }}".repeat(n)
                )
            }
            // Distinct names: nested blocks of one name would recurse at execution, which
            // is the executor's include limit, not nesting.
            "define" | "block" => {
                let open: String = (0..n)
                    .map(|i| match construct {
                        "define" => format!("{{{{ define \"d{i}\" }}}}"),
                        _ => format!("{{{{ block \"b{i}\" . }}}}"),
                    })
                    .collect();
                format!("{open}x{}", "{{ end }}".repeat(n))
            }
            "else if" => format!(
                "{{{{ if 0 }}}}{}x{{{{ end }}}}",
                "{{ else if 0 }}".repeat(n - 1)
            ),
            "paren" => format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n)),
            other => unreachable!("{other}"),
        }
    }

    const CONSTRUCTS: [&str; 7] = ["if", "with", "range", "define", "block", "else if", "paren"];

    #[test]
    fn nesting_up_to_the_limit_parses_and_renders() {
        for construct in CONSTRUCTS {
            let src = nested(construct, MAX_NESTING);
            assert!(parse(&src).is_ok(), "{construct}");
            render_str("t.yaml", &src, &Value::Nil).unwrap_or_else(|e| panic!("{construct}: {e}"));
        }
    }

    #[test]
    fn nesting_past_the_limit_is_a_syntax_error_naming_the_limit() {
        for construct in CONSTRUCTS {
            let err = parse(&nested(construct, MAX_NESTING + 1))
                .err()
                .unwrap_or_else(|| panic!("{construct} past the limit parsed"));
            assert!(
                err.message.contains("nests deeper than 100 levels"),
                "{construct}: {}",
                err.message
            );
        }
    }

    /// Before the limit, a few hundred levels overflowed a test thread's stack (a crash, not
    /// an error): 200 nested `if`s in a debug build, thousands in a release one.
    #[test]
    fn hostile_nesting_fails_with_a_position_instead_of_overflowing_the_stack() {
        for construct in CONSTRUCTS {
            let src = nested(construct, 20_000);
            let err = render_str("values.yaml", &src, &Value::Nil)
                .err()
                .unwrap_or_else(|| panic!("{construct} 20,000 deep rendered"));
            assert!(
                err.to_string()
                    .starts_with("parse error at (values.yaml:1:"),
                "{construct}: {err}"
            );
        }
    }
}
