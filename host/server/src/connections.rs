//! `GET /connections`, `GET`/`DELETE /connections/{connectionId}`,
//! `POST`/`PATCH /connections/metadata`, shaped like Nango's.

use super::AppState;
use super::errors::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use terapi_runtime::util::iso;
use terapi_runtime::{Connection, ConnectionFilter, MetadataUpdate, StoreError};

/// Default and largest page size of `GET /connections`.
const MAX_PAGE: usize = 1_000;

fn store_error(error: StoreError) -> ApiError {
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
    let mut filter = ConnectionFilter::default();
    filter.provider_config_key = query.get("integrationId").cloned();
    filter.connection_id = query.get("connectionId").cloned();
    filter.limit = Some(limit);
    filter.offset = page.saturating_mul(limit);
    let connections = state
        .service()
        .connections()
        .list(&filter)
        .await
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
        "revoked": connection.revoked_at.is_some(),
        "revoked_at": connection.revoked_at.map_or(Value::Null, iso),
        "errors": match connection.revoked_at {
            Some(_) => json!([{ "type": "auth", "log_id": null, "message": "the provider revoked the connection's credentials (connection_revoked); connect it again" }]),
            None => json!([]),
        },
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
    let service = state.service();
    service.connection(&key, &connection_id).await?;
    service
        .connections()
        .mark_fetched(&key, &connection_id)
        .await
        .map_err(store_error)?;
    let connection = service.connection(&key, &connection_id).await?;
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
    state
        .service()
        .delete_connection(&key, &connection_id, true)
        .await?;
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
    let ids = match &parsed.connection_id {
        OneOrMany::One(id) => vec![id.clone()],
        OneOrMany::Many(ids) => ids.clone(),
    };
    if ids.is_empty() || ids.iter().any(String::is_empty) {
        return Err(ApiError::invalid_body(
            "`connection_id` must be a non-empty string or a non-empty list of them",
        ));
    }
    state
        .service()
        .change_metadata(&parsed.provider_config_key, &ids, &parsed.metadata, how)
        .await?;
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
