//! A stage whose `run` has the wrong type: it exports `okd:compose/stage@0.1.0` (declared
//! inline here) with `run: func(config: string) -> result<string, string>`. The host must
//! refuse it when it loads it, naming the stage and the plugin, before any stage runs.

use bindings::exports::okd::compose::stage::{Guest, Info};

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package okd:compose@0.1.0;

            interface stage {
                record info {
                    name: string,
                    version: string,
                    description: string,
                    config-schema: option<string>,
                }
                describe: func() -> info;
                run: func(config: string) -> result<string, string>;
            }

            world wrong-run {
                export stage;
            }
        ",
        world: "okd:compose/wrong-run@0.1.0",
        generate_all,
    });

    use super::WrongRun;
    export!(WrongRun);
}

struct WrongRun;

impl Guest for WrongRun {
    fn describe() -> Info {
        Info {
            name: "guest-wrong-run".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Exports `run` with the wrong type".into(),
            config_schema: None,
        }
    }

    fn run(config: String) -> Result<String, String> {
        Ok(format!("ran with {config}"))
    }
}
