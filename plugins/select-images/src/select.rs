//! Which component images a release keeps, and which it takes from elsewhere.
//!
//! The decision ([`plan`]) is separate from its effect on the payload ([`apply`]), and both work
//! over the SDK's [`Release`] and [`Registry`] traits, so the whole stage runs natively in the
//! tests against in-memory stand-ins.
//!
//! Rules, in order, for each tag of the payload:
//! 1. `include`: when given, a tag matching none of its globs is dropped;
//! 2. `exclude`: a tag matching one of its globs is dropped;
//! 3. `replace`: the tag's image is swapped for another reference, pinned by digest;
//! 4. `require-labels`: a tag whose image (the replacement, if any) lacks a required label is
//!    dropped; a replacement that lacks one is an error, since the user asked for that image.
//!
//! `cluster-version-operator` is never dropped: every release image is built on it. An
//! `include`/`exclude` rule that would drop it is an error; `require-labels` is not checked for
//! it (the CVO image carries no `io.openshift.release.operator` label, so the common
//! "operators only" filter would otherwise always fail).

use std::collections::BTreeMap;

use compose_plugin_sdk::glob::{self, Glob};
use compose_plugin_sdk::{Finding, Image, Registry, Release, config, finding, image};
use serde::Deserialize;

/// The tag every release needs.
pub const CLUSTER_VERSION_OPERATOR: &str = "cluster-version-operator";

/// The value of a `require-labels` entry that accepts any value.
const ANY_VALUE: &str = "*";

/// The stage's `config`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Config {
    /// Tag-name globs to keep; empty keeps every tag.
    pub include: Vec<String>,
    /// Tag-name globs to drop.
    pub exclude: Vec<String>,
    /// Labels an image's config must carry (label → value, `"*"` for any value).
    pub require_labels: BTreeMap<String, String>,
    /// Tags whose image is replaced: tag name → image reference (`repo:tag` or `repo@sha256:…`).
    pub replace: BTreeMap<String, String>,
}

/// The JSON schema of [`Config`], published through `describe`.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "select-images config",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "include": {
      "description": "Tag-name globs to keep (default: every tag).",
      "type": "array", "items": { "type": "string" }
    },
    "exclude": {
      "description": "Tag-name globs to drop.",
      "type": "array", "items": { "type": "string" }
    },
    "require-labels": {
      "description": "Image config labels a kept image must carry: label -> value, \"*\" for any value.",
      "type": "object", "additionalProperties": { "type": "string" }
    },
    "replace": {
      "description": "Tag name -> image reference; the tag is pinned to the reference's digest.",
      "type": "object", "additionalProperties": { "type": "string" }
    }
  }
}"#;

impl Config {
    /// Parses and checks the config JSON the host passes to `run`.
    pub fn parse(json: &str) -> Result<Self, String> {
        let config: Self = config::parse(json)?;
        config.checked()?;
        Ok(config)
    }

    fn checked(&self) -> Result<Rules, String> {
        let include = glob::compile_all(&self.include).map_err(|e| format!("`include`: {e}"))?;
        let exclude = glob::compile_all(&self.exclude).map_err(|e| format!("`exclude`: {e}"))?;
        for (label, value) in &self.require_labels {
            if label.is_empty() {
                return Err("`require-labels`: a label name must not be empty".into());
            }
            if value.is_empty() {
                return Err(format!(
                    "`require-labels.{label}`: the value must not be empty (use \"*\" for any value)"
                ));
            }
        }
        for (tag, reference) in &self.replace {
            if reference.trim().is_empty() || reference.contains(char::is_whitespace) {
                return Err(format!(
                    "`replace.{tag}`: `{reference}` is not an image reference"
                ));
            }
        }
        Ok(Rules { include, exclude })
    }
}

struct Rules {
    include: Vec<Glob>,
    exclude: Vec<Glob>,
}

/// Why a tag leaves the release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// `include` is given and matches nothing.
    NotIncluded,
    /// An `exclude` glob matches.
    Excluded {
        /// The glob.
        pattern: String,
    },
    /// The image lacks a required label (or has another value).
    MissingLabel {
        /// The label.
        label: String,
        /// The value required (`*` for any).
        required: String,
        /// The value found, if the label is there.
        found: Option<String>,
    },
}

impl DropReason {
    fn describe(&self) -> String {
        match self {
            Self::NotIncluded => "matched by no `include` pattern".to_string(),
            Self::Excluded { pattern } => format!("matched by `exclude` pattern `{pattern}`"),
            Self::MissingLabel {
                label,
                required,
                found: None,
            } if required == ANY_VALUE => {
                format!("its image has no label `{label}`")
            }
            Self::MissingLabel {
                label,
                required,
                found: None,
            } => {
                format!("its image has no label `{label}` (required: `{required}`)")
            }
            Self::MissingLabel {
                label,
                required,
                found: Some(found),
            } => {
                format!("its image has label `{label}` = `{found}`, required `{required}`")
            }
        }
    }
}

/// One tag swapped for another image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// The reference asked for in `replace`.
    pub reference: String,
    /// The tag's pullspec before.
    pub old_pullspec: String,
    /// The tag as it will be: pinned pullspec, annotations from the new image's labels.
    pub image: Image,
}

/// What the stage will do to the payload.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Tags to remove, with the reason, sorted by tag.
    pub drops: Vec<(String, DropReason)>,
    /// Tags to replace, sorted by tag.
    pub replacements: Vec<Replacement>,
}

/// Decides what to drop and replace. Calls the registry only for what the config needs:
/// `image-config` for `require-labels` and replacements, `resolve` for replacements.
pub fn plan(config: &Config, images: &[Image], registry: &impl Registry) -> Result<Plan, String> {
    let rules = config.checked()?;
    for tag in config.replace.keys() {
        if !images.iter().any(|image| image.name == *tag) {
            return Err(format!(
                "`replace.{tag}`: the payload has no tag `{tag}` to replace"
            ));
        }
    }

    let mut plan = Plan::default();
    let mut labels_of = LabelCache::new(registry);
    for image in images {
        let tag = image.name.as_str();
        if let Some(reason) = name_rule(&rules, tag) {
            if tag == CLUSTER_VERSION_OPERATOR {
                return Err(format!(
                    "this config would drop `{CLUSTER_VERSION_OPERATOR}` ({}), which every release \
                     needs: change the rule",
                    reason.describe()
                ));
            }
            if config.replace.contains_key(tag) {
                return Err(format!(
                    "`replace.{tag}` names a tag this config drops ({})",
                    reason.describe()
                ));
            }
            plan.drops.push((tag.to_string(), reason));
            continue;
        }

        let replacement = match config.replace.get(tag) {
            Some(reference) => Some(replacement(tag, reference, image, registry)?),
            None => None,
        };
        if config.require_labels.is_empty() || tag == CLUSTER_VERSION_OPERATOR {
            plan.replacements.extend(replacement);
            continue;
        }
        let pullspec = replacement
            .as_ref()
            .map_or(image.pullspec.as_str(), |r| r.image.pullspec.as_str());
        let labels = labels_of.get(tag, pullspec)?;
        match missing_label(&config.require_labels, &labels) {
            Some(reason) if replacement.is_some() => {
                return Err(format!(
                    "`replace.{tag}`: the replacement image does not pass `require-labels`: {}",
                    reason.describe()
                ));
            }
            Some(reason) => plan.drops.push((tag.to_string(), reason)),
            None => plan.replacements.extend(replacement),
        }
    }
    Ok(plan)
}

/// The include/exclude verdict on a tag name.
fn name_rule(rules: &Rules, tag: &str) -> Option<DropReason> {
    if !rules.include.is_empty() && glob::first_match(&rules.include, tag).is_none() {
        return Some(DropReason::NotIncluded);
    }
    glob::first_match(&rules.exclude, tag).map(|pattern| DropReason::Excluded {
        pattern: pattern.to_string(),
    })
}

/// The first required label that `labels` lacks, if any.
fn missing_label(
    required: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> Option<DropReason> {
    required.iter().find_map(|(label, value)| {
        let found = labels.get(label);
        let ok = found.is_some_and(|found| value == ANY_VALUE || found == value);
        (!ok).then(|| DropReason::MissingLabel {
            label: label.clone(),
            required: value.clone(),
            found: found.cloned(),
        })
    })
}

fn replacement(
    tag: &str,
    reference: &str,
    old: &Image,
    registry: &impl Registry,
) -> Result<Replacement, String> {
    let digest = registry
        .resolve(reference)
        .map_err(|e| format!("`replace.{tag}`: cannot resolve `{reference}`: {e}"))?;
    let pullspec = image::pin(reference, &digest);
    let config = registry
        .image_config(&pullspec)
        .map_err(|e| format!("`replace.{tag}`: cannot read the config of `{pullspec}`: {e}"))?;
    let labels = image::labels_from_config(&config)
        .map_err(|e| format!("`replace.{tag}`: `{pullspec}`: {e}"))?;
    Ok(Replacement {
        reference: reference.to_string(),
        old_pullspec: old.pullspec.clone(),
        image: Image {
            name: tag.to_string(),
            pullspec,
            annotations: image::annotation_list(&image::oc_annotations(&labels)),
        },
    })
}

/// Image labels by pullspec, each fetched once.
struct LabelCache<'a, R> {
    registry: &'a R,
    cache: BTreeMap<String, BTreeMap<String, String>>,
}

impl<'a, R: Registry> LabelCache<'a, R> {
    fn new(registry: &'a R) -> Self {
        Self {
            registry,
            cache: BTreeMap::new(),
        }
    }

    fn get(&mut self, tag: &str, pullspec: &str) -> Result<BTreeMap<String, String>, String> {
        if let Some(labels) = self.cache.get(pullspec) {
            return Ok(labels.clone());
        }
        let config = self
            .registry
            .image_config(pullspec)
            .map_err(|e| format!("tag `{tag}`: cannot read the config of `{pullspec}`: {e}"))?;
        let labels = image::labels_from_config(&config)
            .map_err(|e| format!("tag `{tag}`: `{pullspec}`: {e}"))?;
        self.cache.insert(pullspec.to_string(), labels.clone());
        Ok(labels)
    }
}

/// Carries out a plan: removes dropped tags, puts replaced ones and rewrites their old
/// pullspecs in every manifest. One finding per tag dropped or replaced.
pub fn apply(plan: &Plan, release: &impl Release) -> Result<Vec<Finding>, String> {
    let mut findings = Vec::new();
    for (tag, reason) in &plan.drops {
        release.remove_image(tag);
        findings.push(finding::info(
            "image-dropped",
            Some(tag),
            format!("dropped `{tag}`: {}", reason.describe()),
        ));
    }
    for replacement in &plan.replacements {
        let tag = replacement.image.name.as_str();
        release
            .put_image(&replacement.image)
            .map_err(|e| format!("cannot put tag `{tag}`: {e}"))?;
        let rewritten = if replacement.old_pullspec == replacement.image.pullspec {
            Vec::new()
        } else {
            release
                .rewrite_pullspec(&replacement.old_pullspec, &replacement.image.pullspec)
                .map_err(|e| format!("cannot rewrite `{}`: {e}", replacement.old_pullspec))?
        };
        let manifests = match rewritten.len() {
            0 => "no manifest referenced the old image".to_string(),
            1 => format!("rewrote `{}`", rewritten.join("`, `")),
            n => format!("rewrote {n} manifests: `{}`", rewritten.join("`, `")),
        };
        findings.push(finding::info(
            "image-replaced",
            Some(tag),
            format!(
                "replaced `{tag}` by `{}` (from `{}`, was `{}`); {manifests}",
                replacement.image.pullspec, replacement.reference, replacement.old_pullspec
            ),
        ));
    }
    Ok(findings)
}

/// The whole stage: plan over the payload's images, then apply.
pub fn run(
    config: &Config,
    release: &impl Release,
    registry: &impl Registry,
) -> Result<Vec<Finding>, String> {
    let plan = plan(config, &release.images(), registry)?;
    apply(&plan, release)
}

#[cfg(test)]
mod tests;
