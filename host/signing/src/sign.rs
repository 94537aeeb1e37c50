//! Making signatures: OpenPGP signed messages and cosign-format ECDSA signatures.

use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use pgp::composed::{MessageBuilder, SignedSecretKey, SubpacketConfig};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Subpacket, SubpacketData};
use pgp::types::{KeyDetails, KeyVersion, Password, Timestamp};

/// Signs `data` as an OpenPGP **signed message** (not a detached signature): one-pass
/// signature, literal data, signature; binary, uncompressed, SHA-256. This is what `gpg --sign`
/// makes and what OpenShift release signatures are.
///
/// `created` fixes the signature's creation time (Unix seconds, e.g. `SOURCE_DATE_EPOCH`; never
/// before the key's own creation time);
/// RSA PKCS#1 v1.5 signatures are deterministic, so the same key, data and time always give
/// the same bytes. `None` uses the current time.
pub fn openpgp_sign(
    key: &SignedSecretKey,
    passphrase: &str,
    data: &[u8],
    created: Option<u64>,
) -> Result<Vec<u8>, String> {
    let signer = &key.primary_key;
    // A signature older than its key is refused by verifiers (gpg: "Time conflict"): a fixed
    // time before the key's creation is moved up to it, which keeps it deterministic.
    let time = match created {
        Some(secs) => {
            let secs = u32::try_from(secs).map_err(|_| {
                format!("the signature time {secs} does not fit OpenPGP's 32-bit timestamps")
            })?;
            Timestamp::from_secs(secs.max(signer.created_at().as_secs()))
        }
        None => Timestamp::now(),
    };
    let subpacket =
        |data| Subpacket::regular(data).map_err(|e| format!("signature subpacket: {e}"));
    let hashed = vec![
        subpacket(SubpacketData::IssuerFingerprint(signer.fingerprint()))?,
        subpacket(SubpacketData::SignatureCreationTime(time))?,
    ];
    let mut unhashed = Vec::new();
    if signer.version() <= KeyVersion::V4 {
        unhashed.push(subpacket(SubpacketData::IssuerKeyId(
            signer.legacy_key_id(),
        ))?);
    }
    let mut builder = MessageBuilder::from_bytes("", data.to_vec());
    builder.sign_with_subpackets(
        signer,
        Password::from(passphrase),
        HashAlgorithm::Sha256,
        SubpacketConfig::UserDefined { hashed, unhashed },
    );
    builder
        .to_vec(rand::thread_rng())
        .map_err(|e| format!("OpenPGP signing failed: {e}"))
}

/// Signs `data` cosign-style: ECDSA P-256 over the SHA-256 of `data` (RFC 6979, deterministic),
/// the ASN.1 DER signature, base64-encoded (the value of the
/// `dev.cosignproject.cosign/signature` annotation).
pub fn cosign_sign(key: &SigningKey, data: &[u8]) -> String {
    let signature: Signature = key.sign(data);
    base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
}
