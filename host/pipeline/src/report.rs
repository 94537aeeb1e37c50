//! The findings of every stage, as `report.json`, `junit.xml` (for CI systems) and
//! `report.md` (for people).
//!
//! A passed run writes them into the output layout next to `index.json`; a run stopped by
//! failed checks writes them into `<out>.failed/` so CI can still show why, while the output
//! itself stays untouched.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use compose_runtime::{Finding, Severity};

use crate::run::StageReport;

/// File name of the JSON report.
pub const REPORT_JSON: &str = "report.json";
/// File name of the JUnit XML report.
pub const JUNIT_XML: &str = "junit.xml";
/// File name of the Markdown report.
pub const REPORT_MD: &str = "report.md";

/// Counts over all findings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// All findings.
    pub findings: usize,
    /// Findings that passed.
    pub passed: usize,
    /// Failed findings of severity error: these stop the run.
    pub errors: usize,
    /// Failed findings of severity warning or info: reported only.
    pub warnings: usize,
}

/// The whole report of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report<'a> {
    /// The stream.
    pub stream: &'a str,
    /// The release name.
    pub release: &'a str,
    /// The published digest; none when the run failed.
    pub digest: Option<&'a str>,
    /// `passed` or `failed`.
    pub result: &'static str,
    /// Counts.
    pub summary: Summary,
    /// Per stage, in run order.
    pub stages: &'a [StageReport],
}

impl<'a> Report<'a> {
    /// A report over `stages`.
    pub fn new(
        stream: &'a str,
        release: &'a str,
        digest: Option<&'a str>,
        stages: &'a [StageReport],
    ) -> Self {
        let mut summary = Summary::default();
        for f in stages.iter().flat_map(|s| &s.findings) {
            summary.findings += 1;
            match (f.passed, f.severity) {
                (true, _) => summary.passed += 1,
                (false, Severity::Error) => summary.errors += 1,
                (false, _) => summary.warnings += 1,
            }
        }
        Report {
            stream,
            release,
            digest,
            result: if summary.errors == 0 && digest.is_some() {
                "passed"
            } else {
                "failed"
            },
            summary,
            stages,
        }
    }

    /// The three report files: (file name, bytes).
    pub fn files(&self) -> Vec<(&'static str, Vec<u8>)> {
        let json = serde_json::to_vec_pretty(self).unwrap_or_default();
        vec![
            (REPORT_JSON, json),
            (JUNIT_XML, self.junit().into_bytes()),
            (REPORT_MD, self.markdown().into_bytes()),
        ]
    }

    /// JUnit XML: one test suite per stage, one test case per finding. Failed errors are
    /// `<failure>`s; failed warnings pass with the warning in `<system-out>`.
    pub fn junit(&self) -> String {
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            x,
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\">",
            escape(&format!("compose {}", self.stream)),
            self.summary.findings,
            self.summary.errors
        );
        for stage in self.stages {
            let failures = stage
                .findings
                .iter()
                .filter(|f| !f.passed && f.severity == Severity::Error)
                .count();
            let _ = writeln!(
                x,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{:.3}\">",
                escape(&stage.stage),
                stage.findings.len(),
                stage.run_millis / 1000.0
            );
            let _ = writeln!(
                x,
                "    <properties><property name=\"plugin\" value=\"{}\"/><property name=\"digest\" value=\"{}\"/></properties>",
                escape(&stage.plugin),
                escape(&stage.digest)
            );
            for f in &stage.findings {
                let name = match &f.subject {
                    Some(subject) => format!("{}: {subject}", f.check),
                    None => f.check.clone(),
                };
                let _ = write!(
                    x,
                    "    <testcase classname=\"{}.{}\" name=\"{}\" time=\"0\"",
                    escape(&stage.stage),
                    escape(&f.check),
                    escape(&name)
                );
                match (f.passed, f.severity) {
                    (true, _) => x.push_str("/>\n"),
                    (false, Severity::Error) => {
                        let _ = writeln!(
                            x,
                            ">\n      <failure type=\"error\" message=\"{}\">{}</failure>\n    </testcase>",
                            escape(&f.message),
                            escape(&f.message)
                        );
                    }
                    (false, severity) => {
                        let _ = writeln!(
                            x,
                            ">\n      <system-out>{}: {}</system-out>\n    </testcase>",
                            severity_name(severity),
                            escape(&f.message)
                        );
                    }
                }
            }
            x.push_str("  </testsuite>\n");
        }
        x.push_str("</testsuites>\n");
        x
    }

    /// Markdown: a summary line, then a table per stage.
    pub fn markdown(&self) -> String {
        let mut m = String::new();
        let _ = writeln!(m, "# Release report: {} ({})\n", self.release, self.stream);
        let _ = writeln!(
            m,
            "Result: **{}**{}. {} findings: {} passed, {} failed errors, {} warnings.\n",
            self.result,
            self.digest
                .map(|d| format!(", digest `{d}`"))
                .unwrap_or_default(),
            self.summary.findings,
            self.summary.passed,
            self.summary.errors,
            self.summary.warnings
        );
        for stage in self.stages {
            let _ = writeln!(
                m,
                "## Stage `{}` ({}, run {:.1} ms)\n",
                stage.stage, stage.plugin, stage.run_millis
            );
            if stage.findings.is_empty() {
                m.push_str("No findings.\n\n");
                continue;
            }
            m.push_str(
                "| result | severity | check | subject | message |\n|---|---|---|---|---|\n",
            );
            for f in &stage.findings {
                let _ = writeln!(
                    m,
                    "| {} | {} | {} | {} | {} |",
                    outcome(f),
                    severity_name(f.severity),
                    cell(&f.check),
                    cell(f.subject.as_deref().unwrap_or("")),
                    cell(&f.message)
                );
            }
            m.push('\n');
        }
        m
    }
}

/// Where the reports of a run stopped by failed checks go: `<out>.failed`.
pub fn failed_report_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".failed");
    out.with_file_name(name)
}

/// Removes the reports of an earlier failed run (`<out>.failed/`): only the report files,
/// then the directory if that left it empty, so nothing else a user keeps there is lost.
pub fn remove_failed_report(out: &Path) {
    let dir = failed_report_dir(out);
    for name in [REPORT_JSON, JUNIT_XML, REPORT_MD] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let _ = std::fs::remove_dir(&dir);
}

/// Writes the report files into `dir` (created if missing).
pub fn write_files(dir: &Path, report: &Report<'_>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in report.files() {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

fn outcome(f: &Finding) -> &'static str {
    match (f.passed, f.severity) {
        (true, _) => "pass",
        (false, Severity::Error) => "FAIL",
        (false, _) => "warn",
    }
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

/// Text for a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Text for XML attributes and content.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no escape for most control characters: drop them.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(check: &str, passed: bool, severity: Severity) -> Finding {
        Finding {
            check: check.into(),
            passed,
            severity,
            subject: Some("a<b>&\"c\"".into()),
            message: "msg <x>".into(),
        }
    }

    fn stages() -> Vec<StageReport> {
        vec![StageReport {
            stage: "test".into(),
            plugin: "builtin:test-release".into(),
            digest: "sha256:00".into(),
            instantiate_millis: 0.1,
            run_millis: 12.0,
            findings: vec![
                finding("images-pinned", true, Severity::Error),
                finding("no-rhel-content", false, Severity::Error),
                finding("ubi", false, Severity::Warning),
            ],
        }]
    }

    #[test]
    fn summary_counts_and_result() {
        let stages = stages();
        let r = Report::new("s", "4.17.0", None, &stages);
        assert_eq!(
            r.summary,
            Summary {
                findings: 3,
                passed: 1,
                errors: 1,
                warnings: 1
            }
        );
        assert_eq!(r.result, "failed");
    }

    #[test]
    fn junit_escapes_and_marks_failures() {
        let stages = stages();
        let x = Report::new("s", "4.17.0", None, &stages).junit();
        assert!(x.contains("tests=\"3\" failures=\"1\""));
        assert!(x.contains("a&lt;b&gt;&amp;&quot;c&quot;"));
        assert_eq!(x.matches("<failure ").count(), 1);
        assert!(x.contains("<system-out>warning: msg &lt;x&gt;</system-out>"));
    }

    #[test]
    fn markdown_has_a_row_per_finding() {
        let stages = stages();
        let m = Report::new("s", "4.17.0", Some("sha256:1"), &stages).markdown();
        assert_eq!(m.matches("\n| pass |").count(), 1);
        assert_eq!(m.matches("\n| FAIL |").count(), 1);
        assert_eq!(m.matches("\n| warn |").count(), 1);
    }

    #[test]
    fn failed_reports_go_beside_the_output() {
        assert_eq!(
            failed_report_dir(Path::new("out/okd-scos")),
            PathBuf::from("out/okd-scos.failed")
        );
    }
}
