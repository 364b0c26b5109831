//! The benchmark suite behind `BENCHMARKS.md` (`cargo xtask bench`).
//!
//! Every figure is measured in one run on one machine, with the baselines beside it:
//!
//! * P1 invocation overhead: a no-op action through `Runtime::trigger_action` (fresh store,
//!   instantiate, call, result), pooling and on-demand allocators, against Nango's model
//!   (a fresh `vm.Script` + `vm.createContext` per task in Node).
//! * P2 HTTP action overhead: `get-account` through the host against the loopback
//!   simulator, against a native reqwest GET of the same URL.
//! * P3 throughput at concurrency 1, 8 and 64: library API and HTTP API.
//! * P4 cold start: compile vs cached load; server start to first served action.
//! * P5 memory: RSS with 1,000 runs in flight; RSS growth over 100,000 sequential runs.
//! * P6 syncs: a 100,000-candidate sync through the host against a native loop making the
//!   same requests and writes; peak RSS; paging the records API.
//! * P7 webhook ingest: bursts of signed Checkr events at concurrency 32; events/s, the
//!   latency to the durable acknowledgement, and when the app has every forward.
//!
//! Run under `cargo bench` it measures and writes the report to the path in
//! `TERAPI_BENCH_REPORT` (default `BENCHMARKS.md` in the current directory). Run under
//! `cargo test --benches` it does a few iterations of everything, as a smoke test, and
//! writes nothing. `TERAPI_BENCH_ONLY=p7` runs the webhook ingest measurement alone
//! (`TERAPI_BENCH_P7_BURSTS=N` for more bursts, e.g. to profile a steady ingest).

#[path = "../../tests/e2e/support.rs"]
#[allow(dead_code)]
mod support;

/// The allocator the `terapi` binary runs with, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use checkr_sim::{Fault, FaultKind};
use serde_json::Value;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{CHECKR, CONNECTION, GUESTS, TOKEN, basic};
use terapi_runtime::{InstanceAllocator, Runtime, RuntimeConfig};
use terapi_server::{ServeOptions, Server};

/// How much work each measurement does.
#[derive(Clone, Copy)]
struct Scale {
    p1_iterations: usize,
    p2_iterations: usize,
    p3_duration: Duration,
    p5_in_flight: usize,
    p5_sequential: usize,
    p4_starts: usize,
    p6_small: usize,
    p6_large: usize,
    p7_events: usize,
    p7_bursts: usize,
}

const FULL: Scale = Scale {
    p1_iterations: 20_000,
    p2_iterations: 3_000,
    p3_duration: Duration::from_secs(2),
    p5_in_flight: 1_000,
    p5_sequential: 100_000,
    p4_starts: 15,
    p6_small: 10_000,
    p6_large: 100_000,
    p7_events: 2_000,
    // One burst's p99 is its 20 slowest events, and one slow fsync of the VM's disk
    // delays every event in flight: five bursts show that spread instead of hiding it.
    p7_bursts: 5,
};

const SMOKE: Scale = Scale {
    p1_iterations: 20,
    p2_iterations: 10,
    p3_duration: Duration::from_millis(50),
    p5_in_flight: 20,
    p5_sequential: 200,
    p4_starts: 2,
    p6_small: 150,
    p6_large: 300,
    p7_events: 64,
    p7_bursts: 2,
};

const SECRET_KEY: &str = "bench-secret-key";

/// Latency percentiles of a sample.
struct Latency {
    p50: Duration,
    p99: Duration,
    samples: usize,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Latency {
        samples.sort_unstable();
        let at = |q: f64| {
            let index = ((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1));
            samples.get(index).copied().unwrap_or_default()
        };
        Latency {
            p50: at(0.50),
            p99: at(0.99),
            samples: samples.len(),
        }
    }
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-12)
}

async fn measure<F, Fut>(iterations: usize, mut run: F) -> Latency
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..(iterations / 10).max(1) {
        run().await; // warm-up
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        run().await;
        samples.push(start.elapsed());
    }
    Latency::of(samples)
}

/// Runs `run` from `concurrency` tasks for `duration`; returns completed runs per second.
async fn throughput<F, Fut>(concurrency: usize, duration: Duration, run: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let run = Arc::new(run);
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let run = run.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                run().await;
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("task");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Nango's model in Node, measured by `node_vm_baseline.js` in the same run.
fn node_baseline(iterations: usize) -> Option<Value> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../benches/node_vm_baseline.js"
    );
    let output = std::process::Command::new("node")
        .arg(script)
        .arg(iterations.to_string())
        .arg(iterations.to_string())
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!(
            "node baseline failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| format!("{:.0} GiB", kib as f64 / (1 << 20) as f64))
        .unwrap_or_default();
    format!(
        "{model}, {cores} cores, {memory} RAM, Linux {}",
        kernel.trim()
    )
}

fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let hash = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|status| !status.is_empty());
    if dirty {
        format!("{hash} (with uncommitted changes)")
    } else {
        hash
    }
}

struct Bench {
    harness: support::Harness,
    client: reqwest::Client,
}

impl Bench {
    async fn no_op(&self) {
        self.harness
            .runtime
            .trigger_action(GUESTS, CONNECTION, "echo", "{\"n\":1}")
            .await
            .expect("no-op action");
    }

    async fn get_account(&self) {
        self.harness
            .runtime
            .trigger_action(CHECKR, CONNECTION, "get-account", "{}")
            .await
            .expect("get-account");
    }

    /// The same GET through the host, the body passed through as a string: no Checkr
    /// model parsed in the guest.
    async fn fetch_account(&self) {
        self.harness
            .runtime
            .trigger_action(
                GUESTS,
                CONNECTION,
                "fetch",
                r#"{"endpoint": "/v1/account"}"#,
            )
            .await
            .expect("fetch");
    }

    async fn native_get(&self, url: &str, authorization: &str) {
        let response = self
            .client
            .get(url)
            .header("authorization", authorization)
            .send()
            .await
            .expect("native GET");
        assert!(response.status().is_success());
        response.bytes().await.expect("body");
    }
}

/// Starts `terapi serve` (the library's server) on loopback over `config`.
async fn start_server(config: RuntimeConfig) -> (String, tokio::sync::oneshot::Sender<()>) {
    let env: terapi_server::EnvLookup =
        Arc::new(|name| (name == "TERAPI_SECRET_KEY").then(|| SECRET_KEY.to_string()));
    let options = ServeOptions {
        insecure_dev: true,
        listen: Some("127.0.0.1:0".parse().expect("address")),
        env,
    };
    let server = Server::bind(config, options).await.expect("server starts");
    let url = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    (url, stop)
}

async fn trigger_over_http(client: &reqwest::Client, url: &str, action: &str) {
    let response = client
        .post(format!("{url}/action/trigger"))
        .bearer_auth(SECRET_KEY)
        .header("Connection-Id", CONNECTION)
        .header(
            "Provider-Config-Key",
            if action == "echo" { GUESTS } else { CHECKR },
        )
        .json(&serde_json::json!({ "action_name": action, "input": { "n": 1 } }))
        .send()
        .await
        .expect("POST /action/trigger");
    assert!(
        response.status().is_success(),
        "status {}",
        response.status()
    );
    response.bytes().await.expect("body");
}

/// Peak RSS since the last reset (`VmHWM`), in bytes.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Resets the peak RSS to the current RSS (Linux: `5` to `clear_refs`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// What P6 measured.
struct SyncFigures {
    records: usize,
    host: Duration,
    native: Duration,
    peak_small: u64,
    peak_large: u64,
    paged: usize,
    paging: Duration,
}

/// P6: a full `candidates` sync of `scale.p6_large` simulator candidates through the host
/// (guest, HTTP capability, records capability, SQLite) against a native loop fetching
/// the same pages with reqwest and making the same record writes; peak RSS of a
/// `p6_small` and a `p6_large` sync; paging through the records over the HTTP API.
async fn sync_figures(bench: &Bench, scale: &Scale) -> SyncFigures {
    let harness = &bench.harness;
    let (small, large) = ("p6-small", "p6-large");
    for (connection, n) in [(small, scale.p6_small), (large, scale.p6_large)] {
        let token = format!("token-{connection}");
        harness
            .sim
            .add_token(&token, checkr_sim::AccountSeed::new(connection));
        assert!(harness.sim.seed_candidates(&token, n), "seeded");
        harness
            .runtime
            .connections()
            .upsert(&terapi_runtime::NewConnection::new(
                CHECKR,
                connection,
                "checkr-partner",
                terapi_runtime::Credentials::access_token(token),
            ))
            .await
            .expect("connection");
    }
    let run = |connection: &'static str| async move {
        reset_peak_rss();
        let started = Instant::now();
        let outcome = harness
            .runtime
            .run_sync(CHECKR, connection, "candidates")
            .await;
        let took = started.elapsed();
        assert!(
            outcome.result.is_ok(),
            "the sync failed: {:?}",
            outcome.result
        );
        (
            took,
            peak_rss_bytes(),
            outcome.counts.get("Candidate").map_or(0, |c| c.added),
        )
    };
    let (_, peak_small, _) = run(small).await;
    let (host, peak_large, added) = run(large).await;
    assert_eq!(added as usize, scale.p6_large, "every candidate added");

    // The same pages, fetched natively, with the same record writes.
    let store = terapi_runtime::SqliteStore::open(&harness.runtime_database()).expect("store");
    let scope = terapi_runtime::RecordScope::new(CHECKR, "p6-native", "Candidate");
    let started = Instant::now();
    let mut url = format!("{}/v1/candidates?per_page=100", harness.sim.base_url());
    let mut saved = 0usize;
    loop {
        let page: Value = bench
            .client
            .get(&url)
            .basic_auth(format!("token-{large}"), Some(""))
            .send()
            .await
            .expect("page")
            .json()
            .await
            .expect("JSON page");
        let items: Vec<Value> = page["data"].as_array().cloned().unwrap_or_default();
        saved += items.len();
        terapi_runtime::RecordStore::save_records(&store, &scope, items, Some("native-run"))
            .await
            .expect("saved");
        match page["next_href"].as_str() {
            Some(next) if !next.is_empty() => url = next.to_string(),
            _ => break,
        }
    }
    let native = started.elapsed();
    assert_eq!(saved, scale.p6_large, "the native loop saw every candidate");

    // The records API, 1,000 at a time.
    let mut config = support::config(&harness.runtime_data_dir(), &harness.sim.base_url());
    config.data_dir = harness.runtime_data_dir();
    config.server.sync_scheduler = false;
    let (server, stop) = start_server(config).await;
    let started = Instant::now();
    let mut paged = 0usize;
    let mut cursor: Option<String> = None;
    loop {
        let mut request = bench
            .client
            .get(format!("{server}/records"))
            .bearer_auth(SECRET_KEY)
            .header("Connection-Id", large)
            .header("Provider-Config-Key", CHECKR)
            .query(&[("model", "Candidate"), ("limit", "1000")]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor.as_str())]);
        }
        // The client reads every byte of each page (serde checks the whole document)
        // without building a tree of it: the figure is the API's, not a JSON DOM's.
        #[derive(serde::Deserialize)]
        struct Page {
            records: Vec<serde::de::IgnoredAny>,
            next_cursor: Option<String>,
        }
        let body = request
            .send()
            .await
            .expect("records")
            .bytes()
            .await
            .expect("body");
        let page: Page = serde_json::from_slice(&body).expect("a records page");
        paged += page.records.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let paging = started.elapsed();
    let _ = stop.send(());
    assert_eq!(
        paged, scale.p6_large,
        "the records API pages through every record"
    );
    SyncFigures {
        records: scale.p6_large,
        host,
        native,
        peak_small,
        peak_large,
        paged,
        paging,
    }
}

/// Concurrency of the webhook burst (P7).
const P7_CONCURRENCY: usize = 32;
/// The key the bench's Checkr integration verifies webhooks with.
const WEBHOOK_SECRET: &str = "bench-webhook-secret";

/// P7's measurements: each burst's events/s and latencies, then all of them together.
struct Ingest {
    bursts: Vec<(f64, Latency)>,
    all: (f64, Latency),
    /// From the last acknowledgement until the app had every event's forward.
    drained: Duration,
}

/// P7: bursts of signed Checkr events at [`P7_CONCURRENCY`] into a server that routes
/// each to a connection and writes its forward to the outbox (delivered to a loopback
/// receiver while the next bursts arrive): events/s, and each request's latency from
/// send to the durable acknowledgement.
async fn webhook_ingest(scale: &Scale, data_dir: &std::path::Path, sim_url: &str) -> Ingest {
    let forwarded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = forwarded.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async { "ok" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("receiver");
    let receiver = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut config = support::config(data_dir, sim_url);
    config.data_dir = data_dir.to_path_buf();
    config.server.webhook_url = Some(format!("http://{receiver}/hooks"));
    if let Some(checkr) = config.integrations.get_mut(CHECKR) {
        checkr.webhook_secret = Some(terapi_runtime::Secret::new(WEBHOOK_SECRET));
    }
    let (url, stop) = start_server(config.clone()).await;
    let store = terapi_runtime::SqliteStore::open(&config.database_path()).expect("store");
    let mut connection = terapi_runtime::NewConnection::new(
        CHECKR,
        CONNECTION,
        "checkr-partner",
        terapi_runtime::Credentials::access_token(TOKEN),
    );
    connection.connection_config = serde_json::json!({ "checkr_account_id": "acct-bench" });
    terapi_runtime::ConnectionStore::upsert(&store, &connection)
        .await
        .expect("connection");
    let client = reqwest::Client::new();
    // Warm-up: one event per client connection, so the burst measures a server in
    // service (connections open, statements prepared), not 32 TCP handshakes.
    let warm = burst(&client, &url, "warm", P7_CONCURRENCY).await;
    assert_eq!(warm.len(), P7_CONCURRENCY);
    let (mut bursts, mut all, mut busy) = (Vec::new(), Vec::new(), Duration::ZERO);
    for index in 0..scale.p7_bursts {
        let started = Instant::now();
        let latencies = burst(&client, &url, &format!("evt{index}"), scale.p7_events).await;
        let took = started.elapsed();
        busy += took;
        all.extend_from_slice(&latencies);
        bursts.push((
            scale.p7_events as f64 / took.as_secs_f64(),
            Latency::of(latencies),
        ));
    }
    // Every event's forward reaches the app: how long after the last acknowledgement.
    let acknowledged = Instant::now();
    let expected = P7_CONCURRENCY + scale.p7_bursts * scale.p7_events;
    while forwarded.load(std::sync::atomic::Ordering::Relaxed) < expected {
        assert!(
            acknowledged.elapsed() < Duration::from_secs(120),
            "{} of {expected} forwards arrived",
            forwarded.load(std::sync::atomic::Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let drained = acknowledged.elapsed();
    let _ = stop.send(());
    let rate = all.len() as f64 / busy.as_secs_f64();
    Ingest {
        bursts,
        all: (rate, Latency::of(all)),
        drained,
    }
}

/// `events` signed events with ids `{prefix}-{n}`, sent by [`P7_CONCURRENCY`] clients;
/// each one's latency from send to the 200.
async fn burst(client: &reqwest::Client, url: &str, prefix: &str, events: usize) -> Vec<Duration> {
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..P7_CONCURRENCY {
        let (client, url, prefix) = (client.clone(), url.to_string(), prefix.to_string());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            for index in (worker..events).step_by(P7_CONCURRENCY) {
                let body = serde_json::json!({
                    "id": format!("{prefix}-{index}"),
                    "object": "event",
                    "type": "report.completed",
                    "data": { "object": { "id": format!("rpt-{index}"), "status": "complete" } },
                    "account_id": "acct-bench",
                })
                .to_string();
                let signature = terapi_runtime::service::webhooks::sign(
                    WEBHOOK_SECRET.as_bytes(),
                    body.as_bytes(),
                );
                let sent = Instant::now();
                let response = client
                    .post(format!("{url}/webhook/{CHECKR}"))
                    .header("X-Checkr-Signature", signature)
                    .body(body)
                    .send()
                    .await
                    .expect("POST /webhook");
                assert!(
                    response.status().is_success(),
                    "status {}",
                    response.status()
                );
                latencies.push(sent.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = workers.join_next().await {
        latencies.extend(done.expect("worker"));
    }
    latencies
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let scale = if full { &FULL } else { &SMOKE };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    // `TERAPI_BENCH_ONLY=p7` measures the webhook ingest alone and prints it (for work
    // on the ingest path; the report needs every figure, so nothing is written).
    if std::env::var("TERAPI_BENCH_ONLY").as_deref() == Ok("p7") {
        let line = tokio.block_on(async {
            let harness = support::Harness::start().await;
            // `TERAPI_BENCH_P7_BURSTS=N`: more bursts, e.g. to profile a steady ingest.
            let bursts = std::env::var("TERAPI_BENCH_P7_BURSTS")
                .ok()
                .and_then(|bursts| bursts.parse().ok());
            let scale = &Scale {
                p7_bursts: bursts.unwrap_or(scale.p7_bursts),
                ..*scale
            };
            let ingest = webhook_ingest(
                scale,
                &harness._data_dir.path().join("webhooks"),
                &harness.sim.base_url(),
            )
            .await;
            let line = |(rate, latency): &(f64, Latency)| {
                format!(
                    "{} events, {rate:.0} events/s, p50 {}, p99 {}",
                    latency.samples,
                    micros(latency.p50),
                    micros(latency.p99)
                )
            };
            let mut lines: Vec<String> = ingest
                .bursts
                .iter()
                .map(|burst| format!("P7 burst: {}", line(burst)))
                .collect();
            lines.push(format!("P7 all: {}", line(&ingest.all)));
            lines.push(format!(
                "P7 forwards: all delivered {:.0} ms after the last acknowledgement",
                ingest.drained.as_secs_f64() * 1e3
            ));
            lines.join("\n")
        });
        println!("{line}");
        return;
    }
    let report = tokio.block_on(run(scale));
    if full {
        let path = std::env::var("TERAPI_BENCH_REPORT").unwrap_or_else(|_| "BENCHMARKS.md".into());
        std::fs::write(&path, &report).expect("report written");
        println!("{report}\nwritten to {path}");
    } else {
        println!("benchmark suite smoke run passed");
    }
}

async fn run(scale: &Scale) -> String {
    let mut out = String::new();
    // P5 holds `p5_in_flight` runs in flight at once: admission control (64 sandboxes by
    // default, then a queue of 256) would refuse most of them, and P5 measures what a
    // run in flight costs, so this host admits them all.
    let in_flight = u32::try_from(scale.p5_in_flight).expect("P5 in flight fits in u32");
    let harness = support::Harness::start_with(|config| {
        config.limits.max_concurrent_runs = in_flight;
        config.limits.memory_budget_bytes =
            u64::from(in_flight) * u64::try_from(config.limits.memory_bytes).unwrap_or(u64::MAX);
    })
    .await;
    harness.sim.set_rate_limit(u32::MAX);
    let bench = Arc::new(Bench {
        harness,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
    });
    let account_url = format!("{}/v1/account", bench.harness.sim.base_url());
    let authorization = basic(TOKEN);

    // P1
    let pooling = measure(scale.p1_iterations, || bench.no_op()).await;
    let on_demand = {
        let harness = support::Harness::start_with(|config| {
            config.limits.instance_allocator = InstanceAllocator::OnDemand;
        })
        .await;
        let runtime = &harness.runtime;
        let latency = measure(scale.p1_iterations / 4, || async move {
            runtime
                .trigger_action(GUESTS, CONNECTION, "echo", "{\"n\":1}")
                .await
                .expect("no-op");
        })
        .await;
        drop(harness);
        latency
    };
    let node = node_baseline(scale.p1_iterations);
    let node_p50 = node
        .as_ref()
        .and_then(|node| node["p50_us"].as_f64())
        .map(|us| Duration::from_secs_f64(us / 1e6));
    let node_p99 = node
        .as_ref()
        .and_then(|node| node["p99_us"].as_f64())
        .map(|us| Duration::from_secs_f64(us / 1e6));
    let lookup = measure(scale.p1_iterations, || async {
        bench
            .harness
            .runtime
            .connections()
            .get(GUESTS, CONNECTION)
            .await
            .expect("lookup");
    })
    .await;

    // P2
    let action = measure(scale.p2_iterations, || bench.get_account()).await;
    let fetch = measure(scale.p2_iterations, || bench.fetch_account()).await;
    let native = measure(scale.p2_iterations, || {
        bench.native_get(&account_url, &authorization)
    })
    .await;

    // P3
    let server_config = {
        let data_dir = bench.harness._data_dir.path().join("server");
        let mut config = support::config(&data_dir, &bench.harness.sim.base_url());
        config.data_dir = data_dir;
        config
    };
    let (server_url, stop_server) = start_server(server_config.clone()).await;
    // The server has its own store: give it the same connection.
    for integration in [GUESTS, CHECKR] {
        let store = terapi_runtime::SqliteStore::open(&server_config.data_dir.join("terapi.db"))
            .expect("server store");
        terapi_runtime::ConnectionStore::upsert(
            &store,
            &terapi_runtime::NewConnection::new(
                integration,
                CONNECTION,
                "checkr-partner",
                terapi_runtime::Credentials::access_token(TOKEN),
            ),
        )
        .await
        .expect("connection");
    }
    let mut p3 = Vec::new();
    for concurrency in [1usize, 8, 64] {
        let b = bench.clone();
        let no_op_lib = throughput(concurrency, scale.p3_duration, move || {
            let b = b.clone();
            async move { b.no_op().await }
        })
        .await;
        let b = bench.clone();
        let account_lib = throughput(concurrency, scale.p3_duration, move || {
            let b = b.clone();
            async move { b.get_account().await }
        })
        .await;
        let (client, url) = (bench.client.clone(), server_url.clone());
        let no_op_http = throughput(concurrency, scale.p3_duration, move || {
            let (client, url) = (client.clone(), url.clone());
            async move { trigger_over_http(&client, &url, "echo").await }
        })
        .await;
        let (client, url) = (bench.client.clone(), server_url.clone());
        let account_http = throughput(concurrency, scale.p3_duration, move || {
            let (client, url) = (client.clone(), url.clone());
            async move { trigger_over_http(&client, &url, "get-account").await }
        })
        .await;
        p3.push((
            concurrency,
            no_op_lib,
            account_lib,
            no_op_http,
            account_http,
        ));
    }
    let _ = stop_server.send(());

    // P4
    let cold_dir = tempfile::tempdir().expect("tempdir");
    let sim_url = bench.harness.sim.base_url();
    let start = Instant::now();
    let cold = Runtime::new(support::config(cold_dir.path(), &sim_url))
        .await
        .expect("cold start");
    let cold_start = start.elapsed();
    assert_eq!(cold.component_cache_stats().compiled(), 2);
    drop(cold);
    let start = Instant::now();
    let warm = Runtime::new(support::config(cold_dir.path(), &sim_url))
        .await
        .expect("warm start");
    let warm_start = start.elapsed();
    assert_eq!(warm.component_cache_stats().compiled(), 0);
    drop(warm);
    // One component's cached load: a runtime with only the Checkr component minus an
    // empty runtime (engine, pooling reservation, store, HTTP client), medians of
    // repeated starts so one slow start does not decide the figure.
    let dir = cold_dir.path();
    // Only the start is timed: a runtime is dropped after its clock stopped.
    let starts = |with_checkr: bool| {
        let mut config = support::config(dir, &sim_url);
        config.integrations.remove(GUESTS);
        if !with_checkr {
            config.integrations.clear();
        }
        async move {
            let mut samples = Vec::with_capacity(scale.p4_starts);
            for _ in 0..scale.p4_starts + 1 {
                let config = config.clone();
                let start = Instant::now();
                let runtime = Runtime::new(config).await.expect("start");
                samples.push(start.elapsed());
                drop(runtime);
            }
            samples.remove(0); // warm-up
            Latency::of(samples)
        }
    };
    let empty_start = starts(false).await;
    let checkr_start = starts(true).await;
    // The first invocation of an action after a cached start compiles its input schema.
    let mut checkr_only = support::config(dir, &sim_url);
    checkr_only.integrations.remove(GUESTS);
    let runtime = Runtime::new(checkr_only).await.expect("start");
    runtime
        .connections()
        .upsert(&terapi_runtime::NewConnection::new(
            CHECKR,
            CONNECTION,
            "checkr-partner",
            terapi_runtime::Credentials::access_token(TOKEN),
        ))
        .await
        .expect("connection");
    let first_call = Instant::now();
    runtime
        .trigger_action(CHECKR, CONNECTION, "get-account", "{}")
        .await
        .expect("first get-account");
    let first_call = first_call.elapsed();
    let second_call = Instant::now();
    runtime
        .trigger_action(CHECKR, CONNECTION, "get-account", "{}")
        .await
        .expect("second get-account");
    let second_call = second_call.elapsed();
    drop(runtime);
    let start = Instant::now();
    let (server_url, stop_server) = start_server(server_config.clone()).await;
    trigger_over_http(&bench.client, &server_url, "echo").await;
    let serve_to_first = start.elapsed();
    let _ = stop_server.send(());

    // P5
    bench.harness.sim.inject_fault(
        Fault::new("/v1/account", FaultKind::Delay(Duration::from_millis(1500)))
            .times(scale.p5_in_flight as u32),
    );
    let rss_idle = rss_bytes();
    let in_flight: Vec<_> = (0..scale.p5_in_flight)
        .map(|_| {
            let b = bench.clone();
            tokio::spawn(async move { b.get_account().await })
        })
        .collect();
    let mut peak = rss_idle;
    let sampling_until = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < sampling_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        peak = peak.max(rss_bytes());
    }
    for task in in_flight {
        task.await.expect("in-flight run");
    }
    let first = scale.p5_sequential / 100;
    for _ in 0..first {
        bench.no_op().await;
    }
    let rss_after_first = rss_bytes();
    for _ in first..scale.p5_sequential {
        bench.no_op().await;
    }
    let rss_after_all = rss_bytes();
    let growth_per_run =
        (rss_after_all as f64 - rss_after_first as f64) / (scale.p5_sequential - first) as f64;

    // Report
    let _ = writeln!(out, "# terapi benchmarks\n");
    let _ = writeln!(
        out,
        "Produced by `cargo xtask bench` at commit {}.\n",
        commit()
    );
    let _ = writeln!(out, "Machine: {}.\n", machine());
    let _ = writeln!(
        out,
        "Method: one process, release build, tokio multi-threaded runtime; the host runs the \
         real components (`actions/`, `tests/guests/`) against the loopback Checkr simulator \
         in the same process. Latencies are per call, measured sequentially after a 10% \
         warm-up; p50/p99 over the stated sample count. The Node baseline runs in a child \
         process in the same run. Reproduce: `cargo xtask bench`.\n"
    );
    let _ = writeln!(
        out,
        "## P1 — invocation overhead (no-op action returning its input)\n"
    );
    let _ = writeln!(
        out,
        "| what | p50 | p99 | samples |\n| --- | --- | --- | --- |"
    );
    let _ = writeln!(
        out,
        "| terapi, pooling allocator (default) | {} | {} | {} |",
        micros(pooling.p50),
        micros(pooling.p99),
        pooling.samples
    );
    let _ = writeln!(
        out,
        "| terapi, on-demand allocator | {} | {} | {} |",
        micros(on_demand.p50),
        micros(on_demand.p99),
        on_demand.samples
    );
    match (node_p50, node_p99) {
        (Some(p50), Some(p99)) => {
            let _ = writeln!(
                out,
                "| Node `vm.Script` + `vm.createContext` per task (Nango's model) | {} | {} | {} |",
                micros(p50),
                micros(p99),
                scale.p1_iterations
            );
            let _ = writeln!(
                out,
                "\nterapi (pooling) is **{:.1}×** faster than the Node baseline at p50, {:.1}× at p99.",
                ratio(p50, pooling.p50),
                ratio(p99, pooling.p99)
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "| Node baseline | not available (node not found) | | |"
            );
        }
    }
    let _ = writeln!(
        out,
        "\nOf the terapi figure, finding the connection in the SQLite store takes p50 {} \
         (p99 {}).\n",
        micros(lookup.p50),
        micros(lookup.p99)
    );
    let _ = writeln!(
        out,
        "## P2 — HTTP action overhead (`get-account` vs native reqwest GET)\n"
    );
    let _ = writeln!(
        out,
        "| what | p50 | p99 | samples |\n| --- | --- | --- | --- |"
    );
    let _ = writeln!(
        out,
        "| `get-account` through the host | {} | {} | {} |",
        micros(action.p50),
        micros(action.p99),
        action.samples
    );
    let _ = writeln!(
        out,
        "| the same GET through the host, body passed through as a string (`fetch` test action) | {} | {} | {} |",
        micros(fetch.p50),
        micros(fetch.p99),
        fetch.samples
    );
    let _ = writeln!(
        out,
        "| native reqwest GET, same URL and client settings | {} | {} | {} |",
        micros(native.p50),
        micros(native.p99),
        native.samples
    );
    let _ = writeln!(
        out,
        "\nRatio (host / native): **{:.2}×** at p50, {:.2}× at p99.\n",
        ratio(action.p50, native.p50),
        ratio(action.p99, native.p99)
    );
    let _ = writeln!(out, "## P3 — throughput (runs/s)\n");
    let _ = writeln!(
        out,
        "| concurrency | no-op, library | get-account, library | no-op, HTTP API | get-account, HTTP API |\n| --- | --- | --- | --- | --- |"
    );
    for (concurrency, a, b, c, d) in &p3 {
        let _ = writeln!(out, "| {concurrency} | {a:.0} | {b:.0} | {c:.0} | {d:.0} |");
    }
    let _ = writeln!(
        out,
        "\nEach cell runs for {:?}; the HTTP API is `POST /action/trigger` on `terapi serve` over \
         loopback with a keep-alive client, in the same process as the simulator.\n",
        scale.p3_duration
    );
    let _ = writeln!(out, "## P4 — cold start\n");
    let _ = writeln!(out, "| what | time |\n| --- | --- |");
    let _ = writeln!(
        out,
        "| runtime start, 2 components, empty cache (compile) | {:.1} ms |",
        cold_start.as_secs_f64() * 1e3
    );
    let _ = writeln!(
        out,
        "| runtime start, 2 components, cached precompiled | {:.1} ms |",
        warm_start.as_secs_f64() * 1e3
    );
    let _ = writeln!(
        out,
        "| runtime start, no component (p50 of {}) | {:.2} ms |",
        empty_start.samples,
        empty_start.p50.as_secs_f64() * 1e3
    );
    let _ = writeln!(
        out,
        "| runtime start, Checkr component only, cached (p50 of {}) | {:.2} ms |",
        checkr_start.samples,
        checkr_start.p50.as_secs_f64() * 1e3
    );
    let _ = writeln!(
        out,
        "| **cached load of the Checkr component** (difference of the two rows above) | **{:.2} ms** |",
        checkr_start
            .p50
            .saturating_sub(empty_start.p50)
            .as_secs_f64()
            * 1e3
    );
    let _ = writeln!(
        out,
        "| first / second `get-account` after that start (the first compiles its input schema; both still warm a new runtime: TCP connection, pool slots) | {} / {} |",
        micros(first_call),
        micros(second_call)
    );
    let _ = writeln!(
        out,
        "| `terapi serve` start (cached) to first served action | {:.1} ms |\n",
        serve_to_first.as_secs_f64() * 1e3
    );
    let _ = writeln!(out, "## P5 — memory\n");
    let _ = writeln!(out, "| what | RSS |\n| --- | --- |");
    let _ = writeln!(out, "| before the in-flight test | {} |", mib(rss_idle));
    let _ = writeln!(
        out,
        "| peak with {} `get-account` runs in flight (upstream delayed 1.5 s; `limits.max_concurrent_runs` raised to admit them all) | {} |",
        scale.p5_in_flight,
        mib(peak)
    );
    let _ = writeln!(
        out,
        "| after {} sequential no-op runs | {} |",
        first,
        mib(rss_after_first)
    );
    let _ = writeln!(
        out,
        "| after {} sequential no-op runs | {} |",
        scale.p5_sequential,
        mib(rss_after_all)
    );
    let _ = writeln!(
        out,
        "\nGrowth: {:.1} bytes per run between the two (Node baseline: {} bytes per task).",
        growth_per_run,
        node.as_ref()
            .and_then(|node| node["rss_growth_bytes_per_task"].as_f64())
            .map_or("n/a".to_string(), |bytes| format!("{bytes:.1}"))
    );
    let p6 = sync_figures(&bench, scale).await;
    let per_second = |count: usize, took: Duration| count as f64 / took.as_secs_f64().max(1e-9);
    let _ = writeln!(out, "\n## P6 — sync throughput and memory\n");
    let _ = writeln!(
        out,
        "A full `candidates` sync of {} simulator candidates (Checkr component, 100 per page) into SQLite, \
         against a native loop fetching the same pages with reqwest and making the same record writes \
         (target: host ≤ 1.3× native). Peak RSS is the process's high-water mark during each sync \
         (target: the larger sync within 32 MiB of the smaller). Paging: `GET /records`, 1,000 a page, \
         each page read whole by the client without building a JSON tree (target ≥ 100,000 records/s).\n",
        p6.records
    );
    let _ = writeln!(out, "| what | figure |\n| --- | --- |");
    let _ = writeln!(
        out,
        "| through the host | {:.2} s ({:.0} records/s) |",
        p6.host.as_secs_f64(),
        per_second(p6.records, p6.host)
    );
    let _ = writeln!(
        out,
        "| native loop | {:.2} s ({:.0} records/s) |",
        p6.native.as_secs_f64(),
        per_second(p6.records, p6.native)
    );
    let _ = writeln!(out, "| host / native | {:.2}× |", ratio(p6.host, p6.native));
    let _ = writeln!(
        out,
        "| peak RSS, {} records / {} records | {} / {} |",
        scale.p6_small,
        scale.p6_large,
        mib(p6.peak_small),
        mib(p6.peak_large)
    );
    let _ = writeln!(
        out,
        "| records API paging | {} records in {:.2} s ({:.0} records/s) |",
        p6.paged,
        p6.paging.as_secs_f64(),
        per_second(p6.paged, p6.paging)
    );
    let p7 = webhook_ingest(
        scale,
        &bench.harness._data_dir.path().join("webhooks"),
        &bench.harness.sim.base_url(),
    )
    .await;
    let _ = writeln!(out, "\n## P7 — Checkr webhook ingest\n");
    let _ = writeln!(
        out,
        "{} bursts of {} signed `report.completed` events at concurrency {P7_CONCURRENCY} into \
         `POST /webhook/checkr-partner`: signature verified, event id recorded, event routed to its \
         connection and its forward to the application written to the outbox in one transaction \
         before the 200; the forwards are delivered to a loopback receiver meanwhile \
         (targets: ≥ 5,000 events/s, p99 < 5 ms).\n",
        p7.bursts.len(),
        scale.p7_events
    );
    let _ = writeln!(
        out,
        "| burst | events/s | p50 | p99 |\n| --- | --- | --- | --- |"
    );
    let row = |name: String, (rate, latency): &(f64, Latency)| {
        format!(
            "| {name} | {rate:.0} | {} | {} |",
            micros(latency.p50),
            micros(latency.p99)
        )
    };
    for (index, burst) in p7.bursts.iter().enumerate() {
        let _ = writeln!(out, "{}", row(format!("{}", index + 1), burst));
    }
    let _ = writeln!(
        out,
        "{}",
        row(format!("all {} events", p7.all.1.samples), &p7.all)
    );
    let _ = writeln!(
        out,
        "\nEvery event's forward reached the app {:.0} ms after the last acknowledgement \
         (forwards give way to acknowledgements while a burst lasts).",
        p7.drained.as_secs_f64() * 1e3
    );
    let _ = writeln!(out, "\n{}", include_str!("analysis.md"));
    out
}
