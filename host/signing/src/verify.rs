//! Checking signatures: OpenPGP signed messages and cosign-format ECDSA signatures, against
//! public keys, and their payloads against the digest they must name.

use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use pgp::composed::{Message, SignedPublicKey};
use pgp::types::KeyDetails;

use crate::error::{Error, Result};
use crate::keys::{PublicKey, cosign_key_id};

/// Public keys signatures are checked against.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    /// OpenPGP certificates.
    pub openpgp: Vec<SignedPublicKey>,
    /// ECDSA P-256 keys.
    pub cosign: Vec<VerifyingKey>,
}

impl TrustedKeys {
    /// Adds every key of `key`.
    pub fn add(&mut self, key: PublicKey) {
        match key {
            PublicKey::OpenPgp(keys) => self.openpgp.extend(keys),
            PublicKey::Cosign(keys) => self.cosign.extend(keys),
        }
    }

    /// Whether there is no key at all.
    pub fn is_empty(&self) -> bool {
        self.openpgp.is_empty() && self.cosign.is_empty()
    }
}

/// Reads the literal data of an OpenPGP message (decompressing it if needed) and returns the
/// data and the message, read to its end, ready for `verify`.
fn read_message(message: &[u8]) -> Result<(Vec<u8>, Message<'_>)> {
    let bad = |e: &dyn std::fmt::Display| Error::Verify(format!("not an OpenPGP message: {e}"));
    let mut msg = Message::from_bytes(message).map_err(|e| bad(&e))?;
    if msg.is_compressed() {
        msg = msg.decompress().map_err(|e| bad(&e))?;
    }
    if !msg.is_signed() {
        return Err(Error::Verify(
            "the OpenPGP message is not signed".to_string(),
        ));
    }
    let data = msg.as_data_vec().map_err(|e| bad(&e))?;
    Ok((data, msg))
}

/// The signed data of an OpenPGP signed message, **without** checking the signature: for
/// reading which digest a signature names.
pub fn openpgp_payload(message: &[u8]) -> Result<Vec<u8>> {
    read_message(message).map(|(data, _)| data)
}

/// Verifies an OpenPGP signed message against `keys` (primary keys and subkeys); returns the
/// signed data and the fingerprint (hex) of the key that signed it.
pub fn verify_openpgp(message: &[u8], keys: &[SignedPublicKey]) -> Result<(Vec<u8>, String)> {
    let (data, msg) = read_message(message)?;
    if keys.is_empty() {
        return Err(Error::Verify("no OpenPGP public key to verify with".into()));
    }
    for key in keys {
        if msg.verify(&key.primary_key).is_ok() {
            return Ok((data, hex::encode_upper(key.fingerprint().as_bytes())));
        }
        for sub in &key.public_subkeys {
            if msg.verify(sub).is_ok() {
                return Ok((data, hex::encode_upper(sub.fingerprint().as_bytes())));
            }
        }
    }
    Err(Error::Verify(format!(
        "the OpenPGP signature was not made by any of the {} trusted key(s) ({}), or it was altered",
        keys.len(),
        keys.iter()
            .map(|k| hex::encode_upper(k.fingerprint().as_bytes()))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Verifies a cosign-format signature (`signature_b64`: base64 of an ASN.1 DER ECDSA
/// signature) over `payload` against `keys`; returns the id of the key that verified it.
pub fn verify_cosign(payload: &[u8], signature_b64: &str, keys: &[VerifyingKey]) -> Result<String> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(signature_b64.trim())
        .map_err(|e| Error::Verify(format!("the cosign signature is not base64: {e}")))?;
    let signature = Signature::from_der(&der)
        .map_err(|e| Error::Verify(format!("the cosign signature is not DER ECDSA: {e}")))?;
    if keys.is_empty() {
        return Err(Error::Verify("no cosign public key to verify with".into()));
    }
    keys.iter()
        .find(|k| k.verify(payload, &signature).is_ok())
        .map(cosign_key_id)
        .ok_or_else(|| {
            Error::Verify(format!(
                "the cosign signature was not made by any of the {} trusted key(s), or the payload was altered",
                keys.len()
            ))
        })
}
