//! Constructors for [`Finding`]s, the results a stage returns.
//!
//! A finding is one result of one check: a selection decision, a patch applied, a test. The
//! severity says how bad a *failed* finding is; an `error` finding that did not pass fails the
//! whole run, and nothing is published.

use crate::{Finding, Severity};

/// A passed check, reported for information (e.g. "dropped tag `x`: matched `*-rhel*`").
pub fn info(check: &str, subject: Option<&str>, message: impl Into<String>) -> Finding {
    make(check, true, Severity::Info, subject, message)
}

/// A failed check that does not stop the run: reported, and the release is still published.
pub fn warning(check: &str, subject: Option<&str>, message: impl Into<String>) -> Finding {
    make(check, false, Severity::Warning, subject, message)
}

/// A failed check that fails the run: nothing is published.
pub fn error(check: &str, subject: Option<&str>, message: impl Into<String>) -> Finding {
    make(check, false, Severity::Error, subject, message)
}

/// A finding with every field chosen by the caller.
pub fn make(
    check: &str,
    passed: bool,
    severity: Severity,
    subject: Option<&str>,
    message: impl Into<String>,
) -> Finding {
    Finding {
        check: check.to_string(),
        passed,
        severity,
        subject: subject.map(str::to_string),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_set_passed_and_severity() {
        let found = info("select", Some("cli"), "kept");
        assert!(found.passed);
        assert_eq!(found.severity, Severity::Info);
        assert_eq!(found.subject.as_deref(), Some("cli"));
        assert_eq!(found.message, "kept");

        let found = warning("select", None, String::from("odd"));
        assert!(!found.passed);
        assert_eq!(found.severity, Severity::Warning);
        assert_eq!(found.subject, None);

        let found = error("select", Some("x"), "bad");
        assert!(!found.passed);
        assert_eq!(found.severity, Severity::Error);
        assert_eq!(found.check, "select");
    }
}
