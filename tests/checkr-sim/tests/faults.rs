//! Fault injection and request recording.

mod common;

use std::time::{Duration, Instant};

use checkr_sim::{Fault, FaultKind};
use common::{TOKEN, basic, parse_iso, start};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn status_faults_apply_to_the_next_n_matching_requests() {
    let (sim, api) = start().await;
    sim.inject_fault(Fault::status("/v1/account", 503).times(2));
    for _ in 0..2 {
        let resp = api.get(TOKEN, "/v1/account").await;
        assert_eq!(resp.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert!(resp.json().get("error").is_some());
        assert!(resp.header("x-ratelimit-limit").is_some());
    }
    assert_eq!(api.get(TOKEN, "/v1/account").await.status, StatusCode::OK);

    // Non-matching paths and methods are untouched.
    sim.inject_fault(
        Fault::new(
            "/v1/candidates",
            FaultKind::Status {
                status: 502,
                body: Some(r#"{"error":"Bad gateway"}"#.to_string()),
                reset: Some(Duration::from_secs(10)),
            },
        )
        .method("POST"),
    );
    assert_eq!(api.get(TOKEN, "/v1/account").await.status, StatusCode::OK);
    assert_eq!(
        api.get(TOKEN, "/v1/candidates").await.status,
        StatusCode::OK
    );
    let faulted = api
        .post(TOKEN, "/v1/candidates", json!({"email": "f@example.com"}))
        .await;
    assert_eq!(faulted.status, StatusCode::BAD_GATEWAY);
    assert_eq!(faulted.json(), json!({"error": "Bad gateway"}));
    let reset = parse_iso(faulted.header("x-ratelimit-reset").expect("reset"));
    assert!(reset >= sim.now() + Duration::from_secs(9));
    // The faulted request created nothing.
    assert_eq!(api.get(TOKEN, "/v1/candidates").await.json()["count"], 0);

    sim.inject_fault(Fault::status("", 500).times(5));
    sim.clear_faults();
    assert_eq!(api.get(TOKEN, "/v1/account").await.status, StatusCode::OK);
}

#[tokio::test]
async fn rate_limited_fault_sets_reset_in_the_future() {
    let (sim, api) = start().await;
    sim.inject_fault(Fault::rate_limited("/v1/", Duration::from_secs(30)));
    let before = sim.now();
    let resp = api.get(TOKEN, "/v1/candidates").await;
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.json(), json!({"error": "Too many requests"}));
    assert_eq!(resp.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(resp.header("x-ratelimit-limit"), Some("1200"));
    let reset = parse_iso(resp.header("x-ratelimit-reset").expect("reset"));
    assert!(
        reset >= before + Duration::from_secs(30),
        "{reset} vs {before}"
    );
    assert!(reset <= before + Duration::from_secs(32));
    assert_eq!(
        api.get(TOKEN, "/v1/candidates").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn delay_fault_delays_then_serves() {
    let (sim, api) = start().await;
    sim.inject_fault(Fault::delay("/v1/account", Duration::from_millis(300)));
    let started = Instant::now();
    let resp = api.get(TOKEN, "/v1/account").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    api.get(TOKEN, "/v1/account").await;
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn idempotency_key_in_flight_gets_409() {
    let (sim, api) = start().await;
    sim.inject_fault(Fault::delay("/v1/candidates", Duration::from_millis(800)).method("POST"));
    let request = || {
        api.client
            .post(api.url("/v1/candidates"))
            .header("authorization", basic(TOKEN))
            .header("idempotency-key", "slow")
            .json(&json!({"email": "slow@example.com"}))
    };
    let slow = tokio::spawn({
        let api = api.clone();
        let req = request();
        async move { api.send(req).await }
    });
    // Wait until the first request has arrived (it is then held by the delay).
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.requests().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let concurrent = api.send(request()).await;
    assert_eq!(concurrent.status, StatusCode::CONFLICT);
    let first = slow.await.expect("task");
    assert_eq!(first.status, StatusCode::CREATED);
    let replay = api.send(request()).await;
    assert_eq!(replay.text, first.text);
}

#[tokio::test]
async fn requests_are_recorded_in_order() {
    let (sim, api) = start().await;
    api.get(TOKEN, "/v1/candidates?email=a%40b.co&page=2").await;
    api.post(TOKEN, "/v1/candidates", json!({"email": "rec@example.com"}))
        .await;
    let requests = sim.requests();
    assert_eq!(requests.len(), 2);
    let get = &requests[0];
    assert_eq!(get.method, "GET");
    assert_eq!(get.path, "/v1/candidates");
    assert_eq!(get.query, "email=a%40b.co&page=2");
    assert_eq!(
        get.query_pairs(),
        vec![
            ("email".to_string(), "a@b.co".to_string()),
            ("page".to_string(), "2".to_string())
        ]
    );
    assert_eq!(get.header("Authorization"), Some(basic(TOKEN).as_str()));
    assert!(
        get.headers
            .iter()
            .all(|(k, _)| *k == k.to_ascii_lowercase())
    );
    let post = &requests[1];
    assert_eq!(post.method, "POST");
    assert_eq!(post.body_json(), Some(json!({"email": "rec@example.com"})));
    assert!(post.received_at >= get.received_at);
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}
