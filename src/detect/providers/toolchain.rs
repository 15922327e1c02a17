//! Declared toolchain versions (go.mod's `go` line, rust-toolchain channels, Cargo's
//! `rust-version`) turned into a base-image tag and a builder-stage check that the builder's
//! toolchain is at least the declared one.
//!
//! The check runs first in the builder, so a base image that is too old (a mirror's, or
//! `--base-image`'s) fails in seconds with the declaration and the flag that fixes it, instead
//! of minutes later with a compiler error about a language feature.

use std::sync::LazyLock;

use regex::Regex;

use crate::detect::{value_rules, DetectError};

/// A version number's numeric part: `1.22.3` of `1.22.3`, `1.21` of `1.21rc2`.
pub fn numeric_part(text: &str) -> Option<&str> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[0-9]+\.[0-9]+(\.[0-9]+)?").unwrap());
    RE.find(text).map(|m| m.as_str())
}

/// `major.minor` of a numeric version, the form the official images are tagged with.
pub fn major_minor(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// A minimum toolchain version as it is declared.
pub struct Minimum<'a> {
    /// The file that declares it (`go.mod`), relative to the component.
    pub file: &'a str,
    /// The declaration's name (`go line`, `rust-version`).
    pub field: &'a str,
    /// The numeric version (checked: digits and dots).
    pub version: &'a str,
}

/// The builder-stage command that stops the build when the builder's toolchain is older than
/// `min`. `have` is a shell command printing the builder's version (`1.19.8`); `language`
/// names the toolchain and the `--base-image` prefix.
pub fn check_command(
    full_path: &str,
    min: &Minimum<'_>,
    language: &str,
    toolchain: &str,
    have: &str,
) -> Result<String, DetectError> {
    // Everything interpolated below is a constant or this checked version, so nothing from
    // the project other than digits and dots reaches the RUN line.
    value_rules::version_number(full_path, min.field, min.version)?;
    let v = min.version;
    Ok(format!(
        "have=\"$({have})\" && if [ \"$(printf '%s\\n' {v} \"$have\" | sort -V | head -n 1)\" != {v} ]; then echo \"{file} {field} declares {toolchain} {v}, but the builder image has {toolchain} $have: use a builder with {toolchain} {v} or later (--base-image {language}.builder=IMAGE), or lower the declaration\" >&2; exit 1; fi",
        file = min.file,
        field = min.field,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_parts_and_tags() {
        assert_eq!(numeric_part("1.21rc2"), Some("1.21"));
        assert_eq!(numeric_part("1.22.3"), Some("1.22.3"));
        assert_eq!(numeric_part("stable"), None);
        assert_eq!(major_minor("1.22.3"), "1.22");
    }

    #[test]
    fn check_command_refuses_anything_but_a_version() {
        let min = Minimum {
            file: "go.mod",
            field: "go line",
            version: "1.22\nRUN curl x",
        };
        assert!(check_command("go.mod", &min, "go", "Go", "go version").is_err());
    }
}
