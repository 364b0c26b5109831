//! Checkr's rate limit: a number of requests per token per wall-clock minute. Every
//! response carries `X-Ratelimit-Limit`, `X-Ratelimit-Remaining` and
//! `X-Ratelimit-Reset` (ISO-8601 UTC, the end of the current minute); past the limit
//! the answer is 429 `{"error":"Too many requests"}`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::auth::basic_token;
use crate::error::ApiError;
use crate::state::{Sim, iso};

/// `X-Ratelimit-Limit`.
pub(crate) const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-Ratelimit-Remaining`.
pub(crate) const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-Ratelimit-Reset`.
pub(crate) const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The rate-limit key of a request: its token, or one shared key for requests
/// without a usable token.
fn key(headers: &HeaderMap) -> String {
    basic_token(headers).unwrap_or_else(|| "\0anonymous".to_string())
}

/// Counts the request, rejects it past the limit, and stamps the headers on the
/// response (unless an inner layer, e.g. an injected fault, set them already).
pub(crate) async fn middleware(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    let key = key(req.headers());
    let (limit, remaining, reset, exceeded) = {
        let mut state = sim.lock();
        let now = state.now();
        let limit = state.rate_limit;
        let minute = now.unix_timestamp().div_euclid(60);
        let window = state.rate_windows.entry(key).or_insert((minute, 0));
        if window.0 != minute {
            *window = (minute, 0);
        }
        window.1 = window.1.saturating_add(1);
        let used = window.1;
        let reset = OffsetDateTime::from_unix_timestamp((minute + 1) * 60).unwrap_or(now);
        (limit, limit.saturating_sub(used), reset, used > limit)
    };
    let mut response = if exceeded {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests").into_response()
    } else {
        next.run(req).await
    };
    let headers = response.headers_mut();
    set_default(headers, LIMIT, &limit.to_string());
    set_default(headers, REMAINING, &remaining.to_string());
    set_default(headers, RESET, &iso(reset));
    response
}

fn set_default(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if !headers.contains_key(&name)
        && let Ok(value) = HeaderValue::from_str(value)
    {
        headers.insert(name, value);
    }
}
