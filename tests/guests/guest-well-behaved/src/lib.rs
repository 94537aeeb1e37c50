//! A stage that stays inside its sandbox: it proves a well-behaved component runs, that its
//! log line, stdout and stderr reach the host, and (with `{"read": PATH}` / `{"write": PATH}` in
//! its config) that a granted read-only directory is readable and not writable.
//!
//! Imports only `log` (and `release`, through `stage`).

use bindings::exports::okd::compose::stage::{Finding, Guest, Info, Severity};
use bindings::okd::compose::log::{Level, log};
use bindings::okd::compose::release::Payload;

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package okd-test:guest;

            world well-behaved {
                import okd:compose/log@0.1.0;
                export okd:compose/stage@0.1.0;
            }
        ",
        path: "../../../wit/deps/okd-compose@0.1.0",
        world: "okd-test:guest/well-behaved",
        generate_all,
    });

    use super::WellBehaved;
    export!(WellBehaved);
}

struct WellBehaved;

impl Guest for WellBehaved {
    fn describe() -> Info {
        Info {
            name: "guest-well-behaved".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Logs, prints and passes; reads or writes one file when asked".into(),
            config_schema: None,
        }
    }

    fn run(config: String, _release: &Payload) -> Result<Vec<Finding>, String> {
        log(Level::Info, "guest-well-behaved: running");
        println!("hello from stdout");
        eprintln!("hello from stderr");

        let config: serde_json::Value =
            serde_json::from_str(&config).map_err(|e| format!("config: {e}"))?;
        let mut message = String::from("ok");
        if let Some(path) = config.get("read").and_then(serde_json::Value::as_str) {
            let data = std::fs::read(path).map_err(|e| format!("read {path}: {e}"))?;
            message = format!("ok; read {} bytes from {path}", data.len());
        }
        if let Some(path) = config.get("write").and_then(serde_json::Value::as_str) {
            std::fs::write(path, b"guest-well-behaved\n")
                .map_err(|e| format!("write {path}: {e}"))?;
            message = format!("{message}; wrote {path}");
        }

        Ok(vec![Finding {
            check: "well-behaved".into(),
            passed: true,
            severity: Severity::Info,
            subject: None,
            message,
        }])
    }
}
