//! Regression guard for the per-invocation cost (P1) and the HTTP action overhead (P2).
//!
//! `cargo bench -p terapi-cli --bench invocation` times them; CI only compiles and
//! smoke-runs them (`cargo test --benches`). The full comparative suite, with the Node and
//! native baselines and the report, is `cargo xtask bench` (benches/suite.rs).

#[path = "../../tests/e2e/support.rs"]
#[allow(dead_code)]
mod support;

/// The allocator the `terapi` binary runs with, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, criterion_group, criterion_main};
use support::{CHECKR, CONNECTION, GUESTS, Harness, TOKEN, basic};

fn invocation(c: &mut Criterion) {
    let tokio = tokio::runtime::Runtime::new().expect("tokio runtime");
    let harness = tokio.block_on(Harness::start());
    // Checkr allows 1,200 requests a minute; a benchmark makes that many in a second.
    harness.sim.set_rate_limit(u32::MAX);
    let account_url = format!("{}/v1/account", harness.sim.base_url());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let authorization = basic(TOKEN);

    c.bench_function("p1_noop_action", |b| {
        b.to_async(&tokio).iter(|| async {
            harness
                .runtime
                .trigger_action(GUESTS, CONNECTION, "echo", "{\"n\":1}")
                .await
                .expect("echo")
        })
    });
    // The part of P1 spent outside the sandbox: finding the connection.
    c.bench_function("p1_connection_lookup", |b| {
        b.to_async(&tokio).iter(|| async {
            harness
                .runtime
                .connections()
                .get(GUESTS, CONNECTION)
                .await
                .expect("lookup")
        })
    });
    c.bench_function("p2_get_account_action", |b| {
        b.to_async(&tokio).iter(|| async {
            harness
                .runtime
                .trigger_action(CHECKR, CONNECTION, "get-account", "{}")
                .await
                .expect("get-account")
        })
    });
    // The host's HTTP path without the Checkr model: the guest passes the body through
    // as a string, so the difference to get-account is the guest's JSON work.
    c.bench_function("p2_fetch_action", |b| {
        b.to_async(&tokio).iter(|| async {
            harness
                .runtime
                .trigger_action(
                    GUESTS,
                    CONNECTION,
                    "fetch",
                    r#"{"endpoint": "/v1/account"}"#,
                )
                .await
                .expect("fetch")
        })
    });
    c.bench_function("p2_native_reqwest_get", |b| {
        b.to_async(&tokio).iter(|| async {
            let response = client
                .get(&account_url)
                .header("authorization", &authorization)
                .send()
                .await
                .expect("send");
            response.bytes().await.expect("body")
        })
    });
    harness.sim.clear_requests();
}

criterion_group!(benches, invocation);
criterion_main!(benches);
