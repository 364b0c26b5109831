//! `terapi webhooks listen`: a local receiver for the webhooks terapi sends the
//! application, for development. Point `TERAPI_WEBHOOK_URL` (or `server.webhook_url`) of
//! a `terapi serve` at it and every forward of a provider event and every sync webhook
//! is printed as it arrives, one JSON line each, with whether its `X-Nango-Hmac-Sha256`
//! signature verifies under the signing key — the check an application must make.
//!
//! A webhook with a good signature is acknowledged (200); one without is refused (401),
//! so a misconfigured signing key shows up as failing deliveries in
//! `terapi webhooks list` as well as here.

use crate::Failure;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use terapi_runtime::RuntimeConfig;
use terapi_runtime::service::EnvLookup;
use terapi_runtime::service::inbound::verify_signature;
use terapi_runtime::service::webhooks::signing_key;

/// Serves until Ctrl-C, printing each webhook received on `addr`.
pub async fn listen(
    config: &RuntimeConfig,
    env: &EnvLookup,
    addr: SocketAddr,
) -> Result<(), Failure> {
    let key = signing_key(config, env).ok_or_else(|| {
        Failure::message(
            "nothing to verify signatures with: set TERAPI_WEBHOOK_SIGNING_KEY (or \
             `server.webhook_signing_key`, or the secret key) as for `terapi serve`",
        )
    })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| Failure::message(format!("cannot listen on {addr}: {error}")))?;
    let bound = listener.local_addr().map_err(Failure::message)?;
    eprintln!(
        "listening for terapi's webhooks on http://{bound}/ — run `terapi serve` with \
         TERAPI_WEBHOOK_URL=http://{bound}/ ; Ctrl-C stops"
    );
    let app = axum::Router::new()
        .fallback(receive)
        .with_state(Arc::<str>::from(key));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(Failure::message)
}

async fn receive(State(key): State<Arc<str>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let verified = header("x-nango-hmac-sha256")
        .is_some_and(|signature| verify_signature(key.as_bytes(), &body, signature));
    let parsed = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let line = json!({
        "received_at": terapi_runtime::util::iso(time::OffsetDateTime::now_utc()),
        "verified": verified,
        "delivery_id": header("x-terapi-delivery-id"),
        "body": parsed,
    });
    println!("{line}");
    if verified {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}
