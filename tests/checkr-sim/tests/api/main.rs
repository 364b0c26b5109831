//! The REST API under `/v1`, one module per resource: authentication and rate limits,
//! account, candidates (with pagination and idempotency), invitations and reports,
//! packages, nodes, webhooks.

#[path = "../common/mod.rs"]
mod common;

mod account;
mod auth;
mod candidates;
mod invitations;
mod nodes;
mod packages;
mod webhooks;
