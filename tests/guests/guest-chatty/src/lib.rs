//! A stage that writes a lot: `{"stdout": N, "stderr": N, "log": N}` in its config are the
//! bytes it writes to stdout, to stderr and in `log` lines (80-byte numbered lines each). It
//! proves one cap bounds all of a stage's output and that a stage past it is not crashed: it
//! returns a passing finding only if every write succeeded.
//!
//! Imports only `log` (and `release`, through `stage`).

use std::io::Write;

use bindings::exports::okd::compose::stage::{Finding, Guest, Info, Severity};
use bindings::okd::compose::log::{Level, log};
use bindings::okd::compose::release::Payload;

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package okd-test:guest;

            world chatty {
                import okd:compose/log@0.1.0;
                export okd:compose/stage@0.1.0;
            }
        ",
        path: "../../../wit/deps/okd-compose@0.1.0",
        world: "okd-test:guest/chatty",
        generate_all,
    });

    use super::Chatty;
    export!(Chatty);
}

/// One numbered line of about 80 bytes.
fn line(what: &str, n: u64) -> String {
    format!("guest-chatty {what} line {n:08} {}", "x".repeat(48))
}

/// Writes `bytes` worth of lines to `out`.
fn flood(out: &mut dyn Write, what: &str, bytes: u64) -> std::io::Result<()> {
    let mut written = 0;
    let mut n = 0;
    while written < bytes {
        let text = line(what, n);
        writeln!(out, "{text}")?;
        written += text.len() as u64 + 1;
        n += 1;
    }
    out.flush()
}

struct Chatty;

impl Guest for Chatty {
    fn describe() -> Info {
        Info {
            name: "guest-chatty".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Writes as much output as its config asks".into(),
            config_schema: None,
        }
    }

    fn run(config: String, _release: &Payload) -> Result<Vec<Finding>, String> {
        let config: serde_json::Value =
            serde_json::from_str(&config).map_err(|e| format!("config: {e}"))?;
        let amount = |key: &str| config.get(key).and_then(serde_json::Value::as_u64);
        log(Level::Info, "guest-chatty: running");
        if let Some(bytes) = amount("log") {
            let mut written = 0;
            let mut n = 0;
            while written < bytes {
                let text = line("log", n);
                log(Level::Info, &text);
                written += text.len() as u64 + 1;
                n += 1;
            }
        }
        let mut failures = Vec::new();
        if let Some(bytes) = amount("stdout")
            && let Err(e) = flood(&mut std::io::stdout().lock(), "stdout", bytes)
        {
            failures.push(format!("stdout: {e}"));
        }
        if let Some(bytes) = amount("stderr")
            && let Err(e) = flood(&mut std::io::stderr().lock(), "stderr", bytes)
        {
            failures.push(format!("stderr: {e}"));
        }
        Ok(vec![Finding {
            check: "every-write-succeeded".into(),
            passed: failures.is_empty(),
            severity: Severity::Error,
            subject: None,
            message: if failures.is_empty() {
                "every write succeeded".into()
            } else {
                failures.join("; ")
            },
        }])
    }
}
