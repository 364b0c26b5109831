//! Registering actions and dispatching `run` calls to them.

use crate::bindings::terapi::runtime::types as wit;
use crate::{ActionError, InputErrors};
use schemars::JsonSchema;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

/// Registers a component's actions and exports its entry points (`describe` and `run`).
///
/// Each entry maps an action name to a function `fn(In) -> Result<Out, ActionError>` where
/// `In: Deserialize + JsonSchema` and `Out: Serialize + JsonSchema`. Doc comments on an
/// entry become the action's description. Use it once per component:
///
/// ```no_run
/// # use terapi_sdk::{ActionError, NoInput};
/// # mod get_account { pub fn run(_: terapi_sdk::NoInput) -> Result<String, terapi_sdk::ActionError> { Ok("acc".into()) } }
/// # mod get_candidate { pub fn run(id: String) -> Result<String, terapi_sdk::ActionError> { Ok(id) } }
/// terapi_sdk::actions! {
///     /// Returns the Checkr account of the connection.
///     "get-account" => get_account::run,
///     /// Returns one candidate.
///     "get-candidate" => get_candidate::run,
/// }
/// ```
///
/// Calling `run` with a name that is not registered fails with an [`ActionError`] listing
/// the names that are.
#[macro_export]
macro_rules! actions {
    ($( $(#[doc = $doc:literal])* $name:literal => $function:path ),+ $(,)?) => {
        #[doc(hidden)]
        pub struct __TerapiActions;

        impl $crate::bindings::Guest for __TerapiActions {
            fn describe() -> ::std::vec::Vec<$crate::bindings::terapi::runtime::types::ActionInfo> {
                ::std::vec![$(
                    $crate::__private::describe($name, &[$($doc),*], $function)
                ),+]
            }

            fn run(
                action: ::std::string::String,
                input: ::std::string::String,
            ) -> ::std::result::Result<
                ::std::string::String,
                $crate::bindings::terapi::runtime::types::ActionError,
            > {
                match action.as_str() {
                    $( $name => $crate::__private::invoke($function, &input), )+
                    other => ::std::result::Result::Err(
                        $crate::__private::unknown_action(other, &[$($name),+]),
                    ),
                }
            }
        }

        $crate::bindings::__export_action_world!(
            __TerapiActions with_types_in $crate::bindings
        );
    };
}

/// Input of an action that takes none: accepts `null`, `{}` or anything else, and ignores
/// it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoInput;

impl<'de> Deserialize<'de> for NoInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer).map(|_| NoInput)
    }
}

impl JsonSchema for NoInput {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NoInput".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "description": "This action takes no input." })
    }
}

/// Deserializes the input, runs the action and serializes its output.
pub fn invoke<In, Out, F>(function: F, input: &str) -> Result<String, wit::ActionError>
where
    In: DeserializeOwned,
    Out: Serialize,
    F: FnOnce(In) -> Result<Out, ActionError>,
{
    // An absent input arrives as an empty string: treat it as JSON `null`.
    let text = if input.trim().is_empty() {
        "null"
    } else {
        input
    };
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    let parsed: In = serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let mut errors = InputErrors::new();
        errors.add(
            if path == "." { String::new() } else { path },
            error.inner().to_string(),
        );
        wit::ActionError::from(ActionError::from(errors))
    })?;
    let output = function(parsed).map_err(wit::ActionError::from)?;
    serde_json::to_string(&output).map_err(|error| {
        wit::ActionError::from(ActionError::new(format!(
            "the action's output could not be serialized: {error}"
        )))
    })
}

/// Describes an action from its function's input and output types.
pub fn describe<In, Out, F>(name: &str, doc: &[&str], _function: F) -> wit::ActionInfo
where
    In: JsonSchema,
    Out: JsonSchema,
    F: FnOnce(In) -> Result<Out, ActionError>,
{
    let description = doc
        .iter()
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n");
    wit::ActionInfo {
        name: name.to_string(),
        description: description.trim().to_string(),
        input_schema: schemars::schema_for!(In).as_value().to_string(),
        output_schema: schemars::schema_for!(Out).as_value().to_string(),
    }
}

/// The error for a `run` call naming no registered action.
pub fn unknown_action(name: &str, known: &[&str]) -> wit::ActionError {
    wit::ActionError::from(
        ActionError::new(format!(
            "unknown action `{name}`; this component has: {}",
            known.join(", ")
        ))
        .with_payload(json!({ "action": name, "available": known })),
    )
}
