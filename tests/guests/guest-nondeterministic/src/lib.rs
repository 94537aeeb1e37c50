//! A stage that declares itself non-deterministic, as the README tells plugin authors to: a
//! `compose:nondeterministic` custom section made with `#[link_section]`. It proves that the
//! section survives componentization and that the host never reuses the stage's result on a
//! rerun. It counts one finding per run and changes nothing.
//!
//! Imports only `release` (through `stage`).

use bindings::exports::okd::compose::stage::{Finding, Guest, Info, Severity};
use bindings::okd::compose::release::Payload;

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package okd-test:guest;

            world nondeterministic {
                export okd:compose/stage@0.1.0;
            }
        ",
        path: "../../../wit/deps/okd-compose@0.1.0",
        world: "okd-test:guest/nondeterministic",
        generate_all,
    });

    use super::Nondeterministic;
    export!(Nondeterministic);
}

/// The declaration the host looks for (its content does not matter).
#[allow(unsafe_code)]
#[unsafe(link_section = "compose:nondeterministic")]
#[used]
static NONDETERMINISTIC: [u8; 1] = [1];

struct Nondeterministic;

impl Guest for Nondeterministic {
    fn describe() -> Info {
        Info {
            name: "guest-nondeterministic".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Declares itself non-deterministic; passes".into(),
            config_schema: None,
        }
    }

    fn run(_config: String, _release: &Payload) -> Result<Vec<Finding>, String> {
        Ok(vec![Finding {
            check: "ran".into(),
            passed: true,
            severity: Severity::Info,
            subject: None,
            message: "the stage ran".into(),
        }])
    }
}
