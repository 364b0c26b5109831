//! Bad requests to the runtime get clear errors naming what was wrong; the compiled
//! component cache survives restarts.

use crate::support::*;
use terapi_host::{FieldError, Runtime, TriggerError};

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

#[tokio::test]
async fn corrupt_cache_entry_is_recompiled_not_fatal() {
    let sim = simulator().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    drop(
        Runtime::new(config(data_dir.path(), &sim.base_url()))
            .await
            .expect("first start"),
    );
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
