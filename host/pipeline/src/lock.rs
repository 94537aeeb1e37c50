//! Lock files: `STREAM.lock` pins the base release and every plugin of a stream by digest, so
//! `compose run --locked` composes from exactly the inputs that were locked or refuses to run.
//!
//! ```toml
//! # Written by `compose lock`: `compose run --locked` refuses any drift from it.
//! version = 1
//! stream = "okd-scos"
//!
//! [base]
//! reference = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116"
//! digest = "sha256:…"
//!
//! [[plugin]]
//! stage = "select"
//! plugin = "oci://registry.lab/compose/select-images:1.0"
//! manifest = "sha256:…"   # the artifact manifest (oci:// plugins only)
//! wasm = "sha256:…"       # the component
//!
//! [plugin.signed-by]      # under a trust policy: the key that verified its signature
//! key = "keys/community.cosign.pub"
//! fingerprint = "sha256:…" # SHA-256 of the key's DER SubjectPublicKeyInfo
//! ```

use std::path::{Path, PathBuf};

use compose_payload::oci::sha256_digest;
use compose_registry::{ImageSource, Reference};
use compose_stream::{PluginRef, Stream};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fetch::PluginFetcher;
use crate::sources::parse_reference;

/// The lock file format version this build writes and reads.
pub const LOCK_VERSION: u32 = 1;

/// A stream's inputs pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// [`LOCK_VERSION`].
    pub version: u32,
    /// The stream's name.
    pub stream: String,
    /// The base release.
    pub base: LockedImage,
    /// One entry per stage, in stage order.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<LockedPlugin>,
}

/// An image reference and the manifest digest it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedImage {
    /// The reference as the stream says it.
    pub reference: String,
    /// `sha256:…` of its manifest (or index).
    pub digest: String,
}

/// A stage's plugin and its digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPlugin {
    /// The stage.
    pub stage: String,
    /// The plugin as the stream says it.
    pub plugin: String,
    /// The artifact manifest digest (`oci://` plugins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The component's digest.
    pub wasm: String,
    /// The trusted key that verified the plugin's signature, when a trust policy applies.
    #[serde(default, rename = "signed-by", skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<LockedSignature>,
}

/// The key that vouched for a locked plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedSignature {
    /// The key file, as the trust policy names it.
    pub key: String,
    /// `sha256:` of the key's DER SubjectPublicKeyInfo.
    pub fingerprint: String,
}

/// Where the lock file of `stream` is: beside it, with the extension `.lock`
/// (`streams/scos.toml` → `streams/scos.lock`).
pub fn lock_path(stream: &Path) -> PathBuf {
    stream.with_extension("lock")
}

impl Lock {
    /// Reads a lock file; `None` if there is none.
    pub fn read(path: &Path) -> Result<Option<Lock>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    context: "reading the lock file".into(),
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let lock: Lock = toml::from_str(&text).map_err(|e| {
            Error::Lock(format!(
                "`{}` is not a lock file: {}; write it again with `compose lock`",
                path.display(),
                e.message()
            ))
        })?;
        if lock.version != LOCK_VERSION {
            return Err(Error::Lock(format!(
                "`{}` has version {}; this compose reads version {LOCK_VERSION}: write it again with `compose lock`",
                path.display(),
                lock.version
            )));
        }
        Ok(Some(lock))
    }

    /// The lock file text.
    pub fn to_toml(&self) -> Result<String> {
        let body = toml::to_string(self)
            .map_err(|e| Error::Lock(format!("cannot write the lock: {e}")))?;
        Ok(format!(
            "# Written by `compose lock`: `compose run --locked` refuses any drift from it.\n{body}"
        ))
    }

    /// Writes the lock file (temporary file, then rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = self.to_toml()?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let io = |source| Error::Io {
            context: "writing the lock file".into(),
            path: path.to_path_buf(),
            source,
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// What differs between this lock (as written) and `now` (the stream's inputs as they
    /// resolve now), one line per drifted input; empty when nothing drifted.
    pub fn drift(&self, now: &Lock) -> Vec<String> {
        let mut drift = Vec::new();
        if self.stream != now.stream {
            drift.push(format!(
                "the lock is for stream `{}`, not `{}`",
                self.stream, now.stream
            ));
        }
        if self.base.reference != now.base.reference {
            drift.push(format!(
                "base release: the lock has `{}`, the stream says `{}`",
                self.base.reference, now.base.reference
            ));
        } else if self.base.digest != now.base.digest {
            drift.push(format!(
                "base release `{}`: locked at `{}`, now resolves to `{}`",
                self.base.reference, self.base.digest, now.base.digest
            ));
        }
        for p in &now.plugins {
            match self.plugins.iter().find(|l| l.stage == p.stage) {
                None => drift.push(format!(
                    "stage `{}` (plugin `{}`) is not in the lock",
                    p.stage, p.plugin
                )),
                Some(l) if l.plugin != p.plugin => drift.push(format!(
                    "stage `{}`: the lock has plugin `{}`, the stream says `{}`",
                    p.stage, l.plugin, p.plugin
                )),
                Some(l) if l.manifest != p.manifest => drift.push(format!(
                    "stage `{}`: plugin `{}` locked at `{}`, now resolves to `{}`",
                    p.stage,
                    p.plugin,
                    l.manifest.as_deref().unwrap_or("-"),
                    p.manifest.as_deref().unwrap_or("-")
                )),
                Some(l) if l.wasm != p.wasm => drift.push(format!(
                    "stage `{}`: plugin `{}` locked with component `{}`, now `{}`",
                    p.stage, p.plugin, l.wasm, p.wasm
                )),
                Some(l)
                    if l.signed_by.as_ref().map(|s| &s.fingerprint)
                        != p.signed_by.as_ref().map(|s| &s.fingerprint) =>
                {
                    let key = |s: &Option<LockedSignature>| {
                        s.as_ref()
                            .map(|s| format!("key {} ({})", s.key, s.fingerprint))
                            .unwrap_or_else(|| "no key (no trust policy)".to_string())
                    };
                    drift.push(format!(
                        "stage `{}`: plugin `{}` locked as signed by {}, now by {}",
                        p.stage,
                        p.plugin,
                        key(&l.signed_by),
                        key(&p.signed_by)
                    ))
                }
                Some(_) => {}
            }
        }
        for l in &self.plugins {
            if !now.plugins.iter().any(|p| p.stage == l.stage) {
                drift.push(format!(
                    "stage `{}` is in the lock but no longer in the stream",
                    l.stage
                ));
            }
        }
        drift
    }

    /// The locked manifest digest of `stage`'s `oci://` plugin, if any.
    pub fn plugin_digest(&self, stage: &str) -> Option<&str> {
        self.plugins
            .iter()
            .find(|p| p.stage == stage)
            .and_then(|p| p.manifest.as_deref())
    }
}

/// Resolves every input of `stream` now: the base release through `source` (the stream's
/// registries), every plugin (pulling `oci://` ones through `fetcher`).
pub fn resolve(stream: &Stream, source: &dyn ImageSource, fetcher: &PluginFetcher) -> Result<Lock> {
    let from = parse_reference(&stream.from, "base release")?;
    let base = source.resolve(&from).map_err(|source| Error::Registry {
        context: format!("resolving the base release `{}`", stream.from),
        source: Box::new(source),
    })?;
    let mut plugins = Vec::with_capacity(stream.stages.len());
    for stage in &stream.stages {
        let (manifest, wasm, signed_by) = match &stage.plugin {
            PluginRef::Oci(reference) => {
                let fetched = crate::plan::fetch_stage_plugin(fetcher, stage, reference)?;
                let signed_by = fetched.signed_by.map(|s| LockedSignature {
                    key: s.key,
                    fingerprint: s.fingerprint,
                });
                (
                    Some(fetched.manifest_digest),
                    fetched.wasm_digest,
                    signed_by,
                )
            }
            _ => (
                None,
                sha256_digest(&crate::plan::plugin_bytes(stage)?),
                None,
            ),
        };
        plugins.push(LockedPlugin {
            stage: stage.name.clone(),
            plugin: stage.plugin_text.clone(),
            manifest,
            wasm,
            signed_by,
        });
    }
    Ok(Lock {
        version: LOCK_VERSION,
        stream: stream.name.clone(),
        base: LockedImage {
            reference: stream.from.clone(),
            digest: base.digest,
        },
        plugins,
    })
}

/// Checks `stream` against its lock file and pins it: every `oci://` plugin then names its
/// locked digest, so the run pulls exactly what was locked. Refuses a missing lock and any
/// drift, naming each drifted input.
pub fn enforce(
    stream: &mut Stream,
    source: &dyn ImageSource,
    fetcher: &PluginFetcher,
) -> Result<Lock> {
    let path = lock_path(&stream.path);
    let Some(lock) = Lock::read(&path)? else {
        return Err(Error::Lock(format!(
            "`--locked` needs the lock file `{}`, which does not exist: write it with `compose lock {}`",
            path.display(),
            stream.path.display()
        )));
    };
    let now = resolve(stream, source, fetcher)?;
    let drift = lock.drift(&now);
    if !drift.is_empty() {
        return Err(Error::Lock(format!(
            "the stream drifted from `{}` ({} input{}):\n  - {}\nrun `compose lock {}` to accept the change",
            path.display(),
            drift.len(),
            if drift.len() == 1 { "" } else { "s" },
            drift.join("\n  - "),
            stream.path.display()
        )));
    }
    for stage in &mut stream.stages {
        if let (PluginRef::Oci(reference), Some(digest)) =
            (&stage.plugin, lock.plugin_digest(&stage.name))
            && let Ok(parsed) = Reference::parse(reference)
            && let Ok(pinned) = parsed.pinned(digest)
        {
            let mut pinned = pinned;
            pinned.tag = parsed.tag.clone();
            stage.plugin = PluginRef::Oci(pinned.to_string());
        }
    }
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock() -> Lock {
        Lock {
            version: 1,
            stream: "s".into(),
            base: LockedImage {
                reference: "quay.io/a/b:1".into(),
                digest: sha256_digest(b"base"),
            },
            plugins: vec![
                LockedPlugin {
                    stage: "one".into(),
                    plugin: "oci://r.io/p/x:1".into(),
                    manifest: Some(sha256_digest(b"m")),
                    wasm: sha256_digest(b"w"),
                    signed_by: Some(LockedSignature {
                        key: "keys/community.cosign.pub".into(),
                        fingerprint: sha256_digest(b"key"),
                    }),
                },
                LockedPlugin {
                    stage: "two".into(),
                    plugin: "select-images".into(),
                    manifest: None,
                    wasm: sha256_digest(b"w2"),
                    signed_by: None,
                },
            ],
        }
    }

    #[test]
    fn round_trips_through_toml() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lock");
        lock().write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Written by `compose lock`"), "{text}");
        assert!(text.contains("[[plugin]]"), "{text}");
        assert!(
            text.contains(
                "[plugin.signed-by]\nkey = \"keys/community.cosign.pub\"\nfingerprint = \"sha256:"
            ),
            "{text}"
        );
        assert_eq!(Lock::read(&path).unwrap(), Some(lock()));
        assert_eq!(Lock::read(&dir.path().join("none.lock")).unwrap(), None);
        std::fs::write(&path, text.replace("version = 1", "version = 9")).unwrap();
        assert!(
            Lock::read(&path)
                .unwrap_err()
                .to_string()
                .contains("version 9")
        );
        assert_eq!(
            lock_path(Path::new("streams/scos.toml")),
            PathBuf::from("streams/scos.lock")
        );
    }

    #[test]
    fn drift_names_every_changed_input() {
        assert!(lock().drift(&lock()).is_empty());
        let mut now = lock();
        now.base.digest = sha256_digest(b"other base");
        now.plugins[0].manifest = Some(sha256_digest(b"m2"));
        now.plugins[1].plugin = "swap-os-image".into();
        now.plugins.push(LockedPlugin {
            stage: "three".into(),
            plugin: "x.wasm".into(),
            manifest: None,
            wasm: sha256_digest(b"w3"),
            signed_by: None,
        });
        let drift = lock().drift(&now);
        assert_eq!(drift.len(), 4, "{drift:#?}");
        assert!(drift[0].contains("base release `quay.io/a/b:1`: locked at"));
        assert!(drift[1].contains("stage `one`: plugin `oci://r.io/p/x:1` locked at"));
        assert!(drift[2].contains("the lock has plugin `select-images`"));
        assert!(drift[3].contains("stage `three`"));
        // Another key vouching for the same plugin, or none at all, is drift too.
        let mut resigned = lock();
        resigned.plugins[0].signed_by = Some(LockedSignature {
            key: "keys/vendor.cosign.pub".into(),
            fingerprint: sha256_digest(b"other key"),
        });
        let drift = lock().drift(&resigned);
        assert_eq!(drift.len(), 1, "{drift:#?}");
        assert!(
            drift[0].contains("locked as signed by key keys/community.cosign.pub (sha256:")
                && drift[0].contains("now by key keys/vendor.cosign.pub"),
            "{drift:#?}"
        );
        resigned.plugins[0].signed_by = None;
        assert!(lock().drift(&resigned)[0].contains("now by no key (no trust policy)"));
        now.plugins.clear();
        now.base = lock().base;
        let drift = lock().drift(&now);
        assert_eq!(drift.len(), 2, "{drift:#?}");
        assert!(drift[0].contains("no longer in the stream"));
    }
}
