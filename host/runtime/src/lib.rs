//! The sandbox that runs stage plugins: WebAssembly components on wasmtime's component model.
//!
//! One [`Runtime`] per process holds the engine, the linker and the on-disk cache of compiled
//! components. [`Runtime::load`] turns plugin bytes into a [`Plugin`] (compiled once, then
//! loaded from the cache) that is pre-instantiated; [`Runtime::run_stage`] runs one stage in a
//! fresh store with the stage's grants and limits:
//!
//! - no network, no environment, no arguments, no files except the read-only directories the
//!   stage was granted;
//! - the host interfaces (`registry`, `signer`) only when granted: a plugin importing one its
//!   stage was not granted is refused before it runs ([`check_grants`]); each capability, with
//!   its grant, its judgement, its link and its host side, is one module of [`capability`];
//! - bounded memory (a resource limiter) and bounded time (epoch interruption inside the guest,
//!   a tokio timeout around every call, and every host call it makes — registry, signer,
//!   payload digest — abandoned at the stage's deadline; a registry query whose answer is at
//!   hand, in memory or in a mirror on local disk, is answered on the stage's thread);
//! - guest stdout, stderr and `log` lines are logged with the stage's name, at most
//!   [`OUTPUT_CAP`] bytes of them per stage run (the rest is dropped, with one warning);
//! - compiled components are cached on disk, each sealed with a keyed hash of what it claims
//!   to be and checked before it is loaded.

mod attachment;
mod bindings;
mod bounded;
mod budget;
mod cache;
pub mod capability;
mod engine;
mod error;
mod finding;
mod output;
mod parts;
mod sandbox;
mod stage;
mod versions;

pub use attachment::ATTACHMENT_KINDS;
pub use budget::default_output_limit;
pub use cache::CacheKey;
pub use capability::registry::{Query as RegistryQueryKind, RegistryQuery};
pub use capability::signer::{SignatureFormat, Signer};
pub use capability::{DigestFn, HostServices};
pub use capability::{FileGrant, Grants};
pub use engine::{Plugin, Runtime, RuntimeConfig};
pub use error::{Error, Result};
pub use finding::{Finding, PluginInfo, Severity};
pub use output::OUTPUT_CAP;
pub use parts::{EveryPart, MAX_PART_ID, MAX_PARTS, Part, PartRun, Parts};
pub use sandbox::{
    DEFAULT_MEMORY, DEFAULT_TIMEOUT, ImportStatus, Limits, StageSpec, check_grants, import_status,
};
pub use stage::StageOutcome;
pub use versions::{STAGE_WIT_VERSION, WIT_PACKAGE, WIT_VERSION, WIT_VERSIONS};
