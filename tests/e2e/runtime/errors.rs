//! Bad requests to the runtime get clear errors naming what was wrong; the compiled
//! component cache survives restarts.

use crate::support::*;
use terapi_runtime::{Credentials, FieldError, NewConnection, Runtime, TriggerError};

#[tokio::test]
async fn unknown_action_names_the_action_and_lists_the_available_ones() {
    let harness = Harness::start().await;
    let error = harness
        .runtime
        .trigger_action(CHECKR, CONNECTION, "get-acount", "{}")
        .await
        .expect_err("unknown action");
    let TriggerError::UnknownAction {
        action, available, ..
    } = &error
    else {
        panic!("expected UnknownAction, got {error:?}");
    };
    assert_eq!(action, "get-acount");
    assert!(available.contains(&"get-account".to_string()));
    assert!(error.to_string().contains("`get-acount`"), "{error}");
    assert!(harness.sim.requests().is_empty());
}

#[tokio::test]
async fn unknown_connection_names_the_connection_and_integration() {
    let harness = Harness::start().await;
    let error = harness
        .runtime
        .trigger_action(CHECKR, "nobody", "get-account", "{}")
        .await
        .expect_err("unknown connection");
    assert_eq!(
        error,
        TriggerError::UnknownConnection {
            integration: CHECKR.into(),
            connection_id: "nobody".into()
        }
    );
    assert_eq!(error.code(), "unknown_connection");
}

#[tokio::test]
async fn unknown_integration_lists_the_configured_ones() {
    let harness = Harness::start().await;
    let error = harness
        .runtime
        .trigger_action("github", CONNECTION, "get-account", "{}")
        .await
        .expect_err("unknown integration");
    assert!(error.to_string().contains("`github`"), "{error}");
    assert!(error.to_string().contains(CHECKR), "{error}");
}

#[tokio::test]
async fn malformed_input_json_is_rejected_before_the_sandbox_runs() {
    let harness = Harness::start().await;
    let error = harness
        .runtime
        .trigger_action(CHECKR, CONNECTION, "get-account", "{\"oops\": ")
        .await
        .expect_err("malformed");
    let TriggerError::InvalidInput { message, errors } = &error else {
        panic!("expected InvalidInput, got {error:?}");
    };
    assert!(message.contains("not valid JSON"), "{message}");
    assert!(message.contains("line 1"), "says where: {message}");
    assert!(errors.is_empty(), "no field to blame: {errors:?}");
    assert!(harness.sim.requests().is_empty());
}

#[tokio::test]
async fn input_of_the_wrong_shape_is_rejected_by_the_host_naming_the_field() {
    let harness = Harness::start().await;
    let error = harness
        .runtime
        .trigger_action(GUESTS, CONNECTION, "fetch", r#"{"endpoint": 42}"#)
        .await
        .expect_err("wrong type");
    assert_eq!(error.code(), "invalid_action_input");
    let TriggerError::InvalidInput { message, errors } = &error else {
        panic!("expected InvalidInput, got {error:?}");
    };
    assert_eq!(
        errors,
        &vec![FieldError {
            field: "endpoint".into(),
            message: "must be a string, got an integer".into()
        }]
    );
    assert!(message.contains("`endpoint`"), "{message}");
    assert!(harness.sim.requests().is_empty());
}

#[tokio::test]
async fn second_start_loads_components_from_the_cache_without_compiling() {
    let sim = simulator().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let first = Runtime::new(config(data_dir.path(), &sim.base_url()))
        .await
        .expect("first start");
    assert_eq!(first.component_cache_stats().compiled(), 2);
    assert_eq!(first.component_cache_stats().loaded_from_cache(), 0);
    drop(first);
    let second = Runtime::new(config(data_dir.path(), &sim.base_url()))
        .await
        .expect("second start");
    assert_eq!(
        second.component_cache_stats().compiled(),
        0,
        "nothing recompiled"
    );
    assert_eq!(second.component_cache_stats().loaded_from_cache(), 2);
    let actions = second.actions(CHECKR).expect("checkr actions");
    assert!(actions.iter().any(|action| action.name == "get-account"));
}

/// A simulator and a data directory a runtime has started in once (compiling the
/// components and recording their descriptions) and stopped.
async fn started_once() -> (checkr_sim::Simulator, tempfile::TempDir) {
    let sim = simulator().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    drop(
        Runtime::new(config(data_dir.path(), &sim.base_url()))
            .await
            .expect("first start"),
    );
    (sim, data_dir)
}

/// The description files recorded beside the cache entries.
fn recorded_descriptions(data_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(data_dir.join("cache"))
        .expect("cache dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".actions.json"))
        .collect()
}

#[tokio::test]
async fn second_start_takes_the_actions_from_the_recorded_description() {
    let (sim, data_dir) = started_once().await;
    let recorded = recorded_descriptions(data_dir.path());
    assert_eq!(
        recorded.len(),
        2,
        "one description per component: {recorded:?}"
    );
    // Mark the record, so the second start shows whether it read it or asked the component.
    for path in &recorded {
        let text = std::fs::read_to_string(path).expect("read");
        let marked = text.replace(
            "Returns the Checkr account",
            "(recorded) Returns the Checkr account",
        );
        std::fs::write(path, marked).expect("write");
    }
    let second = Runtime::new(config(data_dir.path(), &sim.base_url()))
        .await
        .expect("second start");
    let get_account = second
        .actions(CHECKR)
        .expect("checkr actions")
        .iter()
        .find(|action| action.name == "get-account")
        .expect("get-account");
    assert!(
        get_account.description.starts_with("(recorded) "),
        "{}",
        get_account.description
    );
    // Inputs are still checked against the recorded schemas (compiled on first use).
    second
        .connections()
        .upsert(&NewConnection::new(
            GUESTS,
            CONNECTION,
            "checkr-partner",
            Credentials::access_token(TOKEN),
        ))
        .await
        .expect("connection stored");
    let error = second
        .trigger_action(GUESTS, CONNECTION, "fetch", r#"{"endpoint": 42}"#)
        .await
        .expect_err("wrong type");
    assert_eq!(error.code(), "invalid_action_input");
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn unreadable_recorded_description_is_replaced_by_asking_the_component() {
    let (sim, data_dir) = started_once().await;
    for path in recorded_descriptions(data_dir.path()) {
        std::fs::write(path, b"{\"format\": 1, \"actions\": [{\"nam").expect("corrupt");
    }
    let runtime = Runtime::new(config(data_dir.path(), &sim.base_url()))
        .await
        .expect("starts despite the unreadable description");
    assert_eq!(runtime.component_cache_stats().compiled(), 0);
    let actions = runtime.actions(CHECKR).expect("checkr actions");
    assert_eq!(actions.len(), 11, "{actions:?}");
    for path in recorded_descriptions(data_dir.path()) {
        let text = std::fs::read_to_string(&path).expect("read");
        serde_json::from_str::<serde_json::Value>(&text).expect("recorded again, readable");
    }
}

#[tokio::test]
async fn corrupt_cache_entry_is_recompiled_not_fatal() {
    let (sim, data_dir) = started_once().await;
    for entry in std::fs::read_dir(data_dir.path().join("cache")).expect("cache dir") {
        std::fs::write(entry.expect("entry").path(), b"not a compiled component").expect("corrupt");
    }
    let runtime = Runtime::new(config(data_dir.path(), &sim.base_url()))
        .await
        .expect("starts despite the corrupt cache");
    assert_eq!(runtime.component_cache_stats().compiled(), 2);
}

#[tokio::test]
async fn missing_component_file_fails_start_naming_the_integration_and_path() {
    let sim = simulator().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(data_dir.path(), &sim.base_url());
    config
        .integrations
        .get_mut(CHECKR)
        .expect("checkr")
        .component = "/nowhere/x.wasm".into();
    let error = Runtime::new(config).await.expect_err("missing component");
    let text = error.to_string();
    assert!(
        text.contains(CHECKR) && text.contains("/nowhere/x.wasm"),
        "{text}"
    );
}
