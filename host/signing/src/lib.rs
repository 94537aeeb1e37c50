//! Release signing for `compose`: keys held by the host, signatures clusters and real
//! verifiers accept.
//!
//! - [`keys`]: generating OpenPGP (RSA 3072) and cosign (ECDSA P-256) key pairs, reading keys;
//! - [`ring`]: loading the stream's `[keys.NAME]` from files or `env:VAR`;
//! - [`signer`]: [`StreamSigner`], the host side of the WIT `signer` import (private keys never
//!   enter a plugin);
//! - [`sign`] and [`verify`]: OpenPGP signed messages (what `gpg --sign` makes and the CVO,
//!   `gpg --verify` and skopeo `signedBy` accept) and cosign-format ECDSA signatures;
//! - [`simple`]: the signed "simple signing" payloads;
//! - [`plugin`]: cosign signatures of plugin artifacts and the check of a stream's trust policy;
//! - [`attach`]: signatures as payload attachments, and the host's check of them;
//! - [`publish`]: the signature store, skopeo lookaside and cosign `.sig` manifest in the
//!   output OCI layout, and the `.att` attestation;
//! - [`dsse`] and [`provenance`]: DSSE envelopes and the SLSA provenance statement they carry.

#![deny(missing_docs)]

pub mod attach;
pub mod dsse;
pub mod error;
pub mod keys;
pub mod plugin;
pub mod provenance;
pub mod publish;
pub mod ring;
pub mod sign;
pub mod signer;
pub mod simple;
pub mod verify;

pub use error::{Error, Result};
pub use keys::{KeyKind, PrivateKey, PublicKey};
pub use ring::StreamKeys;
pub use signer::StreamSigner;
pub use verify::TrustedKeys;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::{Arc, OnceLock};

    use compose_payload::Attachment;
    use compose_runtime::{SignatureFormat, Signer as _};

    use super::*;
    use crate::attach::{CosignEnvelope, KIND_COSIGN, KIND_OPENPGP, check_all};
    use crate::ring::LoadedKey;
    use crate::simple::{ATOMIC_TYPE, COSIGN_TYPE, payload};

    /// One RSA key per test binary: generating one takes a second or two.
    fn openpgp_pair() -> &'static keys::OpenPgpPair {
        static PAIR: OnceLock<keys::OpenPgpPair> = OnceLock::new();
        PAIR.get_or_init(|| {
            keys::generate_openpgp("test <test@example.invalid>", Some("pw")).unwrap()
        })
    }

    fn stream_keys() -> StreamKeys {
        let pair = openpgp_pair();
        let cosign = keys::generate_cosign(None).unwrap();
        let mut ring = StreamKeys::default();
        let private = PrivateKey::parse(&pair.private_armored, Some("pw")).unwrap();
        ring.keys.insert(
            "release".into(),
            LoadedKey {
                public: Some(private.public()),
                private: Some(private),
            },
        );
        let private = PrivateKey::parse(&cosign.private_pem, None).unwrap();
        ring.keys.insert(
            "cosign".into(),
            LoadedKey {
                public: Some(private.public()),
                private: Some(private),
            },
        );
        ring
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn sign_then_check_both_formats_and_reject_tampering() {
        let ring = Arc::new(stream_keys());
        let signer = StreamSigner::new(ring.clone(), Some(1_700_000_000));
        let atomic = payload(
            ATOMIC_TYPE,
            "quay.io/okd/scos-release:4.17.0",
            DIGEST,
            "compose",
            Some(1),
        );
        let gpg = signer
            .sign("release", SignatureFormat::OpenPgp, &atomic)
            .unwrap();
        // Deterministic with a fixed time.
        assert_eq!(
            gpg,
            signer
                .sign("release", SignatureFormat::OpenPgp, &atomic)
                .unwrap()
        );
        let cosign_payload = payload(
            COSIGN_TYPE,
            "quay.io/okd/scos-release:4.17.0",
            DIGEST,
            "compose",
            Some(1),
        );
        let sig = signer
            .sign("cosign", SignatureFormat::Cosign, &cosign_payload)
            .unwrap();
        let envelope = CosignEnvelope {
            payload: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                &cosign_payload,
            ),
            signature: String::from_utf8(sig).unwrap(),
        };
        let attachments = vec![
            Attachment {
                kind: KIND_OPENPGP.into(),
                media_type: String::new(),
                data: gpg.clone(),
            },
            Attachment {
                kind: KIND_COSIGN.into(),
                media_type: String::new(),
                data: serde_json::to_vec(&envelope).unwrap(),
            },
        ];
        let trusted = ring.trusted();
        let checks = check_all(&attachments, &trusted, DIGEST);
        assert!(checks.iter().all(|c| c.verified), "{checks:#?}");

        // Another digest: readable, but not for this release.
        let other = check_all(&attachments, &trusted, "sha256:ffff");
        assert!(
            other
                .iter()
                .all(|c| !c.verified && c.digest.as_deref() == Some(DIGEST))
        );

        // A flipped byte in the OpenPGP signature.
        let mut tampered = gpg.clone();
        let last = tampered.len() - 3;
        tampered[last] ^= 1;
        let checks = check_all(
            &[Attachment {
                kind: KIND_OPENPGP.into(),
                media_type: String::new(),
                data: tampered,
            }],
            &trusted,
            DIGEST,
        );
        assert!(!checks[0].verified, "{checks:#?}");

        // The wrong keys.
        let mut wrong = TrustedKeys::default();
        wrong.add(PublicKey::parse(&keys::generate_cosign(None).unwrap().public_pem).unwrap());
        let checks = check_all(&attachments, &wrong, DIGEST);
        assert!(checks.iter().all(|c| !c.verified), "{checks:#?}");

        // Format and key must agree; unknown keys are refused.
        assert!(
            signer
                .sign("release", SignatureFormat::Cosign, b"x")
                .is_err()
        );
        assert!(signer.sign("nope", SignatureFormat::OpenPgp, b"x").is_err());
        assert!(
            signer
                .public_key("release", SignatureFormat::OpenPgp)
                .unwrap()
                .contains("BEGIN PGP PUBLIC KEY BLOCK")
        );
        assert!(
            signer
                .public_key("cosign", SignatureFormat::Cosign)
                .unwrap()
                .contains("BEGIN PUBLIC KEY")
        );
    }

    #[test]
    fn a_wrong_passphrase_is_reported_at_load() {
        let pair = openpgp_pair();
        assert!(PrivateKey::parse(&pair.private_armored, Some("nope")).is_err());
        assert!(PrivateKey::parse(&pair.private_armored, None).is_err());
        assert!(PublicKey::parse(&pair.public_armored).is_ok());
    }
}
