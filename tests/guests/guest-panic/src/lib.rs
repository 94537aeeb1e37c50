//! A stage that panics in `run`. On wasm32-wasip2 a panic aborts, so the stage traps: it proves
//! the host turns a trapping stage into a failed run (with the panic message on stderr) rather
//! than crashing itself.
//!
//! Imports only `log` (and `release`, through `stage`).

use bindings::exports::okd::compose::stage::{Finding, Guest, Info};
use bindings::okd::compose::log::{Level, log};
use bindings::okd::compose::release::Payload;

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package okd-test:guest;

            world panic {
                import okd:compose/log@0.1.0;
                export okd:compose/stage@0.1.0;
            }
        ",
        path: "../../../wit/deps/okd-compose@0.1.0",
        world: "okd-test:guest/panic",
        generate_all,
    });

    use super::Panic;
    export!(Panic);
}

struct Panic;

impl Guest for Panic {
    fn describe() -> Info {
        Info {
            name: "guest-panic".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Panics".into(),
            config_schema: None,
        }
    }

    #[allow(clippy::panic)]
    fn run(_config: String, _release: &Payload) -> Result<Vec<Finding>, String> {
        log(Level::Info, "guest-panic: about to panic");
        panic!("guest-panic: deliberate panic");
    }
}
