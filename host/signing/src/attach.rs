//! Signatures as payload attachments: what the `sign` stage attaches, and the host's check of
//! every signature attachment against the stream's keys and the release digest.
//!
//! - kind [`KIND_OPENPGP`] (`signature-gpg`): the binary OpenPGP signed message of an
//!   `atomic container signature`, exactly the bytes published as `signature-N`;
//! - kind [`KIND_COSIGN`] (`signature-cosign`): JSON `{"payload": B64, "signature": B64}`, the
//!   simple-signing payload (type `cosign container image signature`) and the base64 DER ECDSA
//!   signature published in the `dev.cosignproject.cosign/signature` annotation;
//! - kind [`KIND_REPORT`] (`signature-verification`): written by the **host** after every stage
//!   while signatures exist (a stage's own attachment of this kind is replaced): the result of
//!   verifying each signature, read by `test-release`'s `signatures-verify` check.

use base64::Engine as _;
use compose_payload::Attachment;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::simple::{self, ATOMIC_TYPE, COSIGN_TYPE};
use crate::verify::{TrustedKeys, openpgp_payload, verify_cosign, verify_openpgp};

/// Attachment kind of an OpenPGP release signature.
pub const KIND_OPENPGP: &str = "signature-gpg";
/// Media type of [`KIND_OPENPGP`] attachments (a binary OpenPGP message).
pub const MEDIA_OPENPGP: &str = "application/pgp-signature";
/// Attachment kind of a cosign-format signature.
pub const KIND_COSIGN: &str = "signature-cosign";
/// Media type of [`KIND_COSIGN`] attachments.
pub const MEDIA_COSIGN: &str = "application/vnd.okd.compose.cosign-signature.v1+json";
/// Attachment kind of the host's verification report.
pub const KIND_REPORT: &str = "signature-verification";
/// Media type of [`KIND_REPORT`] attachments.
pub const MEDIA_REPORT: &str = "application/vnd.okd.compose.signature-verification.v1+json";

/// Whether an attachment kind is a signature.
pub fn is_signature(kind: &str) -> bool {
    kind == KIND_OPENPGP || kind == KIND_COSIGN
}

/// The data of a [`KIND_COSIGN`] attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosignEnvelope {
    /// The simple-signing payload, base64.
    pub payload: String,
    /// The DER ECDSA signature, base64.
    pub signature: String,
}

impl CosignEnvelope {
    /// Reads an attachment's data.
    pub fn parse(data: &[u8]) -> Result<CosignEnvelope> {
        serde_json::from_slice(data)
            .map_err(|e| Error::Verify(format!("not a cosign signature attachment: {e}")))
    }

    /// The payload bytes.
    pub fn payload_bytes(&self) -> Result<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.payload)
            .map_err(|e| Error::Verify(format!("the cosign payload is not base64: {e}")))
    }
}

/// The outcome of checking one signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureCheck {
    /// The attachment kind.
    pub kind: String,
    /// 1-based position among the attachments of that kind (`signature-N`).
    pub index: usize,
    /// Whether it verified against a trusted key and names the digest.
    pub verified: bool,
    /// The digest the signature names, if it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The docker reference it names, if it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The fingerprint or key id that verified it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// A sentence for humans.
    pub message: String,
}

/// The host's verification report ([`KIND_REPORT`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationReport {
    /// The digest the release had when the report was made.
    pub digest: String,
    /// Fingerprints / key ids of the keys signatures were checked against.
    pub keys: Vec<String>,
    /// One entry per signature attachment.
    pub signatures: Vec<SignatureCheck>,
}

/// The digest a signature attachment names, without checking the signature.
pub fn signed_digest(attachment: &Attachment) -> Result<String> {
    Ok(payload_of(attachment)?.digest)
}

fn payload_of(attachment: &Attachment) -> Result<simple::SimpleSigning> {
    match attachment.kind.as_str() {
        KIND_OPENPGP => simple::parse(&openpgp_payload(&attachment.data)?, ATOMIC_TYPE),
        KIND_COSIGN => simple::parse(
            &CosignEnvelope::parse(&attachment.data)?.payload_bytes()?,
            COSIGN_TYPE,
        ),
        other => Err(Error::Verify(format!("`{other}` is not a signature kind"))),
    }
}

/// Checks one signature: that a trusted key made it over a well-formed payload naming `digest`.
pub fn check(
    kind: &str,
    index: usize,
    data: &[u8],
    keys: &TrustedKeys,
    digest: &str,
) -> SignatureCheck {
    let mut out = SignatureCheck {
        kind: kind.to_string(),
        index,
        verified: false,
        digest: None,
        reference: None,
        signer: None,
        message: String::new(),
    };
    let verified = match kind {
        KIND_OPENPGP => verify_openpgp(data, &keys.openpgp)
            .and_then(|(payload, signer)| Ok((simple::parse(&payload, ATOMIC_TYPE)?, signer))),
        KIND_COSIGN => CosignEnvelope::parse(data).and_then(|envelope| {
            let payload = envelope.payload_bytes()?;
            let signer = verify_cosign(&payload, &envelope.signature, &keys.cosign)?;
            Ok((simple::parse(&payload, COSIGN_TYPE)?, signer))
        }),
        other => Err(Error::Verify(format!("`{other}` is not a signature kind"))),
    };
    match verified {
        Ok((payload, signer)) => {
            out.digest = Some(payload.digest.clone());
            out.reference = Some(payload.reference.clone());
            out.signer = Some(signer.clone());
            if payload.digest == digest {
                out.verified = true;
                out.message = format!(
                    "{kind} #{index} verifies: key {signer} signed {} as `{}`",
                    payload.digest, payload.reference
                );
            } else {
                out.message = format!(
                    "{kind} #{index} is for {}, not for this release ({digest})",
                    payload.digest
                );
            }
        }
        Err(e) => {
            if let Ok(payload) = payload_of(&Attachment {
                kind: kind.to_string(),
                media_type: String::new(),
                data: data.to_vec(),
            }) {
                out.digest = Some(payload.digest);
                out.reference = Some(payload.reference);
            }
            out.message = format!("{kind} #{index} does not verify: {e}");
        }
    }
    out
}

/// Checks every signature attachment of `attachments`.
pub fn check_all(
    attachments: &[Attachment],
    keys: &TrustedKeys,
    digest: &str,
) -> Vec<SignatureCheck> {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    attachments
        .iter()
        .filter(|a| is_signature(&a.kind))
        .map(|a| {
            let n = counts.entry(a.kind.as_str()).or_default();
            *n += 1;
            check(&a.kind, *n, &a.data, keys, digest)
        })
        .collect()
}

/// Replaces any [`KIND_REPORT`] attachment by a fresh report of `checks`.
pub fn replace_report(attachments: &mut Vec<Attachment>, report: &VerificationReport) {
    attachments.retain(|a| a.kind != KIND_REPORT);
    attachments.push(Attachment {
        kind: KIND_REPORT.to_string(),
        media_type: MEDIA_REPORT.to_string(),
        data: serde_json::to_vec(report).unwrap_or_default(),
    });
}
