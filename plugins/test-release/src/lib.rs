//! `test-release`: the stage that checks a composed release before it is published.
//!
//! It only reads the payload (and, for `no-rhel-content`, image configs through the read-only
//! registry import) and returns findings: one per failure, with the image tag or manifest file
//! as subject, and one passed summary per check that passed. A failed check of severity `error`
//! (every check's default) fails the run, so nothing is published. The checks are in
//! [`checks`], the config in [`config`]; this file is glue between the WIT export (world
//! `parted-check`, read-only, each check a part) and them. `alloc` is the component's allocator, tuned for parsing
//! thousands of manifests (and the unit tests', so that they run on it too).

#[cfg(any(test, all(target_family = "wasm", not(target_feature = "atomics"))))]
mod alloc;
mod checks;
mod config;

use compose_plugin_sdk::{Finding, HostRegistry, Info, Part, PartedCheck, Payload, log};

/// The exported check: world `parted-check` of `okd:compose@0.3.0`, so the host runs it
/// read-only, `compose verify --policy` picks it, and a rerun runs only the checks whose
/// settings or inputs changed (each check is one part).
struct TestRelease;

impl PartedCheck for TestRelease {
    fn describe() -> Info {
        Info {
            name: "test-release".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Checks the release without changing it: images pinned by digest, no \
                          duplicate tags, manifest images known, OS image tags and ConfigMap \
                          consistent, no RHEL-licensed content, valid manifests and metadata"
                .to_string(),
            config_schema: Some(config::CONFIG_SCHEMA.to_string()),
        }
    }

    fn parts(config: String) -> Result<Vec<Part>, String> {
        let config = config::Config::parse(&config)?;
        Ok(config::ALL_CHECKS
            .iter()
            .map(|id| Part {
                id: (*id).to_string(),
                settings: config.part_settings(id),
            })
            .collect())
    }

    fn run_part(config: String, part: String, release: &Payload) -> Result<Vec<Finding>, String> {
        let config = config::Config::parse(&config)?;
        let findings = checks::run_one(&part, &config, release, &HostRegistry)
            .ok_or_else(|| format!("there is no check `{part}`"))?;
        let failed = findings.iter().filter(|f| !f.passed).count();
        // A run shows the failures (`-v`, every part).
        if failed > 0 {
            log::info(format!(
                "{part}: {failed} of {} findings failed",
                findings.len()
            ));
        } else {
            log::debug(format!("{part}: {} findings, all passed", findings.len()));
        }
        Ok(findings)
    }
}

compose_plugin_sdk::export_parted_check!(TestRelease);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_is_a_part_with_its_own_settings() {
        let parts = TestRelease::parts(r#"{"os-image": "stream-coreos"}"#.into()).unwrap();
        let ids: Vec<&str> = parts.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, config::ALL_CHECKS);
        let changed = TestRelease::parts(
            r#"{"os-image": "stream-coreos", "checks": {"no-rhel-content": {"allow": ["x"]}}}"#
                .into(),
        )
        .unwrap();
        let differ: Vec<&str> = parts
            .iter()
            .zip(&changed)
            .filter(|(a, b)| a.settings != b.settings)
            .map(|(a, _)| a.id.as_str())
            .collect();
        assert_eq!(differ, ["no-rhel-content"]);
        let os = TestRelease::parts(r#"{"os-image": "other-coreos"}"#.into()).unwrap();
        let differ: Vec<&str> = parts
            .iter()
            .zip(&os)
            .filter(|(a, b)| a.settings != b.settings)
            .map(|(a, _)| a.id.as_str())
            .collect();
        assert_eq!(differ, ["os-image"]);
        assert!(TestRelease::parts(r#"{"nonsense": 1}"#.into()).is_err());
    }

    #[test]
    fn describe_names_the_plugin_and_publishes_a_schema() {
        let info = TestRelease::describe();
        assert_eq!(info.name, "test-release");
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        let schema: serde_json::Value =
            serde_json::from_str(info.config_schema.as_deref().unwrap()).unwrap();
        assert_eq!(schema["additionalProperties"], false);
    }
}
