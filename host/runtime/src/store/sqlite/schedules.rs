//! The SQLite backend's sync schedules (migration 7). Claims run in `BEGIN IMMEDIATE`
//! transactions: SQLite's write lock makes "find free due schedules, lease them" atomic
//! across every process sharing the file.

use super::{Db, db_error};
use crate::store::{FinishedRun, ScheduleState, StoreError, SyncSchedule, SyncScope};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};
use time::OffsetDateTime;

const COLUMNS: &str = "provider_config_key, connection_id, sync, state, frequency, next_run_at, \
    triggered, lease_owner, lease_expires_at, last_started_at, last_finished_at, last_status, \
    last_result, last_error";

fn ms(instant: OffsetDateTime) -> i64 {
    i64::try_from(instant.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn at(millis: Option<i64>) -> Result<Option<OffsetDateTime>, rusqlite::Error> {
    millis
        .map(|millis| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).map_err(
                |error| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Integer,
                        Box::new(error),
                    )
                },
            )
        })
        .transpose()
}

fn read(row: &Row<'_>) -> Result<SyncSchedule, rusqlite::Error> {
    let state: String = row.get(3)?;
    let last_result: Option<String> = row.get(12)?;
    Ok(SyncSchedule {
        scope: SyncScope::new(
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
        ),
        state: ScheduleState::parse(&state).unwrap_or(ScheduleState::Stopped),
        frequency: row.get(4)?,
        next_run_at: at(row.get(5)?)?,
        triggered: row.get(6)?,
        lease_owner: row.get(7)?,
        lease_expires_at: at(row.get(8)?)?,
        last_started_at: at(row.get(9)?)?,
        last_finished_at: at(row.get(10)?)?,
        last_status: row.get(11)?,
        last_result: last_result.and_then(|text| serde_json::from_str(&text).ok()),
        last_error: row.get(13)?,
    })
}

/// The syncs of a connection with a schedule that is not paused: those whose webhook
/// handlers apply its events (a paused sync's records are left alone until it resumes).
pub(super) fn active_syncs(
    db: &rusqlite::Connection,
    provider_config_key: &str,
    connection_id: &str,
) -> Result<Vec<String>, StoreError> {
    db.prepare_cached(
        "SELECT sync FROM sync_schedules
         WHERE provider_config_key = ?1 AND connection_id = ?2 AND state != 'PAUSED'",
    )
    .and_then(|mut statement| {
        statement
            .query_map(params![provider_config_key, connection_id], |row| {
                row.get(0)
            })?
            .collect()
    })
    .map_err(db_error)
}

/// Creates the schedule, stopped and unscheduled, if it does not exist.
const CREATE_STOPPED: &str = "INSERT OR IGNORE INTO sync_schedules
    (provider_config_key, connection_id, sync, state, triggered)
    VALUES (?1, ?2, ?3, 'STOPPED', 0)";

const WHERE_SCOPE: &str = "provider_config_key = ?1 AND connection_id = ?2 AND sync = ?3";

impl Db {
    pub(super) fn ensure_schedule(
        &self,
        scope: &SyncScope,
        next_run_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let created = self
            .db()
            .execute(
                "INSERT OR IGNORE INTO sync_schedules
                     (provider_config_key, connection_id, sync, state, next_run_at, triggered)
                 VALUES (?1, ?2, ?3, 'STARTED', ?4, 0)",
                params![
                    scope.provider_config_key,
                    scope.connection_id,
                    scope.sync,
                    ms(next_run_at)
                ],
            )
            .map_err(db_error)?;
        Ok(created > 0)
    }

    pub(super) fn schedule(&self, scope: &SyncScope) -> Result<Option<SyncSchedule>, StoreError> {
        self.db()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM sync_schedules WHERE {WHERE_SCOPE}"
            ))
            .map_err(db_error)?
            .query_row(
                params![scope.provider_config_key, scope.connection_id, scope.sync],
                read,
            )
            .optional()
            .map_err(db_error)
    }

    pub(super) fn schedules(
        &self,
        provider_config_key: &str,
        connection_id: Option<&str>,
    ) -> Result<Vec<SyncSchedule>, StoreError> {
        let db = self.reader();
        let mut statement = db
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM sync_schedules
                 WHERE provider_config_key = ?1 AND (?2 IS NULL OR connection_id = ?2)
                 ORDER BY connection_id, sync"
            ))
            .map_err(db_error)?;
        let rows = statement
            .query_map(params![provider_config_key, connection_id], read)
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }

    pub(super) fn set_schedule_state(
        &self,
        scope: &SyncScope,
        state: ScheduleState,
        next_run_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut db = self.db();
        let tx = db.transaction().map_err(db_error)?;
        let keys = params![scope.provider_config_key, scope.connection_id, scope.sync];
        tx.execute(CREATE_STOPPED, keys).map_err(db_error)?;
        tx.execute(
            &format!(
                "UPDATE sync_schedules SET state = ?4,
                     next_run_at = CASE WHEN ?4 = 'STARTED' THEN coalesce(next_run_at, ?5)
                                   ELSE next_run_at END
                 WHERE {WHERE_SCOPE}"
            ),
            params![
                scope.provider_config_key,
                scope.connection_id,
                scope.sync,
                state.as_str(),
                ms(next_run_at)
            ],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)
    }

    pub(super) fn set_frequency(
        &self,
        scope: &SyncScope,
        frequency: Option<&str>,
        next_run_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let mut db = self.db();
        let tx = db.transaction().map_err(db_error)?;
        let keys = params![scope.provider_config_key, scope.connection_id, scope.sync];
        tx.execute(CREATE_STOPPED, keys).map_err(db_error)?;
        tx.execute(
            &format!(
                "UPDATE sync_schedules SET frequency = ?4, next_run_at = coalesce(?5, next_run_at)
                 WHERE {WHERE_SCOPE}"
            ),
            params![
                scope.provider_config_key,
                scope.connection_id,
                scope.sync,
                frequency,
                next_run_at.map(ms)
            ],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)
    }

    pub(super) fn trigger(
        &self,
        scope: &SyncScope,
        when: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut db = self.db();
        let tx = db.transaction().map_err(db_error)?;
        let keys = params![scope.provider_config_key, scope.connection_id, scope.sync];
        tx.execute(CREATE_STOPPED, keys).map_err(db_error)?;
        tx.execute(
            &format!(
                "UPDATE sync_schedules SET triggered = 1,
                     next_run_at = min(coalesce(next_run_at, ?4), ?4)
                 WHERE {WHERE_SCOPE}"
            ),
            params![
                scope.provider_config_key,
                scope.connection_id,
                scope.sync,
                ms(when)
            ],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)
    }

    pub(super) fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<SyncSchedule>, StoreError> {
        let mut db = self.db();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let due: Vec<SyncSchedule> = {
            let mut statement = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM sync_schedules
                     WHERE (state = 'STARTED' OR triggered = 1)
                       AND next_run_at IS NOT NULL AND next_run_at <= ?1
                       AND (lease_expires_at IS NULL OR lease_expires_at <= ?1)
                     ORDER BY next_run_at
                     LIMIT ?2"
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
        let mut claimed = Vec::with_capacity(due.len());
        for mut schedule in due {
            lease(&tx, &schedule.scope, owner, now, lease_until)?;
            schedule.lease_owner = Some(owner.to_string());
            schedule.lease_expires_at = Some(lease_until);
            schedule.last_started_at = Some(now);
            claimed.push(schedule);
        }
        tx.commit().map_err(db_error)?;
        Ok(claimed)
    }

    pub(super) fn claim(
        &self,
        scope: &SyncScope,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<SyncSchedule>, StoreError> {
        let mut db = self.db();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let keys = params![scope.provider_config_key, scope.connection_id, scope.sync];
        tx.execute(CREATE_STOPPED, keys).map_err(db_error)?;
        let mut schedule = tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM sync_schedules WHERE {WHERE_SCOPE}"),
                keys,
                read,
            )
            .map_err(db_error)?;
        if schedule.running(now) {
            return Ok(None);
        }
        lease(&tx, scope, owner, now, lease_until)?;
        tx.commit().map_err(db_error)?;
        schedule.lease_owner = Some(owner.to_string());
        schedule.lease_expires_at = Some(lease_until);
        Ok(Some(schedule))
    }

    pub(super) fn heartbeat(
        &self,
        scope: &SyncScope,
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let updated = self
            .db()
            .execute(
                &format!(
                    "UPDATE sync_schedules SET lease_expires_at = ?5
                     WHERE {WHERE_SCOPE} AND lease_owner = ?4"
                ),
                params![
                    scope.provider_config_key,
                    scope.connection_id,
                    scope.sync,
                    owner,
                    ms(lease_until)
                ],
            )
            .map_err(db_error)?;
        Ok(updated > 0)
    }

    pub(super) fn finish(
        &self,
        scope: &SyncScope,
        owner: &str,
        run: &FinishedRun,
    ) -> Result<(), StoreError> {
        self.db()
            .execute(
                &format!(
                    "UPDATE sync_schedules SET lease_owner = NULL, lease_expires_at = NULL,
                         triggered = ?10, last_finished_at = ?5, last_status = ?6,
                         last_result = ?7, last_error = ?8, next_run_at = ?9
                     WHERE {WHERE_SCOPE} AND lease_owner = ?4"
                ),
                params![
                    scope.provider_config_key,
                    scope.connection_id,
                    scope.sync,
                    owner,
                    ms(run.finished_at),
                    if run.success { "SUCCESS" } else { "ERROR" },
                    run.result.to_string(),
                    run.error,
                    run.next_run_at.map(ms),
                    run.triggered
                ],
            )
            .map_err(db_error)?;
        Ok(())
    }

    pub(super) fn delete_schedules(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<u64, StoreError> {
        let deleted = self
            .db()
            .execute(
                "DELETE FROM sync_schedules WHERE provider_config_key = ?1 AND connection_id = ?2",
                params![provider_config_key, connection_id],
            )
            .map_err(db_error)?;
        Ok(deleted as u64)
    }
}

/// Leases a schedule to `owner` (inside a claiming transaction). A pending trigger stays
/// set until the run finishes, so a run whose process died is retried once its lease
/// expires, even for a schedule that only runs when triggered.
fn lease(
    tx: &rusqlite::Transaction<'_>,
    scope: &SyncScope,
    owner: &str,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "UPDATE sync_schedules SET lease_owner = ?4, lease_expires_at = ?5,
                 last_started_at = ?6
             WHERE {WHERE_SCOPE}"
        ),
        params![
            scope.provider_config_key,
            scope.connection_id,
            scope.sync,
            owner,
            ms(lease_until),
            ms(now)
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::store::{FinishedRun, ScheduleState, ScheduleStore, SqliteStore, SyncScope};
    use serde_json::json;
    use time::{Duration, OffsetDateTime};

    fn scope() -> SyncScope {
        SyncScope::new("checkr-partner", "customer-1", "candidates")
    }

    fn finished(now: OffsetDateTime, next: OffsetDateTime) -> FinishedRun {
        FinishedRun {
            finished_at: now,
            success: true,
            result: json!({ "Candidate": { "added": 1, "updated": 0, "deleted": 0 } }),
            error: None,
            next_run_at: Some(next),
            triggered: false,
        }
    }

    /// A triggered run that did not finish (refused as overloaded, cut short) is asked for
    /// again by the write that records it: due at its `next_run_at` although its schedule
    /// is not started, and only then.
    #[tokio::test]
    async fn a_run_finished_as_triggered_is_claimed_again_when_due() {
        let store = SqliteStore::in_memory().expect("store");
        let now = OffsetDateTime::now_utc();
        let lease = now + Duration::seconds(60);
        store.trigger(&scope(), now).await.expect("trigger");
        assert_eq!(
            store
                .claim_due("a", now, lease, 10)
                .await
                .expect("claim")
                .len(),
            1
        );
        let again = now + Duration::seconds(5);
        let mut refused = finished(now, again);
        refused.success = false;
        refused.triggered = true;
        store.finish(&scope(), "a", &refused).await.expect("finish");
        assert!(
            store
                .claim_due("b", now, lease, 10)
                .await
                .expect("claim")
                .is_empty(),
            "not before it is due"
        );
        assert_eq!(
            store
                .claim_due("b", again, lease, 10)
                .await
                .expect("claim")
                .len(),
            1,
            "due again although not started"
        );
        store
            .finish(&scope(), "b", &finished(again, again))
            .await
            .expect("finish");
        assert!(
            store
                .claim_due("c", again, lease, 10)
                .await
                .expect("claim")
                .is_empty(),
            "a finished run is not asked for again"
        );
    }

    #[tokio::test]
    async fn a_due_schedule_is_claimed_once_until_its_lease_ends() {
        let store = SqliteStore::in_memory().expect("store");
        let now = OffsetDateTime::now_utc();
        assert!(store.ensure_schedule(&scope(), now).await.expect("ensure"));
        assert!(!store.ensure_schedule(&scope(), now).await.expect("again"));
        let lease = now + Duration::seconds(60);
        let first = store.claim_due("a", now, lease, 10).await.expect("claim");
        assert_eq!(first.len(), 1);
        // Another node (or a trigger) finds nothing to claim while the lease holds.
        store.trigger(&scope(), now).await.expect("trigger");
        assert!(
            store
                .claim_due("b", now, lease, 10)
                .await
                .expect("claim")
                .is_empty()
        );
        assert!(
            store
                .claim(&scope(), "b", now, lease)
                .await
                .expect("claim")
                .is_none()
        );
        let schedule = store.schedule(&scope()).await.expect("get").expect("row");
        assert_eq!(schedule.status(now), "RUNNING");
        // The holder renews; a stranger cannot.
        assert!(store.heartbeat(&scope(), "a", lease).await.expect("beat"));
        assert!(!store.heartbeat(&scope(), "b", lease).await.expect("beat"));
        // Once the lease has expired (its holder died), another claims it.
        let later = lease + Duration::seconds(1);
        let taken = store
            .claim_due("b", later, later + Duration::seconds(60), 10)
            .await
            .expect("claim");
        assert_eq!(taken.len(), 1);
        // The old holder's result is not recorded over the new holder's run.
        store
            .finish(&scope(), "a", &finished(later, later + Duration::hours(1)))
            .await
            .expect("finish");
        let schedule = store.schedule(&scope()).await.expect("get").expect("row");
        assert_eq!(schedule.lease_owner.as_deref(), Some("b"));
        store
            .finish(&scope(), "b", &finished(later, later + Duration::hours(1)))
            .await
            .expect("finish");
        let schedule = store.schedule(&scope()).await.expect("get").expect("row");
        assert_eq!(schedule.status(later), "SUCCESS");
        assert_eq!(
            schedule.last_result.expect("result")["Candidate"]["added"],
            1
        );
        assert!(
            store
                .claim_due("c", later, later + Duration::seconds(60), 10)
                .await
                .expect("claim")
                .is_empty(),
            "not due again before its next slot"
        );
    }

    #[tokio::test]
    async fn paused_schedules_run_only_when_triggered() {
        let store = SqliteStore::in_memory().expect("store");
        let now = OffsetDateTime::now_utc();
        let lease = now + Duration::seconds(60);
        store
            .set_schedule_state(&scope(), ScheduleState::Paused, now)
            .await
            .expect("pause");
        assert!(
            store
                .claim_due("a", now, lease, 10)
                .await
                .expect("claim")
                .is_empty()
        );
        let schedule = store.schedule(&scope()).await.expect("get").expect("row");
        assert_eq!(schedule.status(now), "PAUSED");
        store.trigger(&scope(), now).await.expect("trigger");
        store.trigger(&scope(), now).await.expect("trigger twice");
        let claimed = store.claim_due("a", now, lease, 10).await.expect("claim");
        assert_eq!(claimed.len(), 1, "two triggers, one run");
        store
            .finish(&scope(), "a", &finished(now, now + Duration::hours(1)))
            .await
            .expect("finish");
        store
            .set_schedule_state(&scope(), ScheduleState::Started, now)
            .await
            .expect("start");
        let schedule = store.schedule(&scope()).await.expect("get").expect("row");
        assert_eq!(schedule.state, ScheduleState::Started);
        assert_eq!(
            schedule.next_run_at.map(|t| t.unix_timestamp()),
            Some((now + Duration::hours(1)).unix_timestamp()),
            "starting keeps the next slot"
        );
        store
            .set_frequency(&scope(), Some("every 2h"), None)
            .await
            .expect("frequency");
        let schedules = store
            .schedules("checkr-partner", Some("customer-1"))
            .await
            .expect("list");
        assert_eq!(schedules[0].frequency.as_deref(), Some("every 2h"));
        assert_eq!(
            store
                .delete_schedules("checkr-partner", "customer-1")
                .await
                .expect("delete"),
            1
        );
    }
}
