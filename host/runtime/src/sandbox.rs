//! What a stage runs with (its [`StageSpec`]: config, [`Grants`], [`Limits`]), and the check of a
//! plugin's imports against its grants, which each import's capability judges
//! ([`crate::capability`]).

use std::time::Duration;

use crate::capability::{self, Grants};
use crate::engine::Plugin;
use crate::error::{Error, Result};

/// The memory a stage gets when its stream sets no `limits.memory`: 256 MiB.
pub const DEFAULT_MEMORY: u64 = 256 * 1024 * 1024;
/// The wall time of one call into a stage when its stream sets no `limits.timeout`: 60 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A stage's resource limits as its stream sets them; `None` is the runtime's default (the
/// `effective_*` methods say what applies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory, in bytes, summed over the component's memories ([`DEFAULT_MEMORY`]).
    pub memory: Option<u64>,
    /// Bytes the stage may write into the payload (manifests, metadata, images, attachments),
    /// counted as it writes; `None`: [`crate::default_output_limit`] of the payload the stage
    /// receives.
    pub output: Option<u64>,
    /// Wall time of one call into the stage ([`DEFAULT_TIMEOUT`]).
    pub timeout: Option<Duration>,
}

impl Limits {
    /// The memory limit that applies.
    pub fn effective_memory(&self) -> u64 {
        self.memory.unwrap_or(DEFAULT_MEMORY)
    }

    /// The time limit that applies.
    pub fn effective_timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }
}

/// Everything the sandbox needs to know about one stage.
#[derive(Debug, Clone)]
pub struct StageSpec {
    /// The stage name (for logs and errors).
    pub stage: String,
    /// The stage's `config` as JSON.
    pub config_json: String,
    /// What it was granted.
    pub grants: Grants,
    /// Its limits.
    pub limits: Limits,
}

/// One import of a plugin, judged against a stage's grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportStatus {
    /// The imported interface as the component names it (`okd:compose/registry@0.1.0`).
    pub interface: String,
    /// Whether the stage may use it.
    pub granted: bool,
    /// Why, in a few words (`always`, `repositories quay.io/okd/*`, `no grants.keys`).
    pub reason: String,
}

/// Every import of `plugin`, judged against `grants`, in the component's order.
pub fn import_status(plugin: &Plugin, grants: &Grants) -> Vec<ImportStatus> {
    plugin
        .imports()
        .iter()
        .map(|interface| {
            let verdict = capability::judge(interface, grants);
            ImportStatus {
                interface: interface.clone(),
                granted: verdict.granted,
                reason: verdict.reason,
            }
        })
        .collect()
}

/// Refuses a stage whose plugin imports something it was not granted, or whose granted
/// directories cannot be opened. Runs before any guest code.
pub fn check_grants(plugin: &Plugin, spec: &StageSpec) -> Result<()> {
    if let Some(refused) = import_status(plugin, &spec.grants)
        .into_iter()
        .find(|s| !s.granted)
    {
        return Err(Error::ImportNotGranted {
            stage: spec.stage.clone(),
            plugin: plugin.label().to_string(),
            interface: refused.interface,
            reason: refused.reason,
        });
    }
    capability::files::check_readable(&spec.grants, &spec.stage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_limits_are_the_runtime_defaults() {
        let unset = Limits::default();
        assert_eq!(unset.effective_memory(), 256 << 20);
        assert_eq!(unset.effective_timeout(), Duration::from_secs(60));
        let set = Limits {
            memory: Some(64 << 20),
            output: None,
            timeout: Some(Duration::from_secs(5)),
        };
        assert_eq!(set.effective_memory(), 64 << 20);
        assert_eq!(set.effective_timeout(), Duration::from_secs(5));
    }
}
