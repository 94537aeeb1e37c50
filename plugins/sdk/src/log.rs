//! Log lines from the stage, through the always-granted `okd:compose/log` import.
//!
//! The host shows each line tagged with the stage name. On a non-wasm target (native unit
//! tests) there is no host: the line goes to stderr instead, so logic that logs stays testable.

use crate::Level;

/// Writes one line to the run's log at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::okd::compose0_2_0::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{}] {message}", level_name(level));
}

/// Writes one line at `trace` level.
pub fn trace(message: impl AsRef<str>) {
    log(Level::Trace, message.as_ref());
}

/// Writes one line at `debug` level.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message.as_ref());
}

/// Writes one line at `info` level.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message.as_ref());
}

/// Writes one line at `warn` level.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message.as_ref());
}

/// Writes one line at `error` level.
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message.as_ref());
}

/// The lowercase name of a level, as the WIT spells it.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logging_natively_does_not_call_the_import() {
        // Would panic if it reached the wit-bindgen stub.
        info("hello");
        warn(String::from("careful"));
        assert_eq!(level_name(Level::Warn), "warn");
    }
}
