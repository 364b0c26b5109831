//! The connection an invocation runs for.

use crate::bindings::terapi::runtime::connection as wit;
use serde_json::Value;

/// Whatever a connection authenticates with.
///
/// Checkr partner connections carry [`Credentials::OAuth2`] with a long-lived access
/// token (no refresh token, no expiry).
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    /// OAuth 2 tokens.
    OAuth2 {
        /// The bearer of the connection's authority. Secret: never log it.
        access_token: String,
        /// Present only for providers that refresh tokens.
        refresh_token: Option<String>,
        /// RFC 3339 timestamp at which the token expires, if it does.
        expires_at: Option<String>,
        /// The provider's token response, verbatim.
        raw: Value,
    },
    /// A single API key.
    ApiKey(String),
    /// HTTP Basic credentials.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// The connection has no credentials (yet).
    None,
}

/// A connection: one customer's account at the provider, as the action sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// The id the embedding application chose for this connection.
    pub connection_id: String,
    /// The integration this connection belongs to, e.g. `checkr-partner`.
    pub provider_config_key: String,
    /// The provider, e.g. `checkr-partner`.
    pub provider: String,
    /// The connection's credentials.
    pub credentials: Credentials,
    /// Provider-specific configuration gathered at connect time, e.g.
    /// `{"checkr_account_id": "...", "accountHierarchyEnabled": true}`.
    pub connection_config: Value,
    /// Free-form metadata the application attached.
    pub metadata: Value,
}

/// Returns the connection this invocation runs for.
///
/// ```no_run
/// let connection = terapi_sdk::get_connection();
/// let hierarchy = connection.connection_config["accountHierarchyEnabled"] == true;
/// ```
pub fn get_connection() -> Connection {
    Connection::from(wit::get_connection())
}

/// The host always sends JSON text here; should it ever not, the action sees `null`
/// rather than failing before it can report anything.
fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

impl From<wit::Connection> for Connection {
    fn from(connection: wit::Connection) -> Self {
        let credentials = match connection.credentials {
            wit::Credentials::Oauth2(oauth) => Credentials::OAuth2 {
                access_token: oauth.access_token,
                refresh_token: oauth.refresh_token,
                expires_at: oauth.expires_at,
                raw: parse_json(&oauth.raw),
            },
            wit::Credentials::ApiKey(key) => Credentials::ApiKey(key),
            wit::Credentials::Basic(basic) => Credentials::Basic {
                username: basic.username,
                password: basic.password,
            },
            wit::Credentials::None => Credentials::None,
        };
        Connection {
            connection_id: connection.connection_id,
            provider_config_key: connection.provider_config_key,
            provider: connection.provider,
            credentials,
            connection_config: parse_json(&connection.connection_config),
            metadata: parse_json(&connection.metadata),
        }
    }
}
