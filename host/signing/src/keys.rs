//! Key material: generating key pairs, and reading keys from text.
//!
//! Two kinds of keys, told apart by their PEM/armor header:
//!
//! - **OpenPGP** (armor labels `PGP PRIVATE KEY BLOCK` / `PGP PUBLIC KEY BLOCK`): the keys of
//!   OpenShift release signatures. [`generate_openpgp`] makes an RSA 3072 primary key that
//!   signs and certifies, one user ID, no subkeys, SHA-256 preferred: the shape the
//!   cluster-version operator's verifier (`golang.org/x/crypto/openpgp`), GnuPG and skopeo all
//!   accept.
//! - **cosign** (PEM labels `PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, `EC PRIVATE KEY`,
//!   `PUBLIC KEY`): ECDSA P-256 keys as PKCS#8
//!   (optionally encrypted with a passphrase: PBES2, scrypt and AES-256-CBC) or SEC1 PEM, public
//!   keys as SubjectPublicKeyInfo PEM (what `cosign verify --key` reads). cosign's own
//!   `ENCRYPTED SIGSTORE PRIVATE KEY` / `ENCRYPTED COSIGN PRIVATE KEY` files (scrypt and
//!   secretbox) are not read: convert them to PKCS#8 first.

use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use pgp::composed::{
    ArmorOptions, Deserializable, KeyType, SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::KeyDetails;

use crate::error::{Error, Result};

/// The largest key file read: keys are a few KiB, keyrings rarely more than a few hundred.
pub const MAX_KEY_FILE: u64 = 4 << 20;

/// Reads the key file at `path` as text: a regular file (symlinks followed) of at most
/// [`MAX_KEY_FILE`] bytes; `Ok(None)` when it does not exist. A FIFO, a device
/// (`/dev/zero`), a directory or a larger file is refused before anything is read.
pub fn read_key_file(path: &Path) -> Result<Option<String>> {
    use compose_registry::file::{ReadFileError, read_regular};
    match read_regular(path, MAX_KEY_FILE) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            Error::Key(format!(
                "`{}` is not text: keys are read ASCII-armored (OpenPGP) or PEM",
                path.display()
            ))
        }),
        Err(e) if e.is_not_found() => Ok(None),
        Err(ReadFileError::Io(source)) => Err(Error::Io {
            action: "reading the key",
            path: path.to_path_buf(),
            source,
        }),
        Err(e) => Err(Error::Key(format!(
            "cannot read the key `{}`: {e}",
            path.display()
        ))),
    }
}

/// A warning when the private key file at `path` may be read by users other than its owner
/// (any group or other permission bit): `None` when it is private, or cannot be examined.
pub fn private_key_file_warning(path: &Path) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "the private key file `{}` may be read by other users (mode {mode:04o}): \
             restrict it with `chmod 600 {}`",
            path.display(),
            path.display()
        )
    })
}

/// An OpenPGP parse error as a user reads it: rpgp's messages for broken armor or packets
/// may carry the raw bytes (`[45, 45, …]`) or run for pages; those are summed up instead.
fn pgp_reason(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    let digits_and_commas = text
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == ',')
        .count();
    let dump = text.contains('[') && digits_and_commas * 2 > text.len();
    if dump || text.len() > 200 || text.chars().any(char::is_control) {
        "the armor or the packets inside it are malformed (bad base64, checksum or packet data)"
            .to_string()
    } else {
        text
    }
}

/// Bits of the RSA keys [`generate_openpgp`] makes.
pub const RSA_BITS: u32 = 3072;

/// The two signature formats, as keys know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// OpenPGP (release signatures the CVO and skopeo verify).
    OpenPgp,
    /// ECDSA P-256 (cosign-format signatures).
    Cosign,
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyKind::OpenPgp => "OpenPGP",
            KeyKind::Cosign => "cosign (ECDSA P-256)",
        })
    }
}

/// A private key the host signs with. Never handed to a plugin.
pub enum PrivateKey {
    /// An OpenPGP secret key and the passphrase that unlocks it (empty when not encrypted).
    OpenPgp {
        /// The key.
        key: Box<SignedSecretKey>,
        /// Its passphrase.
        passphrase: String,
    },
    /// An ECDSA P-256 key.
    Cosign(Box<SigningKey>),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({}, redacted)", self.kind())
    }
}

impl PrivateKey {
    /// Which kind of key this is.
    pub fn kind(&self) -> KeyKind {
        match self {
            PrivateKey::OpenPgp { .. } => KeyKind::OpenPgp,
            PrivateKey::Cosign(_) => KeyKind::Cosign,
        }
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        match self {
            PrivateKey::OpenPgp { key, .. } => PublicKey::OpenPgp(vec![key.to_public_key()]),
            PrivateKey::Cosign(key) => PublicKey::Cosign(vec![*key.verifying_key()]),
        }
    }

    /// Reads a private key from its text; `passphrase` unlocks an encrypted one.
    pub fn parse(text: &str, passphrase: Option<&str>) -> Result<PrivateKey> {
        if has_block(text, "PGP PRIVATE KEY BLOCK") {
            let (key, _) = SignedSecretKey::from_armor_single(Cursor::new(text.as_bytes()))
                .map_err(|e| {
                    Error::Key(format!(
                        "not a readable OpenPGP private key: {}",
                        pgp_reason(&e)
                    ))
                })?;
            let passphrase = passphrase.unwrap_or_default().to_string();
            // Unlock it now: a wrong passphrase is reported when the key is loaded, not when a
            // stage first signs.
            crate::sign::openpgp_sign(&key, &passphrase, b"compose", None).map_err(|e| {
                Error::Key(format!(
                    "the OpenPGP private key cannot sign ({e}); {}",
                    if passphrase.is_empty() {
                        "is it encrypted? give its passphrase with `passphrase = \"env:VAR\"`"
                    } else {
                        "is the passphrase right?"
                    }
                ))
            })?;
            return Ok(PrivateKey::OpenPgp {
                key: Box::new(key),
                passphrase,
            });
        }
        if has_block(text, "ENCRYPTED PRIVATE KEY") {
            let Some(passphrase) = passphrase.filter(|p| !p.is_empty()) else {
                return Err(Error::Key(
                    "the cosign private key is encrypted: give its passphrase with `passphrase = \"env:VAR\"`".into(),
                ));
            };
            let key = SigningKey::from_pkcs8_encrypted_pem(text.trim(), passphrase.as_bytes())
                .map_err(|e| {
                    Error::Key(format!(
                        "cannot decrypt the cosign private key (wrong passphrase, or not a P-256 key): {e}"
                    ))
                })?;
            return Ok(PrivateKey::Cosign(Box::new(key)));
        }
        if has_block(text, "PRIVATE KEY") {
            let key = SigningKey::from_pkcs8_pem(text.trim())
                .map_err(|e| Error::Key(format!("not an ECDSA P-256 PKCS#8 private key: {e}")))?;
            return Ok(PrivateKey::Cosign(Box::new(key)));
        }
        if has_block(text, "EC PRIVATE KEY") {
            let secret = p256::SecretKey::from_sec1_pem(text.trim())
                .map_err(|e| Error::Key(format!("not an ECDSA P-256 SEC1 private key: {e}")))?;
            return Ok(PrivateKey::Cosign(Box::new(secret.into())));
        }
        if text.contains("COSIGN PRIVATE KEY-----") || text.contains("SIGSTORE PRIVATE KEY-----") {
            return Err(Error::Key(
                "cosign's own encrypted key format is not supported: convert the key to PKCS#8 \
                 (`openssl pkcs8 -topk8`) or make one with `compose keys generate NAME --cosign`"
                    .into(),
            ));
        }
        Err(Error::Key(
            "not a private key: expected an armored OpenPGP private key or a PEM PKCS#8 ECDSA P-256 key"
                .into(),
        ))
    }
}

/// Public keys: an OpenPGP keyring or ECDSA P-256 keys.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// OpenPGP certificates.
    OpenPgp(Vec<SignedPublicKey>),
    /// ECDSA P-256 keys.
    Cosign(Vec<VerifyingKey>),
}

impl PublicKey {
    /// Which kind of key this is.
    pub fn kind(&self) -> KeyKind {
        match self {
            PublicKey::OpenPgp(_) => KeyKind::OpenPgp,
            PublicKey::Cosign(_) => KeyKind::Cosign,
        }
    }

    /// Reads public keys from text: armored OpenPGP keys (one or several blocks) or PEM
    /// `PUBLIC KEY` blocks. A private key is accepted too, for its public half.
    pub fn parse(text: &str) -> Result<PublicKey> {
        if has_block(text, "PGP PUBLIC KEY BLOCK") {
            let mut keys = Vec::new();
            for block in pem_blocks(text, "PGP PUBLIC KEY BLOCK") {
                let (iter, _) = SignedPublicKey::from_armor_many(Cursor::new(block.into_bytes()))
                    .map_err(|e| {
                    Error::Key(format!(
                        "not a readable OpenPGP public key: {}",
                        pgp_reason(&e)
                    ))
                })?;
                for key in iter {
                    keys.push(key.map_err(|e| {
                        Error::Key(format!(
                            "not a readable OpenPGP public key: {}",
                            pgp_reason(&e)
                        ))
                    })?);
                }
            }
            if keys.is_empty() {
                return Err(Error::Key("the OpenPGP keyring holds no key".into()));
            }
            return Ok(PublicKey::OpenPgp(keys));
        }
        if has_block(text, "PUBLIC KEY") {
            let mut keys = Vec::new();
            for block in pem_blocks(text, "PUBLIC KEY") {
                keys.push(
                    VerifyingKey::from_public_key_pem(block.trim()).map_err(|e| {
                        Error::Key(format!("not an ECDSA P-256 public key (PEM): {e}"))
                    })?,
                );
            }
            return Ok(PublicKey::Cosign(keys));
        }
        if text.contains("PRIVATE KEY") {
            return PrivateKey::parse(text, None).map(|k| k.public());
        }
        Err(Error::Key(
            "not a public key: expected an armored OpenPGP public key or a PEM `PUBLIC KEY`".into(),
        ))
    }

    /// The keys as text: ASCII-armored OpenPGP certificates, or PEM.
    pub fn to_text(&self) -> Result<String> {
        let mut out = String::new();
        match self {
            PublicKey::OpenPgp(keys) => {
                for key in keys {
                    out.push_str(
                        &key.to_armored_string(ArmorOptions::default())
                            .map_err(|e| {
                                Error::Key(format!("cannot armor the OpenPGP public key: {e}"))
                            })?,
                    );
                }
            }
            PublicKey::Cosign(keys) => {
                for key in keys {
                    out.push_str(&key.to_public_key_pem(LineEnding::LF).map_err(|e| {
                        Error::Key(format!("cannot write the public key as PEM: {e}"))
                    })?);
                }
            }
        }
        Ok(out)
    }

    /// Fingerprints (OpenPGP, hex) or SHA-256 of the SubjectPublicKeyInfo (cosign), for messages.
    pub fn ids(&self) -> Vec<String> {
        match self {
            PublicKey::OpenPgp(keys) => keys
                .iter()
                .map(|k| hex::encode_upper(k.fingerprint().as_bytes()))
                .collect(),
            PublicKey::Cosign(keys) => keys.iter().map(cosign_key_id).collect(),
        }
    }
}

/// A short id of an ECDSA key: `sha256:` and the first 16 hex digits of the SHA-256 of its DER
/// SubjectPublicKeyInfo.
pub fn cosign_key_id(key: &VerifyingKey) -> String {
    use sha2::Digest;
    let der = key
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default();
    let hash = hex::encode(sha2::Sha256::digest(der));
    format!("sha256:{}", &hash[..16])
}

/// The line that opens a PEM/armor block labelled `label`.
fn begin_line(label: &str) -> String {
    format!("-----BEGIN {label}-----")
}

/// Whether `text` holds a PEM/armor block labelled `label`.
fn has_block(text: &str, label: &str) -> bool {
    text.contains(&begin_line(label))
}

/// Every `BEGIN LABEL` … `END LABEL` block of `text`.
fn pem_blocks(text: &str, label: &str) -> Vec<String> {
    let begin = begin_line(label);
    let end = format!("-----END {label}-----");
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let Some(stop) = rest[start..].find(&end) else {
            break;
        };
        let stop = start + stop + end.len();
        blocks.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    blocks
}

/// A generated OpenPGP key pair.
pub struct OpenPgpPair {
    /// The private key, ASCII-armored (encrypted when a passphrase was given).
    pub private_armored: String,
    /// The public key, ASCII-armored.
    pub public_armored: String,
    /// The fingerprint, upper-case hex.
    pub fingerprint: String,
}

/// Generates an OpenPGP signing key: RSA 3072, one user ID, the primary key signs.
pub fn generate_openpgp(user_id: &str, passphrase: Option<&str>) -> Result<OpenPgpPair> {
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(KeyType::Rsa(RSA_BITS))
        .can_certify(true)
        .can_sign(true)
        .primary_user_id(user_id.to_string())
        .preferred_hash_algorithms(
            [HashAlgorithm::Sha256, HashAlgorithm::Sha512]
                .into_iter()
                .collect(),
        )
        .passphrase(passphrase.filter(|p| !p.is_empty()).map(str::to_string));
    let params = params
        .build()
        .map_err(|e| Error::Key(format!("OpenPGP key parameters: {e}")))?;
    let key = params
        .generate(rand::thread_rng())
        .map_err(|e| Error::Key(format!("generating the OpenPGP key: {e}")))?;
    let public = key.to_public_key();
    let armor = |r: std::result::Result<String, pgp::errors::Error>| {
        r.map_err(|e| Error::Key(format!("armoring the OpenPGP key: {e}")))
    };
    Ok(OpenPgpPair {
        private_armored: armor(key.to_armored_string(ArmorOptions::default()))?,
        public_armored: armor(public.to_armored_string(ArmorOptions::default()))?,
        fingerprint: hex::encode_upper(key.fingerprint().as_bytes()),
    })
}

/// A generated ECDSA P-256 key pair.
pub struct CosignPair {
    /// The private key: PKCS#8 PEM, `ENCRYPTED PRIVATE KEY` when a passphrase was given.
    pub private_pem: String,
    /// The public key: SubjectPublicKeyInfo PEM (`PUBLIC KEY`).
    pub public_pem: String,
}

/// Generates an ECDSA P-256 key pair for cosign-format signatures.
pub fn generate_cosign(passphrase: Option<&str>) -> Result<CosignPair> {
    let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let private_pem = match passphrase.filter(|p| !p.is_empty()) {
        Some(passphrase) => key
            .to_pkcs8_encrypted_pem(
                &mut p256::elliptic_curve::rand_core::OsRng,
                passphrase.as_bytes(),
                LineEnding::LF,
            )
            .map(|pem| pem.to_string()),
        None => key.to_pkcs8_pem(LineEnding::LF).map(|pem| pem.to_string()),
    }
    .map_err(|e| Error::Key(format!("writing the cosign private key: {e}")))?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| Error::Key(format!("writing the cosign public key: {e}")))?;
    Ok(CosignPair {
        private_pem,
        public_pem,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn cosign_keys_round_trip_with_and_without_passphrase() {
        let plain = generate_cosign(None).unwrap();
        assert!(plain.private_pem.starts_with(&begin_line("PRIVATE KEY")));
        let key = PrivateKey::parse(&plain.private_pem, None).unwrap();
        let public = PublicKey::parse(&plain.public_pem).unwrap();
        assert_eq!(key.public().ids(), public.ids());

        let locked = generate_cosign(Some("s3cret")).unwrap();
        assert!(
            locked
                .private_pem
                .starts_with(&begin_line("ENCRYPTED PRIVATE KEY"))
        );
        assert!(PrivateKey::parse(&locked.private_pem, None).is_err());
        assert!(PrivateKey::parse(&locked.private_pem, Some("wrong")).is_err());
        assert_eq!(
            PrivateKey::parse(&locked.private_pem, Some("s3cret"))
                .unwrap()
                .kind(),
            KeyKind::Cosign
        );
    }

    #[test]
    fn key_files_must_be_small_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pub");
        std::fs::write(&path, "text").unwrap();
        assert_eq!(read_key_file(&path).unwrap().as_deref(), Some("text"));
        assert!(read_key_file(&dir.path().join("absent")).unwrap().is_none());

        let zero = dir.path().join("zero.pub");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let err = read_key_file(&zero).unwrap_err().to_string();
        assert!(
            err.contains("character device") && err.contains("zero.pub"),
            "{err}"
        );

        let fifo = dir.path().join("fifo.pub");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        let err = read_key_file(&fifo).unwrap_err().to_string();
        assert!(err.contains("FIFO"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));

        let big = dir.path().join("big.pub");
        std::fs::write(&big, vec![b'a'; MAX_KEY_FILE as usize + 1]).unwrap();
        let err = read_key_file(&big).unwrap_err().to_string();
        assert!(err.contains("more than"), "{err}");
    }

    #[test]
    fn readable_private_key_files_are_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.priv");
        std::fs::write(&path, "x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(private_key_file_warning(&path), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let warning = private_key_file_warning(&path).unwrap();
        assert!(
            warning.contains("0644") && warning.contains("chmod 600"),
            "{warning}"
        );
    }

    #[test]
    fn garbage_armor_is_reported_in_words() {
        let mut garbage = String::new();
        for label in ["PGP PUBLIC KEY BLOCK", "PGP PRIVATE KEY BLOCK"] {
            garbage.clear();
            garbage.push_str(&format!("-----BEGIN {label}-----\n\n"));
            for _ in 0..40 {
                garbage.push_str("bm90IGEga2V5IGF0IGFsbCwganVzdCBzb21lIHRleHQgaW4gYmFzZTY0IQ==\n");
            }
            garbage.push_str(&format!("=AAAA\n-----END {label}-----\n"));
            let err = if label.contains("PUBLIC") {
                PublicKey::parse(&garbage).unwrap_err()
            } else {
                PrivateKey::parse(&garbage, None).unwrap_err()
            }
            .to_string();
            assert!(err.len() < 300, "{label}: {err}");
            assert!(
                !err.contains(", 32, ") && !err.contains("[1"),
                "{label}: {err}"
            );
            assert!(err.contains("OpenPGP"), "{label}: {err}");
        }
        assert_eq!(pgp_reason(&"bad checksum"), "bad checksum");
        let dump = format!("invalid input: {:?}", vec![45u8; 64]);
        assert!(pgp_reason(&dump).contains("malformed"));
    }

    #[test]
    fn garbage_is_no_key() {
        assert!(PrivateKey::parse("hello", None).is_err());
        assert!(PublicKey::parse("hello").is_err());
        // A cosign-native key file's framing around junk (built here, so no key-shaped block
        // is committed): refused with a pointer to PKCS#8.
        let label = "ENCRYPTED COSIGN PRIVATE KEY";
        let framed = format!("-----BEGIN {label}-----\nx\n-----END {label}-----\n");
        let err = PrivateKey::parse(&framed, None).unwrap_err();
        assert!(err.to_string().contains("PKCS#8"), "{err}");
    }
}
