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

/// The message of every input-validation failure, as Nango's actions word it.
pub const INVALID_INPUT: &str = "Invalid input provided";

/// Problems found with an action's input, gathered so the caller learns about all of them
/// at once. Becomes an [`ActionError`] with the message [`INVALID_INPUT`] and the payload
/// `{"errors": [{"field": "email", "message": "..."}, ...]}` (`field` is `null` for the input
/// as a whole).
///
/// The host already rejects input that does not match the action's JSON Schema; this is for
/// the rules a schema cannot express (formats, fields that exclude each other, ...).
///
/// ```
/// # use terapi_sdk::{ActionError, InputErrors};
/// fn check(email: &str, dob: &str) -> Result<(), ActionError> {
///     let mut errors = InputErrors::new();
///     if !email.contains('@') {
///         errors.add("email", "must be an email address such as jane@example.com");
///     }
///     if dob.len() != 10 {
///         errors.add("dob", "must be a date as YYYY-MM-DD");
///     }
///     errors.into_result()
/// }
/// let error = check("jane", "1990-1-1").unwrap_err();
/// assert_eq!(error.message, "Invalid input provided");
/// assert_eq!(error.payload.unwrap()["errors"][1]["field"], "dob");
/// ```
///
/// Never put the offending value in a message: inputs carry secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputErrors {
    errors: Vec<(Option<String>, String)>,
}

impl InputErrors {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` (a path such as `work_locations[0].country`; empty for the
    /// whole input) is wrong, and why.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let field = field.into();
        let field = (!field.is_empty()).then_some(field);
        self.errors.push((field, message.into()));
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok` when nothing was recorded, else the [`ActionError`] listing every problem.
    pub fn into_result(self) -> Result<(), ActionError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.into())
        }
    }
}

impl From<InputErrors> for ActionError {
    fn from(errors: InputErrors) -> Self {
        let errors: Vec<Value> = errors
            .errors
            .into_iter()
            .map(|(field, message)| serde_json::json!({ "field": field, "message": message }))
            .collect();
        ActionError::new(INVALID_INPUT).with_payload(serde_json::json!({ "errors": errors }))
    }
}

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
