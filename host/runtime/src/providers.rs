//! Provider definitions: base URLs, OAuth endpoints and authentication scheme of each
//! third-party API, loaded from `providers/providers.toml` (shipped inside the binary).

use serde::Deserialize;
use std::collections::BTreeMap;

const BUILT_IN: &str = include_str!("../providers/providers.toml");

/// How the host authenticates requests when an action sets no `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestAuth {
    /// `Authorization: Bearer <access token>` (the OAuth 2 default).
    Bearer,
    /// `Authorization: Basic base64(<access token> + ":")`: the token is the user name and
    /// the password is empty. Checkr's scheme.
    BasicTokenAsUsername,
}

/// How a provider's connections authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// OAuth 2 authorization-code flow.
    Oauth2,
    /// A static API key.
    ApiKey,
    /// HTTP Basic user name and password.
    Basic,
}

/// One provider, as declared in `providers.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Name shown to people.
    pub display_name: String,
    /// Where the provider documents its API.
    pub docs: String,
    /// How connections authenticate.
    pub auth_mode: AuthMode,
    /// OAuth authorize page; `{client_id}` is substituted.
    pub authorization_url: Option<String>,
    /// OAuth token endpoint.
    pub token_url: Option<String>,
    /// Base URL that action endpoints resolve against.
    pub api_base_url: String,
    /// Scopes requested at connect time.
    #[serde(default)]
    pub default_scopes: Vec<String>,
    /// How the host authenticates requests for the action.
    pub request_auth: RequestAuth,
    /// Whether tokens expire and must be refreshed.
    pub refresh_tokens: bool,
    /// Header carrying the time at which the rate limit resets (ISO-8601 or epoch seconds).
    pub rate_limit_reset_header: Option<String>,
    /// Fields of the token response copied into the connection's configuration (Checkr:
    /// `checkr_account_id`).
    #[serde(default)]
    pub token_response_metadata: Vec<String>,
    /// A request made right after a connection is created, whose outcome is recorded in
    /// the connection's configuration.
    #[serde(default)]
    pub post_connection_check: Option<PostConnectionCheck>,
    /// Endpoint (relative to the API base URL) that revokes a token when its connection
    /// is deleted; called with `POST` and the connection's authentication.
    #[serde(default)]
    pub deauthorize_endpoint: Option<String>,
    /// How the provider's webhooks are signed and routed; `None`: it sends none.
    #[serde(default)]
    pub webhooks: Option<ProviderWebhooks>,
}

/// How a provider signs its webhooks and how terapi finds the connections an event is
/// about.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderWebhooks {
    /// The header carrying the signature: lowercase hex HMAC-SHA256 of the raw body.
    pub signature_header: String,
    /// The event's top-level field naming the account it is about.
    pub account_field: String,
    /// The connection-configuration key holding a connection's account (recorded at
    /// connect time); an event goes to every connection whose value equals its account.
    pub connection_config_key: String,
    /// The event type saying the customer revoked the partner's access; its token is at
    /// `revoked_token_pointer` (a JSON pointer) and matched against connections' tokens.
    #[serde(default)]
    pub revocation_event: Option<String>,
    /// Where a revocation event carries the revoked token.
    #[serde(default)]
    pub revoked_token_pointer: Option<String>,
}

/// A `GET` made with a new connection's credentials right after it is created: the
/// connection configuration's `config_key` becomes `true` if it answers 2xx, `false`
/// otherwise (including network errors).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostConnectionCheck {
    /// Endpoint relative to the API base URL, query included.
    pub endpoint: String,
    /// The connection-configuration key that records the outcome.
    pub config_key: String,
}

/// Error loading provider definitions.
#[derive(Debug, thiserror::Error)]
#[error("invalid provider definitions: {0}")]
pub struct ProviderError(#[from] toml::de::Error);

/// All known providers, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Providers(BTreeMap<String, Provider>);

impl Providers {
    /// The providers shipped with terapi (`checkr-partner`, `checkr-partner-staging`).
    pub fn built_in() -> Self {
        // The file is part of the binary and covered by tests: it always parses.
        Self::parse(BUILT_IN).unwrap_or_else(|_| Providers(BTreeMap::new()))
    }

    /// Parses provider definitions from TOML text.
    pub fn parse(text: &str) -> Result<Self, ProviderError> {
        Ok(Providers(toml::from_str(text)?))
    }

    /// The provider called `name`.
    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.0.get(name)
    }

    /// Provider names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_definitions_parse_and_describe_checkr() {
        let providers = Providers::parse(BUILT_IN).expect("providers.toml parses");
        let production = providers.get("checkr-partner").expect("checkr-partner");
        assert_eq!(production.api_base_url, "https://api.checkr.com");
        assert_eq!(
            production.authorization_url.as_deref(),
            Some("https://partners.checkr.com/authorize/{client_id}")
        );
        assert_eq!(
            production.token_url.as_deref(),
            Some("https://api.checkr.com/oauth/tokens")
        );
        assert_eq!(production.request_auth, RequestAuth::BasicTokenAsUsername);
        assert!(!production.refresh_tokens);
        let staging = providers.get("checkr-partner-staging").expect("staging");
        assert_eq!(staging.api_base_url, "https://api.checkr-staging.com");
        assert_eq!(
            staging.authorization_url.as_deref(),
            Some("https://partners.checkrhq-staging.net/authorize/{client_id}")
        );
        assert_eq!(
            staging.token_url.as_deref(),
            Some("https://api.checkr-staging.com/oauth/tokens")
        );
        assert_eq!(
            staging.rate_limit_reset_header.as_deref(),
            Some("X-Ratelimit-Reset")
        );
        for provider in [production, staging] {
            assert_eq!(provider.token_response_metadata, ["checkr_account_id"]);
            assert_eq!(
                provider.deauthorize_endpoint.as_deref(),
                Some("/oauth/deauthorize")
            );
            let check = provider.post_connection_check.as_ref().expect("check");
            assert_eq!(check.endpoint, "/v1/nodes?page=1&per_page=1");
            assert_eq!(check.config_key, "accountHierarchyEnabled");
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let error = Providers::parse(
            "[x]\ndisplay_name='x'\ndocs='d'\nauth_mode='oauth2'\napi_base_url='https://x'\nrequest_auth='bearer'\nrefresh_tokens=false\nbase_url='typo'\n",
        )
        .expect_err("unknown key");
        assert!(error.to_string().contains("base_url"), "{error}");
    }
}
