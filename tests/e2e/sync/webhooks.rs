//! Sync webhooks: signed like Nango's, delivered through the durable outbox, and
//! delivered after a restart when the receiver was down.

use super::crash::{KEY, SECRET, add_demo, guests_config, serve_with, status, terapi};
use super::support::{NUMBER, NUMBERS};
use crate::support::{GUESTS, free_port, simulator};
use crate::webhooks::outbox::receiver;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::AtomicU16;
use std::time::{Duration, Instant};

const SIGNING_KEY: &str = "webhook-signing-key-for-tests";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_sync_webhook_survives_a_receiver_down_until_after_a_restart() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = guests_config(dir.path(), &sim.base_url(), "");
    add_demo(&config, r#"{"count": 25}"#);
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/hooks");
    let env = [
        ("TERAPI_WEBHOOK_URL", hook.as_str()),
        ("TERAPI_WEBHOOK_SIGNING_KEY", SIGNING_KEY),
    ];
    let client = reqwest::Client::new();

    // The receiver is down: the run's webhook waits in the outbox.
    let (mut server, url) = serve_with(&config, &env);
    let triggered = client
        .post(format!("{url}/sync/trigger"))
        .bearer_auth(SECRET)
        .json(
            &json!({ "syncs": [NUMBERS], "provider_config_key": GUESTS, "connection_id": "demo" }),
        )
        .send()
        .await
        .expect("trigger");
    assert_eq!(triggered.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    let pending = loop {
        let listed: Value = client
            .get(format!("{url}/webhooks"))
            .bearer_auth(SECRET)
            .send()
            .await
            .expect("webhooks")
            .json()
            .await
            .expect("json");
        let first = listed["webhooks"][0].clone();
        if first["attempts"].as_u64().unwrap_or(0) >= 1 {
            break first;
        }
        assert!(Instant::now() < deadline, "no delivery attempt: {listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(pending["status"], "pending", "{pending}");
    assert!(
        !pending["last_error"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "the failed attempt says why: {pending}"
    );
    assert_eq!(status(&client, &url).await["status"], "SUCCESS");
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    drop(server);

    // The receiver comes up; the restarted server delivers the stored webhook.
    let (_, received, _receiver) = receiver(
        Some(([127, 0, 0, 1], port).into()),
        Arc::new(AtomicU16::new(200)),
    )
    .await;
    let (_server, _url) = serve_with(&config, &env);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (headers, body) = loop {
        if let Some(first) = received.all().first().cloned() {
            break first;
        }
        assert!(Instant::now() < deadline, "the webhook never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        headers["x-nango-hmac-sha256"],
        terapi_runtime::service::webhooks::sign(SIGNING_KEY.as_bytes(), body.as_bytes()).as_str(),
        "signed with the key"
    );
    let body: Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(body["from"], "terapi");
    assert_eq!(body["type"], "sync");
    assert_eq!(body["connectionId"], "demo");
    assert_eq!(body["providerConfigKey"], GUESTS);
    assert_eq!(body["syncName"], NUMBERS);
    assert_eq!(body["model"], NUMBER);
    assert_eq!(body["success"], true);
    assert_eq!(
        body["responseResults"],
        json!({ "added": 25, "updated": 0, "deleted": 0 })
    );
    assert!(body["modifiedAfter"].is_string());
    // Delivered once, and the outbox says so (the CLI reads it too).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received.all().len(), 1);
    let listed = terapi(&config)
        .args(["webhooks", "list"])
        .env("TERAPI_ENCRYPTION_KEY", KEY)
        .output()
        .expect("terapi runs");
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("\"delivered\""), "{text}");
    let failed = terapi(&config)
        .args(["webhooks", "list", "--failed"])
        .env("TERAPI_ENCRYPTION_KEY", KEY)
        .output()
        .expect("terapi runs");
    assert!(failed.status.success());
    assert!(
        failed.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&failed.stdout)
    );
}
