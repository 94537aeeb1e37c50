//! Signatures of plugin artifacts (`oci://` plugins), as cosign attaches them: an OCI image
//! manifest tagged `sha256-<hex>.sig` in the artifact's repository, one layer of media type
//! `application/vnd.dev.cosign.simplesigning.v1+json` per signature holding the
//! simple-signing payload (type `cosign container image signature`, naming the artifact's
//! manifest digest), with the base64 DER ECDSA signature in the
//! `dev.cosignproject.cosign/signature` annotation. `cosign verify --key` accepts them; the
//! manifest itself is the one [`crate::publish::cosign_manifest`] writes for releases.
//!
//! A stream's trust policy (`[trust] plugins`) names cosign public key files; a plugin runs
//! only when one of its signatures verifies against one of them and names its digest
//! ([`verify_artifact`]).

use std::path::Path;

use compose_payload::Attachment;
use compose_payload::oci::ImageManifest;
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::EncodePublicKey;

use crate::attach::{CosignEnvelope, KIND_COSIGN, MEDIA_COSIGN};
use crate::error::{Error, Result};
use crate::keys::{PublicKey, read_key_file};
use crate::publish::{COSIGN_ANNOTATION, COSIGN_LAYER, SignatureImage, cosign_manifest};
use crate::sign::cosign_sign;
use crate::simple::{self, COSIGN_TYPE};
use crate::verify::verify_cosign;

/// The fingerprint of a cosign public key: `sha256:` and the hex SHA-256 of its DER
/// SubjectPublicKeyInfo (what `openssl pkey -pubin -outform DER | sha256sum` prints).
pub fn key_fingerprint(key: &VerifyingKey) -> String {
    use sha2::Digest;
    let der = key
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default();
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(der)))
}

/// A public key of a trust policy.
#[derive(Debug, Clone)]
pub struct TrustKey {
    /// How the policy names it (the path as the stream file writes it).
    pub name: String,
    /// [`key_fingerprint`].
    pub fingerprint: String,
    key: VerifyingKey,
}

impl TrustKey {
    /// A key named `name`.
    pub fn new(name: &str, key: VerifyingKey) -> TrustKey {
        TrustKey {
            name: name.to_string(),
            fingerprint: key_fingerprint(&key),
            key,
        }
    }

    /// `NAME (sha256:…)`, for messages.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.name, self.fingerprint)
    }
}

/// Reads the cosign public key file `path` of a trust policy (every `PUBLIC KEY` block of it),
/// named `name` in messages. A regular file of bounded size only (see
/// [`read_key_file`]); OpenPGP keys and private keys are refused.
pub fn load_trust_key(name: &str, path: &Path) -> Result<Vec<TrustKey>> {
    let bad = |message: String| Error::Key(format!("trusted key `{name}`: {message}"));
    let Some(text) = read_key_file(path).map_err(|e| bad(e.to_string()))? else {
        return Err(bad(format!("`{}` does not exist", path.display())));
    };
    if text.contains("PRIVATE KEY") {
        return Err(bad(
            "the file holds a private key: a trust policy names public keys (`*.cosign.pub`)"
                .into(),
        ));
    }
    match PublicKey::parse(&text).map_err(|e| bad(e.to_string()))? {
        PublicKey::Cosign(keys) if !keys.is_empty() => {
            Ok(keys.into_iter().map(|k| TrustKey::new(name, k)).collect())
        }
        PublicKey::Cosign(_) => Err(bad("the file holds no public key".into())),
        PublicKey::OpenPgp(_) => Err(bad(
            "an OpenPGP key: plugin signatures are cosign-format, checked with an ECDSA P-256 public key (PEM `PUBLIC KEY`)"
                .into(),
        )),
    }
}

/// Signs the plugin artifact whose manifest is `digest` in `repository`
/// (`HOST/NAMESPACE/NAME`, the payload's `docker-reference`), at `timestamp` (Unix seconds).
pub fn sign_artifact(
    key: &SigningKey,
    repository: &str,
    digest: &str,
    timestamp: Option<i64>,
) -> CosignEnvelope {
    let payload = simple::payload(
        COSIGN_TYPE,
        repository,
        digest,
        concat!("compose ", env!("CARGO_PKG_VERSION")),
        timestamp,
    );
    CosignEnvelope {
        signature: cosign_sign(key, &payload),
        payload: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &payload),
    }
}

/// A cosign private key signing plugin artifacts.
#[derive(Debug, Clone)]
pub struct PluginSigner {
    key: SigningKey,
}

impl PluginSigner {
    /// The signer of a private key; OpenPGP keys are refused.
    pub fn new(key: crate::keys::PrivateKey) -> Result<PluginSigner> {
        match key {
            crate::keys::PrivateKey::Cosign(key) => Ok(PluginSigner { key: *key }),
            other => Err(Error::Key(format!(
                "an {} key: plugins are signed with a cosign (ECDSA P-256) key, as `compose keys generate NAME --cosign` writes it",
                other.kind()
            ))),
        }
    }

    /// The [`key_fingerprint`] of its public key.
    pub fn fingerprint(&self) -> String {
        key_fingerprint(self.key.verifying_key())
    }

    /// Signs the artifact `digest` of `repository` (see [`sign_artifact`]).
    pub fn sign(&self, repository: &str, digest: &str, timestamp: Option<i64>) -> CosignEnvelope {
        sign_artifact(&self.key, repository, digest, timestamp)
    }

    /// Whether `signature` was made by this key (whatever it signs).
    pub fn made(&self, signature: &CosignEnvelope) -> bool {
        signature.payload_bytes().is_ok_and(|payload| {
            verify_cosign(
                &payload,
                &signature.signature,
                std::slice::from_ref(self.key.verifying_key()),
            )
            .is_ok()
        })
    }
}

/// The `sha256-<hex>.sig` image holding `signatures` (in order) for `digest`: the manifest
/// bytes and its blobs (payloads, then the config).
pub fn signature_image(signatures: &[CosignEnvelope], digest: &str) -> Result<SignatureImage> {
    let attachments = signatures
        .iter()
        .map(|s| {
            Ok(Attachment {
                kind: KIND_COSIGN.to_string(),
                media_type: MEDIA_COSIGN.to_string(),
                data: serde_json::to_vec(s)
                    .map_err(|e| Error::Publish(format!("a cosign signature: {e}")))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    cosign_manifest(&attachments, digest)?
        .ok_or_else(|| Error::Publish(format!("no signature of {digest} to publish")))
}

/// The signatures of a `.sig` manifest (`manifest`), their payloads read with `blob` (by
/// digest). Layers of other media types are ignored; a payload that does not match its
/// layer's digest is an error.
pub fn read_signature_image(
    manifest: &[u8],
    mut blob: impl FnMut(&str) -> Result<Vec<u8>>,
) -> Result<Vec<CosignEnvelope>> {
    let manifest: ImageManifest = serde_json::from_slice(manifest).map_err(|e| {
        Error::Verify(format!(
            "the signature manifest is not an image manifest: {e}"
        ))
    })?;
    let mut out = Vec::new();
    for layer in manifest
        .layers
        .iter()
        .filter(|l| l.media_type == COSIGN_LAYER)
    {
        let payload = blob(&layer.digest)?;
        if compose_payload::oci::sha256_digest(&payload) != layer.digest {
            return Err(Error::Verify(format!(
                "the signature payload {} does not match its digest",
                layer.digest
            )));
        }
        let signature = layer
            .annotations
            .as_ref()
            .and_then(|a| a.get(COSIGN_ANNOTATION))
            .cloned()
            .unwrap_or_default();
        out.push(CosignEnvelope {
            payload: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &payload),
            signature,
        });
    }
    Ok(out)
}

/// Which key vouched for a plugin artifact.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginSignature {
    /// The key, as the policy names it.
    pub key: String,
    /// Its [`key_fingerprint`].
    pub fingerprint: String,
    /// The `docker-reference` the signature names.
    pub reference: String,
}

/// Checks that one of `signatures` was made by one of `keys` (tried in order: the first key
/// that verified is reported) over a cosign payload naming `digest`. The error says why
/// each signature was refused.
pub fn verify_artifact(
    signatures: &[CosignEnvelope],
    digest: &str,
    keys: &[TrustKey],
) -> Result<PluginSignature> {
    if keys.is_empty() {
        return Err(Error::Verify(
            "the trust policy names no key: no plugin from a registry may run".into(),
        ));
    }
    if signatures.is_empty() {
        return Err(Error::Verify("it has no cosign signature".into()));
    }
    let mut reasons = Vec::new();
    for key in keys {
        for (i, envelope) in signatures.iter().enumerate() {
            let Ok(payload) = envelope.payload_bytes() else {
                continue;
            };
            if verify_cosign(
                &payload,
                &envelope.signature,
                std::slice::from_ref(&key.key),
            )
            .is_err()
            {
                continue;
            }
            match simple::parse(&payload, COSIGN_TYPE) {
                Ok(p) if p.digest == digest => {
                    return Ok(PluginSignature {
                        key: key.name.clone(),
                        fingerprint: key.fingerprint.clone(),
                        reference: p.reference,
                    });
                }
                Ok(p) => reasons.push(format!(
                    "signature {} by {} is for {}, not for this artifact",
                    i + 1,
                    key.name,
                    p.digest
                )),
                Err(e) => reasons.push(format!(
                    "signature {} by {} signs no cosign payload: {e}",
                    i + 1,
                    key.name
                )),
            }
        }
    }
    if reasons.is_empty() {
        reasons.push(format!(
            "{} signature{} found, none made by a trusted key (or altered since)",
            signatures.len(),
            if signatures.len() == 1 { "" } else { "s" }
        ));
    }
    Err(Error::Verify(reasons.join("; ")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::BTreeMap;

    use super::*;
    use crate::keys::{PrivateKey, generate_cosign};

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn pair() -> (SigningKey, TrustKey, String) {
        let generated = generate_cosign(None).unwrap();
        let PrivateKey::Cosign(key) = PrivateKey::parse(&generated.private_pem, None).unwrap()
        else {
            panic!("not a cosign key");
        };
        let trust = TrustKey::new("keys/k.pub", *key.verifying_key());
        (*key, trust, generated.public_pem)
    }

    #[test]
    fn signs_publishes_reads_back_and_verifies() {
        let (key, trust, _) = pair();
        let envelope = sign_artifact(&key, "r.io/p/x", DIGEST, Some(1_700_000_000));
        let (manifest, blobs) = signature_image(std::slice::from_ref(&envelope), DIGEST).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(value["layers"][0]["mediaType"], COSIGN_LAYER);
        assert_eq!(
            value["layers"][0]["annotations"][COSIGN_ANNOTATION],
            envelope.signature.as_str()
        );
        let by_digest: BTreeMap<String, Vec<u8>> = blobs
            .iter()
            .map(|b| (compose_payload::oci::sha256_digest(b), b.clone()))
            .collect();
        let read = read_signature_image(&manifest, |d| Ok(by_digest[d].clone())).unwrap();
        assert_eq!(read, vec![envelope.clone()]);
        let verified = verify_artifact(&read, DIGEST, std::slice::from_ref(&trust)).unwrap();
        assert_eq!(verified.key, "keys/k.pub");
        assert_eq!(verified.reference, "r.io/p/x");
        assert!(verified.fingerprint.starts_with("sha256:") && verified.fingerprint.len() == 71);
        // A payload altered in the registry does not match its layer digest.
        let err = read_signature_image(&manifest, |_| Ok(b"{}".to_vec())).unwrap_err();
        assert!(
            err.to_string().contains("does not match its digest"),
            "{err}"
        );
    }

    #[test]
    fn other_keys_other_digests_and_no_signature_are_refused() {
        let (key, trust, _) = pair();
        let (_, other, _) = pair();
        let envelope = sign_artifact(&key, "r.io/p/x", DIGEST, None);
        let err = verify_artifact(
            std::slice::from_ref(&envelope),
            DIGEST,
            std::slice::from_ref(&other),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("1 signature found, none made by a trusted key"),
            "{err}"
        );
        let wrong = format!("sha256:{}", "f".repeat(64));
        let err = verify_artifact(
            std::slice::from_ref(&envelope),
            &wrong,
            std::slice::from_ref(&trust),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&format!("is for {DIGEST}, not for this artifact")),
            "{err}"
        );
        assert!(verify_artifact(&[], DIGEST, std::slice::from_ref(&trust)).is_err());
        assert!(verify_artifact(std::slice::from_ref(&envelope), DIGEST, &[]).is_err());
        // A payload changed after signing (here: naming another digest) does not verify.
        let forged = CosignEnvelope {
            payload: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                String::from_utf8(envelope.payload_bytes().unwrap())
                    .unwrap()
                    .replace(DIGEST, &wrong),
            ),
            signature: envelope.signature.clone(),
        };
        assert!(verify_artifact(&[forged], &wrong, std::slice::from_ref(&trust)).is_err());
        // The second trusted key verifies when the first does not; the first one wins otherwise.
        let found = verify_artifact(&[envelope], DIGEST, &[other, trust.clone()]).unwrap();
        assert_eq!(found.fingerprint, trust.fingerprint);
    }

    #[test]
    fn the_signer_takes_cosign_keys_only_and_knows_its_signatures() {
        let generated = generate_cosign(None).unwrap();
        let signer =
            PluginSigner::new(PrivateKey::parse(&generated.private_pem, None).unwrap()).unwrap();
        let loaded = load_trust_key("k", &{
            let dir = tempfile::tempdir().unwrap().keep();
            let path = dir.join("k.pub");
            std::fs::write(&path, &generated.public_pem).unwrap();
            path
        })
        .unwrap();
        assert_eq!(signer.fingerprint(), loaded[0].fingerprint);
        let mine = signer.sign("r.io/p/x", DIGEST, Some(1));
        // Deterministic (RFC 6979) for the same key, digest and time.
        assert_eq!(mine, signer.sign("r.io/p/x", DIGEST, Some(1)));
        assert!(signer.made(&mine));
        let (other, _, _) = pair();
        assert!(!signer.made(&sign_artifact(&other, "r.io/p/x", DIGEST, Some(1))));
        let (_, trust, _) = pair();
        assert!(verify_artifact(&[mine], DIGEST, &loaded).is_ok());
        assert!(trust.fingerprint != signer.fingerprint());
    }

    #[test]
    fn trust_key_files_must_hold_cosign_public_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (_, trust, public_pem) = pair();
        let public = dir.path().join("k.pub");
        std::fs::write(&public, &public_pem).unwrap();
        let loaded = load_trust_key("k.pub", &public).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].fingerprint, trust.fingerprint);
        let private = dir.path().join("k.key");
        std::fs::write(&private, generate_cosign(None).unwrap().private_pem).unwrap();
        let err = load_trust_key("k.key", &private).unwrap_err().to_string();
        assert!(
            err.contains("trusted key `k.key`: the file holds a private key"),
            "{err}"
        );
        let err = load_trust_key("gone.pub", &dir.path().join("gone.pub"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
        let err = load_trust_key("dir", dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("trusted key `dir`: "), "{err}");
    }
}
