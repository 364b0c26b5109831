//! The SQLite backend's records and checkpoints (the tables of migration 6).
//!
//! Every write takes SQLite's write lock up front (`BEGIN IMMEDIATE`), reads the global
//! change sequence, hands each change the next value and stores the sequence back before
//! committing. Writers are serialized by that lock (across processes too), so cursors are
//! committed in increasing order: a reader paging by cursor never sees a smaller cursor
//! appear behind it.

use super::{Db, db_error, now_millis};
use crate::store::{
    RecordAction, RecordCursor, RecordPage, RecordQuery, RecordScope, StoreError, StoredRecord,
    SyncScope, WriteCounts, content_hash, record_id,
};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use serde_json::Value;
use time::OffsetDateTime;

/// The global change sequence, read once per transaction and written back before commit.
struct Sequence {
    value: i64,
}

impl Sequence {
    fn read(tx: &Transaction<'_>) -> Result<Self, StoreError> {
        let value = tx
            .query_row(
                "SELECT value FROM record_sequence WHERE id = 1",
                [],
                |row| row.get(0),
            )
            .map_err(db_error)?;
        Ok(Sequence { value })
    }

    fn next(&mut self) -> i64 {
        self.value += 1;
        self.value
    }

    fn write(&self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        tx.execute(
            "UPDATE record_sequence SET value = ?1 WHERE id = 1",
            params![self.value],
        )
        .map_err(db_error)?;
        Ok(())
    }
}

/// One write transaction's context: what every changed row is stamped with.
struct Write<'a> {
    tx: &'a Transaction<'a>,
    sequence: &'a mut Sequence,
    scope: &'a RecordScope,
    run: Option<&'a str>,
    now: i64,
    counts: WriteCounts,
}

/// A record's stored state, as a write needs it.
struct Existing {
    data: String,
    hash: String,
    deleted: bool,
}

fn existing(
    tx: &Transaction<'_>,
    scope: &RecordScope,
    id: &str,
) -> Result<Option<Existing>, StoreError> {
    let mut statement = tx
        .prepare_cached(
            "SELECT data, hash, deleted_at IS NOT NULL FROM records
             WHERE provider_config_key = ?1 AND connection_id = ?2 AND model = ?3
               AND record_id = ?4",
        )
        .map_err(db_error)?;
    statement
        .query_row(
            params![
                scope.provider_config_key,
                scope.connection_id,
                scope.model,
                id
            ],
            |row| {
                Ok(Existing {
                    data: row.get(0)?,
                    hash: row.get(1)?,
                    deleted: row.get(2)?,
                })
            },
        )
        .optional()
        .map_err(db_error)
}

/// Writes a record's new content (or marks it seen when the content is unchanged) and
/// counts what happened.
fn write_content(
    write: &mut Write<'_>,
    id: &str,
    data: &str,
    hash: &str,
    previous: Option<&Existing>,
) -> Result<(), StoreError> {
    let Write {
        tx,
        sequence,
        scope,
        run,
        now,
        counts,
    } = write;
    let (run, now) = (*run, *now);
    match previous {
        None => {
            tx.prepare_cached(
                "INSERT INTO records (provider_config_key, connection_id, model, record_id,
                     data, hash, first_seen_at, last_modified_at, last_action, deleted_at,
                     cursor, seen_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 'ADDED', NULL, ?8, ?9)",
            )
            .map_err(db_error)?
            .execute(params![
                scope.provider_config_key,
                scope.connection_id,
                scope.model,
                id,
                data,
                hash,
                now,
                sequence.next(),
                run
            ])
            .map_err(db_error)?;
            counts.added += 1;
        }
        Some(previous) if !previous.deleted && previous.hash == hash => {
            if run.is_some() {
                tx.prepare_cached(
                    "UPDATE records SET seen_by = ?5
                     WHERE provider_config_key = ?1 AND connection_id = ?2 AND model = ?3
                       AND record_id = ?4",
                )
                .map_err(db_error)?
                .execute(params![
                    scope.provider_config_key,
                    scope.connection_id,
                    scope.model,
                    id,
                    run
                ])
                .map_err(db_error)?;
            }
            counts.unchanged += 1;
        }
        Some(previous) => {
            let action = if previous.deleted {
                counts.added += 1;
                RecordAction::Added
            } else {
                counts.updated += 1;
                RecordAction::Updated
            };
            tx.prepare_cached(
                "UPDATE records SET data = ?5, hash = ?6, last_modified_at = ?7,
                     last_action = ?8, deleted_at = NULL, cursor = ?9,
                     seen_by = coalesce(?10, seen_by)
                 WHERE provider_config_key = ?1 AND connection_id = ?2 AND model = ?3
                   AND record_id = ?4",
            )
            .map_err(db_error)?
            .execute(params![
                scope.provider_config_key,
                scope.connection_id,
                scope.model,
                id,
                data,
                hash,
                now,
                action.as_str(),
                sequence.next(),
                run
            ])
            .map_err(db_error)?;
        }
    }
    Ok(())
}

/// Marks one live record deleted.
fn mark_deleted(
    tx: &Transaction<'_>,
    sequence: &mut Sequence,
    scope: &RecordScope,
    id: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE records SET last_action = 'DELETED', deleted_at = ?5, last_modified_at = ?5,
             cursor = ?6
         WHERE provider_config_key = ?1 AND connection_id = ?2 AND model = ?3
           AND record_id = ?4",
    )
    .map_err(db_error)?
    .execute(params![
        scope.provider_config_key,
        scope.connection_id,
        scope.model,
        id,
        now,
        sequence.next()
    ])
    .map_err(db_error)?;
    Ok(())
}

/// `record <index> (id `<id>`)`: how errors name a record of a batch.
fn name_record(index: usize, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("record {index} (id `{id}`)"),
        None => format!("record {index}"),
    }
}

fn instant(millis: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .map_err(|error| StoreError::Database(format!("a stored time is out of range: {error}")))
}

fn millis_of(instant: OffsetDateTime) -> i64 {
    i64::try_from(instant.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn cursor_value(cursor: RecordCursor) -> i64 {
    i64::try_from(cursor.0).unwrap_or(i64::MAX)
}

impl Db {
    /// One write transaction over the records, with the change sequence.
    fn write_records<R>(
        &self,
        work: impl FnOnce(&Transaction<'_>, &mut Sequence) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut db = self.db();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let mut sequence = Sequence::read(&tx)?;
        let result = work(&tx, &mut sequence)?;
        sequence.write(&tx)?;
        tx.commit().map_err(db_error)?;
        Ok(result)
    }

    pub(super) fn save_records(
        &self,
        scope: &RecordScope,
        records: Vec<Value>,
        run: Option<&str>,
    ) -> Result<WriteCounts, StoreError> {
        // Checked and serialized before the write lock is taken.
        let mut prepared = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let id = record_id(record).map_err(|message| {
                StoreError::Invalid(format!("{}: {message}", name_record(index, None)))
            })?;
            prepared.push((id.to_string(), record.to_string(), content_hash(record)));
        }
        let now = now_millis();
        self.write_records(|tx, sequence| {
            let mut write = Write {
                tx,
                sequence,
                scope,
                run,
                now,
                counts: WriteCounts::default(),
            };
            for (id, data, hash) in &prepared {
                let previous = existing(tx, scope, id)?;
                write_content(&mut write, id, data, hash, previous.as_ref())?;
            }
            Ok(write.counts)
        })
    }

    pub(super) fn update_records(
        &self,
        scope: &RecordScope,
        partial: Vec<Value>,
        run: Option<&str>,
    ) -> Result<WriteCounts, StoreError> {
        for (index, record) in partial.iter().enumerate() {
            record_id(record).map_err(|message| {
                StoreError::Invalid(format!("{}: {message}", name_record(index, None)))
            })?;
        }
        let now = now_millis();
        self.write_records(|tx, sequence| {
            let mut write = Write {
                tx,
                sequence,
                scope,
                run,
                now,
                counts: WriteCounts::default(),
            };
            for (index, changes) in partial.iter().enumerate() {
                let (Some(id), Some(changes)) = (
                    changes.get("id").and_then(Value::as_str),
                    changes.as_object(),
                ) else {
                    continue; // checked above
                };
                let previous = existing(tx, scope, id)?;
                let Some(previous) = previous.filter(|previous| !previous.deleted) else {
                    return Err(StoreError::Invalid(format!(
                        "{}: there is no stored {} record with this id to update",
                        name_record(index, Some(id)),
                        scope.model
                    )));
                };
                let mut merged: Value = serde_json::from_str(&previous.data).map_err(|error| {
                    StoreError::Database(format!("stored record `{id}` is unreadable: {error}"))
                })?;
                if let Some(target) = merged.as_object_mut() {
                    for (key, value) in changes {
                        target.insert(key.clone(), value.clone());
                    }
                }
                let hash = content_hash(&merged);
                write_content(&mut write, id, &merged.to_string(), &hash, Some(&previous))?;
            }
            Ok(write.counts)
        })
    }

    pub(super) fn delete_records(
        &self,
        scope: &RecordScope,
        ids: Vec<String>,
    ) -> Result<WriteCounts, StoreError> {
        if let Some(index) = ids.iter().position(String::is_empty) {
            return Err(StoreError::Invalid(format!(
                "id {index} of the batch is empty"
            )));
        }
        let now = now_millis();
        self.write_records(|tx, sequence| {
            let mut counts = WriteCounts::default();
            for id in &ids {
                match existing(tx, scope, id)? {
                    Some(previous) if !previous.deleted => {
                        mark_deleted(tx, sequence, scope, id, now)?;
                        counts.deleted += 1;
                    }
                    _ => counts.unchanged += 1,
                }
            }
            Ok(counts)
        })
    }

    pub(super) fn delete_records_not_seen_by(
        &self,
        scope: &RecordScope,
        run: &str,
    ) -> Result<WriteCounts, StoreError> {
        let now = now_millis();
        self.write_records(|tx, sequence| {
            let unseen: Vec<String> = {
                let mut statement = tx
                    .prepare_cached(
                        "SELECT record_id FROM records
                         WHERE provider_config_key = ?1 AND connection_id = ?2 AND model = ?3
                           AND deleted_at IS NULL AND (seen_by IS NULL OR seen_by != ?4)
                         ORDER BY cursor",
                    )
                    .map_err(db_error)?;
                let rows = statement
                    .query_map(
                        params![
                            scope.provider_config_key,
                            scope.connection_id,
                            scope.model,
                            run
                        ],
                        |row| row.get(0),
                    )
                    .map_err(db_error)?;
                rows.collect::<Result<_, _>>().map_err(db_error)?
            };
            for id in &unseen {
                mark_deleted(tx, sequence, scope, id, now)?;
            }
            Ok(WriteCounts {
                deleted: unseen.len() as u64,
                ..WriteCounts::default()
            })
        })
    }

    pub(super) fn records_by_ids(
        &self,
        scope: &RecordScope,
        ids: &[String],
    ) -> Result<Vec<Value>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare_cached(
                "SELECT data FROM records
                 WHERE provider_config_key = ?1 AND connection_id = ?2 AND model = ?3
                   AND record_id = ?4 AND deleted_at IS NULL",
            )
            .map_err(db_error)?;
        let mut found = Vec::new();
        for id in ids {
            let data: Option<String> = statement
                .query_row(
                    params![
                        scope.provider_config_key,
                        scope.connection_id,
                        scope.model,
                        id
                    ],
                    |row| row.get(0),
                )
                .optional()
                .map_err(db_error)?;
            if let Some(data) = data {
                found.push(serde_json::from_str(&data).map_err(|error| {
                    StoreError::Database(format!("stored record `{id}` is unreadable: {error}"))
                })?);
            }
        }
        Ok(found)
    }

    pub(super) fn list_records(
        &self,
        scope: &RecordScope,
        query: &RecordQuery,
    ) -> Result<RecordPage, StoreError> {
        let limit = query.limit.max(1);
        let actions: Vec<&str> = query.actions.iter().map(|action| action.as_str()).collect();
        let actions = (!actions.is_empty())
            .then(|| serde_json::to_string(&actions))
            .transpose()
            .map_err(|error| StoreError::Invalid(error.to_string()))?;
        let ids = (!query.ids.is_empty())
            .then(|| serde_json::to_string(&query.ids))
            .transpose()
            .map_err(|error| StoreError::Invalid(error.to_string()))?;
        let db = self.db();
        let mut statement = db
            .prepare_cached(
                "SELECT record_id, data, first_seen_at, last_modified_at, last_action,
                        deleted_at, cursor
                 FROM records
                 WHERE provider_config_key = ?1 AND connection_id = ?2 AND model = ?3
                   AND cursor > ?4
                   AND (?5 IS NULL OR last_modified_at >= ?5)
                   AND (?6 IS NULL OR last_action IN (SELECT value FROM json_each(?6)))
                   AND (?7 IS NULL OR record_id IN (SELECT value FROM json_each(?7)))
                 ORDER BY cursor
                 LIMIT ?8",
            )
            .map_err(db_error)?;
        let mut rows = statement
            .query(params![
                scope.provider_config_key,
                scope.connection_id,
                scope.model,
                query.after.map_or(0, cursor_value),
                query.modified_after.map(millis_of),
                actions,
                ids,
                i64::try_from(limit + 1).unwrap_or(i64::MAX),
            ])
            .map_err(db_error)?;
        let mut records = Vec::new();
        let mut more = false;
        while let Some(row) = rows.next().map_err(db_error)? {
            if records.len() == limit {
                more = true;
                break;
            }
            let id: String = row.get(0).map_err(db_error)?;
            let data: String = row.get(1).map_err(db_error)?;
            let action: String = row.get(4).map_err(db_error)?;
            let cursor: i64 = row.get(6).map_err(db_error)?;
            records.push(StoredRecord {
                data: serde_json::from_str(&data).map_err(|error| {
                    StoreError::Database(format!("stored record `{id}` is unreadable: {error}"))
                })?,
                first_seen_at: instant(row.get(2).map_err(db_error)?)?,
                last_modified_at: instant(row.get(3).map_err(db_error)?)?,
                last_action: RecordAction::parse(&action).ok_or_else(|| {
                    StoreError::Database(format!("record `{id}` has last action `{action}`"))
                })?,
                deleted_at: row
                    .get::<_, Option<i64>>(5)
                    .map_err(db_error)?
                    .map(instant)
                    .transpose()?,
                cursor: RecordCursor(u64::try_from(cursor).unwrap_or(0)),
                id,
            });
        }
        let next_cursor = if more {
            records.last().map(|record| record.cursor)
        } else {
            None
        };
        Ok(RecordPage {
            records,
            next_cursor,
        })
    }

    pub(super) fn count_records(&self, scope: &RecordScope) -> Result<u64, StoreError> {
        let count: i64 = self
            .db()
            .prepare_cached(
                "SELECT count(*) FROM records
                 WHERE provider_config_key = ?1 AND connection_id = ?2 AND model = ?3
                   AND deleted_at IS NULL",
            )
            .map_err(db_error)?
            .query_row(
                params![scope.provider_config_key, scope.connection_id, scope.model],
                |row| row.get(0),
            )
            .map_err(db_error)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub(super) fn clear_records(&self, scope: &RecordScope) -> Result<u64, StoreError> {
        let removed = self
            .db()
            .execute(
                "DELETE FROM records
                 WHERE provider_config_key = ?1 AND connection_id = ?2 AND model = ?3",
                params![scope.provider_config_key, scope.connection_id, scope.model],
            )
            .map_err(db_error)?;
        Ok(removed as u64)
    }

    pub(super) fn checkpoint(&self, scope: &SyncScope) -> Result<Option<Value>, StoreError> {
        let text: Option<String> = self
            .db()
            .prepare_cached(
                "SELECT checkpoint FROM sync_checkpoints
                 WHERE provider_config_key = ?1 AND connection_id = ?2 AND sync = ?3",
            )
            .map_err(db_error)?
            .query_row(
                params![scope.provider_config_key, scope.connection_id, scope.sync],
                |row| row.get(0),
            )
            .optional()
            .map_err(db_error)?;
        text.map(|text| {
            serde_json::from_str(&text).map_err(|error| {
                StoreError::Database(format!(
                    "the checkpoint of sync `{}` is unreadable: {error}",
                    scope.sync
                ))
            })
        })
        .transpose()
    }

    pub(super) fn save_checkpoint(
        &self,
        scope: &SyncScope,
        checkpoint: &Value,
    ) -> Result<(), StoreError> {
        check_flat(checkpoint)?;
        self.db()
            .execute(
                "INSERT INTO sync_checkpoints (provider_config_key, connection_id, sync,
                     checkpoint, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (provider_config_key, connection_id, sync) DO UPDATE SET
                     checkpoint = excluded.checkpoint, updated_at = excluded.updated_at",
                params![
                    scope.provider_config_key,
                    scope.connection_id,
                    scope.sync,
                    checkpoint.to_string(),
                    now_millis()
                ],
            )
            .map_err(db_error)?;
        Ok(())
    }

    pub(super) fn clear_checkpoint(&self, scope: &SyncScope) -> Result<(), StoreError> {
        self.db()
            .execute(
                "DELETE FROM sync_checkpoints
                 WHERE provider_config_key = ?1 AND connection_id = ?2 AND sync = ?3",
                params![scope.provider_config_key, scope.connection_id, scope.sync],
            )
            .map_err(db_error)?;
        Ok(())
    }
}

/// A checkpoint is a flat JSON object: its values are strings, numbers, booleans or null.
fn check_flat(checkpoint: &Value) -> Result<(), StoreError> {
    let Some(object) = checkpoint.as_object() else {
        return Err(StoreError::Invalid(format!(
            "a checkpoint must be a JSON object, got {}",
            crate::schema::type_name(checkpoint)
        )));
    };
    for (key, value) in object {
        if value.is_object() || value.is_array() {
            return Err(StoreError::Invalid(format!(
                "checkpoint key `{key}` must be a string, number, boolean or null, got {}",
                crate::schema::type_name(value)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::store::{
        RecordAction, RecordCursor, RecordQuery, RecordScope, RecordStore, SqliteStore,
        StoredRecord, SyncScope, WriteCounts,
    };
    use serde_json::{Value, json};
    use std::collections::{BTreeSet, HashMap};

    fn scope() -> RecordScope {
        RecordScope::new("checkr-partner", "customer-1", "Candidate")
    }

    fn candidate(id: &str, email: &str) -> Value {
        json!({ "id": id, "email": email })
    }

    async fn all(store: &SqliteStore, scope: &RecordScope) -> Vec<StoredRecord> {
        store
            .list_records(
                scope,
                &RecordQuery {
                    limit: 10_000,
                    ..RecordQuery::default()
                },
            )
            .await
            .expect("list")
            .records
    }

    fn counts(added: u64, updated: u64, deleted: u64, unchanged: u64) -> WriteCounts {
        WriteCounts {
            added,
            updated,
            deleted,
            unchanged,
        }
    }

    #[tokio::test]
    async fn a_resave_changes_nothing_and_a_change_is_an_update() {
        let store = SqliteStore::in_memory().expect("store");
        let batch = vec![candidate("a", "a@x"), candidate("b", "b@x")];
        let first = store
            .save_records(&scope(), batch.clone(), Some("run-1"))
            .await
            .expect("save");
        assert_eq!(first, counts(2, 0, 0, 0));
        let before = all(&store, &scope()).await;
        assert!(before.iter().all(|r| r.last_action == RecordAction::Added));

        // The same content again, keys in another order: nothing changes, not even the
        // cursor or the modification time.
        let reordered: Value = serde_json::from_str(r#"{"email":"a@x","id":"a"}"#).expect("json");
        let again = store
            .save_records(
                &scope(),
                vec![reordered, candidate("b", "b@x")],
                Some("run-2"),
            )
            .await
            .expect("resave");
        assert_eq!(again, counts(0, 0, 0, 2));
        assert_eq!(all(&store, &scope()).await, before);

        let changed = store
            .save_records(&scope(), vec![candidate("a", "new@x")], None)
            .await
            .expect("change");
        assert_eq!(changed, counts(0, 1, 0, 0));
        let after = all(&store, &scope()).await;
        let a = after.iter().find(|r| r.id == "a").expect("a");
        assert_eq!(a.last_action, RecordAction::Updated);
        assert_eq!(a.data["email"], "new@x");
        assert_eq!(a.first_seen_at, before[0].first_seen_at);
        assert!(
            a.cursor > before[1].cursor,
            "an update moves the record to the end"
        );
        assert_eq!(after.last().map(|r| r.id.as_str()), Some("a"));
    }

    #[tokio::test]
    async fn records_are_scoped_by_integration_connection_and_model() {
        let store = SqliteStore::in_memory().expect("store");
        let other_connection = RecordScope::new("checkr-partner", "customer-2", "Candidate");
        let other_model = RecordScope::new("checkr-partner", "customer-1", "Report");
        store
            .save_records(&scope(), vec![candidate("a", "1")], None)
            .await
            .expect("save");
        let added = store
            .save_records(&other_connection, vec![candidate("a", "1")], None)
            .await
            .expect("save");
        assert_eq!(
            added.added, 1,
            "same id, other connection: a record of its own"
        );
        assert_eq!(store.count_records(&other_model).await.expect("count"), 0);
        assert_eq!(store.count_records(&scope()).await.expect("count"), 1);
    }

    #[tokio::test]
    async fn a_bad_record_rejects_the_whole_batch_and_names_it() {
        let store = SqliteStore::in_memory().expect("store");
        let error = store
            .save_records(
                &scope(),
                vec![candidate("a", "1"), json!({ "id": 7 })],
                None,
            )
            .await
            .expect_err("numeric id");
        let message = error.to_string();
        assert!(
            message.contains("record 1") && message.contains("`id`"),
            "{message}"
        );
        assert_eq!(store.count_records(&scope()).await.expect("count"), 0);
    }

    #[tokio::test]
    async fn partial_updates_merge_and_unknown_ids_are_named() {
        let store = SqliteStore::in_memory().expect("store");
        store
            .save_records(
                &scope(),
                vec![json!({ "id": "a", "email": "a@x", "name": "Ann" })],
                None,
            )
            .await
            .expect("save");
        let updated = store
            .update_records(&scope(), vec![json!({ "id": "a", "name": "Anne" })], None)
            .await
            .expect("update");
        assert_eq!(updated, counts(0, 1, 0, 0));
        let same = store
            .update_records(&scope(), vec![json!({ "id": "a", "name": "Anne" })], None)
            .await
            .expect("same update");
        assert_eq!(same, counts(0, 0, 0, 1));
        let found = store
            .records_by_ids(&scope(), vec!["a".into(), "nope".into()])
            .await
            .expect("by ids");
        assert_eq!(
            found,
            vec![json!({ "id": "a", "email": "a@x", "name": "Anne" })]
        );

        let error = store
            .update_records(
                &scope(),
                vec![json!({ "id": "a", "name": "X" }), json!({ "id": "zz" })],
                None,
            )
            .await
            .expect_err("unknown id");
        let message = error.to_string();
        assert!(message.contains("record 1 (id `zz`)"), "{message}");
        let found = store
            .records_by_ids(&scope(), vec!["a".into()])
            .await
            .expect("by ids");
        assert_eq!(found[0]["name"], "Anne", "the failed batch wrote nothing");
    }

    #[tokio::test]
    async fn deletes_are_soft_and_a_resave_adds_again() {
        let store = SqliteStore::in_memory().expect("store");
        store
            .save_records(
                &scope(),
                vec![candidate("a", "1"), candidate("b", "2")],
                None,
            )
            .await
            .expect("save");
        let deleted = store
            .delete_records(&scope(), vec!["a".into(), "a".into(), "unknown".into()])
            .await
            .expect("delete");
        assert_eq!(deleted, counts(0, 0, 1, 2));
        let records = all(&store, &scope()).await;
        let a = records
            .iter()
            .find(|r| r.id == "a")
            .expect("still readable");
        assert_eq!(a.last_action, RecordAction::Deleted);
        assert!(a.deleted_at.is_some());
        assert_eq!(a.data["email"], "1");
        assert_eq!(store.count_records(&scope()).await.expect("count"), 1);
        assert!(
            store
                .records_by_ids(&scope(), vec!["a".into()])
                .await
                .expect("by ids")
                .is_empty()
        );
        let back = store
            .save_records(&scope(), vec![candidate("a", "1")], None)
            .await
            .expect("resave");
        assert_eq!(back, counts(1, 0, 0, 0));
        let records = all(&store, &scope()).await;
        let a = records.iter().find(|r| r.id == "a").expect("a");
        assert_eq!((a.last_action, a.deleted_at), (RecordAction::Added, None));
    }

    #[tokio::test]
    async fn track_deletes_marks_only_what_the_run_did_not_save() {
        let store = SqliteStore::in_memory().expect("store");
        store
            .save_records(
                &scope(),
                vec![
                    candidate("a", "1"),
                    candidate("b", "2"),
                    candidate("c", "3"),
                ],
                Some("run-1"),
            )
            .await
            .expect("save");
        // Run 2 sees a (unchanged) and c (changed), not b.
        store
            .save_records(&scope(), vec![candidate("a", "1")], Some("run-2"))
            .await
            .expect("save");
        store
            .update_records(
                &scope(),
                vec![json!({ "id": "c", "email": "33" })],
                Some("run-2"),
            )
            .await
            .expect("update");
        let deleted = store
            .delete_records_not_seen_by(&scope(), "run-2")
            .await
            .expect("track deletes");
        assert_eq!(deleted.deleted, 1);
        let records = all(&store, &scope()).await;
        let actions: HashMap<&str, RecordAction> = records
            .iter()
            .map(|r| (r.id.as_str(), r.last_action))
            .collect();
        assert_eq!(actions["a"], RecordAction::Added);
        assert_eq!(actions["b"], RecordAction::Deleted);
        assert_eq!(actions["c"], RecordAction::Updated);
        // Applying it again deletes nothing more.
        let again = store
            .delete_records_not_seen_by(&scope(), "run-2")
            .await
            .expect("again");
        assert_eq!(again.deleted, 0);
    }

    #[tokio::test]
    async fn queries_filter_by_action_ids_and_time() {
        let store = SqliteStore::in_memory().expect("store");
        store
            .save_records(
                &scope(),
                vec![candidate("a", "1"), candidate("b", "2")],
                None,
            )
            .await
            .expect("save");
        store
            .save_records(&scope(), vec![candidate("b", "22")], None)
            .await
            .expect("update");
        store
            .delete_records(&scope(), vec!["a".into()])
            .await
            .expect("delete");
        let ids_of = |records: Vec<StoredRecord>| -> Vec<String> {
            records.into_iter().map(|r| r.id).collect()
        };
        let query = |actions: &[RecordAction], ids: &[&str]| RecordQuery {
            actions: actions.iter().copied().collect::<BTreeSet<_>>(),
            ids: ids.iter().map(|id| id.to_string()).collect(),
            limit: 100,
            ..RecordQuery::default()
        };
        let page = store
            .list_records(&scope(), &query(&[RecordAction::Deleted], &[]))
            .await
            .expect("deleted");
        assert_eq!(ids_of(page.records), vec!["a"]);
        let page = store
            .list_records(
                &scope(),
                &query(&[RecordAction::Updated, RecordAction::Added], &[]),
            )
            .await
            .expect("updated or added");
        assert_eq!(ids_of(page.records), vec!["b"]);
        let page = store
            .list_records(&scope(), &query(&[], &["a", "zz"]))
            .await
            .expect("ids");
        assert_eq!(ids_of(page.records), vec!["a"]);
        let future = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let page = store
            .list_records(
                &scope(),
                &RecordQuery {
                    modified_after: Some(future),
                    limit: 100,
                    ..RecordQuery::default()
                },
            )
            .await
            .expect("future");
        assert!(page.records.is_empty());
        assert_eq!(page.next_cursor, None);
    }

    #[tokio::test]
    async fn cursor_paging_while_writing_visits_each_record_exactly_once() {
        let store = SqliteStore::in_memory().expect("store");
        let initial: Vec<Value> = (0..300)
            .map(|n| candidate(&format!("old-{n}"), "x"))
            .collect();
        store
            .save_records(&scope(), initial, None)
            .await
            .expect("seed");
        // A writer adds new records (and re-saves old ones unchanged) while a reader
        // pages with a small limit.
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                for batch in 0..30 {
                    let mut records: Vec<Value> = (0..10)
                        .map(|n| candidate(&format!("new-{batch}-{n}"), "y"))
                        .collect();
                    records.push(candidate(&format!("old-{batch}"), "x"));
                    store
                        .save_records(&scope(), records, None)
                        .await
                        .expect("write");
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut seen: Vec<String> = Vec::new();
        let mut after: Option<RecordCursor> = None;
        let mut last_cursor = RecordCursor(0);
        let mut writer_done = false;
        let mut writer = Some(writer);
        loop {
            let page = store
                .list_records(
                    &scope(),
                    &RecordQuery {
                        after,
                        limit: 7,
                        ..RecordQuery::default()
                    },
                )
                .await
                .expect("page");
            for record in &page.records {
                assert!(record.cursor > last_cursor, "cursors only grow");
                last_cursor = record.cursor;
                seen.push(record.id.clone());
            }
            if let Some(cursor) = page.records.last().map(|r| r.cursor) {
                after = Some(cursor);
            }
            if page.next_cursor.is_none() {
                if writer_done {
                    break;
                }
                // Caught up with the writer: wait for it, then read what is left.
                if let Some(handle) = writer.take() {
                    handle.await.expect("writer");
                }
                writer_done = true;
            }
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no record repeated");
        assert_eq!(seen.len(), 300 + 30 * 10, "no record skipped");
    }

    #[tokio::test]
    async fn checkpoints_are_flat_objects_per_sync() {
        let store = SqliteStore::in_memory().expect("store");
        let sync = SyncScope::new("checkr-partner", "customer-1", "candidates");
        let other = SyncScope::new("checkr-partner", "customer-1", "reports");
        assert_eq!(store.checkpoint(&sync).await.expect("get"), None);
        let checkpoint = json!({ "created_after": "2026-01-01T00:00:00Z", "page": 3 });
        store
            .save_checkpoint(&sync, &checkpoint)
            .await
            .expect("save");
        assert_eq!(
            store.checkpoint(&sync).await.expect("get"),
            Some(checkpoint)
        );
        assert_eq!(store.checkpoint(&other).await.expect("get"), None);
        let error = store
            .save_checkpoint(&sync, &json!({ "nested": { "a": 1 } }))
            .await
            .expect_err("nested");
        assert!(error.to_string().contains("`nested`"), "{error}");
        let error = store
            .save_checkpoint(&sync, &json!([1]))
            .await
            .expect_err("array");
        assert!(error.to_string().contains("object"), "{error}");
        store.clear_checkpoint(&sync).await.expect("clear");
        assert_eq!(store.checkpoint(&sync).await.expect("get"), None);
    }

    #[tokio::test]
    async fn records_survive_reopening_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("terapi.db");
        {
            let store = SqliteStore::open(&path).expect("open");
            store
                .save_records(&scope(), vec![candidate("a", "1")], None)
                .await
                .expect("save");
        }
        let store = SqliteStore::open(&path).expect("reopen");
        let again = store
            .save_records(
                &scope(),
                vec![candidate("a", "1"), candidate("b", "2")],
                None,
            )
            .await
            .expect("resave after restart");
        assert_eq!(
            again,
            counts(1, 0, 0, 1),
            "a resumed batch duplicates nothing"
        );
        let records = all(&store, &scope()).await;
        assert!(
            records[1].cursor > records[0].cursor,
            "the sequence survives"
        );
    }
}
