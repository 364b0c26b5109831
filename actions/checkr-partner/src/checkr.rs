//! What every Checkr action shares: the connection's token and Checkr's authentication.

use terapi_sdk::{ActionError, Credentials, Request};

/// The connection's access token, or the error every Checkr action reports without one.
pub fn access_token() -> Result<String, ActionError> {
    match terapi_sdk::get_connection().credentials {
        Credentials::OAuth2 { access_token, .. } if !access_token.is_empty() => Ok(access_token),
        _ => Err(ActionError::new("access_token is missing")),
    }
}

/// A request to `endpoint` authenticated as Checkr requires: HTTP Basic with the access
/// token as user name and an empty password.
pub fn request(endpoint: &str) -> Result<Request, ActionError> {
    let token = access_token()?;
    Ok(Request::new(endpoint).header("Authorization", terapi_sdk::basic_auth(&token, "")))
}
