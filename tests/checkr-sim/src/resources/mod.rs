//! The REST resources under `/v1`, one module each. A module owns its record type,
//! its JSON rendering and its routes; [`router`] merges them. Adding a resource is
//! adding a module and one `merge` line.

pub(crate) mod account;
pub(crate) mod candidates;
pub(crate) mod invitations;
pub(crate) mod nodes;
pub(crate) mod packages;
pub(crate) mod reports;
pub(crate) mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;

use crate::error::{self, error_response};
use crate::state::Sim;
use crate::{contract, faults, idempotency, oauth, ratelimit, recording};

/// The whole application: routes, then (inside out) JSON-ifying of stray error
/// responses, faults, idempotency, rate limiting, recording and the contract check.
pub(crate) fn router(sim: Sim) -> Router {
    Router::new()
        .merge(account::routes())
        .merge(candidates::routes())
        .merge(invitations::routes())
        .merge(reports::routes())
        .merge(packages::routes())
        .merge(nodes::routes())
        .merge(webhooks::routes())
        .merge(oauth::routes())
        .merge(crate::control::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn(error::json_errors))
        .layer(DefaultBodyLimit::max(recording::MAX_BODY))
        .layer(from_fn_with_state(sim.clone(), faults::middleware))
        .layer(from_fn_with_state(sim.clone(), idempotency::middleware))
        .layer(from_fn_with_state(sim.clone(), ratelimit::middleware))
        .layer(from_fn_with_state(sim.clone(), recording::middleware))
        .layer(from_fn_with_state(sim.clone(), contract::middleware))
        .with_state(sim)
}

/// `object` without its `null` members, except the `nullable` ones. Checkr's OpenAPI
/// description types most fields as non-nullable strings, so a field without a value is
/// left out rather than sent as `null` (Checkr's own examples show `null`s, but what users
/// of the simulator see should be what the description allows).
pub(crate) fn omit_nulls(object: serde_json::Value, nullable: &[&str]) -> serde_json::Value {
    match object {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .filter(|(key, value)| !value.is_null() || nullable.contains(&key.as_str()))
                .collect(),
        ),
        other => other,
    }
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "Not Found")
}

async fn method_not_allowed() -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}
