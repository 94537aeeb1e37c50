//! Content-addressed image stores: read images by reference, verify every blob, publish
//! release images.
//!
//! - [`Reference`] parses and normalises image references;
//! - [`OciLayout`] is an OCI image layout on disk, the embedded default store;
//! - [`ImageSource`] is what the rest of `compose` reads images through; [`Mirrors`] routes
//!   references to the store serving their repository (offline mirrors of `quay.io/…`);
//! - [`read_release_image`] reads a release payload like `oc adm release info`;
//! - [`write_release_layout`] publishes a built release image all or nothing.
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

pub mod error;
pub mod layout;
pub mod mirror;
pub mod publish;
pub mod reference;
pub mod release;
pub mod source;

pub use error::{Error, Result};
pub use layout::OciLayout;
pub use mirror::Mirrors;
pub use publish::{replace_layout, write_release_layout};
pub use reference::Reference;
pub use release::{ReleaseImage, read_base_image, read_release_image};
pub use source::ImageSource;
