//! `Authorization: Bearer <secret key>` on every API endpoint, compared in constant
//! time; and the signed links that let a browser start an OAuth connect without the
//! secret key.

use super::AppState;
use super::errors::ApiError;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The secret key, held as what the comparison needs: its SHA-256 (so the comparison
/// time does not depend on the length of what is compared) and a derived key for signing
/// connect links. `Debug` shows neither.
pub(crate) struct SecretKey {
    digest: [u8; 32],
    link_key: [u8; 32],
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    pub(crate) fn new(secret: &str) -> Self {
        let mut link = Sha256::new();
        link.update(b"terapi connect link v1\0");
        link.update(secret.as_bytes());
        SecretKey {
            digest: Sha256::digest(secret.as_bytes()).into(),
            link_key: link.finalize().into(),
        }
    }

    /// Constant-time comparison with a presented key.
    pub(crate) fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digest.ct_eq(&presented).into()
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length; this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.link_key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }

    fn link_message(provider_config_key: &str, connection_id: &str, expires: i64) -> Vec<u8> {
        format!("{provider_config_key}\0{connection_id}\0{expires}").into_bytes()
    }

    /// The signature of a connect link.
    pub(crate) fn sign_link(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        expires: i64,
    ) -> String {
        let mut mac = self.mac();
        mac.update(&Self::link_message(
            provider_config_key,
            connection_id,
            expires,
        ));
        terapi_runtime::util::hex(&mac.finalize().into_bytes())
    }

    /// Checks a connect link's signature (constant time).
    pub(crate) fn verify_link(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        expires: i64,
        signature: &str,
    ) -> bool {
        let expected = self.sign_link(provider_config_key, connection_id, expires);
        expected.as_bytes().ct_eq(signature.as_bytes()).into()
    }
}

/// The bearer token of a request: `Ok(None)` without `Authorization`, `Err` when it is
/// not `Bearer <token>`.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "malformed_auth_header",
            "the Authorization header must be `Bearer <secret key>`",
        )
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(malformed());
    }
    Ok(Some(token.trim()))
}

/// Whether the request carries the right secret key; the error says what is wrong.
pub(crate) fn check(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match bearer(headers)? {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_auth_header",
            "authentication failed: the request has no `Authorization: Bearer <secret key>` header",
        )),
        Some(token) if state.secret_key().matches(token) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unknown_account",
            "authentication failed: the secret key is not valid",
        )),
    }
}

/// Middleware: rejects requests without the secret key with 401.
pub(crate) async fn require_secret_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check(&state, request.headers())?;
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_links() {
        let key = SecretKey::new("sk");
        assert!(key.matches("sk"));
        assert!(!key.matches("sk "));
        assert!(!key.matches(""));
        let signature = key.sign_link("checkr-partner", "c1", 100);
        assert!(key.verify_link("checkr-partner", "c1", 100, &signature));
        assert!(!key.verify_link("checkr-partner", "c2", 100, &signature));
        assert!(!key.verify_link("checkr-partner", "c1", 101, &signature));
        assert!(!SecretKey::new("other").verify_link("checkr-partner", "c1", 100, &signature));
        assert!(!format!("{key:?}").contains("sk\""));
    }

    #[test]
    fn bearer_parsing() {
        let mut headers = HeaderMap::new();
        assert!(matches!(bearer(&headers), Ok(None)));
        headers.insert(AUTHORIZATION, "Bearer abc".parse().expect("header"));
        assert!(matches!(bearer(&headers), Ok(Some("abc"))));
        headers.insert(AUTHORIZATION, "Basic abc".parse().expect("header"));
        assert!(bearer(&headers).is_err());
        headers.insert(AUTHORIZATION, "Bearer".parse().expect("header"));
        assert!(bearer(&headers).is_err());
    }
}
