//! Executes parsed templates with Go's text/template semantics and Helm's engine rules
//! (missing keys render as nothing, `include`/`tpl` recursion limit, shared mutable values).

use super::gofmt;
use super::lex::SyntaxError;
use super::parse::{parse, Arg, Branch, Command, Node, Pipeline};
use super::value::Value;
use std::collections::HashMap;
use std::rc::Rc;

/// A function callable from templates. It receives the executor so that `include` and `tpl`
/// can render other templates.
pub type Func = fn(&mut Exec, Vec<Value>) -> Result<Value, FuncError>;

/// Why a template function failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FuncError {
    /// The call went wrong (bad arguments, a conversion): "error calling NAME: ...".
    Call(String),
    /// The chart said stop (`fail`, `required`): Helm's "execution error at (...)".
    User(String),
}

impl std::fmt::Display for FuncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FuncError::Call(m) | FuncError::User(m) => f.write_str(m),
        }
    }
}

impl From<String> for FuncError {
    fn from(message: String) -> Self {
        FuncError::Call(message)
    }
}

impl From<&str> for FuncError {
    fn from(message: &str) -> Self {
        FuncError::Call(message.to_string())
    }
}

/// Functions by name.
pub type FuncMap = HashMap<&'static str, Func>;

/// One named template: its nodes and the file they were written in.
#[derive(Clone)]
pub struct TemplateDef {
    pub body: Rc<Vec<Node>>,
    pub file: Rc<str>,
    pub source: Rc<str>,
}

/// A set of templates sharing one namespace of `define`d names, like Go's `*template.Template`.
#[derive(Clone, Default)]
pub struct TemplateSet {
    pub templates: HashMap<String, TemplateDef>,
}

/// A template failure with the file position and the action that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// The template being executed (a file or a `define`d name), empty for parse errors.
    pub template: String,
    /// The source of the failing action, e.g. `{{ .Values.x.y }}`.
    pub action: String,
    pub message: String,
    /// `fail` and `required` errors, which Helm reports as "execution error at (...)".
    pub user_error: bool,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.user_error {
            write!(
                f,
                "execution error at ({}:{}:{}): {}",
                self.file, self.line, self.col, self.message
            )
        } else if self.template.is_empty() {
            write!(
                f,
                "parse error at ({}:{}:{}): {}",
                self.file, self.line, self.col, self.message
            )
        } else {
            write!(
                f,
                "template: {}:{}:{}: executing {:?} at <{}>: {}",
                self.file, self.line, self.col, self.template, self.action, self.message
            )
        }
    }
}

impl std::error::Error for TemplateError {}

impl TemplateError {
    /// A render stopped because all its templates together passed `limit` bytes.
    pub fn render_too_large(file: &str, limit: usize) -> TemplateError {
        TemplateError {
            file: file.to_string(),
            line: 1,
            col: 1,
            template: String::new(),
            action: String::new(),
            message: format!(
                "the chart's rendered output passed {} MiB (the limit of a render) at this template; check the values that make it grow",
                limit >> 20
            ),
            user_error: true,
        }
    }
}

/// Line and column (1-based) of a byte offset.
pub fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src[..pos];
    let line = before.matches('\n').count() + 1;
    let col = pos - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

impl TemplateSet {
    /// Parses a file and adds it (named `name`) and its `define`s to the set; later definitions
    /// replace earlier ones, as in Go.
    pub fn add_file(&mut self, name: &str, src: &str) -> Result<(), TemplateError> {
        let parsed = parse(src).map_err(|e| syntax_error(name, src, e))?;
        let file: Rc<str> = Rc::from(name);
        let source: Rc<str> = Rc::from(src);
        for (dname, body) in parsed.defines {
            self.templates.insert(
                dname,
                TemplateDef {
                    body: Rc::new(body),
                    file: file.clone(),
                    source: source.clone(),
                },
            );
        }
        self.templates.insert(
            name.to_string(),
            TemplateDef {
                body: Rc::new(parsed.body),
                file,
                source,
            },
        );
        Ok(())
    }

    /// Checks that every function named in the set exists, as Go does at parse time.
    pub fn check_functions(&self, funcs: &FuncMap) -> Result<(), TemplateError> {
        let mut names: Vec<&String> = self.templates.keys().collect();
        names.sort();
        for name in names {
            let def = &self.templates[name];
            if let Some((fname, pos)) = find_unknown_func(&def.body, funcs) {
                let (line, col) = line_col(&def.source, pos);
                return Err(TemplateError {
                    file: def.file.to_string(),
                    line,
                    col,
                    template: String::new(),
                    action: String::new(),
                    message: format!("function {fname:?} not defined"),
                    user_error: false,
                });
            }
        }
        Ok(())
    }
}

fn syntax_error(file: &str, src: &str, e: SyntaxError) -> TemplateError {
    let (line, col) = line_col(src, e.pos);
    TemplateError {
        file: file.to_string(),
        line,
        col,
        template: String::new(),
        action: String::new(),
        message: e.message,
        user_error: false,
    }
}

fn find_unknown_func(nodes: &[Node], funcs: &FuncMap) -> Option<(String, usize)> {
    fn in_pipe(p: &Pipeline, funcs: &FuncMap) -> Option<(String, usize)> {
        for c in &p.cmds {
            for a in &c.args {
                if let Some(r) = in_arg(a, c.pos, funcs) {
                    return Some(r);
                }
            }
        }
        None
    }
    fn in_arg(a: &Arg, pos: usize, funcs: &FuncMap) -> Option<(String, usize)> {
        match a {
            Arg::Ident(n) if !funcs.contains_key(n.as_str()) && n != "and" && n != "or" => {
                Some((n.clone(), pos))
            }
            Arg::Pipe(p) => in_pipe(p, funcs),
            Arg::Chain(inner, _) => in_arg(inner, pos, funcs),
            _ => None,
        }
    }
    for n in nodes {
        let r = match n {
            Node::Action(p) => in_pipe(p, funcs),
            Node::If(b) | Node::With(b) | Node::Range(b) => in_pipe(&b.pipe, funcs)
                .or_else(|| find_unknown_func(&b.body, funcs))
                .or_else(|| find_unknown_func(&b.else_body, funcs)),
            Node::Template { pipe: Some(p), .. } => in_pipe(p, funcs),
            _ => None,
        };
        if r.is_some() {
            return r;
        }
    }
    None
}

enum Flow {
    Normal,
    Break,
    Continue,
}

/// Where an error happened, for messages.
#[derive(Clone)]
struct Frame {
    name: Rc<str>,
    file: Rc<str>,
    source: Rc<str>,
}

/// A running template execution.
pub struct Exec<'a> {
    pub set: &'a TemplateSet,
    pub funcs: &'a FuncMap,
    /// Templates defined by `tpl` strings during this run.
    overlay: HashMap<String, TemplateDef>,
    vars: Vec<(String, Value)>,
    frame: Frame,
    depth: usize,
    /// What functions need from the render (`lookup`).
    pub context: Rc<FuncContext>,
}

/// Render-wide services for functions.
#[derive(Default)]
pub struct FuncContext {
    /// Answers `lookup apiVersion kind namespace name`; absent without a cluster, where Helm
    /// returns an empty map.
    #[allow(clippy::type_complexity)]
    pub lookup: Option<Box<dyn Fn(&str, &str, &str, &str) -> Result<Value, String>>>,
    /// `fromYaml` results by input: charts that deep-copy with `toYaml | fromYaml` parse the
    /// same text many times. Callers get a deep copy, since maps are mutable.
    pub from_yaml_cache: std::cell::RefCell<HashMap<String, Value>>,
}

/// Most text one template execution, and one whole render, may produce: a chart's output must
/// fit in Helm's release Secret (1 MiB compressed), so 64 MiB is far above any real chart and
/// still stops a hostile template before it exhausts memory.
pub const MAX_OUTPUT_BYTES: usize = 64 << 20;

/// Limit on nested `include`/`tpl`/`template`/`block` calls. Helm allows 1000, but each level
/// costs this executor some 13 KiB of stack in a debug build, so a template that includes
/// itself overflowed a 2 MiB stack at about 150 levels; real charts nest a handful
/// (fuzz_parsers found it). Equal to the parser's nesting limit, so that 100 nested `block`s
/// that parse also render (the file being rendered is the first call).
const MAX_DEPTH: usize = super::parse::MAX_NESTING + 1; // + the template file itself

impl<'a> Exec<'a> {
    pub fn new(set: &'a TemplateSet, funcs: &'a FuncMap, context: Rc<FuncContext>) -> Self {
        Exec {
            set,
            funcs,
            overlay: HashMap::new(),
            vars: Vec::new(),
            frame: Frame {
                name: Rc::from(""),
                file: Rc::from(""),
                source: Rc::from(""),
            },
            depth: 0,
            context,
        }
    }

    fn lookup(&self, name: &str) -> Option<TemplateDef> {
        self.overlay
            .get(name)
            .or_else(|| self.set.templates.get(name))
            .cloned()
    }

    /// Executes the named template with `data` as dot and `$`, returning its output.
    pub fn execute_named(&mut self, name: &str, data: &Value) -> Result<String, TemplateError> {
        let Some(def) = self.lookup(name) else {
            return Err(self.error_at(
                0,
                0,
                format!("no template {name:?} associated with template \"gotpl\""),
            ));
        };
        self.run_def(name, &def, data)
    }

    fn run_def(
        &mut self,
        name: &str,
        def: &TemplateDef,
        data: &Value,
    ) -> Result<String, TemplateError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error_at(
                0,
                0,
                format!("rendering template has a nested reference name: {name}"),
            ));
        }
        self.depth += 1;
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".to_string(), data.clone())]);
        let saved_frame = std::mem::replace(
            &mut self.frame,
            Frame {
                name: Rc::from(name),
                file: def.file.clone(),
                source: def.source.clone(),
            },
        );
        let mut out = String::new();
        let r = self.walk(&def.body, data, &mut out);
        self.vars = saved_vars;
        self.frame = saved_frame;
        self.depth -= 1;
        match r {
            Ok(_) => Ok(out),
            Err(e) => Err(e),
        }
    }

    /// Parses `src` as a template (Helm's `tpl`) and executes it with `data`.
    pub fn execute_source(
        &mut self,
        name: &str,
        src: &str,
        data: &Value,
    ) -> Result<String, TemplateError> {
        let parsed = parse(src).map_err(|e| syntax_error(name, src, e))?;
        let file: Rc<str> = Rc::from(name);
        let source: Rc<str> = Rc::from(src);
        for (dname, body) in parsed.defines {
            self.overlay.insert(
                dname,
                TemplateDef {
                    body: Rc::new(body),
                    file: file.clone(),
                    source: source.clone(),
                },
            );
        }
        let def = TemplateDef {
            body: Rc::new(parsed.body),
            file,
            source,
        };
        self.run_def(name, &def, data)
    }

    /// The name of the file being executed (Helm's `.Template.Name` for `tpl`).
    pub fn current_file(&self) -> &str {
        &self.frame.file
    }

    fn error_at(&self, pos: usize, end: usize, message: String) -> TemplateError {
        self.error_of(pos, end, message, false)
    }

    /// [`Self::error_at`], for a user error (`fail`, `required`) when `user_error`.
    fn error_of(&self, pos: usize, end: usize, message: String, user_error: bool) -> TemplateError {
        let (line, col) = line_col(&self.frame.source, pos);
        let src = &self.frame.source;
        let action = if end > pos && end <= src.len() {
            src[pos..end]
                .trim_start_matches("{{")
                .trim_start_matches('-')
                .trim()
                .to_string()
        } else {
            String::new()
        };
        TemplateError {
            file: self.frame.file.to_string(),
            line,
            col,
            template: self.frame.name.to_string(),
            action,
            message,
            user_error,
        }
    }

    /// Stops a template whose output passed [`MAX_OUTPUT_BYTES`] (a `range` over a huge list,
    /// nested `include`s that multiply text), before it exhausts memory.
    fn check_output_size(&self, out: &str, pos: usize) -> Result<(), TemplateError> {
        if out.len() <= MAX_OUTPUT_BYTES {
            return Ok(());
        }
        Err(self.error_at(
            pos,
            pos,
            format!(
                "the output of {} is over {} MiB, the limit of a rendered template; check the loop or repeat that makes it grow",
                self.frame.name,
                MAX_OUTPUT_BYTES >> 20
            ),
        ))
    }

    fn walk(
        &mut self,
        nodes: &[Node],
        dot: &Value,
        out: &mut String,
    ) -> Result<Flow, TemplateError> {
        for n in nodes {
            match n {
                Node::Text(t) => {
                    out.push_str(t);
                    self.check_output_size(out, 0)?;
                }
                Node::Action(p) => {
                    let v = self.eval_pipeline(p, dot)?;
                    if p.decl.is_empty() {
                        print_value(&v, out);
                        self.check_output_size(out, p.pos)?;
                    }
                }
                Node::If(b) => {
                    if let f @ (Flow::Break | Flow::Continue) = self.if_with(b, dot, out, false)? {
                        return Ok(f);
                    }
                }
                Node::With(b) => {
                    if let f @ (Flow::Break | Flow::Continue) = self.if_with(b, dot, out, true)? {
                        return Ok(f);
                    }
                }
                Node::Range(b) => self.range(b, dot, out)?,
                Node::Template { name, pipe, pos } => {
                    let data = match pipe {
                        Some(p) => self.eval_pipeline(p, dot)?,
                        None => Value::Nil,
                    };
                    let Some(def) = self.lookup(name) else {
                        return Err(self.error_at(
                            *pos,
                            *pos,
                            format!("no such template {name:?}"),
                        ));
                    };
                    let s = self.run_def(name, &def, &data)?;
                    out.push_str(&s);
                    self.check_output_size(out, *pos)?;
                }
                Node::Break(_) => return Ok(Flow::Break),
                Node::Continue(_) => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn if_with(
        &mut self,
        b: &Branch,
        dot: &Value,
        out: &mut String,
        with: bool,
    ) -> Result<Flow, TemplateError> {
        let mark = self.vars.len();
        let v = self.eval_pipeline(&b.pipe, dot)?;
        let r = if v.truthy() {
            let d = if with { v } else { dot.clone() };
            self.walk(&b.body, &d, out)
        } else {
            self.walk(&b.else_body, dot, out)
        };
        self.vars.truncate(mark);
        r
    }

    fn range(&mut self, b: &Branch, dot: &Value, out: &mut String) -> Result<(), TemplateError> {
        let mark = self.vars.len();
        // The declared variables are bound per element, not to the pipeline's value.
        let decl = &b.pipe.decl;
        let is_assign = b.pipe.is_assign;
        let v = self.eval_cmds(&b.pipe, dot)?;
        let items: Vec<(Value, Value)> = match &v {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::Int(i as i64), x.clone()))
                .collect(),
            Value::Map(m) => m
                .borrow()
                .iter()
                .map(|(k, x)| (Value::str(k), x.clone()))
                .collect(),
            Value::Int(n) | Value::Int64(n) => {
                (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect()
            }
            Value::Nil => Vec::new(),
            Value::Object(o) => match o.entries() {
                Some(e) => e,
                None => {
                    return Err(self.error_at(
                        b.pipe.pos,
                        b.pipe.end,
                        format!("range can't iterate over {}", gofmt::sprint_value(&v)),
                    ))
                }
            },
            other => {
                return Err(self.error_at(
                    b.pipe.pos,
                    b.pipe.end,
                    format!("range can't iterate over {}", gofmt::sprint_value(other)),
                ))
            }
        };
        if items.is_empty() {
            self.walk(&b.else_body, dot, out)?;
            self.vars.truncate(mark);
            return Ok(());
        }
        for (k, x) in items {
            let inner = self.vars.len();
            match decl.len() {
                0 => {}
                1 => self.bind(&decl[0], x.clone(), is_assign),
                _ => {
                    self.bind(&decl[0], k, is_assign);
                    self.bind(&decl[1], x.clone(), is_assign);
                }
            }
            let flow = self.walk(&b.body, &x, out)?;
            self.vars.truncate(inner);
            if let Flow::Break = flow {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(())
    }

    fn bind(&mut self, name: &str, v: Value, assign: bool) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
                return;
            }
        }
        self.vars.push((name.to_string(), v));
    }

    fn var(&self, name: &str) -> Option<Value> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// Evaluates the commands of a pipeline without binding its declared variables.
    fn eval_cmds(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
        let mut val: Option<Value> = None;
        for c in &p.cmds {
            val = Some(self.eval_command(c, dot, val, p)?);
        }
        Ok(val.unwrap_or_default())
    }

    fn eval_pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
        let v = self.eval_cmds(p, dot)?;
        if !p.decl.is_empty() {
            if p.is_assign {
                let name = &p.decl[0];
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => {
                        return Err(self.error_at(
                            p.pos,
                            p.end,
                            format!("undefined variable: {name}"),
                        ))
                    }
                }
            } else {
                for d in &p.decl {
                    self.vars.push((d.clone(), v.clone()));
                }
            }
        }
        Ok(v)
    }

    fn eval_command(
        &mut self,
        c: &Command,
        dot: &Value,
        piped: Option<Value>,
        p: &Pipeline,
    ) -> Result<Value, TemplateError> {
        let first = &c.args[0];
        match first {
            Arg::Ident(name) => {
                let name = name.as_str();
                if name == "and" || name == "or" {
                    return self.and_or(name == "and", &c.args[1..], dot, piped, p);
                }
                let Some(f) = self.funcs.get(name).copied() else {
                    return Err(self.error_at(
                        p.pos,
                        p.end,
                        format!("function {name:?} not defined"),
                    ));
                };
                let mut args = Vec::with_capacity(c.args.len());
                for a in &c.args[1..] {
                    args.push(self.eval_arg(a, dot, p)?);
                }
                if let Some(v) = piped {
                    args.push(v);
                }
                f(self, args).map_err(|e| match e {
                    FuncError::User(m) => self.error_of(p.pos, p.end, m, true),
                    FuncError::Call(m) => {
                        self.error_at(p.pos, p.end, format!("error calling {name}: {m}"))
                    }
                })
            }
            Arg::Field(chain) if !chain.is_empty() => {
                let args = self.method_args(&c.args[1..], dot, piped, p)?;
                self.eval_chain(dot.clone(), chain, args, p)
            }
            Arg::Variable(name, chain) if !chain.is_empty() => {
                let base = self.var(name).ok_or_else(|| {
                    self.error_at(p.pos, p.end, format!("undefined variable: {name}"))
                })?;
                let args = self.method_args(&c.args[1..], dot, piped, p)?;
                self.eval_chain(base, chain, args, p)
            }
            Arg::Chain(inner, chain) => {
                let base = self.eval_arg(inner, dot, p)?;
                let args = self.method_args(&c.args[1..], dot, piped, p)?;
                self.eval_chain(base, chain, args, p)
            }
            other => {
                if c.args.len() > 1 || piped.is_some() {
                    return Err(self.error_at(
                        p.pos,
                        p.end,
                        "can't give argument to non-function".to_string(),
                    ));
                }
                self.eval_arg(other, dot, p)
            }
        }
    }

    fn method_args(
        &mut self,
        rest: &[Arg],
        dot: &Value,
        piped: Option<Value>,
        p: &Pipeline,
    ) -> Result<Option<Vec<Value>>, TemplateError> {
        if rest.is_empty() && piped.is_none() {
            return Ok(None);
        }
        let mut args = Vec::new();
        for a in rest {
            args.push(self.eval_arg(a, dot, p)?);
        }
        if let Some(v) = piped {
            args.push(v);
        }
        Ok(Some(args))
    }

    fn and_or(
        &mut self,
        is_and: bool,
        args: &[Arg],
        dot: &Value,
        piped: Option<Value>,
        p: &Pipeline,
    ) -> Result<Value, TemplateError> {
        let total = args.len() + usize::from(piped.is_some());
        if total == 0 {
            return Err(self.error_at(
                p.pos,
                p.end,
                format!(
                    "wrong number of args for {}: want at least 1 got 0",
                    if is_and { "and" } else { "or" }
                ),
            ));
        }
        let mut last = Value::Nil;
        for a in args {
            last = self.eval_arg(a, dot, p)?;
            if last.truthy() != is_and {
                return Ok(last);
            }
        }
        if let Some(v) = piped {
            last = v;
        }
        Ok(last)
    }

    fn eval_arg(&mut self, a: &Arg, dot: &Value, p: &Pipeline) -> Result<Value, TemplateError> {
        match a {
            Arg::Field(chain) => {
                if chain.is_empty() {
                    Ok(dot.clone())
                } else {
                    self.eval_chain(dot.clone(), chain, None, p)
                }
            }
            Arg::Variable(name, chain) => {
                let base = self.var(name).ok_or_else(|| {
                    self.error_at(p.pos, p.end, format!("undefined variable: {name}"))
                })?;
                if chain.is_empty() {
                    Ok(base)
                } else {
                    self.eval_chain(base, chain, None, p)
                }
            }
            Arg::Chain(inner, chain) => {
                let base = self.eval_arg(inner, dot, p)?;
                self.eval_chain(base, chain, None, p)
            }
            // Variables declared inside parentheses stay visible afterwards, as in Go.
            Arg::Pipe(inner) => self.eval_pipeline(inner, dot),
            Arg::Ident(name) => {
                if name == "and" || name == "or" {
                    return self.and_or(name == "and", &[], dot, None, p);
                }
                let Some(f) = self.funcs.get(name.as_str()).copied() else {
                    return Err(self.error_at(
                        p.pos,
                        p.end,
                        format!("function {name:?} not defined"),
                    ));
                };
                f(self, Vec::new())
                    .map_err(|m| self.error_at(p.pos, p.end, format!("error calling {name}: {m}")))
            }
            Arg::Str(s) => Ok(Value::String(s.clone())),
            Arg::Int(i) => Ok(Value::Int(*i)),
            Arg::Float(f) => Ok(Value::Float(*f)),
            Arg::Bool(b) => Ok(Value::Bool(*b)),
            Arg::Nil => Ok(Value::Nil),
        }
    }

    fn eval_chain(
        &mut self,
        mut v: Value,
        chain: &[String],
        args: Option<Vec<Value>>,
        p: &Pipeline,
    ) -> Result<Value, TemplateError> {
        let n = chain.len();
        for (i, name) in chain.iter().enumerate() {
            let last = i + 1 == n;
            let call_args = if last { args.as_deref() } else { None };
            v = match &v {
                Value::Map(m) => {
                    if call_args.is_some() {
                        return Err(self.error_at(
                            p.pos,
                            p.end,
                            format!("{name} is not a method but has arguments"),
                        ));
                    }
                    m.borrow().get(name.as_str()).cloned().unwrap_or(Value::Nil)
                }
                Value::Object(o) => {
                    if let Some(a) = call_args {
                        match o.call(name, a) {
                            Some(r) => r.map_err(|m| {
                                self.error_at(p.pos, p.end, format!("error calling {name}: {m}"))
                            })?,
                            None => {
                                return Err(self.error_at(
                                    p.pos,
                                    p.end,
                                    format!("{name} is not a method but has arguments"),
                                ))
                            }
                        }
                    } else if let Some(x) = o.field(name) {
                        x
                    } else if let Some(r) = o.call(name, &[]) {
                        r.map_err(|m| {
                            self.error_at(p.pos, p.end, format!("error calling {name}: {m}"))
                        })?
                    } else {
                        return Err(self.error_at(
                            p.pos,
                            p.end,
                            format!("can't evaluate field {name} in type {}", o.type_name()),
                        ));
                    }
                }
                Value::Nil => {
                    return Err(self.error_at(
                        p.pos,
                        p.end,
                        format!("nil pointer evaluating interface {{}}.{name}"),
                    ));
                }
                other => {
                    return Err(self.error_at(
                        p.pos,
                        p.end,
                        format!("can't evaluate field {name} in type {}", other.type_name()),
                    ));
                }
            };
        }
        Ok(v)
    }
}

/// Prints a value as a template action does; a missing value prints `<no value>`, which Helm
/// then removes from the output.
fn print_value(v: &Value, out: &mut String) {
    match v {
        Value::Nil => out.push_str("<no value>"),
        other => out.push_str(&gofmt::sprint_value(other)),
    }
}
