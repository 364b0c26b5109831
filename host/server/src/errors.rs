//! Errors as the API returns them: always JSON, `{"error":{"code","message"}}` (plus
//! `payload` or `errors` where there is more to say), never an HTML page, never a stack
//! trace.

use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use terapi_runtime::TriggerError;
use terapi_runtime::service::{ErrorKind, ServiceError};

/// An API error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code, as in Nango's API.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// More detail (an action's error payload, per-field problems).
    pub payload: Option<Value>,
    /// Seconds the client should wait before retrying (sent as `Retry-After`), for 503s
    /// that say the host is at capacity.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            payload: None,
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` of `seconds`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds a payload.
    pub fn with_payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }

    /// 400 `invalid_body`.
    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_body", message)
    }

    /// 400 `invalid_headers`.
    pub fn invalid_headers(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_headers", message)
    }

    /// 400 `invalid_query_params`.
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query_params", message)
    }

    /// 404 `unknown_connection`.
    pub fn unknown_connection(provider_config_key: &str, connection_id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_connection",
            format!("no connection `{connection_id}` for integration `{provider_config_key}`"),
        )
    }

    /// 404 `unknown_provider_config`.
    pub fn unknown_integration(provider_config_key: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_provider_config",
            format!("no integration `{provider_config_key}` is configured"),
        )
    }

    /// 500 `internal_error`, logged; the caller sees a generic message plus what is safe
    /// to show.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!(%message, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            message.to_string(),
        )
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(payload) = &self.payload {
            error["payload"] = payload.clone();
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut response =
            (self.status, [(CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        let status = match error.kind {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
            ErrorKind::Config | ErrorKind::Internal => {
                tracing::error!(code = error.code, message = %error.message, "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        // Capacity refusals say when to come back; `sync_already_running` is not one.
        let retry = matches!(error.code, "server_overloaded" | "too_many_async_runs")
            .then_some(terapi_runtime::RETRY_AFTER.as_secs());
        ApiError {
            retry_after: retry,
            ..ApiError::new(status, error.code, error.message)
        }
    }
}

impl From<TriggerError> for ApiError {
    fn from(error: TriggerError) -> Self {
        let status = match &error {
            TriggerError::UnknownIntegration { .. }
            | TriggerError::UnknownAction { .. }
            | TriggerError::UnknownConnection { .. } => StatusCode::NOT_FOUND,
            TriggerError::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            TriggerError::ConnectionRevoked { .. } => StatusCode::FORBIDDEN,
            TriggerError::Action { .. }
            | TriggerError::Timeout { .. }
            | TriggerError::MemoryLimitExceeded { .. }
            | TriggerError::Crashed { .. }
            | TriggerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            TriggerError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
        };
        let retry_after = match &error {
            TriggerError::Overloaded {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let payload = match &error {
            TriggerError::Action {
                payload: Some(payload),
                ..
            } => Some(payload.clone()),
            TriggerError::InvalidInput { errors, .. } if !errors.is_empty() => {
                serde_json::to_value(errors)
                    .ok()
                    .map(|errors| json!({ "errors": errors }))
            }
            _ => None,
        };
        if matches!(error, TriggerError::Internal(_)) {
            tracing::error!(%error, "action run failed inside the host");
        }
        ApiError {
            status,
            code: error.code(),
            message: error.to_string(),
            payload,
            retry_after,
        }
    }
}

/// 404 for routes that do not exist.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see the README for the API",
    )
}

/// 405 for a known route with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}

/// Turns a panic inside a handler into a JSON 500 without the panic message (it could
/// hold anything).
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the server failed to handle the request",
    )
    .into_response()
}

/// A JSON parse error of a request body, for the response: serde's message names the
/// field and the position, but may quote string values (which could be secrets), so
/// quoted strings are elided.
pub fn json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let mut cleaned = String::with_capacity(message.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in message.chars() {
        if in_string {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => {
                    in_string = false;
                    cleaned.push_str("...\"");
                }
                _ => escaped = false,
            }
        } else {
            cleaned.push(c);
            if c == '"' {
                in_string = true;
            }
        }
    }
    if in_string {
        cleaned.push_str("...\"");
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overloaded_is_503_with_retry_after() {
        let response = ApiError::from(TriggerError::Overloaded {
            message: "the host is at capacity".into(),
            retry_after_secs: 1,
        })
        .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        let busy = ApiError::from(ServiceError::new(
            ErrorKind::Unavailable,
            "too_many_async_runs",
            "full",
        ))
        .into_response();
        assert_eq!(busy.headers()[RETRY_AFTER], "1");
        let running = ApiError::from(ServiceError::new(
            ErrorKind::Unavailable,
            "sync_already_running",
            "running",
        ))
        .into_response();
        assert_eq!(running.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!running.headers().contains_key(RETRY_AFTER));
    }

    #[test]
    fn json_errors_name_the_field_but_not_string_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Body {
            count: u32,
            name: String,
        }
        let error = serde_json::from_str::<Body>(r#"{"count": "s3cret"}"#).expect_err("type");
        let text = json_error(&error);
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("expected u32"), "{text}");
        let error = serde_json::from_str::<Body>(r#"{"count": 1}"#).expect_err("missing");
        assert!(json_error(&error).contains("`name`"));
    }
}
