//! The stage's `config`: what to remove, add, patch and re-point, checked before anything runs.

use std::collections::{BTreeMap, BTreeSet};

use compose_plugin_sdk::config::{self, ConfigError};
use compose_plugin_sdk::glob::Glob;
use serde::Deserialize;
use serde_yaml::Value;

use crate::jsonpatch::Operation;
use crate::strategic;

/// The stage's `config`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Config {
    /// Directories (paths inside the sandbox, e.g. `/scos`) whose `*.yaml`, `*.yml` and `*.json`
    /// files are added as manifests.
    pub add: Vec<String>,
    /// Globs of manifest file names to remove; each must match at least one.
    pub remove: Vec<String>,
    /// Patches, applied in order.
    pub patches: Vec<Patch>,
    /// Pullspecs replaced across all manifests.
    pub replace_images: Vec<ReplaceImage>,
}

/// One patch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Patch {
    /// Names the patch in errors and findings; unique.
    pub name: String,
    /// When true, a target that matches nothing is a warning instead of an error.
    #[serde(default)]
    pub optional: bool,
    /// Which documents to patch.
    #[serde(default)]
    pub target: Target,
    /// An RFC 7386 merge patch (a table).
    #[serde(default)]
    pub merge: Option<Value>,
    /// An RFC 6902 JSON patch.
    #[serde(default)]
    pub json_patch: Option<Vec<Operation>>,
    /// A strategic merge patch (a table).
    #[serde(default)]
    pub strategic: Option<Value>,
}

/// Which documents a patch applies to: every field given must match.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Target {
    /// A glob over manifest file names (`0000_50_console-operator_*.yaml`).
    pub path: Option<String>,
    /// `apiVersion`, exactly.
    pub api_version: Option<String>,
    /// `kind`, exactly.
    pub kind: Option<String>,
    /// `metadata.name`, exactly.
    pub name: Option<String>,
    /// `metadata.namespace`, exactly.
    pub namespace: Option<String>,
    /// `metadata.labels` that must all be present with these values.
    pub labels: BTreeMap<String, String>,
}

/// One pullspec to replace across all manifests.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ReplaceImage {
    /// The pullspec text to replace.
    pub from: String,
    /// What to put in its place.
    pub to: String,
    /// When true, a pullspec no manifest holds is a warning instead of an error.
    #[serde(default)]
    pub optional: bool,
}

/// What a patch does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind<'a> {
    /// RFC 7386.
    Merge(&'a Value),
    /// RFC 6902.
    JsonPatch(&'a [Operation]),
    /// Kustomize's strategic merge, by Kubernetes' merge keys.
    Strategic(&'a Value),
}

impl Kind<'_> {
    /// How findings call the kind: `merge patch`, `JSON patch`, `strategic merge patch`.
    pub fn title(&self) -> &'static str {
        match self {
            Self::Merge(_) => "merge patch",
            Self::JsonPatch(_) => "JSON patch",
            Self::Strategic(_) => "strategic merge patch",
        }
    }
}

impl Patch {
    /// The one operation of the patch (checked by [`Config::parse`]).
    pub fn kind(&self) -> Result<Kind<'_>, String> {
        match (&self.merge, &self.json_patch, &self.strategic) {
            (Some(merge), None, None) => Ok(Kind::Merge(merge)),
            (None, Some(ops), None) => Ok(Kind::JsonPatch(ops)),
            (None, None, Some(strategic)) => Ok(Kind::Strategic(strategic)),
            (None, None, None) => {
                Err("needs one of `merge`, `json-patch` or `strategic`".to_string())
            }
            _ => Err("takes only one of `merge`, `json-patch` or `strategic`".to_string()),
        }
    }
}

impl Target {
    /// Whether no field is given.
    pub fn is_empty(&self) -> bool {
        self.path.is_none()
            && self.api_version.is_none()
            && self.kind.is_none()
            && self.name.is_none()
            && self.namespace.is_none()
            && self.labels.is_empty()
    }

    /// The target as written in messages: `path "x*.yaml", kind "Console", name "cluster"`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (key, value) in [
            ("path", &self.path),
            ("api-version", &self.api_version),
            ("kind", &self.kind),
            ("name", &self.name),
            ("namespace", &self.namespace),
        ] {
            if let Some(value) = value {
                parts.push(format!("{key} {value:?}"));
            }
        }
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k:?} = {v:?}"))
                .collect();
            parts.push(format!("labels {{ {} }}", labels.join(", ")));
        }
        parts.join(", ")
    }
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> String {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
    .to_string()
}

impl Config {
    /// Parses and checks the config JSON the host passes to `run`. Errors name the key:
    /// ``invalid stage config at `patches[1].json-patch[0]`: `add` needs a `value` ``.
    pub fn parse(json: &str) -> Result<Self, String> {
        let config: Self = config::parse(json)?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        for (i, dir) in self.add.iter().enumerate() {
            if dir.trim().is_empty() {
                return Err(invalid(
                    format!("add[{i}]"),
                    "a directory path must not be empty",
                ));
            }
        }
        for (i, pattern) in self.remove.iter().enumerate() {
            Glob::new(pattern).map_err(|e| invalid(format!("remove[{i}]"), e.to_string()))?;
        }
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, patch) in self.patches.iter().enumerate() {
            let at = format!("patches[{i}]");
            if patch.name.trim().is_empty() {
                return Err(invalid(
                    format!("{at}.name"),
                    "a patch name must not be empty",
                ));
            }
            if let Some(first) = names.insert(&patch.name, i) {
                return Err(invalid(
                    format!("{at}.name"),
                    format!(
                        "the patch name `{}` is already used by `patches[{first}]`",
                        patch.name
                    ),
                ));
            }
            check_target(&patch.target, &format!("{at}.target"))?;
            match patch.kind().map_err(|e| invalid(&at, e))? {
                Kind::Merge(value) if !value.is_mapping() => {
                    return Err(invalid(format!("{at}.merge"), "must be a table"));
                }
                Kind::Strategic(value) if !value.is_mapping() => {
                    return Err(invalid(format!("{at}.strategic"), "must be a table"));
                }
                Kind::Strategic(value) => {
                    strategic::check_directives(value)
                        .map_err(|e| invalid(format!("{at}.strategic"), e))?;
                }
                Kind::JsonPatch([]) => {
                    return Err(invalid(
                        format!("{at}.json-patch"),
                        "must hold at least one operation",
                    ));
                }
                Kind::JsonPatch(ops) => {
                    for (j, op) in ops.iter().enumerate() {
                        op.check()
                            .map_err(|e| invalid(format!("{at}.json-patch[{j}]"), e))?;
                    }
                }
                Kind::Merge(_) => {}
            }
        }
        let mut froms = BTreeSet::new();
        for (i, replace) in self.replace_images.iter().enumerate() {
            let at = format!("replace-images[{i}]");
            for (key, value) in [("from", &replace.from), ("to", &replace.to)] {
                if value.is_empty() || value.contains(char::is_whitespace) {
                    return Err(invalid(
                        format!("{at}.{key}"),
                        format!("`{value}` is not an image pullspec"),
                    ));
                }
            }
            if replace.from == replace.to {
                return Err(invalid(&at, "`from` and `to` are the same pullspec"));
            }
            if !froms.insert(&replace.from) {
                return Err(invalid(
                    format!("{at}.from"),
                    format!("`{}` is replaced twice", replace.from),
                ));
            }
        }
        Ok(())
    }
}

fn check_target(target: &Target, at: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err(invalid(
            at,
            "give at least one of `path`, `api-version`, `kind`, `name`, `namespace` or `labels` \
             (a patch never applies to every manifest by default)",
        ));
    }
    if let Some(path) = &target.path {
        Glob::new(path).map_err(|e| invalid(format!("{at}.path"), e.to_string()))?;
    }
    for (key, value) in [
        ("api-version", &target.api_version),
        ("kind", &target.kind),
        ("name", &target.name),
        ("namespace", &target.namespace),
    ] {
        if value.as_deref().is_some_and(str::is_empty) {
            return Err(invalid(format!("{at}.{key}"), "must not be empty"));
        }
    }
    if target.labels.keys().any(String::is_empty) {
        return Err(invalid(
            format!("{at}.labels"),
            "a label name must not be empty",
        ));
    }
    Ok(())
}

/// The JSON schema of [`Config`], published through `describe`.
pub const CONFIG_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "patch-manifests config",
  "description": "Applied in this order: remove, add, patches (in order), replace-images.",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "remove": {
      "description": "Globs of manifest file names to remove; a glob that matches no manifest is an error.",
      "type": "array", "items": { "type": "string", "minLength": 1 }
    },
    "add": {
      "description": "Granted directories, as the stage sees them (e.g. \"/scos\"): every *.yaml, *.yml and *.json file in them is added as a manifest of the same base name; a name the payload already has is an error.",
      "type": "array", "items": { "type": "string", "minLength": 1 }
    },
    "patches": {
      "description": "Patches, applied in order to the documents their target matches.",
      "type": "array",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "target"],
        "properties": {
          "name": { "description": "Unique; names the patch in errors and findings.", "type": "string", "minLength": 1 },
          "optional": { "description": "A target that matches nothing is a warning instead of an error.", "type": "boolean", "default": false },
          "target": {
            "description": "Which documents to patch: every field given must match (at least one is required).",
            "type": "object",
            "additionalProperties": false,
            "minProperties": 1,
            "properties": {
              "path": { "description": "Glob over manifest file names.", "type": "string", "minLength": 1 },
              "api-version": { "description": "apiVersion, exactly.", "type": "string", "minLength": 1 },
              "kind": { "description": "kind, exactly.", "type": "string", "minLength": 1 },
              "name": { "description": "metadata.name, exactly.", "type": "string", "minLength": 1 },
              "namespace": { "description": "metadata.namespace, exactly.", "type": "string", "minLength": 1 },
              "labels": { "description": "metadata.labels that must be present with these values.", "type": "object", "additionalProperties": { "type": "string" } }
            }
          },
          "merge": { "description": "RFC 7386 JSON merge patch: maps merge, null deletes a key, anything else replaces.", "type": "object" },
          "json-patch": {
            "description": "RFC 6902 JSON patch.",
            "type": "array",
            "minItems": 1,
            "items": {
              "type": "object",
              "additionalProperties": false,
              "required": ["op", "path"],
              "properties": {
                "op": { "enum": ["add", "remove", "replace", "move", "copy", "test"] },
                "path": { "description": "JSON pointer.", "type": "string" },
                "from": { "description": "JSON pointer, for move and copy.", "type": "string" },
                "value": { "description": "For add, replace and test." }
              }
            }
          },
          "strategic": { "description": "Strategic merge as kustomize does it: maps merge; lists of maps merge item by item by their Kubernetes merge keys (`name`; `containerPort` for container ports, `mountPath` for volumeMounts, `devicePath`, `ip`, `topologyKey`+`whenUnsatisfiable`, ...); `$patch: delete` in an item removes it, `$patch: replace`/`delete` in a map replaces/removes it; other lists are replaced; null deletes a key.", "type": "object" }
        },
        "oneOf": [
          { "required": ["merge"] },
          { "required": ["json-patch"] },
          { "required": ["strategic"] }
        ]
      }
    },
    "replace-images": {
      "description": "Pullspecs replaced by exact text across all manifests (only where not part of a longer reference).",
      "type": "array",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["from", "to"],
        "properties": {
          "from": { "type": "string", "minLength": 1 },
          "to": { "type": "string", "minLength": 1 },
          "optional": { "description": "A pullspec no manifest holds is a warning instead of an error.", "type": "boolean", "default": false }
        }
      }
    }
  }
}"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_config_parses() {
        let config = Config::parse(
            r#"{
              "remove": ["0000_50_cluster-*_fcos-only*.yaml"],
              "add": ["/scos"],
              "patches": [
                {"name": "branding", "target": {"path": "0000_50_console-operator_*.yaml", "api-version": "operator.openshift.io/v1", "kind": "Console", "name": "cluster", "namespace": "x", "labels": {"k": "v"}},
                 "merge": {"spec": {"customization": {"brand": "okd"}}}},
                {"name": "replicas", "optional": true, "target": {"kind": "Deployment"},
                 "json-patch": [{"op": "replace", "path": "/spec/replicas", "value": 2}]},
                {"name": "env", "target": {"name": "x"},
                 "strategic": {"spec": {"template": {"spec": {"containers": [{"name": "x", "env": [{"name": "A", "value": "b"}]}]}}}}}
              ],
              "replace-images": [{"from": "quay.io/a/b@sha256:aa", "to": "quay.io/c/d@sha256:bb"}]
            }"#,
        )
        .unwrap();
        assert_eq!(config.patches.len(), 3);
        assert!(matches!(config.patches[0].kind(), Ok(Kind::Merge(_))));
        assert!(matches!(config.patches[1].kind(), Ok(Kind::JsonPatch(_))));
        assert!(matches!(config.patches[2].kind(), Ok(Kind::Strategic(_))));
        assert_eq!(
            config.patches[0].target.describe(),
            r#"path "0000_50_console-operator_*.yaml", api-version "operator.openshift.io/v1", kind "Console", name "cluster", namespace "x", labels { "k" = "v" }"#
        );
        assert!(!config.replace_images[0].optional);
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn patch_values_keep_the_order_of_the_config() {
        let config = Config::parse(
            r#"{"patches": [{"name": "p", "target": {"kind": "X"}, "merge": {"z": 1, "a": 2, "m": {"y": 1, "b": 2}}}]}"#,
        )
        .unwrap();
        let Ok(Kind::Merge(value)) = config.patches[0].kind() else {
            panic!("not a merge patch");
        };
        assert_eq!(
            crate::emit::document(value).unwrap(),
            "z: 1\na: 2\nm:\n  \"y\": 1\n  b: 2\n"
        );
    }

    fn error(json: &str) -> String {
        Config::parse(json).unwrap_err()
    }

    #[test]
    fn errors_name_the_key() {
        assert!(
            error(r#"{"patch": []}"#)
                .starts_with("invalid stage config at `patch`: unknown field `patch`"),
        );
        assert!(
            error(r#"{"patches": [{"name": "p", "target": {"kinds": "X"}, "merge": {}}]}"#)
                .starts_with(
                    "invalid stage config at `patches[0].target.kinds`: unknown field `kinds`"
                )
        );
        assert!(
            error(r#"{"patches": [{"target": {"kind": "X"}, "merge": {}}]}"#)
                .contains("missing field `name`")
        );
        assert_eq!(
            error(r#"{"patches": [{"name": "p", "target": {"kind": "X"}}]}"#),
            "invalid stage config at `patches[0]`: needs one of `merge`, `json-patch` or `strategic`"
        );
        assert_eq!(
            error(
                r#"{"patches": [{"name": "p", "target": {"kind": "X"}, "merge": {}, "strategic": {}}]}"#
            ),
            "invalid stage config at `patches[0]`: takes only one of `merge`, `json-patch` or `strategic`"
        );
        assert_eq!(
            error(r#"{"patches": [{"name": "p", "merge": {}}]}"#),
            "invalid stage config at `patches[0].target`: give at least one of `path`, `api-version`, `kind`, `name`, `namespace` or `labels` (a patch never applies to every manifest by default)"
        );
        assert_eq!(
            error(
                r#"{"patches": [{"name": "p", "target": {"kind": "X"}, "merge": {}}, {"name": "p", "target": {"kind": "X"}, "merge": {}}]}"#
            ),
            "invalid stage config at `patches[1].name`: the patch name `p` is already used by `patches[0]`"
        );
        assert_eq!(
            error(
                r#"{"patches": [{"name": "p", "target": {"kind": "X"}, "json-patch": [{"op": "add", "path": "/a"}]}]}"#
            ),
            "invalid stage config at `patches[0].json-patch[0]`: `add` needs a `value`"
        );
        assert_eq!(
            error(r#"{"patches": [{"name": "p", "target": {"kind": "X"}, "json-patch": []}]}"#),
            "invalid stage config at `patches[0].json-patch`: must hold at least one operation"
        );
        assert_eq!(
            error(r#"{"patches": [{"name": "p", "target": {"kind": "X"}, "merge": [1]}]}"#),
            "invalid stage config at `patches[0].merge`: must be a table"
        );
        assert!(
            error(r#"{"patches": [{"name": "p", "target": {"kind": "X"}, "json-patch": [{"op": "nope", "path": "/a"}]}]}"#)
                .starts_with("invalid stage config at `patches[0].json-patch[0].op`: unknown variant `nope`")
        );
        assert_eq!(
            error(r#"{"patches": [{"name": "p", "target": {"path": "a["}, "merge": {}}]}"#),
            "invalid stage config at `patches[0].target.path`: invalid glob `a[`: a `[` must be closed by `]`"
        );
        assert_eq!(
            error(r#"{"patches": [{"name": "p", "target": {"kind": ""}, "merge": {}}]}"#),
            "invalid stage config at `patches[0].target.kind`: must not be empty"
        );
        assert_eq!(
            error(r#"{"remove": ["ok", "[x"]}"#),
            "invalid stage config at `remove[1]`: invalid glob `[x`: a `[` must be closed by `]`"
        );
        assert_eq!(
            error(r#"{"replace-images": [{"from": "a", "to": "a"}]}"#),
            "invalid stage config at `replace-images[0]`: `from` and `to` are the same pullspec"
        );
        assert_eq!(
            error(r#"{"replace-images": [{"from": "a b", "to": "c"}]}"#),
            "invalid stage config at `replace-images[0].from`: `a b` is not an image pullspec"
        );
        assert!(
            error(r#"{"replace-images": [{"from": "a", "to": "b", "digest": "x"}]}"#)
                .contains("unknown field `digest`")
        );
        assert_eq!(
            error(r#"{"add": [""]}"#),
            "invalid stage config at `add[0]`: a directory path must not be empty"
        );
    }

    #[test]
    fn schema_lists_exactly_the_config_keys() {
        let schema: serde_json::Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
        assert_eq!(schema["additionalProperties"], false);
        let keys: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["add", "patches", "remove", "replace-images"]);
        let patch = &schema["properties"]["patches"]["items"];
        assert_eq!(patch["additionalProperties"], false);
        let keys: Vec<&String> = patch["properties"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "json-patch",
                "merge",
                "name",
                "optional",
                "strategic",
                "target"
            ]
        );
        let target = &patch["properties"]["target"];
        assert_eq!(target["additionalProperties"], false);
        let keys: Vec<&String> = target["properties"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["api-version", "kind", "labels", "name", "namespace", "path"]
        );
        // Every key of the schema is accepted by the parser.
        Config::parse(
            r#"{"add": ["/a"], "remove": ["x"], "replace-images": [{"from": "a", "to": "b", "optional": true}],
                "patches": [{"name": "p", "optional": true, "target": {"path": "x", "api-version": "v1", "kind": "K", "name": "n", "namespace": "ns", "labels": {"a": "b"}},
                             "json-patch": [{"op": "move", "from": "/a", "path": "/b"}, {"op": "test", "path": "/b", "value": 1}]}]}"#,
        )
        .unwrap();
    }
}

#[cfg(test)]
mod readme {
    use super::*;

    /// The example in README.md is a stage this parser accepts.
    #[test]
    fn readme_example_parses() {
        let readme = include_str!("../README.md");
        let start = readme.find("```toml\n").unwrap() + "```toml\n".len();
        let end = start + readme[start..].find("```").unwrap();
        let stream: serde_json::Value = toml::from_str(&readme[start..end]).unwrap();
        let config = Config::parse(&stream["stage"][0]["config"].to_string()).unwrap();
        assert_eq!(config.remove.len(), 1);
        assert_eq!(config.add, ["/scos"]);
        assert_eq!(config.patches.len(), 3);
        assert_eq!(config.replace_images.len(), 1);
    }
}
