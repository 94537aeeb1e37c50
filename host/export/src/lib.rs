//! Exporting a stream to systems that run it elsewhere.
//!
//! - [`tekton`]: a Tekton (`tekton.dev/v1`) Pipeline with one task per stage, each running
//!   `compose run --only STAGE --locked` against a state directory shared through a
//!   workspace, and an example PipelineRun; [`tekton::rules`] checks a Pipeline the way the
//!   Tekton webhook does before anything is written.

#![deny(missing_docs)]

pub mod error;
pub mod tekton;

pub use error::{Error, Result};
