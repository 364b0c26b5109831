//! Request floods stop at the per-run request budget and huge request bodies at the body
//! cap: the upstream sees exactly each run's budget, and a benign action is served while
//! the floods run.

use super::*;
use serde_json::json;

const BUDGET: u32 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_stop_at_the_request_budget_and_huge_bodies_at_the_body_cap() {
    let harness = harness_with(|config| {
        config.limits.http_max_requests = BUDGET;
        config.limits.http_max_request_bytes = 1 << 20;
    })
    .await;
    let attacked = during(&harness, |harness| async move {
        let flood = |ignore_errors: bool| {
            let input = json!({ "endpoint": "/v1/account", "ignore_errors": ignore_errors });
            tokio::spawn(attack(harness.clone(), "flood", input))
        };
        let (stopping, relentless) = (flood(false), flood(true));
        let body = json!({ "endpoint": "/v1/candidates", "method": "POST", "body_bytes": 8 << 20 });
        let huge = attack(harness.clone(), "fetch", body).await;
        (
            stopping.await.expect("task"),
            relentless.await.expect("task"),
            huge,
        )
    })
    .await;
    let (stopping, relentless, huge) = attacked.result;
    let error = stopping.expect_err("denied");
    assert_eq!(http_error(&error), "denied");
    assert_eq!(
        error.to_string(),
        "request denied: this run has used its budget of outbound requests \
         (limits.http_max_requests); 0 left, the request may take 1"
    );
    println!("hostile flood: {error}");
    let error = relentless.expect_err("stopped");
    assert_timeout(&error, "flood");
    println!("hostile flood ignoring refusals: {error}");
    let error = huge.expect_err("refused");
    assert_eq!(http_error(&error), "invalid_request");
    assert_eq!(
        error.to_string(),
        "invalid request: the request body is 8388608 bytes; at most 1048576 are allowed"
    );
    println!("hostile fetch (8 MiB body): {error}");
    assert_eq!(
        harness.sim.requests().len(),
        2 * BUDGET as usize,
        "the upstream saw exactly each flood's budget and no body"
    );
    assert!(attacked.benign_done_at < attacked.took);
    println!(
        "hostile floods: {} requests reached the upstream; benign echo took {:?} during them",
        2 * BUDGET,
        attacked.benign
    );
}
