//! A project's own Dockerfile, read the way the builder reads it (parser directives, line
//! continuations, comments inside continued lines, JSON and shell forms, `ARG`/`ENV`
//! substitution where it is plain `$NAME`, `${NAME}` or `${NAME:-default}`), and checked for
//! what makes a deploy fail or weaker than the generated one: a port other than the detected
//! one, files a clean checkout does not have, running as root, no `HEALTHCHECK`.
//!
//! Only the final stage's `USER`, `EXPOSE`, `CMD`/`ENTRYPOINT` and `HEALTHCHECK` count, and a
//! stage built `FROM` an earlier stage starts with that stage's settings. Input is bounded
//! (the tree reads at most 512 KiB per file; at most [`MAX_INSTRUCTIONS`] instructions are
//! read) and every step is linear, so a hostile file cannot hang or crash detection.

use std::collections::BTreeMap;

use super::scan;
use super::shell_join;
use super::tree::SKIPPED_DIRS;
use crate::image::context::DockerIgnore;

/// Instructions read from one Dockerfile; the rest is ignored (and said so).
pub const MAX_INSTRUCTIONS: usize = 10_000;
/// Variables substituted per value: enough for any real file, bounded for hostile ones.
const MAX_SUBSTITUTED_LEN: usize = 4096;

/// One instruction: its keyword in upper case, its arguments as written (continuations
/// joined), and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    pub keyword: String,
    pub args: String,
}

/// Splits a Dockerfile into instructions.
pub fn instructions(text: &str) -> Vec<Instruction> {
    let mut escape = '\\';
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    let mut directives = true;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if directives {
            // Parser directives (`# escape=`` ` ``) only count before anything else.
            if let Some(rest) = line.strip_prefix('#') {
                if let Some((k, v)) = rest.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("escape") {
                        if let Some(c) = v.trim().chars().next() {
                            if c == '`' || c == '\\' {
                                escape = c;
                            }
                        }
                        continue;
                    }
                }
            }
            directives = false;
        }
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        // Comment and empty lines inside a continued instruction are dropped, as the
        // builder does.
        if !current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if current.is_empty() {
            start = n + 1;
        }
        match line.strip_suffix(escape) {
            Some(body) => {
                current.push_str(body);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                push(&mut out, start, &current);
                current.clear();
            }
        }
        if out.len() >= MAX_INSTRUCTIONS {
            return out;
        }
    }
    if !current.trim().is_empty() {
        push(&mut out, start, &current);
    }
    out
}

fn push(out: &mut Vec<Instruction>, line: usize, text: &str) {
    let text = text.trim();
    let (keyword, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    out.push(Instruction {
        line,
        keyword: keyword.to_ascii_uppercase(),
        args: args.trim().to_string(),
    });
}

/// A `COPY`/`ADD` source from the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    pub line: usize,
    pub keyword: String,
    /// The source as the Dockerfile names it, variables substituted, `./` dropped.
    pub path: String,
}

/// What the final stage of a Dockerfile says, and what every stage copies from the context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerfileModel {
    /// The final stage's `USER`, substituted (`None`: never set, so root).
    pub user: Option<String>,
    /// The final stage's `EXPOSE`d ports, in order.
    pub expose: Vec<u16>,
    /// The port the final stage's `ENTRYPOINT`/`CMD` names (`--port 8000`, `-b :8000`).
    pub command_port: Option<u16>,
    /// The final stage's start command, shell-readable.
    pub start: Option<String>,
    /// `Some(path)` for a `HEALTHCHECK` with a URL, `Some("")` for one without, `None` for
    /// none (or `HEALTHCHECK NONE`).
    pub healthcheck: Option<String>,
    /// Base images of every stage, substituted.
    pub bases: Vec<String>,
    /// Sources copied from the build context (not `--from` another stage or image).
    pub copies: Vec<CopySource>,
    /// Names of the `ARG`s declared before the first `FROM` (those a build argument reaches
    /// in `FROM` lines).
    pub global_args: Vec<String>,
    /// True when the file had more than [`MAX_INSTRUCTIONS`] instructions.
    pub truncated: bool,
}

#[derive(Debug, Clone, Default)]
struct Stage {
    name: Option<String>,
    user: Option<String>,
    expose: Vec<u16>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    healthcheck: Option<String>,
    vars: BTreeMap<String, String>,
}

impl DockerfileModel {
    /// Reads a Dockerfile.
    pub fn parse(text: &str) -> DockerfileModel {
        let list = instructions(text);
        let mut model = DockerfileModel {
            truncated: list.len() >= MAX_INSTRUCTIONS,
            ..Default::default()
        };
        let mut globals: BTreeMap<String, String> = BTreeMap::new();
        let mut stages: Vec<Stage> = Vec::new();
        for ins in &list {
            let args = ins.args.as_str();
            if ins.keyword == "FROM" {
                let words: Vec<&str> = args
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let base = substitute(words.first().copied().unwrap_or(""), &globals);
                let name = match words.as_slice() {
                    [_, kw, name, ..] if kw.eq_ignore_ascii_case("as") => {
                        Some(name.to_ascii_lowercase())
                    }
                    _ => None,
                };
                // A stage built on an earlier one starts with its settings.
                let mut stage = stages
                    .iter()
                    .rev()
                    .find(|s| s.name.as_deref() == Some(base.to_ascii_lowercase().as_str()))
                    .cloned()
                    .unwrap_or_default();
                stage.name = name;
                model.bases.push(base);
                stages.push(stage);
                continue;
            }
            let Some(stage) = stages.last_mut() else {
                if ins.keyword == "ARG" {
                    for (k, v) in assignments(args, true) {
                        model.global_args.push(k.clone());
                        globals.insert(k, v.unwrap_or_default());
                    }
                }
                continue;
            };
            match ins.keyword.as_str() {
                "ARG" => {
                    for (k, v) in assignments(args, true) {
                        let value = v.or_else(|| globals.get(&k).cloned()).unwrap_or_default();
                        let value = substitute(&value, &stage.vars);
                        stage.vars.insert(k, value);
                    }
                }
                "ENV" => {
                    for (k, v) in assignments(args, false) {
                        let value = substitute(&v.unwrap_or_default(), &stage.vars);
                        stage.vars.insert(k, value);
                    }
                }
                "USER" => stage.user = Some(substitute(args, &stage.vars)),
                "EXPOSE" => {
                    for word in substitute(args, &stage.vars).split_whitespace() {
                        let port = word.split('/').next().unwrap_or(word);
                        if let Ok(p) = port.parse::<u16>() {
                            if p > 0 {
                                stage.expose.push(p);
                            }
                        }
                    }
                }
                "CMD" => stage.cmd = Some(command(args)),
                "ENTRYPOINT" => {
                    stage.entrypoint = Some(command(args));
                    // As in Docker: a new ENTRYPOINT drops the CMD inherited so far.
                    stage.cmd = None;
                }
                "HEALTHCHECK" => {
                    stage.healthcheck = if args.trim().eq_ignore_ascii_case("none") {
                        None
                    } else {
                        Some(health_path(args).unwrap_or_default())
                    };
                }
                "COPY" | "ADD" => {
                    if let Some(sources) = copy_sources(args) {
                        for s in sources {
                            let path = substitute(&s, &stage.vars);
                            if ins.keyword == "ADD"
                                && (path.contains("://") || path.starts_with("git@"))
                            {
                                continue;
                            }
                            model.copies.push(CopySource {
                                line: ins.line,
                                keyword: ins.keyword.clone(),
                                path: path.trim_start_matches("./").to_string(),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(last) = stages.pop() {
            let argv: Vec<String> = last
                .entrypoint
                .iter()
                .flatten()
                .chain(last.cmd.iter().flatten())
                .cloned()
                .collect();
            if !argv.is_empty() {
                let text = substitute(&argv.join(" "), &last.vars);
                model.command_port = scan::port_in_command(&text);
                model.start = Some(shell_join_or_shell(&argv));
            }
            model.user = last.user.filter(|u| !u.is_empty());
            model.expose = last.expose;
            model.healthcheck = last.healthcheck;
        }
        model
    }

    /// The port the final stage serves on: its command's, else its first `EXPOSE`.
    pub fn port(&self) -> Option<u16> {
        self.command_port.or(self.expose.first().copied())
    }

    /// True when the final stage runs as root.
    pub fn runs_as_root(&self) -> bool {
        match self.user.as_deref() {
            None => true,
            Some(u) => {
                let user = u.split(':').next().unwrap_or(u).trim();
                user == "root" || user == "0"
            }
        }
    }
}

/// Argument vector of a command: JSON (exec) form, or the shell form as one `sh -c` string.
fn command(args: &str) -> Vec<String> {
    if args.starts_with('[') {
        if let Ok(argv) = serde_json::from_str::<Vec<String>>(args) {
            return argv;
        }
    }
    vec![args.to_string()]
}

/// A shell form stays as written; an exec form is joined with quoting.
fn shell_join_or_shell(argv: &[String]) -> String {
    if argv.len() == 1 {
        argv[0].clone()
    } else {
        shell_join(argv)
    }
}

fn health_path(args: &str) -> Option<String> {
    let start = args.find("://")? + 3;
    let rest = &args[start..];
    let slash = rest.find('/')?;
    let host = &rest[..slash];
    if host
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\'')
    {
        return None;
    }
    let path: String = rest[slash..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '\\' | ','))
        .collect();
    Some(path)
}

/// `ARG A=1 B` / `ENV A=1 B=2` / `ENV A 1` as name and value pairs.
fn assignments(args: &str, arg: bool) -> Vec<(String, Option<String>)> {
    let words = split_words(args);
    if !arg && words.len() >= 2 && !words[0].contains('=') {
        // The legacy `ENV NAME value with spaces` form.
        let value = args[args.find(char::is_whitespace).unwrap_or(0)..].trim();
        return vec![(words[0].clone(), Some(unquote(value)))];
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(unquote(v))),
            None => (w, None),
        })
        .collect()
}

/// Whitespace-separated words, keeping quoted spans (`A="x y"`) together.
fn split_words(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    for c in args.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                word.push(c);
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                word.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            (_, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

/// The context sources of a `COPY`/`ADD` (`None` for `--from=`, which copies from a stage).
fn copy_sources(args: &str) -> Option<Vec<String>> {
    let mut words = split_words(args);
    let mut i = 0;
    while i < words.len() && words[i].starts_with("--") {
        if words[i].starts_with("--from") {
            return None;
        }
        i += 1;
    }
    words.drain(..i);
    let rest = words.join(" ");
    let mut list = if rest.starts_with('[') {
        serde_json::from_str::<Vec<String>>(&rest).ok()?
    } else {
        words.into_iter().map(|w| unquote(&w)).collect()
    };
    list.pop()?; // the destination
    Some(list)
}

/// `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}` replaced from `vars`; unknown
/// names become empty, as in the builder; other `${...}` forms are left as written.
fn substitute(text: &str, vars: &BTreeMap<String, String>) -> String {
    if !text.contains('$') {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() && out.len() < MAX_SUBSTITUTED_LEN {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{') {
            let Some(close) = chars[i + 2..].iter().position(|&c| c == '}') else {
                out.extend(&chars[i..]);
                break;
            };
            let inner: String = chars[i + 2..i + 2 + close].iter().collect();
            let (name, default) = match inner.split_once(":-").or_else(|| inner.split_once('-')) {
                Some((n, d)) => (n.to_string(), Some(d.to_string())),
                None => (inner.clone(), None),
            };
            if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                match (vars.get(&name).filter(|v| !v.is_empty()), default) {
                    (Some(v), _) => out.push_str(v),
                    (None, Some(d)) => out.push_str(&d),
                    (None, None) => {}
                }
            } else {
                out.push_str(&format!("${{{inner}}}"));
            }
            i += close + 3;
            continue;
        }
        let name: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect();
        if name.is_empty() {
            out.push('$');
            i += 1;
            continue;
        }
        out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
        i += 1 + name.chars().count();
    }
    out
}

/// What detection knows of the component apart from its Dockerfile.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The port the sources say (or the framework's default), and where that was found.
    pub port: Option<(u16, &'a str)>,
    /// The health path the chart's probes will use.
    pub health: &'a str,
}

/// The warnings for a project's own Dockerfile. `exists(path)` says whether a path (file or
/// directory, relative to the build context) is in the project's sources; `gitignore` holds
/// the `.gitignore` texts that apply to the context (root's first).
pub fn check(
    file: &str,
    model: &DockerfileModel,
    expected: &Expected<'_>,
    exists: &dyn Fn(&str) -> bool,
    gitignore: &[String],
) -> Vec<String> {
    let mut warnings = Vec::new();
    if model.truncated {
        warnings.push(format!(
            "{file} has more than {MAX_INSTRUCTIONS} instructions; only the first {MAX_INSTRUCTIONS} were checked"
        ));
    }
    if let (Some(cmd), Some(&exposed)) = (model.command_port, model.expose.first()) {
        if cmd != exposed {
            warnings.push(format!(
                "{file}: its command listens on port {cmd} but it EXPOSEs {exposed}; using {cmd}, the command's; fix the EXPOSE line"
            ));
        }
    }
    if let (Some(own), Some((detected, source))) = (model.port(), expected.port) {
        if own != detected {
            let how = if model.command_port.is_some() {
                "its command's port"
            } else {
                "its EXPOSE"
            };
            warnings.push(format!(
                "{file} serves on port {own} ({how}) but detection found {detected} ({source}); using {own}, the Dockerfile's; pin `port:` in justpush.yaml if that is wrong"
            ));
        }
    }
    let ignore = gitignore_matcher(gitignore);
    let mut seen = std::collections::BTreeSet::new();
    for copy in &model.copies {
        let path = copy.path.trim_end_matches('/');
        if path.is_empty() || path == "." || !seen.insert(path.to_string()) {
            continue;
        }
        let problem = if ignore.as_ref().is_some_and(|m| m.excludes(path)) {
            Some("is ignored by .gitignore")
        } else if !has_match(path, exists) {
            // Detection does not list build and dependency directories, and a clean checkout
            // does not have them either.
            if path.split('/').any(|part| SKIPPED_DIRS.contains(&part)) {
                Some("is a build output or dependency directory, not part of the sources")
            } else {
                Some("is not in the project's sources")
            }
        } else {
            None
        };
        if let Some(problem) = problem {
            warnings.push(format!(
                "{file} line {}: {} {path} {problem}, so a clean checkout cannot build it; build it in a stage of the Dockerfile, or commit it",
                copy.line, copy.keyword
            ));
        }
    }
    if model.runs_as_root() {
        let why = match &model.user {
            None => "sets no USER".to_string(),
            Some(u) => format!("sets USER {u}"),
        };
        warnings.push(format!(
            "{file} runs as root (its final stage {why}); the chart runs it as user 10001 with a read-only root, which can fail where root-owned files are written; add `USER 10001:10001` after giving that user what it writes"
        ));
    }
    if model.healthcheck.is_none() {
        warnings.push(format!(
            "{file} has no HEALTHCHECK; the chart's probes still GET {} on the service port, and `docker run` sees no health; add `HEALTHCHECK CMD ...` or pin `health:` in justpush.yaml",
            expected.health
        ));
    }
    warnings
}

/// A path, or a glob (`*.txt`, `src/*`), that names something in the sources.
fn has_match(path: &str, exists: &dyn Fn(&str) -> bool) -> bool {
    if path.contains(['*', '?', '[']) {
        // A glob is checked by its directory part only: matching it is the builder's job.
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
        return dir.contains(['*', '?', '[']) || dir == "." || exists(dir);
    }
    exists(path)
}

/// `.gitignore` lines as `.dockerignore` patterns: an unanchored pattern (no `/` but a
/// trailing one) matches at any depth, a leading `/` anchors, a trailing `/` means a directory
/// (approximated as the name).
fn gitignore_matcher(texts: &[String]) -> Option<DockerIgnore> {
    let mut lines = Vec::new();
    for text in texts {
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (bang, body) = match line.strip_prefix('!') {
                Some(b) => ("!", b),
                None => ("", line),
            };
            let body = body.trim_end_matches('/');
            let anchored = body.starts_with('/') || body.contains('/');
            let body = body.trim_start_matches('/');
            if body.is_empty() {
                continue;
            }
            if anchored || body.starts_with("**") {
                lines.push(format!("{bang}{body}"));
            } else {
                lines.push(format!("{bang}**/{body}"));
            }
        }
    }
    if lines.is_empty() {
        return None;
    }
    DockerIgnore::parse(&lines.join("\n")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(text: &str) -> DockerfileModel {
        DockerfileModel::parse(text)
    }

    #[test]
    fn continuations_directives_and_comments_inside_continued_lines() {
        let list =
            instructions("# escape=`\nFROM x\nRUN a `\n  # a comment inside\n\n  b\nCMD [\"c\"]\n");
        let kw: Vec<(&str, &str)> = list
            .iter()
            .map(|i| (i.keyword.as_str(), i.args.as_str()))
            .collect();
        assert_eq!(kw, [("FROM", "x"), ("RUN", "a  b"), ("CMD", "[\"c\"]")]);
        assert_eq!(list[2].line, 7);
    }

    #[test]
    fn only_the_final_stage_counts_and_stages_inherit_from_named_parents() {
        let m = model(
            "FROM python:3.12 AS base\nUSER app\nEXPOSE 9000\nHEALTHCHECK CMD curl -f http://localhost:9000/healthz\n\
             FROM golang AS build\nUSER root\nEXPOSE 1\nFROM base\nCMD [\"gunicorn\", \"-b\", \"0.0.0.0:9000\", \"app:app\"]\n",
        );
        assert_eq!(m.user.as_deref(), Some("app"));
        assert_eq!(m.expose, [9000]);
        assert_eq!(m.command_port, Some(9000));
        assert_eq!(m.healthcheck.as_deref(), Some("/healthz"));
        assert!(!m.runs_as_root());
        let root = model("FROM a AS b\nUSER app\nFROM debian\nCMD x\n");
        assert!(
            root.runs_as_root(),
            "a stage not FROM `b` does not inherit its USER"
        );
        assert!(model("FROM a\nUSER 0:0\n").runs_as_root());
        assert!(model("FROM a\nUSER root\n").runs_as_root());
    }

    #[test]
    fn arg_and_env_substitution() {
        let m = model(
            "ARG BASE=python:3.11\nFROM ${BASE}\nARG PORT=8100\nENV APP_USER=web \\\n    X=1\nUSER $APP_USER\nEXPOSE ${PORT}/tcp\nCMD uvicorn main:app --port ${PORT:-1}\nCOPY ${MISSING:-dist}/ /srv/\n",
        );
        assert_eq!(m.bases, ["python:3.11"]);
        assert_eq!(m.global_args, ["BASE"]);
        assert_eq!(m.user.as_deref(), Some("web"));
        assert_eq!(m.expose, [8100]);
        assert_eq!(m.command_port, Some(8100));
        assert_eq!(m.copies[0].path, "dist/");
    }

    #[test]
    fn copy_forms() {
        let m = model(
            "FROM a\nCOPY --chown=1:1 [\"a.txt\", \"b dir/\", \"/app/\"]\nCOPY --from=build /out /out\nADD https://x/y.tgz ./src/ /app/\n",
        );
        let paths: Vec<&str> = m.copies.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["a.txt", "b dir/", "src/"]);
    }

    fn warnings(
        text: &str,
        files: &[&str],
        gitignore: &str,
        port: Option<(u16, &str)>,
    ) -> Vec<String> {
        let exists = |p: &str| {
            files
                .iter()
                .any(|f| *f == p || f.starts_with(&format!("{p}/")))
        };
        check(
            "Dockerfile",
            &model(text),
            &Expected {
                port,
                health: "/health",
            },
            &exists,
            &[gitignore.to_string()],
        )
    }

    #[test]
    fn a_good_dockerfile_has_no_warnings() {
        let w = warnings(
            "FROM python\nCOPY . .\nCOPY app/ /app/\nUSER 10001\nEXPOSE 8000\nHEALTHCHECK CMD curl -f http://localhost:8000/health\nCMD [\"uvicorn\",\"app:app\",\"--port\",\"8000\"]\n",
            &["app/main.py"],
            "",
            Some((8000, "app/main.py")),
        );
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn each_problem_is_named() {
        let w = warnings(
            "FROM node\nCOPY dist/ /srv/\nCOPY .env ./\nCOPY src/*.js ./\nEXPOSE 8080\nCOPY settings.yaml ./\nCMD [\"node\",\"dist/server.js\"]\n",
            &["src/a.js", ".env"],
            "node_modules\n/.env\n",
            Some((3000, "src/a.js: app.listen(3000)")),
        );
        let all = w.join("\n");
        assert!(all.contains("port 8080 (its EXPOSE) but detection found 3000 (src/a.js: app.listen(3000)); using 8080"), "{all}");
        assert!(
            all.contains("line 2: COPY dist is a build output or dependency directory"),
            "{all}"
        );
        assert!(
            all.contains("line 3: COPY .env is ignored by .gitignore"),
            "{all}"
        );
        assert!(
            all.contains("line 6: COPY settings.yaml is not in the project's sources"),
            "{all}"
        );
        assert!(!all.contains("src/*.js"), "{all}");
        assert!(
            all.contains("runs as root (its final stage sets no USER)"),
            "{all}"
        );
        assert!(all.contains("has no HEALTHCHECK"), "{all}");
        assert_eq!(w.len(), 6, "{all}");
    }

    #[test]
    fn command_port_beats_expose() {
        let w = warnings(
            "FROM python\nUSER app\nHEALTHCHECK NONE\nEXPOSE 80\nCMD gunicorn -b 0.0.0.0:8000 app:app\n",
            &[],
            "",
            Some((8000, "x")),
        );
        assert!(
            w[0].contains("listens on port 8000 but it EXPOSEs 80; using 8000"),
            "{w:?}"
        );
        assert!(
            w[1].contains("no HEALTHCHECK"),
            "HEALTHCHECK NONE is none: {w:?}"
        );
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn hostile_input_is_bounded() {
        let many = "EXPOSE 1\n".repeat(MAX_INSTRUCTIONS + 10);
        let m = model(&format!("FROM a\n{many}"));
        assert!(m.truncated);
        let long_cont = format!("FROM a\nRUN {}", "x \\\n".repeat(50_000));
        assert_eq!(instructions(&long_cont).len(), 2);
        let vars = format!(
            "FROM a\nARG A={}\nUSER {}\n",
            "y".repeat(100),
            "${A}".repeat(2000)
        );
        let m = model(&vars);
        assert!(m.user.unwrap().len() <= MAX_SUBSTITUTED_LEN + 100);
        for junk in [
            "\0\0\0",
            "FROM",
            "COPY",
            "CMD [",
            "USER ${",
            "EXPOSE 99999999",
            "\u{feff}FROM x",
        ] {
            let _ = model(junk);
        }
    }
}
