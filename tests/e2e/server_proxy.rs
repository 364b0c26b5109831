//! The proxy: pass-through of query, body and headers, injected auth, retries.

use crate::server_support::*;
use crate::support::{CHECKR, TOKEN, basic, simulator};
use checkr_sim::Fault;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use terapi_host::Credentials;

fn proxy(harness: &ServerHarness, method: Method, path: &str) -> reqwest::RequestBuilder {
    harness
        .api(method, &format!("/proxy{path}"))
        .header("Connection-Id", "acme")
        .header("Provider-Config-Key", CHECKR)
}

async fn harness() -> ServerHarness {
    let harness = ServerHarness::start().await;
    harness.seed_connection("acme", Credentials::access_token(TOKEN));
    harness
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_body_and_headers_pass_through_with_auth_injected() {
    let harness = harness().await;
    let candidate =
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"});
    let response = proxy(&harness, Method::POST, "/v1/candidates")
        .header("Nango-Proxy-Idempotency-Key", "key-1")
        .header("X-Not-Forwarded", "nope")
        .json(&candidate)
        .send()
        .await
        .expect("proxy");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .starts_with("application/json")
    );
    assert!(
        response.headers().contains_key("x-ratelimit-remaining"),
        "upstream headers come back"
    );
    let created: Value = response.json().await.expect("json");
    assert_eq!(created["email"], "ada@example.com");
    let request = harness.sim.requests().pop().expect("recorded");
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/candidates");
    assert_eq!(request.body_json(), Some(candidate));
    assert_eq!(request.header("authorization"), Some(basic(TOKEN).as_str()));
    assert_eq!(request.header("idempotency-key"), Some("key-1"));
    assert_eq!(request.header("x-not-forwarded"), None);
    assert_eq!(
        request.header("connection-id"),
        None,
        "terapi's own headers stay"
    );

    let (status, listed) = send(proxy(
        &harness,
        Method::GET,
        "/v1/candidates?email=ada%40example.com&per_page=5",
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["count"], 1);
    let request = harness.sim.requests().pop().expect("recorded");
    assert_eq!(request.query, "email=ada%40example.com&per_page=5");

    // Upstream errors come back as they are, not rewritten.
    let (status, body) = send(proxy(&harness, Method::GET, "/v1/candidates/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"].is_string(),
        "Checkr's own error shape: {body}"
    );

    // An Authorization the caller forwards wins over the injected one.
    let (status, _) = send(
        proxy(&harness, Method::GET, "/v1/account")
            .header("Nango-Proxy-Authorization", basic("someone-else")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_request_is_retried_after_the_reset_then_succeeds() {
    let harness = harness().await;
    harness
        .sim
        .inject_fault(Fault::rate_limited("/v1/account", Duration::from_secs(1)));
    let (status, account) =
        send(proxy(&harness, Method::GET, "/v1/account").header("Retries", "2")).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["name"], "Acme Staffing");
    let requests = harness.sim.requests();
    assert_eq!(requests.len(), 2, "one 429, one success");
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(
        waited >= Duration::from_millis(500),
        "waited for the reset: {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_return_the_upstream_status() {
    let harness = harness().await;
    harness
        .sim
        .inject_fault(Fault::status("/v1/account", 503).times(5));
    let (status, body) =
        send(proxy(&harness, Method::GET, "/v1/account").header("Retries", "2")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["error"].is_string(), "the upstream body: {body}");
    assert_eq!(harness.sim.requests().len(), 3, "1 attempt + 2 retries");

    // Without Retries, a 429 comes back at once.
    harness.sim.clear_faults();
    harness.sim.clear_requests();
    harness
        .sim
        .inject_fault(Fault::rate_limited("/v1/account", Duration::from_secs(30)));
    let (status, _) = send(proxy(&harness, Method::GET, "/v1/account")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(harness.sim.requests().len(), 1);

    // Retry-On adds statuses to retry.
    harness.sim.clear_requests();
    harness.sim.inject_fault(Fault::status("/v1/account", 409));
    let (status, _) = send(
        proxy(&harness, Method::GET, "/v1/account")
            .header("Retries", "1")
            .header("Retry-On", "409"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(harness.sim.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_url_override_must_pass_the_allow_list() {
    let harness = harness().await;
    let elsewhere = simulator().await;
    let (status, body) = send(
        proxy(&harness, Method::GET, "/v1/account")
            .header("Base-Url-Override", elsewhere.base_url()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "host_not_allowed");
    assert!(elsewhere.requests().is_empty(), "nothing was sent there");
    // The provider's own origin is fine.
    let (status, _) = send(
        proxy(&harness, Method::GET, "/v1/account")
            .header("Base-Url-Override", harness.sim.base_url()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_proxy_input_is_named() {
    let harness = harness().await;
    for (header, value, needle) in [
        ("Retries", "many", "Retries"),
        ("Retries", "99", "Retries"),
        ("Retry-On", "teapot", "Retry-On"),
        ("Decompress", "sometimes", "Decompress"),
    ] {
        let (status, body) =
            send(proxy(&harness, Method::GET, "/v1/account").header(header, value)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{header}: {value}");
        assert_eq!(code(&body), "invalid_headers");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(needle)
        );
    }
    let (status, body) = send(
        harness
            .api(Method::GET, "/proxy/v1/account")
            .header("Provider-Config-Key", CHECKR),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "invalid_headers");
    let (status, body) = send(
        harness
            .api(Method::GET, "/proxy/v1/account")
            .header("Connection-Id", "ghost")
            .header("Provider-Config-Key", CHECKR),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "unknown_connection");
    assert!(harness.sim.requests().is_empty());
}
