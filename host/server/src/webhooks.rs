//! `GET /webhooks` and `POST /webhooks/{id}/replay`: the outbox of webhooks terapi sends
//! to the application, so failed deliveries are visible and can be sent again.

use super::AppState;
use super::errors::ApiError;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use std::collections::HashMap;
use terapi_runtime::util::iso;

/// Default and largest page.
const MAX: usize = 1_000;

/// `GET /webhooks?failed=true&limit=N`: the newest entries first.
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let failed = match query.get("failed").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::invalid_query(format!(
                "`failed` must be `true` or `false`, not `{other}`"
            )));
        }
    };
    let limit = match query.get("limit") {
        None => MAX,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX).contains(limit))
            .ok_or_else(|| {
                ApiError::invalid_query(format!("`limit` must be from 1 to {MAX}, not `{text}`"))
            })?,
    };
    let webhooks = state.service().webhooks(failed, limit).await?;
    let listed: Vec<Value> = webhooks
        .into_iter()
        .map(|webhook| {
            json!({
                "id": webhook.id,
                "url": webhook.url,
                "status": webhook.status.as_str(),
                "attempts": webhook.attempts,
                "created_at": iso(webhook.created_at),
                "next_attempt_at": webhook.next_attempt_at.map(iso),
                "delivered_at": webhook.delivered_at.map(iso),
                "last_error": webhook.last_error,
                "body": serde_json::from_str::<Value>(&webhook.body).unwrap_or(Value::String(webhook.body)),
            })
        })
        .collect();
    Ok(Json(json!({ "webhooks": listed })))
}

/// `POST /webhooks/{id}/replay`: queues the webhook again.
pub async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::invalid_query(format!("webhook id `{id}` is not a number")))?;
    state.service().replay_webhook(id).await?;
    Ok(Json(json!({ "success": true })))
}
