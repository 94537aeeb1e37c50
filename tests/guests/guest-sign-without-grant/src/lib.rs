//! A stage that imports `signer` and calls `sign("release", openpgp, b"x")`. Run without a key
//! grant, it proves the host refuses the component before it runs; with a grant, its finding
//! reports what `sign` returned. Its `describe` calls `sign` too and puts the answer in its
//! description: `describe` runs with no grants, so it must be refused.
//!
//! Imports `signer` (and `release`, through `stage`).

use bindings::exports::okd::compose::stage::{Finding, Guest, Info, Severity};
use bindings::okd::compose::release::Payload;
use bindings::okd::compose::signer::{self, SignatureFormat};

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package okd-test:guest;

            world sign-without-grant {
                import okd:compose/signer@0.1.0;
                export okd:compose/stage@0.1.0;
            }
        ",
        path: "../../../wit/deps/okd-compose@0.1.0",
        world: "okd-test:guest/sign-without-grant",
        generate_all,
    });

    use super::SignWithoutGrant;
    export!(SignWithoutGrant);
}

struct SignWithoutGrant;

impl Guest for SignWithoutGrant {
    fn describe() -> Info {
        Info {
            name: "guest-sign-without-grant".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            // `describe` runs with no grants: what a `sign` call gets here is shown by
            // `compose plan`, and must be a refusal.
            description: match signer::sign("release", SignatureFormat::Openpgp, b"x") {
                Ok(_) => "Signs with the key `release`; signed while describing".into(),
                Err(e) => format!("Signs with the key `release`; refused while describing: {e}"),
            },
            config_schema: None,
        }
    }

    fn run(_config: String, _release: &Payload) -> Result<Vec<Finding>, String> {
        let result = signer::sign("release", SignatureFormat::Openpgp, b"x");
        let passed = result.is_ok();
        let message = match result {
            Ok(signature) => format!("signed: {} bytes", signature.len()),
            Err(e) => format!("sign failed: {e}"),
        };
        Ok(vec![Finding {
            check: "sign-without-grant".into(),
            passed,
            severity: Severity::Info,
            subject: Some("release".into()),
            message,
        }])
    }
}
