//! Connections and where they are kept.
//!
//! A [`Connection`] is one customer's account at a provider, with the credentials terapi
//! uses on its behalf. [`ConnectionStore`] is the seam between the runtime and storage:
//! [`SqliteConnectionStore`] is the embedded default (one database file, created on first
//! use). Credentials pass through a [`CredentialCipher`] on their way in and out:
//! [`AesGcmCipher`] encrypts them at rest, [`PlaintextCipher`] (development only) does
//! not.
//!
//! The store also keeps what the OAuth flow needs to survive a restart or to be shared
//! by several hosts: pending authorizations ([`OAuthSession`]) and OAuth app credentials
//! set over the API ([`IntegrationCredentials`]). All SQL lives in the backend's module,
//! so another backend (Postgres, for several hosts) is one more implementation of
//! [`ConnectionStore`].

mod cache;
mod cipher;
mod sqlite;

pub use cache::CachingStore;
pub use cipher::{AesGcmCipher, KeyError, PlaintextCipher};
pub use sqlite::SqliteConnectionStore;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use time::OffsetDateTime;

/// What a connection authenticates with. Serialized with a `type` tag in Nango's style
/// (`OAUTH2`, `API_KEY`, `BASIC`, `NONE`).
///
/// `Debug` never prints secrets.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum Credentials {
    /// OAuth 2 tokens.
    #[serde(rename = "OAUTH2")]
    OAuth2 {
        /// The access token.
        access_token: String,
        /// The refresh token, for providers that refresh.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refresh_token: Option<String>,
        /// When the access token expires (RFC 3339), if it does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<String>,
        /// The scopes granted, as the provider reported them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        /// The token response, verbatim.
        #[serde(default)]
        raw: Value,
    },
    /// A static API key.
    ApiKey {
        /// The key.
        api_key: String,
    },
    /// HTTP Basic credentials.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// No credentials.
    None,
}

impl Credentials {
    /// OAuth 2 credentials holding just an access token (Checkr partner tokens are
    /// long-lived and come without refresh token or expiry).
    pub fn access_token(token: impl Into<String>) -> Self {
        let access_token = token.into();
        Credentials::OAuth2 {
            raw: serde_json::json!({ "access_token": access_token }),
            access_token,
            refresh_token: None,
            expires_at: None,
            scope: None,
        }
    }

    /// The type tag, as in the serialized form.
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::OAuth2 { .. } => "OAUTH2",
            Credentials::ApiKey { .. } => "API_KEY",
            Credentials::Basic { .. } => "BASIC",
            Credentials::None => "NONE",
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials::{}(<redacted>)", self.kind())
    }
}

/// A stored connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// The store's own id (stable across renames of nothing: connections are immutable
    /// keys).
    pub id: i64,
    /// The id the application chose, unique within the integration.
    pub connection_id: String,
    /// The integration, e.g. `checkr-partner`.
    pub provider_config_key: String,
    /// The provider, e.g. `checkr-partner`.
    pub provider: String,
    /// Credentials.
    pub credentials: Credentials,
    /// Provider-specific configuration gathered at connect time (a JSON object).
    pub connection_config: Value,
    /// Application metadata (a JSON object).
    pub metadata: Value,
    /// When the connection was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
    /// When its credentials were last handed out through the API, if ever.
    pub last_fetched_at: Option<OffsetDateTime>,
}

/// What [`ConnectionStore::upsert`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConnection {
    /// The id the application chose.
    pub connection_id: String,
    /// The integration.
    pub provider_config_key: String,
    /// The provider.
    pub provider: String,
    /// Credentials.
    pub credentials: Credentials,
    /// Provider-specific configuration (a JSON object).
    pub connection_config: Value,
    /// Application metadata (a JSON object).
    pub metadata: Value,
}

impl NewConnection {
    /// A connection with empty configuration and metadata.
    pub fn new(
        provider_config_key: impl Into<String>,
        connection_id: impl Into<String>,
        provider: impl Into<String>,
        credentials: Credentials,
    ) -> Self {
        NewConnection {
            connection_id: connection_id.into(),
            provider_config_key: provider_config_key.into(),
            provider: provider.into(),
            credentials,
            connection_config: Value::Object(Default::default()),
            metadata: Value::Object(Default::default()),
        }
    }
}

/// Which connections [`ConnectionStore::list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionFilter {
    /// Only this integration.
    pub provider_config_key: Option<String>,
    /// Only this connection id.
    pub connection_id: Option<String>,
    /// At most this many (after `offset`).
    pub limit: Option<usize>,
    /// Skip this many first (oldest first).
    pub offset: usize,
}

/// How [`ConnectionStore::update_metadata`] changes a connection's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataUpdate {
    /// The new metadata replaces the old.
    Replace,
    /// The new metadata's top-level keys are set, the others kept.
    Merge,
}

/// A pending OAuth authorization: created when a connect starts, consumed (once) by the
/// callback. The store keeps a digest of the `state` parameter, never the state itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSession {
    /// SHA-256 of the `state` sent to the provider, hex-encoded.
    pub state_digest: String,
    /// The integration being connected.
    pub provider_config_key: String,
    /// The connection the authorization will create.
    pub connection_id: String,
    /// When the connect started.
    pub created_at: OffsetDateTime,
    /// After this, the callback is refused.
    pub expires_at: OffsetDateTime,
}

/// OAuth app credentials of an integration, set over the API; they take precedence over
/// the configuration file's. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct IntegrationCredentials {
    /// The integration.
    pub provider_config_key: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret (sealed at rest like connection credentials).
    pub client_secret: String,
    /// Scopes to request; empty: the provider's defaults.
    pub scopes: Vec<String>,
    /// When they were first set.
    pub created_at: OffsetDateTime,
    /// When they last changed.
    pub updated_at: OffsetDateTime,
}

impl fmt::Debug for IntegrationCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntegrationCredentials")
            .field("provider_config_key", &self.provider_config_key)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Errors from a connection store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("connection store: {0}")]
    Database(String),
    /// Stored credentials could not be decrypted or decoded.
    #[error(
        "connection store: credentials of {provider_config_key}/{connection_id} are unreadable: {reason}"
    )]
    Credentials {
        /// Integration.
        provider_config_key: String,
        /// Connection (empty for an integration's own credentials).
        connection_id: String,
        /// Why (never the credentials themselves).
        reason: String,
    },
    /// A value passed in is invalid.
    #[error("connection store: {0}")]
    Invalid(String),
}

/// Where connections live. Implementations must be safe to share between threads, and
/// must seal credentials (connection credentials and integration client secrets) with
/// their [`CredentialCipher`] before they reach storage.
pub trait ConnectionStore: Send + Sync + 'static {
    /// Creates the connection, or replaces the credentials, configuration and metadata of
    /// an existing one with the same integration and connection id.
    fn upsert(&self, connection: &NewConnection) -> Result<Connection, StoreError>;
    /// The connection, if it exists.
    fn get(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<Option<Connection>, StoreError>;
    /// [`ConnectionStore::get`], shared. A caching store returns the same `Arc` for as
    /// long as its entry is fresh, which lets callers keep what they derive from a
    /// connection (the runtime: the guest's view and the `Authorization` value) until it
    /// changes.
    fn get_shared(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<Option<Arc<Connection>>, StoreError> {
        Ok(self.get(provider_config_key, connection_id)?.map(Arc::new))
    }
    /// Connections matching the filter, oldest first.
    fn list(&self, filter: &ConnectionFilter) -> Result<Vec<Connection>, StoreError>;
    /// Deletes the connection; `false` if there was none.
    fn delete(&self, provider_config_key: &str, connection_id: &str) -> Result<bool, StoreError>;
    /// Replaces or merges a connection's metadata (a JSON object); `None` if there is no
    /// such connection.
    fn update_metadata(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        metadata: &Value,
        how: MetadataUpdate,
    ) -> Result<Option<Connection>, StoreError>;
    /// Records that the connection's credentials were handed out now.
    fn mark_fetched(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<(), StoreError>;
    /// Saves a pending OAuth authorization, and forgets expired ones.
    fn put_oauth_session(&self, session: &OAuthSession) -> Result<(), StoreError>;
    /// Removes and returns the pending authorization with this state digest, expired or
    /// not (the caller checks `expires_at`). Atomic: of two concurrent callers with the
    /// same state at most one gets it.
    fn take_oauth_session(&self, state_digest: &str) -> Result<Option<OAuthSession>, StoreError>;
    /// An integration's OAuth app credentials set over the API, if any.
    fn integration_credentials(
        &self,
        provider_config_key: &str,
    ) -> Result<Option<IntegrationCredentials>, StoreError>;
    /// Sets an integration's OAuth app credentials (`created_at`/`updated_at` are the
    /// store's).
    fn put_integration_credentials(
        &self,
        credentials: &IntegrationCredentials,
    ) -> Result<IntegrationCredentials, StoreError>;
}

/// Seals credentials before they are stored and opens them when read. The seam for
/// encryption at rest.
///
/// `associated_data` identifies the row (e.g. the integration and connection id); a
/// cipher that authenticates it makes a sealed value useless on any other row.
pub trait CredentialCipher: Send + Sync + 'static {
    /// Turns serialized credentials into what is stored.
    fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, String>;
    /// Reverses [`CredentialCipher::seal`]. Errors never contain the plaintext.
    fn open(&self, sealed: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_secrets() {
        let credentials = Credentials::access_token("very-secret-token");
        let text = format!("{credentials:?}");
        assert!(!text.contains("very-secret-token"), "{text}");
        assert!(text.contains("OAUTH2"));
    }

    #[test]
    fn credentials_serialize_with_nango_style_tags() {
        let value = serde_json::to_value(Credentials::access_token("t")).expect("serializes");
        assert_eq!(value["type"], "OAUTH2");
        assert_eq!(value["access_token"], "t");
        let back: Credentials = serde_json::from_value(value).expect("round trip");
        assert_eq!(back, Credentials::access_token("t"));
    }
}
