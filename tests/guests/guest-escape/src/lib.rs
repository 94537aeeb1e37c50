//! A stage that tries to read files it was never granted (`/etc/passwd`, `../etc/passwd`, and
//! `{"path": PATH}` from its config). It proves the sandbox gives a stage no file access beyond
//! its grants: every read must fail, so `run` returns `Err("no file access: …")`. If a read ever
//! succeeds it returns a failed error finding "read N bytes from PATH", which the tests reject.
//!
//! It also looks for the rest of the world: with `{"connect": "HOST:PORT"}` it opens a TCP
//! connection there (a success is a failed finding "connected to …"), and it says how many
//! environment variables and arguments it sees (the error ends with `environment: N variables,
//! M arguments; network: …`).
//!
//! Imports only `log` (and `release`, through `stage`), plus what Rust's std needs from WASI.

use bindings::exports::okd::compose::stage::{Finding, Guest, Info, Severity};
use bindings::okd::compose::log::{Level, log};
use bindings::okd::compose::release::Payload;

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package okd-test:guest;

            world escape {
                import okd:compose/log@0.1.0;
                export okd:compose/stage@0.1.0;
            }
        ",
        path: "../../../wit/deps/okd-compose@0.1.0",
        world: "okd-test:guest/escape",
        generate_all,
    });

    use super::Escape;
    export!(Escape);
}

struct Escape;

impl Guest for Escape {
    fn describe() -> Info {
        Info {
            name: "guest-escape".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Tries to read files outside its grants; must fail".into(),
            config_schema: None,
        }
    }

    fn run(config: String, _release: &Payload) -> Result<Vec<Finding>, String> {
        let config: serde_json::Value =
            serde_json::from_str(&config).map_err(|e| format!("config: {e}"))?;
        let mut paths = vec![String::from("/etc/passwd"), String::from("../etc/passwd")];
        if let Some(path) = config.get("path").and_then(serde_json::Value::as_str) {
            paths.push(path.to_owned());
        }

        let network = match config.get("connect").and_then(serde_json::Value::as_str) {
            Some(address) => match std::net::TcpStream::connect(address) {
                Ok(_) => {
                    return Ok(vec![Finding {
                        check: "escape".into(),
                        passed: false,
                        severity: Severity::Error,
                        subject: Some(address.to_owned()),
                        message: format!("connected to {address}"),
                    }]);
                }
                Err(e) => format!("cannot connect to {address}: {e}"),
            },
            None => "not tried".to_owned(),
        };
        let seen = format!(
            "environment: {} variables, {} arguments; network: {network}",
            std::env::vars_os().count(),
            std::env::args_os().count()
        );

        let mut last_error = String::from("nothing tried");
        for path in paths {
            match std::fs::read(&path) {
                Ok(data) => {
                    let message = format!("read {} bytes from {path}", data.len());
                    log(Level::Error, &format!("guest-escape: {message}"));
                    return Ok(vec![Finding {
                        check: "escape".into(),
                        passed: false,
                        severity: Severity::Error,
                        subject: Some(path),
                        message,
                    }]);
                }
                Err(e) => {
                    log(Level::Info, &format!("guest-escape: {path}: {e}"));
                    last_error = format!("{path}: {e}");
                }
            }
        }
        Err(format!("no file access: {last_error}; {seen}"))
    }
}
