//! Webhooks to the application: written to the durable outbox
//! ([`OutboxStore`](crate::store::OutboxStore)) and delivered from there.
//!
//! * **Signed** like Nango's: `X-Nango-Hmac-Sha256` is the hex HMAC-SHA256 of the exact
//!   body, keyed by `TERAPI_WEBHOOK_SIGNING_KEY` (or `server.webhook_signing_key`), else
//!   the secret key — so `@nangohq/node`'s `verifyIncomingWebhookRequest` accepts them.
//!   `X-Terapi-Delivery-Id` carries the outbox id, for receivers that de-duplicate.
//! * **At least once**: a delivery is retried with exponential backoff (1 s doubling, at
//!   most 10 minutes apart; a 429's `Retry-After` is honoured within that) on network
//!   errors, timeouts, 5xx and 429, across restarts, up to `server.webhook_max_attempts`.
//!   Any other status fails at once (retrying will not change a 400). A failed delivery
//!   stays listed (`terapi webhooks list --failed`, `GET /webhooks?status=failed`) and
//!   can be replayed.
//! * **Shared by nodes**: a worker claims due deliveries for a lease, so two nodes never
//!   send the same attempt, and a node that dies mid-delivery strands nothing.

use super::keys::EnvLookup;
use super::{Service, ServiceError};
use crate::config::RuntimeConfig;
use crate::runtime::SyncOutcome;
use crate::store::{AttemptOutcome, Delivery, NewDelivery, OutboxStore, OutboxWork, SyncScope};
use crate::util::{hex, iso, root_cause};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use url::Url;

/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// First wait after a failed attempt; doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// One attempt's timeout: a receiver should acknowledge, not process, within it.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claimed delivery is reserved for the worker that claimed it: longer than an
/// attempt can take, so a live worker never loses its claim; a dead one's expires.
pub(crate) const CLAIM_LEASE: Duration = Duration::from_secs(60);
/// Deliveries sent concurrently per pass when the host is otherwise quiet. A receiver is
/// usually a remote application that answers in tens of milliseconds, so forwarding is
/// bound by waiting, not by CPU: 32 at once keeps up with hundreds of webhooks a second
/// even from a slow receiver.
pub(crate) const BATCH: usize = 32;
/// Deliveries sent per pass however busy the host is receiving: forwarding slows under a
/// burst but never stops.
const MIN_PASS: usize = 4;
/// Kept of a refusing receiver's body in the delivery's error.
const ERROR_BODY_CHARS: usize = 200;

/// Where webhooks go and how they are signed.
#[derive(Clone)]
pub struct WebhookSettings {
    url: Url,
    signing_key: Arc<str>,
    max_attempts: u32,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &self.url.as_str())
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl WebhookSettings {
    /// The settings the configuration and environment give: `None` when no webhook URL is
    /// set (`TERAPI_WEBHOOK_URL` or `server.webhook_url`).
    pub fn resolve(config: &RuntimeConfig, env: &EnvLookup) -> Result<Option<Self>, ServiceError> {
        let Some(url) = env("TERAPI_WEBHOOK_URL").or_else(|| config.server.webhook_url.clone())
        else {
            return Ok(None);
        };
        let parsed = Url::parse(&url)
            .ok()
            .filter(|parsed| matches!(parsed.scheme(), "http" | "https") && parsed.has_host())
            .ok_or_else(|| {
                ServiceError::config(format!(
                    "the webhook URL `{url}` (TERAPI_WEBHOOK_URL or `server.webhook_url`) must be \
                     an http(s) URL with a host"
                ))
            })?;
        let signing_key = signing_key(config, env).ok_or_else(|| {
                ServiceError::config(
                    "webhooks are configured but nothing can sign them: set \
                     TERAPI_WEBHOOK_SIGNING_KEY (or `server.webhook_signing_key`, or the secret key)",
                )
            })?;
        Ok(Some(WebhookSettings {
            url: parsed,
            signing_key: signing_key.into(),
            max_attempts: config.server.webhook_max_attempts.max(1),
        }))
    }

    /// Where webhooks are sent.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

/// The key webhooks to the application are signed with: `TERAPI_WEBHOOK_SIGNING_KEY`,
/// else `server.webhook_signing_key`, else the secret key; `None` when there is none.
pub fn signing_key(config: &RuntimeConfig, env: &EnvLookup) -> Option<String> {
    env("TERAPI_WEBHOOK_SIGNING_KEY")
        .or_else(|| {
            config
                .server
                .webhook_signing_key
                .as_ref()
                .map(|key| key.expose().to_string())
        })
        .or_else(|| super::keys::secret_key(config, env).ok())
        .filter(|key| !key.is_empty())
}

/// The `X-Nango-Hmac-Sha256` value of `body` under `key`: hex HMAC-SHA256.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(body);
            hex(&mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Sends claimed deliveries and records what came of them.
#[derive(Clone)]
pub(crate) struct Deliverer {
    pub(crate) settings: WebhookSettings,
    pub(crate) client: reqwest::Client,
    pub(crate) outbox: Arc<dyn OutboxStore>,
    /// Provider webhooks being processed now (signature verified).
    pub(crate) receiving: Arc<super::InFlight>,
}

impl Deliverer {
    /// How many deliveries the next pass sends: [`BATCH`] when no provider webhook is
    /// being processed, else [`MIN_PASS`]. Only webhooks whose signature verified count,
    /// so unsigned traffic cannot slow the forwards down.
    ///
    /// Acknowledgements first: a provider waits for its webhook's answer with a timeout
    /// and sends it again after one, while a forward is durable in the outbox and loses
    /// nothing by waiting. When a burst of webhooks saturates the cores, every forward
    /// sent meanwhile (an HTTP request, its answer and a store write) is CPU taken from
    /// the acknowledgements. Measured on the 2-core bench machine (P7, five bursts of
    /// 2,000 at concurrency 32): full passes of 32 held ingest at 11,000–13,000 events/s
    /// with a p99 of ~6 ms; giving way, 12,000–15,600/s and a p99 of 3.6–4 ms in most
    /// runs, and the app still had every forward ~0.5 s after the last acknowledgement.
    pub(crate) fn pass_size(&self) -> usize {
        if self.receiving.count() == 0 {
            BATCH
        } else {
            MIN_PASS
        }
    }

    /// One pass: claims up to `limit` due deliveries and delivers them concurrently.
    /// Returns how many were attempted.
    pub(crate) async fn deliver_due(&self, limit: usize) -> Result<usize, ServiceError> {
        let due = self
            .outbox
            .claim_due_deliveries(OutboxWork::Deliveries, limit, CLAIM_LEASE)
            .await?;
        let count = due.len();
        let mut attempts = tokio::task::JoinSet::new();
        for delivery in due {
            let deliverer = self.clone();
            attempts.spawn(async move {
                let id = delivery.id;
                (id, deliverer.attempt(delivery).await)
            });
        }
        // Outcomes are recorded as attempts finish, those that finished together in one
        // write (under a burst, one per delivery was half the store's writes).
        while let Some(first) = attempts.join_next().await {
            let outcomes: Vec<(i64, AttemptOutcome)> = std::iter::once(first)
                .chain(std::iter::from_fn(|| attempts.try_join_next()))
                .filter_map(|done| {
                    done.map_err(|error| tracing::error!(%error, "a webhook delivery task failed"))
                        .ok()
                })
                .collect();
            if outcomes.is_empty() {
                continue;
            }
            if let Err(error) = self.outbox.record_attempts(&outcomes).await {
                // Their claims lapse and they are sent again (receivers de-duplicate by
                // `X-Terapi-Delivery-Id`).
                tracing::error!(%error, deliveries = outcomes.len(), "cannot record webhook deliveries");
            }
        }
        Ok(count)
    }

    /// Sends one delivery; what came of it (logged, not yet recorded).
    async fn attempt(&self, delivery: Delivery) -> AttemptOutcome {
        let signature = sign(
            self.settings.signing_key.as_bytes(),
            delivery.body.as_bytes(),
        );
        let sent = self
            .client
            .post(self.settings.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Nango-Hmac-Sha256", signature)
            .header("X-Terapi-Delivery-Id", delivery.id.to_string())
            .timeout(ATTEMPT_TIMEOUT)
            .body(delivery.body.clone())
            .send()
            .await;
        let attempt = delivery.attempts.saturating_add(1);
        let retry = |error: String, wait: Duration| {
            retry_or_fail(attempt, self.settings.max_attempts, error, wait)
        };
        let outcome = match sent {
            Ok(response) if response.status().is_success() => AttemptOutcome::Delivered,
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let body = response.text().await.unwrap_or_default();
                let excerpt: String = body.chars().take(ERROR_BODY_CHARS).collect();
                let error = format!("HTTP {}: {}", status.as_u16(), excerpt.trim());
                if status.as_u16() == 429 || status.is_server_error() {
                    let wait = retry_after
                        .unwrap_or_else(|| backoff(attempt))
                        .min(MAX_BACKOFF);
                    retry(error, wait)
                } else {
                    AttemptOutcome::Failed(error)
                }
            }
            Err(error) => {
                let what = if error.is_timeout() {
                    format!("timed out after {ATTEMPT_TIMEOUT:?}")
                } else {
                    root_cause(&error)
                };
                retry(what, backoff(attempt))
            }
        };
        match &outcome {
            AttemptOutcome::Delivered => {
                tracing::debug!(delivery = delivery.id, kind = %delivery.kind, "webhook delivered");
            }
            AttemptOutcome::RetryAt(at, error) => {
                tracing::info!(delivery = delivery.id, kind = %delivery.kind, %error, retry_at = %at, "webhook delivery failed; will retry");
            }
            AttemptOutcome::Failed(error) => {
                tracing::warn!(delivery = delivery.id, kind = %delivery.kind, %error, "webhook delivery failed for good; replay it once the receiver is fixed");
            }
        }
        outcome
    }
}

/// What `attempt` (counting from 1) failing with `error` comes to: another attempt after
/// `wait`, or, when it was the last of `max_attempts`, failed for good.
pub(crate) fn retry_or_fail(
    attempt: u32,
    max_attempts: u32,
    error: String,
    wait: Duration,
) -> AttemptOutcome {
    if attempt >= max_attempts {
        AttemptOutcome::Failed(format!("{error} (gave up after {attempt} attempts)"))
    } else {
        let wait = time::Duration::try_from(wait).unwrap_or(time::Duration::minutes(10));
        AttemptOutcome::RetryAt(OffsetDateTime::now_utc() + wait, error)
    }
}

/// How a sync run came about, as Nango's sync webhooks say (`syncType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncType {
    /// A scheduled or triggered `fetch-data` run.
    Incremental,
    /// A webhook handler applying a provider event.
    Webhook,
}

impl SyncType {
    fn as_str(self) -> &'static str {
        match self {
            SyncType::Incremental => "INCREMENTAL",
            SyncType::Webhook => "WEBHOOK",
        }
    }
}

/// The sync webhooks a run sends, in Nango's shape: one per model whose records changed
/// when it succeeded (`responseResults` with the counts), or one per model when it
/// failed and `on_error` (`server.webhook_on_sync_error`).
pub(crate) fn sync_webhooks(
    scope: &SyncScope,
    outcome: &SyncOutcome,
    on_error: bool,
    sync_type: SyncType,
) -> Vec<Value> {
    let mut bodies = Vec::new();
    for (model, counts) in &outcome.counts {
        let mut body = json!({
            "from": "terapi",
            "type": "sync",
            "connectionId": scope.connection_id,
            "providerConfigKey": scope.provider_config_key,
            "syncName": scope.sync,
            "model": model,
            "syncType": sync_type.as_str(),
        });
        match &outcome.result {
            Ok(()) if counts.changed() => {
                body["success"] = Value::Bool(true);
                body["responseResults"] = json!({
                    "added": counts.added,
                    "updated": counts.updated,
                    "deleted": counts.deleted,
                });
                body["modifiedAfter"] = iso(outcome.started_at);
                body["queryTimeStamp"] = iso(outcome.finished_at);
            }
            Err(error) if on_error => {
                body["success"] = Value::Bool(false);
                body["error"] = json!({ "type": "script_error", "description": error.to_string() });
                body["startedAt"] = iso(outcome.started_at);
                body["failedAt"] = iso(outcome.finished_at);
            }
            _ => continue,
        }
        bodies.push(body);
    }
    bodies
}

/// Writes a sync run's webhooks to the outbox (and wakes the worker).
#[derive(Clone)]
pub(crate) struct SyncNotifier {
    outbox: Arc<dyn OutboxStore>,
    written: Arc<tokio::sync::Notify>,
    on_error: bool,
}

impl SyncNotifier {
    /// Writes the webhooks `outcome` calls for.
    pub(crate) async fn notify(
        &self,
        scope: &SyncScope,
        outcome: &SyncOutcome,
        sync_type: SyncType,
    ) {
        let bodies = sync_webhooks(scope, outcome, self.on_error, sync_type);
        if bodies.is_empty() {
            return;
        }
        for body in bodies {
            let delivery = NewDelivery {
                kind: "sync".into(),
                provider_config_key: Some(scope.provider_config_key.clone()),
                connection_id: Some(scope.connection_id.clone()),
                body: body.to_string(),
            };
            if let Err(error) = self.outbox.enqueue(&delivery).await {
                tracing::error!(sync = %scope.sync, %error, "cannot write a sync webhook to the outbox");
            }
        }
        self.written.notify_one();
    }
}

impl Service {
    /// What writes sync webhooks, when a webhook URL is configured.
    pub(crate) fn sync_notifier(&self) -> Option<SyncNotifier> {
        match self.webhook_settings() {
            Ok(Some(_)) => Some(SyncNotifier {
                outbox: self.stores.outbox.clone(),
                written: self.webhook_written.clone(),
                on_error: self.config.server.webhook_on_sync_error,
            }),
            _ => None,
        }
    }
}

/// The wait before attempt `attempt + 1`: 1 s, 2 s, 4 s, ... at most [`MAX_BACKOFF`].
pub(crate) fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// Forwarding gives way while provider webhooks are being received, and takes its
    /// full pace again once none is.
    #[test]
    fn a_pass_is_smaller_while_webhooks_are_being_received() {
        let mut config = RuntimeConfig::default();
        config.server.webhook_url = Some("https://app.example/webhooks".into());
        config.server.secret_key = Some(crate::config::Secret::new("secret"));
        let none: EnvLookup = Arc::new(|_| None);
        let deliverer = Deliverer {
            settings: WebhookSettings::resolve(&config, &none)
                .expect("ok")
                .expect("configured"),
            client: reqwest::Client::new(),
            outbox: Arc::new(crate::store::SqliteStore::in_memory().expect("store")),
            receiving: Arc::new(super::super::InFlight::default()),
        };
        assert_eq!(deliverer.pass_size(), BATCH);
        let receiving = [deliverer.receiving.enter(), deliverer.receiving.enter()];
        assert_eq!(deliverer.pass_size(), MIN_PASS);
        drop(receiving);
        assert_eq!(deliverer.pass_size(), BATCH);
    }

    #[test]
    fn backoff_doubles_from_a_second_up_to_ten_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    #[test]
    fn settings_name_what_is_missing() {
        let mut config = RuntimeConfig::default();
        let none: EnvLookup = Arc::new(|_| None);
        assert!(
            WebhookSettings::resolve(&config, &none)
                .expect("ok")
                .is_none()
        );
        config.server.webhook_url = Some("https://app.example/webhooks".into());
        let error = WebhookSettings::resolve(&config, &none).expect_err("no key");
        assert!(
            error.message.contains("TERAPI_WEBHOOK_SIGNING_KEY"),
            "{error}"
        );
        config.server.secret_key = Some(crate::config::Secret::new("secret"));
        let settings = WebhookSettings::resolve(&config, &none)
            .expect("ok")
            .expect("configured");
        assert_eq!(settings.url().as_str(), "https://app.example/webhooks");
        let env: EnvLookup =
            Arc::new(|name| (name == "TERAPI_WEBHOOK_URL").then(|| "ftp://nope".to_string()));
        let error = WebhookSettings::resolve(&config, &env).expect_err("bad url");
        assert!(error.message.contains("ftp://nope"), "{error}");
    }
}
