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
mod tests;
