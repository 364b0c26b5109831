//! The `integration!` macro, expanded natively: what `describe`, `describe-syncs`, `run`
//! and `fetch-data` answer. (The sync functions here make no host calls, so they run
//! outside a component.)

use std::sync::atomic::{AtomicUsize, Ordering};
use terapi_sdk::ActionError;
use terapi_sdk::bindings::Guest;

/// A model with a string id.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Number {
    /// The id.
    pub id: String,
    /// The value.
    pub value: u32,
}

/// A model whose id is a number: records of it could never be saved.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Broken {
    /// Not a string.
    pub id: u64,
}

static NUMBERS_RUNS: AtomicUsize = AtomicUsize::new(0);
static BROKEN_RUNS: AtomicUsize = AtomicUsize::new(0);

fn numbers() -> Result<(), ActionError> {
    NUMBERS_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn failing() -> Result<(), ActionError> {
    Err(ActionError::new("upstream is down"))
}

fn broken() -> Result<(), ActionError> {
    BROKEN_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn double(n: u32) -> Result<u32, ActionError> {
    Ok(n * 2)
}

terapi_sdk::integration! {
    /// Doubles a number.
    "double" => double,
    syncs {
        /// Saves numbers.
        /// Twice a day.
        "numbers" => numbers {
            models: [Number],
            frequency: "every 12 hours",
            auto_start: false,
            track_deletes: true,
        },
        "failing" => failing { models: [Number, Broken], frequency: "every day" },
        "broken" => broken { models: [Broken], frequency: "every day", track_deletes: true },
    }
}

#[test]
fn actions_are_described_and_run() {
    let actions = __TerapiComponent::describe();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].name, "double");
    assert_eq!(actions[0].description, "Doubles a number.");
    assert_eq!(
        __TerapiComponent::run("double".into(), "21".into()).expect("runs"),
        "42"
    );
    let error = __TerapiComponent::run("triple".into(), "1".into()).expect_err("unknown");
    assert!(error.message.contains("unknown action `triple`"));
}

#[test]
fn syncs_are_described_with_their_settings_and_models() {
    let syncs = __TerapiComponent::describe_syncs();
    let names: Vec<&str> = syncs.iter().map(|sync| sync.name.as_str()).collect();
    assert_eq!(names, ["numbers", "failing", "broken"]);
    let numbers = &syncs[0];
    assert_eq!(numbers.description, "Saves numbers.\nTwice a day.");
    assert_eq!(numbers.frequency, "every 12 hours");
    assert!(!numbers.auto_start);
    assert!(numbers.track_deletes);
    assert_eq!(numbers.models.len(), 1);
    assert_eq!(numbers.models[0].name, "Number");
    let schema: serde_json::Value =
        serde_json::from_str(&numbers.models[0].json_schema).expect("JSON schema");
    assert_eq!(schema["properties"]["value"]["type"], "integer");
    let failing = &syncs[1];
    assert!(failing.auto_start, "auto_start defaults to true");
    assert!(!failing.track_deletes, "track_deletes defaults to false");
    assert_eq!(failing.description, "");
    let models: Vec<&str> = failing.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(models, ["Number", "Broken"]);
}

#[test]
fn fetch_data_runs_the_named_sync() {
    let before = NUMBERS_RUNS.load(Ordering::SeqCst);
    __TerapiComponent::fetch_data("numbers".into()).expect("runs");
    assert_eq!(NUMBERS_RUNS.load(Ordering::SeqCst), before + 1);

    let error = __TerapiComponent::fetch_data("failing".into()).expect_err("model check");
    assert!(
        error.message.contains("model `Broken`"),
        "the bad model is caught before the sync runs: {}",
        error.message
    );

    let error = __TerapiComponent::fetch_data("broken".into()).expect_err("model check");
    assert!(
        error.message.contains("sync `broken`: model `Broken`"),
        "{}",
        error.message
    );
    assert_eq!(BROKEN_RUNS.load(Ordering::SeqCst), 0, "never ran");

    let error = __TerapiComponent::fetch_data("nope".into()).expect_err("unknown");
    assert_eq!(
        error.message,
        "no such sync `nope`; this component has: numbers, failing, broken"
    );
}
