//! Publishing signatures where verifiers look, inside the output OCI layout:
//!
//! - OpenPGP signatures in the signature-store layout the cluster-version operator reads,
//!   `signatures/sha256=<hex>/signature-N`, and as skopeo "lookaside" signatures,
//!   `signatures/<repository path>@sha256=<hex>/signature-N` (serve `signatures/` over HTTP, or
//!   point a `registries.d` `lookaside: file://…/signatures` at it);
//! - cosign-format signatures as the OCI image manifest tagged `sha256-<hex>.sig`: one layer
//!   of media type `application/vnd.dev.cosign.simplesigning.v1+json` per signature, holding
//!   the simple-signing payload, with the signature in the `dev.cosignproject.cosign/signature`
//!   annotation;
//! - software bills of materials (attachments of kind [`KIND_SBOM`]) as an OCI artifact
//!   manifest tagged `sha256-<hex>.sbom`, as `cosign attach sbom` names it: one layer per SBOM
//!   (of the attachment's media type, e.g. `application/spdx+json`), the empty config, and a
//!   `subject` naming the release manifest, so OCI 1.1 registries list it as a referrer;
//! - the signed provenance (a DSSE envelope) as a cosign attestation, the image manifest
//!   tagged `sha256-<hex>.att` ([`write_attestation`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use compose_payload::Attachment;
use compose_payload::oci::{Descriptor, ImageManifest, OCI_CONFIG, OCI_MANIFEST, canonical_json};
use compose_registry::OciLayout;

use crate::attach::{CosignEnvelope, KIND_COSIGN, KIND_OPENPGP};
use crate::error::{Error, Result};

/// The directory of the output layout holding the signature store and lookaside.
pub const SIGNATURES_DIR: &str = "signatures";
/// Layer media type of a cosign signature.
pub const COSIGN_LAYER: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding a cosign signature.
pub const COSIGN_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// Attachment kind of a software bill of materials, published as [`sbom_tag`].
pub const KIND_SBOM: &str = "sbom";
/// Media type of the empty config of an OCI artifact.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The bytes of [`OCI_EMPTY`].
const EMPTY_CONFIG: &[u8] = b"{}";

/// The SBOM tag of a digest: `sha256-<hex>.sbom`.
pub fn sbom_tag(digest: &str) -> String {
    format!("{}.sbom", digest.replacen(':', "-", 1))
}

/// Whether an OCI layout tag names an attachment of a release (`sha256-<hex>.sig`,
/// `sha256-<hex>.sbom` or `sha256-<hex>.att`) rather than a release.
pub fn is_attachment_tag(tag: &str) -> bool {
    tag.starts_with("sha256-")
        && (tag.ends_with(".sig") || tag.ends_with(".sbom") || tag.ends_with(".att"))
}

/// Layer media type of a cosign attestation: a DSSE envelope.
pub const DSSE_LAYER: &str = "application/vnd.dsse.envelope.v1+json";
/// The layer annotation naming an attestation's predicate type, as cosign writes it.
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";

/// The cosign attestation tag of a digest: `sha256-<hex>.att`.
pub fn attestation_tag(digest: &str) -> String {
    format!("{}.att", digest.replacen(':', "-", 1))
}

/// The cosign signature tag of a digest: `sha256-<hex>.sig`.
pub fn cosign_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// `sha256=<hex>`: how the store layout names a digest.
fn store_name(digest: &str) -> String {
    digest.replacen(':', "=", 1)
}

/// What was published.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    /// OpenPGP signatures written to the store.
    pub openpgp: usize,
    /// cosign-format signatures in the `.sig` manifest.
    pub cosign: usize,
    /// The store directory of this digest, relative to the layout (`signatures/sha256=…`).
    pub store: Option<String>,
    /// The lookaside directory, relative to the layout.
    pub lookaside: Option<String>,
    /// The cosign tag and the digest of its manifest.
    pub cosign_manifest: Option<(String, String)>,
    /// SBOMs in the `.sbom` artifact.
    pub sbom: usize,
    /// The SBOM tag and the digest of its manifest.
    pub sbom_manifest: Option<(String, String)>,
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            action: "creating",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        action: "writing",
        path: path.to_path_buf(),
        source,
    })
}

/// The files of the OpenPGP store and lookaside for `digest`, relative to the layout root.
pub fn store_files(
    attachments: &[Attachment],
    digest: &str,
    repository: Option<&str>,
) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let signatures = attachments.iter().filter(|a| a.kind == KIND_OPENPGP);
    for (i, a) in signatures.enumerate() {
        let name = format!("signature-{}", i + 1);
        files.push((
            Path::new(SIGNATURES_DIR)
                .join(store_name(digest))
                .join(&name),
            a.data.clone(),
        ));
        if let Some(repo) = repository {
            files.push((
                Path::new(SIGNATURES_DIR)
                    .join(format!("{repo}@{}", store_name(digest)))
                    .join(&name),
                a.data.clone(),
            ));
        }
    }
    files
}

/// A cosign signature image: the manifest bytes and its blobs (payloads, then the config).
pub type SignatureImage = (Vec<u8>, Vec<Vec<u8>>);

/// The cosign signature image of `digest`, if there are cosign-format signatures.
pub fn cosign_manifest(attachments: &[Attachment], digest: &str) -> Result<Option<SignatureImage>> {
    let mut blobs = Vec::new();
    let mut layers = Vec::new();
    for a in attachments.iter().filter(|a| a.kind == KIND_COSIGN) {
        let envelope = CosignEnvelope::parse(&a.data)?;
        let payload = envelope.payload_bytes()?;
        let mut descriptor = Descriptor::of(COSIGN_LAYER, &payload);
        descriptor.annotations = Some(BTreeMap::from([(
            COSIGN_ANNOTATION.to_string(),
            envelope.signature.clone(),
        )]));
        layers.push(descriptor);
        blobs.push(payload);
    }
    if layers.is_empty() {
        return Ok(None);
    }
    cosign_image(layers, blobs, format!("cosign signatures of {digest}")).map(Some)
}

/// A cosign image (signatures, attestations) of `layers` (whose bytes are `blobs`): the config
/// cosign writes, an empty image whose diff_ids are the layer digests, and the manifest.
fn cosign_image(
    layers: Vec<Descriptor>,
    mut blobs: Vec<Vec<u8>>,
    description: String,
) -> Result<SignatureImage> {
    let config = serde_json::json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>()},
    });
    let config = canonical_json(&config).map_err(|e| Error::Publish(e.to_string()))?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        config: Descriptor::of(OCI_CONFIG, &config),
        layers,
        annotations: Some(BTreeMap::from([(
            "org.opencontainers.image.description".to_string(),
            description,
        )])),
    };
    blobs.push(config);
    let manifest = canonical_json(&manifest).map_err(|e| Error::Publish(e.to_string()))?;
    Ok((manifest, blobs))
}

/// The cosign attestation image of `digest` holding one DSSE `envelope` (its JSON) whose
/// statement has `predicate_type`: what `cosign attest --key` pushes as `sha256-<hex>.att`.
pub fn attestation_manifest(
    envelope: &[u8],
    predicate_type: &str,
    digest: &str,
) -> Result<SignatureImage> {
    let mut layer = Descriptor::of(DSSE_LAYER, envelope);
    layer.annotations = Some(BTreeMap::from([
        (COSIGN_ANNOTATION.to_string(), String::new()),
        (
            PREDICATE_TYPE_ANNOTATION.to_string(),
            predicate_type.to_string(),
        ),
    ]));
    cosign_image(
        vec![layer],
        vec![envelope.to_vec()],
        format!("cosign attestations of {digest}"),
    )
}

/// Stores the attestation of `digest` (a DSSE `envelope` of a `predicate_type` statement) in
/// `layout` as `sha256-<hex>.att` (not saving `index.json`: the caller does); returns the tag
/// and the manifest digest.
pub fn write_attestation(
    layout: &mut OciLayout,
    envelope: &[u8],
    predicate_type: &str,
    digest: &str,
) -> Result<(String, String)> {
    let (manifest, blobs) = attestation_manifest(envelope, predicate_type, digest)?;
    let tag = attestation_tag(digest);
    let manifest_digest = store_artifact(layout, &manifest, &blobs, &tag)?;
    Ok((tag, manifest_digest))
}

/// The DSSE envelopes (JSON) of the `sha256-<hex>.att` attestation of `digest` in `layout`,
/// with the predicate type each layer's annotation names; empty when there is none.
pub fn read_attestations(layout: &OciLayout, digest: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let Some(descriptor) = layout.find(&attestation_tag(digest)) else {
        return Ok(Vec::new());
    };
    let bad = |e: &dyn std::fmt::Display| Error::Verify(format!("the attestation manifest: {e}"));
    let bytes = layout.read_blob(&descriptor.digest).map_err(|e| bad(&e))?;
    let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| bad(&e))?;
    let mut out = Vec::new();
    for layer in manifest
        .layers
        .iter()
        .filter(|l| l.media_type == DSSE_LAYER)
    {
        let predicate_type = layer
            .annotations
            .as_ref()
            .and_then(|a| a.get(PREDICATE_TYPE_ANNOTATION))
            .cloned()
            .unwrap_or_default();
        out.push((
            predicate_type,
            layout.read_blob(&layer.digest).map_err(|e| bad(&e))?,
        ));
    }
    Ok(out)
}

/// The SBOM artifact of the release manifest `subject`, if there are SBOM attachments: the
/// manifest bytes and its blobs (the SBOMs, then the empty config).
pub fn sbom_manifest(
    attachments: &[Attachment],
    subject: &Descriptor,
) -> Result<Option<SignatureImage>> {
    let sboms: Vec<&Attachment> = attachments.iter().filter(|a| a.kind == KIND_SBOM).collect();
    let Some(first) = sboms.first() else {
        return Ok(None);
    };
    let layers: Vec<Descriptor> = sboms
        .iter()
        .map(|a| Descriptor::of(&a.media_type, &a.data))
        .collect();
    let mut blobs: Vec<Vec<u8>> = sboms.iter().map(|a| a.data.clone()).collect();
    let subject = Descriptor::new(&subject.media_type, &subject.digest, subject.size);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": first.media_type,
        "config": Descriptor::of(OCI_EMPTY, EMPTY_CONFIG),
        "layers": layers,
        "subject": subject,
        "annotations": {
            "org.opencontainers.image.description": format!("SBOMs of {}", subject.digest),
        },
    });
    blobs.push(EMPTY_CONFIG.to_vec());
    let manifest = canonical_json(&manifest).map_err(|e| Error::Publish(e.to_string()))?;
    Ok(Some((manifest, blobs)))
}

/// Writes every signature and SBOM attachment into `layout` (not saving `index.json`: the
/// caller does). The release manifest `digest` must be in the layout already (it is the SBOM
/// artifact's subject).
/// `repository` is the repository path for the lookaside copies (`okd/scos-release`).
pub fn write_signatures(
    layout: &mut OciLayout,
    attachments: &[Attachment],
    digest: &str,
    repository: Option<&str>,
) -> Result<Published> {
    let mut published = Published::default();
    for (rel, bytes) in store_files(attachments, digest, repository) {
        write_file(&layout.path().join(&rel), &bytes)?;
    }
    published.openpgp = attachments
        .iter()
        .filter(|a| a.kind == KIND_OPENPGP)
        .count();
    if published.openpgp > 0 {
        published.store = Some(format!("{SIGNATURES_DIR}/{}", store_name(digest)));
        published.lookaside =
            repository.map(|r| format!("{SIGNATURES_DIR}/{r}@{}", store_name(digest)));
    }
    if let Some((manifest, blobs)) = cosign_manifest(attachments, digest)? {
        let tag = cosign_tag(digest);
        let manifest_digest = store_artifact(layout, &manifest, &blobs, &tag)?;
        published.cosign = blobs.len() - 1;
        published.cosign_manifest = Some((tag, manifest_digest));
    }
    if attachments.iter().any(|a| a.kind == KIND_SBOM) {
        let subject = layout
            .index()
            .manifests
            .iter()
            .find(|d| d.digest == digest && d.ref_name() != Some(&cosign_tag(digest)))
            .cloned()
            .ok_or_else(|| {
                Error::Publish(format!(
                    "the release manifest {digest} is not in the output layout: its SBOMs cannot refer to it"
                ))
            })?;
        if let Some((manifest, blobs)) = sbom_manifest(attachments, &subject)? {
            let tag = sbom_tag(digest);
            let manifest_digest = store_artifact(layout, &manifest, &blobs, &tag)?;
            published.sbom = blobs.len() - 1;
            published.sbom_manifest = Some((tag, manifest_digest));
        }
    }
    Ok(published)
}

/// Stores an attachment artifact (its blobs, then its manifest) in `layout` under `tag`;
/// returns the manifest's digest.
fn store_artifact(
    layout: &mut OciLayout,
    manifest: &[u8],
    blobs: &[Vec<u8>],
    tag: &str,
) -> Result<String> {
    let publish = |e: compose_registry::Error| Error::Publish(e.to_string());
    for blob in blobs {
        layout.write_blob(blob).map_err(publish)?;
    }
    let manifest_digest = layout.write_blob(manifest).map_err(publish)?;
    layout.set_ref(Descriptor::of(OCI_MANIFEST, manifest), tag);
    Ok(manifest_digest)
}

/// Reads back the signatures of `digest` from a layout written by [`write_signatures`]: the
/// store's `signature-N` files and the layers of the `.sig` manifest, as attachments.
pub fn read_signatures(layout: &OciLayout, digest: &str) -> Result<Vec<Attachment>> {
    let mut out = Vec::new();
    let dir = layout.path().join(SIGNATURES_DIR).join(store_name(digest));
    for n in 1.. {
        let path = dir.join(format!("signature-{n}"));
        match std::fs::read(&path) {
            Ok(data) => out.push(Attachment {
                kind: KIND_OPENPGP.to_string(),
                media_type: crate::attach::MEDIA_OPENPGP.to_string(),
                data,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(source) => {
                return Err(Error::Io {
                    action: "reading",
                    path,
                    source,
                });
            }
        }
    }
    if let Some(descriptor) = layout.find(&cosign_tag(digest)) {
        let bad = |e: &dyn std::fmt::Display| {
            Error::Verify(format!("the cosign signature manifest: {e}"))
        };
        let bytes = layout.read_blob(&descriptor.digest).map_err(|e| bad(&e))?;
        let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| bad(&e))?;
        for layer in manifest
            .layers
            .iter()
            .filter(|l| l.media_type == COSIGN_LAYER)
        {
            let payload = layout.read_blob(&layer.digest).map_err(|e| bad(&e))?;
            let signature = layer
                .annotations
                .as_ref()
                .and_then(|a| a.get(COSIGN_ANNOTATION))
                .cloned()
                .unwrap_or_default();
            let envelope = CosignEnvelope {
                payload: base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    &payload,
                ),
                signature,
            };
            out.push(Attachment {
                kind: KIND_COSIGN.to_string(),
                media_type: crate::attach::MEDIA_COSIGN.to_string(),
                data: serde_json::to_vec(&envelope).map_err(|e| bad(&e))?,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn stage_attachment_kinds_are_the_published_ones() {
        // The runtime refuses at `attach` every kind this module does not publish.
        let mut kinds = compose_runtime::ATTACHMENT_KINDS.to_vec();
        kinds.sort_unstable();
        let mut published = [KIND_COSIGN, KIND_OPENPGP, KIND_SBOM];
        published.sort_unstable();
        assert_eq!(kinds, published);
    }

    #[test]
    fn sboms_are_an_artifact_referring_to_the_release() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::create(&dir.path().join("o")).unwrap();
        let release_manifest = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        let digest = layout.write_blob(release_manifest).unwrap();
        layout.set_ref(
            Descriptor::of(OCI_MANIFEST, release_manifest),
            "4.17.0-okd-scos.0",
        );
        let spdx = br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec();
        let attachments = vec![
            Attachment {
                kind: KIND_SBOM.into(),
                media_type: "application/spdx+json".into(),
                data: spdx.clone(),
            },
            Attachment {
                kind: "signature-verification".into(),
                media_type: "application/json".into(),
                data: b"{}".to_vec(),
            },
        ];
        let published = write_signatures(&mut layout, &attachments, &digest, None).unwrap();
        assert_eq!(published.sbom, 1);
        let (tag, manifest_digest) = published.sbom_manifest.clone().unwrap();
        assert_eq!(tag, sbom_tag(&digest));
        assert!(tag.starts_with("sha256-") && tag.ends_with(".sbom"));
        assert!(is_attachment_tag(&tag) && !is_attachment_tag("4.17.0-okd-scos.0"));
        let entry = layout.find(&tag).unwrap();
        assert_eq!(entry.digest, manifest_digest);
        let manifest: serde_json::Value =
            serde_json::from_slice(&layout.read_blob(&manifest_digest).unwrap()).unwrap();
        assert_eq!(manifest["subject"]["digest"], digest.as_str());
        assert_eq!(manifest["subject"]["size"], release_manifest.len());
        assert_eq!(manifest["artifactType"], "application/spdx+json");
        assert_eq!(manifest["config"]["mediaType"], OCI_EMPTY);
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0]["mediaType"], "application/spdx+json");
        let layer_digest = layers[0]["digest"].as_str().unwrap();
        assert_eq!(layout.read_blob(layer_digest).unwrap(), spdx);
        let config = manifest["config"]["digest"].as_str().unwrap();
        assert_eq!(layout.read_blob(config).unwrap(), b"{}");
        // No SBOM, no artifact.
        let mut other = OciLayout::create(&dir.path().join("p")).unwrap();
        let none = write_signatures(&mut other, &attachments[1..], &digest, None).unwrap();
        assert_eq!((none.sbom, none.sbom_manifest), (0, None));
        assert!(other.find(&sbom_tag(&digest)).is_none());
    }

    #[test]
    fn attestations_are_cosign_att_images_of_one_dsse_layer() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::create(&dir.path().join("o")).unwrap();
        let digest = compose_payload::oci::sha256_digest(b"release");
        let envelope =
            br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}"#;
        let (tag, manifest_digest) = write_attestation(
            &mut layout,
            envelope,
            "https://slsa.dev/provenance/v1",
            &digest,
        )
        .unwrap();
        assert_eq!(tag, format!("sha256-{}.att", &digest[7..]));
        assert!(is_attachment_tag(&tag));
        assert_eq!(layout.find(&tag).unwrap().digest, manifest_digest);
        let manifest: serde_json::Value =
            serde_json::from_slice(&layout.read_blob(&manifest_digest).unwrap()).unwrap();
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0]["mediaType"], DSSE_LAYER);
        assert_eq!(
            layers[0]["annotations"]["predicateType"],
            "https://slsa.dev/provenance/v1"
        );
        assert_eq!(layers[0]["annotations"][COSIGN_ANNOTATION], "");
        let read = read_attestations(&layout, &digest).unwrap();
        assert_eq!(
            read,
            vec![(
                "https://slsa.dev/provenance/v1".to_string(),
                envelope.to_vec()
            )]
        );
        // Another release has none.
        let other = compose_payload::oci::sha256_digest(b"other");
        assert!(read_attestations(&layout, &other).unwrap().is_empty());
    }
}
