//! Typed parsing of a stage's `config` (the JSON the host passes to `run`).
//!
//! A plugin declares its config as a `serde::Deserialize` struct (kebab-case keys, unknown keys
//! refused with `#[serde(deny_unknown_fields)]`) and calls [`parse`]. Errors name the key that is
//! wrong with its full path (`require-labels.vendor`), so the user can find it in the stream.

use std::fmt;

use serde::de::DeserializeOwned;

/// A stage config that does not fit the plugin's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where in the config the problem is, dotted (`replace.cli`, `exclude[2]`); empty when the
    /// problem is the config as a whole.
    pub path: String,
    /// What is wrong, as serde describes it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "invalid stage config: {}", self.message)
        } else {
            write!(
                f,
                "invalid stage config at `{}`: {}",
                self.path, self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for String {
    fn from(error: ConfigError) -> Self {
        error.to_string()
    }
}

/// Parses the stage config JSON into the plugin's own config type.
///
/// An empty string is read as `{}`, which is what the host passes when the stream gives no
/// `config`.
pub fn parse<T: DeserializeOwned>(json: &str) -> Result<T, ConfigError> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        ConfigError {
            // serde_path_to_error writes `.` for the root.
            path: if path == "." { String::new() } else { path },
            message: strip_position(&error.inner().to_string()),
        }
    })?;
    deserializer.end().map_err(|error| ConfigError {
        path: String::new(),
        message: strip_position(&error.to_string()),
    })?;
    Ok(value)
}

/// Drops serde_json's " at line 1 column 17" suffix: the config is one line of JSON the user
/// never wrote, so the position means nothing to them; the key path does.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
    struct Sample {
        include: Vec<String>,
        require_labels: BTreeMap<String, String>,
        optional: bool,
    }

    #[test]
    fn parses_kebab_case_keys() {
        let sample: Sample =
            parse(r#"{"include": ["a*"], "require-labels": {"vendor": "x"}, "optional": true}"#)
                .unwrap();
        assert_eq!(sample.include, ["a*"]);
        assert_eq!(sample.require_labels["vendor"], "x");
        assert!(sample.optional);
    }

    #[test]
    fn empty_config_is_the_default() {
        assert_eq!(parse::<Sample>("").unwrap(), Sample::default());
        assert_eq!(parse::<Sample>("{}").unwrap(), Sample::default());
    }

    #[test]
    fn unknown_key_is_named() {
        let error = parse::<Sample>(r#"{"includes": []}"#).unwrap_err();
        assert_eq!(error.path, "includes");
        assert!(
            error.message.starts_with("unknown field `includes`"),
            "{error}"
        );
        assert!(!error.message.contains("line 1"), "{error}");
    }

    #[test]
    fn nested_bad_value_names_its_path() {
        let error = parse::<Sample>(r#"{"require-labels": {"vendor": 3}}"#).unwrap_err();
        assert_eq!(error.path, "require-labels.vendor");
        assert_eq!(
            error.to_string(),
            "invalid stage config at `require-labels.vendor`: invalid type: integer `3`, expected a string"
        );
        let error = parse::<Sample>(r#"{"include": ["ok", false]}"#).unwrap_err();
        assert_eq!(error.path, "include[1]");
    }

    #[test]
    fn malformed_json_is_an_error_of_the_whole_config() {
        let error = parse::<Sample>("{").unwrap_err();
        assert!(
            error.to_string().starts_with("invalid stage config"),
            "{error}"
        );
        let error = parse::<Sample>("{} x").unwrap_err();
        assert_eq!(error.path, "");
    }
}
