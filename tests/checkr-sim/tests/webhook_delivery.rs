//! Webhook delivery: subscriptions and the partner application's URL receive the events
//! state changes produce, signed; non-2xx answers are retried on the schedule; the test
//! knobs forge a signature or duplicate a delivery.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use checkr_sim::{AccountSeed, DeliveryStatus, OAuthApp, SimConfig, Simulator, sign_webhook};
use common::{Api, TOKEN, basic, start_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CLIENT_ID: &str = "cid-hooks";
const SECRET: &str = "hook-secret";
const REDIRECT: &str = "http://127.0.0.1/cb";

/// What a receiver got: the signature, the user agent and the raw body.
#[derive(Debug, Clone)]
struct Received {
    signature: String,
    user_agent: String,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A loopback receiver: answers with the queued statuses first, then with 200 when the
/// signature verifies with `key` (any signature when `key` is `None`), 401 otherwise.
#[derive(Clone)]
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    statuses: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start(key: Option<&str>) -> Receiver {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let statuses: Arc<Mutex<Vec<u16>>> = Arc::default();
        let key = key.map(str::to_string);
        let (r, s) = (received.clone(), statuses.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (r, s, key) = (r.clone(), s.clone(), key.clone());
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    let got = Received {
                        signature: header("x-checkr-signature"),
                        user_agent: header("user-agent"),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    let valid = key
                        .as_ref()
                        .is_none_or(|k| sign_webhook(k.as_bytes(), &body) == got.signature);
                    r.lock().expect("lock").push(got);
                    let queued = {
                        let mut s = s.lock().expect("lock");
                        (!s.is_empty()).then(|| s.remove(0))
                    };
                    let status = queued.unwrap_or(if valid { 200 } else { 401 });
                    AxumStatus::from_u16(status).expect("status")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url,
            received,
            statuses,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    fn answer_next(&self, statuses: &[u16]) {
        self.statuses.lock().expect("lock").extend(statuses);
    }
}

fn fast() -> SimConfig {
    SimConfig::default()
        .with_contract_check()
        .with_webhook_retry_schedule(vec![Duration::from_millis(30); 3])
}

async fn settle(sim: &Simulator) {
    assert!(
        sim.wait_for_webhooks(Duration::from_secs(10)).await,
        "deliveries settle: {:?}",
        sim.webhook_deliveries()
    );
}

/// Connects a customer through the OAuth app; returns (token, account id).
async fn connect(api: &Api) -> (String, String) {
    let resp = api
        .send(
            api.client
                .get(api.url(&format!("/authorize/{CLIENT_ID}")))
                .query(&[("redirect_uri", REDIRECT), ("scope", "read_write")]),
        )
        .await;
    assert_eq!(resp.status, StatusCode::FOUND);
    let location = url::Url::parse(resp.header("location").expect("location")).expect("url");
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let body = api
        .send(api.client.post(api.url("/oauth/tokens")).form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("code", code.as_str()),
        ]))
        .await
        .json();
    (
        body["access_token"].as_str().expect("token").to_string(),
        body["checkr_account_id"]
            .as_str()
            .expect("account")
            .to_string(),
    )
}

#[tokio::test]
async fn subscriptions_receive_signed_events() {
    let (sim, api) = start_with(fast().with_token(TOKEN, AccountSeed::new("Acme"))).await;
    let bare = Receiver::start(Some(TOKEN)).await;
    let full = Receiver::start(Some(TOKEN)).await;
    for (receiver, include) in [(&bare, false), (&full, true)] {
        let resp = api
            .post(
                TOKEN,
                "/v1/webhooks",
                json!({"webhook_url": receiver.url, "include_object": include}),
            )
            .await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    }
    let third = api
        .post(
            TOKEN,
            "/v1/webhooks",
            json!({"webhook_url": "https://example.com/third"}),
        )
        .await;
    assert_eq!(third.status, StatusCode::BAD_REQUEST);
    assert_eq!(third.error(), "Allowed webhook API limit exceeded");

    let candidate = api.candidate(TOKEN, "hooked@example.com").await;
    settle(&sim).await;
    let account_id = sim.account_id(TOKEN).expect("account");
    for (receiver, include) in [(&bare, false), (&full, true)] {
        let got = receiver.received();
        assert_eq!(got.len(), 1, "{got:?}");
        let event = got[0].json();
        assert_eq!(
            got[0].signature,
            sign_webhook(TOKEN.as_bytes(), got[0].body.as_bytes())
        );
        assert!(got[0].user_agent.starts_with("Checkr-Webhook/"), "{got:?}");
        assert_eq!(event["type"], "candidate.created");
        assert_eq!(event["object"], "event");
        assert_eq!(event["account_id"], account_id.as_str());
        assert_eq!(event["webhook_url"], receiver.url.as_str());
        assert_eq!(event["data"]["object"]["id"], candidate.as_str());
        assert_eq!(
            event["data"]["object"]["uri"],
            format!("/v1/candidates/{candidate}")
        );
        assert_eq!(
            event["data"]["object"].get("email").is_some(),
            include,
            "{event}"
        );
        // The body is compact JSON.
        assert_eq!(got[0].body, event.to_string());
    }
    let deliveries = sim.webhook_deliveries();
    assert_eq!(deliveries.len(), 2);
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered && d.attempts.len() == 1)
    );
    assert_eq!(deliveries[0].event_id, deliveries[1].event_id);
}

#[tokio::test]
async fn the_partner_app_receives_its_customers_events_and_deauthorizations() {
    let receiver = Receiver::start(Some(SECRET)).await;
    let app = OAuthApp::new(CLIENT_ID, SECRET, REDIRECT);
    let partner_account = app.partner_account_id.clone();
    let (sim, api) = start_with(fast().with_oauth_app(app)).await;
    let (token, account_id) = connect(&api).await;
    assert!(sim.set_partner_webhook_url(CLIENT_ID, Some(&receiver.url)));
    assert!(!sim.set_partner_webhook_url("nobody", None));

    let candidate = api.candidate(&token, "p@example.com").await;
    let invitation = api
        .post(
            &token,
            "/v1/invitations",
            json!({"candidate_id": candidate, "package": "tasker_standard"}),
        )
        .await;
    assert_eq!(
        invitation.status,
        StatusCode::CREATED,
        "{}",
        invitation.text
    );
    let invitation = invitation.json()["id"].as_str().expect("id").to_string();
    let report = sim.complete_invitation(&invitation).expect("report");
    assert!(sim.complete_report(&report, "clear"));
    settle(&sim).await;
    let got = receiver.received();
    let types: Vec<Value> = got.iter().map(|r| r.json()["type"].clone()).collect();
    for expected in [
        "candidate.created",
        "invitation.created",
        "invitation.completed",
        "report.created",
        "report.completed",
    ] {
        assert!(types.contains(&json!(expected)), "{expected} in {types:?}");
    }
    for r in &got {
        assert_eq!(
            r.signature,
            sign_webhook(SECRET.as_bytes(), r.body.as_bytes())
        );
        assert_eq!(r.json()["account_id"], account_id.as_str());
    }
    let completed = got
        .iter()
        .map(Received::json)
        .find(|e| e["type"] == "report.completed")
        .expect("report.completed");
    assert_eq!(completed["data"]["object"]["status"], "complete");
    assert_eq!(completed["data"]["object"]["result"], "clear");

    // The customer disconnects: the partner hears of it, with its own account id.
    let before = got.len();
    let resp = api
        .send(
            api.client
                .post(api.url("/_sim/disconnect"))
                .header("authorization", basic(&token)),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    settle(&sim).await;
    let got = receiver.received();
    assert_eq!(got.len(), before + 1);
    let event = got[before].json();
    assert_eq!(event["type"], "token.deauthorized");
    assert_eq!(event["account_id"], partner_account.as_str());
    assert_eq!(event["data"]["object"]["access_code"], token.as_str());
    assert_eq!(
        api.get(&token, "/v1/account").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(!sim.disconnect(&token), "already revoked");

    // A second customer, deauthorized by the partner through the API.
    let (token2, _) = connect(&api).await;
    let resp = api
        .send(
            api.client
                .post(api.url("/oauth/deauthorize"))
                .header("authorization", basic(&token2)),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    settle(&sim).await;
    let last = receiver.received().last().expect("event").json();
    assert_eq!(last["type"], "token.deauthorized");
    assert_eq!(last["data"]["object"]["access_code"], token2.as_str());

    // A revoked customer's changes no longer reach the partner.
    let count = receiver.received().len();
    sim.churn(&token2);
    settle(&sim).await;
    assert_eq!(receiver.received().len(), count);
}

#[tokio::test]
async fn the_partner_url_can_be_set_over_http() {
    let receiver = Receiver::start(Some(SECRET)).await;
    let (sim, api) =
        start_with(fast().with_oauth_app(OAuthApp::new(CLIENT_ID, SECRET, REDIRECT))).await;
    let put = |secret: &str, body: Value| {
        let request = api
            .client
            .put(api.url("/_sim/partner/webhook"))
            .basic_auth(CLIENT_ID, Some(secret))
            .json(&body);
        api.send(request)
    };
    assert_eq!(
        put("wrong", json!({"webhook_url": receiver.url}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let resp = put(SECRET, json!({"webhook_url": receiver.url})).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let (token, _) = connect(&api).await;
    api.candidate(&token, "x@example.com").await;
    settle(&sim).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn failed_deliveries_are_retried_on_the_schedule() {
    let receiver = Receiver::start(None).await;
    let (sim, api) = start_with(fast().with_token(TOKEN, AccountSeed::new("Acme"))).await;
    api.post(TOKEN, "/v1/webhooks", json!({"webhook_url": receiver.url}))
        .await;
    receiver.answer_next(&[500, 429]);
    api.candidate(TOKEN, "a@example.com").await;
    settle(&sim).await;
    let deliveries = sim.webhook_deliveries();
    assert_eq!(deliveries.len(), 1);
    let statuses: Vec<Option<u16>> = deliveries[0].attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(429), Some(200)]);
    assert_eq!(deliveries[0].status, DeliveryStatus::Delivered);
    assert_eq!(receiver.received().len(), 3);

    // The schedule used up: failed, 1 + 3 attempts.
    receiver.answer_next(&[503, 503, 503, 503]);
    api.candidate(TOKEN, "b@example.com").await;
    settle(&sim).await;
    let last = sim.webhook_deliveries().pop().expect("delivery");
    assert_eq!(last.status, DeliveryStatus::Failed);
    assert_eq!(last.attempts.len(), 4);

    // No answer at all: recorded with the error, retried, failed.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url = format!("http://{}/hook", dead.local_addr().expect("addr"));
    drop(dead);
    api.post(TOKEN, "/v1/webhooks", json!({"webhook_url": dead_url}))
        .await;
    api.candidate(TOKEN, "c@example.com").await;
    settle(&sim).await;
    let to_dead = sim
        .webhook_deliveries()
        .into_iter()
        .find(|d| d.url == dead_url)
        .expect("delivery to the dead URL");
    assert_eq!(to_dead.status, DeliveryStatus::Failed);
    assert_eq!(to_dead.attempts.len(), 4);
    assert!(
        to_dead
            .attempts
            .iter()
            .all(|a| a.status.is_none() && a.error.is_some())
    );
}

#[tokio::test]
async fn knobs_forge_a_signature_and_duplicate_a_delivery() {
    let receiver = Receiver::start(Some(TOKEN)).await;
    let (sim, api) = start_with(fast().with_token(TOKEN, AccountSeed::new("Acme"))).await;
    api.post(TOKEN, "/v1/webhooks", json!({"webhook_url": receiver.url}))
        .await;

    sim.forge_next_webhook_signature();
    api.candidate(TOKEN, "forged@example.com").await;
    settle(&sim).await;
    let delivery = sim.webhook_deliveries().pop().expect("delivery");
    let summary: Vec<(Option<u16>, bool)> = delivery
        .attempts
        .iter()
        .map(|a| (a.status, a.forged))
        .collect();
    assert_eq!(summary, [(Some(401), true), (Some(200), false)]);
    assert_eq!(delivery.status, DeliveryStatus::Delivered);

    sim.duplicate_next_webhook();
    api.candidate(TOKEN, "twice@example.com").await;
    settle(&sim).await;
    let delivery = sim.webhook_deliveries().pop().expect("delivery");
    assert_eq!(delivery.attempts.len(), 2);
    assert!(delivery.attempts[1].duplicate);
    let got = receiver.received();
    let n = got.len();
    assert_eq!(got[n - 1].body, got[n - 2].body);
    assert_eq!(got[n - 1].signature, got[n - 2].signature);
    // The knobs act once.
    api.candidate(TOKEN, "once@example.com").await;
    settle(&sim).await;
    assert_eq!(receiver.received().len(), n + 1);
}
