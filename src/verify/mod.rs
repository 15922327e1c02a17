//! `verify`: proves a deployed app works through its gateway. The regression suite
//! ([`regression`]) is driven by the OpenAPI spec over HTTP; the pod-restart suite
//! ([`restart`]) deletes pods under load through a small trait over the cluster. Results are
//! plain data ([`CaseResult`]) shown as a table or written as JUnit XML ([`junit_xml`]).

pub mod regression;
pub mod restart;
pub mod spec;

use serde::Serialize;
use std::time::Duration;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed,
    Skipped,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseResult {
    pub suite: String,
    pub name: String,
    pub verdict: Verdict,
    /// What was seen (the reason, for a failure).
    pub detail: String,
    #[serde(serialize_with = "ser_secs")]
    pub duration: Duration,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl CaseResult {
    pub fn new(suite: &str, name: impl Into<String>, ok: bool, detail: impl Into<String>) -> Self {
        CaseResult {
            suite: suite.into(),
            name: name.into(),
            verdict: if ok { Verdict::Passed } else { Verdict::Failed },
            detail: detail.into(),
            duration: Duration::ZERO,
        }
    }
    pub fn skipped(suite: &str, name: impl Into<String>, why: impl Into<String>) -> Self {
        CaseResult {
            suite: suite.into(),
            name: name.into(),
            verdict: Verdict::Skipped,
            detail: why.into(),
            duration: Duration::ZERO,
        }
    }
    pub fn took(mut self, d: Duration) -> Self {
        self.duration = d;
        self
    }
}

/// True when any check failed.
pub fn any_failed(results: &[CaseResult]) -> bool {
    results.iter().any(|r| r.verdict == Verdict::Failed)
}

/// The kubectl-style result table.
pub fn results_table(results: &[CaseResult]) -> String {
    let mut rows = vec![["SUITE", "CHECK", "RESULT", "TIME", "DETAIL"]
        .map(String::from)
        .to_vec()];
    for r in results {
        rows.push(vec![
            r.suite.clone(),
            r.name.clone(),
            match r.verdict {
                Verdict::Passed => "pass",
                Verdict::Failed => "FAIL",
                Verdict::Skipped => "skip",
            }
            .into(),
            format!("{:.2}s", r.duration.as_secs_f64()),
            r.detail.clone(),
        ]);
    }
    let passed = results
        .iter()
        .filter(|r| r.verdict == Verdict::Passed)
        .count();
    let failed = results
        .iter()
        .filter(|r| r.verdict == Verdict::Failed)
        .count();
    let skipped = results.len() - passed - failed;
    format!(
        "{}\n{passed} passed, {failed} failed, {skipped} skipped\n",
        crate::output::table(&rows)
    )
}

fn xml_escape(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// JUnit XML: one `<testsuite>` per suite, one `<testcase>` per check.
pub fn junit_xml(results: &[CaseResult]) -> String {
    let mut suites: Vec<&str> = Vec::new();
    for r in results {
        if !suites.contains(&r.suite.as_str()) {
            suites.push(&r.suite);
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total_fail = results
        .iter()
        .filter(|r| r.verdict == Verdict::Failed)
        .count();
    out.push_str(&format!(
        "<testsuites name=\"justpush verify\" tests=\"{}\" failures=\"{total_fail}\">\n",
        results.len()
    ));
    for s in suites {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.suite == s).collect();
        let failures = cases
            .iter()
            .filter(|r| r.verdict == Verdict::Failed)
            .count();
        let skipped = cases
            .iter()
            .filter(|r| r.verdict == Verdict::Skipped)
            .count();
        let time: f64 = cases.iter().map(|r| r.duration.as_secs_f64()).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{time:.3}\">\n",
            xml_escape(s),
            cases.len()
        ));
        for c in cases {
            out.push_str(&format!(
                "    <testcase classname=\"justpush.verify.{}\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(s),
                xml_escape(&c.name),
                c.duration.as_secs_f64()
            ));
            match c.verdict {
                Verdict::Passed => out.push_str(" />\n"),
                Verdict::Failed => out.push_str(&format!(
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml_escape(&c.detail),
                    xml_escape(&c.detail)
                )),
                Verdict::Skipped => out.push_str(&format!(
                    ">\n      <skipped message=\"{}\" />\n    </testcase>\n",
                    xml_escape(&c.detail)
                )),
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_counts_and_escapes() {
        let r = vec![
            CaseResult::new("regression", "GET /a without key → 401", true, "401"),
            CaseResult::new("regression", "GET /b <x>", false, "got 200 & \"ok\""),
            CaseResult::skipped("restart", "database", "no database"),
        ];
        let x = junit_xml(&r);
        assert!(x.contains("<testsuites name=\"justpush verify\" tests=\"3\" failures=\"1\">"));
        assert!(
            x.contains("<testsuite name=\"regression\" tests=\"2\" failures=\"1\" skipped=\"0\"")
        );
        assert!(x.contains("name=\"GET /b &lt;x&gt;\""));
        assert!(x.contains("<failure message=\"got 200 &amp; &quot;ok&quot;\">"));
        assert!(x.contains("<skipped message=\"no database\" />"));
        assert!(any_failed(&r));
        assert!(!any_failed(&r[..1]));
        let t = results_table(&r);
        assert!(
            t.contains("FAIL") && t.ends_with("1 passed, 1 failed, 1 skipped\n"),
            "{t}"
        );
    }
}
