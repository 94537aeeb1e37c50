//! Content-addressed image stores: read images by reference, verify every blob, publish
//! release images.
//!
//! - [`Reference`] parses and normalises image references;
//! - [`OciLayout`] is an OCI image layout on disk, the embedded default store;
//! - [`ImageSource`] is what the rest of `compose` reads images through; [`Mirrors`] routes
//!   references to the store serving their repository (offline mirrors of `quay.io/…`);
//! - [`read_release_image`] reads a release payload like `oc adm release info`;
//! - [`write_release_layout`] publishes a built release image all or nothing;
//! - [`RemoteRegistries`] reads from real registries (the OCI distribution API), and
//!   [`push_image`] pushes to them blobs first, manifest next, tag last;
//! - [`WasmArtifact`] packs a plugin component as a Wasm OCI artifact.
//!
//! It never trusts a stored byte: every blob read is checked against its digest.
//!
//! ```
//! use compose_registry::{ImageSource, OciLayout, Reference};
//!
//! let dir = tempfile::tempdir()?;
//! let layout = OciLayout::create(dir.path())?;
//! let digest = layout.write_blob(b"hello")?;
//! let reference = Reference::parse(&format!("quay.io/okd/scos-content@{digest}"))?;
//! assert_eq!(layout.blob(&reference, &digest)?, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod artifact;
pub mod auth;
pub mod error;
pub mod file;
pub mod glob;
pub mod layout;
pub mod mirror;
pub mod progress;
pub mod publish;
pub mod push;
pub mod reference;
pub mod release;
pub mod remote;
pub mod source;

pub use artifact::{ArtifactInfo, ComponentSummary, WasmArtifact, read_wasm_artifact};
pub use auth::{AuthStore, Credentials};
pub use error::{Error, Result};
pub use glob::RepositoryGlob;
pub use layout::OciLayout;
pub use mirror::{Mirrors, PrefixMirror};
pub use progress::{Progress, PushProgress};
pub use publish::{
    OUTPUT_MARKER, check_not_protected, check_replaceable, replace_layout, resolve_existing,
    write_release_layout, write_release_layout_with,
};
pub use push::{PushContent, PushReport, push_content, push_image};
pub use reference::Reference;
pub use release::{ReleaseImage, prefetch_images, read_base_image, read_release_image};
pub use remote::{RemoteConfig, RemoteRegistries, RemoteRegistry, RetryPolicy, is_loopback};
pub use source::ImageSource;
