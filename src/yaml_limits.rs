//! Structural limits for YAML documents a user hands us: nesting depth and the number of nodes
//! after alias expansion.
//!
//! A size limit alone does not bound memory for YAML: an alias bomb ("billion laughs") of a
//! few hundred bytes expands to billions of nodes, and 20,000 nested `[` overflow the stack of
//! a recursive reader. [`check_yaml`] walks the parser's event stream once, without building
//! anything, keeping only a stack of open collections and one size per anchor, so it is
//! itself bounded; every reader of user YAML (values files, chart values, OpenAPI specs,
//! `justpush.yaml`, Chart.yaml) calls it before building a tree. The limits are listed in
//! `docs/security.md`.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};

/// Deepest nesting of collections (maps and lists) accepted, aliases included. It matches the
/// recursion limit of serde_json and serde_yaml (128), so every reader agrees.
pub const MAX_DEPTH: usize = 128;

/// Most nodes (scalars, maps and lists) a document may hold once every alias is expanded.
/// A real values file or spec is far below it (GitHub's 11 MB REST spec is about 1.5 million);
/// an alias bomb reaches it after a few expansions.
pub const MAX_NODES: u64 = 5_000_000;

/// A document that breaks a structural limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum YamlLimitError {
    #[error(
        "nesting is deeper than the limit of {limit} levels (line {line}, column {column}); \
         flatten the document"
    )]
    TooDeep {
        limit: usize,
        line: usize,
        column: usize,
    },
    #[error(
        "the document expands to more than {limit} nodes once its aliases (`*name`) are \
         expanded (line {line}, column {column}); this is how an alias bomb looks: \
         write the values out, or use fewer aliases"
    )]
    TooManyNodes {
        limit: u64,
        line: usize,
        column: usize,
    },
}

/// What the check keeps for an open collection.
struct Open {
    anchor: usize,
    /// Node count when the collection started, to give its size when it ends.
    nodes_at_start: u64,
    /// Deepest nesting below this collection (relative, 1 for a flat one), aliases included.
    depth_below: usize,
}

/// Checks `text` against [`MAX_DEPTH`] and [`MAX_NODES`].
pub fn check_yaml(text: &str) -> Result<(), YamlLimitError> {
    check_yaml_with(text, MAX_DEPTH, MAX_NODES)
}

/// [`check_yaml`] with explicit limits (for tests).
///
/// A syntax error ends the check without an error: the reader that parses the document next
/// reports it with its own position, and the check must never refuse a document that reader
/// accepts for a reason other than a limit.
pub fn check_yaml_with(text: &str, max_depth: usize, max_nodes: u64) -> Result<(), YamlLimitError> {
    let mut parser = Parser::new_from_str(text);
    let mut open: Vec<Open> = Vec::new();
    // Per anchor id: (nodes, depth) of the anchored node, so an alias costs what it expands to.
    let mut anchors: HashMap<usize, (u64, usize)> = HashMap::new();
    let mut nodes: u64 = 0;
    let limits = (max_depth, max_nodes);
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(next) => next,
            // The scanner stops at 255 open flow collections, looking ahead before it yields
            // the events that would reach our limit: that is the same limit, met early.
            Err(e) if e.info() == "recursion limit exceeded" => {
                return Err(YamlLimitError::TooDeep {
                    limit: max_depth,
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                })
            }
            Err(_) => return Ok(()),
        };
        let at = Position {
            line: mark.line(),
            column: mark.col() + 1,
        };
        match event {
            Event::StreamEnd => return Ok(()),
            Event::Scalar(_, _, anchor, _) => {
                place(&mut open, &mut nodes, 1, 0, limits, at)?;
                if anchor != 0 {
                    anchors.insert(anchor, (1, 0));
                }
            }
            Event::Alias(id) => {
                // An unknown anchor is the reader's error to report.
                let (size, depth) = anchors.get(&id).copied().unwrap_or((1, 0));
                place(&mut open, &mut nodes, size, depth, limits, at)?;
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() + 1 > max_depth {
                    return Err(at.too_deep(max_depth));
                }
                open.push(Open {
                    anchor,
                    nodes_at_start: nodes,
                    depth_below: 1,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(done) = open.pop() else {
                    return Ok(());
                };
                // The collection itself is one node; its children were counted as they came.
                let size = nodes - done.nodes_at_start + 1;
                nodes = done.nodes_at_start;
                place(&mut open, &mut nodes, size, done.depth_below, limits, at)?;
                if done.anchor != 0 {
                    anchors.insert(done.anchor, (size, done.depth_below));
                }
            }
            _ => {}
        }
    }
}

#[derive(Clone, Copy)]
struct Position {
    line: usize,
    column: usize,
}

impl Position {
    fn too_deep(self, limit: usize) -> YamlLimitError {
        YamlLimitError::TooDeep {
            limit,
            line: self.line,
            column: self.column,
        }
    }
}

/// Counts a finished node of `size` nodes and `depth` levels, and lets the enclosing
/// collection know how deep it went.
fn place(
    open: &mut [Open],
    nodes: &mut u64,
    size: u64,
    depth: usize,
    (max_depth, max_nodes): (usize, u64),
    at: Position,
) -> Result<(), YamlLimitError> {
    *nodes = nodes.saturating_add(size);
    if *nodes > max_nodes {
        return Err(YamlLimitError::TooManyNodes {
            limit: max_nodes,
            line: at.line,
            column: at.column,
        });
    }
    if open.len() + depth > max_depth {
        return Err(at.too_deep(max_depth));
    }
    if let Some(parent) = open.last_mut() {
        parent.depth_below = parent.depth_below.max(depth + 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `levels` levels of nine-fold aliases over a nine-item list: 9^(levels+1) scalars.
    fn alias_bomb(levels: usize) -> String {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..=levels {
            let p = format!("*a{}", i - 1);
            let items = [p.as_str(); 9].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        text
    }

    #[test]
    fn an_alias_bomb_is_refused_by_its_expanded_size() {
        let err = check_yaml(&alias_bomb(10)).unwrap_err();
        assert!(
            matches!(
                err,
                YamlLimitError::TooManyNodes {
                    limit: MAX_NODES,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("alias"), "{err}");
    }

    #[test]
    fn a_few_aliases_within_the_budget_pass() {
        check_yaml(&alias_bomb(3)).unwrap();
        check_yaml("base: &b {cpu: 1, mem: 2}\nweb: {<<: *b, cpu: 2}\napi: *b\n").unwrap();
    }

    #[test]
    fn node_counts_include_nested_aliases() {
        // Counted exactly, so a tight budget finds the boundary.
        let text = "a: &a [x, x]\nb: &b [*a, *a]\n";
        // Nodes: root map 1, keys 2, a = 3, b = 1 + 2 * 3 = 7: 13.
        check_yaml_with(text, 10, 13).unwrap();
        assert!(check_yaml_with(text, 10, 12).is_err());
    }

    #[test]
    fn deep_flow_and_block_nesting_is_refused_without_overflowing_the_stack() {
        // Runs on the default 2 MiB test thread: a recursive check would overflow here.
        let flow = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let err = check_yaml(&flow).unwrap_err();
        assert!(
            matches!(err, YamlLimitError::TooDeep { limit: 128, .. }),
            "{err}"
        );
        let block: String = (0..5000)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect();
        let err = check_yaml(&block).unwrap_err();
        assert!(matches!(err, YamlLimitError::TooDeep { .. }), "{err}");
    }

    #[test]
    fn depth_at_the_limit_passes_and_one_more_fails() {
        let at = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        check_yaml(&at(MAX_DEPTH)).unwrap();
        assert!(check_yaml(&at(MAX_DEPTH + 1)).is_err());
    }

    #[test]
    fn aliases_add_the_depth_of_what_they_name() {
        // The anchor is 3 deep; used at depth 3 it makes 6.
        let text = "a: &a [[[1]]]\nb: [[*a]]\n";
        check_yaml_with(text, 6, 100).unwrap();
        assert!(matches!(
            check_yaml_with(text, 5, 100),
            Err(YamlLimitError::TooDeep { .. })
        ));
    }

    #[test]
    fn syntax_errors_are_left_to_the_reader() {
        check_yaml("a: [1\n").unwrap();
        check_yaml("a: *nope\n").unwrap();
    }
}
