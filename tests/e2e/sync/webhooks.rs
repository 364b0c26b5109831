//! Sync webhooks: signed like Nango's, delivered through the durable outbox, and
//! delivered after a restart when the receiver was down.

use super::crash::{KEY, SECRET, serve_with, status, terapi};
use super::support::{NUMBER, NUMBERS};
use crate::support::{GUESTS, TOKEN, component, free_port, simulator};
use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SIGNING_KEY: &str = "webhook-signing-key-for-tests";

type Received = Arc<Mutex<Vec<(Option<String>, Bytes)>>>;

/// A receiver on `port` recording what it gets.
async fn receiver(port: u16) -> (Received, tokio::task::JoinHandle<()>) {
    let received: Received = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let signature = headers
                    .get("x-nango-hmac-sha256")
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_string);
                sink.lock().expect("lock").push((signature, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("receiver binds");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (received, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_sync_webhook_survives_a_receiver_down_until_after_a_restart() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("terapi.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n\n[integrations.{GUESTS}]\ncomponent = \"{}\"\nprovider = \"checkr-partner\"\napi_base_url = \"{}\"\n",
            component("terapi_test_guests").display(),
            sim.base_url()
        ),
    )
    .expect("config");
    let added = terapi(&config)
        .args([
            "connection",
            "add",
            GUESTS,
            "demo",
            "--access-token",
            TOKEN,
            "--metadata",
            r#"{"count": 25}"#,
        ])
        .output()
        .expect("terapi runs");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/hook");
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
    server.0.kill().expect("SIGKILL");
    server.0.wait().expect("reaped");
    drop(server);

    // The receiver comes up; the restarted server delivers the stored webhook.
    let (received, _receiver) = receiver(port).await;
    let (_server, _url) = serve_with(&config, &env);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (signature, body) = loop {
        if let Some(first) = received.lock().expect("lock").first().cloned() {
            break first;
        }
        assert!(Instant::now() < deadline, "the webhook never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        signature.as_deref(),
        Some(terapi_runtime::service::webhooks::sign(SIGNING_KEY.as_bytes(), &body).as_str()),
        "signed with the key"
    );
    let body: Value = serde_json::from_slice(&body).expect("JSON body");
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
    assert_eq!(received.lock().expect("lock").len(), 1);
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
