//! What a WebAssembly component says about itself, read from its binary without running or
//! compiling it: the interfaces it imports and exports, the world it targets, the version of
//! the compose WIT package it was built against.

use serde::Serialize;
use wit_parser::decoding::{DecodedWasm, decode};
use wit_parser::{Resolve, WorldItem, WorldKey};

/// The compose WIT package, without version.
const COMPOSE_PACKAGE: &str = "okd:compose";

/// The worlds of the compose package a component may target, by the interface it exports:
/// a stage, a read-only check, a read-only check in parts.
const COMPOSE_WORLDS: [(&str, &str); 3] = [
    ("stage", "plugin"),
    ("check-stage", "check"),
    ("check-parts", "parted-check"),
];

/// The compose world an export names, with its version: `okd:compose/check-parts@0.3.0` →
/// (`parted-check`, `0.3.0`).
fn compose_world(export: &str) -> Option<(&'static str, &str)> {
    let rest = export.strip_prefix(COMPOSE_PACKAGE)?.strip_prefix('/')?;
    let (interface, version) = rest.split_once('@')?;
    COMPOSE_WORLDS
        .iter()
        .find(|(exported, _)| *exported == interface)
        .map(|(_, world)| (*world, version))
}

/// A component's interface, as `compose plugin inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentInterface {
    /// The world: `okd:compose/plugin@0.1.0` for a compose stage (`check@…`,
    /// `parted-check@…` for checks), else the name the component's type gives (`root` for
    /// most toolchains).
    pub world: String,
    /// Imported interfaces and functions (`okd:compose/log@0.1.0`, `wasi:cli/stdout@0.2.6`).
    pub imports: Vec<String>,
    /// Exported interfaces and functions (`okd:compose/stage@0.1.0`).
    pub exports: Vec<String>,
    /// The version of `okd:compose` it uses, if it uses it: that of the world it exports
    /// (a check in parts of 0.3.0 imports 0.2.0 interfaces).
    pub wit_version: Option<String>,
}

impl ComponentInterface {
    /// Whether it exports a compose world's interface: `stage`, `check-stage` or
    /// `check-parts`.
    pub fn is_compose_plugin(&self) -> bool {
        self.exports.iter().any(|e| compose_world(e).is_some())
    }
}

fn item_name(resolve: &Resolve, key: &WorldKey, item: &WorldItem) -> Option<String> {
    match item {
        WorldItem::Interface { id, .. } => Some(match key {
            WorldKey::Name(name) => resolve.id_of(*id).unwrap_or_else(|| name.clone()),
            WorldKey::Interface(_) => resolve.name_world_key(key),
        }),
        WorldItem::Function(f) => Some(f.name.clone()),
        // Types are implied by the interfaces that use them.
        WorldItem::Type { .. } => None,
    }
}

/// Reads the interface of the component `bytes`; an error (as text) if they are not a
/// component (a core module, a WIT package, junk).
pub fn inspect_component(bytes: &[u8]) -> Result<ComponentInterface, String> {
    // `\0asm`, then a 16-bit version and a 16-bit layer: layer 1 is a component.
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => {}
        Some([0, b'a', b's', b'm', ..]) => {
            return Err("a core WebAssembly module, not a component: build it for `wasm32-wasip2` or wrap it with `wasm-tools component new`".to_string());
        }
        _ => return Err("not a WebAssembly binary".to_string()),
    }
    let decoded = decode(bytes).map_err(|e| format!("not a WebAssembly component: {e:#}"))?;
    let (resolve, world_id) = match decoded {
        DecodedWasm::Component(resolve, world) => (resolve, world),
        DecodedWasm::WitPackage(..) => {
            return Err("a WIT package, not a component".to_string());
        }
    };
    let world = &resolve.worlds[world_id];
    let imports: Vec<String> = world
        .imports
        .iter()
        .filter_map(|(k, i)| item_name(&resolve, k, i))
        .collect();
    let exports: Vec<String> = world
        .exports
        .iter()
        .filter_map(|(k, i)| item_name(&resolve, k, i))
        .collect();
    let exported = exports.iter().find_map(|e| compose_world(e));
    let wit_version = match exported {
        Some((_, version)) => Some(version.to_string()),
        None => imports
            .iter()
            .chain(&exports)
            .filter_map(|name| name.strip_prefix(&format!("{COMPOSE_PACKAGE}/")))
            .find_map(|rest| rest.split_once('@').map(|(_, v)| v.to_string())),
    };
    let world_name = match exported {
        Some((world, version)) => format!("{COMPOSE_PACKAGE}/{world}@{version}"),
        None => world.name.clone(),
    };
    Ok(ComponentInterface {
        world: world_name,
        imports,
        exports,
        wit_version,
    })
}

/// The custom section a component carries (at its top level or in one of its core modules)
/// to declare that its result depends on more than its inputs (the clock, randomness): its
/// stages are never reused.
pub const NONDETERMINISTIC_SECTION: &str = "compose:nondeterministic";

/// Whether a component (or core module) declares [`NONDETERMINISTIC_SECTION`], at its top
/// level or in a nested component or core module (`wasmparser` walks them all). Bytes that do
/// not parse declare nothing past the point where they stop parsing.
pub fn declares_nondeterministic(wasm: &[u8]) -> bool {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .map_while(Result::ok)
        .any(|payload| {
            matches!(payload, wasmparser::Payload::CustomSection(section)
                if section.name() == NONDETERMINISTIC_SECTION)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_builtin_plugin_is_a_compose_plugin() {
        let builtin = compose_builtins::all().first().expect("a builtin plugin");
        let info = inspect_component(builtin.wasm).unwrap();
        assert!(info.is_compose_plugin(), "{info:?}");
        let v = info.wit_version.clone().unwrap();
        assert_eq!(info.world, format!("okd:compose/plugin@{v}"));
        assert!(
            info.exports.contains(&format!("okd:compose/stage@{v}")),
            "{info:?}"
        );
        assert!(
            info.imports
                .iter()
                .any(|i| i.starts_with("okd:compose/release@")),
            "{info:?}"
        );
    }

    #[test]
    fn the_test_release_builtin_is_a_check_in_parts_of_0_3() {
        let builtin = compose_builtins::find("test-release").expect("test-release");
        let info = inspect_component(builtin.wasm).unwrap();
        assert!(info.is_compose_plugin(), "{info:?}");
        assert_eq!(info.world, "okd:compose/parted-check@0.3.0");
        assert_eq!(info.wit_version.as_deref(), Some("0.3.0"));
        assert!(
            info.imports
                .contains(&"okd:compose/release@0.2.0".to_string()),
            "{info:?}"
        );
        assert_eq!(
            compose_world("okd:compose/check-stage@0.2.0"),
            Some(("check", "0.2.0"))
        );
        assert_eq!(compose_world("okd:compose/log@0.2.0"), None);
        assert_eq!(compose_world("okd:composer/stage@0.2.0"), None);
    }

    #[test]
    fn junk_and_core_modules_are_refused() {
        assert!(inspect_component(b"not wasm").is_err());
        // An empty core module: `\0asm`, version 1.
        assert!(inspect_component(b"\0asm\x01\0\0\0").is_err());
    }

    fn custom(name: &str) -> Vec<u8> {
        let mut body = vec![name.len() as u8];
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(b"data");
        let mut s = vec![0, body.len() as u8];
        s.extend(body);
        s
    }

    fn module(sections: &[u8]) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(sections);
        m
    }

    fn component(sections: &[u8]) -> Vec<u8> {
        let mut m = b"\0asm\x0d\0\x01\0".to_vec();
        m.extend_from_slice(sections);
        m
    }

    #[test]
    fn the_section_is_found_at_the_top_or_in_a_nested_module() {
        assert!(declares_nondeterministic(&module(&custom(
            NONDETERMINISTIC_SECTION
        ))));
        assert!(!declares_nondeterministic(&module(&custom("name"))));
        let inner = module(&custom(NONDETERMINISTIC_SECTION));
        let mut nested = vec![1, inner.len() as u8];
        nested.extend(&inner);
        assert!(declares_nondeterministic(&component(&nested)));
        // A module section of a core module is not a nested module.
        assert!(!declares_nondeterministic(&module(&nested)));
        assert!(!declares_nondeterministic(b"not wasm"));
        // Truncated: declares nothing, and does not panic.
        let whole = component(&nested);
        assert!(!declares_nondeterministic(&whole[..whole.len() - 3]));
    }

    #[test]
    fn builtin_plugins_are_deterministic() {
        for b in compose_builtins::all() {
            assert!(!declares_nondeterministic(b.wasm), "{}", b.name);
        }
    }
}
