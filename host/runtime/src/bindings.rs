//! Host bindings generated from `wit/` (world `plugin` of `okd:compose`).

wasmtime::component::bindgen!({
    path: "../../wit",
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
    },
    with: {
        "okd:compose/release.payload": crate::host::PayloadHandle,
    },
});
