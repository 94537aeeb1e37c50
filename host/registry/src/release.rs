//! Release images read from a store: the payload of a release image, and the
//! cluster-version-operator image a new release is built on.

use compose_payload::oci::ImageManifest;
use compose_payload::{BaseImage, Release, read_release};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::source::ImageSource;

/// A release image as read from a store.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseImage {
    /// The reference it was read through.
    pub reference: String,
    /// `sha256:` of its image manifest.
    pub digest: String,
    /// Its image manifest.
    pub manifest: ImageManifest,
    /// Its image config.
    pub config: Value,
    /// The payload of its top layer.
    pub release: Release,
}

/// Reads the release image `reference` from `src`. Like `oc adm release info`, only the
/// manifest, the config and the TOP layer are read.
pub fn read_release_image(src: &dyn ImageSource, reference: &Reference) -> Result<ReleaseImage> {
    let (digest, manifest) = src.manifest(reference)?;
    let config_bytes = src.blob(reference, &manifest.config.digest)?;
    let config: Value =
        serde_json::from_slice(&config_bytes).map_err(|source| Error::BadContent {
            reference: reference.to_string(),
            store: src.location(),
            what: "image config",
            source,
        })?;
    let top = manifest.layers.last().ok_or_else(|| Error::NotARelease {
        reference: reference.to_string(),
        store: src.location(),
        reason: "the image has no layers".to_string(),
    })?;
    let layer = src.blob(reference, &top.digest)?;
    let release = read_release(&config, &layer).map_err(|source| Error::Release {
        reference: reference.to_string(),
        store: src.location(),
        source,
    })?;
    Ok(ReleaseImage {
        reference: reference.to_string(),
        digest,
        manifest,
        config,
        release,
    })
}

/// Reads ahead ([`ImageSource::prefetch`]) the manifest and config of every component image of
/// `release` that `src` reads from a registry, all at once, so that the stages' one-by-one
/// queries about them are answered from memory. Pullspecs that do not parse are left alone.
pub fn prefetch_images(src: &dyn ImageSource, release: &Release) {
    let references: Vec<Reference> = release
        .images
        .values()
        .filter_map(|i| Reference::parse(&i.pullspec).ok())
        .collect();
    src.prefetch(&references);
}

/// Reads the image `pullspec` (normally the release's `cluster-version-operator` tag) as the
/// base of a new release image.
pub fn read_base_image(src: &dyn ImageSource, pullspec: &str) -> Result<BaseImage> {
    let reference = Reference::parse(pullspec)?;
    let (digest, manifest) = src.manifest(&reference)?;
    let config = src.blob(&reference, &manifest.config.digest)?;
    let config = serde_json::from_slice(&config).map_err(|source| Error::BadContent {
        reference: reference.to_string(),
        store: src.location(),
        what: "image config",
        source,
    })?;
    Ok(BaseImage {
        manifest,
        config,
        digest,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::layout::OciLayout;
    use crate::source::tests::put_image;
    use compose_payload::oci::{Descriptor, OCI_MANIFEST};
    use compose_payload::{BuiltImage, Image, build_release_image};
    use serde_json::json;

    pub(crate) const NAME: &str = "4.15.0-0.okd-2024-03-10-010116";

    /// A small release whose `cluster-version-operator` is `cvo`.
    pub(crate) fn release(cvo: &str) -> Release {
        let mut r = Release::new(NAME, "2024-03-10T01:01:16Z");
        let mut annotations = BTreeMap::new();
        for key in compose_payload::image_references::REQUIRED_TAG_ANNOTATIONS {
            annotations.insert(key.to_string(), String::new());
        }
        r.put_image(Image {
            name: "cluster-version-operator".into(),
            pullspec: format!("quay.io/openshift/okd-content@{cvo}"),
            annotations,
        })
        .unwrap();
        r.write_manifest("0000_50_x_01_cm.yaml", "kind: ConfigMap\n".into())
            .unwrap();
        r
    }

    /// A layout with a two-layer CVO image (digest-only) and the release built on it, tagged
    /// `quay.io/openshift/okd:NAME`. Returns the built image and the CVO reference.
    pub(crate) fn layout_with_release(layout: &mut OciLayout) -> (BuiltImage, Reference) {
        let cvo = put_image(
            layout,
            true,
            &[b"base os layer", b"cvo manifests layer"],
            json!({"vendor": "x"}),
        );
        layout.add_untagged(cvo.clone());
        let cvo_ref =
            Reference::parse(&format!("quay.io/openshift/okd-content@{}", cvo.digest)).unwrap();
        let base = read_base_image(layout, &cvo_ref.to_string()).unwrap();
        let built = build_release_image(&release(&cvo.digest), &base).unwrap();
        layout.write_blob(&built.layer.gzip).unwrap();
        layout.write_blob(&built.config).unwrap();
        layout.write_blob(&built.manifest).unwrap();
        layout.set_ref(
            Descriptor::new(
                OCI_MANIFEST,
                &built.manifest_digest,
                built.manifest.len() as u64,
            ),
            &format!("quay.io/openshift/okd:{NAME}"),
        );
        (built, cvo_ref)
    }

    #[test]
    fn reads_a_release_image_from_its_top_layer() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::create(dir.path()).unwrap();
        let (built, cvo_ref) = layout_with_release(&mut layout);
        let reference = Reference::parse(&format!("quay.io/openshift/okd:{NAME}")).unwrap();
        let image = read_release_image(&layout, &reference).unwrap();
        assert_eq!(image.digest, built.manifest_digest);
        assert_eq!(image.reference, reference.to_string());
        assert_eq!(image.manifest.layers.len(), 3);
        assert_eq!(
            image.config["config"]["Labels"]["io.openshift.release"],
            NAME
        );
        assert_eq!(image.release, release(cvo_ref.digest.as_deref().unwrap()));

        // Only the top layer is read: a missing base layer does not matter.
        let base_layer = &image.manifest.layers[0].digest;
        std::fs::remove_file(layout.blob_path(base_layer).unwrap()).unwrap();
        assert!(read_release_image(&layout, &reference).is_ok());
    }

    #[test]
    fn a_plain_image_is_not_a_release() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::create(dir.path()).unwrap();
        let d = put_image(&layout, false, &[b"not a release layer"], json!({}));
        layout.set_ref(d, "quay.io/a/b:c");
        let err =
            read_release_image(&layout, &Reference::parse("quay.io/a/b:c").unwrap()).unwrap_err();
        assert!(matches!(err, Error::Release { .. }), "{err:?}");
        assert!(err.to_string().contains("quay.io/a/b:c"));
    }
}
