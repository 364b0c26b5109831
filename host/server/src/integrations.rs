//! `GET /integrations`, `GET /integrations/{key}` and `PATCH /integrations/{key}`
//! (setting an integration's OAuth app credentials over the API), shaped like Nango's.
//!
//! Integrations themselves (provider and component) come from the configuration file;
//! the API can set their OAuth client id, secret and scopes, which are stored (the
//! secret encrypted) and take precedence over the file and the environment. The client
//! secret is never returned.

use super::AppState;
use super::errors::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use terapi_runtime::util::iso;

/// An integration as the API shows it (never with the client secret).
async fn integration_json(
    state: &AppState,
    key: &str,
    include_credentials: bool,
) -> Result<Option<Value>, ApiError> {
    let service = state.service();
    let Some((provider_name, provider)) = service.provider(key) else {
        return Ok(None);
    };
    let stored = service
        .stores()
        .integration_credentials
        .integration_credentials(key)
        .await
        .map_err(ApiError::internal)?;
    let (created_at, updated_at) = match &stored {
        Some(stored) => (stored.created_at, stored.updated_at),
        None => (state.started_at(), state.started_at()),
    };
    let mut described = json!({
        "unique_key": key,
        "provider": provider_name,
        "display_name": provider.display_name,
        "logo": null,
        "created_at": iso(created_at),
        "updated_at": iso(updated_at),
    });
    if include_credentials {
        described["credentials"] = match service.oauth_app(key).await? {
            Some(app) => json!({
                "type": "OAUTH2",
                "client_id": app.client_id,
                "scopes": app.scopes.join(","),
                "redirect_uri": app.redirect_uri.as_str(),
            }),
            None => Value::Null,
        };
    }
    Ok(Some(described))
}

/// `GET /integrations`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut data = Vec::new();
    for key in state.service().integration_keys() {
        if let Some(described) = integration_json(&state, key, false).await? {
            data.push(described);
        }
    }
    Ok(Json(json!({ "data": data })))
}

fn wants_credentials(query: &HashMap<String, String>) -> bool {
    query
        .get("include")
        .is_some_and(|include| include.split(',').any(|item| item.trim() == "credentials"))
}

/// `GET /integrations/{key}[?include=credentials]` (credentials without the secret).
pub async fn get(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    integration_json(&state, &key, wants_credentials(&query))
        .await?
        .map(|data| Json(json!({ "data": data })))
        .ok_or_else(|| ApiError::unknown_integration(&key))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    credentials: CredentialsBody,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsBody {
    #[serde(rename = "type")]
    kind: String,
    client_id: String,
    client_secret: String,
    #[serde(default)]
    scopes: Option<Scopes>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scopes {
    Text(String),
    List(Vec<String>),
}

/// `PATCH /integrations/{key}` with
/// `{"credentials":{"type":"OAUTH2","client_id","client_secret","scopes"}}`.
pub async fn update(
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    if state.service().provider(&key).is_none() {
        return Err(ApiError::unknown_integration(&key));
    }
    let body: UpdateBody = serde_json::from_slice(&body).map_err(|error| {
        // Quoted values are elided: they could be the secret.
        ApiError::invalid_body(format!(
            "the body must be {{\"credentials\": {{\"type\": \"OAUTH2\", \"client_id\": \"...\", \"client_secret\": \"...\", \"scopes\": \"...\"}}}}: {}",
            super::errors::json_error(&error)
        ))
    })?;
    let credentials = body.credentials;
    if credentials.kind != "OAUTH2" {
        return Err(ApiError::invalid_body(
            "`credentials.type` must be `OAUTH2`",
        ));
    }
    let scopes = match credentials.scopes {
        None => Vec::new(),
        Some(Scopes::Text(text)) => text
            .split([',', ' '])
            .filter(|scope| !scope.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Scopes::List(list)) => list,
    };
    state
        .service()
        .set_integration_credentials(
            &key,
            &credentials.client_id,
            credentials.client_secret,
            scopes,
        )
        .await?;
    integration_json(&state, &key, true)
        .await?
        .map(|data| Json(json!({ "data": data })))
        .ok_or_else(|| ApiError::unknown_integration(&key))
}
