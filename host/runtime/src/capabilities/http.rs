//! `terapi:runtime/http`: outbound HTTP performed by the host on the guest's behalf.
//!
//! The guest describes a request; this capability turns it into an
//! [`OutboundRequest`] and sends it under the integration's [`HttpPolicy`] (allow-list,
//! authentication, timeouts, retries, body cap — see [`crate::outbound`]), bounded by the
//! invocation's deadline.

use crate::bindings::http::{self as wit, Method, Request, Response};
use crate::outbound::{HttpError, HttpPolicy, OutboundRequest};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;
use tokio::time::Instant;
use wasmtime::component::{HasData, Linker};

/// Headers one request may carry. Far above what any API needs (Checkr requests carry
/// two or three); a guest sending tens of thousands used to reach a panic deep in the
/// HTTP stack.
const MAX_HEADERS: usize = 100;
/// Longest header name plus value.
const MAX_HEADER_BYTES: usize = 8 << 10;
/// All header names and values of one request together.
const MAX_HEADERS_TOTAL_BYTES: usize = 64 << 10;

/// Headers the HTTP client derives itself, which an action may not set: where the request
/// goes (`Host`, which could point an allowed server's virtual hosting elsewhere), how
/// the body is framed (`Content-Length`, `Transfer-Encoding`: a second, conflicting
/// framing is how requests are smuggled past a proxy to a server behind it) and how the
/// connection is used (hop-by-hop headers).
const FORBIDDEN_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// What one invocation's HTTP calls share.
pub(crate) struct HttpState {
    client: reqwest::Client,
    policy: Arc<HttpPolicy>,
    /// The header value the host injects; secret.
    authorization: Option<HeaderValue>,
    deadline: Instant,
    /// Largest request body.
    max_request_bytes: usize,
    /// Attempts left in this invocation's budget (`limits.http_max_requests`).
    attempts_left: u32,
}

impl HttpState {
    /// The state of an invocation whose requests go out with `client` under `policy`,
    /// authenticated with `authorization`, none of them past `deadline`.
    pub(crate) fn new(
        client: reqwest::Client,
        policy: Arc<HttpPolicy>,
        authorization: Option<HeaderValue>,
        deadline: Instant,
        limits: &crate::config::Limits,
    ) -> Self {
        HttpState {
            client,
            policy,
            authorization,
            deadline,
            max_request_bytes: limits.http_max_request_bytes,
            attempts_left: limits.http_max_requests,
        }
    }
}

struct HasHttp;

impl HasData for HasHttp {
    type Data<'a> = &'a mut HttpState;
}

/// Grants the HTTP capability; `get` projects a store's data onto its state.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut HttpState,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasHttp>(linker, get)
}

impl wit::Host for HttpState {
    async fn send(&mut self, request: Request) -> Result<Response, wit::Error> {
        self.send_request(request)
            .await
            .map_err(|error| match error {
                HttpError::Denied(message) => wit::Error::Denied(message),
                HttpError::Timeout(message) => wit::Error::Timeout(message),
                HttpError::Transport(message) => wit::Error::Transport(message),
                HttpError::TooLarge(limit) => wit::Error::TooLarge(limit),
                HttpError::InvalidRequest(message) => wit::Error::InvalidRequest(message),
            })
    }
}

impl HttpState {
    /// Checks a request against the per-request and per-invocation budgets before
    /// anything else is done with it.
    fn admit(&mut self, request: &Request) -> Result<(), HttpError> {
        if request.headers.len() > MAX_HEADERS {
            return Err(HttpError::InvalidRequest(format!(
                "the request has {} headers; at most {MAX_HEADERS} are allowed",
                request.headers.len()
            )));
        }
        let mut total = 0usize;
        for (name, value) in &request.headers {
            let size = name.len().saturating_add(value.len());
            if size > MAX_HEADER_BYTES {
                return Err(HttpError::InvalidRequest(format!(
                    "header `{}` is {size} bytes; at most {MAX_HEADER_BYTES} are allowed",
                    name.chars().take(64).collect::<String>()
                )));
            }
            total = total.saturating_add(size);
            if FORBIDDEN_HEADERS
                .iter()
                .any(|forbidden| name.trim().eq_ignore_ascii_case(forbidden))
            {
                return Err(HttpError::InvalidRequest(format!(
                    "header `{}` is set by the host's HTTP client; an action may not set it",
                    name.trim().to_ascii_lowercase()
                )));
            }
        }
        if total > MAX_HEADERS_TOTAL_BYTES {
            return Err(HttpError::InvalidRequest(format!(
                "the request's headers total {total} bytes; at most {MAX_HEADERS_TOTAL_BYTES} are allowed"
            )));
        }
        let body = request.body.as_ref().map_or(0, Vec::len);
        if body > self.max_request_bytes {
            return Err(HttpError::InvalidRequest(format!(
                "the request body is {body} bytes; at most {} are allowed",
                self.max_request_bytes
            )));
        }
        // Every attempt the request may make counts against the budget.
        let attempts = request.retries.saturating_add(1);
        if attempts > self.attempts_left {
            return Err(HttpError::Denied(format!(
                "this run has used its budget of outbound requests (limits.http_max_requests); \
                 {} left, the request may take {attempts}",
                self.attempts_left
            )));
        }
        self.attempts_left -= attempts;
        Ok(())
    }

    async fn send_request(&mut self, request: Request) -> Result<Response, HttpError> {
        self.admit(&request)?;
        let url = self.policy.resolve(
            &request.endpoint,
            request.base_url_override.as_deref(),
            &request.params,
        )?;
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| HttpError::InvalidRequest(format!("`{name}` is not a header name")))?;
            let value = HeaderValue::try_from(value.as_str()).map_err(|_| {
                HttpError::InvalidRequest(format!("the value of header `{name}` is not valid"))
            })?;
            headers.append(name, value);
        }
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let outbound = OutboundRequest {
            method,
            url,
            headers,
            body: request.body.map(Bytes::from),
            retries: request.retries,
            retry_on: Vec::new(),
            repeatable: false,
        };
        let response = self
            .policy
            .send(
                &self.client,
                outbound,
                self.authorization.as_ref(),
                Some(self.deadline),
            )
            .await?;
        Ok(Response {
            status: response.status.as_u16(),
            headers: response
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_string(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: response.body.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::providers::RequestAuth;

    fn state(limits: &Limits) -> HttpState {
        let policy = HttpPolicy::new("http://127.0.0.1:9", &[], RequestAuth::Bearer, None, limits)
            .expect("policy");
        HttpState::new(
            reqwest::Client::new(),
            Arc::new(policy),
            None,
            Instant::now() + std::time::Duration::from_secs(5),
            limits,
        )
    }

    fn request(headers: Vec<(String, String)>, body: Option<Vec<u8>>, retries: u32) -> Request {
        Request {
            method: Method::Post,
            endpoint: "/v1/x".into(),
            params: Vec::new(),
            headers,
            body,
            base_url_override: None,
            retries,
        }
    }

    #[test]
    fn header_bombs_are_invalid_requests_not_panics() {
        let mut state = state(&Limits::default());
        let many: Vec<(String, String)> = (0..20_000)
            .map(|index| (format!("x-{index}"), "v".into()))
            .collect();
        let error = state.admit(&request(many, None, 0)).expect_err("too many");
        assert!(
            matches!(error, HttpError::InvalidRequest(ref why) if why.contains("20000 headers")),
            "{error}"
        );
        let long = vec![("x-long".to_string(), "v".repeat(9 << 10))];
        assert!(matches!(
            state.admit(&request(long, None, 0)),
            Err(HttpError::InvalidRequest(_))
        ));
        let wide: Vec<(String, String)> = (0..90)
            .map(|index| (format!("x-{index}"), "v".repeat(1 << 10)))
            .collect();
        let error = state
            .admit(&request(wide, None, 0))
            .expect_err("total too large");
        assert!(error.to_string().contains("total"), "{error}");
        assert!(
            state
                .admit(&request(vec![("x-ok".into(), "v".into())], None, 0))
                .is_ok()
        );
    }

    #[test]
    fn framing_and_routing_headers_are_refused() {
        let mut state = state(&Limits::default());
        for name in [
            "Host",
            "content-length",
            "Transfer-Encoding",
            "connection",
            "UPGRADE",
        ] {
            let error = state
                .admit(&request(vec![(name.into(), "x".into())], None, 0))
                .expect_err(name);
            assert!(
                matches!(error, HttpError::InvalidRequest(ref why)
                    if why.contains(&format!("`{}`", name.to_ascii_lowercase()))),
                "{error}"
            );
        }
        assert!(
            state
                .admit(&request(vec![("content-type".into(), "x".into())], None, 0))
                .is_ok()
        );
    }

    #[test]
    fn request_bodies_and_request_counts_have_budgets() {
        let limits = Limits {
            http_max_request_bytes: 1_000,
            http_max_requests: 5,
            ..Limits::default()
        };
        let mut state = state(&limits);
        let error = state
            .admit(&request(Vec::new(), Some(vec![0; 1_001]), 0))
            .expect_err("body too large");
        assert!(error.to_string().contains("1001 bytes"), "{error}");
        state
            .admit(&request(Vec::new(), Some(vec![0; 1_000]), 2))
            .expect("3 attempts");
        state
            .admit(&request(Vec::new(), None, 1))
            .expect("2 attempts");
        let error = state
            .admit(&request(Vec::new(), None, 0))
            .expect_err("budget spent");
        assert!(
            matches!(error, HttpError::Denied(ref why) if why.contains("http_max_requests")),
            "{error}"
        );
    }
}
