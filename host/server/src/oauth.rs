//! The browser side of OAuth: `GET /oauth/connect/{providerConfigKey}` and
//! `GET /oauth/callback`.
//!
//! `connect` needs either the secret key (`Authorization: Bearer`, for a backend that
//! then hands the `Location` to the browser) or a signed link from
//! [`connect_link`](super::connect_link) / `terapi connect`, so nobody else can start an
//! authorization that would replace a connection's credentials. It stores a pending
//! authorization (the state's digest, bound to the integration and connection id, valid
//! for 10 minutes) and redirects to the provider's authorize page.
//!
//! `callback` consumes the state (once), refuses unknown, expired or reused states and
//! `error=` answers without contacting the provider, exchanges the code, runs the
//! post-connection check and stores the connection.
//!
//! Both answer with a small HTML page when the client asks for HTML (a browser), else
//! with JSON.

use super::AppState;
use super::errors::ApiError;
use axum::extract::{Path, Query, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use terapi_runtime::service::Callback;
use time::OffsetDateTime;

/// Longest connection id accepted.
const MAX_CONNECTION_ID: usize = 255;

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn html_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">\
         <h1>{title}</h1><p>{message}</p></body></html>\n",
        title = escape(title),
        message = escape(message),
    );
    (
        status,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// An error, as a page for a browser or as JSON.
fn failure(html: bool, error: ApiError) -> Response {
    if html {
        html_page(error.status, "Connection failed", &error.message)
    } else {
        error.into_response()
    }
}

fn check_access(
    state: &AppState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    key: &str,
    connection_id: &str,
) -> Result<(), ApiError> {
    if super::auth::bearer(headers)?.is_some() {
        return super::auth::check(state, headers);
    }
    let (Some(expires), Some(signature)) = (query.get("expires"), query.get("signature")) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_auth_header",
            "starting a connection needs the secret key (`Authorization: Bearer`) or a signed \
             link (`terapi connect` prints one)",
        ));
    };
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_connect_link",
            "the connect link is invalid or has expired; ask for a new one",
        )
    };
    let expires: i64 = expires.parse().map_err(|_| invalid())?;
    if expires < OffsetDateTime::now_utc().unix_timestamp()
        || !state
            .secret_key()
            .verify_link(key, connection_id, expires, signature)
    {
        return Err(invalid());
    }
    Ok(())
}

/// `GET /oauth/connect/{providerConfigKey}?connection_id=...`.
pub async fn connect(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let html = wants_html(&headers);
    match start(&state, &key, &query, &headers).await {
        Ok(location) => match HeaderValue::try_from(location) {
            Ok(location) => (StatusCode::FOUND, [(LOCATION, location)]).into_response(),
            Err(_) => failure(
                html,
                ApiError::internal("the authorize URL is not a valid header"),
            ),
        },
        Err(error) => failure(html, error),
    }
}

async fn start(
    state: &AppState,
    key: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let connection_id = query
        .get("connection_id")
        .map(|id| id.trim())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_query("the `connection_id` query parameter is required")
        })?;
    if connection_id.len() > MAX_CONNECTION_ID || connection_id.chars().any(char::is_control) {
        return Err(ApiError::invalid_query(format!(
            "`connection_id` must be at most {MAX_CONNECTION_ID} bytes without control characters"
        )));
    }
    check_access(state, headers, query, key, connection_id)?;
    let url = state.service().start_connect(key, connection_id).await?;
    Ok(url.to_string())
}

/// `GET /oauth/callback?code&state[&error]`.
pub async fn callback(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let html = wants_html(&headers);
    let callback = Callback {
        state: query.get("state").cloned(),
        code: query.get("code").cloned(),
        error: query.get("error").cloned(),
        error_description: query.get("error_description").cloned(),
    };
    match state
        .service()
        .finish_connect(&callback)
        .await
        .map_err(ApiError::from)
    {
        Ok(done) => {
            if html {
                html_page(
                    StatusCode::OK,
                    "Connected",
                    &format!(
                        "Connection `{}` to {} is ready. You can close this window.",
                        done.connection_id, done.provider_config_key
                    ),
                )
            } else {
                (
                    StatusCode::OK,
                    axum::Json(json!({
                        "success": true,
                        "connection_id": done.connection_id,
                        "provider_config_key": done.provider_config_key,
                    })),
                )
                    .into_response()
            }
        }
        Err(error) => failure(html, error),
    }
}
