//! A stage that allocates memory without bound: 16 MiB chunks, every page touched, kept alive
//! until the allocation fails and the stage traps. It proves the host's memory limit stops a
//! stage and the host survives it.
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

            world balloon {
                import okd:compose/log@0.1.0;
                export okd:compose/stage@0.1.0;
            }
        ",
        path: "../../../wit/deps/okd-compose@0.1.0",
        world: "okd-test:guest/balloon",
        generate_all,
    });

    use super::Balloon;
    export!(Balloon);
}

/// The size of one allocation.
const CHUNK: usize = 16 * 1024 * 1024;
/// The wasm page size: one write per page makes every page really used.
const PAGE: usize = 64 * 1024;

struct Balloon;

impl Guest for Balloon {
    fn describe() -> Info {
        Info {
            name: "guest-balloon".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Allocates memory until it dies".into(),
            config_schema: None,
        }
    }

    fn run(_config: String, _release: &Payload) -> Result<Vec<Finding>, String> {
        log(Level::Info, "guest-balloon: allocating until it dies");
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut chunk = vec![0_u8; CHUNK];
            for byte in chunk.iter_mut().step_by(PAGE) {
                *byte = 1;
            }
            chunks.push(std::hint::black_box(chunk));
            std::hint::black_box(&chunks);
        }
    }
}
