//! `signatures-verify`: every signature attachment was verified against the stream's keys.
//!
//! The stage never sees a key and does no cryptography itself (an OpenPGP implementation would
//! multiply its size): the **host** verifies every signature attachment after each stage
//! against the stream's public keys and the release digest, and attaches its report (kind
//! `signature-verification`, replaced by the host after every stage, so a stage cannot forge
//! it). This check reads that report: each `signature-*` attachment must be in it, verified.

use compose_plugin_sdk::{Finding, Release};
use serde::Deserialize;

use super::{Report, plural};

/// One entry of the host's report.
#[derive(Debug, Deserialize)]
struct Entry {
    kind: String,
    index: usize,
    verified: bool,
    message: String,
}

/// The host's report.
#[derive(Debug, Deserialize)]
struct HostReport {
    digest: String,
    keys: Vec<String>,
    signatures: Vec<Entry>,
}

fn is_signature(kind: &str) -> bool {
    kind == "signature-gpg" || kind == "signature-cosign"
}

/// Runs the check.
pub fn check(mut report: Report, release: &impl Release) -> Vec<Finding> {
    let attachments = release.attachments();
    let count = attachments.iter().filter(|a| is_signature(&a.kind)).count();
    if count == 0 {
        return report.finish("no signatures: the release is unsigned");
    }
    let Some(host) = attachments
        .iter()
        .rev()
        .find(|a| a.kind == "signature-verification")
    else {
        report.fail(
            None,
            format!(
                "{} but no verification report from the host",
                plural(count, "signature")
            ),
        );
        return report.finish("");
    };
    let parsed: Result<HostReport, _> = serde_json::from_slice(&host.data);
    let Ok(host) = parsed else {
        report.fail(None, "the host's verification report is not readable");
        return report.finish("");
    };
    if host.signatures.len() != count {
        report.fail(
            None,
            format!(
                "{} attached, {} in the host's verification report",
                plural(count, "signature"),
                host.signatures.len()
            ),
        );
    }
    for entry in host.signatures.iter().filter(|e| !e.verified) {
        let subject = format!("{} #{}", entry.kind, entry.index);
        report.fail(Some(&subject), entry.message.clone());
    }
    report.finish(format!(
        "{} of {} verify against the stream's keys ({})",
        plural(count, "signature"),
        host.digest,
        host.keys.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use compose_plugin_sdk::Attachment;

    use super::*;
    use crate::checks::fixtures::*;
    use crate::config::SIGNATURES_VERIFY;

    fn attach(release: &compose_plugin_sdk::testing::MemoryRelease, kind: &str, data: &str) {
        release.attach(&Attachment {
            kind: kind.into(),
            media_type: "x".into(),
            data: data.as_bytes().to_vec(),
        });
    }

    #[test]
    fn verified_unverified_and_missing_reports() {
        let good = release();
        attach(&good, "signature-gpg", "sig");
        attach(
            &good,
            "signature-verification",
            r#"{"digest": "sha256:aa", "keys": ["ABCD"], "signatures": [{"kind": "signature-gpg", "index": 1, "verified": true, "message": "ok"}]}"#,
        );
        let findings = check(report(SIGNATURES_VERIFY), &good);
        assert_eq!(
            summary(&findings).as_deref(),
            Some("1 signature of sha256:aa verify against the stream's keys (ABCD)")
        );

        let bad = release();
        attach(&bad, "signature-gpg", "sig");
        attach(
            &bad,
            "signature-verification",
            r#"{"digest": "sha256:aa", "keys": [], "signatures": [{"kind": "signature-gpg", "index": 1, "verified": false, "message": "signature-gpg #1 does not verify"}]}"#,
        );
        let findings = check(report(SIGNATURES_VERIFY), &bad);
        assert_eq!(
            errors(&findings),
            [(
                "signature-gpg #1".to_string(),
                "signature-gpg #1 does not verify".to_string()
            )]
        );

        let forged = release();
        attach(&forged, "signature-gpg", "sig");
        assert_eq!(errors(&check(report(SIGNATURES_VERIFY), &forged)).len(), 1);
    }
}
