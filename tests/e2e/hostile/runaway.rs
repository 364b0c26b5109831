//! Guests that never finish — sleeping, polling the clock, logging or printing in a loop,
//! spinning on the CPU — all at once on one host: each is stopped at its deadline and
//! holds nothing beyond its bounds, and a benign action is served meanwhile.

use super::*;
use serde_json::json;
use terapi_runtime::{Invocation, LogLine, LogSource};

/// The runaway attacks, each with its input.
fn runaways() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("sleep-forever", json!({})),
        ("poll-clock-forever", json!({})),
        ("loop-forever", json!({})),
        ("log-forever", json!({ "line_bytes": 16 << 10 })),
        ("log-forever", json!({ "stdout": true })),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_guests_are_stopped_at_their_deadline_while_a_benign_action_is_served() {
    let harness = harness_with(|_| {}).await;
    let attacked = during(&harness, |harness| async move {
        let runs = runaways().into_iter().map(|(action, input)| {
            let harness = harness.clone();
            tokio::spawn(async move {
                let invocation: Invocation = harness
                    .runtime
                    .run_action(GUESTS, CONNECTION, action, &input.to_string())
                    .await;
                (action, input, invocation)
            })
        });
        let mut outcomes = Vec::new();
        for run in runs.collect::<Vec<_>>() {
            outcomes.push(run.await.expect("task"));
        }
        outcomes
    })
    .await;
    assert!(
        attacked.benign_done_at < attacked.took,
        "the benign run finished at {:?}, after the attacks ({:?})",
        attacked.benign_done_at,
        attacked.took
    );
    for (action, input, invocation) in &attacked.result {
        let error = invocation.result.as_ref().expect_err(action);
        assert_timeout(error, action);
        println!("hostile {action} {input}: {error}");
        if input["line_bytes"].is_number() {
            assert_log_bounded(&invocation.logs);
        }
        if input["stdout"] == true {
            assert_stdout_bounded(&invocation.logs);
        }
    }
    println!(
        "hostile runaways (5 at once): benign echo took {:?} during them",
        attacked.benign
    );
}

/// 1,000 lines of at most 8 KiB each, then a notice.
fn assert_log_bounded(logs: &[LogLine]) {
    assert_eq!(logs.len(), 1_001, "1,000 lines and the truncation notice");
    assert!(
        logs[..1_000]
            .iter()
            .all(|line| line.source == LogSource::Guest && line.message.len() < 9 << 10),
        "each 16 KiB line was cut to 8 KiB"
    );
    assert_eq!(logs[1_000].message, "log truncated after 1000 lines");
}

/// `limits.log_capture_bytes` (64 KiB) of text, then one line counting the rest.
fn assert_stdout_bounded(logs: &[LogLine]) {
    let kept: usize = logs
        .iter()
        .filter(|line| line.source == LogSource::Stdout)
        .map(|line| line.message.len() + 1)
        .sum();
    assert!(kept <= (64 << 10) + 100, "{kept} bytes of stdout kept");
    let last = logs.last().expect("a line");
    assert!(
        last.message.ends_with("further bytes were not captured"),
        "{last:?}"
    );
    let dropped: u64 = last
        .message
        .split(' ')
        .next()
        .and_then(|count| count.parse().ok())
        .expect("a count");
    assert!(dropped > 1 << 20, "megabytes were printed: {dropped}");
}
