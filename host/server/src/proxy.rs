//! The proxy: any method on `/proxy/{endpoint...}` is sent to the provider's API for a
//! connection, with the provider's authentication injected by the host, through the same
//! [`HttpPolicy::send`](terapi_runtime::HttpPolicy::send) as actions' requests (allow-list,
//! timeouts, retries honouring `X-Ratelimit-Reset`, body cap).
//!
//! Request headers (Nango's):
//!
//! * `Connection-Id`, `Provider-Config-Key` (required).
//! * `Retries`: further attempts on 429 (waiting for the rate-limit reset), 5xx and
//!   network errors (exponential backoff); default 0, at most [`MAX_RETRIES`]. A POST or
//!   PATCH is retried on 5xx and mid-exchange failures only with an `Idempotency-Key`
//!   (sent as `Nango-Proxy-Idempotency-Key`): without one the provider may act twice.
//! * `Retry-On`: further statuses to retry on, comma-separated (e.g. `409,425`).
//! * `Base-Url-Override`: another base URL; it must still be on the integration's
//!   allow-list, and credentials are only sent to the provider's own origin.
//! * `Decompress: true`: ask for gzip and return the body decompressed. Otherwise the
//!   body and its `Content-Encoding` pass through as the provider sent them.
//! * `Nango-Proxy-<Name>`: forwarded as `<Name>`. `Content-Type` is forwarded too.
//!
//! The query string and body are forwarded as they are. The response is the upstream
//! status, headers (less hop-by-hop ones) and body.

use super::AppState;
use super::actions::connection_headers;
use super::errors::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use terapi_runtime::outbound::{HttpError, OutboundRequest};

/// Most retries a proxy request may ask for.
pub const MAX_RETRIES: u32 = 10;

/// Response headers that describe one connection, not the message.
pub(crate) const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

const FORWARD_PREFIX: &str = "nango-proxy-";

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    headers
        .get(name)
        .map(|value| {
            value.to_str().map(str::trim).map_err(|_| {
                ApiError::invalid_headers(format!("the `{name}` header must be ASCII"))
            })
        })
        .transpose()
}

/// The options the proxy headers carry.
pub(crate) struct Options {
    pub(crate) retries: u32,
    pub(crate) retry_on: Vec<u16>,
    base_url_override: Option<String>,
    decompress: bool,
}

pub(crate) fn options(headers: &HeaderMap) -> Result<Options, ApiError> {
    let retries = match header_text(headers, "Retries")? {
        None => 0,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|retries| *retries <= MAX_RETRIES)
            .ok_or_else(|| {
                ApiError::invalid_headers(format!(
                    "the `Retries` header must be an integer from 0 to {MAX_RETRIES}"
                ))
            })?,
    };
    let retry_on = match header_text(headers, "Retry-On")? {
        None => Vec::new(),
        Some(text) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<u16>()
                    .ok()
                    .filter(|status| (100..600).contains(status))
                    .ok_or_else(|| {
                        ApiError::invalid_headers(
                            "the `Retry-On` header must be a comma-separated list of HTTP status codes",
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    let base_url_override = header_text(headers, "Base-Url-Override")?
        .filter(|text| !text.is_empty())
        .map(str::to_string);
    let decompress = match header_text(headers, "Decompress")? {
        None => false,
        Some(text) if text.eq_ignore_ascii_case("true") => true,
        Some(text) if text.eq_ignore_ascii_case("false") => false,
        Some(_) => {
            return Err(ApiError::invalid_headers(
                "the `Decompress` header must be `true` or `false`",
            ));
        }
    };
    Ok(Options {
        retries,
        retry_on,
        base_url_override,
        decompress,
    })
}

/// The headers sent upstream: `Nango-Proxy-X` as `X`, and `Content-Type`.
pub(crate) fn forwarded_headers(headers: &HeaderMap) -> Result<HeaderMap, ApiError> {
    let mut forwarded = HeaderMap::new();
    if let Some(content_type) = headers.get(CONTENT_TYPE) {
        forwarded.insert(CONTENT_TYPE, content_type.clone());
    }
    for (name, value) in headers {
        let Some(stripped) = name.as_str().strip_prefix(FORWARD_PREFIX) else {
            continue;
        };
        let target = HeaderName::try_from(stripped).map_err(|_| {
            ApiError::invalid_headers(format!("`{name}` does not name a header to forward"))
        })?;
        if HOP_BY_HOP.contains(&target.as_str()) || target == axum::http::header::HOST {
            continue;
        }
        if target == CONTENT_TYPE {
            forwarded.remove(CONTENT_TYPE);
        }
        forwarded.append(target, value.clone());
    }
    // `append` after a `remove` keeps every forwarded Content-Type value.
    Ok(forwarded)
}

fn upstream_error(error: HttpError) -> ApiError {
    let (status, code) = match &error {
        HttpError::Denied(_) => (StatusCode::FORBIDDEN, "host_not_allowed"),
        HttpError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        HttpError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
        HttpError::Transport(_) => (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
        HttpError::TooLarge(_) => (StatusCode::BAD_GATEWAY, "response_too_large"),
    };
    ApiError::new(status, code, error.to_string())
}

/// Marks an upstream response, which passes through untouched whatever its status.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Proxied;

/// Any method on `/proxy/{endpoint...}`.
pub async fn proxy(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (connection_id, key) = connection_headers(&headers)?;
    let options = options(&headers)?;
    let runtime = state.runtime();
    let policy = runtime
        .http_policy(&key)
        .ok_or_else(|| ApiError::unknown_integration(&key))?;
    // The connection with the `Authorization` value derived from it: the same one the
    // connection's actions get.
    let resolved = runtime
        .connection_for_call(&key, &connection_id)
        .await
        .map_err(ApiError::from)?;
    // The raw (still percent-encoded) path after `/proxy`.
    let endpoint = uri.path().strip_prefix("/proxy").unwrap_or(uri.path());
    let mut url = policy
        .resolve(endpoint, options.base_url_override.as_deref(), &[])
        .map_err(upstream_error)?;
    if let Some(query) = uri.query().filter(|query| !query.is_empty()) {
        url.set_query(Some(query));
    }
    let request = OutboundRequest {
        method: method.clone(),
        url,
        headers: forwarded_headers(&headers)?,
        body: (!body.is_empty()).then_some(body),
        retries: options.retries,
        retry_on: options.retry_on,
        repeatable: false,
    };
    let client = if options.decompress {
        runtime.http_client()
    } else {
        state.raw_client()
    };
    let response = policy
        .send(client, request, resolved.authorization.as_ref(), None)
        .await
        .map_err(upstream_error)?;
    let mut out = Response::new(Body::from(response.body));
    *out.status_mut() = response.status;
    out.extensions_mut().insert(Proxied);
    for (name, value) in &response.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(out.into_response())
}
