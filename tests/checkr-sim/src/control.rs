//! The simulator's control endpoints, under `/_sim` (not part of Checkr's API): tests and
//! the demo use them to give an account data to sync and to change it. Each acts on the
//! account of the request's token (Basic authentication, as for `/v1`):
//!
//! * `POST /_sim/seed` `{"candidates": N}`: seeds N more candidates with invitations and
//!   reports (see [`crate::seed`]) → `{"seeded": N, "candidates": total}`;
//! * `POST /_sim/churn`: one step of churn → what changed;
//! * `POST /_sim/reports/{id}/complete` `{"result": "clear"|"consider"}` (default
//!   `clear`) → the report;
//! * `POST /_sim/invitations/{id}/complete` → the invitation (completed, with a pending
//!   report);
//! * `POST /_sim/invitations/{id}/expire` → the invitation, expired;
//! * `DELETE /_sim/candidates/{id}` → `{"id", "deleted": true}`; the candidate, its
//!   invitations and its reports are gone;
//! * `POST /_sim/disconnect`: the customer disconnects the partner application in
//!   Checkr's dashboard: the token is revoked and `token.deauthorized` is emitted, as
//!   `POST /oauth/deauthorize` does → `{"access_token", "disconnected": true}`.
//!
//! And, authenticated with the partner application's `client_id:client_secret` as Basic
//! credentials: `PUT /_sim/partner/webhook` `{"webhook_url": "…"|null}` sets (or clears)
//! the application's webhook URL → `{"client_id", "webhook_url"}`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post, put};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::seed;
use crate::state::{Sim, State as SimState};

/// The most candidates one seed request may add.
pub(crate) const MAX_SEED: usize = 1_000_000;

/// The routes.
pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/_sim/seed", post(seed_more))
        .route("/_sim/churn", post(churn))
        .route("/_sim/reports/{id}/complete", post(complete_report))
        .route("/_sim/invitations/{id}/complete", post(complete_invitation))
        .route("/_sim/invitations/{id}/expire", post(expire_invitation))
        .route("/_sim/candidates/{id}", delete(delete_candidate))
        .route("/_sim/disconnect", post(disconnect))
        .route("/_sim/partner/webhook", put(partner_webhook))
}

/// The request body as a JSON object; an empty body is `{}`.
fn body_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::bad_request("the body must be a JSON object")),
    }
}

fn json(value: Value) -> ApiResult {
    Ok(axum::Json(value).into_response())
}

async fn seed_more(State(sim): State<Sim>, auth: Auth, body: Bytes) -> ApiResult {
    let body = body_object(&body)?;
    let n = match body.get("candidates") {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n <= MAX_SEED),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::bad_request(format!(
            "candidates must be an integer between 0 and {MAX_SEED}"
        ))
    })?;
    let mut state = sim.lock();
    seed::seed_account(&mut state, &auth.account_id, n);
    let total = state.account(&auth.account_id)?.candidates.len();
    json(json!({ "seeded": n, "candidates": total }))
}

async fn churn(State(sim): State<Sim>, auth: Auth) -> ApiResult {
    json(seed::churn(&mut sim.lock(), &auth.account_id)?)
}

/// 404 unless the caller's account has a report (or invitation) with this id.
fn owns(state: &SimState, account_id: &str, kind: &str, id: &str) -> Result<(), ApiError> {
    let account = state.account(account_id)?;
    let found = match kind {
        "report" => account.reports.iter().any(|r| r.id == id),
        _ => account.invitations.iter().any(|i| i.id == id),
    };
    if found {
        Ok(())
    } else if kind == "report" {
        Err(ApiError::not_found("Report not found"))
    } else {
        Err(ApiError::not_found("Invitation not found"))
    }
}

async fn complete_report(
    State(sim): State<Sim>,
    auth: Auth,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = body_object(&body)?;
    let result = match body.get("result") {
        None | Some(Value::Null) => "clear",
        Some(Value::String(result)) if result == "clear" || result == "consider" => result,
        Some(_) => return Err(ApiError::bad_request("result must be clear or consider")),
    };
    let mut state = sim.lock();
    owns(&state, &auth.account_id, "report", &id)?;
    if !crate::resources::reports::complete(&mut state, &id, result) {
        return Err(ApiError::bad_request("Report is not pending"));
    }
    let account = state.account(&auth.account_id)?;
    let report = account
        .reports
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::not_found("Report not found"))?;
    json(report.to_json())
}

async fn complete_invitation(
    State(sim): State<Sim>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult {
    let mut state = sim.lock();
    owns(&state, &auth.account_id, "invitation", &id)?;
    if crate::resources::invitations::complete(&mut state, &id).is_none() {
        return Err(ApiError::bad_request("Invitation is not pending"));
    }
    let now = state.now();
    let account = state.account(&auth.account_id)?;
    let invitation = account
        .invitations
        .iter()
        .find(|i| i.id == id)
        .ok_or_else(|| ApiError::not_found("Invitation not found"))?;
    json(invitation.to_json(now))
}

async fn expire_invitation(
    State(sim): State<Sim>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult {
    json(seed::expire_invitation(
        &mut sim.lock(),
        &auth.account_id,
        &id,
    )?)
}

async fn delete_candidate(State(sim): State<Sim>, auth: Auth, Path(id): Path<String>) -> Response {
    match seed::delete_candidate(&mut sim.lock(), &auth.account_id, &id) {
        Ok(value) => axum::Json(value).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn disconnect(State(sim): State<Sim>, auth: Auth) -> ApiResult {
    crate::oauth::deauthorize_token(&mut sim.lock(), &auth.token);
    json(json!({ "access_token": auth.token, "disconnected": true }))
}

/// The `client_id` and `client_secret` of `Authorization: Basic`.
fn client_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

async fn partner_webhook(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let (client_id, client_secret) =
        client_credentials(&headers).ok_or_else(ApiError::unauthorized)?;
    let body = body_object(&body)?;
    let url = match body.get("webhook_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(url)) if url::Url::parse(url).is_ok() => Some(url.clone()),
        Some(_) => return Err(ApiError::bad_request("webhook_url must be a URL or null")),
    };
    let mut state = sim.lock();
    let app = state
        .oauth_apps
        .iter_mut()
        .find(|a| a.client_id == client_id && a.client_secret == client_secret)
        .ok_or_else(ApiError::unauthorized)?;
    app.webhook_url = url.clone();
    json(json!({ "client_id": client_id, "webhook_url": url }))
}
