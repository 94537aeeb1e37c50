//! The stage's `config`: which checks run, how bad a failure of each is, and what the stream
//! ships (its OS image tags, the releases `previous`/`next` edges may name).
//!
//! ```toml
//! [stage.config]
//! os-image = "stream-coreos"
//! extensions-image = "stream-coreos-extensions"
//! known-releases = ["4.16.0-okd-scos.0"]
//! [stage.config.checks.no-rhel-content]
//! severity = "error"
//! enabled = true
//! allow = ["stream-coreos-extensions"]
//! ```

use compose_plugin_sdk::glob::{self, Glob};
use compose_plugin_sdk::{Severity, config};
use serde::Deserialize;

/// Check id: every image pullspec is `repo@sha256:<64 hex>`.
pub const IMAGES_PINNED: &str = "images-pinned";
/// Check id: no two tags share a name (exactly, or up to case).
pub const NO_DUPLICATE_TAGS: &str = "no-duplicate-tags";
/// Check id: every digest pullspec in a manifest is an image of the release.
pub const MANIFEST_IMAGES_KNOWN: &str = "manifest-images-known";
/// Check id: the OS image tags and the MCO's `machine-config-osimageurl` ConfigMap agree.
pub const OS_IMAGE: &str = "os-image";
/// Check id: no image carries RHEL licensing labels or comes from a Red Hat registry.
pub const NO_RHEL_CONTENT: &str = "no-rhel-content";
/// Check id: manifests parse, carry apiVersion/kind/metadata.name and are named `0000_NN_…`.
pub const MANIFESTS_VALID: &str = "manifests-valid";
/// Check id: `release-metadata` is valid (kind, semver version, known edges).
pub const RELEASE_METADATA: &str = "release-metadata";
/// Check id: every signature attachment verified (by the host) against the stream's keys.
pub const SIGNATURES_VERIFY: &str = "signatures-verify";

/// Every check, in the order they run and report.
pub const ALL_CHECKS: [&str; 8] = [
    IMAGES_PINNED,
    NO_DUPLICATE_TAGS,
    MANIFEST_IMAGES_KNOWN,
    OS_IMAGE,
    NO_RHEL_CONTENT,
    MANIFESTS_VALID,
    RELEASE_METADATA,
    SIGNATURES_VERIFY,
];

/// A severity as the stream spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeverityName {
    /// Reported only.
    Info,
    /// Reported; the run goes on.
    Warning,
    /// Fails the run.
    Error,
}

impl SeverityName {
    /// The WIT severity.
    pub fn severity(self) -> Severity {
        match self {
            Self::Info => Severity::Info,
            Self::Warning => Severity::Warning,
            Self::Error => Severity::Error,
        }
    }
}

/// `[checks.<id>]` for every check but `no-rhel-content`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CheckConfig {
    /// The severity of a failure (default: the check's own, `error` for every check).
    #[serde(default)]
    pub severity: Option<SeverityName>,
    /// Whether the check runs (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `[checks.no-rhel-content]`: a [`CheckConfig`] plus tags exempt from the check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RhelCheckConfig {
    /// The severity of a failure (default `error`).
    #[serde(default)]
    pub severity: Option<SeverityName>,
    /// Whether the check runs (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Tag names (globs) that are not checked, e.g. a known UBI-derived false positive.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// `[checks]`: one table per check id, every one optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ChecksConfig {
    /// `images-pinned`.
    #[serde(default)]
    pub images_pinned: CheckConfig,
    /// `no-duplicate-tags`.
    #[serde(default)]
    pub no_duplicate_tags: CheckConfig,
    /// `manifest-images-known`.
    #[serde(default)]
    pub manifest_images_known: CheckConfig,
    /// `os-image`.
    #[serde(default)]
    pub os_image: CheckConfig,
    /// `no-rhel-content`.
    #[serde(default)]
    pub no_rhel_content: RhelCheckConfig,
    /// `manifests-valid`.
    #[serde(default)]
    pub manifests_valid: CheckConfig,
    /// `release-metadata`.
    #[serde(default)]
    pub release_metadata: CheckConfig,
    /// `signatures-verify`.
    #[serde(default)]
    pub signatures_verify: CheckConfig,
}

/// The stage's `config` as the stream writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawConfig {
    /// The tag of the node OS image the stream ships (required while `os-image` runs).
    #[serde(default)]
    pub os_image: Option<String>,
    /// The tag of the OS extensions image, if the stream ships one.
    #[serde(default)]
    pub extensions_image: Option<String>,
    /// The versions `previous`/`next` edges may name; absent: any valid semver.
    #[serde(default)]
    pub known_releases: Option<Vec<String>>,
    /// Per-check settings.
    #[serde(default)]
    pub checks: ChecksConfig,
}

/// One check's settings, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Whether it runs.
    pub enabled: bool,
    /// How bad a failure is.
    pub severity: Severity,
}

impl Setting {
    fn resolve(severity: Option<SeverityName>, enabled: Option<bool>) -> Self {
        Self {
            enabled: enabled.unwrap_or(true),
            // Every check fails the run by default: the stage is the last gate before publishing.
            severity: severity.map_or(Severity::Error, SeverityName::severity),
        }
    }
}

/// The checked config the checks run with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The OS image tag (set whenever the `os-image` check is enabled).
    pub os_image: Option<String>,
    /// The extensions image tag.
    pub extensions_image: Option<String>,
    /// The versions edges may name (each checked to be semver).
    pub known_releases: Option<Vec<String>>,
    /// Tags exempt from `no-rhel-content`.
    pub rhel_allow: Vec<Glob>,
    /// The patterns of `rhel_allow`, as the stream writes them.
    rhel_allow_patterns: Vec<String>,
    settings: [Setting; 8],
}

impl Config {
    /// Parses and checks the config JSON the host passes to `run`.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: RawConfig = config::parse(json)?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawConfig) -> Result<Self, String> {
        let checks = &raw.checks;
        let settings = [
            Setting::resolve(checks.images_pinned.severity, checks.images_pinned.enabled),
            Setting::resolve(
                checks.no_duplicate_tags.severity,
                checks.no_duplicate_tags.enabled,
            ),
            Setting::resolve(
                checks.manifest_images_known.severity,
                checks.manifest_images_known.enabled,
            ),
            Setting::resolve(checks.os_image.severity, checks.os_image.enabled),
            Setting::resolve(
                checks.no_rhel_content.severity,
                checks.no_rhel_content.enabled,
            ),
            Setting::resolve(
                checks.manifests_valid.severity,
                checks.manifests_valid.enabled,
            ),
            Setting::resolve(
                checks.release_metadata.severity,
                checks.release_metadata.enabled,
            ),
            Setting::resolve(
                checks.signatures_verify.severity,
                checks.signatures_verify.enabled,
            ),
        ];
        let os_enabled = checks.os_image.enabled.unwrap_or(true);
        for (key, value) in [
            ("os-image", &raw.os_image),
            ("extensions-image", &raw.extensions_image),
        ] {
            if value.as_deref().is_some_and(|tag| tag.trim().is_empty()) {
                return Err(format!("`{key}` must not be empty"));
            }
        }
        if os_enabled && raw.os_image.is_none() {
            return Err(
                "`os-image` (the tag of the node OS image the stream ships, e.g. \
                        \"stream-coreos\") is required unless `checks.os-image.enabled = false`"
                    .into(),
            );
        }
        if raw.os_image.is_some() && raw.os_image == raw.extensions_image {
            return Err("`extensions-image` must differ from `os-image`".into());
        }
        if raw.extensions_image.is_some() && raw.os_image.is_none() {
            return Err("`extensions-image` is set without `os-image`".into());
        }
        if let Some(known) = &raw.known_releases {
            for (i, version) in known.iter().enumerate() {
                semver::Version::parse(version).map_err(|e| {
                    format!("`known-releases[{i}]`: `{version}` is not a semver version: {e}")
                })?;
            }
        }
        let rhel_allow = glob::compile_all(&checks.no_rhel_content.allow)
            .map_err(|e| format!("`checks.no-rhel-content.allow`: {e}"))?;
        Ok(Self {
            os_image: raw.os_image,
            extensions_image: raw.extensions_image,
            known_releases: raw.known_releases,
            rhel_allow,
            rhel_allow_patterns: raw.checks.no_rhel_content.allow,
            settings,
        })
    }

    /// Everything the findings of check `id` depend on in this config, as canonical JSON
    /// (the `settings` of its part: the host reruns a check only when they change). Every
    /// check reads its own `enabled` and `severity`; `os-image` also the two OS tags,
    /// `no-rhel-content` its `allow` list and `release-metadata` the known releases.
    pub fn part_settings(&self, id: &str) -> String {
        let setting = self.setting(id);
        let severity = match setting.severity {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        let mut settings = serde_json::Map::new();
        settings.insert("enabled".into(), setting.enabled.into());
        settings.insert("severity".into(), severity.into());
        match id {
            OS_IMAGE => {
                settings.insert("os-image".into(), self.os_image.clone().into());
                settings.insert(
                    "extensions-image".into(),
                    self.extensions_image.clone().into(),
                );
            }
            NO_RHEL_CONTENT => {
                settings.insert("allow".into(), self.rhel_allow_patterns.clone().into());
            }
            RELEASE_METADATA => {
                settings.insert("known-releases".into(), self.known_releases.clone().into());
            }
            _ => {}
        }
        // A map of JSON values always serializes (keys sorted: serde_json's map is ordered).
        serde_json::Value::Object(settings).to_string()
    }

    /// The settings of the check `id` (one of [`ALL_CHECKS`]; an unknown id is disabled).
    pub fn setting(&self, id: &str) -> Setting {
        ALL_CHECKS
            .iter()
            .position(|check| *check == id)
            .and_then(|i| self.settings.get(i).copied())
            .unwrap_or(Setting {
                enabled: false,
                severity: Severity::Error,
            })
    }
}

/// The JSON schema of the config, published through `describe`.
pub const CONFIG_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "test-release config",
  "type": "object",
  "additionalProperties": false,
  "$defs": {
    "severity": { "type": "string", "enum": ["info", "warning", "error"] },
    "check": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "severity": { "$ref": "#/$defs/severity", "description": "How bad a failure of the check is.", "default": "error" },
        "enabled": { "type": "boolean", "description": "Whether the check runs.", "default": true }
      }
    }
  },
  "properties": {
    "os-image": {
      "description": "The tag of the node OS image the stream ships, e.g. stream-coreos. Required unless checks.os-image.enabled is false.",
      "type": "string", "minLength": 1
    },
    "extensions-image": {
      "description": "The tag of the OS extensions image the stream ships, if any.",
      "type": "string", "minLength": 1
    },
    "known-releases": {
      "description": "The versions release-metadata previous/next edges may name. Absent: any valid semver version.",
      "type": "array", "items": { "type": "string" }
    },
    "checks": {
      "description": "Per-check settings, by check id.",
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "images-pinned": { "$ref": "#/$defs/check" },
        "no-duplicate-tags": { "$ref": "#/$defs/check" },
        "manifest-images-known": { "$ref": "#/$defs/check" },
        "os-image": { "$ref": "#/$defs/check" },
        "no-rhel-content": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "severity": { "$ref": "#/$defs/severity", "description": "How bad a failure of the check is.", "default": "error" },
            "enabled": { "type": "boolean", "description": "Whether the check runs.", "default": true },
            "allow": {
              "description": "Tag names (globs: *, ?, [a-z]) exempt from the check.",
              "type": "array", "items": { "type": "string", "minLength": 1 }
            }
          }
        },
        "manifests-valid": { "$ref": "#/$defs/check" },
        "release-metadata": { "$ref": "#/$defs/check" },
        "signatures-verify": { "$ref": "#/$defs/check" }
      }
    }
  }
}"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_enable_every_check_at_error() {
        let config = Config::parse(r#"{"os-image": "stream-coreos"}"#).unwrap();
        for id in ALL_CHECKS {
            assert_eq!(
                config.setting(id),
                Setting {
                    enabled: true,
                    severity: Severity::Error
                },
                "{id}"
            );
        }
        assert_eq!(config.os_image.as_deref(), Some("stream-coreos"));
        assert_eq!(config.extensions_image, None);
        assert_eq!(config.known_releases, None);
        assert!(!config.setting("no-such-check").enabled);
    }

    #[test]
    fn the_documented_example_parses() {
        let config = Config::parse(
            r#"{
                "os-image": "stream-coreos",
                "extensions-image": "stream-coreos-extensions",
                "known-releases": ["4.16.0-okd-scos.0"],
                "checks": {
                    "no-rhel-content": {"severity": "error", "enabled": true, "allow": ["stream-coreos-extensions"]},
                    "images-pinned": {"severity": "warning"},
                    "manifests-valid": {"enabled": false}
                }
            }"#,
        )
        .unwrap();
        assert_eq!(config.rhel_allow[0].as_str(), "stream-coreos-extensions");
        assert_eq!(config.setting(IMAGES_PINNED).severity, Severity::Warning);
        assert!(!config.setting(MANIFESTS_VALID).enabled);
        assert_eq!(
            config.known_releases.as_deref(),
            Some(&["4.16.0-okd-scos.0".to_string()][..])
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let error = Config::parse(r#"{"os-image": "x", "os_image": "y"}"#).unwrap_err();
        assert!(
            error.starts_with("invalid stage config at `os_image`: unknown field `os_image`"),
            "{error}"
        );
        let error =
            Config::parse(r#"{"os-image": "x", "checks": {"images-pined": {}}}"#).unwrap_err();
        assert!(
            error.starts_with(
                "invalid stage config at `checks.images-pined`: unknown field `images-pined`, expected one of"
            ),
            "{error}"
        );
        let error = Config::parse(r#"{"os-image": "x", "checks": {"os-image": {"allow": []}}}"#)
            .unwrap_err();
        assert!(error.contains("`checks.os-image.allow`"), "{error}");
        let error = Config::parse(
            r#"{"os-image": "x", "checks": {"release-metadata": {"severity": "fatal"}}}"#,
        )
        .unwrap_err();
        assert!(
            error.starts_with(
                "invalid stage config at `checks.release-metadata.severity`: unknown variant `fatal`"
            ),
            "{error}"
        );
    }

    #[test]
    fn os_image_is_required_while_its_check_runs() {
        let error = Config::parse("{}").unwrap_err();
        assert!(error.starts_with("`os-image`"), "{error}");
        let config = Config::parse(r#"{"checks": {"os-image": {"enabled": false}}}"#).unwrap();
        assert_eq!(config.os_image, None);
        assert_eq!(
            Config::parse(r#"{"os-image": "a", "extensions-image": "a"}"#).unwrap_err(),
            "`extensions-image` must differ from `os-image`"
        );
        assert_eq!(
            Config::parse(r#"{"os-image": " "}"#).unwrap_err(),
            "`os-image` must not be empty"
        );
    }

    #[test]
    fn known_releases_and_allow_are_checked() {
        let error = Config::parse(r#"{"os-image": "x", "known-releases": ["4.16"]}"#).unwrap_err();
        assert!(
            error.starts_with("`known-releases[0]`: `4.16` is not a semver version"),
            "{error}"
        );
        let error = Config::parse(
            r#"{"os-image": "x", "checks": {"no-rhel-content": {"allow": ["ironic["]}}}"#,
        )
        .unwrap_err();
        assert_eq!(
            error,
            "`checks.no-rhel-content.allow`: invalid glob `ironic[`: a `[` must be closed by `]`"
        );
    }

    #[test]
    fn schema_lists_exactly_the_config_keys() {
        let schema: serde_json::Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
        assert_eq!(schema["additionalProperties"], false);
        let keys: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["checks", "extensions-image", "known-releases", "os-image"]
        );
        let checks = &schema["properties"]["checks"];
        assert_eq!(checks["additionalProperties"], false);
        let mut ids: Vec<&str> = checks["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = ALL_CHECKS.to_vec();
        ids.sort_unstable();
        expected.sort_unstable();
        assert_eq!(ids, expected);
        let rhel = &checks["properties"]["no-rhel-content"];
        assert_eq!(rhel["additionalProperties"], false);
        assert!(rhel["properties"]["allow"].is_object());
        assert_eq!(schema["$defs"]["check"]["additionalProperties"], false);
    }
}
