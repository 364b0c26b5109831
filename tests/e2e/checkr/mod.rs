//! The Checkr actions against the simulator (every request contract-checked against
//! Checkr's OpenAPI description).

mod background_checks;
mod candidates;
mod services;
pub mod support;
