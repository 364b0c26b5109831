//! `POST /action/trigger` and `GET /action/{id}`.
//!
//! A synchronous trigger answers 200 with the action's JSON output as the body. With
//! `X-Async: true` it answers 202 `{"id","statusUrl"}` at once and runs the action in the
//! background; `GET /action/{id}` then answers 404 while it runs, 200 with the output, or
//! the error (500 for an action failure).
//!
//! Asynchronous results are kept in the database (the service's run store), so they
//! survive a restart and any node sharing the database can answer for them: at most
//! `server.async_results_max` runs (default 1,000), finished ones for
//! `server.async_results_ttl_secs` (default 10 minutes) after they finish. When the table
//! is full the oldest finished result is dropped; when every entry is still running a
//! new asynchronous trigger is refused with 503 `too_many_async_runs`.

use super::AppState;
use super::errors::ApiError;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use terapi_runtime::TriggerError;
use terapi_runtime::store::RunState;

/// The body of `POST /action/trigger`.
#[derive(Debug, Deserialize)]
struct TriggerBody {
    action_name: String,
    #[serde(default)]
    input: Option<Value>,
}

/// A required header's value; the error names the header.
pub(crate) fn required_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, String> {
    let value = headers
        .get(name)
        .ok_or_else(|| format!("the `{name}` header is required"))?;
    let value = value
        .to_str()
        .map_err(|_| format!("the `{name}` header must be visible ASCII"))?
        .trim();
    if value.is_empty() {
        return Err(format!("the `{name}` header must not be empty"));
    }
    Ok(value)
}

/// `Connection-Id` and `Provider-Config-Key`, or 400 `invalid_headers` naming every
/// missing one.
pub(crate) fn connection_headers(headers: &HeaderMap) -> Result<(String, String), ApiError> {
    let connection = required_header(headers, "Connection-Id");
    let key = required_header(headers, "Provider-Config-Key");
    match (connection, key) {
        (Ok(connection), Ok(key)) => Ok((connection.to_string(), key.to_string())),
        (connection, key) => {
            let problems: Vec<String> = [connection.err(), key.err()]
                .into_iter()
                .flatten()
                .collect();
            Err(ApiError::invalid_headers(problems.join("; ")))
        }
    }
}

/// The response to a finished run.
fn respond(result: Result<String, TriggerError>) -> Response {
    match result {
        Ok(json) => (StatusCode::OK, [(CONTENT_TYPE, "application/json")], json).into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// `POST /action/trigger`.
pub async fn trigger(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match trigger_inner(state, headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn trigger_inner(
    state: AppState,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (connection_id, provider_config_key) = connection_headers(&headers)?;
    let body: TriggerBody = serde_json::from_slice(&body).map_err(|error| {
        ApiError::invalid_body(format!(
            "the body must be {{\"action_name\": \"...\", \"input\": {{...}}}}: {}",
            super::errors::json_error(&error)
        ))
    })?;
    if body.action_name.trim().is_empty() {
        return Err(ApiError::invalid_body("`action_name` must not be empty"));
    }
    let input = match &body.input {
        None => String::new(),
        Some(input) => input.to_string(),
    };
    let asynchronous = match headers.get("X-Async").map(|value| value.to_str()) {
        None => false,
        Some(Ok(value)) if value.eq_ignore_ascii_case("true") => true,
        Some(Ok(value)) if value.eq_ignore_ascii_case("false") => false,
        Some(_) => {
            return Err(ApiError::invalid_headers(
                "the `X-Async` header must be `true` or `false`",
            ));
        }
    };
    if asynchronous {
        let id = state
            .service()
            .trigger_async(
                &provider_config_key,
                &connection_id,
                &body.action_name,
                input,
            )
            .await?;
        return Ok((
            StatusCode::ACCEPTED,
            axum::Json(json!({ "id": id, "statusUrl": format!("/action/{id}") })),
        )
            .into_response());
    }
    let result = state
        .runtime()
        .trigger_action(
            &provider_config_key,
            &connection_id,
            &body.action_name,
            &input,
        )
        .await
        .map(|output| output.into_json());
    Ok(respond(result))
}

/// `GET /action/{id}`.
pub async fn status(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.service().run_state(&id).await {
        Ok(Some(RunState::Finished(result))) => respond(result),
        Ok(Some(RunState::Running)) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("action run `{id}` has not finished yet"),
        )
        .into_response(),
        Ok(None) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no action run `{id}` (unknown, or its result expired)"),
        )
        .into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}
