//! The data of one stage run (its wasmtime store): the payload, the grants and the services
//! they reach, and each capability's state. The capabilities implement their interfaces on
//! [`StageState`].

use std::sync::Arc;

use compose_payload::Release;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::Grants;
use super::registry::RegistryQuery;
use super::signer::Signer;
use crate::budget::{MemoryLimiter, OutputBudget, Stop};

/// How the payload's `digest()` is answered: the digest the release image would have now.
pub type DigestFn = Arc<dyn Fn(&Release) -> Result<String, String> + Send + Sync>;

/// The services a run gives its stages.
#[derive(Clone)]
pub struct HostServices {
    /// Registry queries.
    pub registry: Arc<dyn RegistryQuery>,
    /// Signing.
    pub signer: Arc<dyn Signer>,
    /// Release digests.
    pub digest: DigestFn,
}

/// The data of one store: one stage run.
pub(crate) struct StageState {
    pub stage: String,
    pub plugin: String,
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    /// The deny-only `wasi:http` ([`crate::capability::http`]).
    pub http: super::http::Http,
    pub limiter: MemoryLimiter,
    /// What the stage has written, against its output limit.
    pub output: OutputBudget,
    /// Set when a host call stopped the stage (with the trap it returned).
    pub stopped: Option<Stop>,
    pub release: Release,
    pub grants: Grants,
    pub services: Option<HostServices>,
    pub timed_out: bool,
    /// What the guest writes for people (stdout, stderr, log lines), under one cap.
    pub guest_output: crate::output::GuestOutput,
    /// For a read-only check (world `check` or `parted-check`), the interface it exports:
    /// its first write stops it.
    pub read_only: Option<&'static str>,
}

impl WasiView for StageState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl StageState {
    /// Counts `bytes` written by the call `call` against the output limit; past it, or for a
    /// read-only `check`, stops the stage.
    pub(crate) fn charge(&mut self, call: &str, bytes: usize) -> wasmtime::Result<()> {
        if let Some(export) = self.read_only {
            return self.stop(Stop::Refused(format!(
                "it is a read-only check (it exports `{export}`), and `{call}` would change the payload"
            )));
        }
        let attempted = self.output.written.saturating_add(bytes as u64);
        if attempted > self.output.limit {
            let stop = Stop::Output {
                limit: self.output.limit,
                attempted,
            };
            return self.stop(stop);
        }
        self.output.written = attempted;
        Ok(())
    }

    /// Stops the stage: the trap the host call returns.
    pub(crate) fn stop(&mut self, stop: Stop) -> wasmtime::Result<()> {
        let error = stop.error(&self.stage, &self.plugin);
        self.stopped = Some(stop);
        Err(wasmtime::Error::msg(error.to_string()))
    }

    pub(crate) fn services(&self) -> Result<&HostServices, String> {
        self.services.as_ref().ok_or_else(|| {
            "host services are not available while describing a plugin or listing its parts".into()
        })
    }
}
