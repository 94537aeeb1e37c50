//! Host bindings generated from `wit/` (world `plugin` of `okd:compose`).

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    exports: { default: async },
    with: {
        "okd:compose/release.payload": crate::host::PayloadHandle,
    },
});
