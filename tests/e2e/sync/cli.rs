//! `terapi sync run`, `terapi sync status` and `terapi records list`.

use super::crash::{KEY, add_demo, guests_config};
use super::support::{NUMBER, NUMBERS};
use crate::support::{GUESTS, simulator};
use crate::webhooks::outbox::receiver;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::AtomicU16;

fn terapi(config: &Path, args: &[&str]) -> Output {
    terapi_with(config, args, &[])
}

fn terapi_with(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    crate::process::terapi(config)
        .args(args)
        .env("TERAPI_ENCRYPTION_KEY", KEY)
        .envs(env.iter().copied())
        .output()
        .expect("terapi runs")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_run_reports_progress_and_records_list_prints_json_lines() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = guests_config(dir.path(), &sim.base_url(), "");
    add_demo(&config, r#"{"count": 120, "page_size": 50}"#);
    // The application's webhook endpoint: the run's sync webhook is sent by the CLI
    // itself, not left in the outbox for a server.
    let status = Arc::new(AtomicU16::new(200));
    let (app, received, _app) = receiver(None, status).await;
    let hooks = format!("http://{app}/hooks");
    let run = tokio::task::spawn_blocking({
        let config = config.clone();
        move || {
            terapi_with(
                &config,
                &["sync", "run", GUESTS, NUMBERS, "--connection", "demo"],
                &[
                    ("TERAPI_WEBHOOK_URL", hooks.as_str()),
                    ("TERAPI_WEBHOOK_SIGNING_KEY", "cli-signing-key"),
                ],
            )
        }
    })
    .await
    .expect("terapi sync run");
    let stdout = ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("Number +120 ~0 -0"), "progress: {stderr}");
    assert!(stderr.contains("3 batches"), "progress: {stderr}");
    assert!(stderr.contains("1 webhook(s) sent"), "{stderr}");
    let summary: Value = serde_json::from_str(stdout.trim()).expect("JSON summary");
    assert_eq!(summary["success"], true);
    assert_eq!(summary["results"][NUMBER]["added"], 120);
    let sent = received.all();
    assert_eq!(sent.len(), 1, "one sync webhook: {sent:?}");
    let (headers, body) = &sent[0];
    let webhook: Value = serde_json::from_str(body).expect("JSON webhook");
    assert_eq!(webhook["type"], "sync");
    assert_eq!(webhook["syncName"], NUMBERS);
    assert_eq!(webhook["model"], NUMBER);
    assert_eq!(webhook["responseResults"]["added"], 120);
    assert_eq!(
        headers["x-nango-hmac-sha256"],
        terapi_runtime::service::webhooks::sign(b"cli-signing-key", body.as_bytes()).as_str()
    );

    let listed = ok(&terapi(
        &config,
        &["records", "list", GUESTS, NUMBER, "--connection", "demo"],
    ));
    let records: Vec<Value> = listed
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(records.len(), 120);
    let ids: BTreeSet<&str> = records.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), 120);
    assert!(
        records
            .iter()
            .all(|r| r["_nango_metadata"]["last_action"] == "ADDED")
    );

    let status: Value = serde_json::from_str(&ok(&terapi(
        &config,
        &["sync", "status", GUESTS, "--connection", "demo"],
    )))
    .expect("status JSON");
    assert_eq!(status["syncs"][0]["name"], NUMBERS);
    assert_eq!(status["syncs"][0]["status"], "SUCCESS");
    assert_eq!(status["syncs"][0]["recordCount"][NUMBER], 120);

    let unknown = terapi(
        &config,
        &["records", "list", GUESTS, "Letter", "--connection", "demo"],
    );
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("`Letter`"), "{stderr}");
}
