//! Exporting a stream to systems that run it elsewhere.
//!
//! - [`tekton`]: a Tekton (`tekton.dev/v1`) Pipeline with one task per stage, each running
//!   `compose run --only STAGE --locked` against a state directory shared through a
//!   workspace, and an example PipelineRun. The tests check every export against Tekton's
//!   schemas and the rules its webhook applies (`tests/e2e/tekton_rules.rs`).

#![deny(missing_docs)]

pub mod error;
pub mod tekton;

pub use error::{Error, Result};
