//! `GET /webhooks` and `POST /webhooks/{id}/replay`: the outbox of webhooks terapi sends
//! to the application (sync results, forwarded provider events). terapi's own routes
//! (Nango has no equivalent): a delivery that failed for good stays listed here until it
//! is replayed.

use super::AppState;
use super::errors::ApiError;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use std::collections::HashMap;
use terapi_runtime::store::{DeliveryFilter, DeliveryStatus};

/// Largest page of `GET /webhooks`.
const MAX_LIMIT: usize = 1_000;

/// `GET /webhooks?status=pending|delivered|failed&limit=N`, newest first.
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let status = query
        .get("status")
        .map(|text| {
            DeliveryStatus::parse(text).ok_or_else(|| {
                ApiError::invalid_query(format!(
                    "`status` must be `pending`, `delivered` or `failed`, not `{text}`"
                ))
            })
        })
        .transpose()?;
    let limit = query
        .get("limit")
        .map(|text| {
            text.parse::<usize>()
                .ok()
                .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                .ok_or_else(|| {
                    ApiError::invalid_query(format!("`limit` must be from 1 to {MAX_LIMIT}"))
                })
        })
        .transpose()?;
    let deliveries = state
        .service()
        .list_webhooks(&DeliveryFilter { status, limit })
        .await?;
    Ok(Json(json!({ "webhooks": deliveries })))
}

/// `POST /webhooks/{id}/replay`: sends a delivery again from its first attempt.
pub async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::invalid_query(format!("`{id}` is not a webhook delivery id")))?;
    let delivery = state.service().replay_webhook(id).await?;
    Ok(Json(json!({ "webhook": delivery })))
}
