//! The sample release's verification key: a real OpenPGP public key, generated
//! deterministically.
//!
//! The release-verification ConfigMap of a payload carries `verifier-public-key-*` entries that
//! the CVO reads with golang.org/x/crypto/openpgp; a value that is not a key stops its verifier
//! from starting. So the sample base carries a real key: RSA 2048 (a version-4 key, which that
//! library reads), one user ID with a positive self-certification, created at the base
//! release's creation time. The randomness is ChaCha20 seeded from a fixed string and every
//! timestamp is fixed, so the armored text is the same on every run. Its secret half is thrown
//! away: the sample mirror carries no signature that it could verify.

use pgp::composed::{
    ArmorOptions, KeyType, SecretKeyParamsBuilder, SignedKeyDetails, SignedPublicKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::public_key::PublicKeyAlgorithm;
use pgp::packet::{KeyFlags, SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::types::SignedUser;
use pgp::types::{KeyDetails, Password, Tag, Timestamp};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The user ID of the sample verification key.
pub const USER_ID: &str =
    "OKD compose sample mirror (not a release signing key) <okd-compose-sample@example.org>";

/// The seed of the key's randomness.
const SEED: &str = "compose sample mirror: release verification key v1";

/// `2024-03-10T01:01:16Z` ([`crate::BASE_CREATED`]) as seconds since the epoch.
const CREATED: u32 = 1_710_032_476;

/// The armored public key of the sample release-verification ConfigMap.
pub fn verification_public_key() -> Result<String> {
    let key_error = |e: pgp::errors::Error| Error::Data(format!("the sample OpenPGP key: {e}"));
    let mut rng = ChaCha20Rng::from_seed(Sha256::digest(SEED.as_bytes()).into());
    let created = Timestamp::from_secs(CREATED);
    let params = SecretKeyParamsBuilder::default()
        .key_type(KeyType::Rsa(2048))
        .can_certify(true)
        .can_sign(true)
        .primary_user_id(USER_ID.to_string())
        .created_at(created)
        .build()
        .map_err(|e| Error::Data(format!("the sample OpenPGP key parameters: {e}")))?;
    let secret = params.generate(&mut rng).map_err(key_error)?;
    let public = secret.to_public_key();
    let user = secret
        .details
        .users
        .first()
        .map(|u| u.id.clone())
        .ok_or_else(|| Error::Data("the sample OpenPGP key has no user ID".into()))?;
    // The builder's self-signature carries the current time: sign again at `created`.
    let mut flags = KeyFlags::default();
    flags.set_certify(true);
    flags.set_sign(true);
    let mut config = SignatureConfig::v4(
        SignatureType::CertPositive,
        PublicKeyAlgorithm::RSA,
        HashAlgorithm::Sha256,
    );
    config.hashed_subpackets = vec![
        Subpacket::regular(SubpacketData::SignatureCreationTime(created)).map_err(key_error)?,
        Subpacket::regular(SubpacketData::IssuerFingerprint(secret.fingerprint()))
            .map_err(key_error)?,
        Subpacket::regular(SubpacketData::KeyFlags(flags)).map_err(key_error)?,
    ];
    config.unhashed_subpackets = vec![
        Subpacket::regular(SubpacketData::IssuerKeyId(secret.legacy_key_id()))
            .map_err(key_error)?,
    ];
    let signature = config
        .sign_certification(
            &secret.primary_key,
            &public.primary_key,
            &Password::empty(),
            Tag::UserId,
            &user,
        )
        .map_err(key_error)?;
    let details = SignedKeyDetails::new(
        Vec::new(),
        Vec::new(),
        vec![SignedUser::new(user, vec![signature])],
        Vec::new(),
    );
    SignedPublicKey::new(public.primary_key, details, Vec::new())
        .to_armored_string(ArmorOptions::default())
        .map_err(key_error)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use pgp::composed::Deserializable;

    use super::*;

    #[test]
    fn the_key_is_deterministic_and_a_self_signed_v4_public_key() {
        let a = verification_public_key().unwrap();
        assert_eq!(a, verification_public_key().unwrap());
        assert!(
            a.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"),
            "{a}"
        );
        let (key, _) = SignedPublicKey::from_string(&a).unwrap();
        key.verify_bindings().unwrap();
        assert_eq!(key.details.users.len(), 1);
        assert_eq!(key.primary_key.created_at(), Timestamp::from_secs(CREATED));
    }
}
