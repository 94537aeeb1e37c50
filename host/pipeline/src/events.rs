//! What a run reports while it goes: the CLI renders these as progress, plain lines or JSON.

use std::time::Duration;

use serde::Serialize;

use compose_runtime::Finding;

/// One step of a plan or run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A plugin is being loaded: compiled, the first time, which may take seconds (a
    /// terminal shows it with its elapsed time), or read from the cache.
    PluginLoading {
        /// The stage using it.
        stage: String,
        /// The plugin as the stream names it.
        plugin: String,
    },
    /// A plugin was resolved and compiled (or loaded from the cache).
    PluginLoaded {
        /// The stage using it.
        stage: String,
        /// The plugin as the stream names it.
        plugin: String,
        /// The wasm digest.
        digest: String,
        /// Whether the compiled component came from the cache.
        cached: bool,
        /// Time to compile or load, in milliseconds.
        millis: f64,
    },
    /// An `oci://` plugin was pulled (or found in the plugin cache).
    PluginPulled {
        /// The stage using it.
        stage: String,
        /// The reference, without `oci://`.
        reference: String,
        /// The artifact manifest digest.
        manifest_digest: String,
        /// The component's digest.
        digest: String,
        /// Whether the component came from the plugin cache.
        cached: bool,
        /// Whether the registry was asked anything (false: pinned and cached, no network).
        contacted: bool,
        /// Time to resolve and pull, in milliseconds.
        millis: f64,
        /// Under a trust policy: the key that verified its signature, `KEY (sha256:…)`.
        #[serde(skip_serializing_if = "Option::is_none")]
        signed_by: Option<String>,
    },
    /// The base release was read.
    BaseLoaded {
        /// Its reference.
        reference: String,
        /// Its digest.
        digest: String,
        /// Its name.
        name: String,
        /// Number of images.
        images: usize,
        /// Number of manifests.
        manifests: usize,
    },
    /// A state directory was read: the run goes on from the stages it records.
    StateLoaded {
        /// The state directory.
        dir: String,
        /// The digest of the release as it stands in the state.
        digest: String,
        /// The stages that already ran (or were skipped) in it.
        stages: Vec<String>,
    },
    /// A selected stage already ran in the state with the same plugin and config: not run
    /// again.
    StageAlreadyRan {
        /// The stage.
        stage: String,
    },
    /// The state directory was saved after this process's stages.
    StateSaved {
        /// The state directory.
        dir: String,
        /// The digest of the release as it now stands.
        digest: String,
        /// The stages still to run, in order (empty: the release was published).
        pending: Vec<String>,
    },
    /// A stage started.
    StageStarted {
        /// The stage.
        stage: String,
        /// Its plugin.
        plugin: String,
        /// Its position, 1-based.
        index: usize,
        /// Number of stages.
        total: usize,
    },
    /// A stage finished successfully.
    StageFinished {
        /// The stage.
        stage: String,
        /// Instantiation time, in milliseconds.
        instantiate_millis: f64,
        /// Run time, in milliseconds.
        run_millis: f64,
        /// The stage's findings.
        findings: Vec<Finding>,
        /// For a check in parts: its parts whose findings were taken from the stage cache
        /// instead of running (see [`crate::stage_cache`]).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        reused_parts: Vec<String>,
        /// For a check in parts: how many parts it has (0 for other stages).
        #[serde(skip_serializing_if = "is_zero")]
        parts: usize,
    },
    /// A stage was not run: its result was taken from the stage cache, recorded by an
    /// earlier run with the same inputs (see [`crate::stage_cache`]).
    StageReused {
        /// The stage.
        stage: String,
        /// Its cache key (sha256 hex).
        key: String,
        /// When the result was recorded (RFC 3339).
        cached: String,
        /// The findings it reported then.
        findings: Vec<Finding>,
    },
    /// A stage was not run: it was granted an optional key that is absent.
    StageSkipped {
        /// The stage.
        stage: String,
        /// Why.
        reason: String,
    },
    /// The release is published without signatures.
    Unsigned {
        /// Why.
        reason: String,
    },
    /// Signatures were published with the release.
    Signed {
        /// OpenPGP signatures (store and lookaside).
        openpgp: usize,
        /// cosign-format signatures (the `.sig` manifest).
        cosign: usize,
        /// The store directory inside the output, if OpenPGP signatures were written.
        store: Option<String>,
        /// The cosign tag, if cosign-format signatures were written.
        cosign_tag: Option<String>,
    },
    /// The release's provenance was written (signed, as a `.att` attestation, or not).
    Provenance {
        /// The statement file.
        statement: String,
        /// The stream key that signed it.
        key: Option<String>,
        /// The attestation tag, when signed.
        tag: Option<String>,
        /// Why it is unsigned.
        unsigned: Option<String>,
    },
    /// The release image was built and written.
    Published {
        /// Release name.
        release: String,
        /// Manifest digest of the release image.
        digest: String,
        /// Where it was written.
        location: String,
    },
}

/// Receives events as a run goes.
pub trait Observer: Send + Sync {
    /// Called for every event, in order.
    fn event(&self, event: &Event);
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _event: &Event) {}
}

/// Milliseconds of a duration, for events, rounded to the microsecond so that the value
/// prints short and reads back (from a journal) as the same number.
pub(crate) fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// Whether a count is 0 (left out of the JSON).
fn is_zero(n: &usize) -> bool {
    *n == 0
}
