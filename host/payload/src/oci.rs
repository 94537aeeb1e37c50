//! OCI image types (descriptor, image manifest, image index) and their media types.
//!
//! Reading accepts both the OCI media types and their Docker schema2 equivalents, because `oc`
//! pushes Docker schema2 release images and registries serve either. Writing uses OCI.
//!
//! Why not `oci-spec` 0.10's `image` types (in the lock file through oci-client): what compose
//! writes serialises to the same bytes through [`canonical_json`] (keys sorted, absent fields
//! omitted), so the release digest would not move, but the change is not contained and reading
//! differs (pinned by `oci_spec_writes_the_same_bytes_but_reads_differently` below):
//! - its fields are private behind getters and builders, and these types are built and read
//!   field by field in about 25 files of 7 crates and the e2e tests;
//! - its `ImageIndex` requires `manifests`, so an `index.json` without it is refused;
//! - its `Digest` is validated when read, so every descriptor digest is checked there rather
//!   than where compose checks it (with [`is_sha256_digest`], naming the file);
//! - its annotations are a `HashMap`: any path that serialises them with `serde_json::to_vec`
//!   rather than [`canonical_json`] would write them in a different order on each run.
//!
//! One difference favours it: it keeps a descriptor's `artifactType` and `data`, which these
//! types drop when a descriptor is read and written again. Neither keeps a platform's
//! `os.version` (oci-spec 0.10 reads and writes it under the key `os_version`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (a multi-platform list of manifests).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI layer: a gzip-compressed tar.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker schema2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (the Docker equivalent of an OCI index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker layer: a gzip-compressed tar.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The annotation that names an entry of an OCI layout's `index.json` (its "tag").
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// Whether `media_type` is a single-image manifest (OCI or Docker schema2).
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Whether `media_type` is a list of manifests (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Whether `media_type` is a gzip-compressed tar layer (OCI or Docker).
pub fn is_gzip_layer(media_type: &str) -> bool {
    media_type == OCI_LAYER_GZIP || media_type == DOCKER_LAYER_GZIP
}

/// The digest of `bytes` as OCI writes it: `sha256:<64 lowercase hex>`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Whether `digest` is `sha256:` followed by 64 lowercase hex digits, the only form we store.
pub fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The platform of an index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A reference to a blob: what it is, its digest and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content.
    pub media_type: String,
    /// `sha256:<hex>` of the referenced bytes.
    pub digest: String,
    /// The size of the referenced bytes.
    pub size: u64,
    /// Annotations, e.g. [`REF_NAME_ANNOTATION`] in an OCI layout index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The platform, on entries of an image index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Where a non-distributable layer may be fetched from; kept so it survives a rewrite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

impl Descriptor {
    /// A descriptor with no annotations, platform or URLs.
    pub fn new(media_type: &str, digest: &str, size: u64) -> Self {
        Descriptor {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            annotations: None,
            platform: None,
            urls: None,
        }
    }

    /// The descriptor of `bytes` with the given media type.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Descriptor::new(media_type, &sha256_digest(bytes), bytes.len() as u64)
    }

    /// The value of the [`REF_NAME_ANNOTATION`] annotation, if any.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .as_ref()
            .and_then(|a| a.get(REF_NAME_ANNOTATION))
            .map(String::as_str)
    }

    /// Whether this index entry is for `os`/`architecture`.
    pub fn is_platform(&self, os: &str, architecture: &str) -> bool {
        self.platform
            .as_ref()
            .is_some_and(|p| p.os == os && p.architecture == architecture)
    }
}

/// A single-platform image manifest (OCI, or Docker schema2 when read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`OCI_MANIFEST`] or [`DOCKER_MANIFEST`]; OCI allows it to be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config blob.
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
    /// Manifest annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A list of manifests: an OCI image index, a Docker manifest list, or an OCI layout's
/// `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// [`OCI_INDEX`] or [`DOCKER_MANIFEST_LIST`]; OCI allows it to be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The entries.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Index annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageIndex {
    /// An empty OCI index.
    pub fn new() -> Self {
        ImageIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_string()),
            manifests: Vec::new(),
            annotations: None,
        }
    }
}

impl Default for ImageIndex {
    fn default() -> Self {
        ImageIndex::new()
    }
}

/// Serialises `value` as compact JSON with object keys sorted, so equal values give equal bytes.
///
/// Going through [`serde_json::Value`] sorts keys because this workspace does not enable
/// serde_json's `preserve_order` feature (its `Map` is then a `BTreeMap`).
pub fn canonical_json<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&serde_json::to_value(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_spec_writes_the_same_bytes_but_reads_differently() {
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            config: Descriptor::of(OCI_CONFIG, b"{}"),
            layers: vec![Descriptor::of(OCI_LAYER_GZIP, b"layer")],
            annotations: Some(BTreeMap::from([
                ("b".to_string(), "2".to_string()),
                ("a".to_string(), "1".to_string()),
            ])),
        };
        let ours = canonical_json(&manifest).unwrap();
        let theirs: oci_spec::image::ImageManifest = serde_json::from_slice(&ours).unwrap();
        assert_eq!(canonical_json(&theirs).unwrap(), ours);
        let mut index = ImageIndex::new();
        index.manifests.push(Descriptor::of(OCI_MANIFEST, &ours));
        let ours = canonical_json(&index).unwrap();
        let theirs: oci_spec::image::ImageIndex = serde_json::from_slice(&ours).unwrap();
        assert_eq!(canonical_json(&theirs).unwrap(), ours);

        // An index without `manifests`.
        let bare = br#"{"schemaVersion":2}"#;
        assert!(serde_json::from_slice::<ImageIndex>(bare).is_ok());
        assert!(serde_json::from_slice::<oci_spec::image::ImageIndex>(bare).is_err());
        // A digest that is not one.
        let odd = br#"{"mediaType":"application/octet-stream","digest":"sha256:00","size":1}"#;
        assert!(serde_json::from_slice::<Descriptor>(odd).is_ok());
        assert!(serde_json::from_slice::<oci_spec::image::Descriptor>(odd).is_err());
        // `artifactType`: these types drop it on a rewrite, oci-spec keeps it. `os.version`:
        // both drop it, and oci-spec names its own field `os_version`, not the spec's key.
        let entry = format!(
            r#"{{"artifactType":"application/x","digest":"{}","mediaType":"{OCI_MANIFEST}","platform":{{"architecture":"amd64","os":"linux","os.version":"10"}},"size":1}}"#,
            sha256_digest(b"x")
        );
        let ours: Descriptor = serde_json::from_str(&entry).unwrap();
        let ours = String::from_utf8(canonical_json(&ours).unwrap()).unwrap();
        assert!(!ours.contains("artifactType"), "{ours}");
        assert!(!ours.contains("os.version"), "{ours}");
        let theirs: oci_spec::image::Descriptor = serde_json::from_str(&entry).unwrap();
        let theirs = String::from_utf8(canonical_json(&theirs).unwrap()).unwrap();
        assert!(
            theirs.contains(r#""artifactType":"application/x""#),
            "{theirs}"
        );
        assert!(!theirs.contains("os.version"), "{theirs}");
        let platform: oci_spec::image::Platform =
            serde_json::from_str(r#"{"architecture":"amd64","os":"linux","os_version":"10"}"#)
                .unwrap();
        let platform = String::from_utf8(canonical_json(&platform).unwrap()).unwrap();
        assert!(platform.contains(r#""os_version":"10""#), "{platform}");
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(is_sha256_digest(&sha256_digest(b"x")));
        assert!(!is_sha256_digest("sha256:ABC"));
        assert!(!is_sha256_digest(
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ));
    }

    #[test]
    fn descriptor_uses_camel_case_and_skips_none() {
        let d = Descriptor::new(OCI_LAYER_GZIP, "sha256:00", 3);
        let json = String::from_utf8(canonical_json(&d).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"digest":"sha256:00","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":3}"#
        );
    }

    #[test]
    fn docker_manifest_is_read() {
        let json = r#"{
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7, "digest": "sha256:aa"},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 9, "digest": "sha256:bb"}]
        }"#;
        let m: ImageManifest = serde_json::from_str(json).unwrap();
        assert!(is_manifest(m.media_type.as_deref().unwrap()));
        assert!(is_gzip_layer(&m.layers[0].media_type));
        assert_eq!(m.config.size, 7);
    }

    #[test]
    fn index_entries_have_platform_and_ref_name() {
        let json = r#"{"schemaVersion":2,"manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1,
             "platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":1,
             "platform":{"architecture":"amd64","os":"linux"},
             "annotations":{"org.opencontainers.image.ref.name":"latest"}}]}"#;
        let index: ImageIndex = serde_json::from_str(json).unwrap();
        assert!(index.media_type.is_none());
        assert!(!index.manifests[0].is_platform("linux", "amd64"));
        assert!(index.manifests[1].is_platform("linux", "amd64"));
        assert_eq!(index.manifests[1].ref_name(), Some("latest"));
        assert_eq!(index.manifests[0].ref_name(), None);
    }
}
