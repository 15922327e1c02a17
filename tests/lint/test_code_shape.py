"""Shape rules of the Rust sources that review asked for and that nothing else enforces:

- no function in `src/kube/` or `src/pipeline/` is longer than 120 lines (the deploy path is
  read and changed most; a 436-line function is where its bugs hid);
- nothing below `src/cli/` imports from `crate::cli` (settings flow down as typed values, the
  flag structs stay in the CLI).

The function lengths come from a small Rust lexer (strings, raw strings, chars, lifetimes and
comments skipped, braces matched), shown below to measure known inputs right.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 120
FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def _code_only(text: str) -> str:
    """The text with comments, string and char literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        two = text[i : i + 2]
        if two == "//":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif two == "/*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif (m := re.match(r'b?r(#*)"', text[i:])) and (i == 0 or not text[i - 1].isalnum()):
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i : j + 1]))
            i = j + 1
        elif c == "'" and (m := re.match(r"'(\\.[^']*|[^\\'])'", text[i:])):
            out.append(" " * m.end())
            i += m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def function_lengths(text: str) -> list[tuple[str, int, int]]:
    """(name, first line, lines) of every function with a body."""
    code = _code_only(text)
    found = []
    for m in FN.finditer(code):
        j = m.end()
        depth = 0
        # The body's `{` comes before any `;` at depth 0 (a declaration without a body).
        while j < len(code):
            ch = code[j]
            if ch in "(<[":
                depth += 1
            elif ch in ")>]":
                depth -= 1
            elif ch == ";" and depth <= 0:
                break
            elif ch == "{" and depth <= 0:
                break
            j += 1
        if j >= len(code) or code[j] != "{":
            continue
        start_line = code.count("\n", 0, m.start()) + 1
        level, k = 0, j
        while k < len(code):
            if code[k] == "{":
                level += 1
            elif code[k] == "}":
                level -= 1
                if level == 0:
                    break
            k += 1
        end_line = code.count("\n", 0, k) + 1
        found.append((m.group(1), start_line, end_line - start_line + 1))
    return found


def test_the_lexer_measures_known_functions():
    text = (
        "fn a() {\n    let s = \"}}{\";\n    let c = '{';\n    // }\n}\n"
        "trait T { fn decl(&self) -> Vec<u8>; }\n"
        "fn b<'x>(v: &'x str) -> Option<&'x str> {\n    let r = r#\"{\"#;\n    Some(v)\n}\n"
    )
    got = {name: lines for name, _, lines in function_lengths(text)}
    assert got == {"a": 5, "b": 4}, got


def test_no_function_in_kube_or_pipeline_is_over_the_limit():
    too_long = []
    for path in sorted((ROOT / "src/kube").rglob("*.rs")) + sorted(
        (ROOT / "src/pipeline").rglob("*.rs")
    ):
        rel = path.relative_to(ROOT)
        # Tests are read as scenarios, top to bottom; the rule is for the code they test.
        if rel.name in ("tests.rs", "fake.rs"):
            continue
        text = path.read_text()
        cut = text.find("#[cfg(test)]\nmod tests")
        for name, line, lines in function_lengths(text if cut < 0 else text[:cut]):
            if lines > LIMIT:
                too_long.append(f"{rel}:{line} {name}: {lines} lines")
    assert not too_long, "functions over %d lines:\n%s" % (LIMIT, "\n".join(too_long))


def test_nothing_below_the_cli_imports_from_it():
    offenders = []
    for path in sorted((ROOT / "src").rglob("*.rs")):
        rel = path.relative_to(ROOT)
        if rel.parts[:2] == ("src", "cli"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "crate::cli" in line:
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
