//! Webhooks to the application: the durable outbox, signed deliveries, retries across a
//! receiver outage and a restart, failures kept and replayed (library, server and CLI).

use crate::server::support::{SECRET_KEY, ServerHarness};
use crate::support::*;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use terapi_runtime::RuntimeConfig;
use terapi_runtime::service::{EnvLookup, Service, ServiceOptions};
use terapi_runtime::store::{DeliveryFilter, DeliveryStatus};

const SIGNING_KEY: &str = "webhook-signing-key-for-tests";

/// What the application's webhook endpoint received: headers and exact bodies.
#[derive(Clone, Default)]
pub struct Received(Arc<Mutex<Vec<(HeaderMap, String)>>>);

impl Received {
    pub fn all(&self) -> Vec<(HeaderMap, String)> {
        self.0.lock().expect("lock").clone()
    }
}

/// A loopback application endpoint answering `status` (changeable) and recording what
/// it gets; on `addr` when given (to come back on the same port after an outage).
pub async fn receiver(
    addr: Option<SocketAddr>,
    status: Arc<AtomicU16>,
) -> (SocketAddr, Received, tokio::task::JoinHandle<()>) {
    let received = Received::default();
    let recorded = received.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let recorded = recorded.clone();
            let status = status.clone();
            async move {
                recorded.0.lock().expect("lock").push((headers, body));
                StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr.unwrap_or(([127, 0, 0, 1], 0).into()))
        .await
        .expect("receiver binds");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, received, task)
}

fn config(data_dir: &Path, url: &str) -> RuntimeConfig {
    let mut config = RuntimeConfig {
        data_dir: data_dir.to_path_buf(),
        ..RuntimeConfig::default()
    };
    config.server.webhook_url = Some(url.to_string());
    config
}

fn env() -> EnvLookup {
    Arc::new(|name| match name {
        "TERAPI_WEBHOOK_SIGNING_KEY" => Some(SIGNING_KEY.to_string()),
        "TERAPI_ENCRYPTION_KEY" => Some(crate::server::support::encryption_key_base64()),
        _ => None,
    })
}

async fn service(config: RuntimeConfig) -> Service {
    Service::open(
        config,
        ServiceOptions {
            insecure_dev: false,
            env: env(),
        },
    )
    .await
    .expect("service opens")
}

pub fn hmac_hex(key: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Delivers due webhooks until `done` holds, for at most `within`.
async fn deliver_until(service: &Service, within: Duration, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered in time"
        );
        service
            .deliver_due_webhooks()
            .await
            .expect("outbox readable");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_delivered_byte_exact_with_nangos_hmac_signature() {
    let (addr, received, _task) = receiver(None, Arc::new(AtomicU16::new(200))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let service = service(config(dir.path(), &format!("http://{addr}/hooks"))).await;
    let body = json!({"from": "terapi", "type": "sync", "connectionId": "acme", "note": "é ✓"});
    let id = service
        .enqueue_webhook("sync", Some(CHECKR), Some("acme"), &body)
        .await
        .expect("written")
        .expect("a URL is configured");
    deliver_until(&service, Duration::from_secs(10), || {
        !received.all().is_empty()
    })
    .await;
    let (headers, got) = received.all().remove(0);
    assert_eq!(serde_json::from_str::<Value>(&got).expect("JSON"), body);
    assert_eq!(
        headers["x-nango-hmac-sha256"].to_str().expect("ascii"),
        hmac_hex(SIGNING_KEY, &got),
        "hex HMAC-SHA256 of the exact body, keyed by the signing key"
    );
    assert_eq!(
        headers["x-terapi-delivery-id"].to_str().expect("ascii"),
        id.to_string()
    );
    assert_eq!(headers["content-type"], "application/json");
    let delivered = service
        .list_webhooks(&DeliveryFilter::default())
        .await
        .expect("list");
    assert_eq!(delivered[0].status, DeliveryStatus::Delivered);
    assert_eq!(delivered[0].attempts, 1);
    assert_eq!(received.all().len(), 1, "delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_gets_the_webhook_after_it_comes_back_across_a_restart() {
    // A port nobody listens on yet.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://{addr}/hooks");
    {
        let before = service(config(dir.path(), &url)).await;
        before
            .enqueue_webhook("sync", Some(CHECKR), Some("acme"), &json!({"n": 1}))
            .await
            .expect("written");
        assert_eq!(before.deliver_due_webhooks().await.expect("attempted"), 1);
        let pending = before
            .list_webhooks(&DeliveryFilter::default())
            .await
            .expect("list");
        assert_eq!(
            pending[0].status,
            DeliveryStatus::Pending,
            "kept for a retry"
        );
        assert_eq!(pending[0].attempts, 1);
        assert!(pending[0].last_error.is_some());
        // The process "stops" here: nothing in memory survives.
    }
    let (_, received, _task) = receiver(Some(addr), Arc::new(AtomicU16::new(200))).await;
    let after = service(config(dir.path(), &url)).await;
    deliver_until(&after, Duration::from_secs(15), || {
        !received.all().is_empty()
    })
    .await;
    assert_eq!(received.all()[0].1, "{\"n\":1}");
    let delivered = after
        .list_webhooks(&DeliveryFilter::default())
        .await
        .expect("list");
    assert_eq!(delivered[0].status, DeliveryStatus::Delivered);
    assert_eq!(delivered[0].attempts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_webhook_fails_for_good_is_listed_and_replays_from_the_cli() {
    let status = Arc::new(AtomicU16::new(400));
    let (addr, received, _task) = receiver(None, status.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config_value = config(dir.path(), &format!("http://{addr}/hooks"));
    let service = service(config_value.clone()).await;
    let id = service
        .enqueue_webhook("forward", Some(CHECKR), None, &json!({"type": "forward"}))
        .await
        .expect("written")
        .expect("configured");
    deliver_until(&service, Duration::from_secs(10), || {
        !received.all().is_empty()
    })
    .await;
    let failed = service
        .list_webhooks(&DeliveryFilter {
            status: Some(DeliveryStatus::Failed),
            limit: None,
        })
        .await
        .expect("list");
    assert_eq!(failed.len(), 1, "a 400 is not retried: it fails at once");
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("400")
    );

    // The CLI sees it, and replays it once the application is fixed.
    let toml = dir.path().join("terapi.toml");
    std::fs::write(
        &toml,
        format!(
            "data_dir = {:?}\n[server]\nwebhook_url = \"http://{addr}/hooks\"\n",
            dir.path().display().to_string()
        ),
    )
    .expect("config written");
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_terapi"))
            .arg("--config")
            .arg(&toml)
            .args(args)
            .env(
                "TERAPI_ENCRYPTION_KEY",
                crate::server::support::encryption_key_base64(),
            )
            .env("TERAPI_WEBHOOK_SIGNING_KEY", SIGNING_KEY)
            .env_remove("TERAPI_WEBHOOK_URL")
            .output()
            .expect("terapi runs")
    };
    let listed = cli(&["webhooks", "list", "--failed"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let line: Value = serde_json::from_slice(&listed.stdout).expect("one JSON line");
    assert_eq!(line["id"], id);
    assert_eq!(line["status"], "failed");
    status.store(200, Ordering::SeqCst);
    let replayed = cli(&["webhooks", "replay", &id.to_string()]);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let shown: Value = serde_json::from_slice(&replayed.stdout).expect("JSON");
    assert_eq!(shown["status"], "delivered", "{shown}");
    assert_eq!(received.all().len(), 2);
    let unknown = cli(&["webhooks", "replay", "999999"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("999999"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_delivers_what_any_node_writes_and_lists_it_over_the_api() {
    let (addr, received, _task) = receiver(None, Arc::new(AtomicU16::new(200))).await;
    let url = format!("http://{addr}/hooks");
    let hook = url.clone();
    let harness = ServerHarness::start_with(
        checkr_sim::AccountSeed::new("Connected Customer"),
        move |config| {
            config.server.webhook_url = Some(hook);
        },
    )
    .await;
    // Another node (here: another service on the same database) writes a webhook.
    let mut other = RuntimeConfig {
        data_dir: harness.db_path.parent().expect("dir").to_path_buf(),
        ..RuntimeConfig::default()
    };
    other.server.webhook_url = Some(url);
    let other = Service::open(
        other,
        ServiceOptions {
            insecure_dev: false,
            env: Arc::new(|name| match name {
                "TERAPI_ENCRYPTION_KEY" => Some(crate::server::support::encryption_key_base64()),
                "TERAPI_SECRET_KEY" => Some(SECRET_KEY.to_string()),
                _ => None,
            }),
        },
    )
    .await
    .expect("opens");
    other
        .enqueue_webhook(
            "sync",
            Some(CHECKR),
            Some("acme"),
            &json!({"from": "terapi"}),
        )
        .await
        .expect("written");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while received.all().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server's worker never delivered it"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (headers, body) = received.all().remove(0);
    assert_eq!(
        headers["x-nango-hmac-sha256"].to_str().expect("ascii"),
        hmac_hex(SECRET_KEY, &body),
        "without a webhook signing key, the secret key signs (as Nango's clients expect)"
    );
    let listed: Value = harness
        .api(reqwest::Method::GET, "/webhooks?status=delivered")
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed["webhooks"][0]["status"], "delivered", "{listed}");
    let bad = harness
        .api(reqwest::Method::GET, "/webhooks?status=lost")
        .send()
        .await
        .expect("sent");
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    let missing = harness
        .api(reqwest::Method::POST, "/webhooks/424242/replay")
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
}
