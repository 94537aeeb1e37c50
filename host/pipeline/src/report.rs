//! The findings of every stage, as `report.json`, `junit.xml` (for CI systems) and
//! `report.md` (for people).
//!
//! A passed run writes them into the output layout next to `index.json`; a run stopped by
//! failed checks writes them into `<out>.failed/` so CI can still show why, while the output
//! itself stays untouched.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use quick_junit::{
    NonSuccessKind, Property, Report as JunitReport, TestCase, TestCaseStatus, TestSuite,
};
use serde::{Deserialize, Serialize};

use compose_runtime::{Finding, Severity};

/// What one stage did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageReport {
    /// The stage.
    pub stage: String,
    /// Its plugin.
    pub plugin: String,
    /// The plugin's wasm digest.
    pub digest: String,
    /// Instantiation time, milliseconds.
    pub instantiate_millis: f64,
    /// Run time, milliseconds.
    pub run_millis: f64,
    /// Findings.
    pub findings: Vec<Finding>,
}

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
            (
                JUNIT_XML,
                self.junit().map(String::into_bytes).unwrap_or_default(),
            ),
            (REPORT_MD, self.markdown().into_bytes()),
        ]
    }

    /// JUnit XML: one test suite per stage, one test case per finding. Failed errors are
    /// `<failure>`s; failed warnings pass with the warning in `<system-out>`.
    ///
    /// Written with `quick-junit` (cargo-nextest's writer) rather than by hand: it escapes
    /// text and replaces the characters XML 1.0 cannot carry, and its output is read by
    /// `junitparser` (tests/e2e/checks.rs). It costs five small crates beside itself
    /// (quick-xml, uuid, newtype-uuid, strip-ansi-escapes, vte). The bytes differ from the
    /// hand-written writer this replaced (indentation, attribute order, `skipped` counts);
    /// no test or digest pins them: `junit.xml` is outside the release digest.
    pub fn junit(&self) -> Result<String, quick_junit::SerializeError> {
        let mut report = JunitReport::new(format!("compose {}", self.stream));
        for stage in self.stages {
            let mut suite = TestSuite::new(stage.stage.as_str());
            suite.set_time(
                Duration::try_from_secs_f64(stage.run_millis / 1000.0).unwrap_or_default(),
            );
            suite.add_property(Property::new("plugin", stage.plugin.as_str()));
            suite.add_property(Property::new("digest", stage.digest.as_str()));
            for f in &stage.findings {
                let name = match &f.subject {
                    Some(subject) => format!("{}: {subject}", f.check),
                    None => f.check.clone(),
                };
                let status = if !f.passed && f.severity == Severity::Error {
                    let mut failure = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    failure
                        .set_type("error")
                        .set_message(f.message.as_str())
                        .set_description(f.message.as_str());
                    failure
                } else {
                    TestCaseStatus::success()
                };
                let mut case = TestCase::new(name, status);
                case.set_classname(format!("{}.{}", stage.stage, f.check))
                    .set_time(Duration::ZERO);
                if !f.passed && f.severity != Severity::Error {
                    case.set_system_out(format!("{}: {}", severity_name(f.severity), f.message));
                }
                suite.add_test_case(case);
            }
            report.add_test_suite(suite);
        }
        report.to_string()
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
        let x = Report::new("s", "4.17.0", None, &stages).junit().unwrap();
        assert!(
            x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
            "{x}"
        );
        assert!(
            x.contains("<testsuites name=\"compose s\" tests=\"3\" skipped=\"0\" failures=\"1\" errors=\"0\">"),
            "{x}"
        );
        assert!(x.contains("a&lt;b&gt;&amp;&quot;c&quot;"), "{x}");
        assert_eq!(x.matches("<failure ").count(), 1, "{x}");
        assert!(
            x.contains("<failure message=\"msg &lt;x&gt;\" type=\"error\">msg &lt;x&gt;</failure>"),
            "{x}"
        );
        assert!(
            x.contains("<system-out>warning: msg &lt;x&gt;</system-out>"),
            "{x}"
        );
    }

    #[test]
    fn junit_reads_back_as_what_was_found() {
        let mut stages = stages();
        // XML 1.0 cannot carry most control characters: the report must stay well formed.
        stages[0].findings[1].message = "bell\u{7} and\u{1b}[31m red".into();
        let x = Report::new("s", "4.17.0", None, &stages).junit().unwrap();
        let back = quick_junit::Report::deserialize_from_str(&x).unwrap();
        assert_eq!((back.tests, back.failures, back.errors), (3, 1, 0));
        let suite = &back.test_suites[0];
        assert_eq!(suite.name.as_str(), "test");
        assert_eq!(suite.time, Some(Duration::from_millis(12)));
        let props: Vec<(&str, &str)> = suite
            .properties
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            props,
            [("plugin", "builtin:test-release"), ("digest", "sha256:00")]
        );
        let cases: Vec<(&str, &str, bool)> = suite
            .test_cases
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.classname.as_ref().map_or("", |n| n.as_str()),
                    matches!(c.status, TestCaseStatus::Success { .. }),
                )
            })
            .collect();
        assert_eq!(
            cases,
            [
                ("images-pinned: a<b>&\"c\"", "test.images-pinned", true),
                ("no-rhel-content: a<b>&\"c\"", "test.no-rhel-content", false),
                ("ubi: a<b>&\"c\"", "test.ubi", true),
            ]
        );
        match &suite.test_cases[1].status {
            TestCaseStatus::NonSuccess {
                kind, message, ty, ..
            } => {
                assert_eq!(*kind, NonSuccessKind::Failure);
                assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("error"));
                let message = message.as_ref().map(|m| m.as_str()).unwrap_or_default();
                assert!(
                    message.starts_with("bell") && message.ends_with(" red"),
                    "{message:?}"
                );
                assert!(
                    !message.contains('\u{7}') && !message.contains('\u{1b}'),
                    "{message:?}"
                );
            }
            other => panic!("not a failure: {other:?}"),
        }
        assert_eq!(
            suite.test_cases[2].system_out.as_ref().map(|o| o.as_str()),
            Some("warning: msg <x>")
        );
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
