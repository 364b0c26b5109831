//! The `action` world's export call: validate the input, call `run` in a sandbox, turn
//! what came back into an [`ActionOutput`] or a [`TriggerError`].

use super::component::{ActionExports, LoadedComponent};
use super::error::TriggerError;
use super::sandbox::{ExportCall, Grant, GuestFailure, Sandboxes};
use crate::capabilities::log::LogLine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// An action a component carries, as it describes itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionInfo {
    /// The name it is triggered by, e.g. `get-account`.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its input.
    pub input_schema: Value,
    /// JSON Schema of its output.
    pub output_schema: Value,
}

/// The JSON output of an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutput {
    json: String,
}

impl ActionOutput {
    /// The output as JSON text, as the action produced it.
    pub fn as_json(&self) -> &str {
        &self.json
    }

    /// The output as JSON text.
    pub fn into_json(self) -> String {
        self.json
    }

    /// Parses the output into `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(&self.json)
    }
}

/// An invocation's result together with its run log.
#[derive(Debug)]
pub struct Invocation {
    /// Output or error.
    pub result: Result<ActionOutput, TriggerError>,
    /// What the guest logged and printed.
    pub logs: Vec<LogLine>,
}

/// Inputs up to this size are parsed on the async executor; larger ones on the blocking
/// pool (parsing is linear, ~10 ms per MiB in a debug build).
const INLINE_INPUT_BYTES: usize = 64 * 1024;

/// Inputs whose check may cost more than this many subschema evaluations (~1 ms in a
/// debug build, far less in release; the Checkr actions' inputs cost tens to hundreds)
/// are checked on the blocking pool, one at a time per spare core, so a stream of the
/// costliest inputs a schema allows (2,000,000 evaluations each) cannot occupy the async
/// executor that answers every other request.
const INLINE_CHECKS: u64 = 20_000;

/// Costly checks running at once: one per core but one, at least one. A process-wide
/// limit (not per component), since the cores are shared.
static COSTLY_CHECKS: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1))
    });

/// Rejects input that is not JSON or does not match the action's input schema. An empty
/// input stands for JSON `null`, as the guest SDK reads it. Small, cheap inputs are
/// checked in place; others on the blocking pool (see [`INLINE_CHECKS`]).
pub(crate) async fn check_input(
    component: &Arc<LoadedComponent>,
    action: usize,
    input_json: &str,
) -> Result<(), TriggerError> {
    let exports = &component.actions;
    let schema = exports.input_schema(action).map_err(|error| {
        TriggerError::Internal(format!(
            "the input schema of `{}` does not compile: {error}",
            exports.infos[action].name
        ))
    })?;
    if input_json.len() <= INLINE_INPUT_BYTES {
        let input = parse_input(input_json)?;
        if schema.estimated_checks(&input) <= INLINE_CHECKS {
            return validate(schema, &input);
        }
    }
    let _permit = COSTLY_CHECKS
        .acquire()
        .await
        .map_err(|_| TriggerError::Internal("the input checker is closed".into()))?;
    let (component, input_json) = (component.clone(), input_json.to_string());
    tokio::task::spawn_blocking(move || {
        let input = parse_input(&input_json)?;
        let schema = component
            .actions
            .input_schema(action)
            .map_err(|error| TriggerError::Internal(error.to_string()))?;
        validate(schema, &input)
    })
    .await
    .map_err(|error| TriggerError::Internal(format!("checking the input failed: {error}")))?
}

fn parse_input(input_json: &str) -> Result<Value, TriggerError> {
    if input_json.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(input_json).map_err(|error| TriggerError::InvalidInput {
        message: format!("the input is not valid JSON: {error}"),
        errors: Vec::new(),
    })
}

fn validate(schema: &crate::schema::InputSchema, input: &Value) -> Result<(), TriggerError> {
    schema
        .validate(input)
        .map_err(|errors| TriggerError::InvalidInput {
            message: crate::schema::summarize(&errors),
            errors,
        })
}

/// Longest error message kept from an action; the rest is cut. An error message is for a
/// person and ends up in API responses and host logs: 64 KiB is far more than a useful
/// one, and bounds what a hostile action can push through them.
const MAX_ERROR_MESSAGE_BYTES: usize = 64 << 10;

/// Calls the component's `run` export for `action` with `input_json` in a fresh sandbox.
/// An output or error payload above `max_output_bytes` fails the run as crashed.
pub(crate) async fn run(
    sandboxes: &Sandboxes,
    exports: &ActionExports,
    grant: Grant,
    timeout: Duration,
    max_output_bytes: usize,
    action: &str,
    input_json: &str,
) -> Invocation {
    let pre = exports.pre.clone();
    let (name, input) = (action.to_string(), input_json.to_string());
    let call: ExportCall<_> = Box::new(move |store| {
        Box::pin(async move {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance.call_run(&mut *store, &name, &input).await
        })
    });
    let called = sandboxes.call(grant, timeout, call).await;
    let too_large = |what: &str, bytes: usize| TriggerError::Crashed {
        action: action.to_string(),
        message: format!(
            "it returned {what} of {bytes} bytes; at most {max_output_bytes} are allowed \
             (limits.max_output_bytes)"
        ),
    };
    let result = match called.result {
        Ok(Ok(json)) if json.len() > max_output_bytes => Err(too_large("an output", json.len())),
        Ok(Ok(json)) => match serde_json::from_str::<serde::de::IgnoredAny>(&json) {
            Ok(_) => Ok(ActionOutput { json }),
            Err(error) => Err(TriggerError::Crashed {
                action: action.to_string(),
                message: format!("it returned invalid JSON: {error}"),
            }),
        },
        Ok(Err(action_error)) => match action_error.payload {
            Some(payload) if payload.len() > max_output_bytes => {
                Err(too_large("an error payload", payload.len()))
            }
            payload => Err(TriggerError::Action {
                message: bounded_message(action_error.message),
                payload: payload.map(|payload| {
                    serde_json::from_str(&payload).unwrap_or(Value::String(payload))
                }),
            }),
        },
        Err(GuestFailure::Timeout(timeout)) => Err(TriggerError::Timeout {
            action: action.to_string(),
            timeout,
        }),
        Err(GuestFailure::MemoryLimitExceeded(limit)) => Err(TriggerError::MemoryLimitExceeded {
            action: action.to_string(),
            limit,
        }),
        Err(GuestFailure::Crashed(message)) => Err(TriggerError::Crashed {
            action: action.to_string(),
            message,
        }),
        Err(GuestFailure::Overloaded(overloaded)) => Err(TriggerError::Overloaded {
            message: overloaded.message,
            retry_after_secs: overloaded.retry_after_secs,
        }),
    };
    Invocation {
        result,
        logs: called.logs,
    }
}

/// `message`, cut to [`MAX_ERROR_MESSAGE_BYTES`] (at a character boundary) with a note of
/// how long it was.
fn bounded_message(mut message: String) -> String {
    if message.len() <= MAX_ERROR_MESSAGE_BYTES {
        return message;
    }
    let total = message.len();
    let mut cut = MAX_ERROR_MESSAGE_BYTES;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    message.truncate(cut);
    message.push_str(&format!(" [truncated: the message was {total} bytes]"));
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_error_messages_are_cut_at_a_character_boundary() {
        assert_eq!(bounded_message("short".into()), "short");
        let long = "é".repeat(MAX_ERROR_MESSAGE_BYTES);
        let cut = bounded_message(long.clone());
        assert!(cut.len() < MAX_ERROR_MESSAGE_BYTES + 64, "{}", cut.len());
        assert!(cut.ends_with(&format!(
            " [truncated: the message was {} bytes]",
            long.len()
        )));
        assert!(cut.starts_with("éé"));
    }
}
