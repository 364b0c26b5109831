//! Runaway guests are stopped, and the host carries on.

use crate::support::*;
use terapi_runtime::{Credentials, LogSource, TriggerError};

#[tokio::test]
async fn infinite_loop_is_stopped_by_the_deadline_and_the_host_keeps_working() {
    let harness = Harness::start_with(|config| config.limits.invocation_timeout_ms = 500).await;
    let started = std::time::Instant::now();
    let error = harness
        .runtime
        .trigger_action(GUESTS, CONNECTION, "loop-forever", "{}")
        .await
        .expect_err("stopped");
    assert!(matches!(error, TriggerError::Timeout { .. }), "{error:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert_eq!(harness.account_name().await, "Acme Staffing");
}

/// Regression: two guests spinning on the CPU used to hold both threads of a 2-core host
/// until their deadline, stalling every other request for 30 s. Guests now yield every
/// epoch tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_guests_do_not_stall_other_work() {
    let harness = Harness::start_with(|config| config.limits.invocation_timeout_ms = 6_000).await;
    let spin = || {
        harness
            .runtime
            .trigger_action(GUESTS, CONNECTION, "loop-forever", "{}")
    };
    let started = std::time::Instant::now();
    let benign = async {
        // Let both loops get going first.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(harness.account_name().await, "Acme Staffing");
        started.elapsed()
    };
    let (first, second, done_after) = tokio::join!(spin(), spin(), benign);
    assert!(
        matches!(first, Err(TriggerError::Timeout { .. })),
        "{first:?}"
    );
    assert!(
        matches!(second, Err(TriggerError::Timeout { .. })),
        "{second:?}"
    );
    // Far below the loops' 6 s deadline: the benign action did not wait for them.
    assert!(
        done_after < std::time::Duration::from_secs(3),
        "a benign action finished {done_after:?} after two spinning guests started"
    );
}

#[tokio::test]
async fn unbounded_allocation_hits_the_memory_cap_and_the_host_keeps_working() {
    let harness = Harness::start().await;
    let error = harness
        .runtime
        .trigger_action(GUESTS, CONNECTION, "allocate-forever", "{}")
        .await
        .expect_err("capped");
    assert_eq!(
        error,
        TriggerError::MemoryLimitExceeded {
            action: "allocate-forever".into(),
            limit: 32 << 20
        }
    );
    assert_eq!(harness.account_name().await, "Acme Staffing");
}

#[tokio::test]
async fn panic_becomes_an_error_with_the_panic_message_and_the_host_keeps_working() {
    let harness = Harness::start().await;
    let error = harness
        .runtime
        .trigger_action(GUESTS, CONNECTION, "panic", "{}")
        .await
        .expect_err("panicked");
    let TriggerError::Crashed { message, .. } = &error else {
        panic!("expected a crash, got {error:?}");
    };
    assert!(message.contains("panicked on purpose"), "{message}");
    assert_eq!(harness.account_name().await, "Acme Staffing");
}

#[tokio::test]
async fn wasi_is_deny_by_default_and_output_is_captured_into_the_run_log() {
    let harness = Harness::start_with(with_sandbox_probe).await;
    harness
        .connect(PROBE, CONNECTION, Credentials::access_token(TOKEN))
        .await;
    let invocation = harness
        .runtime
        .run_action(PROBE, CONNECTION, "probe-sandbox", "{}")
        .await;
    let output: serde_json::Value = invocation
        .result
        .expect("probe runs")
        .parse()
        .expect("JSON");
    assert!(
        output["read_root"]
            .as_str()
            .unwrap_or_default()
            .starts_with("error"),
        "no filesystem: {output}"
    );
    assert_eq!(output["env_vars"], 0, "no environment");
    assert_eq!(output["clock_works"], true);
    assert_eq!(output["random_works"], true);
    let line = |source: LogSource, text: &str| {
        invocation
            .logs
            .iter()
            .any(|line| line.source == source && line.message == text)
    };
    assert!(
        line(LogSource::Stdout, "hello from stdout"),
        "{:?}",
        invocation.logs
    );
    assert!(line(LogSource::Stderr, "hello from stderr"));
    assert!(line(LogSource::Guest, "hello from the log interface"));
}

#[tokio::test]
async fn concurrent_invocations_each_get_their_own_sandbox() {
    let harness = Harness::start().await;
    let runs = (0..16).map(|index| {
        let runtime = &harness.runtime;
        async move {
            let input = serde_json::json!({ "index": index }).to_string();
            let output = runtime
                .trigger_action(GUESTS, CONNECTION, "echo", &input)
                .await
                .expect("echo");
            assert_eq!(output.as_json(), input);
        }
    });
    futures_join_all(runs).await;
}

async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    for future in set {
        future.await;
    }
}
