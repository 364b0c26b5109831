//! A sync's webhook handler (`on-webhook`), through a real server: events reach it only
//! for connections the sync runs for, what it saves is in the records API at once, the
//! application hears of it (`syncType: "WEBHOOK"`), and a failing handler is retried,
//! then listed as failed and replayable. The test guests' `numbers` sync stands in for a
//! provider's (`number.set` saves a record, `number.removed` deletes one, any other type
//! fails), configured as an integration of the Checkr provider so events are signed,
//! verified and routed exactly as Checkr's are.

use crate::server::support::ServerHarness;
use crate::support::*;
use crate::webhooks::outbox::{Received, hmac_hex, receiver};
use checkr_sim::AccountSeed;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use terapi_runtime::{ConnectionStore, Credentials, IntegrationConfig, NewConnection, Secret};

/// The integration running the test guests under the Checkr provider.
const HOOKED: &str = "numbers-hooked";
/// What it verifies webhooks with.
const HOOK_SECRET: &str = "numbers-webhook-secret";
/// The account its connection belongs to.
const ACCOUNT: &str = "acct-numbers";
const NUMBERS: &str = "numbers";

/// A server with the `numbers-hooked` integration, its connection `acme` of [`ACCOUNT`],
/// no scheduled runs (records change only through webhooks), and a loopback application.
async fn harness(max_attempts: u32) -> (ServerHarness, Received) {
    let (addr, received, _task) = receiver(None, Arc::new(AtomicU16::new(200))).await;
    let url = format!("http://{addr}/hooks");
    let harness = ServerHarness::start_with(AccountSeed::new("Customer"), move |config| {
        config.server.webhook_url = Some(url);
        config.server.sync_scheduler = false;
        config.server.webhook_max_attempts = max_attempts;
        let mut hooked = IntegrationConfig::new(component("terapi_test_guests"));
        hooked.provider = Some("checkr-partner".into());
        hooked.webhook_secret = Some(Secret::new(HOOK_SECRET));
        config.integrations.insert(HOOKED.into(), hooked);
    })
    .await;
    let mut connection = NewConnection::new(
        HOOKED,
        CONNECTION,
        "checkr-partner",
        Credentials::access_token("numbers-token"),
    );
    connection.connection_config = json!({ "checkr_account_id": ACCOUNT });
    harness.store().upsert(&connection).await.expect("stored");
    (harness, received)
}

static EVENTS: AtomicUsize = AtomicUsize::new(0);

/// Sends a signed `kind` event about `object` to the server; returns its id.
async fn send_event(harness: &ServerHarness, kind: &str, object: Value) -> String {
    let id = format!("evt_{}", EVENTS.fetch_add(1, Ordering::Relaxed));
    let body = json!({
        "id": id, "object": "event", "type": kind, "account_id": ACCOUNT,
        "created_at": "2026-12-06T12:00:00Z", "data": { "object": object },
    })
    .to_string();
    let response = harness
        .client
        .post(format!("{}/webhook/{HOOKED}", harness.base_url))
        .header("content-type", "application/json")
        .header("X-Checkr-Signature", hmac_hex(HOOK_SECRET, &body))
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK, "{kind} accepted");
    id
}

/// `POST /sync/{start|pause}` of the numbers sync for `acme`.
async fn schedule(harness: &ServerHarness, change: &str) {
    let response = harness
        .api(Method::POST, &format!("/sync/{change}"))
        .json(&json!({ "syncs": [NUMBERS], "provider_config_key": HOOKED, "connection_id": CONNECTION }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK, "sync {change}");
}

/// `acme`'s Number records, deleted ones included.
async fn numbers(harness: &ServerHarness) -> Vec<Value> {
    let page: Value = harness
        .api(Method::GET, "/records?model=Number")
        .header("Connection-Id", CONNECTION)
        .header("Provider-Config-Key", HOOKED)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    page["records"].as_array().cloned().unwrap_or_default()
}

/// The handler jobs in the outbox, newest first.
async fn jobs(harness: &ServerHarness) -> Vec<Value> {
    let listed: Value = harness
        .api(Method::GET, "/webhooks?limit=100")
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    listed["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .filter(|delivery| delivery["kind"] == "on-webhook")
        .cloned()
        .collect()
}

/// Polls `read` until `done` holds for what it returns.
async fn eventually<T: std::fmt::Debug, F: std::future::Future<Output = T>>(
    what: &str,
    read: impl Fn() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let value = read().await;
        if done(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: still {value:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The sync webhooks the application received.
fn sync_webhooks(received: &Received) -> Vec<Value> {
    received
        .all()
        .into_iter()
        .map(|(_, body)| serde_json::from_str::<Value>(&body).expect("JSON"))
        .filter(|webhook| webhook["type"] == "sync")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_a_syncs_handler_only_while_it_runs_for_the_connection() {
    let (harness, received) = harness(3).await;
    // The sync was never started for the connection: the event is forwarded, not applied.
    send_event(
        &harness,
        "number.set",
        json!({ "id": "n1", "value": 1, "label": "" }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(jobs(&harness).await.is_empty());
    assert!(numbers(&harness).await.is_empty());

    schedule(&harness, "start").await;
    send_event(
        &harness,
        "number.set",
        json!({ "id": "n42", "value": 42, "label": "x" }),
    )
    .await;
    let stored = eventually(
        "n42 saved",
        || numbers(&harness),
        |records| records.len() == 1,
    )
    .await;
    assert_eq!(stored[0]["id"], "n42");
    assert_eq!(stored[0]["value"], 42);
    assert_eq!(stored[0]["_nango_metadata"]["last_action"], "ADDED");
    let webhook = eventually(
        "the application hears of it",
        || async { sync_webhooks(&received) },
        |webhooks| !webhooks.is_empty(),
    )
    .await;
    assert_eq!(webhook.len(), 1, "{webhook:?}");
    assert_eq!(webhook[0]["syncType"], "WEBHOOK");
    assert_eq!(webhook[0]["syncName"], NUMBERS);
    assert_eq!(webhook[0]["model"], "Number");
    assert_eq!(webhook[0]["connectionId"], CONNECTION);
    assert_eq!(webhook[0]["providerConfigKey"], HOOKED);
    assert_eq!(
        webhook[0]["responseResults"],
        json!({ "added": 1, "updated": 0, "deleted": 0 })
    );

    send_event(&harness, "number.removed", json!({ "id": "n42" })).await;
    let deleted = eventually(
        "n42 deleted",
        || numbers(&harness),
        |records| {
            records
                .first()
                .is_some_and(|r| r["_nango_metadata"]["last_action"] == "DELETED")
        },
    )
    .await;
    assert_eq!(deleted.len(), 1);

    // Paused for the connection: events are no longer applied.
    schedule(&harness, "pause").await;
    let before = jobs(&harness).await.len();
    send_event(
        &harness,
        "number.set",
        json!({ "id": "n43", "value": 43, "label": "" }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(jobs(&harness).await.len(), before, "no job while paused");
    assert!(numbers(&harness).await.iter().all(|r| r["id"] != "n43"));
    let jobs = jobs(&harness).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert!(
        jobs.iter().all(|job| job["status"] == "delivered"),
        "{jobs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_is_retried_then_listed_as_failed_and_replays() {
    let (harness, received) = harness(2).await;
    schedule(&harness, "start").await;
    send_event(&harness, "number.unknown", json!({ "id": "n7" })).await;
    let failed = eventually(
        "the job fails for good after its two attempts",
        || jobs(&harness),
        |jobs| jobs.first().is_some_and(|job| job["status"] == "failed"),
    )
    .await;
    let job = &failed[0];
    assert_eq!(job["attempts"], 2, "{job}");
    let error = job["last_error"].as_str().expect("an error");
    assert!(
        error.contains("cannot apply a `number.unknown` event")
            && error.contains("gave up after 2 attempts"),
        "{error}"
    );
    assert!(
        sync_webhooks(&received).is_empty(),
        "a failed handler changes nothing and sends no sync webhook"
    );

    let id = job["id"].as_i64().expect("id");
    let response = harness
        .api(Method::POST, &format!("/webhooks/{id}/replay"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let replayed = eventually(
        "the replay runs the handler again",
        || jobs(&harness),
        |jobs| {
            jobs[0]["status"] == "failed"
                && jobs[0]["attempts"] == 2
                && jobs[0]["delivered_at"].is_null()
        },
    )
    .await;
    assert_eq!(replayed.len(), 1);
}
