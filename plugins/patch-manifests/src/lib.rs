//! `patch-manifests`: the stage that customises the manifests of a release, the way OKD's
//! kustomize overlays do.
//!
//! In order: it removes manifests by file-name glob (`remove`), adds the manifests of granted
//! directories (`add`), applies patches (RFC 7386 merge, RFC 6902 JSON patch, or kustomize's
//! strategic merge) to the documents a target matches (`patches`), and replaces pullspecs across
//! all manifests (`replace-images`). Files no patch changes stay byte-identical; patched files
//! are edited in place where their documents changed ([`layout`]), keeping comments, markers,
//! quoting and layout everywhere else. The logic is in [`stage`]; this file is glue between the
//! WIT export and that logic.

mod config;
mod emit;
mod jsonpatch;
mod layout;
mod manifest;
mod merge;
mod stage;
mod strategic;

use compose_plugin_sdk::{Finding, Guest, Info, Payload, log};

/// The exported stage.
struct PatchManifests;

impl Guest for PatchManifests {
    fn describe() -> Info {
        Info {
            name: "patch-manifests".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Removes, adds and patches manifests (JSON patch, merge patch, strategic \
                          merge) and replaces image pullspecs across them"
                .to_string(),
            config_schema: Some(config::CONFIG_SCHEMA.to_string()),
        }
    }

    fn run(config: String, release: &Payload) -> Result<Vec<Finding>, String> {
        let config = config::Config::parse(&config)?;
        log::info(format!(
            "patching manifests: {} removals, {} directories to add, {} patches, {} image replacements",
            config.remove.len(),
            config.add.len(),
            config.patches.len(),
            config.replace_images.len()
        ));
        stage::run(&config, release)
    }
}

compose_plugin_sdk::export!(PatchManifests);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_the_plugin_and_publishes_a_schema() {
        let info = PatchManifests::describe();
        assert_eq!(info.name, "patch-manifests");
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        let schema: serde_json::Value =
            serde_json::from_str(info.config_schema.as_deref().unwrap()).unwrap();
        assert_eq!(schema["additionalProperties"], false);
    }
}
