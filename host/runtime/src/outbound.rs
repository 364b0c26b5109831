//! Outbound HTTP to providers: where an integration may send requests, how they are
//! authenticated, timed, retried and capped.
//!
//! Every request terapi sends to a provider goes through [`HttpPolicy::send`]: a guest's
//! (the `terapi:runtime/http` capability), the HTTP server's proxy, the OAuth flows'
//! (post-connection check, revocation). A request is judged the same way whoever asks:
//!
//! * **Where.** A relative endpoint resolves against the provider's API base URL. An
//!   absolute endpoint or a base-URL override must be on the provider's origin or on the
//!   integration's allow-list; anything else is `denied` and nothing is sent. Redirects
//!   are not followed (a 3xx reaches the guest), so the allow-list cannot be sidestepped.
//! * **Authentication.** If the guest sets no `Authorization` header and the request goes
//!   to the provider's own origin, the host adds the provider's scheme (Checkr: Basic
//!   with the token as user name). Credentials are never sent to another host.
//! * **Limits.** Each attempt has a timeout, bounded by the invocation's deadline; the
//!   response body is capped.
//! * **Retries.** Up to `retries` more attempts on 429 (waiting until the provider's
//!   rate-limit reset header, ISO-8601 or epoch seconds), 5xx and network errors
//!   (exponential backoff). A request that is not idempotent (POST, PATCH) without an
//!   `Idempotency-Key` header is retried only when the upstream cannot have acted on it:
//!   a 429, or a connection that was never made. After a 5xx or a failure mid-exchange
//!   it might have, and a retry could do it twice (two background checks ordered), so
//!   the caller gets the answer and decides.
//!
//! The `Authorization` value is derived from a connection's credentials by one function,
//! [`HttpPolicy::authorization_header`]; the runtime keeps what it derives per connection
//! (see `Runtime::connection_for_call`), so the proxy and actions share it.

use crate::config::{IntegrationConfig, Limits};
use crate::providers::{Provider, RequestAuth};
use crate::store::Credentials;
use crate::util::{BodyError, read_capped, root_cause};
use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;
use url::Url;

/// Builds the HTTP client terapi sends provider requests with: terapi's user agent, no
/// redirects followed (a 3xx reaches the caller, so an allow-list cannot be sidestepped
/// through a redirect). `decompress: false` passes compressed bodies through untouched
/// (what the proxy does unless asked to decompress).
pub fn client(decompress: bool) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder()
        .user_agent(concat!("terapi/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none());
    let builder = if decompress {
        builder
    } else {
        builder.no_gzip()
    };
    builder
        .build()
        .map_err(|error| format!("cannot build an HTTP client: {}", root_cause(&error)))
}

/// Longest backoff between two retries of a 5xx or network error.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why an outbound request produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The integration may not reach this URL; nothing was sent.
    #[error("{0}")]
    Denied(String),
    /// The request did not complete in time.
    #[error("{0}")]
    Timeout(String),
    /// Connecting, sending or receiving failed.
    #[error("{0}")]
    Transport(String),
    /// The response body exceeded the limit (bytes).
    #[error("the response body exceeds the limit of {0} bytes")]
    TooLarge(u64),
    /// The request itself is malformed (bad endpoint, header, ...).
    #[error("{0}")]
    InvalidRequest(String),
}

impl HttpError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            HttpError::Denied(_) => "denied",
            HttpError::Timeout(_) => "timeout",
            HttpError::Transport(_) => "transport",
            HttpError::TooLarge(_) => "too_large",
            HttpError::InvalidRequest(_) => "invalid_request",
        }
    }
}

/// A request to send through [`HttpPolicy::send`], its URL already resolved by
/// [`HttpPolicy::resolve`].
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// The method.
    pub method: reqwest::Method,
    /// Where to (allowed by the policy).
    pub url: Url,
    /// Headers as the caller sets them; `Authorization` is added by the host only when
    /// absent and only for the provider's own origin.
    pub headers: HeaderMap,
    /// The body, if any.
    pub body: Option<Bytes>,
    /// Further attempts after the first on 429, 5xx, network errors and `retry_on`.
    pub retries: u32,
    /// Further statuses to retry on (with exponential backoff).
    pub retry_on: Vec<u16>,
    /// The caller knows that doing the request twice does no harm even though its method
    /// is not idempotent (revoking a token), so it is retried like a GET.
    pub repeatable: bool,
}

impl OutboundRequest {
    /// A request without headers, body or retries.
    pub fn new(method: reqwest::Method, url: Url) -> Self {
        OutboundRequest {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            retries: 0,
            retry_on: Vec::new(),
            repeatable: false,
        }
    }
}

/// What came back: the final attempt's status, headers and (capped) body.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    /// The status.
    pub status: reqwest::StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, at most the policy's limit.
    pub body: Bytes,
}

/// Where an integration's actions may send requests, and how.
#[derive(Debug)]
pub struct HttpPolicy {
    base_url: Url,
    allowed_hosts: Vec<String>,
    request_auth: RequestAuth,
    rate_limit_reset_header: Option<HeaderName>,
    max_response_bytes: u64,
    attempt_timeout: Duration,
    retry_base_delay: Duration,
    max_rate_limit_wait: Duration,
}

impl HttpPolicy {
    /// A policy for an integration whose API lives at `base_url`.
    pub fn new(
        base_url: &str,
        allowed_hosts: &[String],
        request_auth: RequestAuth,
        rate_limit_reset_header: Option<&str>,
        limits: &Limits,
    ) -> Result<Self, String> {
        let base_url = Url::parse(base_url)
            .map_err(|error| format!("api_base_url `{base_url}` is not a URL: {error}"))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
            return Err(format!(
                "api_base_url `{base_url}` must be an http(s) URL with a host"
            ));
        }
        let rate_limit_reset_header = rate_limit_reset_header
            .map(|name| {
                HeaderName::try_from(name)
                    .map_err(|_| format!("rate_limit_reset_header `{name}` is not a header name"))
            })
            .transpose()?;
        Ok(HttpPolicy {
            base_url,
            allowed_hosts: allowed_hosts
                .iter()
                .map(|host| host.to_ascii_lowercase())
                .collect(),
            request_auth,
            rate_limit_reset_header,
            max_response_bytes: limits.http_max_response_bytes,
            attempt_timeout: limits.http_timeout(),
            retry_base_delay: Duration::from_millis(limits.http_retry_base_delay_ms),
            max_rate_limit_wait: Duration::from_millis(limits.http_max_rate_limit_wait_ms),
        })
    }

    /// The policy of a configured integration: the provider's base URL unless the
    /// configuration overrides it, the integration's allow-list, the provider's
    /// authentication scheme and rate-limit header.
    pub fn for_integration(
        config: &IntegrationConfig,
        provider: &Provider,
        limits: &Limits,
    ) -> Result<Self, String> {
        let base_url = config
            .api_base_url
            .as_deref()
            .unwrap_or(&provider.api_base_url);
        HttpPolicy::new(
            base_url,
            &config.allowed_hosts,
            provider.request_auth,
            provider.rate_limit_reset_header.as_deref(),
            limits,
        )
    }

    /// The provider's API base URL.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    fn is_provider_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base_url.scheme()
            && url.host_str() == self.base_url.host_str()
            && url.port_or_known_default() == self.base_url.port_or_known_default()
    }

    fn is_allowed(&self, url: &Url) -> bool {
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        if self.is_provider_origin(url) {
            return true;
        }
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        let with_port = url
            .port_or_known_default()
            .map(|port| format!("{host}:{port}"));
        self.allowed_hosts
            .iter()
            .any(|allowed| *allowed == host || Some(allowed) == with_port.as_ref())
    }

    /// The URL a request goes to, or why it may not be sent.
    pub fn resolve(
        &self,
        endpoint: &str,
        base_url_override: Option<&str>,
        params: &[(String, String)],
    ) -> Result<Url, HttpError> {
        // An endpoint with a scheme of its own (any scheme, any case: `HTTP://`, `file:`,
        // `gopher:`) is absolute and judged as such, never pasted onto the base URL as a
        // path.
        let mut url = match Url::parse(endpoint) {
            Ok(absolute) => absolute,
            Err(error) if endpoint.starts_with("http://") || endpoint.starts_with("https://") => {
                return Err(HttpError::InvalidRequest(format!(
                    "endpoint `{endpoint}` is not a URL: {error}"
                )));
            }
            Err(_) => {
                let base = match base_url_override {
                    Some(base) => Url::parse(base).map_err(|error| {
                        HttpError::InvalidRequest(format!(
                            "base-url-override `{base}` is not a URL: {error}"
                        ))
                    })?,
                    None => self.base_url.clone(),
                };
                join(&base, endpoint)?
            }
        };
        if !self.is_allowed(&url) {
            return Err(HttpError::Denied(format!(
                "{} is not on this integration's allow-list (allowed: {}{})",
                origin(&url),
                origin(&self.base_url),
                self.allowed_hosts
                    .iter()
                    .map(|host| format!(", {host}"))
                    .collect::<String>()
            )));
        }
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        Ok(url)
    }

    /// [`HttpPolicy::authorization`] as a header value marked sensitive (never logged).
    pub fn authorization_header(&self, credentials: &Credentials) -> Option<HeaderValue> {
        let mut value = HeaderValue::try_from(self.authorization(credentials)?).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// Whether `url` is on the provider's own origin (where credentials may be sent).
    pub fn is_provider_url(&self, url: &Url) -> bool {
        self.is_provider_origin(url)
    }

    /// The `Authorization` value the host adds for these credentials, if any.
    pub fn authorization(&self, credentials: &Credentials) -> Option<String> {
        let basic = |user: &str, password: &str| {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {encoded}")
        };
        let token = match credentials {
            Credentials::OAuth2 { access_token, .. } => access_token,
            Credentials::ApiKey { api_key } => api_key,
            Credentials::Basic { username, password } => return Some(basic(username, password)),
            Credentials::None => return None,
        };
        Some(match self.request_auth {
            RequestAuth::Bearer => format!("Bearer {token}"),
            RequestAuth::BasicTokenAsUsername => basic(token, ""),
        })
    }
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Appends `endpoint` to `base`, keeping the base's path (`https://h/api` + `/v1/x` →
/// `https://h/api/v1/x`).
fn join(base: &Url, endpoint: &str) -> Result<Url, HttpError> {
    let text = format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        endpoint.trim_start_matches('/')
    );
    Url::parse(&text)
        .map_err(|error| HttpError::InvalidRequest(format!("endpoint `{endpoint}`: {error}")))
}

impl HttpPolicy {
    /// Sends a request under this policy: injects `authorization` (when the request has
    /// no `Authorization` header and goes to the provider's origin), applies the
    /// per-attempt timeout, retries, and caps the response body. With a `deadline`, no
    /// attempt or wait extends past it.
    ///
    /// Any HTTP status is a response; the last attempt's is returned when retries run
    /// out.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        request: OutboundRequest,
        authorization: Option<&HeaderValue>,
        deadline: Option<Instant>,
    ) -> Result<OutboundResponse, HttpError> {
        let OutboundRequest {
            method,
            url,
            mut headers,
            body,
            retries,
            retry_on,
            repeatable,
        } = request;
        if !self.is_allowed(&url) {
            return Err(HttpError::Denied(format!(
                "{} is not on this integration's allow-list",
                origin(&url)
            )));
        }
        if let Some(authorization) = authorization
            && !headers.contains_key(AUTHORIZATION)
            && self.is_provider_origin(&url)
        {
            headers.insert(AUTHORIZATION, authorization.clone());
        }
        let fits =
            |wait: Duration| deadline.is_none_or(|deadline| Instant::now() + wait < deadline);
        let safe_to_repeat = repeatable || is_safe_to_repeat(&method, &headers);
        let mut attempt = 0;
        loop {
            let mut timeout = self.attempt_timeout;
            if let Some(deadline) = deadline {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    return Err(HttpError::Timeout(format!(
                        "the deadline passed before {method} {url} could be sent"
                    )));
                }
                timeout = timeout.min(remaining);
            }
            let mut builder = client
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .timeout(timeout);
            if let Some(body) = &body {
                builder = builder.body(body.clone());
            }
            let retries_left = attempt < retries;
            match builder.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retryable = status.as_u16() == 429
                        || (safe_to_repeat
                            && (status.is_server_error() || retry_on.contains(&status.as_u16())));
                    if retries_left && retryable {
                        let wait = if status.as_u16() == 429 {
                            self.rate_limit_wait(response.headers(), attempt)
                        } else {
                            Some(self.backoff(attempt))
                        };
                        if let Some(wait) = wait.filter(|wait| fits(*wait)) {
                            tracing::debug!(%url, %status, ?wait, attempt, "retrying");
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                            continue;
                        }
                    }
                    return self.read(response).await;
                }
                Err(error) => {
                    // A connection never made carried nothing to the upstream.
                    let never_sent = error.is_connect();
                    let error = transport_error(&error, &method, &url);
                    if retries_left && (safe_to_repeat || never_sent) {
                        let wait = self.backoff(attempt);
                        if fits(wait) {
                            tracing::debug!(%url, ?wait, attempt, "retrying after a network error");
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                            continue;
                        }
                    }
                    return Err(error);
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.retry_base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(MAX_BACKOFF)
    }

    /// How long to wait before retrying a 429: until the reset time in the provider's
    /// header, else the usual backoff. `None` if the reset is further away than we accept.
    fn rate_limit_wait(&self, headers: &HeaderMap, attempt: u32) -> Option<Duration> {
        let reset = self
            .rate_limit_reset_header
            .as_ref()
            .and_then(|name| headers.get(name))
            .and_then(|value| value.to_str().ok())
            .and_then(parse_reset);
        let wait = match reset {
            Some(reset) => {
                let seconds = (reset - OffsetDateTime::now_utc())
                    .as_seconds_f64()
                    .max(0.0);
                // The reset is to the second; a little slack avoids arriving just before it.
                Duration::from_secs_f64(seconds) + Duration::from_millis(50)
            }
            None => self.backoff(attempt),
        };
        (wait <= self.max_rate_limit_wait).then_some(wait)
    }

    async fn read(&self, response: reqwest::Response) -> Result<OutboundResponse, HttpError> {
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_capped(response, self.max_response_bytes)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge(limit) => HttpError::TooLarge(limit),
                BodyError::Timeout => HttpError::Timeout(error.to_string()),
                BodyError::Transport(_) => HttpError::Transport(error.to_string()),
            })?;
        Ok(OutboundResponse {
            status,
            headers,
            body: Bytes::from(body),
        })
    }
}

/// Whether sending a request twice does no more than sending it once: idempotent methods,
/// or a request carrying an `Idempotency-Key` (the upstream answers a repeat with the
/// first answer, as Checkr does).
pub fn is_safe_to_repeat(method: &reqwest::Method, headers: &HeaderMap) -> bool {
    use reqwest::Method;
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    ) || headers.contains_key("idempotency-key")
}

fn transport_error(error: &reqwest::Error, method: &reqwest::Method, url: &Url) -> HttpError {
    // reqwest's Display repeats the URL; say it once, with the root cause.
    let cause = root_cause(error);
    let what = format!("{method} {url}");
    if error.is_timeout() {
        HttpError::Timeout(format!("{what} timed out"))
    } else if error.is_connect() {
        HttpError::Transport(format!("{what}: cannot connect: {cause}"))
    } else {
        HttpError::Transport(format!("{what}: {cause}"))
    }
}

/// Parses a rate-limit reset value: an ISO-8601 / RFC 3339 instant (what Checkr
/// documents) or Unix epoch seconds (what some clients expect).
pub fn parse_reset(value: &str) -> Option<OffsetDateTime> {
    let value = value.trim();
    if let Ok(instant) = OffsetDateTime::parse(value, &Rfc3339) {
        return Some(instant);
    }
    value
        .parse::<i64>()
        .ok()
        .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> HttpPolicy {
        let allowed: Vec<String> = allowed.iter().map(|host| host.to_string()).collect();
        HttpPolicy::new(
            "https://api.checkr.com",
            &allowed,
            RequestAuth::BasicTokenAsUsername,
            Some("X-Ratelimit-Reset"),
            &Limits::default(),
        )
        .expect("valid policy")
    }

    #[test]
    fn relative_endpoints_resolve_against_the_base_url_with_params() {
        let url = policy(&[])
            .resolve(
                "/v1/candidates",
                None,
                &[("email".into(), "a b@x.com".into())],
            )
            .expect("allowed");
        assert_eq!(
            url.as_str(),
            "https://api.checkr.com/v1/candidates?email=a+b%40x.com"
        );
    }

    #[test]
    fn base_path_is_kept() {
        let policy = HttpPolicy::new(
            "http://127.0.0.1:9000/checkr/",
            &[],
            RequestAuth::Bearer,
            None,
            &Limits::default(),
        )
        .expect("valid");
        let url = policy.resolve("v1/account", None, &[]).expect("allowed");
        assert_eq!(url.as_str(), "http://127.0.0.1:9000/checkr/v1/account");
    }

    #[test]
    fn other_hosts_are_denied_unless_allow_listed() {
        let error = policy(&[])
            .resolve("https://evil.example/steal", None, &[])
            .expect_err("denied");
        assert!(matches!(error, HttpError::Denied(ref why) if why.contains("evil.example")));
        let error = policy(&[])
            .resolve("/v1/account", Some("https://evil.example"), &[])
            .expect_err("override denied");
        assert!(matches!(error, HttpError::Denied(_)));
        assert!(
            policy(&["evil.example"])
                .resolve("https://evil.example/x", None, &[])
                .is_ok()
        );
        assert!(
            policy(&["evil.example:8443"])
                .resolve("https://evil.example/x", None, &[])
                .is_err(),
            "a port-qualified entry allows only that port"
        );
    }

    #[test]
    fn endpoints_with_another_scheme_or_case_are_absolute_and_denied() {
        for endpoint in [
            "file:///etc/passwd",
            "gopher://127.0.0.1:70/_x",
            "HTTP://evil.example/x",
            "ftp://api.checkr.com/v1",
        ] {
            let error = policy(&[])
                .resolve(endpoint, None, &[])
                .expect_err(endpoint);
            assert!(matches!(error, HttpError::Denied(_)), "{endpoint}: {error}");
        }
        assert!(
            policy(&[])
                .resolve("HTTPS://API.checkr.com/v1/account", None, &[])
                .is_ok(),
            "the provider's origin in capitals is still the provider"
        );
    }

    #[test]
    fn same_host_on_another_scheme_or_port_is_not_the_provider() {
        assert!(
            policy(&[])
                .resolve("http://api.checkr.com/v1/account", None, &[])
                .is_err()
        );
        assert!(
            policy(&[])
                .resolve("https://api.checkr.com:8443/v1", None, &[])
                .is_err()
        );
        assert!(
            policy(&[])
                .resolve("https://api.checkr.com/v1?page=2", None, &[])
                .is_ok()
        );
    }

    #[test]
    fn checkr_auth_is_basic_with_the_token_as_user() {
        let header = policy(&[]).authorization(&Credentials::access_token("tok"));
        assert_eq!(header.as_deref(), Some("Basic dG9rOg=="));
        assert_eq!(policy(&[]).authorization(&Credentials::None), None);
    }

    #[test]
    fn only_idempotent_requests_are_safe_to_repeat() {
        let none = HeaderMap::new();
        let mut keyed = HeaderMap::new();
        keyed.insert("Idempotency-Key", HeaderValue::from_static("k-1"));
        for method in [
            reqwest::Method::GET,
            reqwest::Method::PUT,
            reqwest::Method::DELETE,
        ] {
            assert!(is_safe_to_repeat(&method, &none), "{method}");
        }
        for method in [reqwest::Method::POST, reqwest::Method::PATCH] {
            assert!(!is_safe_to_repeat(&method, &none), "{method}");
            assert!(is_safe_to_repeat(&method, &keyed), "{method} with a key");
        }
    }

    #[test]
    fn reset_header_accepts_iso_8601_and_epoch_seconds() {
        let iso = parse_reset("2018-02-02T16:39:00Z").expect("iso");
        assert_eq!(iso.unix_timestamp(), 1_517_589_540);
        let epoch = parse_reset("1517589540").expect("epoch");
        assert_eq!(epoch, iso);
        assert!(parse_reset("soon").is_none());
    }
}
