//! `GET /connections`, `GET`/`DELETE /connections/{connectionId}`,
//! `POST`/`PATCH /connections/metadata`, shaped like Nango's.

use super::AppState;
use super::errors::ApiError;
use crate::connections::{Connection, ConnectionFilter, Credentials, MetadataUpdate};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Default and largest page size of `GET /connections`.
const MAX_PAGE: usize = 1_000;

fn iso(instant: OffsetDateTime) -> Value {
    instant
        .format(&Rfc3339)
        .map(Value::String)
        .unwrap_or(Value::Null)
}

fn store_error(error: crate::connections::StoreError) -> ApiError {
    ApiError::internal(error)
}

/// A query parameter parsed as a number; the error names it.
fn number(query: &HashMap<String, String>, name: &str) -> Result<Option<usize>, ApiError> {
    query
        .get(name)
        .map(|text| {
            text.parse::<usize>().map_err(|_| {
                ApiError::invalid_query(format!(
                    "`{name}` must be a non-negative integer, not `{text}`"
                ))
            })
        })
        .transpose()
}

/// `GET /connections?connectionId&integrationId&limit&page` (page counts from 0).
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = number(&query, "limit")?.unwrap_or(MAX_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::invalid_query(format!(
            "`limit` must be between 1 and {MAX_PAGE}"
        )));
    }
    let page = number(&query, "page")?.unwrap_or(0);
    let filter = ConnectionFilter {
        provider_config_key: query.get("integrationId").cloned(),
        connection_id: query.get("connectionId").cloned(),
        limit: Some(limit),
        offset: page.saturating_mul(limit),
    };
    let connections = state
        .runtime()
        .connections()
        .list(&filter)
        .map_err(store_error)?;
    let listed: Vec<Value> = connections
        .iter()
        .map(|connection| {
            json!({
                "id": connection.id,
                "connection_id": connection.connection_id,
                "provider_config_key": connection.provider_config_key,
                "provider": connection.provider,
                "created": iso(connection.created_at),
                "metadata": connection.metadata,
                "errors": [],
                "end_user": null,
                "tags": {},
            })
        })
        .collect();
    Ok(Json(json!({ "connections": listed })))
}

/// The `provider_config_key` query parameter, required.
fn provider_config_key(query: &HashMap<String, String>) -> Result<String, ApiError> {
    query
        .get("provider_config_key")
        .filter(|key| !key.is_empty())
        .cloned()
        .ok_or_else(|| {
            ApiError::invalid_query("the `provider_config_key` query parameter is required")
        })
}

fn detail(connection: &Connection) -> Value {
    // Nango's shape: {"type":"OAUTH2","access_token","raw",...}.
    let credentials = serde_json::to_value(&connection.credentials).unwrap_or(Value::Null);
    json!({
        "id": connection.id,
        "connection_id": connection.connection_id,
        "provider_config_key": connection.provider_config_key,
        "provider": connection.provider,
        "created_at": iso(connection.created_at),
        "updated_at": iso(connection.updated_at),
        "last_fetched_at": connection.last_fetched_at.map_or(Value::Null, iso),
        "metadata": connection.metadata,
        "connection_config": connection.connection_config,
        "errors": [],
        "end_user": null,
        "tags": {},
        "credentials": credentials,
    })
}

/// `GET /connections/{connectionId}?provider_config_key=...`: the connection with its
/// credentials.
pub async fn get(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let key = provider_config_key(&query)?;
    let store = state.runtime().connections();
    if store
        .get(&key, &connection_id)
        .map_err(store_error)?
        .is_none()
    {
        return Err(ApiError::unknown_connection(&key, &connection_id));
    }
    store
        .mark_fetched(&key, &connection_id)
        .map_err(store_error)?;
    let connection = store
        .get(&key, &connection_id)
        .map_err(store_error)?
        .ok_or_else(|| ApiError::unknown_connection(&key, &connection_id))?;
    Ok(Json(detail(&connection)))
}

/// `DELETE /connections/{connectionId}?provider_config_key=...`: revokes the token at
/// the provider (when it has a deauthorize endpoint), then deletes. If revoking fails
/// the connection is kept and the failure reported (502 `deauthorize_failed`).
pub async fn delete(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let key = provider_config_key(&query)?;
    let runtime = state.runtime();
    let connection = runtime
        .connections()
        .get(&key, &connection_id)
        .map_err(store_error)?
        .ok_or_else(|| ApiError::unknown_connection(&key, &connection_id))?;
    let endpoint = runtime
        .provider(&key)
        .and_then(|(_, provider)| provider.deauthorize_endpoint.clone());
    if let (Some(endpoint), Some(policy)) = (endpoint, runtime.http_policy(&key))
        && matches!(connection.credentials, Credentials::OAuth2 { .. })
    {
        crate::oauth::deauthorize(
            policy,
            runtime.http_client(),
            &connection.credentials,
            &endpoint,
        )
        .await
        .map_err(|error| {
            tracing::warn!(integration = %key, connection = %connection_id, %error, "deauthorization failed; connection kept");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "deauthorize_failed",
                format!("{error}; the connection was kept"),
            )
        })?;
    }
    runtime
        .connections()
        .delete(&key, &connection_id)
        .map_err(store_error)?;
    Ok(Json(json!({ "success": true })))
}

/// The body of `POST`/`PATCH /connections/metadata`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetadataBody {
    metadata: Value,
    connection_id: OneOrMany,
    provider_config_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

async fn change_metadata(
    state: AppState,
    body: Bytes,
    how: MetadataUpdate,
) -> Result<Json<Value>, ApiError> {
    let parsed: MetadataBody = serde_json::from_slice(&body).map_err(|error| {
        ApiError::invalid_body(format!(
            "the body must be {{\"metadata\": {{...}}, \"connection_id\": \"...\" or [...], \"provider_config_key\": \"...\"}}: {}",
            super::errors::json_error(&error)
        ))
    })?;
    if !parsed.metadata.is_object() {
        return Err(ApiError::invalid_body("`metadata` must be a JSON object"));
    }
    let ids = match &parsed.connection_id {
        OneOrMany::One(id) => vec![id.clone()],
        OneOrMany::Many(ids) => ids.clone(),
    };
    if ids.is_empty() || ids.iter().any(String::is_empty) {
        return Err(ApiError::invalid_body(
            "`connection_id` must be a non-empty string or a non-empty list of them",
        ));
    }
    let store = state.runtime().connections();
    let key = &parsed.provider_config_key;
    // All or nothing: check every connection exists before changing any.
    for id in &ids {
        if store.get(key, id).map_err(store_error)?.is_none() {
            return Err(ApiError::unknown_connection(key, id));
        }
    }
    for id in &ids {
        store
            .update_metadata(key, id, &parsed.metadata, how)
            .map_err(store_error)?
            .ok_or_else(|| ApiError::unknown_connection(key, id))?;
    }
    let connection_id = match parsed.connection_id {
        OneOrMany::One(id) => Value::String(id),
        OneOrMany::Many(ids) => json!(ids),
    };
    Ok(Json(json!({
        "metadata": parsed.metadata,
        "connection_id": connection_id,
        "provider_config_key": parsed.provider_config_key,
    })))
}

/// `POST /connections/metadata`: replaces the metadata.
pub async fn set_metadata(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    change_metadata(state, body, MetadataUpdate::Replace).await
}

/// `PATCH /connections/metadata`: merges into the metadata.
pub async fn update_metadata(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    change_metadata(state, body, MetadataUpdate::Merge).await
}
