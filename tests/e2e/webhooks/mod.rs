//! Webhooks: the outbox to the application, Checkr's signed events coming in, and the
//! syncs' handlers applying them.

mod from_simulator;
mod handlers;
mod inbound;
mod listen;
pub mod outbox;
