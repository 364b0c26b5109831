//! The host's HTTP capability: allow-list, auth injection, retries, limits.

use crate::support::*;
use checkr_sim::Fault;
use serde_json::{Value, json};
use std::time::Duration;
use terapi_runtime::TriggerError;

async fn fetch(harness: &Harness, input: Value) -> Result<Value, TriggerError> {
    harness
        .runtime
        .trigger_action(GUESTS, CONNECTION, "fetch", &input.to_string())
        .await
        .map(|output| output.parse().expect("JSON"))
}

fn http_error(error: &TriggerError) -> &str {
    match error {
        TriggerError::Action {
            payload: Some(payload),
            ..
        } => payload["http_error"].as_str().unwrap_or_default(),
        other => panic!("expected an ActionError, got {other:?}"),
    }
}

#[tokio::test]
async fn host_outside_the_allow_list_is_denied_and_never_contacted() {
    let harness = Harness::start().await;
    let elsewhere = simulator().await;
    let absolute = format!("{}/v1/account", elsewhere.base_url());
    let error = fetch(&harness, json!({ "endpoint": absolute }))
        .await
        .expect_err("denied");
    assert_eq!(http_error(&error), "denied");
    assert!(error.to_string().contains("allow-list"), "{error}");
    let error = fetch(
        &harness,
        json!({ "endpoint": "/v1/account", "base_url_override": elsewhere.base_url() }),
    )
    .await
    .expect_err("override denied too");
    assert_eq!(http_error(&error), "denied");
    assert!(
        elsewhere.requests().is_empty(),
        "the other host saw nothing"
    );
    assert!(harness.sim.requests().is_empty());
}

#[tokio::test]
async fn allow_listed_host_is_reachable_but_never_gets_the_connections_credentials() {
    // Another host, reached without Checkr's credentials on purpose: no contract check.
    let elsewhere = simulator_for_another_host().await;
    let host = elsewhere
        .base_url()
        .trim_start_matches("http://")
        .to_string();
    let harness = Harness::start_with(|config| {
        config
            .integrations
            .get_mut(GUESTS)
            .expect("guests")
            .allowed_hosts = vec![host];
    })
    .await;
    let output = fetch(
        &harness,
        json!({ "endpoint": format!("{}/v1/account", elsewhere.base_url()) }),
    )
    .await
    .expect("allowed");
    assert_eq!(output["status"], 401, "no credentials were injected");
    assert_eq!(elsewhere.requests().len(), 1);
    assert_eq!(elsewhere.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn host_injects_checkr_auth_when_the_action_sets_none() {
    let harness = Harness::start().await;
    let output = fetch(&harness, json!({ "endpoint": "/v1/account" }))
        .await
        .expect("fetch");
    assert_eq!(output["status"], 200);
    assert_eq!(
        harness.sim.requests()[0].header("authorization"),
        Some(basic(TOKEN).as_str())
    );
}

#[tokio::test]
async fn rate_limited_request_is_retried_after_the_reset_header() {
    let harness = Harness::start().await;
    harness
        .sim
        .inject_fault(Fault::rate_limited("/v1/account", Duration::from_secs(1)));
    let output = fetch(&harness, json!({ "endpoint": "/v1/account", "retries": 2 }))
        .await
        .expect("fetch");
    assert_eq!(output["status"], 200);
    let requests = harness.sim.requests();
    assert_eq!(requests.len(), 2, "one 429, one success");
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(
        waited >= Duration::from_millis(500),
        "the host waited for the reset instead of hammering: {waited:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_and_the_last_status_returned_when_retries_run_out() {
    let harness = Harness::start().await;
    harness
        .sim
        .inject_fault(Fault::status("/v1/account", 503).times(5));
    let output = fetch(&harness, json!({ "endpoint": "/v1/account", "retries": 2 }))
        .await
        .expect("a response, not an error");
    assert_eq!(output["status"], 503);
    assert_eq!(harness.sim.requests().len(), 3, "1 attempt + 2 retries");
}

#[tokio::test]
async fn without_retries_a_429_reaches_the_action_at_once() {
    let harness = Harness::start().await;
    harness
        .sim
        .inject_fault(Fault::rate_limited("/v1/account", Duration::from_secs(30)));
    let output = fetch(&harness, json!({ "endpoint": "/v1/account" }))
        .await
        .expect("fetch");
    assert_eq!(output["status"], 429);
    assert_eq!(harness.sim.requests().len(), 1);
}

#[tokio::test]
async fn response_larger_than_the_cap_is_refused() {
    let harness = Harness::start_with(|config| config.limits.http_max_response_bytes = 64).await;
    let error = fetch(&harness, json!({ "endpoint": "/v1/account" }))
        .await
        .expect_err("too large");
    assert_eq!(http_error(&error), "too_large");
    assert!(error.to_string().contains("64 bytes"), "{error}");
}

#[tokio::test]
async fn slow_upstream_hits_the_per_attempt_timeout() {
    let harness = Harness::start_with(|config| config.limits.http_timeout_ms = 200).await;
    harness
        .sim
        .inject_fault(Fault::delay("/v1/account", Duration::from_secs(2)));
    let error = fetch(&harness, json!({ "endpoint": "/v1/account" }))
        .await
        .expect_err("timeout");
    assert_eq!(http_error(&error), "timeout");
}

#[tokio::test]
async fn invalid_header_name_is_an_invalid_request_not_a_crash() {
    let harness = Harness::start().await;
    let error = fetch(
        &harness,
        json!({ "endpoint": "/v1/account", "headers": [["bad header", "x"]] }),
    )
    .await
    .expect_err("invalid");
    assert_eq!(http_error(&error), "invalid_request");
    assert!(harness.sim.requests().is_empty());
}
