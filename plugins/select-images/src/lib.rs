//! `select-images`: the stage that chooses the component images of a release.
//!
//! It keeps or drops tags of `image-references` by name (`include`, `exclude` globs) and by the
//! labels of their image configs (`require-labels`), and replaces tags by other images pinned by
//! digest (`replace`), rewriting every manifest that named the old image. The logic is in
//! [`select`]; this file is glue between the WIT export and that logic.

mod select;

use compose_plugin_sdk::{Finding, Guest, HostRegistry, Info, Payload};

/// The exported stage.
struct SelectImages;

impl Guest for SelectImages {
    fn describe() -> Info {
        Info {
            name: "select-images".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Keeps, drops and replaces the component images of the release by tag \
                          name, image labels and explicit references"
                .to_string(),
            config_schema: Some(select::CONFIG_SCHEMA.to_string()),
        }
    }

    fn run(config: String, release: &Payload) -> Result<Vec<Finding>, String> {
        let config = select::Config::parse(&config)?;
        select::run(&config, release, &HostRegistry)
    }
}

compose_plugin_sdk::export!(SelectImages);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_the_plugin_and_publishes_a_schema() {
        let info = SelectImages::describe();
        assert_eq!(info.name, "select-images");
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        let schema: serde_json::Value =
            serde_json::from_str(info.config_schema.as_deref().unwrap()).unwrap();
        assert_eq!(schema["additionalProperties"], false);
    }
}
