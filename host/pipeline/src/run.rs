//! Running a plan: load the base release, run every stage in its sandbox, check the result,
//! build the release image and publish it. Nothing is written unless every stage passed.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use compose_payload::release::BASE_TAG;
use compose_payload::{Release, build_release_image};
use compose_registry::{ImageSource, Mirrors, ReleaseImage, read_base_image, read_release_image};
use compose_runtime::{Finding, HostServices, Runtime, Severity};
use compose_stream::Stream;

use crate::error::{Error, Result};
use crate::events::{Event, Observer, millis};
use crate::plan::{Plan, PlannedStage};
use crate::report::{self, Report};
use crate::signing;
use crate::sources::{LocalFirst, RegistryView, mirrors, parse_reference};
use crate::stage_cache;
use crate::state::{JOURNAL, Journal, JournalStage, StageIdentity, StateOptions};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The output OCI layout directory.
    pub out: PathBuf,
    /// `SOURCE_DATE_EPOCH`, if set: the creation time of the release.
    pub source_date_epoch: Option<u64>,
    /// The real registries: references no `[registries]` entry serves are read from the
    /// registry they name. `None`: only the stream's mirrors are read.
    pub registries: Option<Arc<compose_registry::RemoteRegistries>>,
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

/// What one stage did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageReport {
    /// The stage.
    pub stage: String,
    /// Its plugin.
    pub plugin: String,
    /// The plugin's wasm digest.
    pub digest: String,
    /// Instantiation time, milliseconds.
    pub instantiate_millis: f64,
    /// Run time, milliseconds.
    pub run_millis: f64,
    /// Findings.
    pub findings: Vec<Finding>,
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
/// release into `options.out` once every stage ran.
pub async fn run(
    runtime: &Runtime,
    plan: &Plan,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<RunOutcome> {
    let started = Instant::now();
    crate::provenance::prefetch_builder_digest();
    plan.check_grants()?;
    let stream = &plan.stream;
    check_output(stream, options)?;
    let loaded = match &options.state {
        Some(state) => {
            let loaded = crate::state::load(&state.dir)?;
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
            loaded
        }
        None => None,
    };
    let done = loaded.as_ref().map_or(0, |l| l.journal.stages.len());
    let selected = select(plan, options.state.as_ref(), done)?;
    for planned in &plan.stages[selected.already_ran.clone()] {
        observer.event(&Event::StageAlreadyRan {
            stage: planned.stage.name.clone(),
        });
    }
    let source_date_epoch = match (&loaded, options.source_date_epoch) {
        (Some(l), Some(now)) if l.journal.source_date_epoch != Some(now) => {
            return Err(Error::State(format!(
                "`SOURCE_DATE_EPOCH` is {now} but the state's run started with {}: every process of one run must use the same",
                l.journal
                    .source_date_epoch
                    .map_or_else(|| "none".to_string(), |e| e.to_string())
            )));
        }
        (Some(l), _) => l.journal.source_date_epoch,
        (None, epoch) => epoch,
    };
    let to_run = &plan.stages[selected.run.clone()];
    let granted: BTreeSet<String> = to_run
        .iter()
        .flat_map(|p| p.stage.grants.keys.iter().cloned())
        .collect();
    let recorded = loaded
        .as_ref()
        .map(|l| l.journal.public_keys.clone())
        .unwrap_or_default();
    let keys = signing::load_keys(stream, options.state.as_ref().map(|_| &granted), &recorded)?;
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
    let mirrors = Arc::new(match &options.registries {
        Some(registries) => crate::sources::mirrors_with(stream, registries)?,
        None => mirrors(stream)?,
    });
    let (mut release, mut journal) = match loaded {
        Some(loaded) => (loaded.release, loaded.journal),
        None => {
            let from = parse_reference(&stream.from, "base release")?;
            let base =
                read_release_image(mirrors.as_ref(), &from).map_err(|source| Error::Registry {
                    context: format!("reading the base release `{}`", stream.from),
                    source: Box::new(source),
                })?;
            observer.event(&Event::BaseLoaded {
                reference: stream.from.clone(),
                digest: base.digest.clone(),
                name: base.release.name.clone(),
                images: base.release.images.len(),
                manifests: base.release.manifests.len(),
            });
            let journal = Journal::new(stream, &base.digest, source_date_epoch);
            (prepare(stream, base, source_date_epoch), journal)
        }
    };
    // Every component's manifest and config at once: stages then query them from memory.
    compose_registry::prefetch_images(mirrors.as_ref(), &release);

    let services = HostServices {
        registry: Arc::new(RegistryView::new(mirrors.clone())),
        signer: Arc::new(compose_signing::StreamSigner::new(
            keys.keys.clone(),
            source_date_epoch,
        )),
        digest: digest_fn(mirrors.clone()),
    };
    let current_digest = |release: &Release| build(mirrors.as_ref(), release).map(|(d, _, _)| d);
    let mut cache = match (&options.stage_cache, &options.state) {
        (Some(cache), None) => {
            stage_cache::Run::start(cache, stream, &journal.from_digest, source_date_epoch)
        }
        _ => stage_cache::Run::disabled(),
    };
    let total = plan.stages.len();
    let mut reports = Vec::with_capacity(to_run.len());
    for (i, planned) in plan.stages.iter().enumerate().skip(selected.run.start) {
        if i >= selected.run.end {
            break;
        }
        let identity = StageIdentity::of(planned);
        let mut entry = JournalStage {
            stage: identity.stage,
            plugin_digest: identity.plugin_digest,
            config_digest: identity.config_digest,
            skipped: None,
            report: None,
            release_digest: None,
        };
        if let Some(reason) = signing::skip_reason(&planned.stage, &keys.keys) {
            tracing::warn!(stage = planned.stage.name, "stage skipped: {reason}");
            observer.event(&Event::StageSkipped {
                stage: planned.stage.name.clone(),
                reason: reason.clone(),
            });
            entry.skipped = Some(reason);
            journal.stages.push(entry);
            cache.skipped(&planned.stage.name);
            continue;
        }
        let spec = signing::stage_spec(&planned.spec, &planned.stage, stream, source_date_epoch);
        cache.next(planned, &spec);
        if let Some(reused) = cache.reuse(planned, services.registry.as_ref(), &mut release) {
            signing::after_stage(&planned.stage.name, &mut release, &keys, &current_digest)?;
            observer.event(&Event::StageReused {
                stage: planned.stage.name.clone(),
                key: reused.key,
                cached: reused.cached,
                findings: reused.report.findings.clone(),
            });
            reports.push(reused.report.clone());
            entry.report = Some(reused.report);
            journal.stages.push(entry);
            continue;
        }
        let recording = cache.recording(planned, &release, &services.registry);
        let stage_services = match &recording {
            Some(recording) => HostServices {
                registry: recording.registry(),
                ..services.clone()
            },
            None => services.clone(),
        };
        observer.event(&Event::StageStarted {
            stage: planned.stage.name.clone(),
            plugin: planned.label.clone(),
            index: i + 1,
            total,
        });
        let outcome = match runtime
            .run_stage(planned.plugin()?, &spec, release, &stage_services)
            .await
        {
            Ok(outcome) => outcome,
            Err(e) => {
                // The stage failed or was stopped: the report names it, as for failed checks.
                let finding = Finding {
                    check: "stage-completed".into(),
                    passed: false,
                    severity: Severity::Error,
                    subject: Some(planned.label.clone()),
                    message: e.to_string(),
                };
                let (report, _) = finish_stage(
                    planned,
                    std::time::Duration::ZERO,
                    std::time::Duration::ZERO,
                    vec![finding],
                    observer,
                );
                let mut all = journal.reports();
                all.push(report);
                write_failed_report(&options.out, stream, &all);
                return Err(e.into());
            }
        };
        release = outcome.release;
        signing::after_stage(&planned.stage.name, &mut release, &keys, &current_digest)?;
        let (report, failed) = finish_stage(
            planned,
            outcome.instantiate,
            outcome.run,
            outcome.findings,
            observer,
        );
        if let (Some(recording), 0) = (recording, failed) {
            cache.record(recording, &release, &report);
        }
        reports.push(report.clone());
        entry.report = Some(report);
        journal.stages.push(entry);
        if failed > 0 {
            let report = write_failed_report(&options.out, stream, &journal.reports());
            return Err(Error::ChecksFailed {
                stage: planned.stage.name.clone(),
                count: failed,
                report,
            });
        }
    }
    cache.finish();
    if options.state.is_some() {
        // Only a saved journal needs them.
        journal.set_attachments(&release.attachments);
        journal.public_keys.extend(keys.public_texts()?);
    }
    let pending: Vec<String> = plan.stages[journal.stages.len()..]
        .iter()
        .map(|p| p.stage.name.clone())
        .collect();

    if pending.is_empty() {
        check_invariants(stream, &release)?;
    }
    let built = build(mirrors.as_ref(), &release)?;
    // The base layers are in the previous state, if any: copy them from there.
    let blobs = LocalFirst {
        local: options
            .state
            .as_ref()
            .and_then(|s| compose_registry::OciLayout::open(&s.dir).ok()),
        source: mirrors.as_ref(),
    };
    if let Some(state) = &options.state {
        // A process that ran nothing (every selected stage already ran: a retried task)
        // leaves the state exactly as it was, byte for byte and file for file.
        let ran_nothing = selected.run.is_empty() && done > 0;
        if !ran_nothing {
            if !selected.run.is_empty()
                && let Some(last) = journal.stages.last_mut()
            {
                last.release_digest = Some(built.0.clone());
            }
            save_state(&state.dir, &release, &journal, &built, &blobs)?;
            observer.event(&Event::StateSaved {
                dir: state.dir.display().to_string(),
                digest: built.0.clone(),
                pending: pending.clone(),
            });
        }
        if !pending.is_empty() {
            return Ok(RunOutcome {
                stream: stream.name.clone(),
                release: release.name,
                digest: built.0,
                out: options.out.clone(),
                published: false,
                state: Some(state.dir.clone()),
                pending,
                stages: reports,
                total_millis: millis(started.elapsed()),
                signatures: Default::default(),
                provenance: None,
            });
        }
    }
    let provenance = crate::provenance::prepare(plan, &journal, &keys, &built.0, started)?;
    let (published, provenance) = publish(
        stream, &release, &journal, &keys, built, &blobs, provenance, options, observer,
    )?;
    Ok(RunOutcome {
        stream: stream.name.clone(),
        release: release.name,
        digest: published.1,
        out: options.out.clone(),
        published: true,
        state: options.state.as_ref().map(|s| s.dir.clone()),
        pending,
        stages: reports,
        total_millis: millis(started.elapsed()),
        signatures: published.0,
        provenance: Some(provenance),
    })
}

/// The stages one process runs: `run` are run now; `already_ran` were selected but the state
/// records them (with the same plugin and config), so they are not run again.
struct Selected {
    run: Range<usize>,
    already_ran: Range<usize>,
}

/// Which stages to run, given the selection and how many stages the state records (`done`).
fn select(plan: &Plan, state: Option<&StateOptions>, done: usize) -> Result<Selected> {
    let total = plan.stages.len();
    let Some(state) = state else {
        return Ok(Selected {
            run: 0..total,
            already_ran: 0..0,
        });
    };
    let names: Vec<&str> = plan.stages.iter().map(|p| p.stage.name.as_str()).collect();
    let index = |name: &str| {
        names.iter().position(|n| *n == name).ok_or_else(|| {
            Error::State(format!(
                "the stream `{}` has no stage `{name}` (its stages: {})",
                plan.stream.name,
                names.join(", ")
            ))
        })
    };
    let first = state.selection.from.as_deref().map(index).transpose()?;
    let last = state.selection.until.as_deref().map(index).transpose()?;
    let end = last.map_or(total, |l| l + 1);
    let first = first.unwrap_or(done.min(end));
    if first >= end && state.selection.from.is_some() {
        return Err(Error::State(format!(
            "`--from {}` comes after `--until {}`",
            names[first],
            state.selection.until.as_deref().unwrap_or_default()
        )));
    }
    if first > done {
        return Err(Error::State(format!(
            "stage `{}` cannot run yet: stage `{}` has not run in the state `{}` (run it first, or start with `--from {}`)",
            names[first],
            names[done],
            state.dir.display(),
            names[done]
        )));
    }
    let start = done.max(first).min(end);
    Ok(Selected {
        run: start..end,
        already_ran: first..start,
    })
}

/// Writes the state directory: the release image as it stands and the journal, replacing the
/// old state all or nothing.
fn save_state(
    dir: &std::path::Path,
    release: &Release,
    journal: &Journal,
    built: &(
        String,
        compose_payload::BuiltImage,
        compose_registry::Reference,
    ),
    blobs: &dyn ImageSource,
) -> Result<()> {
    let journal_bytes = journal.to_json()?;
    compose_registry::write_release_layout(
        dir,
        &release.name,
        &built.1,
        blobs,
        &built.2,
        &[(JOURNAL, journal_bytes)],
    )
    .map_err(|source| Error::Registry {
        context: format!("saving the state `{}`", dir.display()),
        source: Box::new(source),
    })
}

/// Checks the release and writes it, its signatures and its reports to `options.out`.
/// Returns what was published and the release digest.
#[allow(clippy::too_many_arguments)]
fn publish(
    stream: &Stream,
    release: &Release,
    journal: &Journal,
    keys: &signing::RunKeys,
    built: (
        String,
        compose_payload::BuiltImage,
        compose_registry::Reference,
    ),
    blobs: &dyn ImageSource,
    provenance: crate::provenance::Prepared,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<(
    (compose_signing::publish::Published, String),
    crate::provenance::ProvenanceOutcome,
)> {
    let (digest, built, base_ref) = built;
    // The digest signed must be the digest published.
    let signed = signing::check_before_publish(release, keys, &digest)?;
    if signed == 0 {
        let skipped: Vec<String> = journal
            .stages
            .iter()
            .filter_map(|s| {
                s.skipped
                    .as_ref()
                    .map(|why| format!("stage `{}` was skipped: {why}", s.stage))
            })
            .collect();
        let reason = if !keys.keys.absent.is_empty() {
            format!(
                "optional key{} {} not available",
                if keys.keys.absent.len() == 1 { "" } else { "s" },
                keys.keys
                    .absent
                    .iter()
                    .map(|(k, why)| format!("`{k}` ({why})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else if !skipped.is_empty() {
            skipped.join("; ")
        } else {
            "no stage signed it (add a `sign` stage granted a key)".to_string()
        };
        if options.require_signed {
            return Err(Error::Signing(format!(
                "`--require-signed`: the release is unsigned: {reason}"
            )));
        }
        observer.event(&Event::Unsigned { reason });
    }
    let reports = journal.reports();
    let mut files = Report::new(&stream.name, &release.name, Some(&digest), &reports).files();
    files.extend(provenance.files().iter().cloned());
    let lookaside = signing::lookaside_repository(stream);
    let mut published = compose_signing::publish::Published::default();
    let mut attestation = None;
    // The release, its signatures, its provenance and the reports are written together and
    // swapped in at once.
    compose_registry::write_release_layout_with(
        &options.out,
        &release.name,
        &built,
        blobs,
        &base_ref,
        &files,
        |layout| {
            let attachment = |e: compose_signing::Error| compose_registry::Error::Attachment {
                message: e.to_string(),
            };
            published = compose_signing::publish::write_signatures(
                layout,
                &release.attachments,
                &digest,
                lookaside.as_deref(),
            )
            .map_err(attachment)?;
            attestation = provenance.attach(layout, &digest).map_err(attachment)?;
            Ok(())
        },
    )
    .map_err(|source| Error::Registry {
        context: format!("writing the release to `{}`", options.out.display()),
        source: Box::new(source),
    })?;
    // A report of an earlier failed run no longer describes this output.
    report::remove_failed_report(&options.out);
    if signed > 0 {
        observer.event(&Event::Signed {
            openpgp: published.openpgp,
            cosign: published.cosign,
            store: published
                .store
                .as_ref()
                .map(|s| options.out.join(s).display().to_string()),
            cosign_tag: published.cosign_manifest.as_ref().map(|(t, _)| t.clone()),
        });
    }
    let provenance = provenance.published(&options.out, attestation, observer);
    observer.event(&Event::Published {
        release: release.name.clone(),
        digest: digest.clone(),
        location: options.out.display().to_string(),
    });
    Ok(((published, digest), provenance))
}

/// Writes the reports of a failed process to `<out>.failed/`; returns that directory, or
/// `None` (with a warning) when it cannot be written.
fn write_failed_report(
    out: &std::path::Path,
    stream: &Stream,
    reports: &[StageReport],
) -> Option<PathBuf> {
    let dir = report::failed_report_dir(out);
    let written = Report::new(&stream.name, &stream.release, None, reports);
    match report::write_files(&dir, &written) {
        Ok(()) => Some(dir),
        Err(e) => {
            tracing::warn!("cannot write the report to `{}`: {e}", dir.display());
            None
        }
    }
}

/// Refuses an output that would replace something compose did not write (a user's files, a
/// file) or an input of the run (the stream's directory, a mirror, a granted directory, the
/// state), before any stage runs; publishing checks again.
fn check_output(stream: &Stream, options: &RunOptions) -> Result<()> {
    let mut protected: Vec<PathBuf> = Vec::new();
    if let Some(dir) = stream.path.parent() {
        protected.push(if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir.to_path_buf()
        });
    }
    protected.extend(stream.mirrors.iter().map(|m| m.path.clone()));
    for stage in &stream.stages {
        protected.extend(stage.grants.files.iter().map(|f| f.host.clone()));
    }
    if let Some(state) = &options.state {
        protected.push(state.dir.clone());
    }
    let refused = |source| Error::Registry {
        context: format!("cannot publish to `{}`", options.out.display()),
        source: Box::new(source),
    };
    compose_registry::check_not_protected(&options.out, &protected).map_err(refused)?;
    compose_registry::check_replaceable(&options.out).map_err(refused)
}

/// The working payload: the base release renamed to the stream's release, with the stream's
/// metadata and a reproducible creation time. Takes the base by value: the payload is moved,
/// not copied (a second copy of 6,800 manifests at 10x).
fn prepare(stream: &Stream, base: ReleaseImage, source_date_epoch: Option<u64>) -> Release {
    let mut release = base.release;
    let old_name = release.name.clone();
    release.rename(&stream.release);
    release.rewrite_version(&old_name, &stream.release);
    release.metadata.previous = stream.previous.clone();
    release.metadata.previous.sort();
    release.metadata.next.clear();
    release.metadata.metadata = stream.metadata.clone();
    release.annotations.clear();
    release.annotations.insert(
        "release.openshift.io/from-release".into(),
        stream.from.clone(),
    );
    release.attachments.clear();
    release.created = match (source_date_epoch, &stream.created) {
        (Some(epoch), _) => compose_payload::timestamp::format_rfc3339_utc(epoch),
        (None, Some(created)) => created.clone(),
        (None, None) => release.created.clone(),
    };
    release
}

/// How a stage's `payload.digest()` is answered: build the image as it stands.
fn digest_fn(mirrors: Arc<Mirrors>) -> compose_runtime::DigestFn {
    Arc::new(move |release: &Release| {
        build(mirrors.as_ref(), release)
            .map(|(digest, _, _)| digest)
            .map_err(|e| e.to_string())
    })
}

/// The digest `release` would have as a release image (built on the base its
/// `cluster-version-operator` tag names, read from `source`).
pub(crate) fn build_digest(
    source: &dyn ImageSource,
    release: &Release,
) -> std::result::Result<String, String> {
    build(source, release)
        .map(|(digest, _, _)| digest)
        .map_err(|e| e.to_string())
}

/// Builds the release image on the base the `cluster-version-operator` tag names.
fn build(
    source: &dyn ImageSource,
    release: &Release,
) -> Result<(
    String,
    compose_payload::BuiltImage,
    compose_registry::Reference,
)> {
    let cvo = release.images.get(BASE_TAG).ok_or_else(|| {
        Error::Invariant(format!(
            "the `{BASE_TAG}` image is missing: it is the base of the release image"
        ))
    })?;
    let base_ref = parse_reference(&cvo.pullspec, "base image")?;
    let base = read_base_image(source, &cvo.pullspec).map_err(|source| Error::Registry {
        context: format!("reading the base image `{}`", cvo.pullspec),
        source: Box::new(source),
    })?;
    let built = build_release_image(release, &base).map_err(|source| Error::Payload {
        context: format!("building the release image `{}`", release.name),
        source,
    })?;
    Ok((built.manifest_digest.clone(), built, base_ref))
}

/// What the host checks before it publishes, whatever the stages did.
fn check_invariants(stream: &Stream, release: &Release) -> Result<()> {
    if release.name != stream.release || release.metadata.version != stream.release {
        return Err(Error::Invariant(format!(
            "the release name must stay `{}`",
            stream.release
        )));
    }
    let unpinned: Vec<&str> = release
        .images
        .values()
        .filter(|i| !i.pullspec.contains("@sha256:"))
        .map(|i| i.name.as_str())
        .collect();
    if !unpinned.is_empty() {
        return Err(Error::Invariant(format!(
            "every image must be pinned by digest (`repo@sha256:…`); not pinned: {}",
            unpinned
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// Reports a stage that ran: emits `stage-finished` and returns the stage's report with the
/// number of its findings that failed with severity `error`.
pub(crate) fn finish_stage(
    planned: &PlannedStage,
    instantiate: std::time::Duration,
    run: std::time::Duration,
    findings: Vec<Finding>,
    observer: &dyn Observer,
) -> (StageReport, usize) {
    observer.event(&Event::StageFinished {
        stage: planned.stage.name.clone(),
        instantiate_millis: millis(instantiate),
        run_millis: millis(run),
        findings: findings.clone(),
    });
    let failed = findings
        .iter()
        .filter(|f| !f.passed && f.severity == Severity::Error)
        .count();
    let report = StageReport {
        stage: planned.stage.name.clone(),
        plugin: planned.label.clone(),
        digest: planned.digest.clone(),
        instantiate_millis: millis(instantiate),
        run_millis: millis(run),
        findings,
    };
    (report, failed)
}
