//! Webhooks: the outbox to the application, and Checkr's signed events coming in.

mod inbound;
pub mod outbox;
