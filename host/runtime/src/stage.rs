//! Running one stage: a fresh store, the stage's sandbox, one call, the outcome.

use std::time::{Duration, Instant};

use compose_payload::Release;
use serde::{Deserialize, Serialize};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};

use crate::bindings::PayloadHandle;
use crate::bindings::v0_1::exports::okd::compose::stage as v0_1;
use crate::bindings::v0_2::okd::compose0_2_0::types as v0_2;
use crate::bounded::Deadline;
use crate::budget::{MemoryLimiter, OutputBudget};
use crate::capability::Grants;
use crate::capability::{HostServices, StageState};
use crate::engine::{Bindings, EPOCH_TICK, Plugin, Runtime};
use crate::error::{Error, Result};
use crate::output::GuestOutput;
use crate::sandbox::{Limits, StageSpec};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Shown in the report only.
    Info,
    /// Reported; the run goes on.
    Warning,
    /// Fails the run when not passed.
    Error,
}

/// One result of one check, as a stage reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The check id.
    pub check: String,
    /// Whether it passed.
    pub passed: bool,
    /// How serious a failure is.
    pub severity: Severity,
    /// What was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A sentence for humans.
    pub message: String,
}

/// Converts the `finding` and `info` records of one version of the WIT package.
macro_rules! from_wit {
    ($wit:ident) => {
        impl From<$wit::Finding> for Finding {
            fn from(f: $wit::Finding) -> Self {
                Finding {
                    check: f.check,
                    passed: f.passed,
                    severity: match f.severity {
                        $wit::Severity::Info => Severity::Info,
                        $wit::Severity::Warning => Severity::Warning,
                        $wit::Severity::Error => Severity::Error,
                    },
                    subject: f.subject,
                    message: f.message,
                }
            }
        }

        impl From<$wit::Info> for PluginInfo {
            fn from(info: $wit::Info) -> Self {
                PluginInfo {
                    name: info.name,
                    version: info.version,
                    description: info.description,
                    config_schema: info.config_schema,
                }
            }
        }
    };
}

from_wit!(v0_1);
from_wit!(v0_2);

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginInfo {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// One sentence.
    pub description: String,
    /// JSON schema of its config, if any.
    pub config_schema: Option<String>,
}

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
    /// The most linear memory the stage held, in bytes.
    pub memory_peak: u64,
}

/// The empty payload a `describe` call sees (it must not touch the payload).
fn empty_release() -> Release {
    Release::new("", "")
}

impl Runtime {
    /// A fresh store for one call into `plugin`, with its output and its deadline (which
    /// bounds the guest through the epoch, and every host call it makes through `services`).
    fn store(
        &self,
        plugin: &Plugin,
        stage: &str,
        grants: &Grants,
        limits: Limits,
        release: Release,
        services: Option<HostServices>,
    ) -> Result<(Store<StageState>, GuestOutput, Deadline)> {
        let deadline = Instant::now() + limits.effective_timeout();
        let bounded = Deadline::new(deadline);
        let output = GuestOutput::new();
        let mut wasi = crate::capability::wasi::context(&output);
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
            read_only: plugin.is_check(),
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
        Ok((store, output, bounded))
    }

    /// Runs one stage on `release` in a fresh sandbox and returns the changed payload.
    pub async fn run_stage(
        &self,
        plugin: &Plugin,
        spec: &StageSpec,
        release: Release,
        services: &HostServices,
    ) -> Result<StageOutcome> {
        crate::sandbox::check_grants(plugin, spec)?;
        let stage = spec.stage.as_str();
        let (mut store, output, deadline) = self.store(
            plugin,
            stage,
            &spec.grants,
            spec.limits,
            release,
            Some(services.clone()),
        )?;
        let started = Instant::now();
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
                        .call_run(&mut store, &spec.config_json, handle)
                        .await?
                        .map(|found| found.into_iter().map(Finding::from).collect::<Vec<_>>());
                    Ok::<_, wasmtime::Error>((result, instantiate, ran.elapsed()))
                }};
            }
            match &plugin.pre {
                Bindings::V0_1(pre) => run!(pre, okd_compose_stage),
                Bindings::V0_2(pre) => run!(pre, okd_compose0_2_0_stage),
                Bindings::Check(pre) => run!(pre, okd_compose0_2_0_check_stage),
            }
        };
        // The epoch deadline stops a guest that computes; this stops one blocked in the host.
        let grace = spec.limits.effective_timeout() + Duration::from_secs(1) + EPOCH_TICK;
        let called = tokio::time::timeout(grace, call).await;
        let last_words = output.flush(stage, plugin.label());
        let state = store.data();
        // A host call abandoned at the deadline (a registry that never answers) returns an
        // error to the guest: whatever the guest does with it, the stage ran out of time.
        let timed_out = state.timed_out || deadline.expired();
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
        let (result, instantiate, run) = match called {
            Err(_elapsed) => return Err(fail(None)),
            Ok(Err(e)) => return Err(fail(Some(e))),
            Ok(Ok(_)) if timed_out => return Err(fail(None)),
            Ok(Ok(done)) => done,
        };
        let findings = match result {
            Ok(findings) => findings,
            Err(message) => {
                return Err(Error::StageFailed {
                    stage: stage.to_string(),
                    plugin: plugin.label().to_string(),
                    message,
                });
            }
        };
        let memory_peak = state.limiter.peak;
        let release = std::mem::replace(&mut store.data_mut().release, empty_release());
        tracing::debug!(
            stage,
            plugin = plugin.label(),
            instantiate_us = instantiate.as_micros() as u64,
            run_us = run.as_micros() as u64,
            memory_peak,
            "stage finished"
        );
        Ok(StageOutcome {
            release,
            findings,
            instantiate,
            run,
            memory_peak,
        })
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
        let (mut store, output, _) = runtime.store(
            self,
            "describe",
            &Grants::default(),
            limits,
            empty_release(),
            None,
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
