//! Host bindings generated from `wit/`: one module per released version of `okd:compose` the
//! host offers, linked side by side (as Spin links `spin@2` and `spin@3`).
//!
//! - [`v0_1`]: `okd:compose@0.1.0` (`wit/deps/okd-compose@0.1.0/`), world `plugin`;
//! - [`v0_2`]: `okd:compose@0.2.0` (`wit/deps/okd-compose@0.2.0/`), world `plugin`;
//! - [`check`]: world `check` of 0.2.0, over the same imports as [`v0_2`];
//! - [`parted`]: world `parted-check` of `okd:compose@0.3.0` (`wit/`), which adds an export
//!   and no import: its imports are those of [`v0_2`].
//!
//! Each capability's module (`capability/`) links its interfaces of every version and
//! implements those of the newest; the older versions' imports delegate to it.

/// `okd:compose@0.1.0`, world `plugin`.
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/deps/okd-compose@0.1.0",
        world: "plugin",
        exports: { default: async },
        // The writes that count against `limits.output` (and `attach`, which refuses unknown
        // kinds) may stop the stage: a trap the stage cannot ignore.
        imports: {
            "okd:compose/release.[method]payload.write-manifest": trappable,
            "okd:compose/release.[method]payload.set-metadata": trappable,
            "okd:compose/release.[method]payload.put-image": trappable,
            "okd:compose/release.[method]payload.rewrite-pullspec": trappable,
            "okd:compose/release.[method]payload.attach": trappable,
            "okd:compose/release.[method]payload.remove-image": trappable,
            "okd:compose/release.[method]payload.remove-manifest": trappable,
        },
        with: {
            "okd:compose/release.payload": crate::bindings::PayloadHandle,
        },
    });
}

/// `okd:compose@0.2.0`, world `plugin`.
pub(crate) mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "okd:compose/plugin@0.2.0",
        exports: { default: async },
        // Every write may stop the stage: past `limits.output`, an `attach` of an unknown
        // kind, and any write from a read-only `check`.
        imports: {
            "okd:compose/release.[method]payload.write-manifest": trappable,
            "okd:compose/release.[method]payload.set-metadata": trappable,
            "okd:compose/release.[method]payload.put-image": trappable,
            "okd:compose/release.[method]payload.rewrite-pullspec": trappable,
            "okd:compose/release.[method]payload.attach": trappable,
            "okd:compose/release.[method]payload.remove-image": trappable,
            "okd:compose/release.[method]payload.remove-manifest": trappable,
        },
        with: {
            "okd:compose/release.payload": crate::bindings::PayloadHandle,
        },
    });
}

/// `okd:compose@0.2.0`, world `check`: its imports are those of [`v0_2`].
pub(crate) mod check {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "okd:compose/check@0.2.0",
        exports: { default: async },
        with: {
            "okd:compose/release": super::v0_2::okd::compose0_2_0::release,
            "okd:compose/log": super::v0_2::okd::compose0_2_0::log,
            "okd:compose/registry": super::v0_2::okd::compose0_2_0::registry,
            "okd:compose/types": super::v0_2::okd::compose0_2_0::types,
        },
    });
}

/// `okd:compose@0.3.0`, world `parted-check`: its imports are those of [`v0_2`].
pub(crate) mod parted {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "okd:compose/parted-check@0.3.0",
        exports: { default: async },
        with: {
            "okd:compose/release@0.2.0": super::v0_2::okd::compose0_2_0::release,
            "okd:compose/log@0.2.0": super::v0_2::okd::compose0_2_0::log,
            "okd:compose/registry@0.2.0": super::v0_2::okd::compose0_2_0::registry,
            "okd:compose/types@0.2.0": super::v0_2::okd::compose0_2_0::types,
        },
    });
}

/// The host type behind the WIT `payload` resource. The payload itself lives in the store
/// (one per stage run); the handle only names it.
pub struct PayloadHandle;
