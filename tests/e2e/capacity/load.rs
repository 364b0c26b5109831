//! Load through the HTTP API of a real `terapi serve`: 10,000 action runs (the `echo`
//! guest: the host's own cost, no upstream) at concurrency 64 with the default limits,
//! every one answered 200 with its own input, and the server's RSS bounded: what it holds
//! after a warm-up is what it holds after the whole run, give or take. Prints the
//! figures RELIABILITY.md records (runs/s, p50/p99 latency, RSS before/after).
//! `TERAPI_LOAD_RUNS` changes the number of runs.

use super::support::{add_connections, serve, write_config};
use crate::support::{GUESTS, simulator};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 64;
const WARM_UP: usize = 1_000;

/// Runs `count` echoes at [`CONCURRENCY`]; returns the latencies and the failures.
async fn drive(
    server: &super::support::Serving,
    client: &reqwest::Client,
    count: usize,
) -> (Vec<Duration>, Vec<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let next = next.clone();
            let client = client.clone();
            let url = server.url.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        return (latencies, failures);
                    }
                    let started = Instant::now();
                    let response = client
                        .post(format!("{url}/action/trigger"))
                        .bearer_auth(super::support::SECRET)
                        .header("Connection-Id", super::support::CONNECTION)
                        .header("Provider-Config-Key", GUESTS)
                        .json(&json!({ "action_name": "echo", "input": { "n": n } }))
                        .send()
                        .await;
                    let outcome = match response {
                        Ok(response) => {
                            let status = response.status();
                            match response.json::<Value>().await {
                                Ok(body) if status == 200 && body == json!({ "n": n }) => Ok(()),
                                Ok(body) => Err(format!("{status}: {body}")),
                                Err(error) => Err(format!("{status}: {error}")),
                            }
                        }
                        Err(error) => Err(error.to_string()),
                    };
                    latencies.push(started.elapsed());
                    if let Err(failure) = outcome {
                        failures.push(failure);
                    }
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(count);
    let mut failures = Vec::new();
    for worker in workers {
        let (l, f) = worker.await.expect("worker");
        latencies.extend(l);
        failures.extend(f);
    }
    (latencies, failures)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_runs_at_concurrency_64_without_failures_and_with_flat_rss() {
    let runs: usize = std::env::var("TERAPI_LOAD_RUNS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(10_000);
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The default limits (64 slots by the memory budget and the concurrency limit).
    let config = write_config(dir.path(), &sim.base_url(), "");
    add_connections(&config, "{}");
    let server = serve(&config, "warn");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("client");

    let rss_start = server.rss_kib();
    let (_, failures) = drive(&server, &client, WARM_UP).await;
    assert!(
        failures.is_empty(),
        "warm-up failures: {:?}",
        &failures[..failures.len().min(5)]
    );
    let rss_warm = server.rss_kib();

    let started = Instant::now();
    let (mut latencies, failures) = drive(&server, &client, runs).await;
    let elapsed = started.elapsed();
    let rss_end = server.rss_kib();
    latencies.sort();
    let per_second = runs as f64 / elapsed.as_secs_f64();
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    eprintln!(
        "LOAD: {runs} runs at concurrency {CONCURRENCY} in {elapsed:.2?}: {per_second:.0} runs/s, \
         p50 {p50:.2?}, p99 {p99:.2?}, max {:.2?}, failures {}; server RSS {} MiB at start, \
         {} MiB after {WARM_UP} warm-up runs, {} MiB after the {runs}",
        latencies.last().copied().unwrap_or_default(),
        failures.len(),
        rss_start / 1024,
        rss_warm / 1024,
        rss_end / 1024,
    );
    assert!(
        failures.is_empty(),
        "{} of {runs} failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    // Bounded: ten times the warm-up's runs add at most 64 MiB (allocator noise, the
    // database's page cache), not memory per run.
    assert!(
        rss_end <= rss_warm + 64 * 1024,
        "RSS grew from {} MiB to {} MiB over {runs} runs",
        rss_warm / 1024,
        rss_end / 1024
    );
}

/// A burst far beyond what the host admits: every call is answered, either 200 or 503
/// `server_overloaded` with `Retry-After` — no other error, no timeout, no hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_capacity_gets_200_or_503_with_retry_after_and_nothing_else() {
    const BURST: usize = 200;
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // 4 slots, 16 places in line, 2 s of patience; each call waits 200 ms upstream. No
    // scheduler: only these calls take slots.
    let config = write_config(
        dir.path(),
        &sim.base_url(),
        "[server]\nsync_scheduler = false\n\n\
         [limits]\nmax_concurrent_runs = 4\nadmission_queue = 16\nadmission_wait_ms = 2000\n",
    );
    add_connections(&config, "{}");
    let server = serve(&config, "warn");
    sim.inject_fault(
        checkr_sim::Fault::delay("/v1/account", Duration::from_millis(200)).times(BURST as u32),
    );
    let client = reqwest::Client::new();
    let started = Instant::now();
    let calls: Vec<_> = (0..BURST)
        .map(|_| {
            let request = server.trigger(&client, crate::support::CHECKR, "get-account", json!({}));
            tokio::spawn(async move {
                super::support::answer(request.send().await.expect("answered")).await
            })
        })
        .collect();
    let (mut ok, mut refused, mut other) = (0, 0, Vec::new());
    for call in calls {
        match call.await.expect("joined") {
            (200, _, body) if body["name"] == "Acme Staffing" => ok += 1,
            (503, Some(retry), body)
                if retry == "1" && body["error"]["code"] == "server_overloaded" =>
            {
                refused += 1
            }
            (status, retry, body) => other.push(format!("{status} {retry:?} {body}")),
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "BURST: {BURST} concurrent calls on 4 slots + 16 in line: {ok} ran (200), {refused} refused \
         (503 + Retry-After), {} other, all answered in {elapsed:.2?}",
        other.len()
    );
    assert!(other.is_empty(), "{other:?}");
    // The ones in line ran as slots came free: more than the 4 slots ran.
    assert!(ok > 4 && refused > 0, "{ok} ran, {refused} refused");
    assert!(elapsed < Duration::from_secs(30), "answered in {elapsed:?}");
    // The host is itself again afterwards.
    let (status, _, body) = super::support::answer(
        server
            .trigger(&client, GUESTS, "echo", json!({"after": true}))
            .send()
            .await
            .expect("echo"),
    )
    .await;
    assert_eq!((status, body), (200, json!({"after": true})));
}
