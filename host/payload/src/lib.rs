//! The OKD release payload and its release image format, as `oc adm release new` makes it.
//!
//! This crate is pure: no I/O beyond byte buffers, no async, no wasmtime. It models
//! `release-manifests/` ([`Release`]) and converts it to and from a release image layer:
//!
//! - [`image_references`] and [`release_metadata`] write the two metadata files byte for byte
//!   as oc does and read them back with the CVO's checks;
//! - [`layer`] builds the release layer deterministically and reads one back;
//! - [`image`] puts that layer on the cluster-version-operator image ([`build_release_image`])
//!   and rebuilds a [`Release`] from a release image ([`read_release`]);
//! - [`oci`] holds the OCI/Docker manifest types shared with the registry layer.
//!
//! ```
//! use std::collections::BTreeMap;
//! use compose_payload::{Release, ReleaseMetadata, build_release_layer};
//!
//! let release = Release {
//!     name: "4.17.0-okd-scos.0".into(),
//!     metadata: ReleaseMetadata::new("4.17.0-okd-scos.0"),
//!     images: BTreeMap::new(),
//!     manifests: BTreeMap::new(),
//!     files: BTreeMap::new(),
//!     annotations: BTreeMap::new(),
//!     created: "2024-09-03T00:00:00Z".into(),
//!     attachments: Vec::new(),
//! };
//! let a = build_release_layer(&release)?;
//! let b = build_release_layer(&release)?;
//! assert_eq!(a.digest, b.digest); // same release, same layer digest
//! # Ok::<(), compose_payload::Error>(())
//! ```

#![deny(missing_docs)]

pub mod cvo_yaml;
pub mod diff;
pub mod error;
mod gojson;
pub mod gzip;
pub mod image;
pub mod image_references;
pub mod layer;
pub mod oci;
pub mod release;
pub mod release_metadata;
pub mod timestamp;

pub use error::{Error, Result};
pub use image::{
    BaseImage, BuiltImage, build_release_image, build_release_image_with, read_release,
    validate_release,
};
pub use image_references::{ImageReferences, read_image_references, write_image_references};
pub use layer::{
    LayerBlob, LayerCache, build_release_layer, build_release_layer_with, read_release_layer,
};
pub use oci::{Descriptor, ImageIndex, ImageManifest, sha256_digest};
pub use release::{Attachment, Image, Release, ReleaseMetadata};
pub use release_metadata::{read_release_metadata, validate_release_name, write_release_metadata};
