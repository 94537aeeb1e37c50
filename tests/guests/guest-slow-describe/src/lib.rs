//! A stage whose `describe` never returns (its `run` passes at once). It proves `compose plan`
//! describes a plugin within the limits of its stage, not a fixed minute.
//!
//! Imports only `log` (and `release`, through `stage`).

use bindings::exports::okd::compose::stage::{Finding, Guest, Info};
use bindings::okd::compose::release::Payload;

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package okd-test:guest;

            world slow-describe {
                import okd:compose/log@0.1.0;
                export okd:compose/stage@0.1.0;
            }
        ",
        path: "../../../wit/deps/okd-compose@0.1.0",
        world: "okd-test:guest/slow-describe",
        generate_all,
    });

    use super::SlowDescribe;
    export!(SlowDescribe);
}

struct SlowDescribe;

impl Guest for SlowDescribe {
    fn describe() -> Info {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    fn run(_config: String, _release: &Payload) -> Result<Vec<Finding>, String> {
        Ok(Vec::new())
    }
}
