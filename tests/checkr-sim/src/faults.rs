//! Fault injection: make the next few matching requests fail with a status, be rate
//! limited, or be delayed. Faults sit inside the idempotency layer (a replayed saved
//! response is not faulted) and outside the routes (a faulted request never reaches
//! its handler, so it changes nothing).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::error::{ApiError, error_response};
use crate::state::{Sim, iso};
use crate::{contract, ratelimit};

/// A fault to inject: applies to the next `times` requests whose path starts with
/// `path_prefix` (and whose method is `method`, when set). Faults are checked in
/// the order injected; the first that matches is used up by one.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Path prefix to match (`"/v1/candidates"`); `""` or `"/"` match everything.
    pub path_prefix: String,
    /// Method to match (`"POST"`), any when `None`.
    pub method: Option<String>,
    /// How many matching requests to fault. 0 faults nothing.
    pub times: u32,
    /// What happens to them.
    pub kind: FaultKind,
}

/// What an injected fault does.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// Answer with `status` and `body` (JSON; default `{"error":"<reason phrase>"}`).
    /// When `reset` is set, `X-Ratelimit-Reset` is now + `reset`.
    Status {
        /// The HTTP status (e.g. 500, 502, 503).
        status: u16,
        /// Response body, sent with `Content-Type: application/json`.
        body: Option<String>,
        /// Sets `X-Ratelimit-Reset` this far in the future.
        reset: Option<Duration>,
    },
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// 429 `{"error":"Too many requests"}` with `X-Ratelimit-Remaining: 0` and
    /// `X-Ratelimit-Reset` `reset_in` from now (rounded up to the second).
    RateLimited {
        /// When the (simulated) limit resets.
        reset_in: Duration,
    },
    /// As [`FaultKind::RateLimited`], with `X-Ratelimit-Reset` in Unix epoch seconds
    /// instead of ISO-8601 (what some APIs send).
    RateLimitedEpoch {
        /// When the (simulated) limit resets.
        reset_in: Duration,
    },
    /// Answer with exactly this status, `Content-Type` and body: a truncated JSON
    /// document, HTML where JSON was expected, ...
    Raw {
        /// The HTTP status.
        status: u16,
        /// The `Content-Type` header.
        content_type: String,
        /// The body, as is.
        body: String,
    },
    /// Start a 200 response, send `partial` of its body, then break the connection
    /// (the chunked body never ends): a connection reset mid-body.
    ResetMidBody {
        /// What is sent before the connection breaks.
        partial: String,
    },
}

impl Fault {
    /// A fault of `kind` for the next request under `path_prefix`.
    pub fn new(path_prefix: impl Into<String>, kind: FaultKind) -> Self {
        Self {
            path_prefix: path_prefix.into(),
            method: None,
            times: 1,
            kind,
        }
    }

    /// The next request under `path_prefix` gets `status` with the default body.
    pub fn status(path_prefix: impl Into<String>, status: u16) -> Self {
        Self::new(
            path_prefix,
            FaultKind::Status {
                status,
                body: None,
                reset: None,
            },
        )
    }

    /// The next request under `path_prefix` gets a 429 resetting in `reset_in`.
    pub fn rate_limited(path_prefix: impl Into<String>, reset_in: Duration) -> Self {
        Self::new(path_prefix, FaultKind::RateLimited { reset_in })
    }

    /// The next request under `path_prefix` gets a 429 whose `X-Ratelimit-Reset` is in
    /// epoch seconds, resetting in `reset_in`.
    pub fn rate_limited_epoch(path_prefix: impl Into<String>, reset_in: Duration) -> Self {
        Self::new(path_prefix, FaultKind::RateLimitedEpoch { reset_in })
    }

    /// The next request under `path_prefix` gets exactly `status`, `content_type` and
    /// `body`.
    pub fn raw(
        path_prefix: impl Into<String>,
        status: u16,
        content_type: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self::new(
            path_prefix,
            FaultKind::Raw {
                status,
                content_type: content_type.into(),
                body: body.into(),
            },
        )
    }

    /// The next request under `path_prefix` gets `partial` of a 200 body, then the
    /// connection breaks.
    pub fn reset_mid_body(path_prefix: impl Into<String>, partial: impl Into<String>) -> Self {
        Self::new(
            path_prefix,
            FaultKind::ResetMidBody {
                partial: partial.into(),
            },
        )
    }

    /// The next request under `path_prefix` waits `delay` before being handled.
    pub fn delay(path_prefix: impl Into<String>, delay: Duration) -> Self {
        Self::new(path_prefix, FaultKind::Delay(delay))
    }

    /// Applies to the next `times` matching requests.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Only matches requests with this method.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into().to_ascii_uppercase());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && path.starts_with(&self.path_prefix)
            && self.method.as_deref().is_none_or(|m| m == method)
    }
}

/// Applies the first matching fault, if any.
pub(crate) async fn middleware(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let Some((kind, now, limit)) = take_fault(&sim, &method, &path) else {
        return next.run(req).await;
    };
    match kind {
        FaultKind::Delay(delay) => {
            tokio::time::sleep(delay).await;
            next.run(req).await
        }
        FaultKind::RateLimited { reset_in } => {
            let mut response =
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests").into_response();
            stamp(&mut response, limit, Some(0), reset_in, now);
            response.extensions_mut().insert(contract::Injected);
            response
        }
        FaultKind::RateLimitedEpoch { reset_in } => {
            let mut response =
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests").into_response();
            stamp(&mut response, limit, Some(0), reset_in, now);
            let reset = ceil_to_second(now + reset_in).unix_timestamp();
            response
                .headers_mut()
                .insert(ratelimit::RESET, HeaderValue::from(reset));
            response.extensions_mut().insert(contract::Injected);
            response
        }
        FaultKind::Raw {
            status,
            content_type,
            body,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, body).into_response();
            if let Ok(value) = HeaderValue::from_str(&content_type) {
                response
                    .headers_mut()
                    .insert(axum::http::header::CONTENT_TYPE, value);
            }
            response.extensions_mut().insert(contract::Injected);
            response
        }
        FaultKind::ResetMidBody { partial } => {
            let chunks: Vec<Result<String, std::io::Error>> = vec![
                Ok(partial),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated connection reset",
                )),
            ];
            let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
            let mut response = (
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
            response.extensions_mut().insert(contract::Injected);
            response
        }
        FaultKind::Status {
            status,
            body,
            reset,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = match body {
                Some(body) => (
                    status,
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response(),
                None => error_response(status, status.canonical_reason().unwrap_or("Server error")),
            };
            if let Some(reset) = reset {
                stamp(&mut response, limit, None, reset, now);
            }
            response.extensions_mut().insert(contract::Injected);
            response
        }
    }
}

/// Uses up one application of the first fault matching the request.
fn take_fault(sim: &Sim, method: &str, path: &str) -> Option<(FaultKind, OffsetDateTime, u32)> {
    let mut state = sim.lock();
    let index = state.faults.iter().position(|f| f.matches(method, path))?;
    let fault = &mut state.faults[index];
    fault.times -= 1;
    let kind = fault.kind.clone();
    if fault.times == 0 {
        state.faults.remove(index);
    }
    Some((kind, state.now(), state.rate_limit))
}

fn stamp(
    response: &mut Response,
    limit: u32,
    remaining: Option<u32>,
    reset_in: Duration,
    now: OffsetDateTime,
) {
    let reset = ceil_to_second(now + reset_in);
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&limit.to_string()) {
        headers.insert(ratelimit::LIMIT, v);
    }
    if let Some(remaining) = remaining
        && let Ok(v) = HeaderValue::from_str(&remaining.to_string())
    {
        headers.insert(ratelimit::REMAINING, v);
    }
    if let Ok(v) = HeaderValue::from_str(&iso(reset)) {
        headers.insert(ratelimit::RESET, v);
    }
}

/// Rounds up to a whole second, so an ISO-8601 time is never earlier than `t`.
fn ceil_to_second(t: OffsetDateTime) -> OffsetDateTime {
    if t.nanosecond() == 0 {
        t
    } else {
        t + time::Duration::nanoseconds(1_000_000_000 - i64::from(t.nanosecond()))
    }
}
