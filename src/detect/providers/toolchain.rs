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
/// `min`. `read_have` is shell that sets `$have` to the builder's version (`1.19.8`);
/// `language` names the toolchain and the `--base-image` prefix.
///
/// The command has no pipe: `sh` (dash) has no `pipefail`, so a pipe would hide a failing
/// first command, and hadolint (DL4006) rightly flags it. The versions go to a file that
/// `sort -V -C` checks for order instead: it succeeds only when the declared version sorts
/// first, that is when the builder's is at least the declared one.
pub fn check_command(
    full_path: &str,
    min: &Minimum<'_>,
    language: &str,
    toolchain: &str,
    read_have: &str,
) -> Result<String, DetectError> {
    // Everything interpolated below is a constant or this checked version, so nothing from
    // the project other than digits and dots reaches the RUN line.
    value_rules::version_number(full_path, min.field, min.version)?;
    let v = min.version;
    Ok(format!(
        "{read_have} && printf '%s\\n' {v} \"$have\" > /tmp/justpush-toolchain-versions && if ! sort -V -C /tmp/justpush-toolchain-versions; then echo \"{file} {field} declares {toolchain} {v}, but the builder image has {toolchain} $have: use a builder with {toolchain} {v} or later (--base-image {language}.builder=IMAGE), or lower the declaration\" >&2; exit 1; fi",
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
        assert!(check_command("go.mod", &min, "go", "Go", "have=1").is_err());
    }

    /// Runs the check in `sh` with `have` set directly: the exit status is the verdict.
    fn check_passes(declared: &str, have: &str) -> bool {
        let min = Minimum {
            file: "go.mod",
            field: "go line",
            version: declared,
        };
        let cmd = check_command("go.mod", &min, "go", "Go", &format!("have={have}")).unwrap();
        assert!(!cmd.contains('|'), "a pipe would hide a failure: {cmd}");
        let out = std::process::Command::new("sh")
            .args(["-c", &cmd])
            .output()
            .unwrap();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!(
                    "declares Go {declared}, but the builder image has Go {have}"
                )),
                "{stderr}"
            );
        }
        out.status.success()
    }

    #[test]
    fn the_check_compares_versions_as_versions() {
        assert!(check_passes("1.22", "1.22.0"));
        assert!(check_passes("1.22", "1.22"));
        assert!(check_passes("1.9", "1.10.1"));
        assert!(!check_passes("1.22", "1.19.8"));
        assert!(!check_passes("1.80.0", "1.63.0"));
    }
}
