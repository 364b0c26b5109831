//! The proxy: pass-through of query, body and headers, injected auth, retries.

use crate::server::support::*;
use crate::support::{CHECKR, TOKEN, basic, simulator};
use checkr_sim::Fault;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use terapi_runtime::Credentials;

fn proxy(harness: &ServerHarness, method: Method, path: &str) -> reqwest::RequestBuilder {
    harness
        .api(method, &format!("/proxy{path}"))
        .header("Connection-Id", "acme")
        .header("Provider-Config-Key", CHECKR)
}

async fn harness() -> ServerHarness {
    let harness = ServerHarness::start().await;
    harness
        .seed_connection("acme", Credentials::access_token(TOKEN))
        .await;
    harness
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_body_and_headers_pass_through_with_auth_injected() {
    let harness = harness().await;
    let candidate =
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"});
    let response = proxy(&harness, Method::POST, "/v1/candidates")
        .header("Nango-Proxy-Idempotency-Key", "key-1")
        .header("X-Not-Forwarded", "nope")
        .json(&candidate)
        .send()
        .await
        .expect("proxy");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .starts_with("application/json")
    );
    assert!(
        response.headers().contains_key("x-ratelimit-remaining"),
        "upstream headers come back"
    );
    let created: Value = response.json().await.expect("json");
    assert_eq!(created["email"], "ada@example.com");
    let request = harness.sim.requests().pop().expect("recorded");
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/candidates");
    assert_eq!(request.body_json(), Some(candidate));
    assert_eq!(request.header("authorization"), Some(basic(TOKEN).as_str()));
    assert_eq!(request.header("idempotency-key"), Some("key-1"));
    assert_eq!(request.header("x-not-forwarded"), None);
    assert_eq!(
        request.header("connection-id"),
        None,
        "terapi's own headers stay"
    );

    let (status, listed) = send(proxy(
        &harness,
        Method::GET,
        "/v1/candidates?email=ada%40example.com&per_page=5",
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["count"], 1);
    let request = harness.sim.requests().pop().expect("recorded");
    assert_eq!(request.query, "email=ada%40example.com&per_page=5");

    // Upstream errors come back as they are, not rewritten.
    let (status, body) = send(proxy(&harness, Method::GET, "/v1/candidates/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"].is_string(),
        "Checkr's own error shape: {body}"
    );

    // An Authorization the caller forwards wins over the injected one.
    let (status, _) = send(
        proxy(&harness, Method::GET, "/v1/account")
            .header("Nango-Proxy-Authorization", basic("someone-else")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_request_is_retried_after_the_reset_then_succeeds() {
    let harness = harness().await;
    harness
        .sim
        .inject_fault(Fault::rate_limited("/v1/account", Duration::from_secs(1)));
    let (status, account) =
        send(proxy(&harness, Method::GET, "/v1/account").header("Retries", "2")).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["name"], "Acme Staffing");
    let requests = harness.sim.requests();
    assert_eq!(requests.len(), 2, "one 429, one success");
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(
        waited >= Duration::from_millis(500),
        "waited for the reset: {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_return_the_upstream_status() {
    let harness = harness().await;
    harness
        .sim
        .inject_fault(Fault::status("/v1/account", 503).times(5));
    let (status, body) =
        send(proxy(&harness, Method::GET, "/v1/account").header("Retries", "2")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["error"].is_string(), "the upstream body: {body}");
    assert_eq!(harness.sim.requests().len(), 3, "1 attempt + 2 retries");

    // Without Retries, a 429 comes back at once.
    harness.sim.clear_faults();
    harness.sim.clear_requests();
    harness
        .sim
        .inject_fault(Fault::rate_limited("/v1/account", Duration::from_secs(30)));
    let (status, _) = send(proxy(&harness, Method::GET, "/v1/account")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(harness.sim.requests().len(), 1);

    // Retry-On adds statuses to retry.
    harness.sim.clear_requests();
    harness.sim.inject_fault(Fault::status("/v1/account", 409));
    let (status, _) = send(
        proxy(&harness, Method::GET, "/v1/account")
            .header("Retries", "1")
            .header("Retry-On", "409"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(harness.sim.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_url_override_must_pass_the_allow_list() {
    let harness = harness().await;
    let elsewhere = simulator().await;
    let (status, body) = send(
        proxy(&harness, Method::GET, "/v1/account")
            .header("Base-Url-Override", elsewhere.base_url()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "host_not_allowed");
    assert!(elsewhere.requests().is_empty(), "nothing was sent there");
    // The provider's own origin is fine.
    let (status, _) = send(
        proxy(&harness, Method::GET, "/v1/account")
            .header("Base-Url-Override", harness.sim.base_url()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_proxy_input_is_named() {
    let harness = harness().await;
    for (header, value, needle) in [
        ("Retries", "many", "Retries"),
        ("Retries", "99", "Retries"),
        ("Retry-On", "teapot", "Retry-On"),
        ("Decompress", "sometimes", "Decompress"),
    ] {
        let (status, body) =
            send(proxy(&harness, Method::GET, "/v1/account").header(header, value)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{header}: {value}");
        assert_eq!(code(&body), "invalid_headers");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(needle)
        );
    }
    let (status, body) = send(
        harness
            .api(Method::GET, "/proxy/v1/account")
            .header("Provider-Config-Key", CHECKR),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "invalid_headers");
    let (status, body) = send(
        harness
            .api(Method::GET, "/proxy/v1/account")
            .header("Connection-Id", "ghost")
            .header("Provider-Config-Key", CHECKR),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "unknown_connection");
    assert!(harness.sim.requests().is_empty());
}

/// CRC-32 (IEEE), for building a gzip member by hand.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `data` as a gzip member with one stored (uncompressed) deflate block.
fn gzip(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).expect("small");
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.push(1); // final block, stored
    out.extend(len.to_le_bytes());
    out.extend((!len).to_le_bytes());
    out.extend(data);
    out.extend(crc32(data).to_le_bytes());
    out.extend(u32::from(len).to_le_bytes());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_bodies_pass_through_unless_decompress_is_asked_for() {
    use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
    use std::sync::{Arc, Mutex};
    const PLAIN: &[u8] = br#"{"compressed":true}"#;
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let recorded = seen.clone();
    let app = axum::Router::new().route(
        "/v1/compressed",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let recorded = recorded.clone();
            async move {
                recorded.lock().expect("lock").push(
                    headers
                        .get(ACCEPT_ENCODING)
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_string),
                );
                (
                    [
                        (CONTENT_TYPE, "application/json"),
                        (CONTENT_ENCODING, "gzip"),
                    ],
                    gzip(PLAIN),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let staging = "checkr-partner-staging";
    let harness = ServerHarness::start_with(checkr_sim::AccountSeed::new("x"), |config| {
        config
            .integrations
            .get_mut(staging)
            .expect("staging")
            .api_base_url = Some(upstream.clone());
    })
    .await;
    terapi_runtime::ConnectionStore::upsert(
        &harness.store(),
        &terapi_runtime::NewConnection::new(
            staging,
            "acme",
            "checkr-partner-staging",
            Credentials::access_token(TOKEN),
        ),
    )
    .await
    .expect("seeded");
    // A client that shows the bytes as they come.
    let raw = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let request = |decompress: Option<&str>| {
        let mut request = raw
            .get(format!("{}/proxy/v1/compressed", harness.base_url))
            .bearer_auth(SECRET_KEY)
            .header("Connection-Id", "acme")
            .header("Provider-Config-Key", staging);
        if let Some(decompress) = decompress {
            request = request.header("Decompress", decompress);
        }
        request.send()
    };
    let passed = request(None).await.expect("proxy");
    assert_eq!(passed.status(), StatusCode::OK);
    assert_eq!(
        passed.headers().get(CONTENT_ENCODING).map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    assert_eq!(passed.bytes().await.expect("body").as_ref(), gzip(PLAIN));

    let decompressed = request(Some("true")).await.expect("proxy");
    assert_eq!(decompressed.status(), StatusCode::OK);
    assert!(decompressed.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(
        decompressed.headers()[CONTENT_TYPE].as_bytes(),
        b"application/json"
    );
    assert_eq!(decompressed.bytes().await.expect("body").as_ref(), PLAIN);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0], None,
        "no compression asked for on the caller's behalf"
    );
    assert!(
        seen[1]
            .as_deref()
            .is_some_and(|value| value.contains("gzip"))
    );
}
