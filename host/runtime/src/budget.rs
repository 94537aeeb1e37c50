//! The bounds of one stage run besides its deadline: the memory limiter of its store, its
//! output budget (`limits.output`), and why the host stopped it.

use compose_payload::Release;

/// Tracks and bounds the memory of one store.
pub(crate) struct MemoryLimiter {
    /// The limit in bytes.
    pub limit: u64,
    /// The largest size any memory asked for.
    pub peak: u64,
    /// Set when a growth was refused.
    pub breached: bool,
    /// Bytes in use per memory, summed against the limit.
    in_use: u64,
}

impl MemoryLimiter {
    pub fn new(limit: u64) -> Self {
        MemoryLimiter {
            limit,
            peak: 0,
            breached: false,
            in_use: 0,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current) as u64;
        let total = self.in_use.saturating_add(growth);
        if total > self.limit {
            self.breached = true;
            return Ok(false);
        }
        self.in_use = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// The least default output limit: 64 MiB.
pub const MIN_DEFAULT_OUTPUT: u64 = 64 * 1024 * 1024;
/// The default output limit is this many times the manifest bytes of the payload.
pub const DEFAULT_OUTPUT_FACTOR: u64 = 4;

/// The bytes of the manifests of `release` (names and contents).
pub(crate) fn manifest_bytes(release: &Release) -> u64 {
    release
        .manifests
        .iter()
        .map(|(name, text)| (name.len() + text.len()) as u64)
        .sum()
}

/// The output limit of a stage whose stream sets none: [`DEFAULT_OUTPUT_FACTOR`] times the
/// manifest bytes of the payload the stage receives, and at least [`MIN_DEFAULT_OUTPUT`].
pub fn default_output_limit(release: &Release) -> u64 {
    manifest_bytes(release)
        .saturating_mul(DEFAULT_OUTPUT_FACTOR)
        .max(MIN_DEFAULT_OUTPUT)
}

/// What one stage has written into the payload, against its `limits.output`.
pub(crate) struct OutputBudget {
    /// The limit in bytes.
    pub limit: u64,
    /// Bytes written so far (every write counts, a rewrite of the same file again).
    pub written: u64,
}

impl OutputBudget {
    /// The budget of a stage receiving `release`: `limit`, or the default for `release`.
    pub fn new(limit: Option<u64>, release: &Release) -> Self {
        OutputBudget {
            limit: limit.unwrap_or_else(|| default_output_limit(release)),
            written: 0,
        }
    }
}

/// Why the host stopped a stage in one of its calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A write past `limits.output`.
    Output {
        /// The limit.
        limit: u64,
        /// The bytes written with the refused write.
        attempted: u64,
    },
    /// A call refused without an error result to return.
    Refused(String),
}

impl Stop {
    /// The runtime error of a stage stopped for this reason.
    pub fn error(&self, stage: &str, plugin: &str) -> crate::error::Error {
        match self {
            Stop::Output { limit, attempted } => crate::error::Error::OutputLimit {
                stage: stage.to_string(),
                plugin: plugin.to_string(),
                limit: *limit,
                attempted: *attempted,
            },
            Stop::Refused(reason) => crate::error::Error::Refused {
                stage: stage.to_string(),
                plugin: plugin.to_string(),
                reason: reason.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn the_default_output_limit_is_four_times_the_manifests_and_at_least_64_mib() {
        let mut release = Release::new("4.17.0-okd-scos.0", "2024-09-03T00:00:00Z");
        assert_eq!(default_output_limit(&release), MIN_DEFAULT_OUTPUT);
        release
            .manifests
            .insert("a.yaml".into(), "x".repeat(20 << 20));
        assert_eq!(default_output_limit(&release), 4 * ((20 << 20) + 6));
        assert_eq!(OutputBudget::new(Some(10), &release).limit, 10);
    }
}
