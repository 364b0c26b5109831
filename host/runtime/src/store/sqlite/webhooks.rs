//! The SQLite backend's webhook outbox (migration 6).

use super::{Db, db_error};
use crate::store::{OutboundWebhook, StoreError, WebhookStatus};
use rusqlite::{Row, TransactionBehavior, params};
use time::OffsetDateTime;

const COLUMNS: &str =
    "id, url, body, created_at, attempts, status, next_attempt_at, delivered_at, last_error";

fn ms(instant: OffsetDateTime) -> i64 {
    i64::try_from(instant.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn at(millis: i64) -> Result<OffsetDateTime, rusqlite::Error> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Integer,
            Box::new(error),
        )
    })
}

fn read(row: &Row<'_>) -> Result<OutboundWebhook, rusqlite::Error> {
    let status: String = row.get(5)?;
    Ok(OutboundWebhook {
        id: row.get(0)?,
        url: row.get(1)?,
        body: row.get(2)?,
        created_at: at(row.get(3)?)?,
        attempts: row.get(4)?,
        status: WebhookStatus::parse(&status).unwrap_or(WebhookStatus::Failed),
        next_attempt_at: row.get::<_, Option<i64>>(6)?.map(at).transpose()?,
        delivered_at: row.get::<_, Option<i64>>(7)?.map(at).transpose()?,
        last_error: row.get(8)?,
    })
}

impl Db {
    pub(super) fn enqueue_webhook(
        &self,
        url: &str,
        body: &str,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let db = self.db();
        db.execute(
            "INSERT INTO webhook_outbox (url, body, created_at, attempts, status, next_attempt_at)
             VALUES (?1, ?2, ?3, 0, 'PENDING', ?3)",
            params![url, body, ms(now)],
        )
        .map_err(db_error)?;
        Ok(db.last_insert_rowid())
    }

    pub(super) fn claim_webhooks(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboundWebhook>, StoreError> {
        let mut db = self.db();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let due: Vec<OutboundWebhook> = {
            let mut statement = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM webhook_outbox
                     WHERE status = 'PENDING' AND next_attempt_at <= ?1
                     ORDER BY next_attempt_at, id LIMIT ?2"
                ))
                .map_err(db_error)?;
            let rows = statement
                .query_map(
                    params![ms(now), i64::try_from(limit).unwrap_or(i64::MAX)],
                    read,
                )
                .map_err(db_error)?;
            rows.collect::<Result<_, _>>().map_err(db_error)?
        };
        // Claimed: not due again until the lease ends (if this process dies mid-delivery,
        // the webhook is retried then).
        for webhook in &due {
            tx.execute(
                "UPDATE webhook_outbox SET next_attempt_at = ?2 WHERE id = ?1",
                params![webhook.id, ms(lease_until)],
            )
            .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)?;
        Ok(due)
    }

    pub(super) fn webhook_attempted(
        &self,
        id: i64,
        now: OffsetDateTime,
        outcome: Result<(), (String, Option<OffsetDateTime>)>,
    ) -> Result<(), StoreError> {
        let db = self.db();
        match outcome {
            Ok(()) => db.execute(
                "UPDATE webhook_outbox SET status = 'DELIVERED', attempts = attempts + 1,
                     delivered_at = ?2, next_attempt_at = NULL, last_error = NULL
                 WHERE id = ?1",
                params![id, ms(now)],
            ),
            Err((error, Some(next))) => db.execute(
                "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?2,
                     last_error = ?3
                 WHERE id = ?1",
                params![id, ms(next), error],
            ),
            Err((error, None)) => db.execute(
                "UPDATE webhook_outbox SET status = 'FAILED', attempts = attempts + 1,
                     next_attempt_at = NULL, last_error = ?2
                 WHERE id = ?1",
                params![id, error],
            ),
        }
        .map_err(db_error)?;
        Ok(())
    }

    pub(super) fn list_webhooks(
        &self,
        status: Option<WebhookStatus>,
        limit: usize,
    ) -> Result<Vec<OutboundWebhook>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webhook_outbox
                 WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(db_error)?;
        let rows = statement
            .query_map(
                params![
                    status.map(WebhookStatus::as_str),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                read,
            )
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }

    pub(super) fn replay_webhook(&self, id: i64, now: OffsetDateTime) -> Result<bool, StoreError> {
        let updated = self
            .db()
            .execute(
                "UPDATE webhook_outbox SET status = 'PENDING', attempts = 0,
                     next_attempt_at = ?2, delivered_at = NULL
                 WHERE id = ?1",
                params![id, ms(now)],
            )
            .map_err(db_error)?;
        Ok(updated > 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{SqliteStore, WebhookStatus, WebhookStore};
    use time::{Duration, OffsetDateTime};

    #[tokio::test]
    async fn webhooks_are_claimed_retried_and_given_up_on_visibly() {
        let store = SqliteStore::in_memory().expect("store");
        let id = store
            .enqueue_webhook("http://app.test/hook", "{}")
            .await
            .expect("enqueue");
        let now = OffsetDateTime::now_utc();
        let lease = now + Duration::seconds(30);
        let claimed = store.claim_webhooks(now, lease, 10).await.expect("claim");
        assert_eq!(claimed.len(), 1);
        assert!(
            store
                .claim_webhooks(now, lease, 10)
                .await
                .expect("claim")
                .is_empty()
        );
        let retry = now + Duration::seconds(2);
        store
            .webhook_attempted(id, Err(("503".into(), Some(retry))))
            .await
            .expect("retry");
        assert!(
            store
                .claim_webhooks(now, lease, 10)
                .await
                .expect("claim")
                .is_empty()
        );
        let again = store.claim_webhooks(retry, lease, 10).await.expect("claim");
        assert_eq!(again[0].attempts, 1);
        store
            .webhook_attempted(id, Err(("410 Gone".into(), None)))
            .await
            .expect("give up");
        let failed = store
            .list_webhooks(Some(WebhookStatus::Failed), 10)
            .await
            .expect("list");
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].last_error.as_deref(), Some("410 Gone"));
        assert!(store.replay_webhook(id).await.expect("replay"));
        let replayed = store
            .claim_webhooks(OffsetDateTime::now_utc(), lease, 10)
            .await
            .expect("claim");
        assert_eq!(replayed.len(), 1);
        store
            .webhook_attempted(id, Ok(()))
            .await
            .expect("delivered");
        let delivered = store
            .list_webhooks(Some(WebhookStatus::Delivered), 10)
            .await
            .expect("list");
        assert_eq!(delivered[0].status, WebhookStatus::Delivered);
        assert!(!store.replay_webhook(999).await.expect("unknown"));
    }
}
