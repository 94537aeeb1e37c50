//! The stream's keys, loaded by the host: `[keys.NAME]` with `private-key`, `public-key`,
//! `passphrase` and `optional`.
//!
//! A key source is a file path (relative to the stream file) or `env:VAR`. An environment
//! variable holds **either the key itself** (its value starts with `-----BEGIN`) **or the path
//! of a key file** (anything else). An unset or empty variable, or a missing file (named
//! directly or by the variable: a secret volume that is not mounted), means the key is not
//! available: an error, unless the key is `optional`, in which case the stages granted
//! it are skipped with a warning and the release is published unsigned.

use std::collections::BTreeMap;
use std::path::PathBuf;

use compose_stream::{Key, KeySource};

use crate::error::{Error, Result};
use crate::keys::{PrivateKey, PublicKey, private_key_file_warning};
use crate::verify::TrustedKeys;

/// One loaded `[keys.NAME]`.
#[derive(Debug)]
pub struct LoadedKey {
    /// The private key, if the entry has one.
    pub private: Option<PrivateKey>,
    /// The public key: `public-key` if given, else the private key's public half.
    pub public: Option<PublicKey>,
}

/// The stream's keys after loading.
#[derive(Debug, Default)]
pub struct StreamKeys {
    /// Loaded keys by name.
    pub keys: BTreeMap<String, LoadedKey>,
    /// Optional keys whose private key is not available, with the reason.
    pub absent: BTreeMap<String, String>,
}

/// Where a key's text came from, for messages.
fn describe(source: &KeySource) -> String {
    match source {
        KeySource::File(path) => format!("file `{}`", path.display()),
        KeySource::Env(var) => format!("`env:{var}`"),
    }
}

/// Reads a key source; `Ok(None)` when it is not available (unset variable, missing file).
pub fn read_source(source: &KeySource) -> Result<Option<String>> {
    let read_file = crate::keys::read_key_file;
    match source {
        KeySource::File(path) => read_file(path),
        KeySource::Env(var) => match std::env::var(var) {
            Ok(value) if value.trim().is_empty() => Ok(None),
            Ok(value) if value.trim_start().starts_with("-----BEGIN") => Ok(Some(value)),
            Ok(value) => read_file(&PathBuf::from(value.trim())),
            Err(_) => Ok(None),
        },
    }
}

/// The file a key source reads, if it reads one: the path itself, or the path a variable
/// names (not a key held in the variable).
fn key_file(source: &KeySource) -> Option<PathBuf> {
    match source {
        KeySource::File(path) => Some(path.clone()),
        KeySource::Env(var) => std::env::var(var)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty() && !v.starts_with("-----BEGIN"))
            .map(PathBuf::from),
    }
}

/// Why [`read_source`] found nothing, for messages.
fn unavailable(source: &KeySource) -> String {
    match source {
        KeySource::File(path) => format!("file `{}` does not exist", path.display()),
        KeySource::Env(var) => match std::env::var(var) {
            Ok(value) if !value.trim().is_empty() => format!(
                "`env:{var}` names `{}`, which does not exist (the variable holds a key, starting with `-----BEGIN`, or the path of a key file)",
                value.trim()
            ),
            _ => format!("`env:{var}` is not set"),
        },
    }
}

impl StreamKeys {
    /// Loads every key of the stream. A key that is declared but cannot be read, parsed or
    /// unlocked is an error; an `optional` key that is not available is recorded in
    /// [`StreamKeys::absent`].
    pub fn load(keys: &BTreeMap<String, Key>) -> Result<StreamKeys> {
        let mut out = StreamKeys::default();
        for (name, key) in keys {
            let fail = |message: String| Error::StreamKey {
                name: name.clone(),
                message,
            };
            let passphrase = match &key.passphrase_env {
                Some(var) => match std::env::var(var) {
                    Ok(p) => Some(p),
                    Err(_) if key.optional => None,
                    Err(_) => {
                        return Err(fail(format!("its passphrase variable `{var}` is not set")));
                    }
                },
                None => None,
            };
            let private = match &key.private_key {
                Some(source) => match read_source(source).map_err(|e| fail(e.to_string()))? {
                    Some(text) => {
                        if let Some(warning) =
                            key_file(source).and_then(|p| private_key_file_warning(&p))
                        {
                            tracing::warn!("key `{name}`: {warning}");
                        }
                        Some(
                            PrivateKey::parse(&text, passphrase.as_deref())
                                .map_err(|e| fail(format!("{}: {e}", describe(source))))?,
                        )
                    }
                    None if key.optional => {
                        out.absent.insert(name.clone(), unavailable(source));
                        continue;
                    }
                    None => {
                        return Err(fail(format!(
                            "the private key is not available: {}",
                            unavailable(source)
                        )));
                    }
                },
                None => None,
            };
            let public = match &key.public_key {
                Some(source) => match read_source(source).map_err(|e| fail(e.to_string()))? {
                    Some(text) => Some(
                        PublicKey::parse(&text)
                            .map_err(|e| fail(format!("{}: {e}", describe(source))))?,
                    ),
                    None => {
                        return Err(fail(format!(
                            "the public key is not available: {}",
                            unavailable(source)
                        )));
                    }
                },
                None => private.as_ref().map(PrivateKey::public),
            };
            if let (Some(private), Some(public)) = (&private, &public)
                && private.kind() != public.kind()
            {
                return Err(fail(format!(
                    "the private key is {} but the public key is {}",
                    private.kind(),
                    public.kind()
                )));
            }
            out.keys.insert(name.clone(), LoadedKey { private, public });
        }
        Ok(out)
    }

    /// Every public key of the stream: what signatures are verified against.
    pub fn trusted(&self) -> TrustedKeys {
        let mut trusted = TrustedKeys::default();
        for key in self.keys.values() {
            if let Some(public) = &key.public {
                trusted.add(public.clone());
            }
        }
        trusted
    }
}
