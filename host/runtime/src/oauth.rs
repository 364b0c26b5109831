//! The OAuth 2 authorization-code flow as a client, for providers like Checkr's partner
//! program: building the authorize URL, exchanging the code, the post-connection check,
//! and revoking a token. The HTTP server (`server::oauth`) drives it; nothing here
//! depends on the server, so an embedding application can drive it too.
//!
//! The flow, for Checkr (per its OAuth reference):
//!
//! 1. The browser is sent to `https://partners.checkr.com/authorize/{client_id}` with
//!    `redirect_uri`, `scope=read_write` and a `state` ([`random_id`](crate::util::random_id)): random,
//!    single-use, bound to the connection being created, valid for [`STATE_TTL`].
//! 2. Checkr sends the browser back to the redirect URI with `code` and `state` (or
//!    `error`).
//! 3. [`OAuthApp::exchange_code`] posts `client_id`, `client_secret`, `code` and
//!    `grant_type=authorization_code` (form-encoded) to the token URL. The response's
//!    `access_token` is long-lived (no refresh), `checkr_account_id` names the account.
//! 4. [`post_connection_check`] asks `GET /v1/nodes?page=1&per_page=1` whether the account
//!    uses Account Hierarchy.
//! 5. When the connection is deleted, [`deauthorize`] revokes the token
//!    (`POST /oauth/deauthorize`, the token as Basic user name).

use crate::config::{IntegrationConfig, Secret, ServerConfig, check_redirect_uri};
use crate::outbound::{HttpError, HttpPolicy, OutboundRequest};
use crate::providers::{AuthMode, PostConnectionCheck, Provider};
use crate::store::{Credentials, IntegrationCredentials};
use crate::util::{hex, read_capped, root_cause};
use reqwest::header::HeaderValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;
use url::Url;

/// How long a `state` (a pending authorization) stays valid.
pub const STATE_TTL: Duration = Duration::from_secs(10 * 60);

/// Largest token response accepted.
const MAX_TOKEN_RESPONSE_BYTES: u64 = 64 << 10;

/// Timeout of the token exchange.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an OAuth step failed. Messages never contain secrets, tokens or codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// The integration cannot be connected with OAuth (wrong auth mode, no client id or
    /// secret, bad URL). The message names the setting.
    #[error("{0}")]
    NotConfigured(String),
    /// The provider answered the token exchange with an error.
    #[error("the token exchange failed with HTTP {status}: {message}")]
    TokenRejected {
        /// Its status.
        status: u16,
        /// Its error message (`error_description`, `error` or the status's reason).
        message: String,
    },
    /// The token endpoint could not be reached or answered something unusable.
    #[error("the token exchange failed: {0}")]
    TokenExchange(String),
    /// Revoking the token failed; the caller keeps the connection.
    #[error("{0}")]
    Deauthorize(String),
}

/// An integration's OAuth app, resolved from the configuration file, the environment and
/// credentials set over the API. `Debug` never shows the client secret.
#[derive(Clone)]
pub struct OAuthApp {
    /// The integration.
    pub provider_config_key: String,
    /// The client id.
    pub client_id: String,
    client_secret: Secret,
    /// Where the provider sends the browser back.
    pub redirect_uri: Url,
    /// The authorize page, `{client_id}` substituted.
    pub authorization_url: Url,
    /// The token endpoint.
    pub token_url: Url,
    /// Scopes requested.
    pub scopes: Vec<String>,
    /// Token-response fields copied into the connection configuration.
    pub token_response_metadata: Vec<String>,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("provider_config_key", &self.provider_config_key)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("authorization_url", &self.authorization_url.as_str())
            .field("token_url", &self.token_url.as_str())
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The environment variable suffix of an integration key: upper case, `-` and `.` as
/// `_` (`checkr-partner` → `CHECKR_PARTNER`).
pub fn env_suffix(provider_config_key: &str) -> String {
    provider_config_key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl OAuthApp {
    /// Resolves an integration's OAuth app. `env` looks up environment variables (pass
    /// `|name| std::env::var(name).ok()`); `stored` are credentials set over the API,
    /// which win over the file and the environment.
    ///
    /// `Ok(None)`: the provider is not OAuth, or no client id is configured anywhere (the
    /// integration simply cannot be connected through OAuth). An error names the
    /// setting that is missing or wrong.
    pub fn resolve(
        provider_config_key: &str,
        integration: &IntegrationConfig,
        provider: &Provider,
        server: &ServerConfig,
        env: &dyn Fn(&str) -> Option<String>,
        stored: Option<&IntegrationCredentials>,
    ) -> Result<Option<OAuthApp>, OAuthError> {
        if provider.auth_mode != AuthMode::Oauth2 {
            return Ok(None);
        }
        let suffix = env_suffix(provider_config_key);
        let setting = |name: &str| format!("integrations.{provider_config_key}.{name}");
        let not_configured = |message: String| OAuthError::NotConfigured(message);
        let (client_id, client_secret, scopes) = match stored {
            Some(stored) => (
                stored.client_id.clone(),
                Secret::new(stored.client_secret.clone()),
                stored.scopes.clone(),
            ),
            None => {
                let id_env = format!("TERAPI_CLIENT_ID_{suffix}");
                let Some(client_id) = integration.client_id.clone().or_else(|| env(&id_env)) else {
                    return Ok(None);
                };
                let secret_env = integration
                    .client_secret_env
                    .clone()
                    .unwrap_or_else(|| format!("TERAPI_CLIENT_SECRET_{suffix}"));
                let client_secret = match (&integration.client_secret, env(&secret_env)) {
                    (_, Some(secret)) if integration.client_secret_env.is_some() => {
                        Secret::new(secret)
                    }
                    (Some(secret), _) => secret.clone(),
                    (None, Some(secret)) => Secret::new(secret),
                    (None, None) => {
                        return Err(not_configured(format!(
                            "`{}` is set but no client secret is: set `{}`, `{}` or the \
                             environment variable {secret_env}",
                            setting("client_id"),
                            setting("client_secret"),
                            setting("client_secret_env"),
                        )));
                    }
                };
                (client_id, client_secret, Vec::new())
            }
        };
        if client_secret.expose().is_empty() {
            return Err(not_configured(format!(
                "the client secret of `{provider_config_key}` is empty"
            )));
        }
        let redirect_uri = match &integration.redirect_uri {
            Some(uri) => uri.clone(),
            None => format!("{}/oauth/callback", server.public_url()),
        };
        let redirect_uri = check_redirect_uri(&redirect_uri)
            .map_err(|message| not_configured(format!("{}: {message}", setting("redirect_uri"))))?;
        let template = integration
            .authorization_url
            .clone()
            .or_else(|| provider.authorization_url.clone())
            .ok_or_else(|| {
                not_configured(format!(
                    "`{}` is required (the provider defines none)",
                    setting("authorization_url")
                ))
            })?;
        let encoded_id: String = url::form_urlencoded::byte_serialize(client_id.as_bytes())
            .collect::<String>()
            .replace('+', "%20");
        let authorization_url = http_url(
            &template.replace("{client_id}", &encoded_id),
            &setting("authorization_url"),
        )?;
        let token_url = integration
            .token_url
            .clone()
            .or_else(|| provider.token_url.clone())
            .ok_or_else(|| {
                not_configured(format!(
                    "`{}` is required (the provider defines none)",
                    setting("token_url")
                ))
            })?;
        let token_url = http_url(&token_url, &setting("token_url"))?;
        Ok(Some(OAuthApp {
            provider_config_key: provider_config_key.to_string(),
            client_id,
            client_secret,
            redirect_uri,
            authorization_url,
            token_url,
            scopes: if scopes.is_empty() {
                provider.default_scopes.clone()
            } else {
                scopes
            },
            token_response_metadata: provider.token_response_metadata.clone(),
        }))
    }

    /// The client secret (never logged; also the key Checkr signs partner webhooks with).
    pub fn client_secret(&self) -> &Secret {
        &self.client_secret
    }

    /// The URL to send the browser to: the authorize page with `redirect_uri`, `scope`
    /// and `state`.
    pub fn authorize_url(&self, state: &str) -> Url {
        let mut url = self.authorization_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("redirect_uri", self.redirect_uri.as_str());
            if !self.scopes.is_empty() {
                query.append_pair("scope", &self.scopes.join(" "));
            }
            query.append_pair("state", state);
        }
        url
    }

    /// Exchanges an authorization code for a token: `POST` to the token URL with
    /// `client_id`, `client_secret`, `code` and `grant_type=authorization_code`,
    /// form-encoded (what Checkr's reference asks for).
    pub async fn exchange_code(
        &self,
        client: &reqwest::Client,
        code: &str,
    ) -> Result<TokenGrant, OAuthError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("code", code),
        ];
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = client
            .post(self.token_url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .timeout(TOKEN_TIMEOUT)
            .send()
            .await
            .map_err(|error| {
                OAuthError::TokenExchange(format!(
                    "cannot reach {}: {}",
                    self.token_url,
                    root_cause(&error)
                ))
            })?;
        let status = response.status();
        let bytes = read_capped(response, MAX_TOKEN_RESPONSE_BYTES)
            .await
            .map_err(|error| OAuthError::TokenExchange(error.to_string()))?;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if !status.is_success() {
            let message = json
                .as_ref()
                .and_then(|json| {
                    ["error_description", "error", "message"]
                        .iter()
                        .find_map(|key| json.get(*key).and_then(Value::as_str))
                })
                .map(|message| message.chars().take(300).collect::<String>())
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
            return Err(OAuthError::TokenRejected {
                status: status.as_u16(),
                message,
            });
        }
        let raw = match json {
            Some(raw @ Value::Object(_)) => raw,
            _ => {
                return Err(OAuthError::TokenExchange(
                    "the token response is not a JSON object".into(),
                ));
            }
        };
        let access_token = raw
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                OAuthError::TokenExchange("the token response has no `access_token`".into())
            })?
            .to_string();
        let scope = raw.get("scope").and_then(Value::as_str).map(str::to_string);
        let mut metadata = Map::new();
        for field in &self.token_response_metadata {
            if let Some(value) = raw.get(field) {
                metadata.insert(field.clone(), value.clone());
            }
        }
        Ok(TokenGrant {
            access_token,
            scope,
            raw,
            metadata,
        })
    }
}

/// What a token exchange granted. `Debug` never shows the token.
#[derive(Clone)]
pub struct TokenGrant {
    /// The access token.
    pub access_token: String,
    /// The scopes granted.
    pub scope: Option<String>,
    /// The token response, verbatim.
    pub raw: Value,
    /// The token-response fields destined for the connection configuration.
    pub metadata: Map<String, Value>,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("access_token", &"<redacted>")
            .field("scope", &self.scope)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl TokenGrant {
    /// The connection credentials: OAuth 2, no refresh token, no expiry (Checkr partner
    /// tokens are long-lived).
    pub fn credentials(&self) -> Credentials {
        Credentials::OAuth2 {
            access_token: self.access_token.clone(),
            refresh_token: None,
            expires_at: None,
            scope: self.scope.clone(),
            raw: self.raw.clone(),
        }
    }
}

/// What the store keeps of a `state`: its SHA-256, hex-encoded.
pub fn state_digest(state: &str) -> String {
    hex(&Sha256::digest(state.as_bytes()))
}

/// Runs a provider's post-connection check with a new connection's `Authorization`
/// value (from [`HttpPolicy::authorization_header`]): `true` if the endpoint answers
/// 2xx, `false` for any other status or a failure.
pub async fn post_connection_check(
    policy: &HttpPolicy,
    client: &reqwest::Client,
    authorization: Option<&HeaderValue>,
    check: &PostConnectionCheck,
) -> bool {
    let url = match policy.resolve(&check.endpoint, None, &[]) {
        Ok(url) => url,
        Err(error) => {
            tracing::warn!(endpoint = %check.endpoint, %error, "post-connection check not sent");
            return false;
        }
    };
    let request = OutboundRequest::new(reqwest::Method::GET, url);
    match policy.send(client, request, authorization, None).await {
        Ok(response) => response.status.is_success(),
        Err(error) => {
            tracing::warn!(endpoint = %check.endpoint, %error, "post-connection check failed");
            false
        }
    }
}

/// Revokes a connection's token at the provider: `POST <api base><endpoint>` with the
/// connection's `Authorization` value. `Ok` on 2xx, and on 401 (the provider no longer
/// knows the token: it is revoked already); any other outcome is an error, and the
/// caller must keep the connection.
pub async fn deauthorize(
    policy: &HttpPolicy,
    client: &reqwest::Client,
    authorization: Option<&HeaderValue>,
    endpoint: &str,
) -> Result<(), OAuthError> {
    let url = policy
        .resolve(endpoint, None, &[])
        .map_err(|error| OAuthError::Deauthorize(format!("cannot deauthorize: {error}")))?;
    let authorization = authorization.ok_or_else(|| {
        OAuthError::Deauthorize("the connection has no token to deauthorize".into())
    })?;
    let mut request = OutboundRequest::new(reqwest::Method::POST, url.clone());
    request.retries = 2;
    // Revoking a token twice revokes it once (the second answer, 401, counts as done).
    request.repeatable = true;
    let response = policy
        .send(client, request, Some(authorization), None)
        .await
        .map_err(|error: HttpError| {
            OAuthError::Deauthorize(format!("deauthorizing at {url} failed: {error}"))
        })?;
    let status = response.status;
    if status.is_success() || status == reqwest::StatusCode::UNAUTHORIZED {
        return Ok(());
    }
    let detail = serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|json| {
            json.get("error")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .map(|message| format!(": {}", message.chars().take(300).collect::<String>()))
        .unwrap_or_default();
    Err(OAuthError::Deauthorize(format!(
        "the provider refused to deauthorize the token (HTTP {}{detail})",
        status.as_u16()
    )))
}

fn http_url(text: &str, setting: &str) -> Result<Url, OAuthError> {
    let url = Url::parse(text)
        .map_err(|error| OAuthError::NotConfigured(format!("`{setting}` `{text}`: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(OAuthError::NotConfigured(format!(
            "`{setting}` must be an http(s) URL with a host, not `{text}`"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Providers;

    fn resolve(
        integration: &IntegrationConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<OAuthApp>, OAuthError> {
        let providers = Providers::built_in();
        let provider = providers.get("checkr-partner").expect("provider");
        OAuthApp::resolve(
            "checkr-partner",
            integration,
            provider,
            &ServerConfig::default(),
            env,
            None,
        )
    }

    #[test]
    fn authorize_url_has_the_client_id_in_the_path_and_the_flow_parameters() {
        let mut integration = IntegrationConfig::new("c.wasm");
        integration.client_id = Some("my client".into());
        integration.client_secret = Some(Secret::new("s3cret"));
        let app = resolve(&integration, &|_| None)
            .expect("valid")
            .expect("configured");
        let url = app.authorize_url("st");
        assert_eq!(url.path(), "/authorize/my%20client");
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            query,
            [
                (
                    "redirect_uri".into(),
                    "http://127.0.0.1:3003/oauth/callback".into()
                ),
                ("scope".into(), "read_write".into()),
                ("state".into(), "st".into()),
            ]
        );
        assert!(!format!("{app:?}").contains("s3cret"));
    }

    #[test]
    fn secrets_come_from_the_environment_and_missing_ones_are_named() {
        let integration = IntegrationConfig::new("c.wasm");
        assert!(resolve(&integration, &|_| None).expect("ok").is_none());
        let env = |name: &str| match name {
            "TERAPI_CLIENT_ID_CHECKR_PARTNER" => Some("cid".to_string()),
            "TERAPI_CLIENT_SECRET_CHECKR_PARTNER" => Some("from-env".to_string()),
            _ => None,
        };
        let app = resolve(&integration, &env).expect("ok").expect("app");
        assert_eq!(app.client_id, "cid");
        assert_eq!(app.client_secret.expose(), "from-env");

        let mut named = IntegrationConfig::new("c.wasm");
        named.client_id = Some("cid".into());
        named.client_secret_env = Some("MY_SECRET".into());
        let error = resolve(&named, &|_| None).expect_err("missing");
        assert!(error.to_string().contains("MY_SECRET"), "{error}");
        let app = resolve(&named, &|name| {
            (name == "MY_SECRET").then(|| "x".to_string())
        })
        .expect("ok")
        .expect("app");
        assert_eq!(app.client_secret.expose(), "x");
    }

    #[test]
    fn states_are_random_and_stored_as_digests() {
        let first = crate::util::random_id().expect("state");
        let second = crate::util::random_id().expect("state");
        assert_ne!(first, second);
        assert_eq!(first.len(), 43);
        let digest = state_digest(&first);
        assert_eq!(digest.len(), 64);
        assert!(!digest.contains(&first));
        assert_eq!(
            env_suffix("checkr-partner-staging"),
            "CHECKR_PARTNER_STAGING"
        );
    }
}
