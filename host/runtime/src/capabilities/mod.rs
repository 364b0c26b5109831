//! Host capabilities: what a sandboxed guest may ask the host for.
//!
//! One module per capability, each owning its state (`ConnectionState`, `HttpState`,
//! `LogState`, `WasiState`; for syncs `RecordsState`, `CheckpointState`,
//! `MetadataState`, which share one `SyncRun`) and its `add_to_linker`, which takes a projection from the
//! store's data to that state. A world's sandbox composes the states it grants and links
//! each with one call; withholding a capability is leaving that call out, and a
//! component importing it then fails to load instead of failing at run time.

pub(crate) mod checkpoint;
pub(crate) mod connection;
pub(crate) mod http;
pub mod log;
pub(crate) mod metadata;
pub(crate) mod output;
pub(crate) mod records;
pub(crate) mod wasi;

use crate::bindings::types;
use wasmtime::component::{HasData, Linker};

/// The shared types interface has no functions: it is linked as an empty instance.
struct NoState;

impl HasData for NoState {
    type Data<'a> = NoState;
}

impl types::Host for NoState {}

/// Links the shared `types` interface.
pub(crate) fn add_types_to_linker<T: 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    types::add_to_linker::<T, NoState>(linker, |_| NoState)
}
