//! `swap-os-image`: the stage that swaps the node OS image of a release.
//!
//! It puts new OS tags (e.g. `stream-coreos`, `stream-coreos-extensions`) pinned by digest,
//! removes old ones (e.g. `fedora-coreos`), rewrites every manifest that named the old images and
//! points the machine-config-operator's `machine-config-osimageurl` ConfigMap at the new ones.
//! The logic is in [`swap`]; this file is glue between the WIT export and that logic.

mod swap;

use compose_plugin_sdk::{Finding, Guest, HostRegistry, Info, Payload, log};

/// The exported stage.
struct SwapOsImage;

impl Guest for SwapOsImage {
    fn describe() -> Info {
        Info {
            name: "swap-os-image".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Replaces the node OS image tags of the release and points the \
                          machine-config-operator's osimageurl ConfigMap at the new images"
                .to_string(),
            config_schema: Some(swap::CONFIG_SCHEMA.to_string()),
        }
    }

    fn run(config: String, release: &Payload) -> Result<Vec<Finding>, String> {
        let config = swap::Config::parse(&config)?;
        log::info(format!(
            "swapping OS image: removing [{}], putting [{}]",
            config.remove.join(", "),
            config.images.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        swap::run(&config, release, &HostRegistry)
    }
}

compose_plugin_sdk::export!(SwapOsImage);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_the_plugin_and_publishes_a_schema() {
        let info = SwapOsImage::describe();
        assert_eq!(info.name, "swap-os-image");
        let schema: serde_json::Value =
            serde_json::from_str(info.config_schema.as_deref().unwrap()).unwrap();
        assert_eq!(schema["required"][0], "images");
    }
}
