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

/// What one invocation's HTTP calls share.
pub(crate) struct HttpState {
    client: reqwest::Client,
    policy: Arc<HttpPolicy>,
    /// The header value the host injects; secret.
    authorization: Option<HeaderValue>,
    deadline: Instant,
}

impl HttpState {
    /// The state of an invocation whose requests go out with `client` under `policy`,
    /// authenticated with `authorization`, none of them past `deadline`.
    pub(crate) fn new(
        client: reqwest::Client,
        policy: Arc<HttpPolicy>,
        authorization: Option<HeaderValue>,
        deadline: Instant,
    ) -> Self {
        HttpState {
            client,
            policy,
            authorization,
            deadline,
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
    async fn send_request(&self, request: Request) -> Result<Response, HttpError> {
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
