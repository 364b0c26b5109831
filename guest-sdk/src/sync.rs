//! Describing syncs and their models, and dispatching `fetch-data` calls to them.

use crate::ActionError;
use crate::bindings::terapi::runtime::types as wit;
use schemars::JsonSchema;
use serde_json::{Value, json};

/// The name records of model `M` are saved under: its JSON Schema name, which is the
/// type's name unless `#[schemars(rename = "...")]` says otherwise.
///
/// ```
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct BackgroundCheck { id: String }
/// assert_eq!(terapi_sdk::model_name::<BackgroundCheck>(), "BackgroundCheck");
/// ```
pub fn model_name<M: JsonSchema>() -> String {
    M::schema_name().into_owned()
}

/// What a sync's description says about model `M`: its name ([`model_name`]) and the
/// JSON Schema of one record.
pub fn model_info<M: JsonSchema>() -> wit::ModelInfo {
    wit::ModelInfo {
        name: model_name::<M>(),
        json_schema: schemars::schema_for!(M).as_value().to_string(),
    }
}

/// Why a model's schema does not describe records with a required string `id`, if it
/// does not.
pub(crate) fn id_problem(schema: &Value) -> Option<String> {
    let id = &schema["properties"]["id"];
    if id.is_null() {
        return Some("has no `id` field".to_string());
    }
    let is_string = match &id["type"] {
        Value::String(kind) => kind == "string",
        _ => false,
    };
    if !is_string {
        return Some(format!(
            "has an `id` field that is not a plain string (schema {id})"
        ));
    }
    let required = schema["required"]
        .as_array()
        .is_some_and(|fields| fields.iter().any(|field| field == "id"));
    if !required {
        return Some("has an optional `id` field; records need one".to_string());
    }
    None
}

/// Describes a sync for `describe-syncs`.
pub fn describe_sync(
    name: &str,
    doc: &[&str],
    models: Vec<wit::ModelInfo>,
    frequency: &str,
    auto_start: bool,
    track_deletes: bool,
    webhook_subscriptions: &[&str],
) -> wit::SyncInfo {
    let description = doc
        .iter()
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n");
    wit::SyncInfo {
        name: name.to_string(),
        description: description.trim().to_string(),
        models,
        frequency: frequency.trim().to_string(),
        auto_start,
        track_deletes,
        webhook_subscriptions: webhook_subscriptions
            .iter()
            .map(|pattern| pattern.trim().to_string())
            .collect(),
    }
}

/// A sync's webhook handler: what the [`syncs!`](crate::syncs) macro's `webhooks: [...]
/// => handler` names.
pub type WebhookHandler = fn(Value) -> Result<(), ActionError>;

/// Checks the sync's models, parses the event and hands it to the sync's webhook handler
/// (`handlers` holds it, or nothing when the sync declared none).
pub fn run_webhook(
    name: &str,
    models: &[wit::ModelInfo],
    event: &str,
    handlers: &[WebhookHandler],
) -> Result<(), wit::ActionError> {
    let Some(handler) = handlers.first() else {
        return Err(wit::ActionError::from(
            ActionError::new(format!("sync `{name}` handles no webhooks"))
                .with_payload(json!({ "sync": name })),
        ));
    };
    check_models(name, models).map_err(wit::ActionError::from)?;
    let event: Value = serde_json::from_str(event).map_err(|error| {
        wit::ActionError::from(
            ActionError::new(format!(
                "sync `{name}`: the webhook event is not JSON: {error}"
            ))
            .with_payload(json!({ "sync": name })),
        )
    })?;
    handler(event).map_err(wit::ActionError::from)
}

/// The first of `given` (an optional setting of the [`syncs!`](crate::syncs) macro), or
/// `default`.
pub fn first_or(given: &[bool], default: bool) -> bool {
    given.first().copied().unwrap_or(default)
}

/// Checks the sync's models, then runs it.
pub fn run_sync<F>(
    name: &str,
    models: &[wit::ModelInfo],
    function: F,
) -> Result<(), wit::ActionError>
where
    F: FnOnce() -> Result<(), ActionError>,
{
    check_models(name, models).map_err(wit::ActionError::from)?;
    function().map_err(wit::ActionError::from)
}

/// Fails naming the first model whose records could not have a string `id`.
pub(crate) fn check_models(sync: &str, models: &[wit::ModelInfo]) -> Result<(), ActionError> {
    for model in models {
        let schema: Value = serde_json::from_str(&model.json_schema)?;
        if let Some(problem) = id_problem(&schema) {
            return Err(ActionError::new(format!(
                "sync `{sync}`: model `{}` {problem}",
                model.name
            ))
            .with_payload(json!({ "sync": sync, "model": model.name })));
        }
    }
    Ok(())
}

/// The error for a `fetch-data` call naming no registered sync.
pub fn unknown_sync(name: &str, known: &[&str]) -> wit::ActionError {
    let has = if known.is_empty() {
        "this component has no syncs".to_string()
    } else {
        format!("this component has: {}", known.join(", "))
    };
    wit::ActionError::from(
        ActionError::new(format!("no such sync `{name}`; {has}"))
            .with_payload(json!({ "sync": name, "available": known })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize, JsonSchema)]
    struct Candidate {
        id: String,
        email: Option<String>,
    }

    #[derive(Serialize, JsonSchema)]
    #[schemars(rename = "Person")]
    struct Renamed {
        id: String,
    }

    #[derive(Serialize, JsonSchema)]
    struct NoId {
        name: String,
    }

    #[derive(Serialize, JsonSchema)]
    struct NumericId {
        id: u64,
    }

    #[derive(Serialize, JsonSchema)]
    struct OptionalId {
        id: Option<String>,
    }

    fn schema_of(info: &wit::ModelInfo) -> Value {
        serde_json::from_str(&info.json_schema).expect("schema is JSON")
    }

    #[test]
    fn models_are_named_by_their_schema_name() {
        assert_eq!(model_name::<Candidate>(), "Candidate");
        assert_eq!(model_name::<Renamed>(), "Person");
        let info = model_info::<Candidate>();
        assert_eq!(info.name, "Candidate");
        let schema = schema_of(&info);
        assert_eq!(schema["properties"]["id"]["type"], "string");
        assert_eq!(id_problem(&schema), None);
    }

    #[test]
    fn models_without_a_required_string_id_are_refused_by_name() {
        for (info, expected) in [
            (model_info::<NoId>(), "has no `id` field"),
            (model_info::<NumericId>(), "not a plain string"),
            (model_info::<OptionalId>(), "not a plain string"),
        ] {
            let error = check_models("people", &[model_info::<Candidate>(), info])
                .expect_err("a bad model");
            assert!(error.message.contains(expected), "{}", error.message);
            assert!(error.message.starts_with("sync `people`: model `"));
        }
        assert!(check_models("people", &[model_info::<Candidate>()]).is_ok());
    }

    #[test]
    fn descriptions_and_defaults() {
        let info = describe_sync(
            "candidates",
            &[" Every candidate.", " Incremental."],
            vec![model_info::<Candidate>()],
            " every hour ",
            first_or(&[], true),
            first_or(&[true], false),
            &[" report.* "],
        );
        assert_eq!(info.webhook_subscriptions, vec!["report.*".to_string()]);
        assert_eq!(info.description, "Every candidate.\nIncremental.");
        assert_eq!(info.frequency, "every hour");
        assert!(info.auto_start);
        assert!(info.track_deletes);
        assert!(!first_or(&[false], true));
    }

    #[test]
    fn unknown_syncs_are_named() {
        let error = unknown_sync("nope", &["a", "b"]);
        assert_eq!(
            error.message,
            "no such sync `nope`; this component has: a, b"
        );
        let error = unknown_sync("nope", &[]);
        assert_eq!(
            error.message,
            "no such sync `nope`; this component has no syncs"
        );
    }
}

#[cfg(test)]
mod webhook_tests {
    use super::*;

    #[derive(serde::Serialize, JsonSchema)]
    struct Report {
        id: String,
    }

    fn fails(_event: Value) -> Result<(), ActionError> {
        Err(ActionError::new("handler failed"))
    }

    fn needs_a_type(event: Value) -> Result<(), ActionError> {
        match event["type"].as_str() {
            Some("report.completed") => Ok(()),
            _ => Err(ActionError::new("unexpected event")),
        }
    }

    #[test]
    fn webhook_events_reach_the_syncs_handler() {
        let models = [model_info::<Report>()];
        let event = r#"{"id":"e1","type":"report.completed"}"#;
        assert!(run_webhook("reports", &models, event, &[needs_a_type]).is_ok());
        let error = run_webhook("reports", &models, event, &[fails]).expect_err("fails");
        assert_eq!(error.message, "handler failed");
    }

    #[test]
    fn a_sync_without_a_handler_or_a_bad_event_is_an_error() {
        let models = [model_info::<Report>()];
        let error = run_webhook("reports", &models, "{}", &[]).expect_err("no handler");
        assert_eq!(error.message, "sync `reports` handles no webhooks");
        let error = run_webhook("reports", &models, "{nope", &[needs_a_type]).expect_err("bad");
        assert!(error.message.contains("not JSON"), "{}", error.message);
    }
}
