//! Graceful shutdown of a real `terapi serve` on SIGTERM: the listener closes at once,
//! a request in flight finishes with its answer, a sync run still going at the end of
//! the grace period is stopped and resumes from its checkpoint at the next start
//! (without waiting for its lease to expire), the process exits 0 within the bound; a
//! guest that never ends does not hold the process past the bound.

use super::support::{CONNECTION, add_connections, answer, serve, write_config};
use crate::support::{CHECKR, GUESTS, simulator};
use checkr_sim::Fault;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

async fn records(server: &super::support::Serving, client: &reqwest::Client) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = server
            .api(client, Method::GET, "/records")
            .header("Connection-Id", CONNECTION)
            .header("Provider-Config-Key", GUESTS)
            .query(&[("model", "Number"), ("limit", "1000")]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let page: Value = request
            .send()
            .await
            .expect("records")
            .json()
            .await
            .expect("json");
        all.extend(page["records"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return all,
        }
    }
}

async fn sync_status(server: &super::support::Serving, client: &reqwest::Client) -> Value {
    let (_, _, body) = answer(
        server
            .api(
                client,
                Method::GET,
                &format!(
                    "/sync/status?syncs=numbers&provider_config_key={GUESTS}&connection_id={CONNECTION}"
                ),
            )
            .send()
            .await
            .expect("status"),
    )
    .await;
    body["syncs"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_0() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // A 4 s grace period; the sync takes longer than that (75 batches, 100 ms apart), the
    // slow action (2 s upstream) less.
    let config = write_config(
        dir.path(),
        &sim.base_url(),
        "[server]\nshutdown_grace_ms = 4000\n\n[limits]\ninvocation_timeout_ms = 30000\n",
    );
    add_connections(
        &config,
        r#"{"count": 1500, "page_size": 20, "delay_ms": 100}"#,
    );
    let mut server = serve(&config, "info");
    let client = reqwest::Client::new();

    let (status, _, body) = answer(
        server
            .api(&client, Method::POST, "/sync/trigger")
            .json(&json!({ "syncs": ["numbers"], "provider_config_key": GUESTS, "connection_id": CONNECTION }))
            .send()
            .await
            .expect("trigger"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while records(&server, &client).await.len() < 100 {
        assert!(Instant::now() < deadline, "the sync never got going");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A slow action is in flight when the signal comes.
    sim.inject_fault(Fault::delay("/v1/account", Duration::from_secs(2)));
    let slow = {
        let request = server.trigger(&client, CHECKR, "get-account", json!({}));
        tokio::spawn(async move { answer(request.send().await.expect("in-flight request")).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signalled = Instant::now();
    server.terminate();

    // New connections are refused (a fresh client: no pooled connection to reuse).
    let refused = loop {
        let fresh = reqwest::Client::new();
        match fresh
            .get(format!("{}/integrations", server.url))
            .send()
            .await
        {
            Err(error) if error.is_connect() => break true,
            _ if signalled.elapsed() > Duration::from_secs(3) => break false,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    assert!(
        refused,
        "the listener was still accepting 3 s after SIGTERM"
    );

    // The request in flight gets its answer.
    let (status, _, body) = slow.await.expect("joined");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Acme Staffing", "{body}");

    // The process exits 0 once the grace period is over (the sync was still running).
    let (code, _) = server
        .wait_exit(Duration::from_secs(20))
        .expect("the server exited");
    let took = signalled.elapsed();
    assert_eq!(code, Some(0), "{}", server.log_text());
    assert!(
        took < Duration::from_secs(4 + 8),
        "exited {took:?} after SIGTERM with a 4 s grace period"
    );
    let log = server.log_text();
    assert!(log.contains("shutting down"), "{log}");
    // The run stopped at the deadline recorded itself as interrupted (due again at once).
    assert!(log.contains("interrupted by a shutdown"), "{log}");
    let saved_before = records_in_database(&config);
    assert!(
        (100..1500).contains(&saved_before),
        "the sync was cut short: {saved_before} saved"
    );
    drop(server);

    // Started again, the interrupted run resumes from its checkpoint (at once: it let go
    // of its lease) and ends with every record exactly once.
    let server = serve(&config, "warn");
    let deadline = Instant::now() + Duration::from_secs(90);
    let done = loop {
        let current = sync_status(&server, &client).await;
        if current["status"] == "SUCCESS" {
            break current;
        }
        assert!(Instant::now() < deadline, "never resumed: {current}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let all = records(&server, &client).await;
    let ids: BTreeSet<&str> = all.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!((all.len(), ids.len()), (1500, 1500), "exactly once");
    let added = done["latestResult"]["Number"]["added"]
        .as_u64()
        .expect("added");
    assert!(
        added as usize <= 1500 - saved_before && added > 0,
        "resumed from the checkpoint: added {added} after {saved_before}"
    );
}

/// How many `Number` records the database holds (read with `terapi records list`, the
/// server being stopped: one JSON line each).
fn records_in_database(config: &std::path::Path) -> usize {
    crate::process::succeed(super::support::terapi(config).args([
        "records",
        "list",
        GUESTS,
        "Number",
        "--connection",
        CONNECTION,
    ]))
    .lines()
    .filter(|line| !line.trim().is_empty())
    .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_hung_guest_exits_within_the_grace_period() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &sim.base_url(),
        "[server]\nshutdown_grace_ms = 2000\n\n[limits]\ninvocation_timeout_ms = 120000\n",
    );
    add_connections(&config, "{}");
    let mut server = serve(&config, "info");
    let client = reqwest::Client::new();
    let hung = {
        let request = server.trigger(&client, GUESTS, "loop-forever", json!({}));
        tokio::spawn(async move { request.send().await.map(|response| response.status()) })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signalled = Instant::now();
    server.terminate();
    let (code, _) = server
        .wait_exit(Duration::from_secs(20))
        .expect("the server exited");
    let took = signalled.elapsed();
    assert_eq!(code, Some(0), "{}", server.log_text());
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(2 + 5),
        "exited {took:?} after SIGTERM with a 2 s grace period and a guest that never ends"
    );
    // The hung request was dropped, not answered.
    let answered = hung.await.expect("joined");
    assert!(answered.is_err(), "{answered:?}");
    assert!(
        server.log_text().contains("dropped"),
        "the log says requests were dropped: {}",
        server.log_text()
    );
}
