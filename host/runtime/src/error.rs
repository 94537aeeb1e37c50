//! Errors of the sandbox. Every error about a stage names the stage and its plugin.

use std::path::PathBuf;
use std::time::Duration;

/// What can go wrong loading or running a plugin.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine could not be configured.
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),
    /// The compiled-component cache could not be used.
    #[error("compiled-plugin cache `{}`: {source}", path.display())]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid WebAssembly component.
    #[error("plugin `{plugin}` is not a valid WebAssembly component: {reason}")]
    Compile {
        /// The plugin.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// The component does not implement the stage world of this host.
    #[error("plugin `{plugin}` is not a compose stage: {reason}")]
    NotAStage {
        /// The plugin.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// The component was built against a version of the compose WIT package this host does
    /// not offer (see the compatibility rule in `wit/deps/okd-compose@0.2.0/stage.wit`).
    #[error(
        "plugin `{plugin}` was built against okd:compose@{found} (it uses `{interface}`), which this host does not offer: it offers okd:compose {offered}; rebuild the plugin against one of them, or run it with a compose that offers okd:compose@{found}"
    )]
    WitVersion {
        /// The plugin.
        plugin: String,
        /// The first import or export that names the other version.
        interface: String,
        /// The version the component was built against.
        found: String,
        /// The versions this host offers, e.g. `0.1.x, 0.2.x, 0.3.x`.
        offered: String,
    },
    /// The stage imports an interface it was not granted, or one this host does not provide.
    #[error(
        "stage `{stage}`: plugin `{plugin}` imports `{interface}`, which the stage may not use: {reason}"
    )]
    ImportNotGranted {
        /// The stage.
        stage: String,
        /// The plugin.
        plugin: String,
        /// The imported interface.
        interface: String,
        /// Why it is refused.
        reason: String,
    },
    /// A granted directory cannot be opened.
    #[error("stage `{stage}`: granted directory `{}` cannot be opened: {source}", path.display())]
    Grant {
        /// The stage.
        stage: String,
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The stage ran past its time limit.
    #[error("stage `{stage}`: plugin `{plugin}` ran past its time limit of {}s and was stopped", limit.as_secs_f64())]
    TimedOut {
        /// The stage.
        stage: String,
        /// The plugin.
        plugin: String,
        /// The limit.
        limit: Duration,
    },
    /// The stage tried to grow its memory past its limit.
    #[error("stage `{stage}`: plugin `{plugin}` tried to use more than its memory limit of {} MiB and was stopped", limit / (1024 * 1024))]
    MemoryLimit {
        /// The stage.
        stage: String,
        /// The plugin.
        plugin: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The stage wrote more into the payload than its output limit.
    #[error("stage `{stage}`: plugin `{plugin}` wrote more than its output limit of {} into the payload ({} attempted; raise `limits.output` of the stage if this is expected) and was stopped", show_bytes(*limit), show_bytes(*attempted))]
    OutputLimit {
        /// The stage.
        stage: String,
        /// The plugin.
        plugin: String,
        /// The limit in bytes.
        limit: u64,
        /// The bytes written, counting the write that was refused.
        attempted: u64,
    },
    /// The host refused a call of the stage that has no error result (an attachment of an
    /// unknown kind) and stopped it.
    #[error("stage `{stage}`: plugin `{plugin}` was stopped: {reason}")]
    Refused {
        /// The stage.
        stage: String,
        /// The plugin.
        plugin: String,
        /// What was refused and why.
        reason: String,
    },
    /// The guest trapped (a panic, an unreachable, an out-of-bounds access).
    #[error("stage `{stage}`: plugin `{plugin}` crashed: {reason}")]
    Trapped {
        /// The stage.
        stage: String,
        /// The plugin.
        plugin: String,
        /// The trap and the guest's last words on stderr.
        reason: String,
    },
    /// The stage returned an error.
    #[error("stage `{stage}`: plugin `{plugin}` failed: {message}")]
    StageFailed {
        /// The stage.
        stage: String,
        /// The plugin.
        plugin: String,
        /// The stage's message.
        message: String,
    },
}

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `bytes` for messages: `64 MiB`, `1.5 GiB`, `512 bytes`.
pub(crate) fn show_bytes(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = KIB * 1024;
    const GIB: u64 = MIB * 1024;
    let scaled = |unit: u64, name: &str| {
        if bytes.is_multiple_of(unit) {
            format!("{} {name}", bytes / unit)
        } else {
            format!("{:.1} {name}", bytes as f64 / unit as f64)
        }
    };
    match bytes {
        b if b >= GIB => scaled(GIB, "GiB"),
        b if b >= MIB => scaled(MIB, "MiB"),
        b if b >= KIB => scaled(KIB, "KiB"),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well_in_messages() {
        assert_eq!(show_bytes(64 << 20), "64 MiB");
        assert_eq!(show_bytes(3 << 29), "1.5 GiB");
        assert_eq!(show_bytes(2048), "2 KiB");
        assert_eq!(show_bytes(12), "12 bytes");
    }
}
