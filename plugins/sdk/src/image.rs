//! Component images: annotations, image-config labels and pullspecs.
//!
//! `oc adm release new` fills each tag's annotations from the component image's config labels;
//! [`oc_annotations`] does the same, so a tag a stage puts reads as if `oc` had built it.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::Image;

/// Label (and annotation) `io.openshift.build.commit.id`: the full git commit hash.
pub const COMMIT_ID: &str = "io.openshift.build.commit.id";
/// Label (and annotation) `io.openshift.build.commit.ref`: the git ref.
pub const COMMIT_REF: &str = "io.openshift.build.commit.ref";
/// Label (and annotation) `io.openshift.build.source-location`: the git clone URL.
pub const SOURCE_LOCATION: &str = "io.openshift.build.source-location";
/// Label (and annotation) `io.openshift.build.versions`: `key=semver` pairs, comma-separated
/// (`machine-os=9.0.20260101-0`).
pub const VERSIONS: &str = "io.openshift.build.versions";
/// Label (and annotation) `io.openshift.build.version-display-names`: `key=Display Name` pairs.
pub const VERSION_DISPLAY_NAMES: &str = "io.openshift.build.version-display-names";

/// The annotations of an image as a sorted map.
pub fn annotations(image: &Image) -> BTreeMap<String, String> {
    image.annotations.iter().cloned().collect()
}

/// Annotations in the form the WIT `image` record carries them: pairs sorted by key.
pub fn annotation_list(annotations: &BTreeMap<String, String>) -> Vec<(String, String)> {
    annotations
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// The tag annotations `oc adm release new` derives from a component image's labels: the commit
/// id, commit ref and source location always (empty when the image lacks them), the versions and
/// their display names only when the image has them.
pub fn oc_annotations(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    for key in [COMMIT_ID, COMMIT_REF, SOURCE_LOCATION] {
        let value = labels.get(key).cloned().unwrap_or_default();
        annotations.insert(key.to_string(), value);
    }
    for key in [VERSIONS, VERSION_DISPLAY_NAMES] {
        if let Some(value) = labels.get(key) {
            annotations.insert(key.to_string(), value.clone());
        }
    }
    annotations
}

/// The `config.Labels` of an OCI or Docker image config JSON (empty when it has none).
pub fn labels_from_config(config_json: &str) -> Result<BTreeMap<String, String>, String> {
    #[derive(Deserialize)]
    struct ImageConfig {
        #[serde(default)]
        config: Option<Inner>,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default, rename = "Labels")]
        labels: Option<BTreeMap<String, String>>,
    }
    let parsed: ImageConfig = serde_json::from_str(config_json)
        .map_err(|error| format!("the image config is not valid JSON: {error}"))?;
    Ok(parsed
        .config
        .and_then(|inner| inner.labels)
        .unwrap_or_default())
}

/// The repository of an image reference: `quay.io/okd/scos-content` for
/// `quay.io/okd/scos-content:4.17.0-okd-scos.0-stream-coreos` or `…@sha256:…`.
///
/// A port in the registry host (`localhost:5000/x:tag`) is kept.
pub fn repository(reference: &str) -> &str {
    let without_digest = reference
        .split_once('@')
        .map_or(reference, |(repo, _)| repo);
    let name_start = without_digest.rfind('/').map_or(0, |slash| slash + 1);
    match without_digest[name_start..].find(':') {
        Some(colon) => &without_digest[..name_start + colon],
        None => without_digest,
    }
}

/// The pullspec pinning `reference`'s repository to `digest`: `<repository>@<digest>`.
pub fn pin(reference: &str, digest: &str) -> String {
    format!("{}@{digest}", repository(reference))
}

/// Whether a pullspec is pinned by digest (`…@sha256:<64 hex>`).
pub fn is_pinned(pullspec: &str) -> bool {
    pullspec.split_once("@sha256:").is_some_and(|(repo, hex)| {
        !repo.is_empty() && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The value of `key` in a comma-separated `key=value` list, as in `io.openshift.build.versions`.
pub fn version_of<'a>(versions: &'a str, key: &str) -> Option<&'a str> {
    versions
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, value)| value.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/bin"],
            "Labels": {
                "io.openshift.build.commit.id": "0123456789abcdef0123456789abcdef01234567",
                "io.openshift.build.source-location": "https://github.com/openshift/os",
                "io.openshift.build.versions": "machine-os=9.0.20260101-0",
                "io.openshift.build.version-display-names": "machine-os=CentOS Stream CoreOS",
                "vendor": "CentOS"
            }
        },
        "rootfs": {"type": "layers", "diff_ids": []}
    }"#;

    #[test]
    fn labels_are_read_from_the_config() {
        let labels = labels_from_config(CONFIG).unwrap();
        assert_eq!(labels["vendor"], "CentOS");
        assert_eq!(labels.len(), 5);
        assert!(
            labels_from_config(r#"{"config": {"Labels": null}}"#)
                .unwrap()
                .is_empty()
        );
        assert!(
            labels_from_config(r#"{"architecture": "amd64"}"#)
                .unwrap()
                .is_empty()
        );
        assert!(labels_from_config("not json").is_err());
    }

    #[test]
    fn annotations_are_built_as_oc_does() {
        let labels = labels_from_config(CONFIG).unwrap();
        let annotations = oc_annotations(&labels);
        let keys: Vec<&str> = annotations.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                COMMIT_ID,
                COMMIT_REF,
                SOURCE_LOCATION,
                VERSION_DISPLAY_NAMES,
                VERSIONS
            ]
        );
        // Always present, empty when the image lacks the label.
        assert_eq!(annotations[COMMIT_REF], "");
        assert_eq!(annotations[VERSIONS], "machine-os=9.0.20260101-0");
        // Labels oc does not copy stay out.
        assert!(!annotations.contains_key("vendor"));

        let bare = oc_annotations(&BTreeMap::new());
        assert_eq!(bare.len(), 3);
        assert!(bare.values().all(String::is_empty));
    }

    #[test]
    fn annotation_round_trip() {
        let image = Image {
            name: "cli".into(),
            pullspec: "quay.io/x@sha256:aa".into(),
            annotations: vec![("b".into(), "2".into()), ("a".into(), "1".into())],
        };
        let map = annotations(&image);
        assert_eq!(
            annotation_list(&map),
            [("a".to_string(), "1".to_string()), ("b".into(), "2".into())]
        );
    }

    #[test]
    fn repository_strips_tag_and_digest() {
        assert_eq!(
            repository("quay.io/okd/scos-content:4.17.0-okd-scos.0-stream-coreos"),
            "quay.io/okd/scos-content"
        );
        assert_eq!(
            repository("quay.io/okd/scos-content@sha256:abcd"),
            "quay.io/okd/scos-content"
        );
        assert_eq!(
            repository("quay.io/okd/scos-content:tag@sha256:abcd"),
            "quay.io/okd/scos-content"
        );
        assert_eq!(
            repository("localhost:5000/okd/x:tag"),
            "localhost:5000/okd/x"
        );
        assert_eq!(repository("localhost:5000/okd/x"), "localhost:5000/okd/x");
        assert_eq!(repository("busybox"), "busybox");
        assert_eq!(
            pin("quay.io/okd/scos-content:tag", "sha256:ff"),
            "quay.io/okd/scos-content@sha256:ff"
        );
    }

    #[test]
    fn pinned_and_versions() {
        let hex = "a".repeat(64);
        assert!(is_pinned(&format!("quay.io/x@sha256:{hex}")));
        assert!(!is_pinned("quay.io/x:latest"));
        assert!(!is_pinned("quay.io/x@sha256:abc"));
        assert_eq!(
            version_of("kubernetes=1.30.1,machine-os=9.0.1", "machine-os"),
            Some("9.0.1")
        );
        assert_eq!(version_of("kubernetes=1.30.1", "machine-os"), None);
    }
}
