//! `release-metadata`: the `release-metadata` file is what the CVO and Cincinnati expect
//! (payload-format.md §1): JSON of kind `cincinnati-metadata-v0`, `version` = the release name
//! and valid semver, and every `previous` / `next` edge valid semver (and, when the stream lists
//! `known-releases`, one of them).

use compose_plugin_sdk::{Finding, Release};
use serde_json::Value;

use super::Report;
use crate::config::Config;

/// The subject of every finding of this check: the file.
const FILE: &str = "release-metadata";

/// The check.
pub fn check(mut report: Report, config: &Config, release: &impl Release) -> Vec<Finding> {
    let subject = Some(FILE);
    let name = release.name();
    let metadata: Value = match serde_json::from_str(&release.metadata()) {
        Ok(value) => value,
        Err(error) => {
            report.fail(
                subject,
                format!("`release-metadata` is not valid JSON: {error}"),
            );
            return report.finish("");
        }
    };
    if !metadata.is_object() {
        report.fail(subject, "`release-metadata` is not a JSON object");
        return report.finish("");
    }
    match metadata.get("kind").and_then(Value::as_str) {
        Some("cincinnati-metadata-v0") => {}
        Some(kind) => report.fail(
            subject,
            format!("`kind` is `{kind}`, expected `cincinnati-metadata-v0`"),
        ),
        None => report.fail(subject, "no `kind` (expected `cincinnati-metadata-v0`)"),
    }
    let version = metadata.get("version").and_then(Value::as_str);
    match version {
        None => report.fail(subject, "no `version` string"),
        Some(version) => {
            if version != name {
                report.fail(
                    subject,
                    format!("`version` is `{version}`, but the release is named `{name}`"),
                );
            }
            if let Err(error) = semver::Version::parse(version) {
                report.fail(
                    subject,
                    format!("`version` `{version}` is not valid semver: {error}"),
                );
            }
        }
    }
    let mut counts = [0usize; 2];
    for (field, count) in ["previous", "next"].into_iter().zip(counts.iter_mut()) {
        let entries = match metadata.get(field) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(entries)) => entries,
            Some(_) => {
                report.fail(subject, format!("`{field}` is not a list of versions"));
                continue;
            }
        };
        *count = entries.len();
        for (i, entry) in entries.iter().enumerate() {
            let Some(edge) = entry.as_str() else {
                report.fail(subject, format!("`{field}[{i}]` is not a string"));
                continue;
            };
            if let Err(error) = semver::Version::parse(edge) {
                report.fail(
                    subject,
                    format!("`{field}[{i}]` `{edge}` is not valid semver: {error}"),
                );
            } else if Some(edge) == version {
                report.fail(
                    subject,
                    format!("`{field}[{i}]` `{edge}` is the release itself"),
                );
            } else if let Some(known) = &config.known_releases
                && !known.iter().any(|k| k == edge)
            {
                report.fail(
                    subject,
                    format!("`{field}[{i}]` `{edge}` is not one of `known-releases`"),
                );
            }
        }
    }
    let known = if config.known_releases.is_some() {
        " and in `known-releases`"
    } else {
        ""
    };
    report.finish(format!(
        "`{name}` is a valid version; its {} `previous` and {} `next` edges are valid semver{known}",
        counts[0], counts[1]
    ))
}

#[cfg(test)]
mod tests {
    use compose_plugin_sdk::Severity;
    use compose_plugin_sdk::testing::MemoryRelease;

    use super::super::fixtures::*;
    use super::*;
    use crate::config::RELEASE_METADATA;

    /// A release whose metadata is `json`, written past the host's own checks.
    struct Metadata(MemoryRelease, String);

    impl Release for Metadata {
        fn name(&self) -> String {
            self.0.name()
        }
        fn metadata(&self) -> String {
            self.1.clone()
        }
        fn set_metadata(&self, json: &str) -> Result<(), String> {
            self.0.set_metadata(json)
        }
        fn images(&self) -> Vec<compose_plugin_sdk::Image> {
            self.0.images()
        }
        fn image(&self, name: &str) -> Option<compose_plugin_sdk::Image> {
            self.0.image(name)
        }
        fn put_image(&self, image: &compose_plugin_sdk::Image) -> Result<(), String> {
            self.0.put_image(image)
        }
        fn remove_image(&self, name: &str) -> bool {
            self.0.remove_image(name)
        }
        fn manifests(&self) -> Vec<String> {
            self.0.manifests()
        }
        fn grep_manifests(&self, needle: &str) -> Vec<String> {
            self.0.grep_manifests(needle)
        }
        fn read_manifest(&self, path: &str) -> Option<String> {
            self.0.read_manifest(path)
        }
        fn write_manifest(&self, path: &str, content: &str) -> Result<(), String> {
            self.0.write_manifest(path, content)
        }
        fn remove_manifest(&self, path: &str) -> bool {
            self.0.remove_manifest(path)
        }
        fn rewrite_pullspec(&self, old: &str, new: &str) -> Result<Vec<String>, String> {
            self.0.rewrite_pullspec(old, new)
        }
        fn attach(&self, attachment: &compose_plugin_sdk::Attachment) {
            self.0.attach(attachment)
        }
        fn attachments(&self) -> Vec<compose_plugin_sdk::Attachment> {
            self.0.attachments()
        }
    }

    fn config(known: Option<&[&str]>) -> Config {
        let mut json = serde_json::json!({"os-image": "stream-coreos"});
        if let Some(known) = known {
            json["known-releases"] = serde_json::json!(known);
        }
        Config::parse(&json.to_string()).unwrap()
    }

    fn run(config: &Config, metadata: &str) -> Vec<Finding> {
        let release = Metadata(MemoryRelease::new(NAME), metadata.to_string());
        check(report(RELEASE_METADATA), config, &release)
    }

    #[test]
    fn good_metadata_passes() {
        let good = r#"{"kind": "cincinnati-metadata-v0", "version": "4.17.0-okd-scos.0",
            "previous": ["4.16.0-okd-scos.0", "4.16.0-okd-scos.ec.3"],
            "next": ["4.17.0-okd-scos.1"], "metadata": {"url": "https://example.org"}}"#;
        let findings = run(&config(None), good);
        assert_eq!(
            summary(&findings).as_deref(),
            Some(
                "`4.17.0-okd-scos.0` is a valid version; its 2 `previous` and 1 `next` edges \
                 are valid semver"
            )
        );
        assert_eq!(findings.len(), 1);
        // The MemoryRelease default (`previous: []`, no `next`) passes too.
        let release = MemoryRelease::new(NAME);
        let findings = check(report(RELEASE_METADATA), &config(Some(&[])), &release);
        assert!(findings[0].passed, "{findings:?}");
    }

    #[test]
    fn unknown_edges_fail_when_known_releases_is_set() {
        let metadata = r#"{"kind": "cincinnati-metadata-v0", "version": "4.17.0-okd-scos.0",
            "previous": ["4.16.0-okd-scos.0", "4.16.0-okd-scos.1"]}"#;
        let findings = run(&config(Some(&["4.16.0-okd-scos.0"])), metadata);
        assert_eq!(
            errors(&findings),
            [(
                "release-metadata".to_string(),
                "`previous[1]` `4.16.0-okd-scos.1` is not one of `known-releases`".to_string()
            )]
        );
        assert!(run(&config(None), metadata).iter().all(|f| f.passed));
    }

    #[test]
    fn bad_semver_and_fields_fail() {
        let metadata = r#"{"kind": "cincinnati-metadata-v1", "version": "4.17.0-okd-scos.0",
            "previous": ["4.16", 7, "4.17.0-okd-scos.0", "4.16.0-okd-scos.01"],
            "next": "4.18.0"}"#;
        let findings = run(&config(None), metadata);
        let messages: Vec<String> = errors(&findings).into_iter().map(|(_, m)| m).collect();
        assert_eq!(
            messages,
            [
                "`kind` is `cincinnati-metadata-v1`, expected `cincinnati-metadata-v0`",
                "`previous[0]` `4.16` is not valid semver: unexpected end of input while parsing \
                 minor version number",
                "`previous[1]` is not a string",
                "`previous[2]` `4.17.0-okd-scos.0` is the release itself",
                "`previous[3]` `4.16.0-okd-scos.01` is not valid semver: invalid leading zero in \
                 pre-release identifier",
                "`next` is not a list of versions",
            ]
        );
        assert!(findings.iter().all(|f| f.severity == Severity::Error));
    }

    #[test]
    fn version_must_be_the_name_and_semver() {
        let findings = run(
            &config(None),
            r#"{"kind": "cincinnati-metadata-v0", "version": "4.17"}"#,
        );
        let messages: Vec<String> = errors(&findings).into_iter().map(|(_, m)| m).collect();
        assert_eq!(
            messages,
            [
                "`version` is `4.17`, but the release is named `4.17.0-okd-scos.0`",
                "`version` `4.17` is not valid semver: unexpected end of input while parsing \
                 minor version number",
            ]
        );
        let release = Metadata(
            MemoryRelease::new("okd-latest"),
            r#"{"kind": "cincinnati-metadata-v0", "version": "okd-latest"}"#.into(),
        );
        let findings = check(report(RELEASE_METADATA), &config(None), &release);
        assert_eq!(
            errors(&findings),
            [(
                "release-metadata".to_string(),
                "`version` `okd-latest` is not valid semver: unexpected character 'o' while \
                 parsing major version number"
                    .to_string()
            )]
        );
        for broken in ["not json", "[]", r#"{"kind": "cincinnati-metadata-v0"}"#] {
            let findings = run(&config(None), broken);
            assert_eq!(errors(&findings).len(), 1, "{broken}: {findings:?}");
        }
    }
}
