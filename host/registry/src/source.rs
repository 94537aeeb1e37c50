//! Where images are read from: the [`ImageSource`] trait and its OCI layout implementation.
//!
//! A source answers two primitive questions, [`ImageSource::resolve`] (which manifest does a
//! reference name?) and [`ImageSource::blob`] (verified bytes by digest). Reading a manifest or
//! a config is built on those two once, in the trait's provided methods, so every store
//! handles Docker schema2 manifests and multi-platform indexes the same way.

use compose_payload::oci::{
    Descriptor, ImageIndex, ImageManifest, OCI_INDEX, OCI_MANIFEST, is_index, is_manifest,
};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::layout::OciLayout;
use crate::reference::Reference;

/// The platform picked from a multi-platform index.
pub(crate) const OS: &str = "linux";
/// The platform picked from a multi-platform index.
pub(crate) const ARCHITECTURE: &str = "amd64";

/// A store images can be read from.
pub trait ImageSource: Send + Sync {
    /// Names the store in messages, e.g. `oci:examples/mirror`.
    fn location(&self) -> String;

    /// The descriptor of the manifest (or index) `reference` names.
    fn resolve(&self, reference: &Reference) -> Result<Descriptor>;

    /// The bytes of the content-addressed object `digest` of the image `reference` (a
    /// manifest, config or layer), verified against `digest`.
    fn blob(&self, reference: &Reference, digest: &str) -> Result<Vec<u8>>;

    /// The image manifest of `reference` and its digest. OCI and Docker schema2 manifests are
    /// accepted; for an index (OCI or Docker manifest list) the linux/amd64 entry is read.
    fn manifest(&self, reference: &Reference) -> Result<(String, ImageManifest)> {
        let descriptor = self.resolve(reference)?;
        let bytes = self.blob(reference, &descriptor.digest)?;
        let media_type = media_type_of(&bytes).unwrap_or(descriptor.media_type);
        let store = || self.location();
        if is_manifest(&media_type) {
            return Ok((
                descriptor.digest,
                parse_manifest(reference, &store(), &bytes)?,
            ));
        }
        if !is_index(&media_type) {
            return Err(Error::UnsupportedMediaType {
                reference: reference.to_string(),
                store: store(),
                media_type,
            });
        }
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|source| Error::BadContent {
                reference: reference.to_string(),
                store: store(),
                what: "image index",
                source,
            })?;
        let entry = index
            .manifests
            .into_iter()
            .find(|d| is_manifest(&d.media_type) && d.is_platform(OS, ARCHITECTURE))
            .ok_or_else(|| Error::NoPlatform {
                reference: reference.to_string(),
                store: store(),
            })?;
        let bytes = self.blob(reference, &entry.digest)?;
        let media_type = media_type_of(&bytes).unwrap_or(entry.media_type);
        if !is_manifest(&media_type) {
            return Err(Error::UnsupportedMediaType {
                reference: reference.to_string(),
                store: store(),
                media_type,
            });
        }
        Ok((entry.digest, parse_manifest(reference, &store(), &bytes)?))
    }

    /// Reads ahead, concurrently, the manifests and configs of those of `references` this
    /// source reads from a registry, so that later reads of them ([`ImageSource::manifest`],
    /// [`ImageSource::config`], [`ImageSource::blob`]) are answered from memory. Best effort:
    /// a failed read ahead is left for the later read to report. Local stores do nothing.
    fn prefetch(&self, references: &[Reference]) {
        let _ = references;
    }

    /// Whether the manifest and config of `reference` can be read without the network: this
    /// source is on local disk, or holds them in memory (read ahead, or read before). A host
    /// answers such a query of a stage on the stage's own thread; one that may wait for a
    /// registry goes through a thread bounded by the stage's deadline. `false` unless a source
    /// knows better.
    fn at_hand(&self, reference: &Reference) -> bool {
        let _ = reference;
        false
    }

    /// The image config JSON of `reference`.
    fn config(&self, reference: &Reference) -> Result<Value> {
        let (_, manifest) = self.manifest(reference)?;
        let bytes = self.blob(reference, &manifest.config.digest)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::BadContent {
            reference: reference.to_string(),
            store: self.location(),
            what: "image config",
            source,
        })
    }
}

fn parse_manifest(reference: &Reference, store: &str, bytes: &[u8]) -> Result<ImageManifest> {
    serde_json::from_slice(bytes).map_err(|source| Error::BadContent {
        reference: reference.to_string(),
        store: store.to_string(),
        what: "image manifest",
        source,
    })
}

/// The media type of a manifest or index document: its `mediaType` field, else guessed from
/// its shape (OCI lets both omit the field). `None` if it is not a JSON object.
pub(crate) fn media_type_of(bytes: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let object = value.as_object()?;
    if let Some(media_type) = object.get("mediaType").and_then(Value::as_str) {
        return Some(media_type.to_string());
    }
    if object.contains_key("manifests") {
        Some(OCI_INDEX.to_string())
    } else if object.contains_key("layers") && object.contains_key("config") {
        Some(OCI_MANIFEST.to_string())
    } else {
        None
    }
}

impl OciLayout {
    /// Wraps a store-level error with the reference and this layout.
    fn in_image(&self, reference: &Reference) -> impl FnOnce(Error) -> Error {
        let reference = reference.to_string();
        let store = self.location();
        move |source| Error::Image {
            reference,
            store,
            source: Box::new(source),
        }
    }
}

impl ImageSource for OciLayout {
    fn location(&self) -> String {
        format!("oci:{}", self.path().display())
    }

    /// A digest reference resolves when the blob exists and is a manifest or index (an index
    /// entry with that digest is preferred, for its platform and annotations). A tag
    /// reference resolves through the ref name `registry/repository:tag`, or just `tag` (as
    /// `skopeo copy … oci:dir:tag` writes it); no tag means `latest`.
    fn resolve(&self, reference: &Reference) -> Result<Descriptor> {
        let not_found = || Error::NotFound {
            reference: reference.to_string(),
            store: self.location(),
        };
        if let Some(digest) = &reference.digest {
            if let Some(entry) = self.entry_with_digest(digest) {
                return Ok(entry);
            }
            if !self.has_blob(digest) {
                return Err(not_found());
            }
            let bytes = self.read_blob(digest).map_err(self.in_image(reference))?;
            return match media_type_of(&bytes) {
                Some(media_type) if is_manifest(&media_type) || is_index(&media_type) => {
                    Ok(Descriptor::new(&media_type, digest, bytes.len() as u64))
                }
                _ => Err(not_found()),
            };
        }
        let tag = reference.tag.as_deref().unwrap_or("latest");
        let full = format!("{}:{tag}", reference.repository_path());
        for name in [full.as_str(), tag] {
            // A ref name listed twice for different images is ambiguous: refuse it, naming
            // both, rather than take the first and fail later on the wrong image.
            let mut digests = self.ref_digests(name);
            digests.sort_unstable();
            digests.dedup();
            if digests.len() > 1 {
                return Err(Error::NotALayout {
                    path: self.path().to_path_buf(),
                    reason: format!(
                        "its `index.json` names `{name}` {} times, for {}: a ref name must name one image",
                        digests.len(),
                        digests.join(", ")
                    ),
                });
            }
            if let Some(found) = self.find(name) {
                return Ok(found);
            }
        }
        Err(not_found())
    }

    fn blob(&self, reference: &Reference, digest: &str) -> Result<Vec<u8>> {
        self.read_blob(digest).map_err(self.in_image(reference))
    }

    /// An OCI layout is on local disk: every read is at hand.
    fn at_hand(&self, _reference: &Reference) -> bool {
        true
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use compose_payload::oci::{
        DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP, Platform,
        canonical_json, sha256_digest,
    };
    use serde_json::json;

    /// Stores a one-layer image (config + layer + manifest) and returns the manifest
    /// descriptor.
    pub(crate) fn put_image(
        layout: &OciLayout,
        docker: bool,
        layers: &[&[u8]],
        labels: Value,
    ) -> Descriptor {
        let config = json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| sha256_digest(l)).collect::<Vec<_>>()}
        });
        let config = serde_json::to_vec(&config).unwrap();
        let config_digest = layout.write_blob(&config).unwrap();
        let (mt, cmt, lmt) = if docker {
            (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER_GZIP)
        } else {
            (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP)
        };
        let layers = layers
            .iter()
            .map(|l| Descriptor::new(lmt, &layout.write_blob(l).unwrap(), l.len() as u64))
            .collect();
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(mt.to_string()),
            config: Descriptor::new(cmt, &config_digest, config.len() as u64),
            layers,
            annotations: None,
        };
        let bytes = canonical_json(&manifest).unwrap();
        Descriptor::new(mt, &layout.write_blob(&bytes).unwrap(), bytes.len() as u64)
    }

    fn r(text: &str) -> Reference {
        Reference::parse(text).unwrap()
    }

    #[test]
    fn tags_resolve_by_full_reference_then_by_tag() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::create(dir.path()).unwrap();
        let a = put_image(&layout, false, &[b"a"], json!({"x": "a"}));
        let b = put_image(&layout, false, &[b"b"], json!({"x": "b"}));
        layout.set_ref(a.clone(), "quay.io/openshift/okd:4.15");
        layout.set_ref(b.clone(), "4.17.0-okd-scos.0");

        assert_eq!(
            layout
                .resolve(&r("quay.io/openshift/okd:4.15"))
                .unwrap()
                .digest,
            a.digest
        );
        assert_eq!(
            layout
                .resolve(&r("quay.io/okd/scos-release:4.17.0-okd-scos.0"))
                .unwrap()
                .digest,
            b.digest
        );
        // The full reference of another repository does not match.
        assert!(matches!(
            layout.resolve(&r("quay.io/openshift/other:4.15")),
            Err(Error::NotFound { .. })
        ));
        let config = layout.config(&r("quay.io/openshift/okd:4.15")).unwrap();
        assert_eq!(config["config"]["Labels"]["x"], "a");
    }

    #[test]
    fn a_ref_name_listed_twice_for_different_images_is_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::create(dir.path()).unwrap();
        let a = put_image(&layout, false, &[b"a"], json!({"x": "a"}));
        let b = put_image(&layout, false, &[b"b"], json!({"x": "b"}));
        layout.set_ref(a.clone(), "quay.io/openshift/okd:4.15");
        layout.set_ref(b.clone(), "other");
        layout.save_index().unwrap();
        let index_path = dir.path().join("index.json");
        let text = std::fs::read_to_string(&index_path).unwrap();
        std::fs::write(
            &index_path,
            text.replace("\"other\"", "\"quay.io/openshift/okd:4.15\""),
        )
        .unwrap();
        let layout = OciLayout::open(dir.path()).unwrap();
        let err = layout
            .resolve(&r("quay.io/openshift/okd:4.15"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("names `quay.io/openshift/okd:4.15` 2 times"),
            "{err}"
        );
        assert!(err.contains(&a.digest) && err.contains(&b.digest), "{err}");
    }

    #[test]
    fn digests_resolve_to_stored_manifests_only() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let a = put_image(&layout, true, &[b"layer"], json!({}));
        let pinned = r(&format!("quay.io/openshift/okd-content@{}", a.digest));
        let resolved = layout.resolve(&pinned).unwrap();
        assert_eq!(resolved.digest, a.digest);
        assert_eq!(resolved.media_type, DOCKER_MANIFEST);

        let (digest, manifest) = layout.manifest(&pinned).unwrap();
        assert_eq!(digest, a.digest);
        assert_eq!(manifest.layers[0].media_type, DOCKER_LAYER_GZIP);

        // A layer blob is not a manifest.
        let layer = r(&format!(
            "quay.io/openshift/okd-content@{}",
            sha256_digest(b"layer")
        ));
        assert!(matches!(
            layout.resolve(&layer),
            Err(Error::NotFound { .. })
        ));
        let absent = r(&format!(
            "quay.io/openshift/okd-content@{}",
            sha256_digest(b"nope")
        ));
        let err = layout.resolve(&absent).unwrap_err();
        assert!(err.to_string().contains("okd-content@sha256:"), "{err}");
        assert!(err.to_string().contains(&layout.location()), "{err}");
    }

    #[test]
    fn index_picks_linux_amd64() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::create(dir.path()).unwrap();
        let arm = put_image(&layout, false, &[b"arm"], json!({"arch": "arm64"}));
        let amd = put_image(&layout, false, &[b"amd"], json!({"arch": "amd64"}));
        let mut entries = Vec::new();
        for (d, arch) in [(arm, "arm64"), (amd.clone(), "amd64")] {
            let mut d = d;
            d.platform = Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: None,
            });
            entries.push(d);
        }
        let index = ImageIndex {
            manifests: entries,
            ..ImageIndex::new()
        };
        let bytes = canonical_json(&index).unwrap();
        let digest = layout.write_blob(&bytes).unwrap();
        layout.set_ref(
            Descriptor::new(OCI_INDEX, &digest, bytes.len() as u64),
            "multi",
        );
        let (got, _) = layout.manifest(&r("quay.io/a/b:multi")).unwrap();
        assert_eq!(got, amd.digest);
        assert_eq!(
            layout.config(&r("quay.io/a/b:multi")).unwrap()["config"]["Labels"]["arch"],
            "amd64"
        );

        let arm_only = ImageIndex {
            manifests: vec![],
            ..ImageIndex::new()
        };
        let bytes = canonical_json(&arm_only).unwrap();
        let digest = layout.write_blob(&bytes).unwrap();
        layout.set_ref(
            Descriptor::new(OCI_INDEX, &digest, bytes.len() as u64),
            "empty",
        );
        assert!(matches!(
            layout.manifest(&r("quay.io/a/b:empty")),
            Err(Error::NoPlatform { .. })
        ));
    }

    #[test]
    fn corrupt_blobs_are_reported_with_reference_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::create(dir.path()).unwrap();
        let a = put_image(&layout, false, &[b"layer"], json!({}));
        layout.set_ref(a, "quay.io/a/b:t");
        let layer = sha256_digest(b"layer");
        std::fs::write(layout.blob_path(&layer).unwrap(), b"evil").unwrap();
        let err = layout.blob(&r("quay.io/a/b:t"), &layer).unwrap_err();
        assert!(err.to_string().contains("quay.io/a/b:t"), "{err}");
        assert!(matches!(err.root(), Error::DigestMismatch { .. }));
    }

    #[test]
    fn media_types_are_sniffed() {
        assert_eq!(
            media_type_of(br#"{"manifests":[]}"#).as_deref(),
            Some(OCI_INDEX)
        );
        assert_eq!(
            media_type_of(br#"{"config":{},"layers":[]}"#).as_deref(),
            Some(OCI_MANIFEST)
        );
        assert_eq!(media_type_of(b"\x1f\x8b"), None);
    }
}
