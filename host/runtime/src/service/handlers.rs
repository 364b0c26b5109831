//! Applying provider webhooks to synced records: a sync's `on-webhook` handler.
//!
//! When a verified event is accepted ([`Service::receive_webhook`]), one *handler job*
//! is written for each connection it routes to and each of that connection's syncs that
//! subscribes to the event's type and is not paused — in the same transaction as the
//! event's id and its forwards to the application, so an acknowledged event is never
//! lost, even if the process dies the next instant. Jobs live in the outbox under kind
//! [`HANDLER_KIND`]: they are listed, retried and replayed like webhooks to the
//! application, but a worker of their own runs them ([`Service::run_webhook_handlers`]),
//! woken as soon as one is written, so a completed report is in the records API
//! milliseconds after Checkr's webhook arrived instead of at the next scheduled run.
//!
//! A job runs the handler in a fresh sandbox with the connection's capabilities (like
//! `fetch-data`, with an action's deadline). When it changed records, the application
//! gets a sync webhook with `syncType: "WEBHOOK"`. A failed run is retried with backoff
//! (its cause may be the provider's 5xx or a deadline) up to
//! `server.webhook_max_attempts`; a job whose connection or sync is gone, or whose
//! connection was revoked, fails at once. A job that failed for good stays listed
//! (`terapi webhooks list --failed`) and can be replayed.

use super::webhooks::{CLAIM_LEASE, SyncType, backoff, retry_or_fail};
use super::{Service, ServiceError};
use crate::runtime::{SyncError, SyncOutcome};
use crate::store::{
    AttemptOutcome, Delivery, HANDLER_KIND, NewDelivery, OutboxWork, RoutedConnection, SyncScope,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// Handler jobs run at once per pass. Each is a sandboxed guest that usually makes one
/// provider request; 16 keeps a burst of events moving without letting handlers crowd
/// out the actions the API runs on the same cores and provider rate limit.
const BATCH: usize = 16;

/// What a handler job's outbox body holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandlerJob {
    /// The sync whose handler applies the event.
    sync: String,
    /// The event, as the provider sent it.
    event: Value,
}

/// The handler jobs an accepted event calls for: one per routed connection and per sync
/// of it that subscribes to the event's type and is not paused for it.
pub(crate) fn handler_jobs(
    key: &str,
    routed: &[RoutedConnection],
    event: &Value,
) -> Vec<NewDelivery> {
    let mut jobs = Vec::new();
    for connection in routed {
        for sync in &connection.handler_syncs {
            let job = HandlerJob {
                sync: sync.clone(),
                event: event.clone(),
            };
            jobs.push(NewDelivery {
                kind: HANDLER_KIND.into(),
                provider_config_key: Some(key.to_string()),
                connection_id: Some(connection.connection_id.clone()),
                body: json!(job).to_string(),
            });
        }
    }
    jobs
}

impl Service {
    /// The syncs whose webhook handlers subscribe to `event_type` (none without a
    /// runtime): the store tells which of them are active for each routed connection.
    pub(crate) fn subscribed_handlers(&self, key: &str, event_type: &str) -> Vec<String> {
        self.runtime
            .as_ref()
            .map(|runtime| runtime.webhook_syncs(key, event_type))
            .unwrap_or_default()
    }

    /// Runs the webhook handler jobs that are due now, once; returns how many ran.
    pub async fn apply_due_webhook_handlers(&self) -> Result<usize, ServiceError> {
        let lease = self.started_runtime()?.limits().invocation_timeout() + CLAIM_LEASE;
        let due = self
            .stores
            .outbox
            .claim_due_deliveries(OutboxWork::Handlers, BATCH, lease)
            .await?;
        let count = due.len();
        let runs = due.into_iter().map(|job| self.apply_handler_job(job));
        for result in futures_util::future::join_all(runs).await {
            result?;
        }
        Ok(count)
    }

    /// Runs webhook handler jobs until `shutdown` completes: at once when one is
    /// written, else polling every second for retries that came due (and for jobs other
    /// nodes wrote). Jobs under way when `shutdown` completes are finished first.
    pub async fn run_webhook_handlers(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let ran = self.apply_due_webhook_handlers().await;
            let stopping = tokio::select! {
                biased;
                () = &mut shutdown => true,
                () = std::future::ready(()) => false,
            };
            if stopping {
                return;
            }
            let ran = match ran {
                Ok(ran) => ran,
                Err(error) => {
                    tracing::error!(%error, "cannot run webhook handlers");
                    0
                }
            };
            if ran == BATCH {
                continue;
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.handlers_written.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Runs one job and records what came of it.
    async fn apply_handler_job(&self, job: Delivery) -> Result<(), ServiceError> {
        let attempt = job.attempts.saturating_add(1);
        let max_attempts = self.config.server.webhook_max_attempts.max(1);
        let parsed = serde_json::from_str::<HandlerJob>(&job.body);
        let (Some(key), Some(connection_id), Ok(parsed)) =
            (&job.provider_config_key, &job.connection_id, parsed)
        else {
            // Only this module writes jobs; one it cannot read will not get better.
            let outcome = AttemptOutcome::Failed("not a webhook handler job".into());
            return Ok(self.stores.outbox.record_attempt(job.id, &outcome).await?);
        };
        let runtime = self.started_runtime()?;
        let event = parsed.event.to_string();
        let outcome = runtime
            .run_sync_webhook(key, connection_id, &parsed.sync, &event)
            .await;
        let scope = SyncScope::new(key, connection_id, &parsed.sync);
        let attempt_outcome = match &outcome.result {
            Ok(()) => AttemptOutcome::Delivered,
            Err(
                error @ (SyncError::UnknownIntegration { .. }
                | SyncError::UnknownSync { .. }
                | SyncError::UnknownConnection { .. }
                | SyncError::ConnectionRevoked { .. }),
            ) => AttemptOutcome::Failed(error.to_string()),
            Err(error) => retry_or_fail(attempt, max_attempts, error.to_string(), backoff(attempt)),
        };
        self.log_handler_outcome(&job, &scope, &outcome, &attempt_outcome);
        if outcome.result.is_ok()
            && let Some(notifier) = self.sync_notifier()
        {
            notifier.notify(&scope, &outcome, SyncType::Webhook).await;
        }
        self.stores
            .outbox
            .record_attempt(job.id, &attempt_outcome)
            .await?;
        Ok(())
    }

    fn log_handler_outcome(
        &self,
        job: &Delivery,
        scope: &SyncScope,
        outcome: &SyncOutcome,
        attempt: &AttemptOutcome,
    ) {
        let changed: u64 = outcome
            .counts
            .values()
            .map(|counts| counts.added + counts.updated + counts.deleted)
            .sum();
        match attempt {
            AttemptOutcome::Delivered => {
                tracing::info!(job = job.id, integration = %scope.provider_config_key, connection = %scope.connection_id, sync = %scope.sync, changed, "webhook applied");
            }
            AttemptOutcome::RetryAt(at, error) => {
                tracing::warn!(job = job.id, integration = %scope.provider_config_key, connection = %scope.connection_id, sync = %scope.sync, %error, retry_at = %at, "webhook handler failed; will retry");
            }
            AttemptOutcome::Failed(error) => {
                tracing::warn!(job = job.id, integration = %scope.provider_config_key, connection = %scope.connection_id, sync = %scope.sync, %error, "webhook handler failed for good; replay it once the cause is fixed");
            }
        }
    }
}
