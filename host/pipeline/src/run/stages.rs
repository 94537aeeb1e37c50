//! The stage loop of a run: each selected stage is skipped (an optional key it was granted is
//! absent), reused (the stage cache holds its result), or run in its sandbox; then recorded in
//! the journal. A stage that fails stops the run with the report of what ran.

use std::sync::Arc;
use std::time::Duration;

use compose_payload::Release;
use compose_runtime::{
    EveryPart, Finding, HostServices, PartRun, Parts, Runtime, Severity, StageOutcome,
};

use super::{Run, Working, build, publish};
use crate::error::{Error, Result};
use crate::events::{Event, Observer, millis};
use crate::plan::PlannedStage;
use crate::report::StageReport;
use crate::signing;
use crate::sources::RegistryView;
use crate::stage_cache;
use crate::state::{JournalStage, StageIdentity};

/// What stages are given: the stream's registry view, the signer of `keys` and the digest of
/// the payload as it stands. Shared by runs and check-only runs.
pub(crate) fn host_services(
    mirrors: Arc<compose_registry::Mirrors>,
    keys: Arc<compose_signing::StreamKeys>,
    source_date_epoch: Option<u64>,
    layers: Option<Arc<stage_cache::Layers>>,
) -> HostServices {
    HostServices {
        registry: Arc::new(RegistryView::new(mirrors.clone())),
        signer: Arc::new(compose_signing::StreamSigner::new(keys, source_date_epoch)),
        digest: build::digest_fn(mirrors, layers),
    }
}

/// Emits `stage-started` and runs `planned` on `release` (stage `index` of `total`); `parts`
/// decides which parts of a check in parts run.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_planned(
    runtime: &Runtime,
    planned: &PlannedStage,
    spec: &compose_runtime::StageSpec,
    release: Release,
    services: &HostServices,
    parts: &mut dyn Parts,
    (index, total): (usize, usize),
    observer: &dyn Observer,
) -> Result<std::result::Result<StageOutcome, compose_runtime::Error>> {
    observer.event(&Event::StageStarted {
        stage: planned.stage.name.clone(),
        plugin: planned.label.clone(),
        index: index + 1,
        total,
    });
    Ok(runtime
        .run_stage_in_parts(planned.plugin()?, spec, release, services, parts)
        .await)
}

/// Reports a stage that ran: emits `stage-finished` and returns the stage's report with the
/// number of its findings that failed with severity `error`. `parts`: what happened to the
/// parts of a check in parts.
pub(crate) fn finish_stage(
    planned: &PlannedStage,
    (instantiate, run): (Duration, Duration),
    findings: Vec<Finding>,
    parts: &[PartRun],
    observer: &dyn Observer,
) -> (StageReport, usize) {
    observer.event(&Event::StageFinished {
        stage: planned.stage.name.clone(),
        instantiate_millis: millis(instantiate),
        run_millis: millis(run),
        findings: findings.clone(),
        reused_parts: parts
            .iter()
            .filter(|p| p.reused)
            .map(|p| p.id.clone())
            .collect(),
        parts: parts.len(),
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

/// The journal entry of a stage, before it ran.
fn journal_entry(planned: &PlannedStage) -> JournalStage {
    let identity = StageIdentity::of(planned);
    JournalStage {
        stage: identity.stage,
        plugin_digest: identity.plugin_digest,
        config_digest: identity.config_digest,
        skipped: None,
        report: None,
        release_digest: None,
    }
}

impl Run<'_> {
    /// Runs the selected stages in order (see the module).
    pub(super) async fn run_stages(
        &self,
        runtime: &Runtime,
        mut work: Working,
        observer: &dyn Observer,
    ) -> Result<Working> {
        let services = host_services(
            self.mirrors.clone(),
            self.keys.keys.clone(),
            self.source_date_epoch,
            self.layers.clone(),
        );
        let mut cache = match (&self.options.stage_cache, &self.options.state) {
            (Some(cache), None) => stage_cache::Run::start(
                cache,
                &self.plan.stream,
                &work.journal.from_digest,
                self.source_date_epoch,
            ),
            _ => stage_cache::Run::disabled(),
        };
        for i in self.selected.run.clone() {
            work = self
                .stage(runtime, i, &services, &mut cache, work, observer)
                .await?;
        }
        cache.finish();
        Ok(work)
    }

    /// The digest of the release image `release` would be.
    fn digest_of(&self, release: &Release) -> Result<String> {
        build::build(self.mirrors.as_ref(), release, self.layers.as_deref())
            .map(|(digest, _, _)| digest)
    }

    /// Skips, reuses or runs stage `i`, and records it.
    async fn stage(
        &self,
        runtime: &Runtime,
        i: usize,
        services: &HostServices,
        cache: &mut stage_cache::Run,
        mut work: Working,
        observer: &dyn Observer,
    ) -> Result<Working> {
        let planned = &self.plan.stages[i];
        let mut entry = journal_entry(planned);
        if let Some(reason) = signing::skip_reason(&planned.stage, &self.keys.keys) {
            tracing::warn!(stage = planned.stage.name, "stage skipped: {reason}");
            observer.event(&Event::StageSkipped {
                stage: planned.stage.name.clone(),
                reason: reason.clone(),
            });
            entry.skipped = Some(reason);
            work.journal.stages.push(entry);
            cache.skipped(&planned.stage.name);
            return Ok(work);
        }
        let stream = &self.plan.stream;
        let spec = signing::stage_spec(
            &planned.spec,
            &planned.stage,
            stream,
            self.source_date_epoch,
        );
        cache.next(planned, &spec);
        let digest = |release: &Release| self.digest_of(release);
        if let Some(reused) = cache.reuse(planned, services.registry.as_ref(), &mut work.release) {
            signing::after_stage(&planned.stage.name, &mut work.release, &self.keys, &digest)?;
            observer.event(&Event::StageReused {
                stage: planned.stage.name.clone(),
                key: reused.key,
                cached: reused.cached,
                findings: reused.report.findings.clone(),
            });
            work.reports.push(reused.report.clone());
            entry.report = Some(reused.report);
            work.journal.stages.push(entry);
            return Ok(work);
        }
        self.run_in_sandbox(runtime, i, &spec, services, cache, work, entry, observer)
            .await
    }

    /// Runs stage `i` in its sandbox (recording it for the stage cache when the cache may
    /// reuse it), checks the signatures it left and records it; failed checks stop the run.
    #[allow(clippy::too_many_arguments)]
    async fn run_in_sandbox(
        &self,
        runtime: &Runtime,
        i: usize,
        spec: &compose_runtime::StageSpec,
        services: &HostServices,
        cache: &mut stage_cache::Run,
        mut work: Working,
        mut entry: JournalStage,
        observer: &dyn Observer,
    ) -> Result<Working> {
        let planned = &self.plan.stages[i];
        let stream = &self.plan.stream;
        let digest = |release: &Release| self.digest_of(release);
        let recording = cache.recording(planned, &work.release, &services.registry);
        let mut part_cache = recording
            .as_ref()
            .and_then(|recording| cache.parts(recording, planned, spec));
        let parts: &mut dyn Parts = match &mut part_cache {
            Some(part_cache) => part_cache,
            None => &mut EveryPart,
        };
        let stage_services = match &recording {
            Some(recording) => HostServices {
                registry: recording.registry(),
                ..services.clone()
            },
            None => services.clone(),
        };
        let total = self.plan.stages.len();
        let ran = run_planned(
            runtime,
            planned,
            spec,
            work.release,
            &stage_services,
            parts,
            (i, total),
            observer,
        );
        let outcome = match ran.await? {
            Ok(outcome) => outcome,
            Err(e) => return Err(self.stage_failed(planned, &work.journal, e, observer)),
        };
        work.release = outcome.release;
        signing::after_stage(&planned.stage.name, &mut work.release, &self.keys, &digest)?;
        let (report, failed) = finish_stage(
            planned,
            (outcome.instantiate, outcome.run),
            outcome.findings,
            &outcome.parts,
            observer,
        );
        if let (Some(recording), 0) = (recording, failed) {
            cache.record(recording, &work.release, &report);
        }
        work.reports.push(report.clone());
        entry.report = Some(report);
        work.journal.stages.push(entry);
        if failed > 0 {
            let report =
                publish::write_failed_report(&self.options.out, stream, &work.journal.reports());
            return Err(Error::ChecksFailed {
                stage: planned.stage.name.clone(),
                count: failed,
                report,
            });
        }
        Ok(work)
    }

    /// A stage that failed or was stopped: the report names it, as for failed checks.
    fn stage_failed(
        &self,
        planned: &PlannedStage,
        journal: &crate::state::Journal,
        error: compose_runtime::Error,
        observer: &dyn Observer,
    ) -> Error {
        let finding = Finding {
            check: "stage-completed".into(),
            passed: false,
            severity: Severity::Error,
            subject: Some(planned.label.clone()),
            message: error.to_string(),
        };
        let (report, _) = finish_stage(
            planned,
            (Duration::ZERO, Duration::ZERO),
            vec![finding],
            &[],
            observer,
        );
        let mut all = journal.reports();
        all.push(report);
        publish::write_failed_report(&self.options.out, &self.plan.stream, &all);
        error.into()
    }
}
