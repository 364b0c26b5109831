//! Host-side bindings generated from `wit/terapi.wit`.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "action",
    path: "../wit",
    imports: {
        // Only HTTP waits on the network; the other imports answer from memory.
        "terapi:runtime/http.send": async,
        default: trappable,
    },
    exports: { default: async },
});
