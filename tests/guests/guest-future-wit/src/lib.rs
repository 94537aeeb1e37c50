//! A stage built against a future, incompatible version of the compose WIT package
//! (`okd:compose@1.0.0`, declared inline here): the host must refuse it before it runs, with a
//! message naming both versions.

use bindings::exports::okd::compose::stage::{Finding, Guest, Info};
use bindings::okd::compose::release::Payload;

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package okd:compose@1.0.0;

            interface log {
                enum level { trace, debug, info, warn, error }
                log: func(level: level, message: string);
            }

            interface release {
                resource payload {
                    name: func() -> string;
                }
            }

            interface stage {
                use release.{payload};
                enum severity { info, warning, error }
                record finding {
                    check: string,
                    passed: bool,
                    severity: severity,
                    subject: option<string>,
                    message: string,
                }
                record info {
                    name: string,
                    version: string,
                    description: string,
                    config-schema: option<string>,
                }
                describe: func() -> info;
                run: func(config: string, release: borrow<payload>) -> result<list<finding>, string>;
            }

            world next {
                import log;
                export stage;
            }
        ",
        world: "okd:compose/next@1.0.0",
        generate_all,
    });

    use super::Next;
    export!(Next);
}

struct Next;

impl Guest for Next {
    fn describe() -> Info {
        Info {
            name: "guest-future-wit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Built against okd:compose@1.0.0".into(),
            config_schema: None,
        }
    }

    fn run(_config: String, release: &Payload) -> Result<Vec<Finding>, String> {
        Err(format!("must never run (release {})", release.name()))
    }
}
