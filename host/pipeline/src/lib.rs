//! Plan and run a stream: resolve plugins, run the stages in their sandboxes, check the
//! result, build the release image and publish it.
//!
//! The order is fixed: every plugin is loaded and its imports checked against its grants
//! before the first stage runs; the output is written only after every stage passed, and then
//! atomically (a failed run leaves the previous output as it was).

#![deny(missing_docs)]

pub mod builder;
pub mod check;
pub mod component;
pub mod error;
pub mod events;
pub mod fetch;
pub mod lock;
pub mod plan;
pub mod provenance;
pub mod push;
pub mod report;
pub mod run;
mod signing;
pub mod sources;
pub mod stage_cache;
pub mod state;
mod trust;

pub use check::{check_release, is_check};
pub use error::{Error, Result};
pub use events::{Event, Observer, Quiet};
pub use fetch::{FetchedPlugin, PluginFetcher};
pub use lock::{Lock, lock_path};
pub use plan::{Plan, PlannedStage, plan, plan_selected, plan_with};
pub use push::Pushed;
pub use report::StageReport;
pub use run::{Run, RunOptions, RunOutcome, StateRead, run, run_from_state};
pub use state::{Selection, StateOptions};
