//! `okd:compose/log`: log lines from a stage, always granted, logged with the stage's name and
//! capped with the rest of what the guest writes for people ([`crate::output`]).

use wasmtime::component::{HasSelf, Linker};

use super::StageState;
use super::Verdict;
use crate::bindings::v0_1::okd::compose::log as v0_1;
use crate::bindings::v0_2::okd::compose0_2_0::log as v0_2;

/// The verdict on `okd:compose/<own>`, if this capability owns it.
pub(crate) fn judge(own: &str) -> Option<Verdict> {
    (own == "log").then(|| Verdict::granted("always"))
}

/// Links `log` of every released version.
pub(crate) fn link(linker: &mut Linker<StageState>) -> wasmtime::Result<()> {
    v0_1::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    v0_2::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
}

impl v0_2::Host for StageState {
    fn log(&mut self, level: v0_2::Level, message: String) {
        if !self.guest_output.admit_log(message.len()) {
            return;
        }
        let (stage, plugin) = (self.stage.as_str(), self.plugin.as_str());
        match level {
            v0_2::Level::Trace => tracing::trace!(stage, plugin, "{message}"),
            v0_2::Level::Debug => tracing::debug!(stage, plugin, "{message}"),
            v0_2::Level::Info => tracing::info!(stage, plugin, "{message}"),
            v0_2::Level::Warn => tracing::warn!(stage, plugin, "{message}"),
            v0_2::Level::Error => tracing::error!(stage, plugin, "{message}"),
        }
    }
}

/// 0.1.0: the same call, its level converted.
impl v0_1::Host for StageState {
    fn log(&mut self, level: v0_1::Level, message: String) {
        let level = match level {
            v0_1::Level::Trace => v0_2::Level::Trace,
            v0_1::Level::Debug => v0_2::Level::Debug,
            v0_1::Level::Info => v0_2::Level::Info,
            v0_1::Level::Warn => v0_2::Level::Warn,
            v0_1::Level::Error => v0_2::Level::Error,
        };
        v0_2::Host::log(self, level, message);
    }
}
