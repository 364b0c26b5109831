//! Outbound HTTP through the host.
//!
//! The host performs every request: it resolves the endpoint against the provider's base
//! URL (`https://api.checkr.com` for Checkr), refuses hosts outside the integration's
//! allow-list, injects the provider's authentication when the request sets no
//! `Authorization` header, enforces timeouts and body limits, and retries when asked to.
//!
//! Any HTTP status is a [`Response`]; [`HttpError`] means no response was obtained.
//! [`Response::json`] turns a non-2xx response into an [`ActionError`] carrying the
//! upstream status and error message, so the common case stays one line:
//!
//! ```no_run
//! # use terapi_sdk::{ActionError, Request};
//! # fn f() -> Result<serde_json::Value, ActionError> {
//! let account: serde_json::Value = terapi_sdk::get(Request::new("/v1/account"))?.json()?;
//! # Ok(account) }
//! ```

use crate::ActionError;
use crate::bindings::terapi::runtime::http as wit;
use base64::Engine as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt;

/// HTTP methods the host performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl From<Method> for wit::Method {
    fn from(method: Method) -> Self {
        match method {
            Method::Get => wit::Method::Get,
            Method::Post => wit::Method::Post,
            Method::Put => wit::Method::Put,
            Method::Patch => wit::Method::Patch,
            Method::Delete => wit::Method::Delete,
        }
    }
}

/// A request for the host to perform. Built with chained calls:
///
/// ```no_run
/// # use terapi_sdk::Request;
/// let request = Request::new("/v1/candidates")
///     .param("email", "jane@example.com")
///     .param("per_page", "100")
///     .retries(3);
/// let response = terapi_sdk::get(request);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    method: Method,
    endpoint: String,
    params: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    base_url_override: Option<String>,
    retries: u32,
}

impl Request {
    /// A GET request for `endpoint`: a path such as `/v1/account`, resolved against the
    /// provider's base URL, or an absolute URL (which must be on the allow-list — handy for
    /// following a `next_href` link).
    pub fn new(endpoint: impl Into<String>) -> Self {
        Request {
            method: Method::Get,
            endpoint: endpoint.into(),
            params: Vec::new(),
            headers: Vec::new(),
            body: None,
            base_url_override: None,
            retries: 0,
        }
    }

    /// Sets the method (the free functions [`get`], [`post`], ... set it for you).
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Appends a query parameter.
    pub fn param(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.params.push((name.into(), value.to_string()));
        self
    }

    /// Appends a header. Setting `Authorization` stops the host from injecting the
    /// provider's own authentication.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn json(self, body: &impl Serialize) -> Result<Self, ActionError> {
        let bytes = serde_json::to_vec(body)?;
        Ok(self.header("Content-Type", "application/json").body(bytes))
    }

    /// Sends the request to this base URL instead of the provider's. The host refuses it
    /// unless the integration allow-lists that host.
    pub fn base_url_override(mut self, base_url: impl Into<String>) -> Self {
        self.base_url_override = Some(base_url.into());
        self
    }

    /// How many times the host retries on 429 (waiting for the provider's rate-limit
    /// reset), 5xx and network errors. The default, 0, means a single attempt. A POST or
    /// PATCH without an `Idempotency-Key` header is retried only on 429 and when the
    /// connection could not be made: after a 5xx or a failure mid-exchange the provider
    /// may have acted on it, and a retry could act twice.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The endpoint as given.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The query parameters, in order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// Sets query parameter `name` to `value`, replacing every earlier value of it.
    pub fn set_param(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        let name = name.into();
        self.params.retain(|(existing, _)| *existing != name);
        self.params.push((name, value.to_string()));
        self
    }

    /// The same request (method, headers, body, retries) sent to `link` instead, without
    /// the query parameters: a next-page link carries its own.
    pub(crate) fn follow(mut self, link: String) -> Self {
        self.endpoint = link;
        self.params.clear();
        self
    }

    /// `METHOD endpoint`, for error messages.
    pub(crate) fn request_line(&self) -> String {
        format!("{} {}", self.method.as_str(), self.endpoint)
    }

    fn into_wit(self) -> wit::Request {
        wit::Request {
            method: self.method.into(),
            endpoint: self.endpoint,
            params: self.params,
            headers: self.headers,
            body: self.body,
            base_url_override: self.base_url_override,
            retries: self.retries,
        }
    }
}

/// An HTTP response, whatever its status.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Response headers in order; names are lowercase.
    pub headers: Vec<(String, String)>,
    /// The body, at most the host's configured size.
    pub body: Vec<u8>,
    /// `METHOD endpoint`, for error messages.
    request_line: String,
}

impl Response {
    /// A response to `request_line` (`METHOD endpoint`, used in error messages), for
    /// code that produces responses itself: tests, caches.
    pub fn new(
        request_line: impl Into<String>,
        status: u16,
        headers: Vec<(String, String)>,
        body: impl Into<Vec<u8>>,
    ) -> Self {
        Response {
            status,
            headers,
            body: body.into(),
            request_line: request_line.into(),
        }
    }

    /// `METHOD endpoint` of the request this answers.
    pub fn request_line(&self) -> &str {
        &self.request_line
    }

    /// True for 2xx statuses.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as text (invalid UTF-8 is replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Returns the response if its status is 2xx, or an [`ActionError`] describing the
    /// upstream failure: the message names the request, the status and the API's own
    /// error message; the payload is `{"status": ..., "error": ..., "body": ...}`.
    pub fn error_for_status(self) -> Result<Self, ActionError> {
        if self.is_success() {
            return Ok(self);
        }
        let body: Value =
            serde_json::from_slice(&self.body).unwrap_or_else(|_| Value::String(self.text()));
        let upstream_message = match &body {
            Value::Object(map) => map
                .get("error")
                .or_else(|| map.get("message"))
                .map(|value| match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                }),
            Value::String(text) if !text.is_empty() => Some(text.clone()),
            _ => None,
        };
        let message = match &upstream_message {
            Some(text) => format!(
                "{} failed with status {}: {text}",
                self.request_line, self.status
            ),
            None => format!("{} failed with status {}", self.request_line, self.status),
        };
        Err(ActionError::new(message).with_payload(json!({
            "status": self.status,
            "error": upstream_message,
            "body": body,
        })))
    }

    /// Deserializes a 2xx body as JSON into `T`. A non-2xx status becomes the error of
    /// [`Response::error_for_status`]; a body that does not match `T` becomes an error
    /// naming the offending field, or, when the body is not JSON and says so in its
    /// `Content-Type` (an HTML maintenance page), naming what came instead.
    pub fn json<T: DeserializeOwned>(self) -> Result<T, ActionError> {
        let response = self.error_for_status()?;
        let deserializer = &mut serde_json::Deserializer::from_slice(&response.body);
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let content_type = response
                .header("content-type")
                .map(|value| {
                    value
                        .split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase()
                })
                .filter(|value| !value.is_empty() && !value.contains("json"));
            if let Some(content_type) = content_type {
                return ActionError::new(format!(
                    "{} returned a `{content_type}` body where JSON was expected: {}",
                    response.request_line,
                    error.inner()
                ));
            }
            ActionError::new(format!(
                "{} returned an unexpected body at `{}`: {}",
                response.request_line,
                error.path(),
                error.inner()
            ))
        })
    }
}

/// Why the host could not obtain a response.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpError {
    /// The integration may not reach this URL; nothing was sent.
    Denied(String),
    /// The request did not complete in time.
    Timeout(String),
    /// Connecting, sending or receiving failed.
    Transport(String),
    /// The response body exceeded the host's limit (in bytes).
    TooLarge(u64),
    /// The request is malformed.
    InvalidRequest(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Denied(why) => write!(f, "request denied: {why}"),
            HttpError::Timeout(why) => write!(f, "request timed out: {why}"),
            HttpError::Transport(why) => write!(f, "request failed: {why}"),
            HttpError::TooLarge(limit) => {
                write!(
                    f,
                    "response body larger than the host's limit of {limit} bytes"
                )
            }
            HttpError::InvalidRequest(why) => write!(f, "invalid request: {why}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl HttpError {
    fn kind(&self) -> &'static str {
        match self {
            HttpError::Denied(_) => "denied",
            HttpError::Timeout(_) => "timeout",
            HttpError::Transport(_) => "transport",
            HttpError::TooLarge(_) => "too_large",
            HttpError::InvalidRequest(_) => "invalid_request",
        }
    }
}

impl From<wit::Error> for HttpError {
    fn from(error: wit::Error) -> Self {
        match error {
            wit::Error::Denied(why) => HttpError::Denied(why),
            wit::Error::Timeout(why) => HttpError::Timeout(why),
            wit::Error::Transport(why) => HttpError::Transport(why),
            wit::Error::TooLarge(limit) => HttpError::TooLarge(limit),
            wit::Error::InvalidRequest(why) => HttpError::InvalidRequest(why),
        }
    }
}

impl From<HttpError> for ActionError {
    fn from(error: HttpError) -> Self {
        ActionError::new(error.to_string()).with_payload(json!({ "http_error": error.kind() }))
    }
}

/// Sends `request` with the method it carries.
pub fn send(request: Request) -> Result<Response, HttpError> {
    let request_line = request.request_line();
    let response = wit::send(&request.into_wit())?;
    Ok(Response {
        status: response.status,
        headers: response.headers,
        body: response.body,
        request_line,
    })
}

/// Sends `request` as a GET.
pub fn get(request: Request) -> Result<Response, HttpError> {
    send(request.method(Method::Get))
}

/// Sends `request` as a POST.
pub fn post(request: Request) -> Result<Response, HttpError> {
    send(request.method(Method::Post))
}

/// Sends `request` as a PUT.
pub fn put(request: Request) -> Result<Response, HttpError> {
    send(request.method(Method::Put))
}

/// Sends `request` as a PATCH.
pub fn patch(request: Request) -> Result<Response, HttpError> {
    send(request.method(Method::Patch))
}

/// Sends `request` as a DELETE.
pub fn delete(request: Request) -> Result<Response, HttpError> {
    send(request.method(Method::Delete))
}

/// The value of an HTTP Basic `Authorization` header: `Basic base64(user:password)`.
/// Checkr takes the access token as user name and an empty password:
///
/// ```
/// assert_eq!(terapi_sdk::basic_auth("tok", ""), "Basic dG9rOg==");
/// ```
pub fn basic_auth(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}
