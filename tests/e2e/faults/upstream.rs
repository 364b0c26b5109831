//! See `mod.rs`.

use crate::server::support::ServerHarness;
use crate::support::{CHECKR, CONNECTION, GUESTS, Harness, TOKEN};
use checkr_sim::Fault;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use terapi_runtime::{Credentials, TriggerError};

async fn fetch(harness: &Harness, input: Value) -> Result<Value, TriggerError> {
    harness
        .runtime
        .trigger_action(GUESTS, CONNECTION, "fetch", &input.to_string())
        .await
        .map(|output| output.parse().expect("JSON"))
}

/// The `http_error` kind of a failed fetch.
fn http_error(error: &TriggerError) -> String {
    match error {
        TriggerError::Action {
            payload: Some(payload),
            ..
        } => payload["http_error"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        other => panic!("expected an ActionError, got {other:?}"),
    }
}

/// The gaps between the simulator's requests.
fn gaps(harness: &Harness) -> Vec<Duration> {
    let requests = harness.sim.requests();
    requests
        .windows(2)
        .map(|pair| pair[1].received_at - pair[0].received_at)
        .collect()
}

#[tokio::test]
async fn a_429_with_the_reset_in_epoch_seconds_is_retried_after_the_reset() {
    let harness = Harness::start().await;
    harness.sim.inject_fault(Fault::rate_limited_epoch(
        "/v1/account",
        Duration::from_secs(1),
    ));
    let output = fetch(&harness, json!({ "endpoint": "/v1/account", "retries": 2 }))
        .await
        .expect("fetch");
    assert_eq!(output["status"], 200);
    let gaps = gaps(&harness);
    assert_eq!(gaps.len(), 1, "one 429, one success");
    // The reset is a whole second at least 1 s away: the host waited until it.
    assert!(gaps[0] >= Duration::from_millis(900), "{gaps:?}");
}

#[tokio::test]
async fn a_reset_further_than_the_accepted_wait_reaches_the_action_at_once() {
    let harness = Harness::start().await;
    harness.sim.inject_fault(Fault::rate_limited_epoch(
        "/v1/account",
        Duration::from_secs(600),
    ));
    let started = std::time::Instant::now();
    let output = fetch(&harness, json!({ "endpoint": "/v1/account", "retries": 3 }))
        .await
        .expect("fetch");
    assert_eq!(output["status"], 429, "the action decides what to do");
    assert_eq!(harness.sim.requests().len(), 1, "no retry");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn server_errors_back_off_exponentially_and_stop_after_the_configured_count() {
    // The harness's base delay is 50 ms: waits of 50, 100, 200 ms.
    for status in [500u16, 502, 503] {
        let harness = Harness::start().await;
        harness
            .sim
            .inject_fault(Fault::status("/v1/account", status).times(10));
        let output = fetch(&harness, json!({ "endpoint": "/v1/account", "retries": 3 }))
            .await
            .expect("the last status, not an error");
        assert_eq!(output["status"], status);
        let gaps = gaps(&harness);
        assert_eq!(gaps.len(), 3, "{status}: 1 attempt + 3 retries, then stop");
        for (gap, floor) in gaps.iter().zip([50u64, 100, 200]) {
            assert!(
                *gap >= Duration::from_millis(floor),
                "{status}: backoff {gaps:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_slow_attempt_times_out_and_the_retry_succeeds() {
    let harness = Harness::start_with(|config| config.limits.http_timeout_ms = 300).await;
    harness
        .sim
        .inject_fault(Fault::delay("/v1/account", Duration::from_secs(3)));
    let output = fetch(&harness, json!({ "endpoint": "/v1/account", "retries": 1 }))
        .await
        .expect("the retry answers");
    assert_eq!(output["status"], 200);
    // Without retries the action sees a timeout, named as one.
    harness
        .sim
        .inject_fault(Fault::delay("/v1/account", Duration::from_secs(3)));
    let error = fetch(&harness, json!({ "endpoint": "/v1/account" }))
        .await
        .expect_err("timeout");
    assert_eq!(http_error(&error), "timeout", "{error}");
    assert!(error.to_string().contains("timed out"), "{error}");
}

#[tokio::test]
async fn a_connection_broken_mid_body_is_a_transport_error() {
    let harness = Harness::start().await;
    harness
        .sim
        .inject_fault(Fault::reset_mid_body("/v1/account", r#"{"id": "acc"#));
    let error = fetch(&harness, json!({ "endpoint": "/v1/account" }))
        .await
        .expect_err("broken body");
    assert_eq!(http_error(&error), "transport", "{error}");
    assert!(
        error.to_string().contains("/v1/account"),
        "names the request: {error}"
    );
    // The host is fine afterwards.
    assert_eq!(harness.account_name().await, "Acme Staffing");
}

#[tokio::test]
async fn truncated_json_and_the_wrong_content_type_are_precise_errors_in_the_action() {
    let harness = Harness::start().await;
    harness.sim.inject_fault(Fault::raw(
        "/v1/account",
        200,
        "application/json",
        r#"{"id": "acc_1", "name": "Acme"#,
    ));
    let error = harness
        .runtime
        .trigger_action(CHECKR, CONNECTION, "get-account", "{}")
        .await
        .expect_err("truncated");
    let text = error.to_string();
    assert!(
        matches!(error, TriggerError::Action { .. })
            && text.contains("GET /v1/account")
            && text.contains("EOF while parsing"),
        "names the request and where the body ends: {error:?}"
    );
    harness.sim.inject_fault(Fault::raw(
        "/v1/account",
        200,
        "text/html",
        "<html><body>Maintenance</body></html>",
    ));
    let error = harness
        .runtime
        .trigger_action(CHECKR, CONNECTION, "get-account", "{}")
        .await
        .expect_err("HTML");
    assert!(
        matches!(error, TriggerError::Action { .. })
            && error.to_string().contains("GET /v1/account")
            && error.to_string().contains("text/html"),
        "names the request and what came instead of JSON: {error:?}"
    );
    assert_eq!(harness.account_name().await, "Acme Staffing");
}

fn proxy_post(harness: &ServerHarness) -> reqwest::RequestBuilder {
    harness
        .api(Method::POST, "/proxy/v1/candidates")
        .header("Connection-Id", CONNECTION)
        .header("Provider-Config-Key", CHECKR)
        .header("Retries", "3")
        .json(&json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_without_an_idempotency_key_is_never_repeated_after_a_server_error() {
    let harness = ServerHarness::start().await;
    harness
        .seed_connection(CONNECTION, Credentials::access_token(TOKEN))
        .await;
    let posts = |harness: &ServerHarness| {
        harness
            .sim
            .requests()
            .iter()
            .filter(|request| request.method == "POST" && request.path == "/v1/candidates")
            .count()
    };
    // Without a key: one attempt, the 503 comes back.
    harness
        .sim
        .inject_fault(Fault::status("/v1/candidates", 503).times(2));
    let response = proxy_post(&harness).send().await.expect("proxy");
    assert_eq!(response.status(), 503);
    assert_eq!(posts(&harness), 1, "not repeated");
    // A 429 means it was not processed: repeated even without a key.
    harness.sim.clear_faults();
    harness.sim.clear_requests();
    harness.sim.inject_fault(Fault::rate_limited(
        "/v1/candidates",
        Duration::from_millis(10),
    ));
    let response = proxy_post(&harness).send().await.expect("proxy");
    assert_eq!(response.status(), 201);
    assert_eq!(posts(&harness), 2, "the 429, then the create");
    // With a key: retried after server errors, one candidate created.
    harness.sim.clear_requests();
    harness
        .sim
        .inject_fault(Fault::status("/v1/candidates", 503).times(2));
    let response = proxy_post(&harness)
        .header("Nango-Proxy-Idempotency-Key", "create-ada-2")
        .send()
        .await
        .expect("proxy");
    assert_eq!(response.status(), 201);
    assert_eq!(posts(&harness), 3, "two 503s, then the create");
}
