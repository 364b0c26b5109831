//! Admission control through the HTTP API of a real `terapi serve`: with every sandbox
//! slot held by runaway guests, a call either waits in the bounded line or is refused at
//! once with 503 `server_overloaded` and `Retry-After`, never an error or a timeout; an
//! asynchronous run that is refused ends with that error; the API itself stays prompt;
//! once the slots free up, calls run again.

use super::support::{add_connections, answer, serve, write_config};
use crate::support::{GUESTS, simulator};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_host_answers_503_with_retry_after_and_recovers() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // No scheduler (the Checkr component's auto-start syncs would take slots too). Two
    // slots, set by the memory budget (two sandboxes at their 16 MiB cap), one place
    // in line, a 3 s wait bound. A 3 s wait: with 1 s, a loaded CI machine let the
    // queued call time out between the metrics poll seeing it and the next call
    // arriving, so that call found the line empty and waited instead of being refused.
    // The runaway guests hold their slots for 16 s: two waits of 3 s happen while they
    // do (the call in line, then the asynchronous run), and with 8 s a loaded CI
    // machine let the asynchronous run's wait reach the guests' end, so it ran.
    let config = write_config(
        dir.path(),
        &sim.base_url(),
        "[server]\nsync_scheduler = false\n\n[limits]\ninvocation_timeout_ms = 16000\nmemory_bytes = 16777216\n\
         memory_budget_bytes = 33554432\nmax_concurrent_runs = 64\n\
         admission_queue = 1\nadmission_wait_ms = 3000\n",
    );
    add_connections(&config, "{}");
    let server = serve(&config, "warn");
    let client = reqwest::Client::new();

    // Warm up (the first call pays for nothing special, but proves the slots work).
    let (status, _, body) = answer(
        server
            .trigger(&client, GUESTS, "echo", json!({"n": 0}))
            .send()
            .await
            .expect("echo"),
    )
    .await;
    assert_eq!((status, &body), (200, &json!({"n": 0})));

    // Two runaway guests take both slots.
    let loops: Vec<_> = (0..2)
        .map(|_| {
            let request = server.trigger(&client, GUESTS, "loop-forever", json!({}));
            tokio::spawn(async move { answer(request.send().await.expect("loop")).await })
        })
        .collect();
    // Both admitted (a fixed sleep was not enough on a loaded machine).
    server
        .wait_for_metric(&client, "terapi_sandbox_running", 2)
        .await;
    assert_eq!(server.metric(&client, "terapi_sandbox_slots").await, 2);

    // One call waits in line...
    let waiting = {
        let request = server.trigger(&client, GUESTS, "echo", json!({"n": 1}));
        tokio::spawn(async move {
            let started = Instant::now();
            let answered = answer(request.send().await.expect("echo")).await;
            (answered, started.elapsed())
        })
    };
    server
        .wait_for_metric(&client, "terapi_admission_waiting", 1)
        .await;

    // ...the next finds the line full and is refused at once.
    let started = Instant::now();
    let (status, retry_after, body) = answer(
        server
            .trigger(&client, GUESTS, "echo", json!({"n": 2}))
            .send()
            .await
            .expect("echo"),
    )
    .await;
    let refused_in = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
    assert_eq!(body["error"]["code"], "server_overloaded", "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("limits.memory_budget_bytes") && message.contains("already waiting"),
        "the message names the limit: {message}"
    );
    assert!(
        refused_in < Duration::from_secs(1),
        "refused at once: {refused_in:?}"
    );

    // The API itself answers promptly while the guests spin.
    let started = Instant::now();
    let listed = server
        .api(&client, Method::GET, "/integrations")
        .send()
        .await
        .expect("integrations");
    assert_eq!(listed.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "GET /integrations took {:?}",
        started.elapsed()
    );

    // The one in line gives up after the wait bound, with the same 503.
    let ((status, retry_after, body), waited) = waiting.await.expect("joined");
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body["error"]["code"], "server_overloaded");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("within 3000 ms")),
        "{body}"
    );
    assert!(
        waited >= Duration::from_millis(2_700) && waited < Duration::from_secs(6),
        "waited about the bound: {waited:?}"
    );

    // An asynchronous run is accepted, refused the same way, and ends with that error
    // rather than staying pending.
    let (status, _, body) = answer(
        server
            .trigger(&client, GUESTS, "echo", json!({"n": 3}))
            .header("X-Async", "true")
            .send()
            .await
            .expect("async"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, retry_after, body) = loop {
        let (status, retry_after, body) = answer(
            server
                .api(&client, Method::GET, &format!("/action/{id}"))
                .send()
                .await
                .expect("status"),
        )
        .await;
        if !(status == 404
            && body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("not finished")))
        {
            break (status, retry_after, body);
        }
        assert!(Instant::now() < deadline, "the refused run never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body["error"]["code"], "server_overloaded", "{body}");

    assert_eq!(
        server
            .metric(
                &client,
                "terapi_admission_refused_total{reason=\"queue_full\"}"
            )
            .await,
        1
    );
    assert_eq!(
        server
            .metric(
                &client,
                "terapi_admission_refused_total{reason=\"wait_exceeded\"}"
            )
            .await,
        2,
        "the one in line and the asynchronous run"
    );

    // The runaway guests end at their deadline, with their own error.
    for handle in loops {
        let (status, _, body) = handle.await.expect("joined");
        assert_eq!(status, 500, "{body}");
        assert_eq!(body["error"]["code"], "action_timeout", "{body}");
    }
    // The slots are free again.
    let (status, _, body) = answer(
        server
            .trigger(&client, GUESTS, "echo", json!({"n": 4}))
            .send()
            .await
            .expect("echo"),
    )
    .await;
    assert_eq!((status, &body), (200, &json!({"n": 4})));
}

/// A sync the host has no slot for is refused, recorded with that error, and tried again
/// a moment later (not an interval later), even though it was only triggered: once the
/// slot frees up it runs and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_refused_for_capacity_runs_again_soon_and_succeeds() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // One slot, no line: while a runaway guest holds the slot (4 s), a sync is refused.
    let config = write_config(
        dir.path(),
        &sim.base_url(),
        "[limits]\ninvocation_timeout_ms = 4000\nmax_concurrent_runs = 1\nadmission_queue = 0\n",
    );
    add_connections(&config, r#"{"count": 10}"#);
    let server = serve(&config, "warn");
    let client = reqwest::Client::new();
    let hog = {
        let request = server.trigger(&client, GUESTS, "loop-forever", json!({}));
        tokio::spawn(async move { answer(request.send().await.expect("loop")).await })
    };
    server
        .wait_for_metric(&client, "terapi_sandbox_running", 1)
        .await;
    let (status, _, body) = answer(
        server
            .api(&client, Method::POST, "/sync/trigger")
            .json(&json!({ "syncs": ["numbers"], "provider_config_key": GUESTS, "connection_id": super::support::CONNECTION }))
            .send()
            .await
            .expect("trigger"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let status_path = format!(
        "/sync/status?syncs=numbers&provider_config_key={GUESTS}&connection_id={}",
        super::support::CONNECTION
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut refused = None;
    let done = loop {
        let (_, _, body) = answer(
            server
                .api(&client, Method::GET, &status_path)
                .send()
                .await
                .expect("status"),
        )
        .await;
        let sync = body["syncs"][0].clone();
        // The refusal and the new request for a run are two writes (`finish`, then
        // `trigger`): a status read between them shows no next run yet.
        if refused.is_none()
            && sync["nextScheduledSyncAt"].is_string()
            && sync["error"].as_str().is_some_and(|error| {
                error.contains("was not started") && error.contains("capacity")
            })
        {
            refused = Some(sync.clone());
        }
        if sync["status"] == "SUCCESS" {
            break sync;
        }
        assert!(Instant::now() < deadline, "never ran: {sync}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let refused = refused.expect("the refused run was recorded with its error and asked for again");
    assert_eq!(refused["status"], "ERROR", "{refused}");
    assert_eq!(done["latestResult"]["Number"]["added"], 10, "{done}");
    let (status, _, _) = hog.await.expect("joined");
    assert_eq!(status, 500, "the runaway guest timed out");
}
