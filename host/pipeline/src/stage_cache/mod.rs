//! Incremental reruns: every stage's result is recorded, keyed by what determines it, and a
//! rerun reuses the longest prefix of stages whose inputs did not change.
//!
//! What determines a stage's result is in its key (see [`key`]): the key of the stage before
//! it (so, in the end, the base release and the stream fields the working payload is made
//! from), its plugin, its config, grants, limits and granted files, and the compose build.
//! The registry answers it got are recorded in its entry and asked again before it is reused.
//! An entry holds the stage's effect as a delta against its input and its report; reusing a
//! stage applies the delta, so the release is the one a full run makes, byte for byte.
//!
//! A check in parts (`okd:compose/check-parts`) is also kept part by part (see [`parts`]): when
//! its stage's config changed, only the parts whose settings or answers changed run.
//!
//! Never reused: a stage granted keys (it signs: a signature is made again, by the key), a
//! stage with `cache = false` in the stream, and a stage whose plugin declares itself
//! non-deterministic with a [`NONDETERMINISTIC_SECTION`] custom section. Every stage after
//! the first one that runs runs too. Stage-at-a-time runs (`--state`) do not use the cache.

mod delta;
mod key;
mod parts;
mod record;
mod store;

use std::path::PathBuf;
use std::sync::Arc;

use compose_payload::Release;
use compose_runtime::{RegistryQuery, StageSpec};
use compose_stream::Stream;

use crate::plan::PlannedStage;
use crate::report::StageReport;

pub use crate::component::{NONDETERMINISTIC_SECTION, declares_nondeterministic};
pub(crate) use parts::PartCache;
pub use store::{DEFAULT_MAX_BYTES, Error, SIZE_ENV};

/// Where the stage cache is and whether a run may reuse it.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// The cache directory (`<cache dir>/stages`, beside the compiled plugins).
    pub dir: PathBuf,
    /// Whether entries may be reused (`false`: `--no-cache`, every stage runs and its entry
    /// is written again).
    pub reuse: bool,
}

impl CacheOptions {
    /// The stage cache inside the cache directory `cache_dir`.
    pub fn in_cache_dir(cache_dir: &std::path::Path, reuse: bool) -> Self {
        CacheOptions {
            dir: cache_dir.join("stages"),
            reuse,
        }
    }
}

/// Built release layers kept in the stage cache (`<cache dir>/stages/layers/`), by diff ID:
/// a run whose release tar is one a run built before takes its compressed layer from there
/// (checked by [`compose_payload::build_release_layer_with`]) instead of compressing it again.
pub(crate) struct Layers {
    store: store::Store,
    /// Whether kept layers may be used (`false`: `--no-cache`; layers are still kept).
    reuse: bool,
}

impl Layers {
    /// The layers of the stage cache `options`; `None` when it cannot be created.
    pub fn open(options: &CacheOptions) -> Option<Layers> {
        Some(Layers {
            store: store::Store::open(&options.dir)?,
            reuse: options.reuse,
        })
    }
}

impl compose_payload::LayerCache for Layers {
    fn get(&self, diff_id: &str) -> Option<Vec<u8>> {
        let hex = diff_id.strip_prefix("sha256:")?;
        self.reuse.then(|| self.store.layer(hex)).flatten()
    }

    fn put(&self, diff_id: &str, gzip: &[u8]) {
        let Some(hex) = diff_id.strip_prefix("sha256:") else {
            return;
        };
        if let Err(e) = self.store.put_layer(hex, gzip) {
            tracing::warn!("the release layer is not kept for the next run: {e}");
        }
    }
}

/// A stage reused from the cache.
pub(crate) struct Reused {
    /// Its key.
    pub key: String,
    /// When its entry was recorded (RFC 3339).
    pub cached: String,
    /// Its report, as recorded (run times zero: it did not run).
    pub report: StageReport,
}

/// A stage about to run whose result will be recorded.
pub(crate) struct Recording {
    key: String,
    before: Before,
    registry: Arc<record::Recording>,
}

/// The payload as a stage about to run received it, as much as its delta needs.
enum Before {
    /// A stage that may change anything.
    Snapshot(Box<delta::Snapshot>),
    /// A read-only check: only the attachments can change (the host's signature
    /// verification report), so the manifests are not hashed.
    Attachments(Vec<compose_payload::Attachment>),
}

impl Recording {
    /// The registry the stage must be given (it records the queries).
    pub fn registry(&self) -> Arc<dyn RegistryQuery> {
        self.registry.clone()
    }
}

/// The cache as one run goes through its stages.
pub(crate) struct Run {
    store: Option<store::Store>,
    /// The key of the last stage (or of the prepared payload); `None`: not computable, the
    /// rest of the run is not recorded.
    key: Option<String>,
    /// The key before the current stage's (see [`Run::next`]).
    previous: Option<String>,
    /// Whether stages may still be reused (no stage ran yet).
    reusing: bool,
    /// Whether the current stage may be reused, decided by [`Run::next`]: its parts may be
    /// even when the stage as a whole is not.
    reusing_current: bool,
    /// The snapshot of the payload as it stands, when the last stage was recorded.
    snapshot: Option<delta::Snapshot>,
    /// Whether something was written (the size bound is then checked).
    wrote: bool,
}

/// Whether a stage's result may be reused at all.
fn reusable(planned: &PlannedStage) -> bool {
    planned.stage.cache && planned.stage.grants.keys.is_empty() && !planned.nondeterministic
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Run {
    /// No cache: every stage runs and nothing is recorded.
    pub fn disabled() -> Self {
        Run {
            store: None,
            key: None,
            previous: None,
            reusing: false,
            reusing_current: false,
            snapshot: None,
            wrote: false,
        }
    }

    /// The cache of a run of `stream` from the base release `base_digest`.
    pub fn start(
        options: &CacheOptions,
        stream: &Stream,
        base_digest: &str,
        source_date_epoch: Option<u64>,
    ) -> Self {
        let Some(store) = store::Store::open(&options.dir) else {
            return Run::disabled();
        };
        Run {
            store: Some(store),
            key: key::base_key(stream, base_digest, source_date_epoch),
            previous: None,
            reusing: options.reuse,
            reusing_current: options.reuse,
            snapshot: None,
            wrote: false,
        }
    }

    /// A stage was skipped (it changed nothing).
    pub fn skipped(&mut self, stage: &str) {
        self.key = self.key.as_deref().and_then(|k| key::skipped_key(k, stage));
    }

    /// Moves on to `planned` (run with `spec`): computes its key. Call once per stage that is
    /// not skipped, before [`Run::reuse`] or [`Run::record`].
    pub fn next(&mut self, planned: &PlannedStage, spec: &StageSpec) {
        if self.store.is_none() {
            return;
        }
        self.reusing_current = self.reusing;
        self.previous = self.key.take();
        self.key = self
            .previous
            .as_deref()
            .and_then(|k| key::stage_key(k, &planned.digest, spec));
    }

    /// The parts cache of the stage `recording` records (run with `spec`), for a check in
    /// parts: its parts are reused while the stage could have been.
    pub fn parts(
        &self,
        recording: &Recording,
        planned: &PlannedStage,
        spec: &StageSpec,
    ) -> Option<PartCache> {
        let store = self.store.clone()?;
        let previous = self.previous.as_deref()?;
        Some(PartCache {
            store,
            base: key::parts_base_key(previous, &planned.digest, spec)?,
            reuse: self.reusing_current,
            stage: planned.stage.name.clone(),
            plugin: planned.label.clone(),
            digest: planned.digest.clone(),
            registry: recording.registry.clone(),
        })
    }

    /// Applies the stage's recorded result to `release` if it may be reused and every
    /// registry answer it got is still the same; otherwise leaves `release` as it is, and
    /// every later stage runs.
    pub fn reuse(
        &mut self,
        planned: &PlannedStage,
        registry: &dyn RegistryQuery,
        release: &mut Release,
    ) -> Option<Reused> {
        let hit = self.lookup(planned, registry, release);
        if hit.is_none() {
            self.reusing = false;
        }
        hit
    }

    fn lookup(
        &mut self,
        planned: &PlannedStage,
        registry: &dyn RegistryQuery,
        release: &mut Release,
    ) -> Option<Reused> {
        if !self.reusing || !reusable(planned) {
            return None;
        }
        let store = self.store.as_ref()?;
        let key = self.key.as_deref()?;
        let entry = store.entry(key)?;
        if entry.report.stage != planned.stage.name
            || entry.part.is_some()
            || !record::same_answers(registry, &entry.queries)
        {
            return None;
        }
        let resolved = entry.delta.resolve(&|hex| store.blob(hex))?;
        resolved.apply(release);
        store.touch(&entry);
        self.snapshot = None;
        let mut report = entry.report;
        report.plugin = planned.label.clone();
        report.instantiate_millis = 0.0;
        report.run_millis = 0.0;
        Some(Reused {
            key: entry.key,
            cached: compose_payload::timestamp::format_rfc3339_utc(entry.created),
            report,
        })
    }

    /// Starts recording a stage about to run on `release`; `None` when its result will not be
    /// recorded (see [`reusable`]), and then the payload's snapshot is dropped.
    pub fn recording(
        &mut self,
        planned: &PlannedStage,
        release: &Release,
        registry: &Arc<dyn RegistryQuery>,
    ) -> Option<Recording> {
        self.reusing = false;
        let key = match (&self.store, &self.key) {
            (Some(_), Some(key)) if reusable(planned) => key.clone(),
            _ => {
                self.snapshot = None;
                return None;
            }
        };
        let read_only = planned.plugin().is_ok_and(|plugin| plugin.is_check());
        let before = if read_only {
            Before::Attachments(release.attachments.clone())
        } else {
            Before::Snapshot(Box::new(
                self.snapshot
                    .take()
                    .unwrap_or_else(|| delta::Snapshot::of(release)),
            ))
        };
        Some(Recording {
            key,
            before,
            registry: Arc::new(record::Recording::new(registry.clone())),
        })
    }

    /// Records what a stage did: `release` is its output, `report` its report (its findings
    /// all passed, or failed without severity `error`). A failure to write is a warning.
    pub fn record(&mut self, recording: Recording, release: &Release, report: &StageReport) {
        let Some(store) = &self.store else { return };
        let (delta, blobs) = match &recording.before {
            Before::Snapshot(before) => {
                let (delta, blobs, after) = delta::Delta::between(before, release);
                self.snapshot = Some(after);
                (delta, blobs)
            }
            Before::Attachments(before) => {
                let delta = delta::Delta::of_attachments(before, release);
                if delta != delta::Delta::default() {
                    // The kept snapshot has the old attachments: the next stage makes one.
                    self.snapshot = None;
                }
                (delta, Vec::new())
            }
        };
        let Some(queries) = recording.registry.queries() else {
            return;
        };
        let entry = store::Entry {
            format: key::FORMAT,
            key: recording.key,
            stage: report.stage.clone(),
            created: now(),
            queries,
            part: None,
            delta,
            report: report.clone(),
        };
        match store.write(&entry, &blobs) {
            Ok(()) => self.wrote = true,
            Err(e) => tracing::warn!("the stage cache: {e}"),
        }
    }

    /// Ends the run: keeps the cache under its size bound.
    pub fn finish(self) {
        if let (Some(store), true) = (&self.store, self.wrote) {
            store.evict();
        }
    }
}
