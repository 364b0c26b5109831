//! Host capabilities: what a sandboxed guest may ask the host for. One module per
//! capability, each owning its `add_to_linker`, so granting a capability is one call and
//! withholding it is leaving that call out.

pub mod connection;
pub mod http;
pub mod log;
pub(crate) mod output;

use crate::bindings::terapi::runtime::types;
use crate::sandbox::Sandbox;
use wasmtime::component::{HasSelf, Linker};

/// The shared types interface has no functions; linking it is a formality.
impl types::Host for Sandbox {}

/// Adds every capability an action may use, and deny-by-default WASI, to `linker`.
pub(crate) fn add_action_capabilities(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    types::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |sandbox| sandbox)?;
    connection::add_to_linker(linker)?;
    http::add_to_linker(linker)?;
    log::add_to_linker(linker)?;
    Ok(())
}
