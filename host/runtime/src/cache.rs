//! The keyed hash that seals each compiled component in the cache.
//!
//! A cache file is `HMAC-SHA256(key, context) || artifact`, where the context names what the
//! artifact claims to be: the digest of the component it was compiled from, the engine it was
//! compiled for, and the artifact bytes themselves. The key is 32 random bytes in
//! `<cache>/cache.key` (mode 0600), made on first use. A flipped byte, a truncated file, or a
//! file copied over another plugin's entry no longer matches, and is recompiled instead of
//! being deserialized (compiled code is run as is: wasmtime trusts it).

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The name of the key file in the cache directory.
const KEY_FILE: &str = "cache.key";
/// Bytes of key.
const KEY_LEN: usize = 32;
/// Bytes of the keyed hash at the start of a cache file.
const MAC_LEN: usize = 32;
/// Names the format of what is hashed, so another use of the key cannot collide with it.
const DOMAIN: &[u8] = b"compose compiled-component cache v1";

/// The key of one cache directory.
pub struct CacheKey {
    key: [u8; KEY_LEN],
}

impl CacheKey {
    /// Reads the key of the cache `dir`, making one if there is none (or if the file is not a
    /// key: the entries it sealed then no longer verify, and are recompiled).
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(KEY_FILE);
        let cache_error = |source| Error::Cache {
            path: path.clone(),
            source,
        };
        match read_key(&path) {
            Ok(Some(key)) => return Ok(CacheKey { key }),
            Ok(None) => {
                tracing::warn!(cache = %path.display(), "the compiled-plugin cache key is not a key: replacing it (every cached plugin will be recompiled)");
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(cache_error(e)),
        }
        let mut key = [0u8; KEY_LEN];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut random| random.read_exact(&mut key))
            .map_err(cache_error)?;
        // Written whole to a private temporary file, then linked into place: a concurrent
        // process either wins the link or reads the key that did.
        let tmp = dir.join(format!("{KEY_FILE}.tmp{}", std::process::id()));
        let written = write_private(&tmp, &key);
        let placed = written.and_then(|()| match std::fs::hard_link(&tmp, &path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Either a concurrent process made one, or the file there is not a key.
                match read_key(&path) {
                    Ok(Some(_)) => Ok(false),
                    _ => std::fs::rename(&tmp, &path).map(|()| true),
                }
            }
            Err(e) => Err(e),
        });
        let _ = std::fs::remove_file(&tmp);
        if placed.map_err(cache_error)? {
            return Ok(CacheKey { key });
        }
        match read_key(&path) {
            Ok(Some(key)) => Ok(CacheKey { key }),
            Ok(None) => Err(cache_error(std::io::Error::other(
                "the cache key changed while it was being read",
            ))),
            Err(e) => Err(cache_error(e)),
        }
    }

    /// The keyed hash of `artifact`, compiled from the component `wasm_hex` for `engine`.
    fn mac(&self, wasm_hex: &str, engine: &str, artifact: &[u8]) -> [u8; MAC_LEN] {
        let length = (artifact.len() as u64).to_be_bytes();
        hmac_sha256(
            &self.key,
            &[
                DOMAIN,
                b"\0",
                wasm_hex.as_bytes(),
                b"\0",
                engine.as_bytes(),
                b"\0",
                &length,
                artifact,
            ],
        )
    }

    /// The cache file for `artifact`: its keyed hash, then its bytes.
    pub fn seal(&self, wasm_hex: &str, engine: &str, artifact: &[u8]) -> Vec<u8> {
        let mut sealed = Vec::with_capacity(MAC_LEN + artifact.len());
        sealed.extend_from_slice(&self.mac(wasm_hex, engine, artifact));
        sealed.extend_from_slice(artifact);
        sealed
    }

    /// The artifact in the cache file `sealed`, if it is the one compiled from the component
    /// `wasm_hex` for `engine` with this key.
    pub fn verify<'a>(&self, wasm_hex: &str, engine: &str, sealed: &'a [u8]) -> Option<&'a [u8]> {
        if sealed.len() < MAC_LEN {
            return None;
        }
        let (mac, artifact) = sealed.split_at(MAC_LEN);
        let expected = self.mac(wasm_hex, engine, artifact);
        // Constant time: the comparison does not say how much of a forged hash was right.
        let difference = mac
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (difference == 0).then_some(artifact)
    }
}

/// The key in `path`: `None` if the file is not a key (wrong size).
fn read_key(path: &Path) -> std::io::Result<Option<[u8; KEY_LEN]>> {
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(KEY_LEN + 1);
    file.take(KEY_LEN as u64 + 1).read_to_end(&mut bytes)?;
    Ok(<[u8; KEY_LEN]>::try_from(bytes.as_slice()).ok())
}

/// Writes `bytes` to a new file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// HMAC-SHA256 (RFC 2104) of the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|k| k ^ byte);
    let mut inner = Sha256::new();
    inner.update(pad(0x36));
    for part in parts {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than a block.
        let mac = hmac_sha256(
            &[0xaa; 131],
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_sealed_artifact_verifies_only_as_what_it_was_sealed_for() {
        let dir = tempfile::tempdir().unwrap();
        let key = CacheKey::open(dir.path()).unwrap();
        let sealed = key.seal("aaaa", "engine", b"compiled code");
        assert_eq!(
            key.verify("aaaa", "engine", &sealed),
            Some(&b"compiled code"[..])
        );
        // Another plugin's name, another engine, a flipped byte, a truncated file.
        assert_eq!(key.verify("bbbb", "engine", &sealed), None);
        assert_eq!(key.verify("aaaa", "other", &sealed), None);
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(key.verify("aaaa", "engine", &flipped), None);
        assert_eq!(key.verify("aaaa", "engine", &sealed[..20]), None);
        // The same directory gives the same key; another directory another one.
        let again = CacheKey::open(dir.path()).unwrap();
        assert!(again.verify("aaaa", "engine", &sealed).is_some());
        let other_dir = tempfile::tempdir().unwrap();
        let other = CacheKey::open(other_dir.path()).unwrap();
        assert_eq!(other.verify("aaaa", "engine", &sealed), None);
    }

    #[test]
    fn the_key_is_private_and_a_broken_key_is_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = CacheKey::open(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = key.seal("aaaa", "engine", b"code");
        std::fs::write(&path, b"short").unwrap();
        let replaced = CacheKey::open(dir.path()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), KEY_LEN);
        assert_eq!(replaced.verify("aaaa", "engine", &sealed), None);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(KEY_FILE)]);
    }
}
