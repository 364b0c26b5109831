//! Receiving a provider's webhooks (Checkr's `POST /webhook/{providerConfigKey}`).
//!
//! The signature is the authentication: the raw body's HMAC-SHA256 under the
//! integration's webhook secret, compared in constant time. A request without a valid
//! one is refused and nothing about it is processed or forwarded (its body is never
//! logged). An accepted event is processed once: its id is remembered for
//! `server.webhook_dedupe_window_secs`, recorded in the same transaction as the webhooks
//! it forwards to the application (one per connection it routes to; one unrouted when it
//! routes to none) and the jobs of the syncs' webhook handlers that apply it (see
//! `handlers.rs`), so a retried delivery is acknowledged and not processed again, and a
//! crash never records an event without its forwards and jobs. Concurrent events share
//! one commit (the store's group commit).
//!
//! Routing follows the provider's definition (`providers.toml`, `webhooks`): the event's
//! account field against each connection's configuration (Checkr: `account_id` =
//! `connection_config.checkr_account_id`); a revocation event (Checkr:
//! `token.deauthorized`) is matched by its token against the connections' tokens —
//! digests compared in constant time, the token never logged — and marks them revoked.

use super::handlers::handler_jobs;
use super::{ErrorKind, Service, ServiceError};
use crate::oauth::env_suffix;
use crate::providers::ProviderWebhooks;
use crate::store::{
    EventAcceptance, EventRoute, EventRouting, NewDelivery, OutboxWrites, ReceivedEvent,
    RoutedConnection, ScheduleState, token_digest,
};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;

/// Longest event id accepted.
pub const MAX_EVENT_ID: usize = 255;

/// What became of an accepted webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Processed now: routed to `routed` connections (0: forwarded unrouted), of which
    /// `revoked` were marked revoked.
    Accepted {
        /// The provider's event id.
        event_id: String,
        /// Connections it was routed to.
        routed: usize,
        /// Connections it revoked.
        revoked: usize,
    },
    /// Seen before within the window: acknowledged, not processed again.
    Duplicate {
        /// The provider's event id.
        event_id: String,
    },
}

fn unauthorized(code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorKind::Unauthorized, code, message)
}

/// Whether `signature` (lowercase or uppercase hex) is the HMAC-SHA256 of `body` under
/// `key`, compared in constant time.
pub fn verify_signature(key: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(presented) = decode_hex(signature.trim()) else {
        return false;
    };
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(body);
            mac.verify_slice(&presented).is_ok()
        }
        Err(_) => false,
    }
}

/// What the host reads of a verified provider event before routing it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    /// The whole event.
    pub event: Value,
    /// Its id (1 to 255 bytes), the de-duplication key.
    pub event_id: String,
    /// Its type, e.g. `report.completed`.
    pub event_type: String,
    /// The account it is about (the provider's `account_field`), if it names one.
    pub account_id: Option<String>,
}

/// Parses a (verified) webhook body: a JSON object with a string `id` of 1 to
/// [`MAX_EVENT_ID`] bytes and a string `type`; the account is read from the provider's
/// `account_field` when it is a string. Errors never quote the body.
pub fn parse_event(
    body: &[u8],
    definition: &ProviderWebhooks,
) -> Result<ParsedEvent, ServiceError> {
    let invalid = |message: String| ServiceError::new(ErrorKind::Invalid, "invalid_event", message);
    let event: Value = serde_json::from_slice(body).map_err(|error| {
        invalid(format!(
            "the event is not JSON (line {}, column {})",
            error.line(),
            error.column()
        ))
    })?;
    let field = |name: &str| event.get(name).and_then(Value::as_str);
    let event_id = field("id")
        .filter(|id| !id.is_empty() && id.len() <= MAX_EVENT_ID)
        .ok_or_else(|| {
            invalid(format!(
                "the event needs an `id`: a string of 1 to {MAX_EVENT_ID} bytes"
            ))
        })?
        .to_string();
    let event_type = field("type")
        .ok_or_else(|| invalid("the event needs a string `type`".to_string()))?
        .to_string();
    let account_id = field(&definition.account_field).map(str::to_string);
    Ok(ParsedEvent {
        event,
        event_id,
        event_type,
        account_id,
    })
}

/// Hex digits only: `u8::from_str_radix` alone would also take a sign (`+f`), so a
/// signature spelled with one would verify.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).ok())
        .collect()
}

impl Service {
    /// [`Service::resolve_webhook_secret`], reused for a short time (see
    /// `Service::webhook_secrets`).
    async fn webhook_secret(&self, key: &str) -> Result<Arc<str>, ServiceError> {
        let ttl = std::time::Duration::from_millis(self.config.limits.connection_cache_ms);
        let now = std::time::Instant::now();
        let cached = self
            .webhook_secrets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(key)
            .filter(|(at, _)| now.duration_since(*at) < ttl)
            .map(|(_, secret)| secret.clone());
        if let Some(secret) = cached {
            return Ok(secret);
        }
        let secret: Arc<str> = self.resolve_webhook_secret(key).await?.into();
        self.webhook_secrets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(key.to_string(), (now, secret.clone()));
        Ok(secret)
    }

    /// The key `key`'s provider signs webhooks with: `TERAPI_WEBHOOK_SECRET_<KEY>`, else
    /// `integrations.<key>.webhook_secret`, else the OAuth app's client secret.
    async fn resolve_webhook_secret(&self, key: &str) -> Result<String, ServiceError> {
        if let Some(secret) = (self.env)(&format!("TERAPI_WEBHOOK_SECRET_{}", env_suffix(key))) {
            return Ok(secret);
        }
        if let Some(secret) = self
            .config
            .integrations
            .get(key)
            .and_then(|integration| integration.webhook_secret.as_ref())
        {
            return Ok(secret.expose().to_string());
        }
        match self.oauth_app(key).await? {
            Some(app) => Ok(app.client_secret().expose().to_string()),
            None => Err(ServiceError::config(format!(
                "integration `{key}` has no webhook secret to verify webhooks with: set \
                 TERAPI_WEBHOOK_SECRET_{} (or `integrations.{key}.webhook_secret`), or its OAuth \
                 app's client secret",
                env_suffix(key)
            ))),
        }
    }

    /// Verifies, de-duplicates, routes and forwards one provider webhook. `signatures`
    /// looks a request header up by name (the provider's signature header).
    pub async fn receive_webhook(
        &self,
        key: &str,
        signature_header: impl Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> Result<Receipt, ServiceError> {
        let outbound = self.outbound(key)?;
        let Some(definition) = outbound.provider.webhooks.clone() else {
            return Err(ServiceError::new(
                ErrorKind::NotFound,
                "webhooks_not_supported",
                format!("integration `{key}`'s provider sends no webhooks"),
            ));
        };
        let secret = self.webhook_secret(key).await?;
        let Some(signature) = signature_header(&definition.signature_header) else {
            tracing::warn!(integration = %key, bytes = body.len(), "webhook refused: no signature");
            return Err(unauthorized(
                "missing_signature",
                format!("the `{}` header is required", definition.signature_header),
            ));
        };
        if !verify_signature(secret.as_bytes(), body, &signature) {
            tracing::warn!(integration = %key, bytes = body.len(), "webhook refused: wrong signature");
            return Err(unauthorized(
                "invalid_signature",
                format!(
                    "the `{}` header is not the body's signature",
                    definition.signature_header
                ),
            ));
        }
        // Counted only once verified: unsigned requests must not slow the forwards down
        // (the webhook worker gives way while provider webhooks are being received).
        let _receiving = self.receiving.enter();
        let ParsedEvent {
            event,
            event_id,
            event_type,
            account_id,
        } = parse_event(body, &definition)?;
        let is_revocation = definition.revocation_event.as_deref() == Some(event_type.as_str());
        // A revocation is matched by token (credentials decrypted, connections marked
        // revoked) before it is recorded; any other event is routed by account inside
        // the transaction that records it.
        let (route, revoked) = if is_revocation {
            let revoked = self.revoke(key, &definition, &event).await?;
            let count = revoked.len();
            (EventRoute::Connections(revoked), count)
        } else {
            match &account_id {
                Some(account) => (
                    EventRoute::ByConfig {
                        name: definition.connection_config_key.clone(),
                        value: account.clone(),
                    },
                    0,
                ),
                None => (EventRoute::Nowhere, 0),
            }
        };
        // A revocation event carries the customer's (now revoked) token: it is not
        // forwarded, nor written to the outbox in clear.
        let mut event = event;
        if is_revocation
            && let Some(token) = definition
                .revoked_token_pointer
                .as_deref()
                .and_then(|pointer| event.pointer_mut(pointer))
        {
            *token = Value::String("[redacted]".into());
        }
        let routing = EventRouting {
            route,
            // A revoked connection's handlers would fail with `connection_revoked`.
            handler_syncs: if is_revocation {
                Vec::new()
            } else {
                self.subscribed_handlers(key, &event_type)
            },
        };
        let forwarding = self.webhook_settings()?.is_some();
        let (provider, integration) = (outbound.provider_name.clone(), key.to_string());
        let outbox: OutboxWrites = Box::new(move |routed: &[RoutedConnection]| {
            let forward = |connection_id: Option<&str>| NewDelivery {
                kind: "forward".into(),
                provider_config_key: Some(integration.clone()),
                connection_id: connection_id.map(str::to_string),
                body: json!({
                    "from": provider,
                    "type": "forward",
                    "connectionId": connection_id,
                    "providerConfigKey": integration,
                    "payload": event,
                })
                .to_string(),
            };
            let mut writes: Vec<NewDelivery> = if !forwarding {
                Vec::new()
            } else if routed.is_empty() {
                vec![forward(None)]
            } else {
                routed
                    .iter()
                    .map(|connection| forward(Some(&connection.connection_id)))
                    .collect()
            };
            writes.extend(handler_jobs(&integration, routed, &event));
            writes
        });
        let received = ReceivedEvent {
            provider_config_key: key.to_string(),
            event_id: event_id.clone(),
            event_type: event_type.clone(),
            account_id,
        };
        let window = std::time::Duration::from_secs(self.config.server.webhook_dedupe_window_secs);
        let acceptance = self
            .stores
            .webhook_events
            .accept_event(&received, &routing, outbox, window)
            .await?;
        let EventAcceptance::Accepted(routed) = acceptance else {
            tracing::info!(integration = %key, event = %event_id, "duplicate webhook acknowledged, not processed again");
            return Ok(Receipt::Duplicate { event_id });
        };
        let handled: usize = routed
            .iter()
            .map(|connection| connection.handler_syncs.len())
            .sum();
        if forwarding {
            self.webhook_written.notify_one();
        }
        if handled > 0 {
            self.handlers_written.notify_one();
        }
        tracing::info!(integration = %key, event = %event_id, r#type = %event_type, routed = routed.len(), revoked, handlers = handled, "webhook accepted");
        Ok(Receipt::Accepted {
            event_id,
            routed: routed.len(),
            revoked,
        })
    }

    /// The connections a revocation event's token belongs to, now marked revoked and
    /// their syncs paused.
    async fn revoke(
        &self,
        key: &str,
        definition: &ProviderWebhooks,
        event: &Value,
    ) -> Result<Vec<String>, ServiceError> {
        let store = self.connections();
        let presented = definition
            .revoked_token_pointer
            .as_deref()
            .and_then(|pointer| event.pointer(pointer))
            .and_then(Value::as_str);
        let Some(presented) = presented else {
            tracing::warn!(integration = %key, "revocation event without a token; not routed");
            return Ok(Vec::new());
        };
        // Found by the digest of the token; the token itself is never stored in clear,
        // compared or logged.
        let mut revoked = Vec::new();
        for connection_id in store
            .with_token_digest(key, &token_digest(presented))
            .await?
        {
            store.mark_revoked(key, &connection_id).await?;
            // Its syncs stop running by themselves (a trigger would fail with
            // `connection_revoked` anyway); `/sync/start` resumes them once the
            // customer connects again.
            for schedule in self
                .stores
                .schedules
                .schedules(key, Some(&connection_id))
                .await?
            {
                self.stores
                    .schedules
                    .set_schedule_state(
                        &schedule.scope,
                        ScheduleState::Paused,
                        time::OffsetDateTime::now_utc(),
                    )
                    .await?;
            }
            tracing::warn!(integration = %key, connection = %connection_id, "connection revoked by the provider; its syncs are paused");
            revoked.push(connection_id);
        }
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkrs_published_test_vector_verifies() {
        let body = br#"{"monday":"75F","tuesday":"80F"}"#;
        let signature = "b7412f05e981a473b5ecbdb5393afaea02a679db6d7c8e56803512ec4ba98151";
        assert!(verify_signature(b"test-secret", body, signature));
        assert!(verify_signature(
            b"test-secret",
            body,
            &signature.to_uppercase()
        ));
        assert!(!verify_signature(b"other-secret", body, signature));
        assert!(!verify_signature(
            b"test-secret",
            br#"{"monday":"76F","tuesday":"80F"}"#,
            signature
        ));
        assert!(
            !verify_signature(b"test-secret", body, &signature[..62]),
            "truncated"
        );
        assert!(!verify_signature(b"test-secret", body, "zz"), "not hex");
        assert!(!verify_signature(b"test-secret", body, ""), "empty");
        assert!(!verify_signature(b"test-secret", body, "é"), "not ASCII");
    }
}
