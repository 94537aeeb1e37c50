//! Plugins published as Wasm OCI artifacts (`oci://HOST/REPO[:TAG][@sha256:…]`): pulled
//! through the stream's registries into a content-addressed cache.
//!
//! The cache is `<cache>/plugins/sha256/<hex>.wasm` (components, by their digest) and
//! `<cache>/plugins/sha256/<hex>.json` (artifact manifests, by theirs). Every file is checked
//! against its name when read; a damaged one is fetched again. A reference pinned by digest
//! whose manifest and component are cached is served without any network call; a reference
//! by tag costs one manifest request to learn what the tag names now.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use compose_payload::oci::{is_sha256_digest, sha256_digest};
use compose_registry::artifact::wasm_layer;
use compose_registry::{Error as RegistryError, ImageSource, Reference};
use serde::Serialize;

/// A plugin component pulled (or taken from the cache).
#[derive(Debug, Clone, Serialize)]
pub struct FetchedPlugin {
    /// The reference as given, without `oci://`.
    pub reference: String,
    /// The artifact manifest digest: what `@sha256:…` pins.
    pub manifest_digest: String,
    /// The component's digest.
    pub wasm_digest: String,
    /// The component's size in bytes.
    pub size: u64,
    /// The manifest's annotations (`org.opencontainers.image.version`, …).
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Whether the component came from the cache (it was not downloaded).
    pub cached: bool,
    /// Whether the store (registry, mirror) was asked anything: false for a reference pinned
    /// by digest whose manifest and component were cached.
    pub contacted: bool,
    /// Time to resolve and pull, milliseconds.
    pub millis: f64,
    /// The trusted key that vouched for it, when a trust policy applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<compose_signing::plugin::PluginSignature>,
    /// The component.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// Pulls plugins through a store (the stream's mirrors and registries) into the cache.
pub struct PluginFetcher {
    dir: PathBuf,
    source: Arc<dyn ImageSource>,
}

impl PluginFetcher {
    /// A fetcher reading from `source`, caching under `<cache_dir>/plugins`.
    pub fn new(cache_dir: &Path, source: Arc<dyn ImageSource>) -> PluginFetcher {
        PluginFetcher {
            dir: cache_dir.join("plugins").join("sha256"),
            source,
        }
    }

    /// The cache directory (`<cache>/plugins/sha256`).
    pub fn cache_dir(&self) -> &Path {
        &self.dir
    }

    /// The store plugins are read from.
    pub(crate) fn source(&self) -> &Arc<dyn ImageSource> {
        &self.source
    }

    /// Where the cached file of `digest` with `extension` is.
    pub(crate) fn path(&self, digest: &str, extension: &str) -> Option<PathBuf> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|_| is_sha256_digest(digest))?;
        Some(self.dir.join(format!("{hex}.{extension}")))
    }

    /// The cached bytes of `digest`, if present and intact.
    fn cached(&self, digest: &str, extension: &str) -> Option<Vec<u8>> {
        let path = self.path(digest, extension)?;
        let bytes = std::fs::read(&path).ok()?;
        if sha256_digest(&bytes) == digest {
            Some(bytes)
        } else {
            tracing::warn!(path = %path.display(), "ignoring a damaged cached plugin file");
            None
        }
    }

    /// Stores `bytes` under `digest` (temporary file, then rename). Failing to cache is not
    /// fatal: it is logged.
    pub(crate) fn store(&self, digest: &str, extension: &str, bytes: &[u8]) {
        let Some(path) = self.path(digest, extension) else {
            return;
        };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
            std::io::Write::write_all(&mut tmp, bytes)?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), "cannot cache a plugin file: {e}");
        }
    }

    /// The manifest digest `reference` (without `oci://`) names now: its own digest when it
    /// is pinned (checked against the store unless cached), else what its tag resolves to.
    pub fn resolve(&self, reference: &str) -> Result<String, RegistryError> {
        let parsed = Reference::parse(reference)?;
        if let Some(digest) = &parsed.digest {
            if self.cached(digest, "json").is_some() {
                return Ok(digest.clone());
            }
            return self.manifest(&parsed).map(|(_, digest)| digest);
        }
        Ok(self.source.resolve(&parsed)?.digest)
    }

    /// The artifact manifest of `parsed`: from the cache when pinned and cached, else from
    /// the store. A pinned digest the store lacks is reported against what the tag names.
    fn manifest(&self, parsed: &Reference) -> Result<(Vec<u8>, String), RegistryError> {
        if let Some(digest) = &parsed.digest
            && let Some(bytes) = self.cached(digest, "json")
        {
            return Ok((bytes, digest.clone()));
        }
        let descriptor = match self.source.resolve(parsed) {
            Ok(d) => d,
            Err(e) if matches!(e.root(), RegistryError::NotFound { .. }) => {
                if let (Some(pinned), Some(_)) = (&parsed.digest, &parsed.tag) {
                    let by_tag = Reference {
                        digest: None,
                        ..parsed.clone()
                    };
                    if let Ok(found) = self.source.resolve(&by_tag) {
                        return Err(RegistryError::PinMismatch {
                            reference: parsed.to_string(),
                            pinned: pinned.clone(),
                            found: found.digest,
                        });
                    }
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let bytes = self.source.blob(parsed, &descriptor.digest)?;
        if let Some(pinned) = &parsed.digest
            && *pinned != descriptor.digest
        {
            return Err(RegistryError::PinMismatch {
                reference: parsed.to_string(),
                pinned: pinned.clone(),
                found: descriptor.digest,
            });
        }
        Ok((bytes, descriptor.digest))
    }

    /// Pulls the plugin `reference` (without `oci://`): the artifact manifest, checked to be
    /// a Wasm artifact, then the component, each from the cache when it is there.
    pub fn fetch(&self, reference: &str) -> Result<FetchedPlugin, RegistryError> {
        let started = Instant::now();
        let parsed = Reference::parse(reference)?;
        let manifest_cached = parsed
            .digest
            .as_deref()
            .is_some_and(|d| self.cached(d, "json").is_some());
        let (manifest_bytes, manifest_digest) = self.manifest(&parsed)?;
        let (manifest, layer) = wasm_layer(reference, &manifest_bytes)?;
        self.store(&manifest_digest, "json", &manifest_bytes);
        let (bytes, cached) = match self.cached(&layer.digest, "wasm") {
            Some(bytes) => (bytes, true),
            None => {
                let pinned = parsed.pinned(&manifest_digest)?;
                let bytes = self.source.blob(&pinned, &layer.digest)?;
                let actual = sha256_digest(&bytes);
                if actual != layer.digest {
                    return Err(RegistryError::RemoteDigestMismatch {
                        registry: parsed.registry.clone(),
                        reference: reference.to_string(),
                        expected: layer.digest.clone(),
                        actual,
                    });
                }
                self.store(&layer.digest, "wasm", &bytes);
                (bytes, false)
            }
        };
        if bytes.len() as u64 != layer.size {
            return Err(RegistryError::NotAWasmArtifact {
                reference: reference.to_string(),
                reason: format!(
                    "its layer says {} bytes, the component has {}",
                    layer.size,
                    bytes.len()
                ),
            });
        }
        Ok(FetchedPlugin {
            reference: reference.to_string(),
            manifest_digest,
            wasm_digest: layer.digest,
            size: bytes.len() as u64,
            annotations: manifest.annotations.unwrap_or_default(),
            cached,
            contacted: !(manifest_cached && cached),
            millis: crate::events::millis(started.elapsed()),
            signed_by: None,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compose_payload::oci::Descriptor;
    use compose_registry::OciLayout;
    use compose_registry::artifact::{ArtifactInfo, WasmArtifact};

    /// A layout holding one Wasm artifact tagged `t`, and the fetcher over it.
    fn setup(
        wasm: &[u8],
    ) -> (
        tempfile::TempDir,
        PluginFetcher,
        WasmArtifact,
        Arc<OciLayout>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::create(&dir.path().join("store")).unwrap();
        let info = ArtifactInfo {
            created: "2024-01-01T00:00:00Z".into(),
            ..ArtifactInfo::default()
        };
        let artifact = WasmArtifact::build(wasm, &info).unwrap();
        layout.write_blob(wasm).unwrap();
        layout.write_blob(&artifact.config).unwrap();
        layout.write_blob(&artifact.manifest).unwrap();
        layout.set_ref(
            Descriptor::of(compose_payload::oci::OCI_MANIFEST, &artifact.manifest),
            "t",
        );
        layout.save_index().unwrap();
        let layout = Arc::new(layout);
        let fetcher = PluginFetcher::new(&dir.path().join("cache"), layout.clone());
        (dir, fetcher, artifact, layout)
    }

    #[test]
    fn pulls_then_serves_pinned_references_from_the_cache() {
        let (dir, fetcher, artifact, _) = setup(b"\0asm component");
        let by_tag = fetcher.fetch("example.org/p/x:t").unwrap();
        assert_eq!(by_tag.manifest_digest, artifact.manifest_digest);
        assert_eq!(by_tag.bytes, b"\0asm component");
        assert!(!by_tag.cached && by_tag.contacted);
        // Pinned: served from the cache even with the store gone.
        std::fs::remove_dir_all(dir.path().join("store")).unwrap();
        let pinned = format!("example.org/p/x:t@{}", artifact.manifest_digest);
        let again = fetcher.fetch(&pinned).unwrap();
        assert!(again.cached && !again.contacted);
        assert_eq!(again.wasm_digest, artifact.wasm_digest);
        assert_eq!(fetcher.resolve(&pinned).unwrap(), artifact.manifest_digest);
        // A damaged cache entry is not used (and the store is gone): an error, not bad bytes.
        let wasm = fetcher.path(&artifact.wasm_digest, "wasm").unwrap();
        std::fs::write(&wasm, b"evil").unwrap();
        assert!(fetcher.fetch(&pinned).is_err());
    }

    #[test]
    fn a_wrong_pin_is_refused_naming_both_digests() {
        let (_dir, fetcher, artifact, _) = setup(b"\0asm component");
        let wrong = sha256_digest(b"something else");
        let err = fetcher
            .fetch(&format!("example.org/p/x:t@{wrong}"))
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, RegistryError::PinMismatch { .. }), "{err:?}");
        assert!(
            text.contains(&wrong) && text.contains(&artifact.manifest_digest),
            "{text}"
        );
        // Without a tag there is nothing to compare with: not found.
        assert!(fetcher.fetch(&format!("example.org/p/x@{wrong}")).is_err());
    }

    #[test]
    fn other_artifacts_are_refused() {
        let (_dir, fetcher, _, layout) = setup(b"\0asm component");
        let image = compose_payload::oci::ImageManifest {
            schema_version: 2,
            media_type: Some(compose_payload::oci::OCI_MANIFEST.into()),
            config: Descriptor::of(compose_payload::oci::OCI_CONFIG, b"{}"),
            layers: vec![],
            annotations: None,
        };
        let bytes = compose_payload::oci::canonical_json(&image).unwrap();
        let digest = layout.write_blob(&bytes).unwrap();
        let err = fetcher
            .fetch(&format!("example.org/p/x@{digest}"))
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::NotAWasmArtifact { .. }),
            "{err:?}"
        );
    }
}
