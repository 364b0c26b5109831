//! How an action fails on purpose.

use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// An error an action returns to its caller: a human-readable message and an optional
/// JSON payload with details the caller can act on (which input field was wrong, what
/// the upstream API said, ...).
///
/// The host reports it as-is: over the HTTP API it becomes
/// `{"error":{"code":"action_script_runtime_error","message":...,"payload":...}}`, from the
/// CLI it is printed as JSON with exit code 1.
///
/// HTTP and JSON errors convert into it, so `?` works on them:
///
/// ```no_run
/// # use terapi_sdk::{ActionError, Request};
/// fn count_candidates() -> Result<u64, ActionError> {
///     let list: serde_json::Value = terapi_sdk::get(Request::new("/v1/candidates"))?.json()?;
///     list["count"]
///         .as_u64()
///         .ok_or_else(|| ActionError::new("count is missing").with_payload(list.clone()))
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ActionError {
    /// What went wrong, for a person.
    pub message: String,
    /// Details for a program, if any.
    pub payload: Option<Value>,
}

impl ActionError {
    /// An error with a message and no payload.
    pub fn new(message: impl Into<String>) -> Self {
        ActionError {
            message: message.into(),
            payload: None,
        }
    }

    /// Attaches a JSON payload.
    pub fn with_payload(mut self, payload: impl Serialize) -> Self {
        self.payload = Some(serde_json::to_value(payload).unwrap_or_else(|error| {
            Value::String(format!("payload could not be serialized: {error}"))
        }));
        self
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ActionError {}

impl From<serde_json::Error> for ActionError {
    fn from(error: serde_json::Error) -> Self {
        ActionError::new(format!("invalid JSON: {error}"))
    }
}

impl From<ActionError> for crate::bindings::terapi::runtime::types::ActionError {
    fn from(error: ActionError) -> Self {
        crate::bindings::terapi::runtime::types::ActionError {
            message: error.message,
            payload: error.payload.map(|payload| payload.to_string()),
        }
    }
}
