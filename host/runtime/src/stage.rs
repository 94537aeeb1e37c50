//! Running one stage: a fresh store and sandbox for each call (`run`, or `parts` then one
//! `run-part` per part that runs for a check in parts), the outcome.

use std::time::{Duration, Instant};

use compose_payload::Release;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};

use crate::bindings::PayloadHandle;
use crate::bounded::Deadline;
use crate::budget::{MemoryLimiter, OutputBudget};
use crate::capability::Grants;
use crate::capability::{HostServices, StageState};
use crate::engine::{Bindings, EPOCH_TICK, Plugin, Runtime};
use crate::error::{Error, Result};
use crate::finding::{Finding, PluginInfo};
use crate::output::GuestOutput;
use crate::parts::{EveryPart, Part, PartRun, Parts, invalid_parts};
use crate::sandbox::{Limits, StageSpec};

/// What one stage run produced.
#[derive(Debug)]
pub struct StageOutcome {
    /// The payload after the stage.
    pub release: Release,
    /// The stage's findings.
    pub findings: Vec<Finding>,
    /// Time to instantiate the component in its fresh store.
    pub instantiate: Duration,
    /// Time of the `run` call.
    pub run: Duration,
    /// The most linear memory the stage held, in bytes (of any one call, for a check in
    /// parts).
    pub memory_peak: u64,
    /// The parts of a check in parts, in order, and whether each was reused; empty for
    /// other stages.
    pub parts: Vec<PartRun>,
}

/// The empty payload a `describe` call sees (it must not touch the payload).
fn empty_release() -> Release {
    Release::new("", "")
}

/// Which export one call into a component makes.
#[derive(Clone, Copy)]
enum Call<'a> {
    /// `run` of a stage or a check.
    Run,
    /// `parts` of a check in parts.
    Parts,
    /// `run-part` of a check in parts.
    RunPart(&'a str),
}

/// What one call returned.
enum Returned {
    Findings(std::result::Result<Vec<Finding>, String>),
    Parts(std::result::Result<Vec<Part>, String>),
}

/// One call into a component, in its own store.
struct Called {
    returned: Returned,
    spent: Spent,
}

/// The payload after a stage's calls, and what they spent.
struct Spent {
    release: Release,
    instantiate: Duration,
    run: Duration,
    memory_peak: u64,
}

impl Runtime {
    /// A fresh store for one call into `plugin`, writing to `output`, with its deadline
    /// (which bounds the guest through the epoch, and every host call it makes through
    /// `services`).
    #[allow(clippy::too_many_arguments)]
    fn store(
        &self,
        plugin: &Plugin,
        stage: &str,
        grants: &Grants,
        limits: Limits,
        release: Release,
        services: Option<HostServices>,
        (deadline, output): (Instant, &GuestOutput),
    ) -> Result<(Store<StageState>, Deadline)> {
        let bounded = Deadline::new(deadline);
        let mut wasi = crate::capability::wasi::context(output);
        crate::capability::files::preopen(&mut wasi, grants, stage)?;
        let state = StageState {
            stage: stage.to_string(),
            plugin: plugin.label().to_string(),
            wasi: wasi.build(),
            table: ResourceTable::new(),
            http: crate::capability::http::Http::new(stage, plugin.label()),
            limiter: MemoryLimiter::new(limits.effective_memory()),
            output: OutputBudget::new(limits.output, &release),
            stopped: None,
            release,
            grants: grants.clone(),
            services: services.map(|s| bounded.bound(s)),
            timed_out: false,
            guest_output: output.clone(),
            read_only: plugin.read_only_export(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut ctx| {
            if Instant::now() >= deadline {
                ctx.data_mut().timed_out = true;
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        Ok((store, bounded))
    }

    /// Runs one stage on `release` in a fresh sandbox and returns the changed payload (every
    /// part of a check in parts runs).
    pub async fn run_stage(
        &self,
        plugin: &Plugin,
        spec: &StageSpec,
        release: Release,
        services: &HostServices,
    ) -> Result<StageOutcome> {
        self.run_stage_in_parts(plugin, spec, release, services, &mut EveryPart)
            .await
    }

    /// Runs one stage on `release` in a fresh sandbox and returns the changed payload. A check
    /// in parts lists its parts (with no payload and no host services), then each part that
    /// `parts` does not reuse runs in a fresh sandbox of its own, all within the stage's one
    /// time limit; the findings are the parts', in the order of the list.
    pub async fn run_stage_in_parts(
        &self,
        plugin: &Plugin,
        spec: &StageSpec,
        release: Release,
        services: &HostServices,
        parts: &mut dyn Parts,
    ) -> Result<StageOutcome> {
        crate::sandbox::check_grants(plugin, spec)?;
        // One time limit and one output cap for the whole stage, whatever its calls.
        let bounds = (
            Instant::now() + spec.limits.effective_timeout(),
            &GuestOutput::new(),
        );
        if !plugin.is_parted() {
            let called = self
                .call(plugin, spec, release, Some(services), bounds, Call::Run)
                .await?;
            let findings = stage_findings(spec, plugin, called.returned)?;
            return Ok(outcome(spec, plugin, called.spent, findings, Vec::new()));
        }
        let listed = self
            .call(plugin, spec, release, None, bounds, Call::Parts)
            .await?;
        let list = match listed.returned {
            Returned::Parts(Ok(list)) => list,
            Returned::Parts(Err(message)) => return Err(stage_failed(spec, plugin, message)),
            Returned::Findings(_) => return Err(stage_failed(spec, plugin, MIXED_UP.into())),
        };
        if let Some(problem) = invalid_parts(&list) {
            return Err(stage_failed(spec, plugin, problem));
        }
        let mut total = listed.spent;
        let mut findings = Vec::new();
        let mut ran = Vec::with_capacity(list.len());
        for part in &list {
            if let Some(kept) = parts.reuse(part) {
                findings.extend(kept);
                ran.push(PartRun {
                    id: part.id.clone(),
                    reused: true,
                });
                continue;
            }
            parts.starting(part);
            let call = Call::RunPart(&part.id);
            let release = std::mem::replace(&mut total.release, empty_release());
            let called = self
                .call(plugin, spec, release, Some(services), bounds, call)
                .await?;
            total.release = called.spent.release;
            total.instantiate += called.spent.instantiate;
            total.run += called.spent.run;
            total.memory_peak = total.memory_peak.max(called.spent.memory_peak);
            let found = stage_findings(spec, plugin, called.returned)?;
            parts.ran(part, &found);
            findings.extend(found);
            ran.push(PartRun {
                id: part.id.clone(),
                reused: false,
            });
        }
        Ok(outcome(spec, plugin, total, findings, ran))
    }

    /// Makes one call into `plugin` in a fresh store, before `deadline`, writing to `output`.
    async fn call(
        &self,
        plugin: &Plugin,
        spec: &StageSpec,
        release: Release,
        services: Option<&HostServices>,
        (deadline, output): (Instant, &GuestOutput),
        what: Call<'_>,
    ) -> Result<Called> {
        let stage = spec.stage.as_str();
        let (mut store, bounded) = self.store(
            plugin,
            stage,
            &spec.grants,
            spec.limits,
            release,
            services.cloned(),
            (deadline, output),
        )?;
        let started = Instant::now();
        let config = spec.config_json.as_str();
        let call = async {
            // The same call through the bindings of the version the component was built against.
            macro_rules! run {
                ($pre:expr, $export:ident) => {{
                    let instance = $pre.instantiate_async(&mut store).await?;
                    let instantiate = started.elapsed();
                    let handle = store.data_mut().table.push(PayloadHandle)?;
                    let ran = Instant::now();
                    let result = instance
                        .$export()
                        .call_run(&mut store, config, handle)
                        .await?
                        .map(|found| found.into_iter().map(Finding::from).collect::<Vec<_>>());
                    Ok::<_, wasmtime::Error>((
                        Returned::Findings(result),
                        instantiate,
                        ran.elapsed(),
                    ))
                }};
            }
            match (&plugin.pre, what) {
                (Bindings::V0_1(pre), Call::Run) => run!(pre, okd_compose_stage),
                (Bindings::V0_2(pre), Call::Run) => run!(pre, okd_compose0_2_0_stage),
                (Bindings::Check(pre), Call::Run) => run!(pre, okd_compose0_2_0_check_stage),
                (Bindings::Parted(pre), Call::Parts | Call::RunPart(_)) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    let instantiate = started.elapsed();
                    let ran = Instant::now();
                    let export = instance.okd_compose0_3_0_check_parts();
                    let returned = if let Call::RunPart(part) = what {
                        let handle = store.data_mut().table.push(PayloadHandle)?;
                        let result = export
                            .call_run_part(&mut store, config, part, handle)
                            .await?;
                        Returned::Findings(
                            result.map(|found| found.into_iter().map(Finding::from).collect()),
                        )
                    } else {
                        let result = export.call_parts(&mut store, config).await?;
                        Returned::Parts(result.map(|list| {
                            list.into_iter()
                                .map(|p| Part {
                                    id: p.id,
                                    settings: p.settings,
                                })
                                .collect()
                        }))
                    };
                    Ok((returned, instantiate, ran.elapsed()))
                }
                _ => Err(wasmtime::Error::msg(
                    "the host made a call this component's world does not export",
                )),
            }
        };
        // The epoch deadline stops a guest that computes; this stops one blocked in the host.
        let left = deadline.saturating_duration_since(Instant::now());
        let grace = left + Duration::from_secs(1) + EPOCH_TICK;
        let called = tokio::time::timeout(grace, call).await;
        let last_words = output.flush(stage, plugin.label());
        let state = store.data();
        // A host call abandoned at the deadline (a registry that never answers) returns an
        // error to the guest: whatever the guest does with it, the stage ran out of time.
        let timed_out = state.timed_out || bounded.expired();
        let fail = |e: Option<wasmtime::Error>| -> Error {
            if timed_out || e.is_none() {
                Error::TimedOut {
                    stage: stage.to_string(),
                    plugin: plugin.label().to_string(),
                    limit: spec.limits.effective_timeout(),
                }
            } else if let Some(stop) = &state.stopped {
                stop.error(stage, plugin.label())
            } else if state.limiter.breached {
                Error::MemoryLimit {
                    stage: stage.to_string(),
                    plugin: plugin.label().to_string(),
                    limit: spec.limits.effective_memory(),
                }
            } else {
                // The trap code (`wasm trap: wasm `unreachable` instruction executed`), not
                // the backtrace wasmtime puts first.
                let trap = e
                    .map(|e| match e.downcast_ref::<wasmtime::Trap>() {
                        Some(trap) => trap.to_string(),
                        None => e.root_cause().to_string(),
                    })
                    .unwrap_or_default();
                Error::Trapped {
                    stage: stage.to_string(),
                    plugin: plugin.label().to_string(),
                    reason: if last_words.is_empty() {
                        trap
                    } else {
                        format!("{trap}; guest stderr: {last_words}")
                    },
                }
            }
        };
        let (returned, instantiate, run) = match called {
            Err(_elapsed) => return Err(fail(None)),
            Ok(Err(e)) => return Err(fail(Some(e))),
            Ok(Ok(_)) if timed_out => return Err(fail(None)),
            Ok(Ok(done)) => done,
        };
        let memory_peak = state.limiter.peak;
        let release = std::mem::replace(&mut store.data_mut().release, empty_release());
        tracing::debug!(
            stage,
            plugin = plugin.label(),
            instantiate_us = instantiate.as_micros() as u64,
            run_us = run.as_micros() as u64,
            memory_peak,
            "stage call finished"
        );
        Ok(Called {
            returned,
            spent: Spent {
                release,
                instantiate,
                run,
                memory_peak,
            },
        })
    }
}

/// What a call that returned what another call returns fails with (a bug of the host).
const MIXED_UP: &str = "the host got the answer of another call than the one it made";

/// The error of a stage whose call returned `err(message)`.
fn stage_failed(spec: &StageSpec, plugin: &Plugin, message: String) -> Error {
    Error::StageFailed {
        stage: spec.stage.clone(),
        plugin: plugin.label().to_string(),
        message,
    }
}

/// The findings a `run` or `run-part` call returned, or the stage's failure.
fn stage_findings(spec: &StageSpec, plugin: &Plugin, returned: Returned) -> Result<Vec<Finding>> {
    match returned {
        Returned::Findings(Ok(findings)) => Ok(findings),
        Returned::Findings(Err(message)) => Err(stage_failed(spec, plugin, message)),
        Returned::Parts(_) => Err(stage_failed(spec, plugin, MIXED_UP.into())),
    }
}

/// The outcome of a stage whose calls are summed up in `called`.
fn outcome(
    spec: &StageSpec,
    plugin: &Plugin,
    called: Spent,
    findings: Vec<Finding>,
    parts: Vec<PartRun>,
) -> StageOutcome {
    tracing::debug!(
        stage = spec.stage,
        plugin = plugin.label(),
        instantiate_us = called.instantiate.as_micros() as u64,
        run_us = called.run.as_micros() as u64,
        memory_peak = called.memory_peak,
        "stage finished"
    );
    StageOutcome {
        release: called.release,
        findings,
        instantiate: called.instantiate,
        run: called.run,
        memory_peak: called.memory_peak,
        parts,
    }
}

impl Plugin {
    /// Calls the plugin's `describe` in a fresh sandbox with no grants and the default limits
    /// (see [`Plugin::describe_within`] for a stage's own).
    pub async fn describe(&self, runtime: &Runtime) -> Result<PluginInfo> {
        self.describe_within(runtime, Limits::default()).await
    }

    /// Calls the plugin's `describe` in a fresh sandbox with no grants, within `limits` (the
    /// limits of the stage that uses the plugin).
    pub async fn describe_within(&self, runtime: &Runtime, limits: Limits) -> Result<PluginInfo> {
        let output = GuestOutput::new();
        let (mut store, _) = runtime.store(
            self,
            "describe",
            &Grants::default(),
            limits,
            empty_release(),
            None,
            (Instant::now() + limits.effective_timeout(), &output),
        )?;
        let call = async {
            Ok::<PluginInfo, wasmtime::Error>(match &self.pre {
                Bindings::V0_1(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    PluginInfo::from(
                        instance
                            .okd_compose_stage()
                            .call_describe(&mut store)
                            .await?,
                    )
                }
                Bindings::V0_2(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    let stage = instance.okd_compose0_2_0_stage();
                    PluginInfo::from(stage.call_describe(&mut store).await?)
                }
                Bindings::Check(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    let check = instance.okd_compose0_2_0_check_stage();
                    PluginInfo::from(check.call_describe(&mut store).await?)
                }
                Bindings::Parted(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    let check = instance.okd_compose0_3_0_check_parts();
                    PluginInfo::from(check.call_describe(&mut store).await?)
                }
            })
        };
        // The epoch stops the guest at the limit; this, a guest blocked in the host.
        let grace = limits.effective_timeout() + Duration::from_secs(1) + EPOCH_TICK;
        let called = tokio::time::timeout(grace, call).await;
        let last_words = output.flush("describe", self.label());
        let timed_out = store.data().timed_out;
        let memory = store.data().limiter.breached;
        match called {
            Ok(Err(_)) | Err(_) if timed_out => Err(Error::TimedOut {
                stage: "describe".into(),
                plugin: self.label().to_string(),
                limit: limits.effective_timeout(),
            }),
            Ok(Err(_)) if memory => Err(Error::MemoryLimit {
                stage: "describe".into(),
                plugin: self.label().to_string(),
                limit: limits.effective_memory(),
            }),
            Ok(Ok(info)) => Ok(info),
            Ok(Err(e)) => Err(Error::Trapped {
                stage: "describe".into(),
                plugin: self.label().to_string(),
                reason: format!("{e:#}; guest stderr: {last_words}"),
            }),
            Err(_) => Err(Error::TimedOut {
                stage: "describe".into(),
                plugin: self.label().to_string(),
                limit: limits.effective_timeout(),
            }),
        }
    }
}
