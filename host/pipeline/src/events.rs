//! What a run reports while it goes: the CLI renders these as progress, plain lines or JSON.

use std::time::Duration;

use serde::Serialize;

use compose_runtime::Finding;

/// One step of a plan or run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
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

/// Milliseconds of a duration, for events.
pub(crate) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
