//! Running a stream's checks on a release that already exists (`compose verify --policy`):
//! the check stages of a plan run on the release read back from an output, nothing is
//! published. A check is a stage whose component targets the read-only `check` world of
//! `okd:compose@0.2.0` (it exports `check-stage`): the host decides from the component, not
//! from the plugin's name, and runs it without letting it change the payload.

use std::sync::Arc;

use compose_payload::Release;
use compose_registry::Mirrors;
use compose_runtime::Runtime;

use crate::error::Result;
use crate::events::Observer;
use crate::plan::{Plan, PlannedStage};
use crate::report::StageReport;
use crate::run::{finish_stage, host_services, run_planned};

/// Whether a planned stage is a check: its plugin was loaded and targets the `check` world.
pub fn is_check(stage: &PlannedStage) -> bool {
    stage
        .loaded
        .as_ref()
        .is_some_and(|plugin| plugin.is_check())
}

/// Runs the checks of `plan` ([`is_check`]; the other stages are not run) on `release` (in
/// order) and returns their reports and the number of failed findings of severity `error`.
/// The checks query the registries of the plan's stream through `mirrors`, the caller's one
/// view of them ([`crate::sources::mirrors_with`]); no key is available to them.
pub async fn check_release(
    runtime: &Runtime,
    plan: &Plan,
    release: Release,
    mirrors: Arc<Mirrors>,
    observer: &dyn Observer,
) -> Result<(Vec<StageReport>, usize)> {
    let checks: Vec<&PlannedStage> = plan.stages.iter().filter(|s| is_check(s)).collect();
    for planned in &checks {
        compose_runtime::check_grants(planned.plugin()?, &planned.spec)?;
    }
    let services = host_services(mirrors, Arc::default(), None, None);
    let mut release = release;
    let mut reports = Vec::new();
    let mut failed = 0;
    let total = checks.len();
    for (i, planned) in checks.into_iter().enumerate() {
        let mut every_part = compose_runtime::EveryPart;
        let ran = run_planned(
            runtime,
            planned,
            &planned.spec,
            release,
            &services,
            &mut every_part,
            (i, total),
            observer,
        );
        let outcome = ran.await??;
        release = outcome.release;
        let (report, stage_failed) = finish_stage(
            planned,
            (outcome.instantiate, outcome.run),
            outcome.findings,
            &outcome.parts,
            observer,
        );
        failed += stage_failed;
        reports.push(report);
    }
    Ok((reports, failed))
}
