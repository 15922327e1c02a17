//! The one output layer: data to stdout, progress and diagnostics to stderr, colour decided
//! once (NO_COLOR, `--no-color`, not a terminal, TERM=dumb), and machine formats for `-o`.

use std::io::{IsTerminal, Write};

/// How data is printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    #[value(alias = "table")]
    Text,
    Json,
    Yaml,
}

/// Owns the terminal: every command writes through it, and tests capture it.
pub struct Shell {
    out: Box<dyn Write>,
    err: Box<dyn Write>,
    pub format: Format,
    pub color: bool,
    pub verbosity: u8,
}

impl Shell {
    /// A shell on the process's stdout and stderr.
    pub fn stdio(format: Format, no_color: bool, verbosity: u8) -> Shell {
        let color = !no_color
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true)
            && std::io::stderr().is_terminal();
        Shell {
            out: Box::new(std::io::stdout()),
            err: Box::new(std::io::stderr()),
            format,
            color,
            verbosity,
        }
    }

    /// A shell writing into the given sinks (tests).
    pub fn capture(out: Box<dyn Write>, err: Box<dyn Write>, format: Format) -> Shell {
        Shell {
            out,
            err,
            format,
            color: false,
            verbosity: 0,
        }
    }

    /// Writes data to stdout as it is.
    pub fn data(&mut self, text: &str) -> std::io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }

    /// Writes a serialisable value to stdout in the chosen machine format (text falls back to
    /// YAML for data without a text form).
    pub fn structured<T: serde::Serialize>(&mut self, value: &T) -> std::io::Result<()> {
        let text = match self.format {
            Format::Json => serde_json::to_string_pretty(value)
                .map(|s| s + "\n")
                .map_err(std::io::Error::other)?,
            Format::Yaml | Format::Text => {
                serde_yaml::to_string(value).map_err(std::io::Error::other)?
            }
        };
        self.data(&text)
    }

    /// A status line on stderr.
    pub fn status(&mut self, verb: &str, message: &str) -> std::io::Result<()> {
        let verb = if self.color {
            format!("\x1b[1;32m{verb:>10}\x1b[0m")
        } else {
            format!("{verb:>10}")
        };
        writeln!(self.err, "{verb} {message}")
    }

    /// Progress text on stderr as it is (redrawn lines carry their own control codes).
    pub fn progress(&mut self, text: &str) -> std::io::Result<()> {
        self.err.write_all(text.as_bytes())?;
        self.err.flush()
    }

    /// A question on stderr, without a newline, for the answer to follow on stdin.
    pub fn prompt(&mut self, question: &str) -> std::io::Result<()> {
        write!(self.err, "{question}")?;
        self.err.flush()
    }

    /// A warning on stderr.
    pub fn warn(&mut self, message: &str) -> std::io::Result<()> {
        let label = if self.color {
            "\x1b[1;33mwarning\x1b[0m"
        } else {
            "warning"
        };
        writeln!(self.err, "{label}: {message}")
    }

    /// An error on stderr.
    pub fn error(&mut self, message: &str) -> std::io::Result<()> {
        let label = if self.color {
            "\x1b[1;31merror\x1b[0m"
        } else {
            "error"
        };
        writeln!(self.err, "{label}: {message}")
    }

    /// Extra detail shown with `-v`.
    pub fn verbose(&mut self, message: &str) -> std::io::Result<()> {
        if self.verbosity > 0 {
            writeln!(self.err, "{message}")?;
        }
        Ok(())
    }
}

/// Left-aligned columns separated by three spaces, as kubectl prints tables.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}
