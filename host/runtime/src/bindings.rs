//! Host-side bindings generated from `wit/terapi.wit`.
//!
//! The capability interfaces every world imports (`types`, `connection`, `http`, `log`)
//! are generated once, from the `host-capabilities` world; each guest world's bindings
//! reuse them (`with`), so a capability's host implementation is written once and serves
//! every kind of guest.

#![allow(missing_docs)]

mod interfaces {
    wasmtime::component::bindgen!({
        world: "host-capabilities",
        path: "../../wit",
        imports: {
            // Only HTTP waits on the network; the other imports answer from memory.
            "terapi:runtime/http.send": async,
            default: trappable,
        },
    });
}

pub use interfaces::terapi::runtime::{connection, http, log, types};

/// The `action` world: `describe` and `run` exports.
pub mod action {
    wasmtime::component::bindgen!({
        world: "action",
        path: "../../wit",
        with: {
            "terapi:runtime/types": super::types,
            "terapi:runtime/connection": super::connection,
            "terapi:runtime/http": super::http,
            "terapi:runtime/log": super::log,
        },
        exports: { default: async },
    });
}
