//! `release-manifests/image-references`: the `image.openshift.io/v1` ImageStream that lists the
//! component images, written byte for byte as `oc adm release new` writes it.
//!
//! oc serialises the openshift/api `ImageStream` struct with `json.MarshalIndent`; the private
//! `*Out` structs below reproduce its field order, its `omitempty` choices and its explicit
//! nulls (`generation`) so that our bytes equal oc's for the same content.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gojson::marshal_indent;
use crate::release::{Image, Release};

/// The `kind` of `image-references`.
pub const IMAGE_STREAM_KIND: &str = "ImageStream";
/// The `apiVersion` of `image-references`.
pub const IMAGE_STREAM_API_VERSION: &str = "image.openshift.io/v1";
/// Tag annotation: the source commit of the image.
pub const COMMIT_ID_ANNOTATION: &str = "io.openshift.build.commit.id";
/// Tag annotation: the source branch or tag of the image.
pub const COMMIT_REF_ANNOTATION: &str = "io.openshift.build.commit.ref";
/// Tag annotation: the source repository URL of the image.
pub const SOURCE_LOCATION_ANNOTATION: &str = "io.openshift.build.source-location";
/// Tag annotation: component versions, `key=semver[,key=semver]`.
pub const VERSIONS_ANNOTATION: &str = "io.openshift.build.versions";
/// Tag annotation: display names of component versions, `key=Name[,key=Name]`.
pub const VERSION_DISPLAY_NAMES_ANNOTATION: &str = "io.openshift.build.version-display-names";
/// The tag annotations oc always writes, as empty strings when the image has no such label.
pub const REQUIRED_TAG_ANNOTATIONS: [&str; 3] = [
    COMMIT_ID_ANNOTATION,
    COMMIT_REF_ANNOTATION,
    SOURCE_LOCATION_ANNOTATION,
];

/// What `image-references` says, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReferences {
    /// `metadata.name`: the release name.
    pub name: String,
    /// `metadata.creationTimestamp`, if present.
    pub created: Option<String>,
    /// `metadata.annotations` (empty when absent).
    pub annotations: BTreeMap<String, String>,
    /// The tags, by name.
    pub images: BTreeMap<String, Image>,
}

#[derive(Serialize)]
struct ImageStreamOut<'a> {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: MetadataOut<'a>,
    spec: SpecOut<'a>,
    status: StatusOut,
}

#[derive(Serialize)]
struct MetadataOut<'a> {
    name: &'a str,
    #[serde(rename = "creationTimestamp")]
    creation_timestamp: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct SpecOut<'a> {
    #[serde(rename = "lookupPolicy")]
    lookup_policy: LookupPolicyOut,
    /// `omitempty` in openshift/api.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<TagOut<'a>>,
}

#[derive(Serialize)]
struct LookupPolicyOut {
    local: bool,
}

#[derive(Serialize)]
struct TagOut<'a> {
    name: &'a str,
    annotations: BTreeMap<&'a str, &'a str>,
    from: FromOut<'a>,
    /// A `*int64` without `omitempty`: always `null` in oc's output.
    generation: Option<i64>,
    #[serde(rename = "importPolicy")]
    import_policy: ImportPolicyOut,
    #[serde(rename = "referencePolicy")]
    reference_policy: ReferencePolicyOut,
}

#[derive(Serialize)]
struct FromOut<'a> {
    kind: &'static str,
    name: &'a str,
}

/// Every field of `TagImportPolicy` is `omitempty`, so oc writes `{}`.
#[derive(Serialize)]
struct ImportPolicyOut {}

#[derive(Serialize)]
struct ReferencePolicyOut {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct StatusOut {
    #[serde(rename = "dockerImageRepository")]
    docker_image_repository: &'static str,
}

/// Writes `image-references` for `release` exactly as oc does: tags sorted by name, the three
/// [`REQUIRED_TAG_ANNOTATIONS`] always present, no trailing newline.
pub fn write_image_references(release: &Release) -> Result<Vec<u8>> {
    let mut images: Vec<&Image> = release.images.values().collect();
    images.sort_by(|a, b| a.name.cmp(&b.name));
    let tags = images
        .into_iter()
        .map(|image| {
            let mut annotations: BTreeMap<&str, &str> = image
                .annotations
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            for key in REQUIRED_TAG_ANNOTATIONS {
                annotations.entry(key).or_insert("");
            }
            TagOut {
                name: &image.name,
                annotations,
                from: FromOut {
                    kind: "DockerImage",
                    name: &image.pullspec,
                },
                generation: None,
                import_policy: ImportPolicyOut {},
                reference_policy: ReferencePolicyOut { kind: "" },
            }
        })
        .collect();
    let stream = ImageStreamOut {
        kind: IMAGE_STREAM_KIND,
        api_version: IMAGE_STREAM_API_VERSION,
        metadata: MetadataOut {
            name: &release.name,
            creation_timestamp: &release.created,
            annotations: &release.annotations,
        },
        spec: SpecOut {
            lookup_policy: LookupPolicyOut { local: false },
            tags,
        },
        status: StatusOut {
            docker_image_repository: "",
        },
    };
    marshal_indent(&stream).map_err(|source| Error::Json {
        action: "serialising",
        document: "image-references",
        source,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageStreamIn {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    metadata: MetadataIn,
    #[serde(default)]
    spec: SpecIn,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataIn {
    #[serde(default)]
    name: String,
    creation_timestamp: Option<String>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Default, Deserialize)]
struct SpecIn {
    tags: Option<Vec<TagIn>>,
}

#[derive(Deserialize)]
struct TagIn {
    name: String,
    annotations: Option<BTreeMap<String, String>>,
    from: Option<FromIn>,
}

#[derive(Deserialize)]
struct FromIn {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
}

/// Reads `image-references` (JSON, as `oc adm release extract` requires).
///
/// Refuses a document whose `kind`/`apiVersion` is not `ImageStream`/`image.openshift.io/v1`
/// (oc's "unrecognized image-references in release payload"), a tag without a `DockerImage`
/// `from`, and duplicate tag names.
pub fn read_image_references(bytes: &[u8]) -> Result<ImageReferences> {
    let stream: ImageStreamIn = serde_json::from_slice(bytes).map_err(|source| Error::Json {
        action: "parsing",
        document: "image-references",
        source,
    })?;
    let invalid = |msg: String| Err(Error::InvalidImageReferences(msg));
    if stream.kind != IMAGE_STREAM_KIND || stream.api_version != IMAGE_STREAM_API_VERSION {
        return invalid(format!(
            "`kind` and `apiVersion` must be `{IMAGE_STREAM_KIND}` and \
             `{IMAGE_STREAM_API_VERSION}`, not `{}` and `{}`",
            stream.kind, stream.api_version
        ));
    }
    if stream.metadata.name.is_empty() {
        return invalid("`metadata.name` must not be empty".to_string());
    }
    let mut images = BTreeMap::new();
    for tag in stream.spec.tags.unwrap_or_default() {
        let Some(from) = tag
            .from
            .filter(|f| f.kind == "DockerImage" && !f.name.is_empty())
        else {
            return invalid(format!(
                "tag `{}` must have `from.kind` `DockerImage` and a `from.name`",
                tag.name
            ));
        };
        if images.contains_key(&tag.name) {
            return invalid(format!("tag `{}` appears twice", tag.name));
        }
        let image = Image {
            name: tag.name.clone(),
            pullspec: from.name,
            annotations: tag.annotations.unwrap_or_default(),
        };
        images.insert(tag.name, image);
    }
    Ok(ImageReferences {
        name: stream.metadata.name,
        created: stream.metadata.creation_timestamp,
        annotations: stream.metadata.annotations.unwrap_or_default(),
        images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::ReleaseMetadata;

    const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn release() -> Release {
        let mut images = BTreeMap::new();
        for name in ["machine-config-operator", "cli"] {
            let mut annotations = BTreeMap::new();
            annotations.insert(
                SOURCE_LOCATION_ANNOTATION.to_string(),
                format!("https://github.com/openshift/{name}"),
            );
            if name == "cli" {
                annotations.insert(VERSIONS_ANNOTATION.to_string(), "kubectl=1.28.7".into());
            }
            images.insert(
                name.to_string(),
                Image {
                    name: name.to_string(),
                    pullspec: format!("quay.io/openshift/okd-content@{DIGEST}"),
                    annotations,
                },
            );
        }
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "release.openshift.io/from-release".to_string(),
            "quay.io/a/b:x&y<z>".to_string(),
        );
        Release {
            name: "4.17.0-okd-scos.0".into(),
            metadata: ReleaseMetadata::new("4.17.0-okd-scos.0"),
            images,
            manifests: BTreeMap::new(),
            files: BTreeMap::new(),
            annotations,
            created: "2024-03-10T01:01:16Z".into(),
            attachments: Vec::new(),
        }
    }

    #[test]
    fn writes_exactly_what_oc_writes() {
        let out = String::from_utf8(write_image_references(&release()).unwrap()).unwrap();
        let expected = format!(
            r#"{{
  "kind": "ImageStream",
  "apiVersion": "image.openshift.io/v1",
  "metadata": {{
    "name": "4.17.0-okd-scos.0",
    "creationTimestamp": "2024-03-10T01:01:16Z",
    "annotations": {{
      "release.openshift.io/from-release": "quay.io/a/b:x\u0026y\u003cz\u003e"
    }}
  }},
  "spec": {{
    "lookupPolicy": {{
      "local": false
    }},
    "tags": [
      {{
        "name": "cli",
        "annotations": {{
          "io.openshift.build.commit.id": "",
          "io.openshift.build.commit.ref": "",
          "io.openshift.build.source-location": "https://github.com/openshift/cli",
          "io.openshift.build.versions": "kubectl=1.28.7"
        }},
        "from": {{
          "kind": "DockerImage",
          "name": "quay.io/openshift/okd-content@{DIGEST}"
        }},
        "generation": null,
        "importPolicy": {{}},
        "referencePolicy": {{
          "type": ""
        }}
      }},
      {{
        "name": "machine-config-operator",
        "annotations": {{
          "io.openshift.build.commit.id": "",
          "io.openshift.build.commit.ref": "",
          "io.openshift.build.source-location": "https://github.com/openshift/machine-config-operator"
        }},
        "from": {{
          "kind": "DockerImage",
          "name": "quay.io/openshift/okd-content@{DIGEST}"
        }},
        "generation": null,
        "importPolicy": {{}},
        "referencePolicy": {{
          "type": ""
        }}
      }}
    ]
  }},
  "status": {{
    "dockerImageRepository": ""
  }}
}}"#
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn empty_annotations_and_tags_are_omitted() {
        let mut r = release();
        r.annotations.clear();
        r.images.clear();
        let out = String::from_utf8(write_image_references(&r).unwrap()).unwrap();
        assert!(!out.contains("annotations"));
        assert!(!out.contains("tags"));
        assert!(out.contains("\"lookupPolicy\""));
    }

    #[test]
    fn reads_back_what_it_writes() {
        let r = release();
        let parsed = read_image_references(&write_image_references(&r).unwrap()).unwrap();
        assert_eq!(parsed.name, r.name);
        assert_eq!(parsed.created.as_deref(), Some("2024-03-10T01:01:16Z"));
        assert_eq!(parsed.annotations, r.annotations);
        let cli = &parsed.images["cli"];
        assert_eq!(cli.pullspec, r.images["cli"].pullspec);
        assert_eq!(cli.annotations[COMMIT_ID_ANNOTATION], "");
        assert_eq!(cli.annotations[VERSIONS_ANNOTATION], "kubectl=1.28.7");
    }

    #[test]
    fn refuses_wrong_kind_and_bad_tags() {
        let err = read_image_references(br#"{"kind":"List","apiVersion":"v1"}"#).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidImageReferences(m) if m.contains("`List`")),
            "{err}"
        );
        let no_from = br#"{"kind":"ImageStream","apiVersion":"image.openshift.io/v1",
            "metadata":{"name":"4.1.0"},"spec":{"tags":[{"name":"cli"}]}}"#;
        assert!(matches!(
            read_image_references(no_from),
            Err(Error::InvalidImageReferences(_))
        ));
        let twice = br#"{"kind":"ImageStream","apiVersion":"image.openshift.io/v1",
            "metadata":{"name":"4.1.0"},"spec":{"tags":[
            {"name":"cli","annotations":null,"from":{"kind":"DockerImage","name":"a/b:c"}},
            {"name":"cli","from":{"kind":"DockerImage","name":"a/b:d"}}]}}"#;
        assert!(matches!(
            read_image_references(twice),
            Err(Error::InvalidImageReferences(m)) if m.contains("twice")
        ));
        assert!(matches!(
            read_image_references(b"kind: ImageStream"),
            Err(Error::Json { .. })
        ));
    }
}
