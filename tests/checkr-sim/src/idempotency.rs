//! `Idempotency-Key` on `POST`: the first 2xx response for a (credentials, key) pair
//! is saved and replayed verbatim (status, content type, body) for 24 hours by the
//! simulator's clock, whatever the later request's body (Checkr documents no body
//! check). Non-2xx responses are not saved, so a retry runs anew. A request whose key
//! is still being processed gets 409.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::{Sim, StoredResponse};

/// How long a saved response is replayed.
const TTL: time::Duration = time::Duration::hours(24);

/// The idempotency layer.
pub(crate) async fn middleware(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
    else {
        return next.run(req).await;
    };
    let scope = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let slot = (scope, key);
    {
        let mut state = sim.lock();
        let now = state.now();
        state
            .idempotency
            .retain(|_, saved| now - saved.saved_at < TTL);
        if let Some(saved) = state.idempotency.get(&slot) {
            return replay(saved);
        }
        if !state.idempotency_in_flight.insert(slot.clone()) {
            return ApiError::conflict(
                "A request with the same Idempotency-Key is still being processed; retry after it completes",
            )
            .into_response();
        }
    }
    let guard = InFlight {
        sim: sim.clone(),
        slot: slot.clone(),
    };
    let response = next.run(req).await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    drop(guard);
    {
        let mut state = sim.lock();
        if parts.status.is_success() {
            let saved_at = state.now();
            state.idempotency.insert(
                slot,
                StoredResponse {
                    status: parts.status,
                    content_type: parts
                        .headers
                        .get(CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                    body: bytes.to_vec(),
                    saved_at,
                },
            );
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(saved: &StoredResponse) -> Response {
    let mut response = Response::new(Body::from(saved.body.clone()));
    *response.status_mut() = saved.status;
    if let Some(ct) = saved
        .content_type
        .as_deref()
        .and_then(|ct| HeaderValue::from_str(ct).ok())
    {
        response.headers_mut().insert(CONTENT_TYPE, ct);
    }
    response
}

/// Clears the in-flight mark however the request ends (even if the connection is
/// dropped mid-request and the handler future is cancelled).
struct InFlight {
    sim: Sim,
    slot: (String, String),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.sim.lock().idempotency_in_flight.remove(&self.slot);
    }
}
