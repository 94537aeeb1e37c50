//! The attachments a stage may add to the payload: the kinds compose publishes, checked as
//! they are attached.

use crate::bindings::v0_2::okd::compose0_2_0::release;

/// The attachment kinds a stage may attach: what compose publishes.
pub const ATTACHMENT_KINDS: [&str; 3] = ["signature-gpg", "signature-cosign", "sbom"];

/// `text` for a message: escaped, and cut after 64 characters.
fn shown(text: &str) -> String {
    let mut out: String = text.chars().take(64).flat_map(char::escape_debug).collect();
    if text.chars().nth(64).is_some() {
        out.push('…');
    }
    out
}

/// Checks an attachment a stage adds: a known kind, a media type, and JSON data when the
/// media type says JSON.
pub(crate) fn check_attachment(attachment: &release::Attachment) -> Result<(), String> {
    let kind = attachment.kind.as_str();
    if !ATTACHMENT_KINDS.contains(&kind) {
        let known = ATTACHMENT_KINDS.map(|k| format!("`{k}`")).join(", ");
        return Err(format!(
            "attachment kind `{}` is not one compose publishes (known kinds: {known})",
            shown(kind)
        ));
    }
    if !valid_media_type(&attachment.media_type) {
        return Err(format!(
            "attachment of kind `{kind}`: media type `{}` is not `type/subtype`",
            shown(&attachment.media_type)
        ));
    }
    let essence = attachment
        .media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if kind == "sbom"
        && (essence.ends_with("+json") || essence.ends_with("/json"))
        && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&attachment.data)
    {
        return Err(format!(
            "attachment of kind `sbom` and media type `{}` is not JSON: {e}",
            attachment.media_type
        ));
    }
    Ok(())
}

/// Whether `text` is a media type as OCI descriptors take it (RFC 6838 `type/subtype`,
/// optionally with parameters).
fn valid_media_type(text: &str) -> bool {
    let essence = text.split(';').next().unwrap_or_default().trim();
    let name = |s: &str| {
        (1..=127).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    match essence.split_once('/') {
        Some((kind, sub)) => name(kind) && name(sub) && !text.contains(['\n', '\r']),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn attachment(kind: &str, media_type: &str, data: &[u8]) -> release::Attachment {
        release::Attachment {
            kind: kind.into(),
            media_type: media_type.into(),
            data: data.to_vec(),
        }
    }

    #[test]
    fn attachments_of_unknown_kinds_or_bad_media_types_are_refused() {
        for kind in ATTACHMENT_KINDS {
            check_attachment(&attachment(kind, "application/json", b"{}")).unwrap();
        }
        let e = check_attachment(&attachment("report", "text/plain", b"")).unwrap_err();
        assert!(
            e.contains("`signature-gpg`, `signature-cosign`, `sbom`"),
            "{e}"
        );
        let e = check_attachment(&attachment(
            "signature-verification",
            "application/json",
            b"",
        ))
        .unwrap_err();
        assert!(e.contains("not one compose publishes"), "{e}");
        let long = "k".repeat(10_000);
        let e = check_attachment(&attachment(&long, "text/plain", b"")).unwrap_err();
        assert!(e.len() < 300, "the whole kind is echoed: {} bytes", e.len());
        for bad in [
            "",
            "json",
            "a/b/c",
            "/json",
            "application/",
            "text/plain\nX: y",
        ] {
            assert!(
                check_attachment(&attachment("sbom", bad, b"{}")).is_err(),
                "{bad:?}"
            );
        }
        check_attachment(&attachment(
            "sbom",
            "application/vnd.cyclonedx+json; version=1.6",
            b"{}",
        ))
        .unwrap();
        check_attachment(&attachment("sbom", "text/spdx", b"SPDXVersion: SPDX-2.3")).unwrap();
        let e =
            check_attachment(&attachment("sbom", "application/spdx+json", b"nope")).unwrap_err();
        assert!(e.contains("is not JSON"), "{e}");
    }
}
