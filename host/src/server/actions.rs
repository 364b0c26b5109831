//! `POST /action/trigger` and `GET /action/{id}`.
//!
//! A synchronous trigger answers 200 with the action's JSON output as the body. With
//! `X-Async: true` it answers 202 `{"id","statusUrl"}` at once and runs the action in the
//! background; `GET /action/{id}` then answers 404 while it runs, 200 with the output, or
//! the error (500 for an action failure).
//!
//! Asynchronous results are kept **in memory** (they do not survive a restart and are not
//! shared between hosts): at most `server.async_results_max` runs (default 1,000),
//! finished ones for `server.async_results_ttl_secs` (default 10 minutes) after they
//! finish. When the table is full the oldest finished result is dropped; when every
//! entry is still running a new asynchronous trigger is refused with 503
//! `too_many_async_runs`.

use super::AppState;
use super::errors::ApiError;
use crate::TriggerError;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    let runtime = state.runtime().clone();
    // The same run, awaited here or in the background.
    let run = async move {
        runtime
            .trigger_action(
                &provider_config_key,
                &connection_id,
                &body.action_name,
                &input,
            )
            .await
            .map(|output| output.into_json())
    };
    if !asynchronous {
        return Ok(respond(run.await));
    }
    let id = crate::oauth::new_state().map_err(ApiError::internal)?;
    state.runs().start(&id)?;
    let runs = state.clone();
    let run_id = id.clone();
    tokio::spawn(async move {
        let result = run.await;
        runs.runs().finish(&run_id, result);
    });
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "id": id, "statusUrl": format!("/action/{id}") })),
    )
        .into_response())
}

/// `GET /action/{id}`.
pub async fn status(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.runs().get(&id) {
        Some(RunState::Finished { result, .. }) => respond(result),
        Some(RunState::Running) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("action run `{id}` has not finished yet"),
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no action run `{id}` (unknown, or its result expired)"),
        )
        .into_response(),
    }
}

/// Where an asynchronous run stands.
#[derive(Debug, Clone)]
pub(crate) enum RunState {
    Running,
    Finished {
        result: Result<String, TriggerError>,
        at: Instant,
    },
}

/// Asynchronous runs' results, bounded in count and age (see the module docs).
pub(crate) struct AsyncRuns {
    inner: Mutex<RunTable>,
    max: usize,
    ttl: Duration,
}

#[derive(Default)]
struct RunTable {
    runs: HashMap<String, RunState>,
    /// Ids in the order they started, for eviction.
    order: VecDeque<String>,
}

impl AsyncRuns {
    pub(crate) fn new(max: usize, ttl: Duration) -> Self {
        AsyncRuns {
            inner: Mutex::new(RunTable::default()),
            max: max.max(1),
            ttl,
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, RunTable> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn prune(&self, table: &mut RunTable) {
        let now = Instant::now();
        let ttl = self.ttl;
        table.runs.retain(|_, run| match run {
            RunState::Finished { at, .. } => now.duration_since(*at) < ttl,
            RunState::Running => true,
        });
        let RunTable { runs, order } = table;
        order.retain(|id| runs.contains_key(id));
    }

    /// Registers a new running entry, evicting the oldest finished one when full.
    pub(crate) fn start(&self, id: &str) -> Result<(), ApiError> {
        let mut table = self.table();
        self.prune(&mut table);
        if table.runs.len() >= self.max {
            let oldest_finished = table
                .order
                .iter()
                .position(|id| matches!(table.runs.get(id), Some(RunState::Finished { .. })));
            match oldest_finished {
                Some(index) => {
                    if let Some(evicted) = table.order.remove(index) {
                        table.runs.remove(&evicted);
                    }
                }
                None => {
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too_many_async_runs",
                        format!(
                            "{} asynchronous action runs are in progress; try again later",
                            self.max
                        ),
                    ));
                }
            }
        }
        table.runs.insert(id.to_string(), RunState::Running);
        table.order.push_back(id.to_string());
        Ok(())
    }

    pub(crate) fn finish(&self, id: &str, result: Result<String, TriggerError>) {
        let mut table = self.table();
        if let Some(run) = table.runs.get_mut(id) {
            *run = RunState::Finished {
                result,
                at: Instant::now(),
            };
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<RunState> {
        let mut table = self.table();
        self.prune(&mut table);
        table.runs.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_bounded_in_count_and_age() {
        let runs = AsyncRuns::new(2, Duration::from_secs(60));
        runs.start("a").expect("a");
        runs.start("b").expect("b");
        let error = runs.start("c").expect_err("all running");
        assert_eq!(error.code, "too_many_async_runs");
        runs.finish("a", Ok("1".into()));
        runs.start("c").expect("a evicted");
        assert!(runs.get("a").is_none());
        assert!(matches!(runs.get("b"), Some(RunState::Running)));

        let short = AsyncRuns::new(10, Duration::from_millis(0));
        short.start("x").expect("x");
        short.finish("x", Ok("1".into()));
        assert!(short.get("x").is_none(), "expired at once");
    }
}
