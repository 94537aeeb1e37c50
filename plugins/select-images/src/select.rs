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
mod tests {
    use compose_plugin_sdk::testing::{MemoryRegistry, MemoryRelease};

    use super::*;

    const CVO: &str = "quay.io/okd/scos-content@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    const CLI: &str = "quay.io/okd/scos-content@sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const MCO: &str = "quay.io/okd/scos-content@sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const RHEL: &str = "quay.io/okd/scos-content@sha256:3333333333333333333333333333333333333333333333333333333333333333";
    const NEW_CLI_DIGEST: &str =
        "sha256:4444444444444444444444444444444444444444444444444444444444444444";

    fn release() -> MemoryRelease {
        MemoryRelease::new("4.17.0-okd-scos.0")
            .with_image(CLUSTER_VERSION_OPERATOR, CVO, &[])
            .with_image("cli", CLI, &[(image::COMMIT_ID, "old")])
            .with_image("machine-config-operator", MCO, &[])
            .with_image("ose-tools-rhel9", RHEL, &[])
            .with_manifest("0000_50_cli_deployment.yaml", &format!("image: {CLI}\n"))
            .with_manifest("0000_80_mco.yaml", &format!("image: {MCO}\ncli: {CLI}\n"))
    }

    fn registry() -> MemoryRegistry {
        let operator = [("io.openshift.release.operator", "true")];
        MemoryRegistry::new()
            .with_image(
                CVO,
                "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                &[],
            )
            .with_image(
                CLI,
                "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                &[],
            )
            .with_image(
                MCO,
                "sha256:2222222222222222222222222222222222222222222222222222222222222222",
                &operator,
            )
            .with_image(
                RHEL,
                "sha256:3333333333333333333333333333333333333333333333333333333333333333",
                &[("vendor", "Red Hat, Inc.")],
            )
            .with_image(
                "quay.io/example/cli:v2",
                NEW_CLI_DIGEST,
                &[
                    (image::COMMIT_ID, "abc"),
                    (image::SOURCE_LOCATION, "https://github.com/openshift/oc"),
                    (image::VERSIONS, "kubectl=1.30.1"),
                    ("vendor", "Example"),
                    ("io.openshift.release.operator", "true"),
                ],
            )
    }

    fn config(json: &str) -> Config {
        Config::parse(json).unwrap()
    }

    #[test]
    fn exclude_only_never_calls_the_registry() {
        let release = release();
        let registry = registry();
        let findings = run(&config(r#"{"exclude": ["*-rhel*"]}"#), &release, &registry).unwrap();
        assert!(registry.calls().is_empty(), "{:?}", registry.calls());
        assert_eq!(
            release.image_names(),
            ["cli", CLUSTER_VERSION_OPERATOR, "machine-config-operator"]
        );
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].check, "image-dropped");
        assert_eq!(findings[0].subject.as_deref(), Some("ose-tools-rhel9"));
        assert!(findings[0].passed);
        assert_eq!(
            findings[0].message,
            "dropped `ose-tools-rhel9`: matched by `exclude` pattern `*-rhel*`"
        );
    }

    #[test]
    fn include_keeps_only_matching_tags() {
        let release = release();
        let plan = plan(
            &config(r#"{"include": ["cluster-*", "machine-*"]}"#),
            &release.images(),
            &registry(),
        )
        .unwrap();
        let dropped: Vec<&str> = plan.drops.iter().map(|(tag, _)| tag.as_str()).collect();
        assert_eq!(dropped, ["cli", "ose-tools-rhel9"]);
        assert!(
            plan.drops
                .iter()
                .all(|(_, r)| *r == DropReason::NotIncluded)
        );
    }

    #[test]
    fn dropping_the_cvo_is_an_error() {
        let images = release().images();
        let error = plan(
            &config(r#"{"exclude": ["*operator"]}"#),
            &images,
            &registry(),
        )
        .unwrap_err();
        assert!(
            error.contains("would drop `cluster-version-operator`"),
            "{error}"
        );
        assert!(error.contains("`*operator`"), "{error}");
        let error = plan(&config(r#"{"include": ["cli"]}"#), &images, &registry()).unwrap_err();
        assert!(error.contains("no `include` pattern"), "{error}");
    }

    #[test]
    fn require_labels_fetches_configs_and_spares_the_cvo() {
        let release = release();
        let registry = registry();
        let config = config(r#"{"require-labels": {"io.openshift.release.operator": "true"}}"#);
        let findings = run(&config, &release, &registry).unwrap();
        assert_eq!(
            release.image_names(),
            [CLUSTER_VERSION_OPERATOR, "machine-config-operator"]
        );
        assert_eq!(findings.len(), 2);
        assert_eq!(
            findings[0].message,
            "dropped `cli`: its image has no label `io.openshift.release.operator` (required: `true`)"
        );
        // One config read per image checked; none for the CVO; no resolve.
        assert_eq!(
            registry.calls(),
            [
                format!("image-config {CLI}"),
                format!("image-config {MCO}"),
                format!("image-config {RHEL}")
            ]
        );
    }

    #[test]
    fn require_labels_any_value_and_wrong_value() {
        let images = release().images();
        let any = plan(
            &config(r#"{"require-labels": {"vendor": "*"}}"#),
            &images,
            &registry(),
        )
        .unwrap();
        let dropped: Vec<&str> = any.drops.iter().map(|(tag, _)| tag.as_str()).collect();
        assert_eq!(dropped, ["cli", "machine-config-operator"]);
        let exact = plan(
            &config(r#"{"require-labels": {"vendor": "CentOS"}}"#),
            &images,
            &registry(),
        )
        .unwrap();
        assert_eq!(
            exact.drops[2].1.describe(),
            "its image has label `vendor` = `Red Hat, Inc.`, required `CentOS`"
        );
    }

    #[test]
    fn replace_pins_rebuilds_annotations_and_rewrites_manifests() {
        let release = release();
        let registry = registry();
        let findings = run(
            &config(r#"{"replace": {"cli": "quay.io/example/cli:v2"}}"#),
            &release,
            &registry,
        )
        .unwrap();
        let new_pullspec = format!("quay.io/example/cli@{NEW_CLI_DIGEST}");
        let cli = release.image("cli").unwrap();
        assert_eq!(cli.pullspec, new_pullspec);
        assert_eq!(
            cli.annotations,
            [
                (image::COMMIT_ID.to_string(), "abc".to_string()),
                (image::COMMIT_REF.to_string(), String::new()),
                (
                    image::SOURCE_LOCATION.to_string(),
                    "https://github.com/openshift/oc".to_string()
                ),
                (image::VERSIONS.to_string(), "kubectl=1.30.1".to_string()),
            ]
        );
        assert_eq!(
            release.read_manifest("0000_80_mco.yaml").unwrap(),
            format!("image: {MCO}\ncli: {new_pullspec}\n")
        );
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].check, "image-replaced");
        assert!(
            findings[0].message.ends_with(
                "rewrote 2 manifests: `0000_50_cli_deployment.yaml`, `0000_80_mco.yaml`"
            ),
            "{}",
            findings[0].message
        );
        assert_eq!(
            registry.calls(),
            [
                "resolve quay.io/example/cli:v2".to_string(),
                format!("image-config {new_pullspec}")
            ]
        );
    }

    #[test]
    fn replacement_is_checked_against_require_labels() {
        let images = release().images();
        let ok = plan(
            &config(r#"{"replace": {"cli": "quay.io/example/cli:v2"}, "require-labels": {"io.openshift.release.operator": "*"}}"#),
            &images,
            &registry(),
        )
        .unwrap();
        assert_eq!(ok.replacements.len(), 1);
        let error = plan(
            &config(r#"{"replace": {"cli": "quay.io/example/cli:v2"}, "require-labels": {"vendor": "Other"}}"#),
            &images,
            &registry(),
        )
        .unwrap_err();
        assert!(
            error.starts_with("`replace.cli`: the replacement image does not pass"),
            "{error}"
        );
    }

    #[test]
    fn bad_replacements_are_errors_naming_the_tag() {
        let images = release().images();
        let error = plan(
            &config(r#"{"replace": {"nope": "quay.io/x:y"}}"#),
            &images,
            &registry(),
        )
        .unwrap_err();
        assert_eq!(
            error,
            "`replace.nope`: the payload has no tag `nope` to replace"
        );
        let error = plan(
            &config(r#"{"replace": {"cli": "quay.io/missing:v1"}}"#),
            &images,
            &registry(),
        )
        .unwrap_err();
        assert!(
            error.starts_with("`replace.cli`: cannot resolve `quay.io/missing:v1`"),
            "{error}"
        );
        let error = plan(
            &config(r#"{"replace": {"cli": "quay.io/example/cli:v2"}, "exclude": ["cli"]}"#),
            &images,
            &registry(),
        )
        .unwrap_err();
        assert!(
            error.starts_with("`replace.cli` names a tag this config drops"),
            "{error}"
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        assert_eq!(
            Config::parse(r#"{"exclude": ["a["]}"#).unwrap_err(),
            "`exclude`: invalid glob `a[`: a `[` must be closed by `]`"
        );
        assert!(
            Config::parse(r#"{"require_labels": {}}"#)
                .unwrap_err()
                .contains("unknown field `require_labels`")
        );
        assert!(
            Config::parse(r#"{"require-labels": {"vendor": ""}}"#)
                .unwrap_err()
                .starts_with("`require-labels.vendor`")
        );
        assert!(
            Config::parse(r#"{"replace": {"cli": ""}}"#)
                .unwrap_err()
                .starts_with("`replace.cli`")
        );
        assert_eq!(Config::parse("{}").unwrap(), Config::default());
    }

    #[test]
    fn schema_lists_exactly_the_config_keys() {
        let schema: serde_json::Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
        let keys: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["exclude", "include", "replace", "require-labels"]);
        for key in keys {
            let value = if key == "include" || key == "exclude" {
                "[]"
            } else {
                "{}"
            };
            Config::parse(&format!(r#"{{"{key}": {value}}}"#)).unwrap();
        }
    }
}
