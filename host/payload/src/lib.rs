//! The OKD release payload and its release image format, as `oc adm release new` makes it.
//!
//! This crate is pure: no I/O beyond byte buffers, no async, no wasmtime. It models
//! `release-manifests/` ([`Release`]) and converts it to and from a release image layer.

#![deny(missing_docs)]

pub mod error;
pub mod release;

pub use error::{Error, Result};
pub use release::{Attachment, Image, Release, ReleaseMetadata};
