//! A read-only check in parts, built against `okd:compose@0.3.0`, world `parted-check`: it
//! proves the host lists the parts, runs each in its own instance, reuses unchanged ones, and
//! keeps every call read-only.
//!
//! Its config:
//! - `parts`: the parts `parts` lists, `[{ id = "a", settings = "1" }, …]`;
//! - `fail`: a part id whose finding fails with severity `error`;
//! - `write`: a part id that first tries to write a manifest (the host must stop it);
//! - `query`: a table part id → image reference that part reads the config of;
//! - `registry-in-parts`: a reference `parts` tries to resolve (the host must refuse it);
//! - `spin-ms`: how long each part computes before it reports (the stage's one time limit
//!   covers them all).
//!
//! Each part reports one finding whose `check` is the part id and whose message names how many
//! calls this instance had served (1 when each part gets an instance of its own), the number
//! of manifests it read and what its query answered.

use bindings::exports::okd::compose0_3_0::check_parts::{Guest, Part};
use bindings::okd::compose0_2_0::log::{Level, log};
use bindings::okd::compose0_2_0::registry;
use bindings::okd::compose0_2_0::release::Payload;
use bindings::okd::compose0_2_0::types::{Finding, Info, Severity};

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "okd:compose/parted-check@0.3.0",
        generate_all,
    });

    use super::Parted;
    export!(Parted);
}

struct Parted;

/// Calls this instance served: an instance serving two parts would count 2.
static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn parse(config: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(config).map_err(|e| format!("config: {e}"))
}

impl Guest for Parted {
    fn describe() -> Info {
        Info {
            name: "guest-parted".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "A read-only check in parts of okd:compose@0.3.0".into(),
            config_schema: None,
        }
    }

    fn parts(config: String) -> Result<Vec<Part>, String> {
        let config = parse(&config)?;
        if let Some(reference) = config["registry-in-parts"].as_str() {
            return match registry::resolve(reference) {
                Ok(digest) => Err(format!(
                    "the registry answered while listing parts: {digest}"
                )),
                Err(e) => Err(format!("the registry refused while listing parts: {e}")),
            };
        }
        let listed = config["parts"].as_array().cloned().unwrap_or_default();
        Ok(listed
            .iter()
            .map(|p| Part {
                id: p["id"].as_str().unwrap_or_default().to_string(),
                settings: p["settings"].as_str().unwrap_or_default().to_string(),
            })
            .collect())
    }

    fn run_part(config: String, part: String, release: &Payload) -> Result<Vec<Finding>, String> {
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let config = parse(&config)?;
        if let Some(ms) = config["spin-ms"].as_u64() {
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_millis(ms) {
                std::hint::spin_loop();
            }
        }
        if config["write"].as_str() == Some(part.as_str()) {
            release
                .write_manifest(
                    "0000_99_guest-parted.yaml",
                    "apiVersion: v1\nkind: ConfigMap\n",
                )
                .map_err(|e| format!("write-manifest: {e}"))?;
        }
        let answer = match config["query"][part.as_str()].as_str() {
            Some(reference) => match registry::image_config(reference) {
                Ok(text) => format!("config of {} bytes", text.len()),
                Err(e) => format!("no config: {e}"),
            },
            None => "no query".to_string(),
        };
        let failed = config["fail"].as_str() == Some(part.as_str());
        log(Level::Info, &format!("part {part} ran"));
        Ok(vec![Finding {
            check: part.clone(),
            passed: !failed,
            severity: if failed {
                Severity::Error
            } else {
                Severity::Info
            },
            subject: None,
            message: format!(
                "call {call} of its instance, {} manifests, {answer}",
                release.manifests().len()
            ),
        }])
    }
}
