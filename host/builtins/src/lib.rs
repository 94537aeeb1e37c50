//! The first-party stage plugins, compiled for `wasm32-wasip2` and embedded in the binary.
//!
//! `build.rs` builds the `plugins/` workspace (a separate Cargo workspace: the plugins depend
//! only on `wit/` and the guest SDK, like anyone's) and embeds each component with its SHA-256,
//! so `plugin = "select-images"` in a stream works offline after a plain `cargo install`, and
//! tests load exactly the bytes that ship.
//!
//! This crate only holds bytes: it does not compile, link or run them (that is
//! `compose-runtime`'s job).
//!
//! ```
//! let stage = compose_builtins::find("select-images").expect("a stock plugin");
//! assert!(stage.sha256.starts_with("sha256:"));
//! assert!(compose_builtins::all().iter().any(|b| b.name == "swap-os-image"));
//! ```
#![deny(missing_docs)]

/// One embedded plugin component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    /// The name streams use (`plugin = "select-images"`): the crate folder under `plugins/`.
    pub name: &'static str,
    /// The component's bytes (a WebAssembly component, not a core module).
    pub wasm: &'static [u8],
    /// The digest of `wasm`, as `sha256:<64 lowercase hex>`.
    pub sha256: &'static str,
}

// `static ALL: &[Builtin]`, written by build.rs.
include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// Every stock plugin, sorted by name.
pub fn all() -> &'static [Builtin] {
    ALL
}

/// The stock plugin called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Builtin> {
    ALL.iter().find(|builtin| builtin.name == name)
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    /// `\0asm`, then the component-model version (0x0d) and layer (1), little-endian: a core
    /// module has version 1, layer 0 here instead.
    const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    /// Whether the component's bytes name an interface; the names of imported interfaces are
    /// stored as plain strings in the component's import section.
    fn mentions(builtin: &Builtin, interface: &str) -> bool {
        builtin
            .wasm
            .windows(interface.len())
            .any(|w| w == interface.as_bytes())
    }

    #[test]
    fn the_stock_plugins_are_there_sorted_and_unique() {
        let names: Vec<&str> = all().iter().map(|b| b.name).collect();
        assert_eq!(
            names,
            [
                "patch-manifests",
                "select-images",
                "sign",
                "swap-os-image",
                "test-release"
            ]
        );
        assert_eq!(find("swap-os-image").map(|b| b.name), Some("swap-os-image"));
        assert_eq!(find("no-such-plugin"), None);
    }

    #[test]
    fn embedded_bytes_are_components() {
        for builtin in all() {
            assert!(
                builtin.wasm.starts_with(&COMPONENT_HEADER),
                "`{}` does not start with a component header: {:02x?}",
                builtin.name,
                &builtin.wasm[..builtin.wasm.len().min(8)]
            );
            // `test-release` is a read-only check in parts (world `parted-check`); the others
            // are stages.
            let export = if builtin.name == "test-release" {
                "okd:compose/check-parts@0.3.0"
            } else {
                "okd:compose/stage@0.2.0"
            };
            assert!(
                mentions(builtin, export),
                "`{}` does not export `{export}`",
                builtin.name
            );
        }
    }

    #[test]
    fn digests_match_the_bytes() {
        for builtin in all() {
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(builtin.wasm)));
            assert_eq!(builtin.sha256, digest, "digest of `{}`", builtin.name);
        }
    }

    #[test]
    fn imports_match_what_the_stream_must_grant() {
        // (plugin, imports registry, imports signer): what its stage must grant.
        let expected = [
            ("patch-manifests", false, false),
            ("select-images", true, false),
            ("sign", false, true),
            ("swap-os-image", true, false),
            ("test-release", true, false),
        ];
        for builtin in all() {
            let Some((_, registry, signer)) = expected.iter().find(|(n, _, _)| *n == builtin.name)
            else {
                panic!("add `{}` to the expectations of this test", builtin.name);
            };
            assert!(
                mentions(builtin, "okd:compose/release@0.2.0"),
                "{}",
                builtin.name
            );
            assert_eq!(
                mentions(builtin, "okd:compose/registry@0.2.0"),
                *registry,
                "registry import of {}",
                builtin.name
            );
            assert_eq!(
                mentions(builtin, "okd:compose/signer@0.2.0"),
                *signer,
                "signer import of {}",
                builtin.name
            );
        }
    }
}
