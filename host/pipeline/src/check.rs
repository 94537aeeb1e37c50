//! Running a stream's checks on a release that already exists (`compose verify --policy`):
//! the stages of a plan run on the release read back from an output, nothing is published.

use std::sync::Arc;

use compose_payload::Release;
use compose_runtime::{HostServices, Runtime};

use crate::error::Result;
use crate::events::{Event, Observer};
use crate::plan::Plan;
use crate::run::{StageReport, finish_stage};
use crate::sources::{RegistryView, mirrors};

/// Runs every stage of `plan` on `release` (in order, each on the previous stage's result) and
/// returns their reports and the number of failed findings of severity `error`. The stages
/// query the registries of the plan's stream; no key is available to them.
pub async fn check_release(
    runtime: &Runtime,
    plan: &Plan,
    release: Release,
    observer: &dyn Observer,
) -> Result<(Vec<StageReport>, usize)> {
    plan.check_grants()?;
    let mirrors = Arc::new(mirrors(&plan.stream)?);
    let digest_source = mirrors.clone();
    let services = HostServices {
        registry: Arc::new(RegistryView::new(mirrors)),
        signer: Arc::new(compose_signing::StreamSigner::new(
            Arc::new(compose_signing::StreamKeys::default()),
            None,
        )),
        digest: Arc::new(move |release: &Release| {
            crate::run::build_digest(digest_source.as_ref(), release)
        }),
    };
    let mut release = release;
    let mut reports = Vec::new();
    let mut failed = 0;
    let total = plan.stages.len();
    for (i, planned) in plan.stages.iter().enumerate() {
        observer.event(&Event::StageStarted {
            stage: planned.stage.name.clone(),
            plugin: planned.label.clone(),
            index: i + 1,
            total,
        });
        let outcome = runtime
            .run_stage(planned.plugin()?, &planned.spec, release, &services)
            .await?;
        release = outcome.release;
        let (report, stage_failed) = finish_stage(
            planned,
            outcome.instantiate,
            outcome.run,
            outcome.findings,
            observer,
        );
        failed += stage_failed;
        reports.push(report);
    }
    Ok((reports, failed))
}
