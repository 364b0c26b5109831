//! Webhooks: the outbox to the application, and Checkr's signed events coming in.

mod from_simulator;
mod inbound;
pub mod outbox;
