//! Webhooks to the application: sync notifications in Nango's shape, queued in the
//! outbox ([`WebhookStore`]) and delivered by a background loop.
//!
//! Delivery POSTs the stored body as it is, signed with `X-Nango-Hmac-Sha256` (hex
//! HMAC-SHA256 of the raw body, keyed by the signing key) so Nango's
//! `verifyIncomingWebhookRequest` accepts it. A 2xx delivers; a network error, a 5xx or
//! a 429 is retried with exponential backoff (1 s doubling, at most an hour apart, 12
//! attempts); any other status gives up at once. Given-up webhooks stay in the outbox as
//! `FAILED`, listed by `terapi webhooks list --failed` and replayable.

use super::{SchedulerHandle, Service, ServiceError};
use crate::runtime::SyncOutcome;
use crate::store::{OutboundWebhook, SyncScope, WebhookStatus, WebhookStore};
use crate::util::iso;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Webhooks delivered at once by one loop.
const BATCH: usize = 16;
/// How long a claimed delivery holds its webhook (an attempt times out well before).
const CLAIM: Duration = Duration::from_secs(30);
/// One delivery attempt's timeout.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// First retry delay; doubles each attempt.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest delay between attempts.
const MAX_RETRY: Duration = Duration::from_secs(3600);
/// Attempts before giving up.
const MAX_ATTEMPTS: u32 = 12;
/// How often the loop looks for due webhooks.
const TICK: Duration = Duration::from_millis(250);

/// Where sync webhooks go, resolved from the environment and the configuration.
#[derive(Clone)]
pub(crate) struct WebhookTarget {
    pub(crate) url: String,
    pub(crate) on_error: bool,
    pub(crate) store: Arc<dyn WebhookStore>,
}

/// `hex(HMAC-SHA256(key, body))`.
pub fn signature(key: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    crate::util::hex(&mac.finalize().into_bytes())
}

/// The sync webhooks a run sends: one per model that changed (success), or one per
/// model when it failed and failures are notified.
pub(crate) fn sync_webhooks(
    scope: &SyncScope,
    outcome: &SyncOutcome,
    on_error: bool,
) -> Vec<Value> {
    let mut bodies = Vec::new();
    for (model, counts) in &outcome.counts {
        let common = json!({
            "from": "terapi",
            "type": "sync",
            "connectionId": scope.connection_id,
            "providerConfigKey": scope.provider_config_key,
            "syncName": scope.sync,
            "model": model,
            "syncType": "INCREMENTAL",
        });
        let Value::Object(mut body) = common else {
            continue;
        };
        match &outcome.result {
            Ok(()) if counts.changed() => {
                body.insert("success".into(), Value::Bool(true));
                body.insert(
                    "responseResults".into(),
                    json!({ "added": counts.added, "updated": counts.updated, "deleted": counts.deleted }),
                );
                body.insert("modifiedAfter".into(), iso(outcome.started_at));
                body.insert("queryTimeStamp".into(), iso(outcome.started_at));
            }
            Err(error) if on_error => {
                body.insert("success".into(), Value::Bool(false));
                body.insert(
                    "error".into(),
                    json!({ "type": "script_error", "description": error.to_string() }),
                );
                body.insert("startedAt".into(), iso(outcome.started_at));
                body.insert("failedAt".into(), iso(outcome.finished_at));
            }
            _ => continue,
        }
        bodies.push(Value::Object(body));
    }
    bodies
}

/// Queues a run's sync webhooks.
pub(crate) async fn enqueue_sync_webhooks(
    target: &WebhookTarget,
    scope: &SyncScope,
    outcome: &SyncOutcome,
) {
    for body in sync_webhooks(scope, outcome, target.on_error) {
        if let Err(error) = target
            .store
            .enqueue_webhook(&target.url, &body.to_string())
            .await
        {
            tracing::error!(sync = %scope.sync, %error, "cannot queue a sync webhook");
        }
    }
}

/// The delay before attempt `attempts + 1` after `attempts` failed ones.
fn backoff(attempts: u32) -> Duration {
    let doubling = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
    FIRST_RETRY.saturating_mul(doubling).min(MAX_RETRY)
}

/// One delivery attempt: `Ok` on 2xx, else the error and whether to retry.
async fn attempt(
    client: &reqwest::Client,
    webhook: &OutboundWebhook,
    signing_key: Option<&str>,
) -> Result<(), (String, bool)> {
    let mut request = client
        .post(&webhook.url)
        .timeout(ATTEMPT_TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(webhook.body.clone());
    if let Some(key) = signing_key {
        request = request.header(
            "X-Nango-Hmac-Sha256",
            signature(key, webhook.body.as_bytes()),
        );
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => {
            let status = response.status();
            let retry = status.is_server_error() || status.as_u16() == 429;
            Err((format!("the receiver answered {status}"), retry))
        }
        Err(error) => Err((
            format!(
                "cannot reach the receiver: {}",
                crate::util::root_cause(&error)
            ),
            true,
        )),
    }
}

impl Service {
    /// Where sync webhooks go, if anywhere (`TERAPI_WEBHOOK_URL`, else
    /// `server.webhook_url`).
    pub(crate) fn webhook_target(&self) -> Option<WebhookTarget> {
        let url = (self.env)("TERAPI_WEBHOOK_URL")
            .or_else(|| self.config.server.webhook_url.clone())
            .filter(|url| !url.trim().is_empty())?;
        Some(WebhookTarget {
            url,
            on_error: self.config.server.webhook_on_sync_error,
            store: self.stores.webhooks.clone(),
        })
    }

    fn webhook_signing_key(&self) -> Option<String> {
        (self.env)("TERAPI_WEBHOOK_SIGNING_KEY").or_else(|| {
            self.config
                .server
                .webhook_signing_key
                .as_ref()
                .map(|key| key.expose().to_string())
        })
    }

    /// Starts the loop delivering the outbox (`terapi serve` does).
    pub fn start_webhook_delivery(&self) -> SchedulerHandle {
        let store = self.stores.webhooks.clone();
        let client = self.client.clone();
        let key = self.webhook_signing_key();
        let task = tokio::spawn(async move {
            loop {
                let now = OffsetDateTime::now_utc();
                match store.claim_webhooks(now, now + CLAIM, BATCH).await {
                    Ok(due) => {
                        let deliveries = due.into_iter().map(|webhook| {
                            let (store, client, key) = (store.clone(), client.clone(), key.clone());
                            async move {
                                let outcome = match attempt(&client, &webhook, key.as_deref()).await {
                                    Ok(()) => Ok(()),
                                    Err((error, retry)) => {
                                        let attempts = webhook.attempts + 1;
                                        let next = (retry && attempts < MAX_ATTEMPTS)
                                            .then(|| OffsetDateTime::now_utc() + backoff(attempts));
                                        tracing::warn!(webhook = webhook.id, attempts, %error, retry = next.is_some(), "webhook delivery failed");
                                        Err((error, next))
                                    }
                                };
                                if let Err(error) = store.webhook_attempted(webhook.id, outcome).await {
                                    tracing::error!(webhook = webhook.id, %error, "cannot record a webhook delivery");
                                }
                            }
                        });
                        futures_util::future::join_all(deliveries).await;
                    }
                    Err(error) => tracing::warn!(%error, "cannot claim webhooks"),
                }
                tokio::time::sleep(TICK).await;
            }
        });
        SchedulerHandle { task }
    }

    /// The newest outbox entries (`failed_only`: those given up on).
    pub async fn webhooks(
        &self,
        failed_only: bool,
        limit: usize,
    ) -> Result<Vec<OutboundWebhook>, ServiceError> {
        Ok(self
            .stores
            .webhooks
            .list_webhooks(failed_only.then_some(WebhookStatus::Failed), limit)
            .await?)
    }

    /// Queues a webhook again.
    pub async fn replay_webhook(&self, id: i64) -> Result<(), ServiceError> {
        if self.stores.webhooks.replay_webhook(id).await? {
            Ok(())
        } else {
            Err(ServiceError::new(
                super::ErrorKind::NotFound,
                "unknown_webhook",
                format!("no webhook {id} in the outbox"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::SyncError;
    use crate::store::WriteCounts;
    use std::collections::BTreeMap;

    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(40), MAX_RETRY);
    }

    fn outcome(result: Result<(), SyncError>, added: u64) -> SyncOutcome {
        let mut counts = BTreeMap::new();
        counts.insert(
            "Number".to_string(),
            WriteCounts {
                added,
                ..WriteCounts::default()
            },
        );
        counts.insert("Other".to_string(), WriteCounts::default());
        let now = OffsetDateTime::now_utc();
        SyncOutcome {
            result,
            counts,
            started_at: now,
            finished_at: now,
            logs: Vec::new(),
        }
    }

    #[test]
    fn only_changed_models_and_notified_failures_make_webhooks() {
        let scope = SyncScope::new("test-guests", "acme", "numbers");
        let bodies = sync_webhooks(&scope, &outcome(Ok(()), 3), false);
        assert_eq!(bodies.len(), 1, "{bodies:?}");
        assert_eq!(bodies[0]["model"], "Number");
        assert_eq!(bodies[0]["success"], true);
        assert_eq!(
            bodies[0]["responseResults"],
            json!({"added": 3, "updated": 0, "deleted": 0})
        );
        assert_eq!(bodies[0]["from"], "terapi");
        assert!(sync_webhooks(&scope, &outcome(Ok(()), 0), true).is_empty());
        let failed = outcome(Err(SyncError::Internal("boom".into())), 0);
        assert!(sync_webhooks(&scope, &failed, false).is_empty());
        let bodies = sync_webhooks(&scope, &failed, true);
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[0]["success"], false);
        assert!(
            bodies[0]["error"]["description"]
                .as_str()
                .unwrap_or_default()
                .contains("boom")
        );
    }
}
