//! Repeated limit hits leave the host's memory flat: 200 runs that hit the memory cap
//! (and runs of the other heavy attacks) give their memory back as each run ends.
//!
//! RSS is a whole-process figure and the end-to-end tests share one process, so the
//! measuring test runs itself again in a child process of its own (the test binary,
//! filtered to this test) and the parent checks the child's verdict.

use super::*;
use serde_json::json;

/// Set in the child that measures.
const CHILD: &str = "TERAPI_HOSTILE_RSS_CHILD";
/// Runs of each attack after the warm-up.
const REPETITIONS: usize = 200;
/// Runs at once: a burst on every worker thread, as a loaded server sees them.
const CONCURRENCY: usize = 4;
/// How much the process may grow over the repetitions of one attack.
const GROWTH_BOUND: u64 = 64 << 20;

/// The process's resident set, from `/proc/self/status`.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib << 10
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// Runs `action` [`REPETITIONS`] times, [`CONCURRENCY`] at once, checking each ends as
/// `expect` says, and samples RSS whenever no run is in flight: what a finished run left
/// behind. The largest sample may exceed the RSS before by at most [`GROWTH_BOUND`].
async fn flat(
    harness: &Arc<Harness>,
    action: &'static str,
    input: serde_json::Value,
    expect: fn(&Result<ActionOutput, TriggerError>) -> bool,
) {
    let before = rss();
    let mut peak = before;
    let started = Instant::now();
    for _ in 0..REPETITIONS / CONCURRENCY {
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENCY {
            tasks.push(tokio::spawn(attack(harness.clone(), action, input.clone())));
        }
        for task in tasks {
            let outcome = task.await.expect("task");
            assert!(expect(&outcome), "{action}: {outcome:?}");
        }
        peak = peak.max(rss());
    }
    let after = rss();
    println!(
        "hostile rss {action}: {} before, at most {} between runs, {} after {REPETITIONS} runs ({:?})",
        mib(before),
        mib(peak),
        mib(after),
        started.elapsed()
    );
    assert!(
        peak < before + GROWTH_BOUND,
        "{action}: RSS grew from {} to {} between runs",
        mib(before),
        mib(peak)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_limit_hits_leave_rss_flat() {
    if std::env::var_os(CHILD).is_none() {
        let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "hostile::memory::repeated_limit_hits_leave_rss_flat",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .expect("the measuring child runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        print!("{stdout}");
        assert!(
            output.status.success(),
            "the measuring child failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("1 passed"),
            "the child ran the test: {stdout}"
        );
        return;
    }
    let harness = harness_with(|config| config.limits.max_output_bytes = 1 << 20).await;
    let memory_cap = |outcome: &Result<ActionOutput, TriggerError>| matches!(outcome, Err(TriggerError::MemoryLimitExceeded { limit, .. }) if *limit == 32 << 20);
    let crashed = |outcome: &Result<ActionOutput, TriggerError>| {
        matches!(outcome, Err(TriggerError::Crashed { .. }))
    };
    // Warm up with benign runs only: whatever the first large runs leave counts.
    for _ in 0..8 {
        let echoed = attack(harness.clone(), "echo", json!({ "warm": true })).await;
        assert!(echoed.is_ok(), "{echoed:?}");
    }
    let started = rss();
    flat(&harness, "allocate-forever", json!({}), memory_cap).await;
    flat(
        &harness,
        "giant-output",
        json!({ "bytes": 2 << 20 }),
        crashed,
    )
    .await;
    flat(
        &harness,
        "recurse-forever",
        json!({ "padded": true }),
        crashed,
    )
    .await;
    println!(
        "hostile rss: {} at the start, {} at the end",
        mib(started),
        mib(rss())
    );
}
