//! The release image: the cluster-version-operator image plus one release layer, with the
//! config rewritten as `oc adm release new` rewrites it (payload-format.md §2 "The image").

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::image_references::read_image_references;
use crate::layer::{
    IMAGE_REFERENCES, LayerBlob, LayerCache, RELEASE_METADATA, build_release_layer_with,
};
use crate::oci::{
    DOCKER_LAYER_GZIP, Descriptor, ImageManifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST,
    canonical_json, sha256_digest,
};
use crate::release::{
    CINCINNATI_KIND, Release, ReleaseMetadata, is_manifest_name, validate_file_name,
    validate_manifest_name, validate_pullspec, validate_tag_name,
};
use crate::release_metadata::{read_release_metadata, validate_release_name};
use crate::timestamp::parse_rfc3339_utc;

/// Config label: the release name.
pub const RELEASE_LABEL: &str = "io.openshift.release";
/// Config label: the manifest digest of the base (cluster-version-operator) image, which
/// `oc adm release new --from-release` matches against the tags.
pub const BASE_IMAGE_DIGEST_LABEL: &str = "io.openshift.release.base-image-digest";
/// The comment of the first history entry, as oc writes it.
pub const HISTORY_COMMENT: &str = "Release image for OpenShift";

/// The image a release image is built on: the release's cluster-version-operator image.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseImage {
    /// Its manifest (OCI or Docker schema2).
    pub manifest: ImageManifest,
    /// Its config JSON.
    pub config: Value,
    /// `sha256:` of its manifest bytes.
    pub digest: String,
}

/// A built release image: every blob a registry or layout needs besides the base layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The OCI image manifest bytes.
    pub manifest: Vec<u8>,
    /// `sha256:` of `manifest`: the release digest.
    pub manifest_digest: String,
    /// The image config bytes.
    pub config: Vec<u8>,
    /// `sha256:` of `config`.
    pub config_digest: String,
    /// The release layer (the top layer).
    pub layer: LayerBlob,
}

impl BuiltImage {
    /// The descriptor of the manifest, to put in an index.
    pub fn manifest_descriptor(&self) -> Descriptor {
        Descriptor::new(
            OCI_MANIFEST,
            &self.manifest_digest,
            self.manifest.len() as u64,
        )
    }
}

/// Checks what the CVO and oc require before building: the name equals
/// `release-metadata.version` and is semver, `created` is `YYYY-MM-DDTHH:MM:SSZ`, every
/// manifest name is valid, every image is filed under its own valid name with a valid pullspec.
pub fn validate_release(release: &Release) -> Result<()> {
    if release.metadata.kind != CINCINNATI_KIND {
        return Err(Error::InvalidMetadata(format!(
            "`kind` must be `{CINCINNATI_KIND}`, not `{}`",
            release.metadata.kind
        )));
    }
    if release.metadata.version != release.name {
        return Err(Error::NameMismatch {
            references: release.name.clone(),
            metadata: release.metadata.version.clone(),
        });
    }
    validate_release_name(&release.name)?;
    parse_rfc3339_utc(&release.created)?;
    for name in release.manifests.keys() {
        validate_manifest_name(name)?;
    }
    for name in release.files.keys() {
        validate_file_name(name)?;
    }
    for (key, image) in &release.images {
        if *key != image.name {
            return Err(Error::InvalidImageReferences(format!(
                "tag `{key}` holds an image named `{}`",
                image.name
            )));
        }
        validate_tag_name(&image.name)?;
        validate_pullspec(&image.pullspec)?;
    }
    Ok(())
}

/// Builds the release image of `release` on `base`.
///
/// - Layers: the base layers (Docker gzip layers relabelled as the identical OCI type), then
///   the release layer.
/// - Config: `os`/`architecture` default to `linux`/`amd64`; `container`, `parent` and
///   `container_config` are removed; `created` = `release.created`; the labels are exactly
///   [`RELEASE_LABEL`] and [`BASE_IMAGE_DIGEST_LABEL`]; `rootfs.diff_ids` gains the layer's
///   diff ID; entrypoint, cmd, env and the rest are kept.
/// - History: oc replaces it with one entry `{"created", "comment": HISTORY_COMMENT}` and
///   `oc image append` pads it to the number of layers. Published OCP release configs show the
///   padding entries as `{"created": <same time>}`, so that is what we write: one commented
///   entry, then `{"created"}` entries until there is one per layer.
/// - Manifest: OCI, config media type OCI. Config and manifest are compact JSON with sorted
///   keys, so equal inputs give an equal digest.
pub fn build_release_image(release: &Release, base: &BaseImage) -> Result<BuiltImage> {
    build_release_image_with(release, base, None)
}

/// [`build_release_image`], with the release layer taken from `layers` when it holds the same
/// one (see [`build_release_layer_with`]): the same bytes, without compressing them again.
pub fn build_release_image_with(
    release: &Release,
    base: &BaseImage,
    layers: Option<&dyn LayerCache>,
) -> Result<BuiltImage> {
    validate_release(release)?;
    let layer = build_release_layer_with(release, layers)?;

    let Value::Object(mut config) = base.config.clone() else {
        return Err(Error::InvalidBaseImage(
            "the config must be a JSON object".to_string(),
        ));
    };
    for (key, default) in [("os", "linux"), ("architecture", "amd64")] {
        let missing = config
            .get(key)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if missing {
            config.insert(key.to_string(), Value::String(default.to_string()));
        }
    }
    for key in ["container", "parent", "container_config"] {
        config.remove(key);
    }
    config.insert("created".into(), Value::String(release.created.clone()));

    let mut labels = Map::new();
    labels.insert(RELEASE_LABEL.into(), Value::String(release.name.clone()));
    labels.insert(
        BASE_IMAGE_DIGEST_LABEL.into(),
        Value::String(base.digest.clone()),
    );
    match config
        .entry("config")
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(inner) => {
            inner.insert("Labels".into(), Value::Object(labels));
        }
        _ => {
            return Err(Error::InvalidBaseImage(
                "`config.config` must be a JSON object".to_string(),
            ));
        }
    }

    let diff_ids = config
        .get_mut("rootfs")
        .and_then(|r| r.get_mut("diff_ids"))
        .and_then(Value::as_array_mut)
        .ok_or_else(|| {
            Error::InvalidBaseImage("the config has no `rootfs.diff_ids` list".to_string())
        })?;
    if diff_ids.len() != base.manifest.layers.len() {
        return Err(Error::InvalidBaseImage(format!(
            "the config lists {} diff IDs for {} layers",
            diff_ids.len(),
            base.manifest.layers.len()
        )));
    }
    diff_ids.push(Value::String(layer.diff_id.clone()));
    let layer_count = diff_ids.len();

    let created = Value::String(release.created.clone());
    let mut history = Vec::with_capacity(layer_count);
    let mut first = Map::new();
    first.insert("created".into(), created.clone());
    first.insert("comment".into(), Value::String(HISTORY_COMMENT.into()));
    history.push(Value::Object(first));
    while history.len() < layer_count {
        let mut entry = Map::new();
        entry.insert("created".into(), created.clone());
        history.push(Value::Object(entry));
    }
    config.insert("history".into(), Value::Array(history));

    let config = serde_json::to_vec(&Value::Object(config)).map_err(|source| Error::Json {
        action: "serialising",
        document: "the image config",
        source,
    })?;
    let config_digest = sha256_digest(&config);

    let mut layers: Vec<Descriptor> = base
        .manifest
        .layers
        .iter()
        .map(|d| {
            let mut d = d.clone();
            if d.media_type == DOCKER_LAYER_GZIP {
                d.media_type = OCI_LAYER_GZIP.to_string();
            }
            d
        })
        .collect();
    layers.push(Descriptor::new(OCI_LAYER_GZIP, &layer.digest, layer.size));
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        config: Descriptor::new(OCI_CONFIG, &config_digest, config.len() as u64),
        layers,
        annotations: None,
    };
    let manifest = canonical_json(&manifest).map_err(|source| Error::Json {
        action: "serialising",
        document: "the image manifest",
        source,
    })?;
    Ok(BuiltImage {
        manifest_digest: sha256_digest(&manifest),
        manifest,
        config_digest,
        config,
        layer,
    })
}

/// Rebuilds a [`Release`] from a release image's config and top layer, as
/// `oc adm release info` does.
///
/// - name: `release-metadata` `version`, else `image-references` `metadata.name`; when both
///   files exist they must agree, as the CVO requires;
/// - created: `image-references` `creationTimestamp`, else the config's `created` when it is
///   in the strict form;
/// - manifests: every `.yaml`/`.yml`/`.json` file, which must be UTF-8;
/// - files: every other file of `release-manifests/` (a script, a text file), byte for byte,
///   as oc copies them.
pub fn read_release(config: &Value, top_layer_gzip: &[u8]) -> Result<Release> {
    let files = crate::layer::read_release_layer(top_layer_gzip)?;
    let references = files
        .get(IMAGE_REFERENCES)
        .ok_or_else(|| Error::MissingFile(IMAGE_REFERENCES.to_string()))?;
    let references = read_image_references(references)?;
    let metadata = match files.get(RELEASE_METADATA) {
        Some(bytes) => {
            let metadata = read_release_metadata(bytes)?;
            if metadata.version != references.name {
                return Err(Error::NameMismatch {
                    references: references.name,
                    metadata: metadata.version,
                });
            }
            metadata
        }
        None => ReleaseMetadata::new(&references.name),
    };
    let created = match references.created {
        Some(created) => {
            parse_rfc3339_utc(&created)?;
            created
        }
        None => config
            .get("created")
            .and_then(Value::as_str)
            .filter(|c| parse_rfc3339_utc(c).is_ok())
            .map(str::to_string)
            .ok_or_else(|| {
                Error::InvalidImageReferences(
                    "`metadata.creationTimestamp` is missing and the config has no usable \
                     `created`"
                        .to_string(),
                )
            })?,
    };
    let mut manifests = BTreeMap::new();
    let mut others = BTreeMap::new();
    for (name, bytes) in files {
        if name == IMAGE_REFERENCES || name == RELEASE_METADATA {
            continue;
        }
        if !is_manifest_name(&name) {
            if validate_file_name(&name).is_ok() {
                others.insert(name, bytes);
            }
            continue;
        }
        if validate_manifest_name(&name).is_err() {
            continue;
        }
        let text = String::from_utf8(bytes).map_err(|_| Error::NonUtf8Manifest(name.clone()))?;
        manifests.insert(name, text);
    }
    Ok(Release {
        name: metadata.version.clone(),
        metadata,
        images: references.images,
        manifests,
        files: others,
        annotations: references.annotations,
        created,
        attachments: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_references::{
        COMMIT_ID_ANNOTATION, COMMIT_REF_ANNOTATION, SOURCE_LOCATION_ANNOTATION,
    };
    use crate::layer::read_release_layer;
    use crate::oci::{DOCKER_CONFIG, DOCKER_MANIFEST};
    use crate::release::Image;
    use serde_json::json;

    const NAME: &str = "4.15.0-0.okd-2024-03-10-010116";

    fn release() -> Release {
        let mut r = Release::new(NAME, "2024-03-10T01:01:16Z");
        r.metadata.previous = vec!["4.14.0-0.okd-2024-01-26-175629".into()];
        r.metadata
            .metadata
            .insert("url".into(), json!("https://example.org/x"));
        r.annotations.insert(
            "release.openshift.io/from-image-stream".into(),
            "origin/4.15".into(),
        );
        for (i, name) in ["cluster-version-operator", "fedora-coreos", "cli"]
            .iter()
            .enumerate()
        {
            let mut annotations = BTreeMap::new();
            annotations.insert(COMMIT_ID_ANNOTATION.into(), format!("{i}").repeat(40));
            annotations.insert(COMMIT_REF_ANNOTATION.into(), String::new());
            annotations.insert(
                SOURCE_LOCATION_ANNOTATION.into(),
                format!("https://github.com/openshift/{name}"),
            );
            r.put_image(Image {
                name: (*name).into(),
                pullspec: format!("quay.io/openshift/okd-content@sha256:{}", "a".repeat(64)),
                annotations,
            })
            .unwrap();
        }
        r.write_manifest(
            "0000_80_machine-config-operator_05_osimageurl.yaml",
            "kind: ConfigMap\ndata:\n  osImageURL: \"\"\n".into(),
        )
        .unwrap();
        r.write_manifest("0000_03_a_01_crd.json", "{\"kind\":\"X\"}".into())
            .unwrap();
        r
    }

    fn base() -> BaseImage {
        let config = json!({
            "architecture": "",
            "created": "2024-03-01T00:00:00Z",
            "container": "abc",
            "container_config": {"Cmd": ["/bin/sh"]},
            "config": {
                "Entrypoint": ["/usr/bin/cluster-version-operator"],
                "Env": ["PATH=/usr/bin"],
                "Labels": {"vendor": "Red Hat, Inc.", "io.openshift.build.commit.id": "x"}
            },
            "rootfs": {"type": "layers", "diff_ids": ["sha256:01", "sha256:02"]},
            "history": [{"created_by": "a"}, {"created_by": "b"}]
        });
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(DOCKER_MANIFEST.into()),
            config: Descriptor::new(DOCKER_CONFIG, "sha256:cc", 10),
            layers: vec![
                Descriptor::new(DOCKER_LAYER_GZIP, "sha256:11", 100),
                Descriptor::new(OCI_LAYER_GZIP, "sha256:22", 200),
            ],
            annotations: None,
        };
        BaseImage {
            manifest,
            config,
            digest: format!("sha256:{}", "b".repeat(64)),
        }
    }

    #[test]
    fn config_is_rewritten_like_oc() {
        let built = build_release_image(&release(), &base()).unwrap();
        assert_eq!(built.config_digest, sha256_digest(&built.config));
        let config: Value = serde_json::from_slice(&built.config).unwrap();
        assert_eq!(config["os"], "linux");
        assert_eq!(config["architecture"], "amd64");
        assert_eq!(config["created"], "2024-03-10T01:01:16Z");
        assert!(config.get("container").is_none());
        assert!(config.get("container_config").is_none());
        assert_eq!(
            config["config"]["Labels"],
            json!({
                "io.openshift.release": NAME,
                "io.openshift.release.base-image-digest": base().digest,
            })
        );
        assert_eq!(
            config["config"]["Entrypoint"],
            json!(["/usr/bin/cluster-version-operator"])
        );
        assert_eq!(config["config"]["Env"], json!(["PATH=/usr/bin"]));
        assert_eq!(
            config["rootfs"]["diff_ids"],
            json!(["sha256:01", "sha256:02", built.layer.diff_id])
        );
        assert_eq!(
            config["history"],
            json!([
                {"created": "2024-03-10T01:01:16Z", "comment": HISTORY_COMMENT},
                {"created": "2024-03-10T01:01:16Z"},
                {"created": "2024-03-10T01:01:16Z"},
            ])
        );
    }

    #[test]
    fn manifest_is_oci_with_one_new_layer() {
        let built = build_release_image(&release(), &base()).unwrap();
        assert_eq!(built.manifest_digest, sha256_digest(&built.manifest));
        let m: ImageManifest = serde_json::from_slice(&built.manifest).unwrap();
        assert_eq!(m.media_type.as_deref(), Some(OCI_MANIFEST));
        assert_eq!(m.config.media_type, OCI_CONFIG);
        assert_eq!(m.config.digest, built.config_digest);
        assert_eq!(m.config.size, built.config.len() as u64);
        let layers: Vec<(&str, &str)> = m
            .layers
            .iter()
            .map(|l| (l.media_type.as_str(), l.digest.as_str()))
            .collect();
        assert_eq!(
            layers,
            vec![
                (OCI_LAYER_GZIP, "sha256:11"),
                (OCI_LAYER_GZIP, "sha256:22"),
                (OCI_LAYER_GZIP, built.layer.digest.as_str()),
            ]
        );
        // Sorted keys, compact: the bytes are canonical.
        assert!(built.manifest.starts_with(b"{\"config\":{\"digest\":"));
        assert_eq!(
            built.manifest_descriptor().size,
            built.manifest.len() as u64
        );
    }

    #[test]
    fn builds_are_deterministic() {
        let a = build_release_image(&release(), &base()).unwrap();
        let b = build_release_image(&release(), &base()).unwrap();
        assert_eq!(a.manifest_digest, b.manifest_digest);
        assert_eq!(a, b);
    }

    #[test]
    fn round_trips_through_the_image() {
        let r = release();
        let built = build_release_image(&r, &base()).unwrap();
        let config: Value = serde_json::from_slice(&built.config).unwrap();
        let back = read_release(&config, &built.layer.gzip).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn invariants_are_checked_before_building() {
        let mut r = release();
        r.metadata.version = "4.15.1".into();
        assert!(matches!(
            build_release_image(&r, &base()),
            Err(Error::NameMismatch { .. })
        ));
        let mut r = release();
        r.rename("latest");
        assert!(matches!(
            build_release_image(&r, &base()),
            Err(Error::InvalidReleaseName { .. })
        ));
        let mut r = release();
        r.manifests.insert("../x.yaml".into(), String::new());
        assert!(matches!(
            build_release_image(&r, &base()),
            Err(Error::InvalidManifestName { .. })
        ));
        let mut b = base();
        b.config["rootfs"]["diff_ids"] = json!(["sha256:01"]);
        assert!(matches!(
            build_release_image(&release(), &b),
            Err(Error::InvalidBaseImage(_))
        ));
    }

    #[test]
    fn reading_needs_image_references_and_consistent_names() {
        let r = release();
        let built = build_release_image(&r, &base()).unwrap();
        let files = read_release_layer(&built.layer.gzip).unwrap();
        assert!(files.contains_key(IMAGE_REFERENCES));

        let empty_layer = crate::layer::tests_support::layer_with(&[("x.yaml", b"kind: X")]);
        assert!(matches!(
            read_release(&json!({}), &empty_layer),
            Err(Error::MissingFile(f)) if f == IMAGE_REFERENCES
        ));

        let refs = crate::image_references::write_image_references(&r).unwrap();
        let meta = ReleaseMetadata::new("4.15.9");
        let meta = crate::release_metadata::write_release_metadata(&meta).unwrap();
        let layer = crate::layer::tests_support::layer_with(&[
            ("image-references", &refs),
            ("release-metadata", &meta),
        ]);
        assert!(matches!(
            read_release(&json!({}), &layer),
            Err(Error::NameMismatch { .. })
        ));

        let layer = crate::layer::tests_support::layer_with(&[
            ("image-references", &refs),
            ("bad.yaml", &[0xff, 0xfe]),
            ("notes.txt", b"ignored"),
        ]);
        assert!(matches!(
            read_release(&json!({}), &layer),
            Err(Error::NonUtf8Manifest(n)) if n == "bad.yaml"
        ));
        let layer = crate::layer::tests_support::layer_with(&[
            ("image-references", &refs),
            ("notes.txt", b"ignored"),
        ]);
        let back = read_release(&json!({}), &layer).unwrap();
        assert_eq!(back.name, NAME);
        assert_eq!(back.metadata, ReleaseMetadata::new(NAME));
        assert!(back.manifests.is_empty());
        assert_eq!(back.files["notes.txt"], b"ignored");
    }

    #[test]
    fn files_that_are_not_manifests_round_trip_byte_for_byte() {
        let mut r = release();
        let script = "0000_50_cluster-kube-apiserver-operator_04_gensccroles.sh";
        let bytes = b"#!/bin/bash\n\xff\xfe not UTF-8\n".to_vec();
        r.write_file(script, bytes.clone()).unwrap();
        let built = build_release_image(&r, &base()).unwrap();
        let files = read_release_layer(&built.layer.gzip).unwrap();
        assert_eq!(files[script], bytes);
        let config: Value = serde_json::from_slice(&built.config).unwrap();
        let back = read_release(&config, &built.layer.gzip).unwrap();
        assert_eq!(back.files[script], bytes);
        assert_eq!(back, r);
        // A release without other files keeps the layer it had.
        let plain = build_release_image(&release(), &base()).unwrap();
        assert_ne!(plain.layer.digest, built.layer.digest);
        r.files.clear();
        assert_eq!(build_release_image(&r, &base()).unwrap(), plain);
    }
}
