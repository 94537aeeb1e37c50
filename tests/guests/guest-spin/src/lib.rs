//! A stage that never returns: `run` spins forever. It proves the host stops a stage that runs
//! past its time (fuel or epoch) limit instead of hanging the run.
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

            world spin {
                import okd:compose/log@0.1.0;
                export okd:compose/stage@0.1.0;
            }
        ",
        path: "../../../wit/deps/okd-compose@0.1.0",
        world: "okd-test:guest/spin",
        generate_all,
    });

    use super::Spin;
    export!(Spin);
}

struct Spin;

impl Guest for Spin {
    fn describe() -> Info {
        Info {
            name: "guest-spin".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Loops forever".into(),
            config_schema: None,
        }
    }

    fn run(_config: String, _release: &Payload) -> Result<Vec<Finding>, String> {
        log(Level::Info, "guest-spin: spinning forever");
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}
