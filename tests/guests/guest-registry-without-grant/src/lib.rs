//! A stage that imports `registry` and calls `resolve("quay.io/okd/scos-content:x")`. Run
//! without a registry grant, it proves the host refuses the component before it runs; with a
//! grant, its finding reports what `resolve` returned.
//!
//! Imports `registry` (and `release`, through `stage`).

use bindings::exports::okd::compose::stage::{Finding, Guest, Info, Severity};
use bindings::okd::compose::registry;
use bindings::okd::compose::release::Payload;

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package okd-test:guest;

            world registry-without-grant {
                import okd:compose/registry@0.1.0;
                export okd:compose/stage@0.1.0;
            }
        ",
        path: "../../../wit/deps/okd-compose@0.1.0",
        world: "okd-test:guest/registry-without-grant",
        generate_all,
    });

    use super::RegistryWithoutGrant;
    export!(RegistryWithoutGrant);
}

/// The reference the stage resolves.
const REFERENCE: &str = "quay.io/okd/scos-content:x";

struct RegistryWithoutGrant;

impl Guest for RegistryWithoutGrant {
    fn describe() -> Info {
        Info {
            name: "guest-registry-without-grant".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Resolves quay.io/okd/scos-content:x".into(),
            config_schema: None,
        }
    }

    fn run(_config: String, _release: &Payload) -> Result<Vec<Finding>, String> {
        let result = registry::resolve(REFERENCE);
        let passed = result.is_ok();
        let message = match result {
            Ok(digest) => format!("resolved: {digest}"),
            Err(e) => format!("resolve failed: {e}"),
        };
        Ok(vec![Finding {
            check: "registry-without-grant".into(),
            passed,
            severity: Severity::Info,
            subject: Some(REFERENCE.into()),
            message,
        }])
    }
}
