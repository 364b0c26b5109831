//! Checkr's signed webhooks: verified, de-duplicated, routed to their connections,
//! forwarded to the application; `token.deauthorized` revokes.

use crate::server::support::{CLIENT_SECRET, SECRET_KEY, ServerHarness};
use crate::support::*;
use crate::webhooks::outbox::{Received, hmac_hex, receiver};
use checkr_sim::AccountSeed;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::AtomicU16;
use std::time::{Duration, Instant};
use terapi_runtime::{ConnectionStore, Credentials, NewConnection};

/// A server forwarding to a loopback application endpoint.
async fn harness() -> (ServerHarness, Received) {
    let (addr, received, _task) = receiver(None, Arc::new(AtomicU16::new(200))).await;
    let url = format!("http://{addr}/hooks");
    let harness =
        ServerHarness::start_with(AccountSeed::new("Connected Customer"), move |config| {
            config.server.webhook_url = Some(url);
        })
        .await;
    (harness, received)
}

/// Stores a connection of account `account` with `token`.
async fn connect(harness: &ServerHarness, id: &str, account: &str, token: &str) {
    let mut connection = NewConnection::new(
        CHECKR,
        id,
        "checkr-partner",
        Credentials::access_token(token),
    );
    connection.connection_config = json!({ "checkr_account_id": account });
    harness.store().upsert(&connection).await.expect("stored");
}

fn event(id: &str, kind: &str, account: &str) -> String {
    json!({
        "id": id,
        "object": "event",
        "type": kind,
        "created_at": "2026-11-26T12:00:00Z",
        "webhook_url": "https://terapi.example/webhook/checkr-partner",
        "data": { "object": { "id": "rpt_1", "object": "report", "status": "complete" } },
        "account_id": account,
    })
    .to_string()
}

/// POSTs `body` to the webhook endpoint with `signature` (none: header left out).
async fn deliver(
    harness: &ServerHarness,
    body: &str,
    signature: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = harness
        .client
        .post(format!("{}/webhook/{CHECKR}", harness.base_url))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(signature) = signature {
        request = request.header("X-Checkr-Signature", signature);
    }
    let response = request.send().await.expect("sent");
    let status = response.status();
    let json = response.json().await.unwrap_or(Value::Null);
    (status, json)
}

async fn signed(harness: &ServerHarness, body: &str) -> (StatusCode, Value) {
    deliver(harness, body, Some(&hmac_hex(CLIENT_SECRET, body))).await
}

/// Waits until the application received `count` webhooks (and a little longer, to catch
/// extra ones).
async fn forwards(received: &Received, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.all().len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} forwarded",
            received.all().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    received
        .all()
        .into_iter()
        .map(|(headers, body)| {
            assert_eq!(
                headers["x-nango-hmac-sha256"].to_str().expect("ascii"),
                hmac_hex(SECRET_KEY, &body),
                "forwards are signed for the application"
            );
            serde_json::from_str(&body).expect("JSON")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_events_are_routed_by_account_and_forwarded_to_the_app() {
    let (harness, received) = harness().await;
    connect(&harness, "a", "acct-1", "token-a").await;
    connect(&harness, "b", "acct-2", "token-b").await;
    connect(&harness, "c", "acct-1", "token-c").await;
    let body = event("evt-1", "report.completed", "acct-1");
    let (status, answer) = signed(&harness, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "accepted");
    assert_eq!(answer["routed"], 2);
    let mut forwarded = forwards(&received, 2).await;
    assert_eq!(
        forwarded.len(),
        2,
        "one forward per routed connection, no more"
    );
    forwarded.sort_by_key(|forward| {
        forward["connectionId"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    });
    for (forward, connection) in forwarded.iter().zip(["a", "c"]) {
        assert_eq!(forward["from"], "checkr-partner");
        assert_eq!(forward["type"], "forward");
        assert_eq!(forward["connectionId"], connection);
        assert_eq!(forward["providerConfigKey"], CHECKR);
        assert_eq!(
            forward["payload"],
            serde_json::from_str::<Value>(&body).expect("JSON")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_signature_is_refused_and_nothing_is_processed() {
    let (harness, received) = harness().await;
    connect(&harness, "a", "acct-1", "token-a").await;
    let body = event("evt-1", "report.completed", "acct-1");
    let (status, answer) = deliver(&harness, &body, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["error"]["code"], "missing_signature");
    let (status, answer) = deliver(&harness, &body, Some(&hmac_hex("not-the-secret", &body))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["error"]["code"], "invalid_signature");
    let forged = body.replace("acct-1", "acct-2");
    let (status, _) = deliver(&harness, &forged, Some(&hmac_hex(CLIENT_SECRET, &body))).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a signature covers the exact body"
    );
    let (status, _) = deliver(&harness, &body, Some("not hex at all")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(received.all().is_empty(), "nothing forwarded");
    // Nothing was recorded either: the genuine delivery of the same event is processed.
    let (status, answer) = signed(&harness, &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["status"], "accepted", "{answer}");
    assert_eq!(forwards(&received, 1).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_event_is_acknowledged_and_processed_once() {
    let (harness, received) = harness().await;
    connect(&harness, "a", "acct-1", "token-a").await;
    let body = event("evt-retried", "invitation.completed", "acct-1");
    let (status, first) = signed(&harness, &body).await;
    assert_eq!(
        (status, first["status"].as_str()),
        (StatusCode::OK, Some("accepted"))
    );
    for _ in 0..3 {
        let (status, again) = signed(&harness, &body).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "acknowledged, so Checkr stops retrying"
        );
        assert_eq!(again["status"], "duplicate");
    }
    assert_eq!(forwards(&received, 1).await.len(), 1, "forwarded once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_deauthorized_revokes_that_connection_and_no_other() {
    let (harness, received) = harness().await;
    connect(
        &harness,
        "leaving",
        "acct-1",
        "token-of-the-leaving-customer",
    )
    .await;
    connect(&harness, "staying", "acct-2", TOKEN).await;
    // Both have a started sync schedule (daily: set up, not due during the test).
    for connection in ["leaving", "staying"] {
        let frequency = harness
            .api(Method::PUT, "/sync/update-connection-frequency")
            .json(&json!({
                "sync_name": "reports",
                "provider_config_key": CHECKR,
                "connection_id": connection,
                "frequency": "every day",
            }))
            .send()
            .await
            .expect("sent");
        assert!(
            frequency.status().is_success(),
            "{:?}",
            frequency.text().await
        );
        let started = harness
            .api(Method::POST, "/sync/start")
            .json(&json!({ "syncs": ["reports"], "provider_config_key": CHECKR, "connection_id": connection }))
            .send()
            .await
            .expect("sent");
        assert!(started.status().is_success(), "{:?}", started.text().await);
    }
    let body = json!({
        "id": "evt-deauth",
        "object": "event",
        "type": "token.deauthorized",
        "created_at": "2026-11-26T12:00:00Z",
        "data": { "object": { "access_code": "token-of-the-leaving-customer" } },
        // The partner's own account, not the customer's.
        "account_id": "partner-account",
    })
    .to_string();
    let (status, answer) = signed(&harness, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["revoked"], 1);
    let forwarded = forwards(&received, 1).await;
    assert_eq!(forwarded[0]["connectionId"], "leaving");

    let shown: Value = harness
        .api(
            Method::GET,
            &format!("/connections/leaving?provider_config_key={CHECKR}"),
        )
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(shown["revoked"], true, "{shown}");
    assert!(shown["revoked_at"].is_string());
    let trigger = |connection: &'static str| {
        harness
            .api(Method::POST, "/action/trigger")
            .header("Connection-Id", connection)
            .header("Provider-Config-Key", CHECKR)
            .json(&json!({ "action_name": "get-account", "input": {} }))
            .send()
    };
    let refused = trigger("leaving").await.expect("sent");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let error: Value = refused.json().await.expect("JSON");
    assert_eq!(error["error"]["code"], "connection_revoked");
    let proxied = harness
        .api(Method::GET, "/proxy/v1/account")
        .header("Connection-Id", "leaving")
        .header("Provider-Config-Key", CHECKR)
        .send()
        .await
        .expect("sent");
    assert_eq!(proxied.status(), StatusCode::FORBIDDEN);
    assert!(
        !harness
            .sim
            .requests()
            .iter()
            .any(|request| request.path == "/v1/account"),
        "nothing reached Checkr for the revoked connection"
    );

    let sync_status = |connection: &'static str| {
        harness
            .api(
                Method::GET,
                &format!(
                    "/sync/status?syncs=reports&provider_config_key={CHECKR}&connection_id={connection}"
                ),
            )
            .send()
    };
    let leaving: Value = sync_status("leaving")
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        leaving["syncs"][0]["status"], "PAUSED",
        "its syncs stop: {leaving}"
    );
    let staying: Value = sync_status("staying")
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_ne!(
        staying["syncs"][0]["status"], "PAUSED",
        "the other's do not: {staying}"
    );

    let other = trigger("staying").await.expect("sent");
    assert_eq!(
        other.status(),
        StatusCode::OK,
        "the other connection is untouched"
    );
    assert!(
        harness
            .sim
            .requests()
            .iter()
            .any(|request| request.path == "/v1/account")
    );
    let forwarded_text = serde_json::to_string(&forwarded).expect("JSON");
    assert!(
        !forwarded_text.contains("token-of-the-leaving-customer"),
        "the revoked token is neither forwarded nor kept in the outbox: {forwarded_text}"
    );
    assert_eq!(
        forwarded[0]["payload"]["data"]["object"]["access_code"],
        "[redacted]"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_unknown_and_unrouted_events_never_get_a_5xx() {
    let (harness, received) = harness().await;
    let garbage = "{not json";
    let (status, answer) = signed(&harness, garbage).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_event");
    let (status, answer) = signed(&harness, r#"{"type":"report.completed"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`id`"),
        "{answer}"
    );
    let unknown = event("evt-odd", "something.new", "acct-nobody");
    let (status, answer) = signed(&harness, &unknown).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["routed"], 0);
    let forwarded = forwards(&received, 1).await;
    assert_eq!(
        forwarded[0]["connectionId"],
        Value::Null,
        "forwarded unrouted"
    );
    let big = format!("{{\"id\":\"x\",\"pad\":\"{}\"}}", "a".repeat(2 << 20));
    let (status, _) = signed(&harness, &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = deliver(&harness, &unknown, Some("00")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_signed_events_is_processed_and_forwarded_exactly_once_each() {
    const EVENTS: usize = 2_000;
    const CONCURRENCY: usize = 32;
    let (harness, received) = harness().await;
    connect(&harness, "a", "acct-1", "token-a").await;
    let harness = Arc::new(harness);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..CONCURRENCY {
        let harness = harness.clone();
        workers.spawn(async move {
            let mut latencies = Vec::new();
            for index in (worker..EVENTS).step_by(CONCURRENCY) {
                let body = event(&format!("evt-{index}"), "report.completed", "acct-1");
                let sent = Instant::now();
                let (status, answer) = signed(&harness, &body).await;
                latencies.push(sent.elapsed());
                assert_eq!(status, StatusCode::OK, "{answer}");
                assert_eq!(answer["status"], "accepted");
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = workers.join_next().await {
        latencies.extend(done.expect("worker"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    eprintln!(
        "burst: {EVENTS} events at concurrency {CONCURRENCY} in {elapsed:?} ({:.0} events/s), p50 {:?}, p99 {:?} (debug build)",
        EVENTS as f64 / elapsed.as_secs_f64(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
    );
    let forwarded = forwards(&received, EVENTS).await;
    assert_eq!(forwarded.len(), EVENTS, "each forwarded exactly once");
    let mut ids: Vec<String> = forwarded
        .iter()
        .map(|forward| forward["payload"]["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), EVENTS, "no event forwarded twice");
}
