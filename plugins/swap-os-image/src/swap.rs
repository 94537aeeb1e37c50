//! Swapping the node OS image of a release (e.g. Fedora CoreOS for CentOS Stream CoreOS).
//!
//! Steps, all through the SDK's [`Release`] and [`Registry`] traits:
//! 1. resolve every new OS image reference to a digest and read its config, building the tag's
//!    annotations from its labels as `oc` does (`io.openshift.build.versions=machine-os=…`);
//! 2. check the tags to remove are there and the `machine-config-osimageurl` ConfigMap exists,
//!    before changing anything;
//! 3. put the new tags; rewrite, in every manifest, the pullspec of each removed tag to the new
//!    OS image (the extensions image for a tag ending in `-extensions`), and the previous pullspec
//!    of a new tag that already existed to its new one; remove the old tags;
//! 4. set the ConfigMap's four keys (`baseOSContainerImage`, `baseOSExtensionsContainerImage`,
//!    `osImageURL` = "" and `releaseVersion` = the release name), editing its text in place so
//!    every other byte stays: the OKD/FCOS form has the extensions key commented out, and it is
//!    uncommented.

use std::collections::BTreeMap;

use compose_plugin_sdk::yaml::{self, Edit};
use compose_plugin_sdk::{Finding, Image, Registry, Release, config, finding, image};
use serde::Deserialize;

/// The ConfigMap that tells the machine-config-operator which OS image to use.
pub const OSIMAGEURL_CONFIGMAP: &str = "machine-config-osimageurl";

/// The OS image tag of OKD/SCOS 4.16 and later.
const DEFAULT_OS_IMAGE: &str = "stream-coreos";

/// The stage's `config`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Old OS tags to take out, e.g. `["fedora-coreos"]`.
    #[serde(default)]
    pub remove: Vec<String>,
    /// New OS tags: tag name → image reference.
    pub images: BTreeMap<String, String>,
    /// Which new tag is the OS image.
    #[serde(default = "default_os_image")]
    pub os_image: String,
    /// Which new tag is the extensions image (default `<os-image>-extensions`).
    #[serde(default)]
    pub extensions_image: Option<String>,
    /// When true, a tag of `remove` that the payload lacks is skipped instead of failing.
    #[serde(default)]
    pub optional: bool,
}

fn default_os_image() -> String {
    DEFAULT_OS_IMAGE.to_string()
}

/// The JSON schema of [`Config`], published through `describe`.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "swap-os-image config",
  "type": "object",
  "additionalProperties": false,
  "required": ["images"],
  "properties": {
    "remove": {
      "description": "Old OS tags to take out of the release, e.g. [\"fedora-coreos\"].",
      "type": "array", "items": { "type": "string" }
    },
    "images": {
      "description": "New OS tags: tag name -> image reference, pinned by digest when put.",
      "type": "object", "additionalProperties": { "type": "string" }, "minProperties": 1
    },
    "os-image": {
      "description": "The tag of `images` that is the OS image.",
      "type": "string", "default": "stream-coreos"
    },
    "extensions-image": {
      "description": "The tag of `images` that is the extensions image (default: <os-image>-extensions).",
      "type": "string"
    },
    "optional": {
      "description": "Skip a tag of `remove` that the release lacks instead of failing.",
      "type": "boolean", "default": false
    }
  }
}"#;

impl Config {
    /// Parses and checks the config JSON the host passes to `run`.
    pub fn parse(json: &str) -> Result<Self, String> {
        let config: Self = config::parse(json)?;
        config.extensions_tag()?;
        Ok(config)
    }

    /// Checks the config and returns the extensions tag.
    fn extensions_tag(&self) -> Result<String, String> {
        if self.images.is_empty() {
            return Err("`images` must name at least the OS image".into());
        }
        for (tag, reference) in &self.images {
            if tag.is_empty() {
                return Err("`images`: a tag name must not be empty".into());
            }
            if reference.trim().is_empty() || reference.contains(char::is_whitespace) {
                return Err(format!(
                    "`images.{tag}`: `{reference}` is not an image reference"
                ));
            }
        }
        if !self.images.contains_key(&self.os_image) {
            return Err(format!(
                "`os-image` is `{}`, which `images` does not name",
                self.os_image
            ));
        }
        let extensions = match &self.extensions_image {
            Some(tag) if !self.images.contains_key(tag) => {
                return Err(format!(
                    "`extensions-image` is `{tag}`, which `images` does not name"
                ));
            }
            Some(tag) => tag.clone(),
            None => {
                let tag = format!("{}-extensions", self.os_image);
                if !self.images.contains_key(&tag) {
                    return Err(format!(
                        "`images` must name the extensions image `{tag}` (or set `extensions-image`)"
                    ));
                }
                tag
            }
        };
        if extensions == self.os_image {
            return Err("`extensions-image` must differ from `os-image`".into());
        }
        if let Some(tag) = self.remove.iter().find(|tag| tag.is_empty()) {
            return Err(format!("`remove`: a tag name must not be empty (`{tag}`)"));
        }
        Ok(extensions)
    }
}

/// A new OS tag, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NewImage {
    reference: String,
    image: Image,
}

/// The whole stage.
pub fn run(
    config: &Config,
    release: &impl Release,
    registry: &impl Registry,
) -> Result<Vec<Finding>, String> {
    let extensions_tag = config.extensions_tag()?;
    let mut findings = Vec::new();

    // 1. Resolve the new images first: a reference that does not resolve changes nothing.
    let new_images = config
        .images
        .iter()
        .map(|(tag, reference)| resolve(tag, reference, registry))
        .collect::<Result<Vec<_>, _>>()?;
    let pullspec_of = |tag: &str| {
        new_images
            .iter()
            .find(|new| new.image.name == tag)
            .map(|new| new.image.pullspec.clone())
            .unwrap_or_default()
    };
    let os_pullspec = pullspec_of(&config.os_image);
    let extensions_pullspec = pullspec_of(&extensions_tag);

    // 2. Preconditions, still without changing anything.
    let mut removed = Vec::new();
    for tag in &config.remove {
        match release.image(tag) {
            Some(image) => removed.push(image),
            None if config.optional => findings.push(finding::info(
                "os-tag-removed",
                Some(tag),
                format!("`{tag}` is not in the release; skipped (`optional` is set)"),
            )),
            None => {
                return Err(format!(
                    "`remove`: the release has no tag `{tag}` (set `optional = true` to allow that)"
                ));
            }
        }
    }
    let configmap_files = osimageurl_files(release);
    if configmap_files.is_empty() {
        return Err(format!(
            "no manifest holds the ConfigMap `{OSIMAGEURL_CONFIGMAP}`: this release has no \
             machine-config-operator OS image settings to update"
        ));
    }

    // 3. Put the new tags; collect the pullspec rewrites.
    let mut rewrites: Vec<(String, String)> = Vec::new();
    for new in &new_images {
        let tag = new.image.name.as_str();
        let before = release.image(tag);
        release
            .put_image(&new.image)
            .map_err(|e| format!("cannot put tag `{tag}`: {e}"))?;
        let machine_os = image::annotations(&new.image)
            .get(image::VERSIONS)
            .and_then(|versions| image::version_of(versions, "machine-os").map(str::to_string));
        let version = machine_os.map_or(String::new(), |v| format!(", machine-os {v}"));
        let message = match &before {
            Some(before) => format!(
                "`{tag}` is now `{}` (from `{}`{version}; was `{}`)",
                new.image.pullspec, new.reference, before.pullspec
            ),
            None => format!(
                "added `{tag}` = `{}` (from `{}`{version})",
                new.image.pullspec, new.reference
            ),
        };
        findings.push(finding::info("os-tag-put", Some(tag), message));
        if let Some(before) = before
            && before.pullspec != new.image.pullspec
            && !config.remove.contains(&before.name)
        {
            rewrites.push((before.pullspec, new.image.pullspec.clone()));
        }
    }
    for old in &removed {
        let target = if config.images.contains_key(&old.name) {
            pullspec_of(&old.name)
        } else if old.name.ends_with("-extensions") {
            extensions_pullspec.clone()
        } else {
            os_pullspec.clone()
        };
        if old.pullspec != target {
            rewrites.push((old.pullspec.clone(), target.clone()));
        }
        let what = if config.images.contains_key(&old.name) {
            "replaced"
        } else {
            release.remove_image(&old.name);
            "removed"
        };
        findings.push(finding::info(
            "os-tag-removed",
            Some(&old.name),
            format!(
                "{what} `{}` (`{}`); its references now point at `{target}`",
                old.name, old.pullspec
            ),
        ));
    }

    // 4. Rewrite the manifests, one pullspec at a time.
    let mut done: Vec<&str> = Vec::new();
    for (old, new) in &rewrites {
        if done.contains(&old.as_str()) {
            continue;
        }
        done.push(old);
        let changed = release
            .rewrite_pullspec(old, new)
            .map_err(|e| format!("cannot rewrite `{old}` to `{new}`: {e}"))?;
        for file in changed {
            findings.push(finding::info(
                "manifest-rewritten",
                Some(&file),
                format!("`{old}` → `{new}`"),
            ));
        }
    }

    // 5. The machine-config-operator's ConfigMap.
    let release_name = release.name();
    let values = [
        ("baseOSContainerImage", os_pullspec.as_str()),
        (
            "baseOSExtensionsContainerImage",
            extensions_pullspec.as_str(),
        ),
        ("osImageURL", ""),
        ("releaseVersion", release_name.as_str()),
    ];
    for file in configmap_files {
        let text = release
            .read_manifest(&file)
            .ok_or_else(|| format!("manifest `{file}` disappeared while the stage ran"))?;
        let (edited, edits) = yaml::set_configmap_data(&text, OSIMAGEURL_CONFIGMAP, &values)
            .map_err(|e| {
                format!("`{file}`: cannot edit the ConfigMap `{OSIMAGEURL_CONFIGMAP}`: {e}")
            })?;
        if edited != text {
            release
                .write_manifest(&file, &edited)
                .map_err(|e| format!("cannot write `{file}`: {e}"))?;
        }
        findings.push(finding::info(
            "osimageurl-updated",
            Some(&file),
            format!(
                "ConfigMap `{OSIMAGEURL_CONFIGMAP}`: {}",
                describe_edits(&edits)
            ),
        ));
    }
    Ok(findings)
}

/// Resolves one new OS tag: digest, pinned pullspec, annotations from the image's labels.
fn resolve(tag: &str, reference: &str, registry: &impl Registry) -> Result<NewImage, String> {
    let digest = registry
        .resolve(reference)
        .map_err(|e| format!("`images.{tag}`: cannot resolve `{reference}`: {e}"))?;
    let pullspec = image::pin(reference, &digest);
    let config = registry
        .image_config(&pullspec)
        .map_err(|e| format!("`images.{tag}`: cannot read the config of `{pullspec}`: {e}"))?;
    let labels = image::labels_from_config(&config)
        .map_err(|e| format!("`images.{tag}`: `{pullspec}`: {e}"))?;
    Ok(NewImage {
        reference: reference.to_string(),
        image: Image {
            name: tag.to_string(),
            pullspec,
            annotations: image::annotation_list(&image::oc_annotations(&labels)),
        },
    })
}

/// The manifests that hold the `machine-config-osimageurl` ConfigMap (the host greps, the stage
/// reads only the candidates).
fn osimageurl_files(release: &impl Release) -> Vec<String> {
    release
        .grep_manifests(OSIMAGEURL_CONFIGMAP)
        .into_iter()
        .filter(|file| {
            release.read_manifest(file).is_some_and(|text| {
                yaml::find_resource(&text, "ConfigMap", OSIMAGEURL_CONFIGMAP).is_some()
            })
        })
        .collect()
}

fn describe_edits(edits: &[(String, Edit)]) -> String {
    let parts: Vec<String> = edits
        .iter()
        .map(|(key, edit)| match edit {
            Edit::Unchanged => format!("`{key}` already set"),
            Edit::Replaced { old } => format!("`{key}` set (was `{old}`)"),
            Edit::Uncommented => format!("`{key}` uncommented and set"),
            Edit::Added => format!("`{key}` added"),
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use compose_plugin_sdk::testing::{MemoryRegistry, MemoryRelease};

    use super::*;

    const FCOS: &str = "quay.io/openshift/okd-content@sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const MCO: &str = "quay.io/openshift/okd-content@sha256:5555555555555555555555555555555555555555555555555555555555555555";
    const SCOS_DIGEST: &str =
        "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const EXT_DIGEST: &str =
        "sha256:3333333333333333333333333333333333333333333333333333333333333333";
    const SCOS_REF: &str = "quay.io/okd/scos-content:4.17.0-okd-scos.0-stream-coreos";
    const EXT_REF: &str = "quay.io/okd/scos-content:4.17.0-okd-scos.0-stream-coreos-extensions";

    /// The OKD/FCOS 4.15 ConfigMap as it ships: the MCO `Dockerfile` comments out the
    /// extensions key with `sed 's/^/#/'`; `oc` has put the FCOS pullspec in.
    fn fcos_osimageurl() -> String {
        format!(
            "apiVersion: v1
kind: ConfigMap
metadata:
  name: machine-config-osimageurl
  namespace: openshift-machine-config-operator
  annotations:
    include.release.openshift.io/ibm-cloud-managed: \"true\"
    include.release.openshift.io/self-managed-high-availability: \"true\"
    include.release.openshift.io/single-node-developer: \"true\"
data:
  releaseVersion: 4.15.0-0.okd-2024-03-10-010116
  baseOSContainerImage: \"{FCOS}\"
#  baseOSExtensionsContainerImage: \"placeholder.url.oc.will.replace.this.org/placeholdernamespace:fedora-coreos-extensions\"
  osImageURL: \"\"
"
        )
    }

    fn fcos_release() -> MemoryRelease {
        MemoryRelease::new("4.17.0-okd-scos.0")
            .with_image(
                "fedora-coreos",
                FCOS,
                &[(image::VERSIONS, "machine-os=39.20240210.3.0")],
            )
            .with_image("machine-config-operator", MCO, &[])
            .with_manifest(
                "0000_80_machine-config-operator_05_osimageurl.yaml",
                &format!("---\n{}", fcos_osimageurl()),
            )
            .with_manifest(
                "0000_80_machine-config-operator_06_bootstrap.yaml",
                &format!("kind: Pod\nspec:\n  image: {FCOS}\n  other: {MCO}\n"),
            )
    }

    fn scos_registry() -> MemoryRegistry {
        MemoryRegistry::new()
            .with_image(
                SCOS_REF,
                SCOS_DIGEST,
                &[
                    (image::SOURCE_LOCATION, "https://github.com/openshift/os"),
                    (image::VERSIONS, "machine-os=9.0.20240801-0"),
                    (
                        image::VERSION_DISPLAY_NAMES,
                        "machine-os=CentOS Stream CoreOS",
                    ),
                    ("containers.bootc", "1"),
                ],
            )
            .with_image(
                EXT_REF,
                EXT_DIGEST,
                &[("io.openshift.os.extensions", "true")],
            )
    }

    fn scos_config() -> Config {
        Config::parse(&format!(
            r#"{{"remove": ["fedora-coreos"], "images": {{"stream-coreos": "{SCOS_REF}", "stream-coreos-extensions": "{EXT_REF}"}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn fcos_release_becomes_scos() {
        let release = fcos_release();
        let findings = run(&scos_config(), &release, &scos_registry()).unwrap();
        let os = format!("quay.io/okd/scos-content@{SCOS_DIGEST}");
        let ext = format!("quay.io/okd/scos-content@{EXT_DIGEST}");

        assert_eq!(
            release.image_names(),
            [
                "machine-config-operator",
                "stream-coreos",
                "stream-coreos-extensions"
            ]
        );
        let scos = release.image("stream-coreos").unwrap();
        assert_eq!(scos.pullspec, os);
        let annotations = image::annotations(&scos);
        assert_eq!(annotations[image::VERSIONS], "machine-os=9.0.20240801-0");
        assert_eq!(
            annotations[image::VERSION_DISPLAY_NAMES],
            "machine-os=CentOS Stream CoreOS"
        );
        assert_eq!(annotations[image::COMMIT_ID], "");
        assert!(!annotations.contains_key("containers.bootc"));

        let expected = format!(
            "---\n{}",
            fcos_osimageurl()
                .replace("4.15.0-0.okd-2024-03-10-010116", "4.17.0-okd-scos.0")
                .replace(FCOS, &os)
                .replace(
                    "#  baseOSExtensionsContainerImage: \"placeholder.url.oc.will.replace.this.org/placeholdernamespace:fedora-coreos-extensions\"",
                    &format!("  baseOSExtensionsContainerImage: \"{ext}\""),
                )
        );
        assert_eq!(
            release
                .read_manifest("0000_80_machine-config-operator_05_osimageurl.yaml")
                .unwrap(),
            expected
        );
        assert_eq!(
            release
                .read_manifest("0000_80_machine-config-operator_06_bootstrap.yaml")
                .unwrap(),
            format!("kind: Pod\nspec:\n  image: {os}\n  other: {MCO}\n")
        );

        let checks: Vec<(&str, &str)> = findings
            .iter()
            .map(|f| (f.check.as_str(), f.subject.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            checks,
            [
                ("os-tag-put", "stream-coreos"),
                ("os-tag-put", "stream-coreos-extensions"),
                ("os-tag-removed", "fedora-coreos"),
                (
                    "manifest-rewritten",
                    "0000_80_machine-config-operator_05_osimageurl.yaml"
                ),
                (
                    "manifest-rewritten",
                    "0000_80_machine-config-operator_06_bootstrap.yaml"
                ),
                (
                    "osimageurl-updated",
                    "0000_80_machine-config-operator_05_osimageurl.yaml"
                ),
            ]
        );
        assert!(findings.iter().all(|f| f.passed));
        assert!(
            findings[0].message.contains("machine-os 9.0.20240801-0"),
            "{}",
            findings[0].message
        );
        assert_eq!(
            findings[5].message,
            "ConfigMap `machine-config-osimageurl`: `baseOSContainerImage` already set, \
             `baseOSExtensionsContainerImage` uncommented and set, `osImageURL` already set, \
             `releaseVersion` set (was `4.15.0-0.okd-2024-03-10-010116`)"
        );
    }

    #[test]
    fn updating_an_existing_scos_tag_rewrites_its_old_pullspec() {
        let old_ext = "quay.io/okd/scos-content@sha256:9999999999999999999999999999999999999999999999999999999999999999";
        let release = MemoryRelease::new("4.17.0-okd-scos.1")
            .with_image("stream-coreos", FCOS, &[])
            .with_image("stream-coreos-extensions", old_ext, &[])
            .with_manifest(
                "0000_80_machine-config_05_osimageurl.yaml",
                &format!(
                    "kind: ConfigMap\nmetadata:\n  name: machine-config-osimageurl\ndata:\n  releaseVersion: 4.17.0-okd-scos.0\n  baseOSContainerImage: \"{FCOS}\"\n  baseOSExtensionsContainerImage: \"{old_ext}\"\n  osImageURL: \"\"\n"
                ),
            );
        let mut config = scos_config();
        config.remove = vec!["stream-coreos".into()];
        run(&config, &release, &scos_registry()).unwrap();
        assert_eq!(
            release.image_names(),
            ["stream-coreos", "stream-coreos-extensions"]
        );
        let text = release
            .read_manifest("0000_80_machine-config_05_osimageurl.yaml")
            .unwrap();
        assert!(
            text.contains(&format!(
                "baseOSExtensionsContainerImage: \"quay.io/okd/scos-content@{EXT_DIGEST}\""
            )),
            "{text}"
        );
        assert!(
            text.contains("releaseVersion: 4.17.0-okd-scos.1\n"),
            "{text}"
        );
        assert!(!text.contains(old_ext) && !text.contains(FCOS), "{text}");
    }

    #[test]
    fn errors_name_the_tag_or_reference_and_change_nothing() {
        let release = fcos_release();
        let mut config = scos_config();
        config.remove = vec!["fedora-coreos".into(), "fedora-coreos-extensions".into()];
        let error = run(&config, &release, &scos_registry()).unwrap_err();
        assert_eq!(
            error,
            "`remove`: the release has no tag `fedora-coreos-extensions` (set `optional = true` to allow that)"
        );
        assert!(release.image("fedora-coreos").is_some());

        config.optional = true;
        let findings = run(&config, &release, &scos_registry()).unwrap();
        assert_eq!(
            findings[0].subject.as_deref(),
            Some("fedora-coreos-extensions")
        );

        let release = fcos_release();
        let error = run(&scos_config(), &release, &MemoryRegistry::new()).unwrap_err();
        assert!(
            error.starts_with(&format!(
                "`images.stream-coreos`: cannot resolve `{SCOS_REF}`"
            )),
            "{error}"
        );
        assert!(release.image("stream-coreos").is_none());

        let release = MemoryRelease::new("x").with_image("fedora-coreos", FCOS, &[]);
        let error = run(&scos_config(), &release, &scos_registry()).unwrap_err();
        assert!(
            error.starts_with("no manifest holds the ConfigMap `machine-config-osimageurl`"),
            "{error}"
        );
        assert!(release.image("fedora-coreos").is_some());
    }

    #[test]
    fn config_is_checked() {
        let error = Config::parse("{}").unwrap_err();
        assert_eq!(error, "invalid stage config: missing field `images`");
        let error = Config::parse(r#"{"images": {"stream-coreos": "quay.io/a:b"}}"#).unwrap_err();
        assert_eq!(
            error,
            "`images` must name the extensions image `stream-coreos-extensions` (or set `extensions-image`)"
        );
        let error = Config::parse(r#"{"images": {"a": "quay.io/a:b"}}"#).unwrap_err();
        assert_eq!(
            error,
            "`os-image` is `stream-coreos`, which `images` does not name"
        );
        let config = Config::parse(
            r#"{"images": {"fcos": "quay.io/a:b", "ext": "quay.io/a:c"}, "os-image": "fcos", "extensions-image": "ext"}"#,
        )
        .unwrap();
        assert_eq!(config.extensions_tag().unwrap(), "ext");
        assert!(
            Config::parse(r#"{"images": {}, "os_image": "x"}"#)
                .unwrap_err()
                .contains("unknown field `os_image`")
        );
    }

    #[test]
    fn schema_lists_exactly_the_config_keys() {
        let schema: serde_json::Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
        let keys: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "extensions-image",
                "images",
                "optional",
                "os-image",
                "remove"
            ]
        );
    }
}
