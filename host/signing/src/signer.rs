//! The host side of the WIT `signer` import: signs with the stream's keys, which never leave
//! the host. The runtime has already checked that the calling stage was granted the key.

use std::sync::Arc;

use compose_runtime::SignatureFormat;

use crate::keys::{KeyKind, PrivateKey};
use crate::ring::StreamKeys;
use crate::sign::{cosign_sign, openpgp_sign};

/// Signs for stages with the stream's keys.
#[derive(Debug, Clone)]
pub struct StreamSigner {
    keys: Arc<StreamKeys>,
    created: Option<u64>,
}

impl StreamSigner {
    /// A signer over `keys`; `created` fixes the OpenPGP signature time (`SOURCE_DATE_EPOCH`).
    pub fn new(keys: Arc<StreamKeys>, created: Option<u64>) -> Self {
        StreamSigner { keys, created }
    }
}

fn kind_of(format: SignatureFormat) -> KeyKind {
    match format {
        SignatureFormat::OpenPgp => KeyKind::OpenPgp,
        SignatureFormat::Cosign => KeyKind::Cosign,
    }
}

impl StreamSigner {
    fn find(&self, key: &str) -> Result<&crate::ring::LoadedKey, String> {
        if let Some(reason) = self.keys.absent.get(key) {
            return Err(format!("key `{key}` is not available ({reason})"));
        }
        self.keys
            .keys
            .get(key)
            .ok_or_else(|| format!("the stream declares no key `{key}`"))
    }
}

impl compose_runtime::Signer for StreamSigner {
    fn sign(&self, key: &str, format: SignatureFormat, data: &[u8]) -> Result<Vec<u8>, String> {
        let loaded = self.find(key)?;
        let Some(private) = &loaded.private else {
            return Err(format!(
                "key `{key}` has no private key: it can only verify"
            ));
        };
        match (private, format) {
            (PrivateKey::OpenPgp { key, passphrase }, SignatureFormat::OpenPgp) => {
                openpgp_sign(key, passphrase, data, self.created)
            }
            (PrivateKey::Cosign(key), SignatureFormat::Cosign) => {
                Ok(cosign_sign(key, data).into_bytes())
            }
            (private, format) => Err(format!(
                "key `{key}` is an {} key; it cannot make {} signatures",
                private.kind(),
                kind_of(format)
            )),
        }
    }

    fn public_key(&self, key: &str, format: SignatureFormat) -> Result<String, String> {
        let loaded = self.find(key)?;
        let Some(public) = &loaded.public else {
            return Err(format!("key `{key}` has no public key"));
        };
        if public.kind() != kind_of(format) {
            return Err(format!(
                "key `{key}` is an {} key, not an {} key",
                public.kind(),
                kind_of(format)
            ));
        }
        public.to_text().map_err(|e| e.to_string())
    }
}
