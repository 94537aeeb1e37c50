//! `test-release`: the stage that checks a composed release before it is published.
//!
//! It only reads the payload (and, for `no-rhel-content`, image configs through the read-only
//! registry import) and returns findings: one per failure, with the image tag or manifest file
//! as subject, and one passed summary per check that passed. A failed check of severity `error`
//! (every check's default) fails the run, so nothing is published. The checks are in
//! [`checks`], the config in [`config`]; this file is glue between the WIT export (world
//! `check`, read-only) and them. `alloc` is the component's allocator, tuned for parsing
//! thousands of manifests (and the unit tests', so that they run on it too).

#[cfg(any(test, all(target_family = "wasm", not(target_feature = "atomics"))))]
mod alloc;
mod checks;
mod config;

use compose_plugin_sdk::{Check, Finding, HostRegistry, Info, Payload, log};

/// The exported check: world `check` of `okd:compose@0.2.0`, so the host runs it read-only
/// and `compose verify --policy` picks it.
struct TestRelease;

impl Check for TestRelease {
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

    fn run(config: String, release: &Payload) -> Result<Vec<Finding>, String> {
        let config = config::Config::parse(&config)?;
        let enabled: Vec<&str> = config::ALL_CHECKS
            .iter()
            .copied()
            .filter(|id| config.setting(id).enabled)
            .collect();
        log::info(format!("checking the release: {}", enabled.join(", ")));
        let findings = checks::run(&config, release, &HostRegistry);
        let failed = findings.iter().filter(|f| !f.passed).count();
        log::info(format!(
            "{} findings, {failed} of them failures",
            findings.len()
        ));
        Ok(findings)
    }
}

compose_plugin_sdk::export_check!(TestRelease);

#[cfg(test)]
mod tests {
    use super::*;

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
