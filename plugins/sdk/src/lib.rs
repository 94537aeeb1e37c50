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

/// The bindings generated from `wit/` (package `okd:compose@0.2.0`, in
/// `wit/deps/okd-compose@0.2.0/`, world `plugin`).
///
/// Plugins rarely need this module directly: the types they use are re-exported at the crate
/// root. The generated code is `unsafe` (it implements the canonical ABI), hence the `allow`.
/// (`wit/` holds 0.3.0 and the released 0.1.0 and 0.2.0 in `wit/deps/`, hence the versioned
/// module names.)
#[allow(unsafe_code, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "okd:compose/plugin@0.2.0",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "compose_plugin_sdk::bindings",
        additional_derives: [PartialEq, Eq],
    });
}

/// The bindings of world `check` (`okd:compose@0.2.0`): the export of a read-only check. Its
/// imports are those of [`bindings`], so a check uses the same [`Payload`] and helpers.
#[allow(unsafe_code, missing_docs)]
pub mod check_bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "okd:compose/check@0.2.0",
        pub_export_macro: true,
        export_macro_name: "__export_check",
        default_bindings_module: "compose_plugin_sdk::check_bindings",
        with: {
            "okd:compose/release@0.2.0": crate::bindings::okd::compose0_2_0::release,
            "okd:compose/log@0.2.0": crate::bindings::okd::compose0_2_0::log,
            "okd:compose/registry@0.2.0": crate::bindings::okd::compose0_2_0::registry,
            "okd:compose/types@0.2.0": crate::bindings::okd::compose0_2_0::types,
        },
    });
}

/// The bindings of world `parted-check` (`okd:compose@0.3.0`): the export of a read-only check
/// in parts. Its imports are the 0.2.0 ones of [`bindings`].
#[allow(unsafe_code, missing_docs)]
pub mod parted_bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "okd:compose/parted-check@0.3.0",
        pub_export_macro: true,
        export_macro_name: "__export_parted_check",
        default_bindings_module: "compose_plugin_sdk::parted_bindings",
        with: {
            "okd:compose/release@0.2.0": crate::bindings::okd::compose0_2_0::release,
            "okd:compose/log@0.2.0": crate::bindings::okd::compose0_2_0::log,
            "okd:compose/registry@0.2.0": crate::bindings::okd::compose0_2_0::registry,
            "okd:compose/types@0.2.0": crate::bindings::okd::compose0_2_0::types,
        },
    });
}

pub use bindings::exports::okd::compose0_2_0::stage::Guest;
pub use bindings::okd::compose0_2_0::log::Level;
pub use bindings::okd::compose0_2_0::registry;
pub use bindings::okd::compose0_2_0::release::{Attachment, Image, Payload};
pub use bindings::okd::compose0_2_0::signer;
pub use bindings::okd::compose0_2_0::types::{Finding, Info, Severity};
/// What a read-only check implements (world `check`): `describe` and `run`, as [`Guest`].
pub use check_bindings::exports::okd::compose0_2_0::check_stage::Guest as Check;
pub use host::{HostRegistry, Registry, Release};
/// What a read-only check in parts implements (world `parted-check`): `describe`, `parts` and
/// `run-part`.
pub use parted_bindings::exports::okd::compose0_3_0::check_parts::Guest as PartedCheck;
/// One part of a [`PartedCheck`]: its id and the settings its findings depend on.
pub use parted_bindings::exports::okd::compose0_3_0::check_parts::Part;

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

/// Exports a type implementing [`Check`] as the plugin's `okd:compose/check-stage` interface:
/// the component targets world `check`, and the host runs it read-only (any write to the
/// payload stops it). Write it once, at the root of the plugin crate, instead of [`export!`].
#[macro_export]
macro_rules! export_check {
    ($ty:ident) => {
        #[allow(unsafe_code)]
        mod __compose_check_export {
            #[allow(unused_imports)]
            use super::*;
            $crate::check_bindings::__export_check!($ty with_types_in $crate::check_bindings);
        }
    };
}

/// Exports a type implementing [`PartedCheck`] as the plugin's `okd:compose/check-parts`
/// interface: the component targets world `parted-check`, the host runs it read-only and
/// reruns only the parts whose settings or inputs changed. Write it once, at the root of the
/// plugin crate, instead of [`export!`] or [`export_check!`].
#[macro_export]
macro_rules! export_parted_check {
    ($ty:ident) => {
        #[allow(unsafe_code)]
        mod __compose_parted_check_export {
            #[allow(unused_imports)]
            use super::*;
            $crate::parted_bindings::__export_parted_check!($ty with_types_in $crate::parted_bindings);
        }
    };
}
