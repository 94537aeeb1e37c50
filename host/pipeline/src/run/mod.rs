//! Running a plan: load the base release, run every stage in its sandbox, check the result,
//! build the release image and publish it. Nothing is written unless every stage passed.
//!
//! A [`Run`] is set up once ([`Run::new`]: the grants, the output, the state and its stage
//! selection, the keys and the registry view), then [`Run::execute`]s: the stage loop
//! ([`stages`]), then the release is built ([`build`]) and saved or published ([`publish`]).

mod build;
mod publish;
mod stages;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use compose_registry::{Mirrors, read_release_image};
use compose_runtime::Runtime;

use crate::error::{Error, Result};
use crate::events::{Event, Observer, millis};
use crate::plan::Plan;
use crate::signing::{self, RunKeys};
use crate::sources::parse_reference;
use crate::state::{Journal, LoadedState, Selected, StateOptions};

pub use crate::report::StageReport;
pub(crate) use stages::{finish_stage, host_services, run_planned};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The output OCI layout directory.
    pub out: PathBuf,
    /// `SOURCE_DATE_EPOCH`, if set: the creation time of the release.
    pub source_date_epoch: Option<u64>,
    /// The stream's registry view, built once by the caller and shared with what it read
    /// before the run (the lock check, `oci://` plugins): its mirrors, then the real registries
    /// (see [`crate::sources::mirrors_with`]). `None`: the run builds the view of the
    /// stream's mirrors alone ([`crate::sources::mirrors`]).
    pub mirrors: Option<Arc<Mirrors>>,
    /// Fail unless the release is signed (every declared key available, a signature made).
    pub require_signed: bool,
    /// Stage at a time: carry the run in a state directory and run only the selected stages
    /// (see [`crate::state`]). `None`: run every stage in this process.
    pub state: Option<StateOptions>,
    /// The stage cache: stages whose inputs did not change since a run recorded them are
    /// reused (see [`crate::stage_cache`]). `None`: every stage runs and nothing is recorded.
    /// Stage-at-a-time runs do not use it.
    pub stage_cache: Option<crate::stage_cache::CacheOptions>,
}

/// What a successful run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// The stream.
    pub stream: String,
    /// The release name.
    pub release: String,
    /// The release image's manifest digest (with a state: of the release as it stands after
    /// this process's stages; once every stage ran, the published digest).
    pub digest: String,
    /// The output directory.
    pub out: PathBuf,
    /// Whether the release was published to `out` (false: stages are still to run).
    pub published: bool,
    /// The state directory, for a stage-at-a-time run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<PathBuf>,
    /// The stages still to run (stage-at-a-time runs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
    /// Reports of the stages this process ran.
    pub stages: Vec<StageReport>,
    /// Wall time of the whole run, milliseconds.
    pub total_millis: f64,
    /// The signatures published with the release.
    pub signatures: compose_signing::publish::Published,
    /// The provenance published with the release (see [`crate::provenance`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::provenance::ProvenanceOutcome>,
}

/// Runs a plan (or, with [`RunOptions::state`], the selected stages of it) and publishes the
/// release into `options.out` once every stage ran: [`Run::new`], then [`Run::execute`].
pub async fn run(
    runtime: &Runtime,
    plan: &Plan,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<RunOutcome> {
    Run::new(plan, options, observer)?
        .execute(runtime, observer)
        .await
}

/// The state directory of [`RunOptions::state`] as the caller read it, once, before planning
/// (what [`crate::state::load`] returned): the stages it chose to compile plugins for and the
/// stages the run continues from are decided on the same journal.
pub struct StateRead(pub Option<LoadedState>);

impl StateRead {
    /// Reads the state directory `dir` ([`crate::state::load`]).
    pub fn load(dir: &std::path::Path) -> Result<Self> {
        crate::state::load(dir).map(StateRead)
    }

    /// How many stages the state records (0 for a run that has not started).
    pub fn recorded_stages(&self) -> usize {
        self.0.as_ref().map_or(0, |l| l.journal.stages.len())
    }
}

/// [`run`] continuing from a state the caller read ([`StateRead`]) instead of reading it again.
pub async fn run_from_state(
    runtime: &Runtime,
    plan: &Plan,
    options: &RunOptions,
    state: StateRead,
    observer: &dyn Observer,
) -> Result<RunOutcome> {
    Run::with_state(plan, options, Some(state), observer)?
        .execute(runtime, observer)
        .await
}

/// One run of a plan, with everything decided before the first stage: each is done once.
pub struct Run<'a> {
    /// The plan.
    plan: &'a Plan,
    /// How to run.
    options: &'a RunOptions,
    /// When the run began.
    started: Instant,
    /// The state as loaded, when there is one.
    loaded: Option<LoadedState>,
    /// How many stages the state records.
    done: usize,
    /// The stages this process runs.
    selected: Selected,
    /// `SOURCE_DATE_EPOCH`: this process's, or the one the state's run started with.
    source_date_epoch: Option<u64>,
    /// The stream's keys.
    keys: RunKeys,
    /// The stream's registry view.
    mirrors: Arc<Mirrors>,
    /// Release layers built before, when the stage cache is used.
    layers: Option<Arc<crate::stage_cache::Layers>>,
}

/// What the stage loop carries from stage to stage.
struct Working {
    /// The release as the stages left it.
    release: compose_payload::Release,
    /// The journal, one entry per stage that ran or was skipped.
    journal: Journal,
    /// The reports of the stages this process ran (or reused).
    reports: Vec<StageReport>,
}

impl<'a> Run<'a> {
    /// Sets up a run of `plan`: checks every loaded plugin against its grants and the output
    /// against the run's inputs, loads the state (with `options.state`) and selects the stages
    /// to run, loads the keys, and builds the registry view unless `options` has one. Reads
    /// no registry yet.
    pub fn new(plan: &'a Plan, options: &'a RunOptions, observer: &dyn Observer) -> Result<Self> {
        Self::with_state(plan, options, None, observer)
    }

    /// [`Run::new`] with the state directory as the caller read it (`None`: read it here).
    pub fn with_state(
        plan: &'a Plan,
        options: &'a RunOptions,
        read: Option<StateRead>,
        observer: &dyn Observer,
    ) -> Result<Self> {
        let started = Instant::now();
        crate::builder::prefetch_builder_digest();
        plan.check_grants()?;
        let stream = &plan.stream;
        publish::check_output(stream, options)?;
        let loaded = match (&options.state, read) {
            (Some(state), Some(StateRead(loaded))) => check_state(plan, state, loaded, observer)?,
            (Some(state), None) => {
                check_state(plan, state, crate::state::load(&state.dir)?, observer)?
            }
            (None, _) => None,
        };
        let done = loaded.as_ref().map_or(0, |l| l.journal.stages.len());
        let selected = match &options.state {
            Some(state) => {
                let names: Vec<&str> = plan.stages.iter().map(|p| p.stage.name.as_str()).collect();
                crate::state::select(&stream.name, &names, state, done)?
            }
            None => Selected::all(plan.stages.len()),
        };
        for planned in &plan.stages[selected.already_ran.clone()] {
            observer.event(&Event::StageAlreadyRan {
                stage: planned.stage.name.clone(),
            });
        }
        let source_date_epoch = source_date_epoch(loaded.as_ref(), options.source_date_epoch)?;
        let keys = load_keys(plan, options, loaded.as_ref(), &selected)?;
        let mirrors = match &options.mirrors {
            Some(mirrors) => mirrors.clone(),
            None => Arc::new(crate::sources::mirrors(stream)?),
        };
        let layers = match (&options.stage_cache, &options.state) {
            (Some(cache), None) => crate::stage_cache::Layers::open(cache).map(Arc::new),
            _ => None,
        };
        Ok(Run {
            plan,
            options,
            started,
            loaded,
            done,
            selected,
            source_date_epoch,
            keys,
            mirrors,
            layers,
        })
    }

    /// Runs the selected stages, then saves the state or publishes the release.
    pub async fn execute(
        mut self,
        runtime: &Runtime,
        observer: &dyn Observer,
    ) -> Result<RunOutcome> {
        let work = self.start(observer)?;
        let work = self.run_stages(runtime, work, observer).await?;
        self.finish(work, observer)
    }

    /// The release and journal the stages start from: the state's, or the base release
    /// prepared for the stream (with a new journal). Reads every component's manifest and
    /// config ahead: stages then query them from memory.
    fn start(&mut self, observer: &dyn Observer) -> Result<Working> {
        let stream = &self.plan.stream;
        let (release, journal) = match self.loaded.take() {
            Some(loaded) => (loaded.release, loaded.journal),
            None => {
                let from = parse_reference(&stream.from, "base release")?;
                let base = read_release_image(self.mirrors.as_ref(), &from).map_err(|source| {
                    Error::Registry {
                        context: format!("reading the base release `{}`", stream.from),
                        source: Box::new(source),
                    }
                })?;
                observer.event(&Event::BaseLoaded {
                    reference: stream.from.clone(),
                    digest: base.digest.clone(),
                    name: base.release.name.clone(),
                    images: base.release.images.len(),
                    manifests: base.release.manifests.len(),
                });
                let journal = Journal::new(stream, &base.digest, self.source_date_epoch);
                (
                    build::prepare(stream, base, self.source_date_epoch),
                    journal,
                )
            }
        };
        compose_registry::prefetch_images(self.mirrors.as_ref(), &release);
        Ok(Working {
            release,
            journal,
            reports: Vec::with_capacity(self.selected.run.len()),
        })
    }

    /// After the stages: checks the release (once every stage ran), builds it, saves the
    /// state (stage at a time) and publishes it once no stage is pending.
    fn finish(self, mut work: Working, observer: &dyn Observer) -> Result<RunOutcome> {
        let stream = &self.plan.stream;
        if self.options.state.is_some() {
            // Only a saved journal needs them.
            work.journal.set_attachments(&work.release.attachments);
            work.journal.public_keys.extend(self.keys.public_texts()?);
        }
        let pending: Vec<String> = self.plan.stages[work.journal.stages.len()..]
            .iter()
            .map(|p| p.stage.name.clone())
            .collect();
        if pending.is_empty() {
            build::check_invariants(stream, &work.release)?;
        }
        let built = build::build(self.mirrors.as_ref(), &work.release, self.layers.as_deref())?;
        // The base layers are in the previous state, if any: copy them from there.
        let blobs = crate::sources::LocalFirst {
            local: self
                .options
                .state
                .as_ref()
                .and_then(|s| compose_registry::OciLayout::open(&s.dir).ok()),
            source: self.mirrors.as_ref(),
        };
        if let Some(state) = &self.options.state {
            self.save_state(state, &mut work, &built, &blobs, &pending, observer)?;
            if !pending.is_empty() {
                let digest = built.0;
                return Ok(self.outcome(work, digest, pending, None));
            }
        }
        let provenance = crate::provenance::prepare(
            self.plan,
            &work.journal,
            &self.keys,
            &built.0,
            self.started,
        )?;
        let published = self.publish(&work, built, &blobs, provenance, observer)?;
        let digest = published.digest.clone();
        Ok(self.outcome(work, digest, pending, Some(published)))
    }

    /// What the run produced: published when `published` is given, else saved with
    /// `pending` stages still to run.
    fn outcome(
        &self,
        work: Working,
        digest: String,
        pending: Vec<String>,
        published: Option<publish::Published>,
    ) -> RunOutcome {
        let (signatures, provenance) = match published {
            Some(p) => (p.signatures, Some(p.provenance)),
            None => (Default::default(), None),
        };
        RunOutcome {
            stream: self.plan.stream.name.clone(),
            release: work.release.name,
            digest,
            out: self.options.out.clone(),
            published: provenance.is_some(),
            state: self.options.state.as_ref().map(|s| s.dir.clone()),
            pending,
            stages: work.reports,
            total_millis: millis(self.started.elapsed()),
            signatures,
            provenance,
        }
    }
}

/// Loads the state directory and checks it belongs to a run of `plan`'s stream.
/// Checks a loaded state against the plan (its journal must match the stream) and says so.
fn check_state(
    plan: &Plan,
    state: &StateOptions,
    loaded: Option<LoadedState>,
    observer: &dyn Observer,
) -> Result<Option<LoadedState>> {
    if let Some(loaded) = &loaded {
        loaded.journal.check_matches(plan, &state.dir)?;
        observer.event(&Event::StateLoaded {
            dir: state.dir.display().to_string(),
            digest: loaded.digest.clone(),
            stages: loaded
                .journal
                .stages
                .iter()
                .map(|s| s.stage.clone())
                .collect(),
        });
    }
    Ok(loaded)
}

/// The run's `SOURCE_DATE_EPOCH`: the state's (a later process must not set another one), or
/// this process's.
fn source_date_epoch(loaded: Option<&LoadedState>, now: Option<u64>) -> Result<Option<u64>> {
    match (loaded, now) {
        (Some(l), Some(now)) if l.journal.source_date_epoch != Some(now) => {
            Err(Error::State(format!(
                "`SOURCE_DATE_EPOCH` is {now} but the state's run started with {}: every process of one run must use the same",
                l.journal
                    .source_date_epoch
                    .map_or_else(|| "none".to_string(), |e| e.to_string())
            )))
        }
        (Some(l), _) => Ok(l.journal.source_date_epoch),
        (None, epoch) => Ok(epoch),
    }
}

/// Loads the stream's keys (stage at a time: the private halves of the keys granted to the
/// stages this process runs) and refuses a `--require-signed` run some key is absent from.
fn load_keys(
    plan: &Plan,
    options: &RunOptions,
    loaded: Option<&LoadedState>,
    selected: &Selected,
) -> Result<RunKeys> {
    let granted: BTreeSet<String> = plan.stages[selected.run.clone()]
        .iter()
        .flat_map(|p| p.stage.grants.keys.iter().cloned())
        .collect();
    let recorded = loaded
        .map(|l| l.journal.public_keys.clone())
        .unwrap_or_default();
    let only = options.state.as_ref().map(|_| &granted);
    let keys = signing::load_keys(&plan.stream, only, &recorded)?;
    if options.require_signed && !keys.keys.absent.is_empty() {
        return Err(Error::Signing(format!(
            "`--require-signed`: the release would not be signed: {}",
            keys.keys
                .absent
                .iter()
                .map(|(k, why)| format!("key `{k}`: {why}"))
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    Ok(keys)
}
