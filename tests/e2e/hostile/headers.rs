//! Header smuggling (CR/LF in values, `Host` override, duplicate `Content-Length`,
//! `Transfer-Encoding`, hop-by-hop headers) and header bombs are refused as invalid
//! requests before anything is sent, while a benign action is served.

use super::*;
use serde_json::json;

/// Header sets, each with what the refusal must say.
fn smuggling() -> Vec<(serde_json::Value, String)> {
    let bomb: Vec<(String, String)> = (0..20_000)
        .map(|index| (format!("x-{index}"), "v".into()))
        .collect();
    let client = "is set by the host's HTTP client; an action may not set it";
    vec![
        (
            json!([["x-note", "a\r\nx-injected: 1"]]),
            "the value of header `x-note` is not valid".into(),
        ),
        (
            json!([["x-note", "a\nHost: 127.0.0.2"]]),
            "the value of header `x-note` is not valid".into(),
        ),
        (
            json!([["x-note", "a\r\n\r\nGET /admin HTTP/1.1"]]),
            "the value of header `x-note` is not valid".into(),
        ),
        (
            json!([["Host", "127.0.0.2"]]),
            format!("header `host` {client}"),
        ),
        (
            json!([["Content-Length", "0"], ["Content-Length", "44"]]),
            format!("header `content-length` {client}"),
        ),
        (
            json!([["Transfer-Encoding", "chunked"]]),
            format!("header `transfer-encoding` {client}"),
        ),
        (
            json!([["Connection", "keep-alive, Upgrade"]]),
            format!("header `connection` {client}"),
        ),
        (
            json!([["Upgrade", "h2c"]]),
            format!("header `upgrade` {client}"),
        ),
        (
            json!(bomb),
            "the request has 20000 headers; at most 100 are allowed".into(),
        ),
        (
            json!([["x-huge", "v".repeat(1 << 20)]]),
            "header `x-huge` is 1048582 bytes; at most 8192 are allowed".into(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggled_and_bombing_headers_are_refused_before_sending() {
    let harness = harness_with(|_| {}).await;
    let cases = smuggling();
    let count = cases.len();
    let attacked = during(&harness, |harness| async move {
        let mut outcomes = Vec::new();
        for (headers, why) in cases {
            let input = json!({ "endpoint": "/v1/account", "headers": headers });
            outcomes.push((why, attack(harness.clone(), "fetch", input).await));
        }
        outcomes
    })
    .await;
    for (why, outcome) in &attacked.result {
        let error = outcome.as_ref().expect_err(why);
        assert_eq!(http_error(error), "invalid_request", "{error}");
        assert_eq!(error.to_string(), format!("invalid request: {why}"));
        println!("hostile fetch: {error}");
    }
    assert!(
        harness.sim.requests().is_empty(),
        "nothing reached the upstream"
    );
    println!(
        "hostile headers: {count} refused, 0 requests sent; benign echo took {:?}",
        attacked.benign
    );
}
