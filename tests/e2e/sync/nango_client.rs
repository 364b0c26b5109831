//! Nango's own Node client (`@nangohq/node`, installed in `tests/nango-client` by
//! `cargo xtask test`) against a real `terapi serve`: triggering a sync, reading its
//! status, paging through its records, and verifying terapi's webhooks — as an
//! application written for Nango does.

use super::support::{NUMBER, NUMBERS};
use crate::server::support::{CLIENT_SECRET, SECRET_KEY, ServerHarness};
use crate::support::{GUESTS, TOKEN, component};
use crate::webhooks::outbox::{hmac_hex, receiver};
use checkr_sim::AccountSeed;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicU16;
use std::time::{Duration, Instant};
use terapi_runtime::{ConnectionStore, Credentials, IntegrationConfig, NewConnection};

/// `tests/nango-client`, with `@nangohq/node` installed.
fn client_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/nango-client");
    assert!(
        dir.join("node_modules/@nangohq/node").is_dir(),
        "@nangohq/node is not installed in {}: run `npm ci --prefix tests/nango-client` \
         (`cargo xtask test` does)",
        dir.display()
    );
    dir
}

/// Runs `node client.mjs <command>` with `env` and `stdin`; its JSON answer.
fn node(command: &str, env: &[(&str, String)], stdin: &str) -> Value {
    let dir = client_dir();
    let mut child = Command::new("node")
        .arg("client.mjs")
        .arg(command)
        .current_dir(&dir)
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (Node.js is needed for this test)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    let output = child.wait_with_output().expect("node finishes");
    assert!(
        output.status.success(),
        "node client.mjs {command} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON document")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nangos_node_client_triggers_a_sync_and_pages_through_its_records() {
    let harness = ServerHarness::start_with(AccountSeed::new("Connected Customer"), |config| {
        let mut guests = IntegrationConfig::new(component("terapi_test_guests"));
        guests.provider = Some("checkr-partner".into());
        guests.api_base_url = config
            .integrations
            .get("checkr-partner")
            .and_then(|checkr| checkr.api_base_url.clone());
        config.integrations.insert(GUESTS.into(), guests);
    })
    .await;
    let mut connection = NewConnection::new(
        GUESTS,
        "nango-app",
        "checkr-partner",
        Credentials::access_token(TOKEN),
    );
    connection.metadata = json!({ "count": 250, "page_size": 100 });
    harness.store().upsert(&connection).await.expect("stored");
    let host = harness.base_url.clone();
    let answer = tokio::task::spawn_blocking(move || {
        node(
            "sync",
            &[
                ("NANGO_HOST", host),
                ("NANGO_SECRET_KEY", SECRET_KEY.to_string()),
                ("PROVIDER_CONFIG_KEY", GUESTS.to_string()),
                ("CONNECTION_ID", "nango-app".to_string()),
                ("SYNC", NUMBERS.to_string()),
                ("MODEL", NUMBER.to_string()),
                ("PAGE_LIMIT", "40".to_string()),
            ],
            "",
        )
    })
    .await
    .expect("node task");
    assert_eq!(
        answer["status"]["status"], "SUCCESS",
        "{}",
        answer["status"]
    );
    let records = answer["records"].as_array().expect("records");
    assert_eq!(records.len(), 250, "every record, through Nango's client");
    assert_eq!(answer["pages"], 7, "250 records, 40 a page");
    let ids: BTreeSet<&str> = records
        .iter()
        .map(|record| record["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 250, "no record twice");
    let metadata = &records[0]["_nango_metadata"];
    assert_eq!(metadata["last_action"], "ADDED", "{metadata}");
    assert!(metadata["cursor"].is_string() && metadata["first_seen_at"].is_string());
    assert_eq!(answer["added_page"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nangos_node_client_accepts_terapis_webhooks_and_refuses_forged_ones() {
    let (addr, received, _task) = receiver(None, Arc::new(AtomicU16::new(200))).await;
    let url = format!("http://{addr}/hooks");
    let harness =
        ServerHarness::start_with(AccountSeed::new("Connected Customer"), move |config| {
            config.server.webhook_url = Some(url);
        })
        .await;
    // A Checkr event, forwarded by terapi to the application.
    let event = json!({"id": "evt-node", "type": "report.completed", "account_id": "acct-none"})
        .to_string();
    let response = harness
        .client
        .post(format!("{}/webhook/checkr-partner", harness.base_url))
        .header("X-Checkr-Signature", hmac_hex(CLIENT_SECRET, &event))
        .body(event)
        .send()
        .await
        .expect("sent");
    assert!(response.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.all().is_empty() {
        assert!(Instant::now() < deadline, "not forwarded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (headers, body) = received.all().remove(0);
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                Value::String(value.to_str().unwrap_or_default().to_string()),
            )
        })
        .collect();
    let webhook = json!({ "body": body, "headers": headers }).to_string();
    let forged =
        json!({ "body": body.replace("forward", "f0rward"), "headers": headers }).to_string();
    let verdicts = tokio::task::spawn_blocking(move || {
        let with = |key: &str, input: &str| {
            node("verify", &[("NANGO_SECRET_KEY", key.to_string())], input)["accepted"].clone()
        };
        (
            with(SECRET_KEY, &webhook),
            with("another-secret-key", &webhook),
            with(SECRET_KEY, &forged),
        )
    })
    .await
    .expect("node task");
    assert_eq!(
        verdicts.0, true,
        "Nango's client accepts terapi's signature"
    );
    assert_eq!(verdicts.1, false, "not under another key");
    assert_eq!(verdicts.2, false, "not for another body");
}
