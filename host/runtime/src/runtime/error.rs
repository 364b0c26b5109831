//! Why an invocation or a runtime start failed.

use crate::schema::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Why an invocation did not produce output.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum TriggerError {
    /// No integration is configured under this key.
    #[error("unknown integration `{key}`; configured: {}", known.join(", "))]
    UnknownIntegration {
        /// The key asked for.
        key: String,
        /// The keys configured.
        known: Vec<String>,
    },
    /// The integration's component has no such action.
    #[error("integration `{integration}` has no action `{action}`; it has: {}", available.join(", "))]
    UnknownAction {
        /// The integration.
        integration: String,
        /// The action asked for.
        action: String,
        /// The actions it has.
        available: Vec<String>,
    },
    /// No connection with this id exists for the integration.
    #[error("unknown connection `{connection_id}` for integration `{integration}`")]
    UnknownConnection {
        /// The integration.
        integration: String,
        /// The connection asked for.
        connection_id: String,
    },
    /// The provider revoked the connection's credentials (the customer disconnected the
    /// integration); nothing ran and nothing was sent. Connecting again clears it.
    #[error(
        "connection `{connection_id}` of integration `{integration}` was revoked at the provider; connect it again"
    )]
    ConnectionRevoked {
        /// The integration.
        integration: String,
        /// The connection.
        connection_id: String,
    },
    /// The input is not acceptable: malformed JSON, or JSON that does not match the
    /// action's input schema. Nothing ran and nothing was sent upstream.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong with it, every problem in one sentence naming its field.
        message: String,
        /// The problems one by one, for callers that show them per field (empty when
        /// the input is not JSON at all).
        errors: Vec<FieldError>,
    },
    /// The action failed on purpose with an `ActionError`.
    #[error("{message}")]
    Action {
        /// The action's message.
        message: String,
        /// The action's payload.
        payload: Option<Value>,
    },
    /// The invocation ran past its deadline and was stopped.
    #[error("action `{action}` did not finish within {timeout:?} and was stopped")]
    Timeout {
        /// The action.
        action: String,
        /// The deadline.
        timeout: Duration,
    },
    /// The guest tried to grow its memory beyond the cap and was stopped.
    #[error("action `{action}` exceeded its memory limit of {limit} bytes and was stopped")]
    MemoryLimitExceeded {
        /// The action.
        action: String,
        /// The cap.
        limit: usize,
    },
    /// The guest crashed (panic, trap, invalid output).
    #[error("action `{action}` crashed: {message}")]
    Crashed {
        /// The action.
        action: String,
        /// What happened, including the guest's panic message when it printed one.
        message: String,
    },
    /// The action never ran: the host is at capacity (every sandbox slot busy and the
    /// line of waiting calls full, or no slot free within the wait bound). Retry after
    /// `retry_after_secs`; over HTTP this is 503 with `Retry-After`.
    #[error("{message}; retry in {retry_after_secs} s")]
    Overloaded {
        /// Why, with the limits involved.
        message: String,
        /// How long to wait before retrying, in seconds.
        retry_after_secs: u64,
    },
    /// A failure of the host itself (store, engine).
    #[error("internal error: {0}")]
    Internal(String),
}

impl TriggerError {
    /// A stable machine-readable code, as in Nango's API errors.
    pub fn code(&self) -> &'static str {
        match self {
            TriggerError::UnknownIntegration { .. } => "unknown_provider_config",
            TriggerError::UnknownAction { .. } => "unknown_action",
            TriggerError::UnknownConnection { .. } => "unknown_connection",
            TriggerError::ConnectionRevoked { .. } => "connection_revoked",
            TriggerError::InvalidInput { .. } => "invalid_action_input",
            TriggerError::Action { .. } => "action_script_runtime_error",
            TriggerError::Timeout { .. } => "action_timeout",
            TriggerError::MemoryLimitExceeded { .. } => "action_memory_limit_exceeded",
            TriggerError::Crashed { .. } => "action_crashed",
            TriggerError::Overloaded { .. } => "server_overloaded",
            TriggerError::Internal(_) => "internal_error",
        }
    }
}

/// Why a runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is inconsistent (unknown provider, bad URL, ...).
    #[error("integration `{integration}`: {message}")]
    Integration {
        /// The integration.
        integration: String,
        /// What is wrong.
        message: String,
    },
    /// A component failed to load.
    #[error("integration `{integration}`: cannot load {path}: {message}")]
    Component {
        /// The integration.
        integration: String,
        /// The component file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The connection store failed to open.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The engine could not be created.
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),
}
