//! Semantic versions and constraints with the rules of Masterminds/semver v3, which Helm's
//! `semver` and `semverCompare` use: lenient versions (`v1.2`, `3.9`), `||` and `,` ranges,
//! `~`, `^`, wildcards, hyphen ranges, and pre-releases that only match constraints that name one.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub meta: String,
    pub original: String,
}

impl Version {
    /// Parses a version leniently, as `semver.NewVersion` does.
    pub fn parse(s: &str) -> Result<Version, String> {
        let original = s.to_string();
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let (core, meta) = match t.split_once('+') {
            Some((c, m)) => (c, m.to_string()),
            None => (t, String::new()),
        };
        let (core, pre) = match core.split_once('-') {
            Some((c, p)) => (c, p.to_string()),
            None => (core, String::new()),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err("Invalid Semantic Version".into());
        }
        let mut nums = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            if !p.chars().all(|c| c.is_ascii_digit()) {
                return Err("Invalid Semantic Version".into());
            }
            nums[i] = p
                .parse()
                .map_err(|_| "Invalid Semantic Version".to_string())?;
        }
        if (!pre.is_empty() && !valid_ident(&pre)) || (!meta.is_empty() && !valid_ident(&meta)) {
            return Err("Invalid Semantic Version".into());
        }
        Ok(Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre,
            meta,
            original,
        })
    }

    pub fn cmp_precedence(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| cmp_pre(&self.pre, &o.pre))
    }
}

fn valid_ident(s: &str) -> bool {
    s.split('.')
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let pa: Vec<&str> = a.split('.').collect();
    let pb: Vec<&str> = b.split('.').collect();
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(i), Ok(j)) => i.cmp(&j),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

/// One `op version` term, with which parts were wildcards.
#[derive(Debug, Clone)]
struct Term {
    op: String,
    v: Version,
    /// How many leading parts were given (1 = major only; wildcards count as absent).
    given: usize,
}

/// Does `version` satisfy `constraint`?
pub fn satisfies(constraint: &str, version: &Version) -> Result<bool, String> {
    let groups = parse_constraint(constraint)?;
    Ok(groups
        .iter()
        .any(|and| and.iter().all(|t| term_matches(t, version))))
}

fn parse_constraint(c: &str) -> Result<Vec<Vec<Term>>, String> {
    let mut groups = Vec::new();
    for or_part in c.split("||") {
        let mut terms = Vec::new();
        // Hyphen ranges: "1.2 - 1.4.5".
        let norm = or_part.replace(" - ", " HYPHEN ");
        let toks: Vec<String> = norm
            .split([',', ' '])
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_string())
            .collect();
        // Join an operator separated from its version by spaces (">= 1.2").
        let mut merged: Vec<String> = Vec::new();
        for t in toks {
            if let Some(last) = merged.last_mut() {
                if !last.is_empty() && last.chars().all(|c| "<>=!~^".contains(c)) {
                    last.push_str(&t);
                    continue;
                }
            }
            merged.push(t);
        }
        let mut i = 0;
        while i < merged.len() {
            if i + 2 < merged.len() && merged[i + 1] == "HYPHEN" {
                terms.push(term(&format!(">={}", merged[i]))?);
                terms.push(term(&format!("<={}", merged[i + 2]))?);
                i += 3;
                continue;
            }
            terms.push(term(&merged[i])?);
            i += 1;
        }
        if terms.is_empty() {
            return Err(format!("improper constraint: {c}"));
        }
        groups.push(terms);
    }
    Ok(groups)
}

fn term(s: &str) -> Result<Term, String> {
    let op_len = s.chars().take_while(|c| "<>=!~^".contains(*c)).count();
    let (op, rest) = s.split_at(op_len);
    let op = match op {
        "=>" => ">=".to_string(),
        "=<" => "<=".to_string(),
        "~>" => "~".to_string(),
        o => o.to_string(),
    };
    if !["", "=", "!=", ">", "<", ">=", "<=", "~", "^"].contains(&op.as_str()) {
        return Err(format!("improper constraint: {s}"));
    }
    let rest = rest.trim().strip_prefix('v').unwrap_or(rest.trim());
    let (core, tail) = match rest.find(['-', '+']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let mut given = 0;
    let mut parts = Vec::new();
    for p in core.split('.') {
        if p == "*" || p == "x" || p == "X" || p.is_empty() {
            break;
        }
        parts.push(p);
        given += 1;
    }
    let mut full = parts.join(".");
    if full.is_empty() {
        full = "0".into();
    }
    let v = Version::parse(&format!("{full}{tail}"))
        .map_err(|_| format!("improper constraint: {s}"))?;
    Ok(Term { op, v, given })
}

fn term_matches(t: &Term, v: &Version) -> bool {
    // A pre-release version only satisfies constraints that carry a pre-release themselves.
    if !v.pre.is_empty() && t.v.pre.is_empty() && t.op != "!=" {
        return false;
    }
    let c = &t.v;
    let cmp = v.cmp_precedence(c);
    match t.op.as_str() {
        "" | "=" => {
            if t.given < 3 {
                wildcard_eq(t, v)
            } else {
                cmp == Ordering::Equal
            }
        }
        "!=" => {
            if t.given < 3 {
                !wildcard_eq(t, v)
            } else {
                cmp != Ordering::Equal
            }
        }
        ">" => {
            if t.given == 0 {
                false
            } else if t.given < 3 {
                // ">1.2" means greater than any 1.2.x.
                let upper = bump(c, t.given);
                v.cmp_precedence(&upper) != Ordering::Less
            } else {
                cmp == Ordering::Greater
            }
        }
        ">=" => cmp != Ordering::Less,
        "<" => cmp == Ordering::Less,
        "<=" => {
            if t.given < 3 && t.given > 0 {
                v.cmp_precedence(&bump(c, t.given)) == Ordering::Less
            } else {
                cmp != Ordering::Greater
            }
        }
        "~" => {
            if cmp == Ordering::Less {
                return false;
            }
            let upper = if t.given <= 1 { bump(c, 1) } else { bump(c, 2) };
            v.cmp_precedence(&upper) == Ordering::Less
        }
        "^" => {
            if cmp == Ordering::Less {
                return false;
            }
            let upper = if c.major > 0 || t.given == 1 {
                bump(c, 1)
            } else if c.minor > 0 || t.given == 2 {
                bump(c, 2)
            } else {
                bump(c, 3)
            };
            v.cmp_precedence(&upper) == Ordering::Less
        }
        _ => false,
    }
}

fn wildcard_eq(t: &Term, v: &Version) -> bool {
    let c = &t.v;
    (t.given < 1 || v.major == c.major)
        && (t.given < 2 || v.minor == c.minor)
        && (t.given < 3 || v.patch == c.patch)
}

/// The smallest version above every version that shares the first `parts` parts with `v`.
fn bump(v: &Version, parts: usize) -> Version {
    let (major, minor, patch) = match parts {
        1 => (v.major + 1, 0, 0),
        2 => (v.major, v.minor + 1, 0),
        _ => (v.major, v.minor, v.patch + 1),
    };
    // "-0" is the lowest pre-release, so the bound also excludes pre-releases of it.
    Version {
        major,
        minor,
        patch,
        pre: "0".into(),
        meta: String::new(),
        original: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sat(c: &str, v: &str) -> bool {
        satisfies(c, &Version::parse(v).unwrap()).unwrap()
    }

    #[test]
    fn constraints_follow_masterminds_rules() {
        assert!(sat(">= 3.0.0", "3.9"));
        assert!(sat(">=1.19-0", "v1.30.0"));
        assert!(sat(">=1.19-0", "1.30.0-gke.1"));
        assert!(!sat(">=1.19", "1.30.0-gke.1"));
        assert!(sat("<3.0.0", "2.8.1"));
        assert!(!sat("< 3.0.0", "3.0.0"));
        assert!(sat("~1.2.3", "1.2.9"));
        assert!(!sat("~1.2.3", "1.3.0"));
        assert!(sat("^1.2", "1.9.0"));
        assert!(!sat("^1.2", "2.0.0"));
        assert!(sat("^0.2.3", "0.2.5"));
        assert!(!sat("^0.2.3", "0.3.0"));
        assert!(sat("1.2.x", "1.2.7"));
        assert!(sat(">= 1.2, < 1.4 || 2.x", "2.5.0"));
        assert!(sat("1.1 - 1.3", "1.3.0"));
        assert!(!sat(">1.2", "1.2.9"));
        assert!(sat(">1.2", "1.3.0"));
        assert!(sat("<=1.2", "1.2.9"));
        assert!(sat("*", "4.0.0"));
    }

    #[test]
    fn bad_versions_and_constraints_are_errors() {
        assert!(Version::parse("latest").is_err());
        assert!(satisfies(">>1", &Version::parse("1.0.0").unwrap()).is_err());
    }
}
