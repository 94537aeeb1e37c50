//! The Rust guest SDK for `compose` stage plugins: the WIT bindings plus small helpers.
//!
//! A stage plugin is a WebAssembly component exporting `okd:compose/stage` (see `wit/` at the
//! root of the repository). This crate generates the bindings once, so a plugin crate depends on
//! it alone and writes:
//!
//! ```no_run
//! use compose_plugin_sdk::{Finding, Guest, Info, Payload, finding};
//!
//! struct Hello;
//!
//! impl Guest for Hello {
//!     fn describe() -> Info {
//!         Info {
//!             name: "hello".into(),
//!             version: "0.1.0".into(),
//!             description: "Counts the manifests".into(),
//!             config_schema: None,
//!         }
//!     }
//!
//!     fn run(_config: String, release: &Payload) -> Result<Vec<Finding>, String> {
//!         let count = release.manifests().len();
//!         Ok(vec![finding::info("hello", None, format!("{count} manifests"))])
//!     }
//! }
//!
//! compose_plugin_sdk::export!(Hello);
//! # fn main() {}
//! ```
//!
//! and builds it with `cargo build --release --target wasm32-wasip2`. `compose plugin new --lang
//! rust NAME` writes such a crate, with a sample stage and its native tests; the plugin guide
//! (`docs/plugin-guide.md`) has the WIT reference.
//!
//! The helpers never reach around the host: everything a stage does to the payload goes through
//! the `payload` resource, and the YAML helpers edit manifest *text* (one key, every other byte
//! kept) rather than reparsing and reformatting whole files.
//!
//! Testing: on a non-wasm target the generated imports are stubs that panic when called, so keep
//! the logic in functions over the [`Release`] and [`Registry`] traits and test it natively
//! against [`testing::MemoryRelease`] and [`testing::MemoryRegistry`]. [`log`] writes to stderr
//! on a non-wasm target instead of calling the import.
#![deny(missing_docs)]

pub mod config;
pub mod finding;
pub mod glob;
pub mod host;
pub mod image;
pub mod log;
pub mod testing;
pub mod yaml;

/// The bindings generated from `wit/` (package `okd:compose@0.1.0`, world `plugin`).
///
/// Plugins rarely need this module directly: the types they use are re-exported at the crate
/// root. The generated code is `unsafe` (it implements the canonical ABI), hence the `allow`.
#[allow(unsafe_code, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "compose_plugin_sdk::bindings",
        additional_derives: [PartialEq, Eq],
    });
}

pub use bindings::exports::okd::compose::stage::{Finding, Guest, Info, Severity};
pub use bindings::okd::compose::log::Level;
pub use bindings::okd::compose::registry;
pub use bindings::okd::compose::release::{Attachment, Image, Payload};
pub use bindings::okd::compose::signer;
pub use host::{HostRegistry, Registry, Release};

/// Exports a type implementing [`Guest`] as the plugin's `okd:compose/stage` interface.
///
/// Write it once, at the root of the plugin crate: `compose_plugin_sdk::export!(MyStage);`.
#[macro_export]
macro_rules! export {
    ($ty:ident) => {
        // The generated exports are `unsafe extern "C"` functions implementing the canonical
        // ABI; they live in their own module so the plugin crate itself can deny unsafe code.
        #[allow(unsafe_code)]
        mod __compose_plugin_export {
            #[allow(unused_imports)]
            use super::*;
            $crate::bindings::__export_plugin!($ty with_types_in $crate::bindings);
        }
    };
}
