//! Stream files: the schema of `streams/*.toml`, parsing with locations, and validation.
//!
//! [`load`] turns a file into a [`Stream`] in which every path is resolved against the stream
//! file's directory and every limit is parsed, or into [`Error::Invalid`] listing every problem
//! with `file:line:column`. This crate does no network or plugin work.

#![deny(missing_docs)]

pub mod diagnostic;
pub mod error;
pub mod load;
pub mod model;
pub mod schema;
pub mod stage_config;
pub mod trust;
pub mod units;

pub use diagnostic::{Diagnostic, Diagnostics, Location};
pub use error::{Error, Result};
pub use load::{LoadOptions, load, parse};
pub use model::{
    FileGrant, Grants, Key, KeySource, Limits, Mirror, PluginRef, RemoteMirror, Stage, Stream,
    TrustedKey,
};
