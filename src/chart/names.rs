//! Kubernetes object names as the bundled chart makes them (`justpush.dnsName` in
//! `chart/templates/_helpers.tpl`), for the code that must find the chart's objects by name.

use sha2::Digest;

/// Longest Kubernetes object name the chart makes (a DNS-1123 label).
pub const MAX_NAME: usize = 63;

/// `name` itself when it fits in 63 characters, else its first 52 characters (without a
/// trailing `-`) and the first 10 hex digits of its sha256: long names stay distinct.
pub fn dns_name(name: &str) -> String {
    if name.len() <= MAX_NAME {
        return name.to_string();
    }
    let digest = sha2::Sha256::digest(name.as_bytes());
    let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    let mut end = 52;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{hash}", name[..end].trim_end_matches('-'))
}

/// Longest release name: Helm's limit, which leaves room in 63-character object names for the
/// chart's suffixes (`-backend`, `-route-...`) before `dns_name` has to hash them.
pub const MAX_RELEASE_NAME: usize = 53;

/// The rule a release name follows, worded for error messages.
pub const RELEASE_NAME_RULE: &str = "a release name is 1 to 53 characters: lower-case letters a-z, digits and `-`, starting with a letter and ending with a letter or digit (e.g. `my-app`)";

/// Why a release name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("release name {name:?} {problem}; {RELEASE_NAME_RULE}")]
pub struct ReleaseNameError {
    /// The refused name (printed escaped, so a newline or control character shows as such).
    pub name: String,
    pub problem: &'static str,
}

/// Checks a release name before anything is made from it: it becomes part of every object
/// name (Services need a DNS-1035 label: no dots, a letter first), label values and the
/// release's record and lease names, so anything else would fail late in the API server or,
/// worse, inject into the rendered YAML (`a\nkind: Secret`).
pub fn validate_release_name(name: &str) -> Result<(), ReleaseNameError> {
    let refuse = |problem| {
        Err(ReleaseNameError {
            name: name.to_string(),
            problem,
        })
    };
    if name.is_empty() {
        return refuse("is empty");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        return refuse(if c.is_ascii_uppercase() {
            "has upper-case letters"
        } else if c.is_control() {
            "has a control character (newline, tab, ...)"
        } else if !c.is_ascii() {
            "has a non-ASCII character"
        } else if c == '.' || c == '/' {
            "has `.` or `/` (it is not a path or a DNS subdomain)"
        } else {
            "has a character other than a-z, 0-9 and `-`"
        });
    }
    if name.len() > MAX_RELEASE_NAME {
        return refuse("is longer than 53 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return refuse("does not start with a letter");
    }
    if name.ends_with('-') {
        return refuse("ends with `-`");
    }
    Ok(())
}

/// A valid release name made from any text (a directory's name): its DNS label, cut to
/// [`MAX_RELEASE_NAME`] characters.
pub fn release_name_from(raw: &str) -> String {
    let label = crate::detect::dns_label(raw);
    let cut: String = label.chars().take(MAX_RELEASE_NAME).collect();
    cut.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_follow_one_rule_with_the_reason_named() {
        for good in ["a", "my-app", "todo2", "a-b-c", &"a".repeat(53)] {
            assert_eq!(validate_release_name(good), Ok(()), "{good}");
        }
        let e40 = "é".repeat(40);
        let long = "a".repeat(54);
        for (bad, problem) in [
            ("", "is empty"),
            ("UPPER", "has upper-case letters"),
            ("a..b", "has `.` or `/`"),
            ("../../x", "has `.` or `/`"),
            ("a\nkind: Secret", "has a control character"),
            ("a\u{1}b", "has a control character"),
            (e40.as_str(), "has a non-ASCII character"),
            (long.as_str(), "is longer than 53 characters"),
            ("-a", "does not start with a letter"),
            ("1app", "does not start with a letter"),
            ("a-", "ends with `-`"),
            ("a_b", "has a character other than"),
            ("a b", "has a character other than"),
        ] {
            let e = validate_release_name(bad).expect_err(bad).to_string();
            assert!(e.contains(problem), "{bad:?}: {e}");
            assert!(e.contains("e.g. `my-app`"), "{e}");
        }
        // Escaped, so a hostile name cannot forge lines of output.
        let e = validate_release_name("a\nkind: Secret")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("release name \"a\\nkind: Secret\""), "{e}");
    }

    #[test]
    fn names_made_from_directories_are_valid_release_names() {
        for raw in ["My App", "1st", &"x".repeat(80), "---", "日本"] {
            let n = release_name_from(raw);
            assert_eq!(validate_release_name(&n), Ok(()), "{raw} -> {n}");
        }
    }

    #[test]
    fn short_names_stay_and_long_ones_keep_what_tells_them_apart() {
        assert_eq!(dns_name("demo-justpush-api"), "demo-justpush-api");
        let a = format!("{}-route-orders-a", "r".repeat(50));
        let b = format!("{}-route-orders-b", "r".repeat(50));
        assert_ne!(dns_name(&a), dns_name(&b));
        assert_eq!(dns_name(&a).len(), 63);
        assert!(dns_name(&a).starts_with(&"r".repeat(50)));
    }
}
