//! HTTP Basic authentication with the token as user name and an empty password,
//! as Checkr does: `Authorization: Basic base64(token + ":")`.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine as _;

use crate::error::ApiError;
use crate::state::Sim;

/// An authenticated request: the token and the account it acts for. Extracting it
/// rejects anything but a known, unrevoked token with 401
/// `{"error":"Bad authentication error"}`.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    /// The token.
    pub(crate) token: String,
    /// The account it acts for.
    pub(crate) account_id: String,
}

impl FromRequestParts<Sim> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, sim: &Sim) -> Result<Self, Self::Rejection> {
        let token = basic_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let state = sim.lock();
        let account_id = state
            .account_for_token(&token)
            .ok_or_else(ApiError::unauthorized)?
            .to_string();
        Ok(Auth { token, account_id })
    }
}

/// The token of a well-formed `Authorization: Basic` header whose password is
/// empty; `None` for anything else.
pub(crate) fn basic_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    if user.is_empty() || !password.is_empty() {
        return None;
    }
    Some(user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(AUTHORIZATION, v);
        }
        h
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn accepts_token_with_empty_password_only() {
        assert_eq!(
            basic_token(&headers(&format!("Basic {}", b64("tok:")))).as_deref(),
            Some("tok")
        );
        assert_eq!(
            basic_token(&headers(&format!("basic {}", b64("tok:")))).as_deref(),
            Some("tok")
        );
        assert_eq!(
            basic_token(&headers(&format!("Basic {}", b64("tok")))),
            None
        );
        assert_eq!(
            basic_token(&headers(&format!("Basic {}", b64("tok:pw")))),
            None
        );
        assert_eq!(basic_token(&headers(&format!("Basic {}", b64(":")))), None);
        assert_eq!(basic_token(&headers("Bearer tok")), None);
        assert_eq!(basic_token(&headers("Basic !!!")), None);
        assert_eq!(basic_token(&HeaderMap::new()), None);
    }
}
