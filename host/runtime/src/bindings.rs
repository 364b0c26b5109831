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

/// The `integration` world: the `action` world's exports plus a sync's (`describe-syncs`,
/// `fetch-data`) and the imports only syncs use (`records`, `checkpoint`, `metadata`),
/// generated here once and reused by every world that imports them. Those imports wait
/// on the database, so they are async: a sync's host calls hold no thread.
pub mod integration {
    wasmtime::component::bindgen!({
        world: "integration",
        path: "../../wit",
        with: {
            "terapi:runtime/types": super::types,
            "terapi:runtime/connection": super::connection,
            "terapi:runtime/http": super::http,
            "terapi:runtime/log": super::log,
        },
        imports: {
            "terapi:runtime/records.batch-save": async,
            "terapi:runtime/records.batch-update": async,
            "terapi:runtime/records.batch-delete": async,
            "terapi:runtime/records.get-records-by-ids": async,
            "terapi:runtime/records.track-deletes-start": async,
            "terapi:runtime/records.track-deletes-end": async,
            "terapi:runtime/checkpoint.get": async,
            "terapi:runtime/checkpoint.save": async,
            "terapi:runtime/checkpoint.clear": async,
            "terapi:runtime/metadata.get": async,
            "terapi:runtime/metadata.set": async,
        },
        exports: { default: async },
    });
}

pub use integration::terapi::runtime::{checkpoint, metadata, records};
