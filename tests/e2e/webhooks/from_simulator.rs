//! Checkr's webhooks as the simulator really sends them: a state change of an
//! OAuth-connected customer reaches terapi signed with the partner app's secret and is
//! forwarded to the application; deauthorization revokes the right connection; a forged
//! signature is refused and the simulator's retry goes through; a duplicate delivery is
//! processed once; the syncs' webhook handlers keep the records API current.

use crate::server::support::{CLIENT_ID, SECRET_KEY, ServerHarness};
use crate::support::*;
use crate::webhooks::outbox::{Received, hmac_hex, receiver};
use checkr_sim::{AccountSeed, DeliveryStatus, WebhookDelivery};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::AtomicU16;
use std::time::{Duration, Instant};
use terapi_runtime::{ConnectionStore, Credentials};

/// A server forwarding to a loopback application endpoint, with the simulator's partner
/// app sending its webhooks to the server.
async fn harness() -> (ServerHarness, Received) {
    harness_with(|_| {}).await
}

/// [`harness`] with `adjust` applied to the configuration.
async fn harness_with(
    adjust: impl FnOnce(&mut terapi_runtime::RuntimeConfig),
) -> (ServerHarness, Received) {
    let (addr, received, _task) = receiver(None, Arc::new(AtomicU16::new(200))).await;
    let url = format!("http://{addr}/hooks");
    let harness =
        ServerHarness::start_with(AccountSeed::new("Connected Customer"), move |config| {
            config.server.webhook_url = Some(url);
            adjust(config);
        })
        .await;
    let webhook = format!("{}/webhook/{CHECKR}", harness.base_url);
    assert!(
        harness
            .sim
            .set_partner_webhook_url(CLIENT_ID, Some(&webhook))
    );
    (harness, received)
}

/// Connects `connection_id` through the OAuth flow; returns its Checkr token.
async fn connect(harness: &ServerHarness, connection_id: &str) -> String {
    let done = harness.connect(connection_id).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    match harness
        .store()
        .get(CHECKR, connection_id)
        .await
        .expect("readable")
        .expect("stored")
        .credentials
    {
        Credentials::OAuth2 { access_token, .. } => access_token,
        other => panic!("expected OAuth2 credentials, got {other:?}"),
    }
}

/// A request to the simulator's API as `token`.
fn checkr(
    harness: &ServerHarness,
    method: Method,
    token: &str,
    path: &str,
) -> reqwest::RequestBuilder {
    harness
        .client
        .request(method, format!("{}{path}", harness.sim.base_url()))
        .header(reqwest::header::AUTHORIZATION, basic(token))
}

/// Creates a candidate in the account of `token`; returns its id.
async fn candidate(harness: &ServerHarness, token: &str, email: &str) -> String {
    let response = checkr(harness, Method::POST, token, "/v1/candidates")
        .json(&json!({ "email": email }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("JSON");
    body["id"].as_str().expect("id").to_string()
}

/// Waits until the simulator has no delivery pending; returns them all.
async fn settled(harness: &ServerHarness) -> Vec<WebhookDelivery> {
    assert!(
        harness.sim.wait_for_webhooks(Duration::from_secs(20)).await,
        "the simulator's deliveries settle: {:?}",
        harness.sim.webhook_deliveries()
    );
    harness.sim.webhook_deliveries()
}

/// The forwards (`type: "forward"`) the application received, once `done` holds for them
/// (and a second longer, to catch extra ones). Each is checked to be signed for the
/// application.
async fn forwards(received: &Received, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let read = || -> Vec<Value> {
        received
            .all()
            .into_iter()
            .map(|(headers, body)| {
                assert_eq!(
                    headers["x-nango-hmac-sha256"].to_str().expect("ascii"),
                    hmac_hex(SECRET_KEY, &body),
                    "forwards are signed for the application"
                );
                serde_json::from_str::<Value>(&body).expect("JSON")
            })
            .filter(|webhook| webhook["type"] == "forward")
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(&read()) {
        assert!(
            Instant::now() < deadline,
            "not forwarded in time; got {:?}",
            read()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    read()
}

/// The forwards of the event `event_id`.
fn of_event<'a>(forwards: &'a [Value], event_id: &str) -> Vec<&'a Value> {
    forwards
        .iter()
        .filter(|forward| forward["payload"]["id"] == event_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_report_reaches_the_app_as_a_signed_forward_for_its_connection() {
    let (harness, received) = harness().await;
    let token = connect(&harness, "customer-a").await;
    // Another customer, whose events must not be attributed to customer-a.
    let other = connect(&harness, "customer-b").await;

    let candidate = candidate(&harness, &token, "applicant@example.com").await;
    let invitation = checkr(&harness, Method::POST, &token, "/v1/invitations")
        .json(&json!({ "candidate_id": candidate, "package": "tasker_standard" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(invitation.status(), StatusCode::CREATED);
    let invitation: Value = invitation.json().await.expect("JSON");
    let report = harness
        .sim
        .complete_invitation(invitation["id"].as_str().expect("id"))
        .expect("a pending report");
    assert!(harness.sim.complete_report(&report, "consider"));

    let deliveries = settled(&harness).await;
    let account = harness.sim.account_id(&token).expect("account");
    assert_ne!(harness.sim.account_id(&other), Some(account.clone()));
    let types: Vec<&str> = deliveries.iter().map(|d| d.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "candidate.created",
            "invitation.created",
            "invitation.completed",
            "report.created",
            "report.completed"
        ]
    );
    for delivery in &deliveries {
        assert_eq!(delivery.status, DeliveryStatus::Delivered, "{delivery:?}");
        assert_eq!(delivery.attempts.len(), 1, "terapi acknowledged at once");
        assert_eq!(delivery.account_id, account);
    }

    let forwarded = forwards(&received, |f| f.len() >= deliveries.len()).await;
    assert_eq!(forwarded.len(), deliveries.len(), "one forward per event");
    for delivery in &deliveries {
        let forward = of_event(&forwarded, &delivery.event_id);
        assert_eq!(forward.len(), 1, "{} forwarded once", delivery.event_type);
        let forward = forward[0];
        assert_eq!(forward["from"], "checkr-partner");
        assert_eq!(forward["type"], "forward");
        assert_eq!(forward["connectionId"], "customer-a");
        assert_eq!(forward["providerConfigKey"], CHECKR);
        assert_eq!(
            forward["payload"],
            delivery.payload(),
            "the event as Checkr sent it"
        );
    }
    let completed = deliveries
        .iter()
        .find(|d| d.event_type == "report.completed")
        .expect("report.completed");
    let payload = completed.payload();
    assert_eq!(payload["data"]["object"]["id"], report.as_str());
    assert_eq!(payload["data"]["object"]["result"], "consider");
}

/// `POST /action/trigger` of `get-account` on `connection`.
async fn get_account(harness: &ServerHarness, connection: &str) -> (StatusCode, Value) {
    let response = harness
        .api(Method::POST, "/action/trigger")
        .header("Connection-Id", connection)
        .header("Provider-Config-Key", CHECKR)
        .json(&json!({ "action_name": "get-account", "input": {} }))
        .send()
        .await
        .expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Whether `GET /connections/{id}` shows the connection revoked.
async fn revoked(harness: &ServerHarness, connection: &str) -> bool {
    let shown: Value = harness
        .api(
            Method::GET,
            &format!("/connections/{connection}?provider_config_key={CHECKR}"),
        )
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    shown["revoked"] == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deauthorization_at_checkr_revokes_that_connection_and_no_other() {
    let (harness, received) = harness().await;
    let leaving = connect(&harness, "leaving").await;
    let disconnecting = connect(&harness, "disconnecting").await;
    connect(&harness, "staying").await;
    assert_eq!(get_account(&harness, "leaving").await.0, StatusCode::OK);

    // The partner deauthorizes one token through Checkr's API …
    let response = checkr(&harness, Method::POST, &leaving, "/oauth/deauthorize")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    // … and another customer disconnects in Checkr's dashboard.
    assert!(harness.sim.disconnect(&disconnecting));

    let deliveries = settled(&harness).await;
    let deauthorized: Vec<&WebhookDelivery> = deliveries
        .iter()
        .filter(|d| d.event_type == "token.deauthorized")
        .collect();
    assert_eq!(deauthorized.len(), 2);
    for delivery in &deauthorized {
        assert_eq!(delivery.status, DeliveryStatus::Delivered, "{delivery:?}");
        assert_ne!(
            Some(delivery.account_id.clone()),
            harness.sim.account_id(&leaving),
            "the partner's own account"
        );
    }
    let forwarded = forwards(&received, |f| f.len() >= 2).await;
    let mut revoked_ids: Vec<&str> = forwarded
        .iter()
        .filter(|f| f["payload"]["type"] == "token.deauthorized")
        .map(|f| f["connectionId"].as_str().unwrap_or_default())
        .collect();
    revoked_ids.sort();
    assert_eq!(revoked_ids, ["disconnecting", "leaving"]);

    for connection in ["leaving", "disconnecting"] {
        assert!(revoked(&harness, connection).await, "{connection} revoked");
        let (status, body) = get_account(&harness, connection).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "connection_revoked");
    }
    assert!(!revoked(&harness, "staying").await);
    let (status, body) = get_account(&harness, "staying").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the other connection is untouched: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_signature_is_refused_and_the_simulators_retry_goes_through() {
    let (harness, received) = harness().await;
    let token = connect(&harness, "customer").await;
    harness.sim.forge_next_webhook_signature();
    candidate(&harness, &token, "forged@example.com").await;

    let deliveries = settled(&harness).await;
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    let attempts: Vec<(Option<u16>, bool)> = delivery
        .attempts
        .iter()
        .map(|attempt| (attempt.status, attempt.forged))
        .collect();
    assert_eq!(
        attempts,
        [(Some(401), true), (Some(200), false)],
        "refused, then the retry with Checkr's signature accepted"
    );
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    let forwarded = forwards(&received, |f| !f.is_empty()).await;
    assert_eq!(
        forwarded.len(),
        1,
        "forwarded once, for the genuine attempt"
    );
    assert_eq!(forwarded[0]["payload"], delivery.payload());
    assert_eq!(forwarded[0]["connectionId"], "customer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_delivery_is_processed_and_forwarded_once() {
    let (harness, received) = harness().await;
    let token = connect(&harness, "customer").await;
    harness.sim.duplicate_next_webhook();
    candidate(&harness, &token, "twice@example.com").await;

    let deliveries = settled(&harness).await;
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery.attempts.len(), 2, "{delivery:?}");
    assert!(delivery.attempts[1].duplicate);
    assert!(
        delivery
            .attempts
            .iter()
            .all(|attempt| attempt.acknowledged()),
        "both copies acknowledged, so Checkr would stop"
    );
    let forwarded = forwards(&received, |f| !f.is_empty()).await;
    assert_eq!(forwarded.len(), 1, "processed and forwarded once");
    assert_eq!(of_event(&forwarded, &delivery.event_id).len(), 1);
}

/// `GET /records?model={model}` for `connection`: the records, as the API lists them.
async fn records(harness: &ServerHarness, connection: &str, model: &str) -> Vec<Value> {
    let response = harness
        .api(Method::GET, &format!("/records?model={model}"))
        .header("Connection-Id", connection)
        .header("Provider-Config-Key", CHECKR)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.expect("JSON");
    page["records"].as_array().cloned().unwrap_or_default()
}

/// Waits until `connection`'s record `id` of `model` satisfies `done`; returns it and how
/// long that took.
async fn record_when(
    harness: &ServerHarness,
    connection: &str,
    model: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let found = records(harness, connection, model)
            .await
            .into_iter()
            .find(|record| record["id"] == id);
        if let Some(record) = found.filter(|record| done(record)) {
            return (record, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{model} {id} of {connection} never got there: {:?}",
            records(harness, connection, model).await
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkrs_webhooks_keep_the_synced_records_current_and_the_app_hears_of_each_change() {
    // No scheduled runs: whatever reaches the records below came through webhooks.
    let (harness, received) = harness_with(|config| config.server.sync_scheduler = false).await;
    let token = connect(&harness, "customer-a").await;
    let other = connect(&harness, "customer-b").await;

    let candidate = candidate(&harness, &token, "applicant@example.com").await;
    let invitation = checkr(&harness, Method::POST, &token, "/v1/invitations")
        .json(&json!({ "candidate_id": candidate, "package": "tasker_standard" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(invitation.status(), StatusCode::CREATED);
    let invitation: Value = invitation.json().await.expect("JSON");
    let invitation_id = invitation["id"].as_str().expect("id");
    let (candidate_record, _) =
        record_when(&harness, "customer-a", "Candidate", &candidate, |_| true).await;
    assert_eq!(candidate_record["email"], "applicant@example.com");
    assert_eq!(candidate_record["_nango_metadata"]["last_action"], "ADDED");
    record_when(
        &harness,
        "customer-a",
        "BackgroundCheck",
        invitation_id,
        |check| check["status"] == "pending",
    )
    .await;

    let report = harness
        .sim
        .complete_invitation(invitation_id)
        .expect("a pending report");
    let (check, _) = record_when(
        &harness,
        "customer-a",
        "BackgroundCheck",
        invitation_id,
        |check| check["status"] == "completed",
    )
    .await;
    assert_eq!(check["report_id"], report.as_str());
    assert_eq!(check["_nango_metadata"]["last_action"], "UPDATED");
    let (pending, _) = record_when(&harness, "customer-a", "Report", &report, |_| true).await;
    assert_eq!(pending["status"], "pending");

    // The report completes at Checkr: the stored copy follows within moments.
    assert!(harness.sim.complete_report(&report, "consider"));
    let (completed, took) = record_when(&harness, "customer-a", "Report", &report, |report| {
        report["status"] == "complete"
    })
    .await;
    eprintln!("report.completed reached the records API {took:?} after Checkr's state change");
    assert_eq!(completed["result"], "consider");
    assert_eq!(completed["_nango_metadata"]["last_action"], "UPDATED");
    for model in ["Candidate", "BackgroundCheck", "Report"] {
        assert!(
            records(&harness, "customer-b", model).await.is_empty(),
            "nothing of customer-a's reaches customer-b ({model})"
        );
    }
    assert_ne!(
        harness.sim.account_id(&other),
        harness.sim.account_id(&token)
    );

    // The application got the forward of `report.completed` and a sync webhook saying
    // the reports sync updated a record because of a webhook.
    let deliveries = settled(&harness).await;
    let completed_event = deliveries
        .iter()
        .find(|d| d.event_type == "report.completed")
        .expect("report.completed");
    let forwarded = forwards(&received, |f| {
        !of_event(f, &completed_event.event_id).is_empty()
    })
    .await;
    assert_eq!(of_event(&forwarded, &completed_event.event_id).len(), 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let sync_webhook = loop {
        let found = received
            .all()
            .into_iter()
            .map(|(_, body)| serde_json::from_str::<Value>(&body).expect("JSON"))
            .find(|webhook| {
                webhook["type"] == "sync"
                    && webhook["syncName"] == "reports"
                    && webhook["responseResults"]["updated"] == 1
            });
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no sync webhook for the reports sync"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(sync_webhook["syncType"], "WEBHOOK");
    assert_eq!(sync_webhook["connectionId"], "customer-a");
    assert_eq!(sync_webhook["providerConfigKey"], CHECKR);
    assert_eq!(sync_webhook["model"], "Report");
    assert_eq!(sync_webhook["success"], true);

    // Every handler job ran once and is done.
    let jobs: Value = harness
        .api(Method::GET, "/webhooks?limit=100")
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let jobs: Vec<&Value> = jobs["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .filter(|delivery| delivery["kind"] == "on-webhook")
        .collect();
    assert_eq!(jobs.len(), deliveries.len(), "one job per event: {jobs:?}");
    for job in jobs {
        assert_eq!(job["status"], "delivered", "{job}");
        assert_eq!(job["attempts"], 1, "{job}");
        assert_eq!(job["connection_id"], "customer-a", "{job}");
    }
}
