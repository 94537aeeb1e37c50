//! `okd:compose/signer`: signatures made by the host with keys the stream declares; a private
//! key never enters a stage. Granted by `grants.keys` (key names; the stream checks that each
//! names a `[keys.NAME]` table).

use wasmtime::component::{HasSelf, Linker};

use super::StageState;
use super::{Grants, Verdict};
use crate::bindings::v0_1::okd::compose::signer as v0_1;
use crate::bindings::v0_2::okd::compose0_2_0::signer as v0_2;

/// The kinds of signature a key can make (the WIT `signature-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFormat {
    /// An OpenPGP signed message.
    OpenPgp,
    /// A cosign-format ECDSA P-256 signature.
    Cosign,
}

/// Signing with keys the host holds: private keys never enter a stage.
pub trait Signer: Send + Sync {
    /// Signs `data` with the key named `key`.
    fn sign(&self, key: &str, format: SignatureFormat, data: &[u8]) -> Result<Vec<u8>, String>;
    /// The public part of the key named `key`.
    fn public_key(&self, key: &str, format: SignatureFormat) -> Result<String, String>;
}

/// The verdict on `okd:compose/<own>`, if this capability owns it.
pub(crate) fn judge(own: &str, grants: &Grants) -> Option<Verdict> {
    if own != "signer" {
        return None;
    }
    Some(if grants.keys.is_empty() {
        Verdict::refused("the stage has no `grants.keys`")
    } else {
        Verdict::granted(format!("keys {}", grants.keys.join(", ")))
    })
}

/// Links `signer` of every released version.
pub(crate) fn link(linker: &mut Linker<StageState>) -> wasmtime::Result<()> {
    v0_1::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    v0_2::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
}

/// Refuses a key the stage was not granted.
fn check_granted(state: &StageState, key: &str) -> Result<(), String> {
    if state.grants.keys.iter().any(|k| k == key) {
        Ok(())
    } else {
        Err(format!(
            "key `{key}` is not granted to stage `{}`",
            state.stage
        ))
    }
}

fn format_of(format: v0_2::SignatureFormat) -> SignatureFormat {
    match format {
        v0_2::SignatureFormat::Openpgp => SignatureFormat::OpenPgp,
        v0_2::SignatureFormat::Cosign => SignatureFormat::Cosign,
    }
}

impl v0_2::Host for StageState {
    fn sign(
        &mut self,
        key: String,
        format: v0_2::SignatureFormat,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        check_granted(self, &key)?;
        self.services()?.signer.sign(&key, format_of(format), &data)
    }

    fn public_key(&mut self, key: String, format: v0_2::SignatureFormat) -> Result<String, String> {
        check_granted(self, &key)?;
        self.services()?.signer.public_key(&key, format_of(format))
    }
}

/// 0.1.0: the same calls, the format converted.
fn newer(format: v0_1::SignatureFormat) -> v0_2::SignatureFormat {
    match format {
        v0_1::SignatureFormat::Openpgp => v0_2::SignatureFormat::Openpgp,
        v0_1::SignatureFormat::Cosign => v0_2::SignatureFormat::Cosign,
    }
}

impl v0_1::Host for StageState {
    fn sign(
        &mut self,
        key: String,
        format: v0_1::SignatureFormat,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        v0_2::Host::sign(self, key, newer(format), data)
    }

    fn public_key(&mut self, key: String, format: v0_1::SignatureFormat) -> Result<String, String> {
        v0_2::Host::public_key(self, key, newer(format))
    }
}
