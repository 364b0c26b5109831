//! `POST /webhook/{providerConfigKey}`: a provider's signed webhooks (Checkr's events).
//!
//! No API key — the provider cannot send one; the signature is the authentication (see
//! `terapi_runtime::service::inbound`). The body is read raw (the signature covers its
//! exact bytes) and capped at `server.webhook_max_body_bytes`. Answers: 200 `accepted`
//! or `duplicate` (so the provider stops retrying), 401 without a valid signature, 400
//! for a validly signed body that is not an event, 413 beyond the cap.

use super::AppState;
use super::errors::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use terapi_runtime::service::inbound::Receipt;

/// `POST /webhook/{providerConfigKey}`.
pub async fn receive(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let receipt = state.service().receive_webhook(&key, header, &body).await?;
    Ok(Json(match receipt {
        Receipt::Accepted {
            event_id,
            routed,
            revoked,
        } => {
            json!({ "status": "accepted", "event_id": event_id, "routed": routed, "revoked": revoked })
        }
        Receipt::Duplicate { event_id } => json!({ "status": "duplicate", "event_id": event_id }),
    }))
}
