//! DSSE envelopes (<https://github.com/secure-systems-lab/dsse>), as cosign attestations carry
//! them: the payload (an in-toto statement) and its signatures, each over the
//! pre-authentication encoding ([`pae`]) of the payload type and payload.
//!
//! Signatures are the cosign-format ECDSA P-256 ones of [`crate::sign::cosign_sign`] (ASN.1
//! DER, base64), with an empty `keyid` as `cosign attest --key` writes them; they are checked
//! with [`crate::verify::verify_cosign`].

use base64::Engine as _;
use p256::ecdsa::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sign::cosign_sign;
use crate::verify::verify_cosign;

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A DSSE envelope, as its JSON reads (`payloadType`, `payload` in base64, `signatures`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// What the payload is ([`IN_TOTO_PAYLOAD_TYPE`]).
    pub payload_type: String,
    /// The payload, base64 (standard alphabet, padded).
    pub payload: String,
    /// The signatures over [`pae`] of the payload type and payload.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// The key's id; empty, as cosign writes it for a key pair.
    #[serde(default)]
    pub keyid: String,
    /// The signature, base64 of an ASN.1 DER ECDSA signature.
    pub sig: String,
}

/// The DSSE pre-authentication encoding: `DSSEv1 SP LEN(type) SP type SP LEN(body) SP body`,
/// lengths in ASCII decimal. This is what is signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Signs `payload` of `payload_type` with `key` (deterministic: RFC 6979).
    pub fn sign(key: &SigningKey, payload_type: &str, payload: &[u8]) -> Envelope {
        Envelope {
            payload_type: payload_type.to_string(),
            payload: base64::engine::general_purpose::STANDARD.encode(payload),
            signatures: vec![EnvelopeSignature {
                keyid: String::new(),
                sig: cosign_sign(key, &pae(payload_type, payload)),
            }],
        }
    }

    /// Reads an envelope from its JSON.
    pub fn parse(bytes: &[u8]) -> Result<Envelope> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Verify(format!("not a DSSE envelope: {e}")))
    }

    /// The envelope's JSON.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Publish(format!("DSSE envelope: {e}")))
    }

    /// The decoded payload, **without** checking any signature.
    pub fn payload_bytes(&self) -> Result<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(self.payload.trim())
            .map_err(|e| Error::Verify(format!("the DSSE payload is not base64: {e}")))
    }

    /// Checks that one signature of the envelope verifies against one of `keys`; returns the
    /// payload and the id of the key that verified it.
    pub fn verify(&self, keys: &[VerifyingKey]) -> Result<(Vec<u8>, String)> {
        let payload = self.payload_bytes()?;
        if self.signatures.is_empty() {
            return Err(Error::Verify("the DSSE envelope has no signature".into()));
        }
        let signed = pae(&self.payload_type, &payload);
        let mut last = None;
        for signature in &self.signatures {
            match verify_cosign(&signed, &signature.sig, keys) {
                Ok(id) => return Ok((payload, id)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Verify("no signature verified".into())))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::keys::{PrivateKey, PublicKey, generate_cosign};

    fn pair() -> (SigningKey, VerifyingKey) {
        let generated = generate_cosign(None).unwrap();
        let PrivateKey::Cosign(private) = PrivateKey::parse(&generated.private_pem, None).unwrap()
        else {
            panic!("not a cosign key")
        };
        let PublicKey::Cosign(public) = PublicKey::parse(&generated.public_pem).unwrap() else {
            panic!("not a cosign key")
        };
        (*private, public[0])
    }

    #[test]
    fn pae_is_the_specified_encoding() {
        // The example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn signed_envelopes_verify_and_altered_ones_do_not() {
        let (private, public) = pair();
        let (_, other) = pair();
        let envelope = Envelope::sign(&private, IN_TOTO_PAYLOAD_TYPE, br#"{"a":1}"#);
        let json = envelope.to_json().unwrap();
        let read = Envelope::parse(&json).unwrap();
        assert_eq!(read, envelope);
        let (payload, _) = read.verify(&[public]).unwrap();
        assert_eq!(payload, br#"{"a":1}"#);
        assert!(read.verify(&[other]).is_err());
        // A changed payload, or payload type (it is signed too), is refused.
        let mut changed = envelope.clone();
        changed.payload = base64::engine::general_purpose::STANDARD.encode(br#"{"a":2}"#);
        assert!(changed.verify(&[public]).is_err());
        let mut retyped = envelope.clone();
        retyped.payload_type = "application/json".into();
        assert!(retyped.verify(&[public]).is_err());
        let mut unsigned = envelope;
        unsigned.signatures.clear();
        assert!(unsigned.verify(&[public]).is_err());
    }
}
