//! Checkr's partner OAuth: the authorize page (`GET /authorize/{client_id}`, also at
//! the older `/oauth/authorize/{client_id}`), which auto-approves (or, in deny mode,
//! denies) and redirects back with a single-use code valid for 5 minutes; the token
//! exchange (`POST /oauth/tokens`, form or JSON); and deauthorization
//! (`POST /oauth/deauthorize`, Basic auth with the customer's token).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use time::OffsetDateTime;
use url::{Host, Url};

use crate::auth::Auth;
use crate::config::{AccountSeed, OAuthApp};
use crate::error::{ApiError, ApiResult};
use crate::params::{self, Query};
use crate::state::Sim;

/// How long an authorization code may be exchanged.
pub(crate) const CODE_LIFETIME: time::Duration = time::Duration::minutes(5);

/// An issued authorization code.
#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub(crate) client_id: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) used: bool,
    /// Forced expiry (the `expire_codes` test hook).
    pub(crate) expired: bool,
}

/// The routes.
pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/authorize/{client_id}", get(authorize))
        .route("/oauth/authorize/{client_id}", get(authorize))
        .route("/oauth/tokens", post(tokens))
        .route("/oauth/deauthorize", post(deauthorize))
}

/// Whether the URL's host is a loopback address or `localhost`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Checks a requested redirect URI against the registered ones: https (http only for
/// loopback hosts), and the same scheme, host and port as a registered URI (Checkr
/// matches the domain; for loopback hosts the port is not compared).
fn check_redirect(requested: &Url, registered: &[String]) -> Result<(), ApiError> {
    let loopback = is_loopback(requested);
    match requested.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(ApiError::bad_request("redirect_uri must use https")),
    }
    let matches = registered
        .iter()
        .filter_map(|r| Url::parse(r).ok())
        .any(|r| {
            r.scheme() == requested.scheme()
                && r.host_str().map(str::to_ascii_lowercase)
                    == requested.host_str().map(str::to_ascii_lowercase)
                && (loopback || r.port_or_known_default() == requested.port_or_known_default())
        });
    if matches {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "redirect_uri does not match the redirect URI registered for this application",
        ))
    }
}

fn redirect(mut to: Url, pairs: &[(&str, &str)]) -> Response {
    {
        let mut query = to.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
    }
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(to.as_str()) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

async fn authorize(
    State(sim): State<Sim>,
    Path(client_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let query = Query::parse(raw.as_deref());
    let mut state = sim.lock();
    let app = state
        .oauth_apps
        .iter()
        .find(|a| a.client_id == client_id)
        .ok_or_else(|| ApiError::not_found("OAuth application not found"))?;
    let redirect_uri = query
        .get("redirect_uri")
        .map(str::to_string)
        .or_else(|| app.redirect_uris.first().cloned())
        .ok_or_else(|| ApiError::required("redirect_uri"))?;
    let redirect_url = Url::parse(&redirect_uri)
        .map_err(|_| ApiError::bad_request("redirect_uri is not a valid URL"))?;
    check_redirect(&redirect_url, &app.redirect_uris)?;
    let client_state = query.get("state").map(str::to_string);
    let with_state = |mut pairs: Vec<(&'static str, String)>| {
        if let Some(s) = &client_state {
            pairs.push(("state", s.clone()));
        }
        pairs
    };
    let respond = |pairs: Vec<(&'static str, String)>| {
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Ok(redirect(redirect_url.clone(), &borrowed))
    };
    if state.oauth_deny {
        return respond(with_state(vec![("error", "access_denied".to_string())]));
    }
    if query.get("scope").is_some_and(|s| s != "read_write") {
        return respond(with_state(vec![("error", "invalid_scope".to_string())]));
    }
    let code = state.ids.hex(32);
    let created_at = state.now();
    state.codes.insert(
        code.clone(),
        AuthCode {
            client_id,
            created_at,
            used: false,
            expired: false,
        },
    );
    respond(with_state(vec![("code", code)]))
}

async fn tokens(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let body = params::parse_body(&headers, &body)?;
    if let Some(grant_type) = params::opt_string(&body, "grant_type")?
        && grant_type != "authorization_code"
    {
        return Err(ApiError::bad_request(format!(
            "grant_type must be authorization_code, not {grant_type}"
        )));
    }
    let client_id = params::req_string(&body, "client_id")?;
    let client_secret = params::req_string(&body, "client_secret")?;
    let code = params::req_string(&body, "code")?;

    let mut state = sim.lock();
    let app: OAuthApp = state
        .oauth_apps
        .iter()
        .find(|a| a.client_id == client_id && a.client_secret == client_secret)
        .cloned()
        .ok_or_else(|| ApiError::unauthorized_with("Invalid client_id or client_secret"))?;
    let now = state.now();
    let grant = state
        .codes
        .get_mut(&code)
        .filter(|c| c.client_id == client_id)
        .ok_or_else(|| ApiError::bad_request("Invalid authorization code"))?;
    if grant.used {
        return Err(ApiError::bad_request(
            "Authorization code has already been used",
        ));
    }
    if grant.expired || now - grant.created_at >= CODE_LIFETIME {
        return Err(ApiError::bad_request("Authorization code has expired"));
    }
    grant.used = true;
    let seed = app
        .connect_account
        .clone()
        .unwrap_or_else(|| AccountSeed::new("Connected Customer"));
    let token = state.ids.hex(40);
    let account_id = state.add_token(&token, &seed, Some(client_id));
    Ok(axum::Json(json!({
        "access_token": token,
        "scope": "read_write",
        "checkr_account_id": account_id,
    }))
    .into_response())
}

async fn deauthorize(State(sim): State<Sim>, auth: Auth) -> ApiResult {
    deauthorize_token(&mut sim.lock(), &auth.token);
    Ok(axum::Json(json!({ "access_token": auth.token })).into_response())
}

/// Revokes `token` and emits `token.deauthorized` (`account_id`: the partner's own when
/// an OAuth application issued the token, then delivered to that application; the
/// token's account otherwise) with `data.object.access_code` = the token. False if the
/// token is unknown or already revoked.
pub(crate) fn deauthorize_token(state: &mut crate::state::State, token: &str) -> bool {
    let Some(entry) = state.tokens.get_mut(token).filter(|t| !t.revoked) else {
        return false;
    };
    entry.revoked = true;
    let client_id = entry.client_id.clone();
    let account_id = entry.account_id.clone();
    let object = json!({ "access_code": token });
    match client_id.filter(|id| state.oauth_apps.iter().any(|a| &a.client_id == id)) {
        Some(client_id) => state.emit_to_app(&client_id, "token.deauthorized", object),
        None => state.emit(&account_id, "token.deauthorized", object),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    #[test]
    fn redirect_rules() {
        let registered = vec![
            "https://app.example.com/cb".to_string(),
            "http://127.0.0.1:9/cb".to_string(),
        ];
        assert!(check_redirect(&url("https://app.example.com/cb"), &registered).is_ok());
        assert!(check_redirect(&url("https://APP.example.com/other"), &registered).is_ok());
        assert!(check_redirect(&url("http://app.example.com/cb"), &registered).is_err());
        assert!(check_redirect(&url("https://evil.example.com/cb"), &registered).is_err());
        assert!(check_redirect(&url("https://app.example.com:8443/cb"), &registered).is_err());
        assert!(check_redirect(&url("http://127.0.0.1:5555/cb"), &registered).is_ok());
        assert!(check_redirect(&url("http://localhost:5555/cb"), &registered).is_err());
    }
}
