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
/// the names that are. The component carries no syncs: its `describe-syncs` is empty and
/// its `fetch-data` fails naming the sync. For actions and syncs in one component, use
/// [`integration!`](crate::integration) instead.
#[macro_export]
macro_rules! actions {
    ($( $(#[doc = $doc:literal])* $name:literal => $function:path ),* $(,)?) => {
        $crate::integration! { $( $(#[doc = $doc])* $name => $function, )* }
    };
}

/// Registers a component's syncs and exports its entry points (`describe-syncs` and
/// `fetch-data`). The component carries no actions (see
/// [`integration!`](crate::integration) for both).
///
/// Each entry maps a sync name to a function `fn() -> Result<(), ActionError>`, followed
/// by the sync's settings in braces, in this order:
///
/// * `models: [Type, ...]` — the models it saves records of: types that implement
///   `Serialize` and `JsonSchema` and have a string `id`. A model's name is its schema
///   name, the type's name unless `#[schemars(rename = "...")]` says otherwise;
/// * `frequency: "every hour"` — how often it runs, in Nango's syntax (`every 30 minutes`,
///   `every 2h`, `every day`, ...);
/// * `auto_start: bool` (optional, default `true`) — whether it starts by itself for
///   every new connection;
/// * `track_deletes: bool` (optional, default `false`) — whether records a successful run
///   did not save are marked deleted (the sync calls
///   [`records::track_deletes_start`](crate::records::track_deletes_start) and
///   [`records::track_deletes_end`](crate::records::track_deletes_end) around its full
///   listing);
/// * `webhooks: ["report.*", ...] => handler` (optional) — the provider webhook event
///   types the sync applies to its records as they arrive (`report.completed` exactly,
///   `report.*` every `report.` event, `*` all), and the function `fn(serde_json::Value)
///   -> Result<(), ActionError>` the host calls with each such event, verified and routed
///   to the connection. It saves, updates or deletes records like `fetch_data` does; the
///   application gets a sync webhook with `syncType: "WEBHOOK"` when records changed.
///
/// Doc comments on an entry become the sync's description.
///
/// ```no_run
/// # #[derive(serde::Serialize, schemars::JsonSchema)] pub struct Candidate { id: String }
/// # #[derive(serde::Serialize, schemars::JsonSchema)] pub struct Report { id: String }
/// # mod candidates { pub fn fetch_data() -> Result<(), terapi_sdk::ActionError> { Ok(()) } }
/// # mod reports {
/// #     pub fn fetch_data() -> Result<(), terapi_sdk::ActionError> { Ok(()) }
/// #     pub fn on_webhook(_event: serde_json::Value) -> Result<(), terapi_sdk::ActionError> { Ok(()) }
/// # }
/// terapi_sdk::syncs! {
///     /// Every candidate of the account.
///     "candidates" => candidates::fetch_data {
///         models: [Candidate],
///         frequency: "every hour",
///         auto_start: true,
///         track_deletes: false,
///     },
///     /// The candidates' reports, updated as Checkr's `report.*` webhooks arrive.
///     "reports" => reports::fetch_data {
///         models: [Report],
///         frequency: "every 30 minutes",
///         webhooks: ["report.*"] => reports::on_webhook,
///     },
/// }
/// ```
///
/// Before a sync runs, its models are checked: a model without a required string `id`
/// fails the run with an error naming the model.
#[macro_export]
macro_rules! syncs {
    ($($entries:tt)*) => {
        $crate::integration! { syncs { $($entries)* } }
    };
}

/// Registers a component's actions *and* syncs, and exports all four entry points:
/// the entries [`actions!`](crate::actions) takes, each followed by a comma, then a
/// `syncs { ... }` block holding the entries [`syncs!`](crate::syncs) takes. Either part
/// may be left out. Use it once per component:
///
/// ```no_run
/// # #[derive(serde::Serialize, schemars::JsonSchema)] pub struct Candidate { id: String }
/// # mod get_candidate { pub fn run(id: String) -> Result<String, terapi_sdk::ActionError> { Ok(id) } }
/// # mod candidates { pub fn fetch_data() -> Result<(), terapi_sdk::ActionError> { Ok(()) } }
/// terapi_sdk::integration! {
///     /// Returns one candidate.
///     "get-candidate" => get_candidate::run,
///     syncs {
///         /// Every candidate of the account.
///         "candidates" => candidates::fetch_data { models: [Candidate], frequency: "every hour" },
///     }
/// }
/// ```
#[macro_export]
macro_rules! integration {
    (
        $( $(#[doc = $doc:literal])* $name:literal => $function:path , )*
        $(
            syncs {
                $(
                    $(#[doc = $sync_doc:literal])*
                    $sync_name:literal => $sync_function:path {
                        models: [ $($model:ty),+ $(,)? ],
                        frequency: $frequency:literal
                        $(, auto_start: $auto_start:literal)?
                        $(, track_deletes: $track_deletes:literal)?
                        $(, webhooks: [ $($subscription:literal),* $(,)? ] => $webhook_function:path)?
                        $(,)?
                    }
                ),* $(,)?
            }
        )?
    ) => {
        #[doc(hidden)]
        pub struct __TerapiComponent;

        impl $crate::bindings::Guest for __TerapiComponent {
            fn describe() -> ::std::vec::Vec<$crate::bindings::terapi::runtime::types::ActionInfo> {
                ::std::vec![$(
                    $crate::__private::describe($name, &[$($doc),*], $function)
                ),*]
            }

            fn run(
                action: ::std::string::String,
                input: ::std::string::String,
            ) -> ::std::result::Result<
                ::std::string::String,
                $crate::bindings::terapi::runtime::types::ActionError,
            > {
                match action.as_str() {
                    $( $name => $crate::__private::invoke($function, &input), )*
                    other => ::std::result::Result::Err(
                        $crate::__private::unknown_action(other, &[$($name),*]),
                    ),
                }
            }

            fn describe_syncs() -> ::std::vec::Vec<$crate::bindings::terapi::runtime::types::SyncInfo> {
                ::std::vec![$($(
                    $crate::__private::describe_sync(
                        $sync_name,
                        &[$($sync_doc),*],
                        ::std::vec![$($crate::model_info::<$model>()),+],
                        $frequency,
                        $crate::__private::first_or(&[$($auto_start),*], true),
                        $crate::__private::first_or(&[$($track_deletes),*], false),
                        &[$($($subscription),*)?],
                    )
                ),*)?]
            }

            fn fetch_data(
                sync: ::std::string::String,
            ) -> ::std::result::Result<(), $crate::bindings::terapi::runtime::types::ActionError> {
                match sync.as_str() {
                    $($(
                        $sync_name => $crate::__private::run_sync(
                            $sync_name,
                            &[$($crate::model_info::<$model>()),+],
                            $sync_function,
                        ),
                    )*)?
                    other => ::std::result::Result::Err(
                        $crate::__private::unknown_sync(other, &[$($($sync_name),*)?]),
                    ),
                }
            }

            fn on_webhook(
                sync: ::std::string::String,
                event: ::std::string::String,
            ) -> ::std::result::Result<(), $crate::bindings::terapi::runtime::types::ActionError> {
                match sync.as_str() {
                    $($(
                        $sync_name => $crate::__private::run_webhook(
                            $sync_name,
                            &[$($crate::model_info::<$model>()),+],
                            &event,
                            &[$($webhook_function)?],
                        ),
                    )*)?
                    other => ::std::result::Result::Err(
                        $crate::__private::unknown_sync(other, &[$($($sync_name),*)?]),
                    ),
                }
            }
        }

        $crate::bindings::__export_integration_world!(
            __TerapiComponent with_types_in $crate::bindings
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
