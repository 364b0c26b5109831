//! The SQLite backend: every store trait over one database file; all SQL lives here and
//! in its child modules (`sqlite/records.rs`: records and checkpoints).
//!
//! rusqlite is blocking, so each call runs on tokio's blocking pool
//! ([`SqliteStore::blocking`]): a slow disk or a lock held by another process never
//! stalls the async threads that run guests and serve requests.

mod pool;
mod records;
mod schedules;

use super::{
    AttemptOutcome, Connection, ConnectionFilter, ConnectionStore, CredentialCipher, Credentials,
    Delivery, DeliveryFilter, DeliveryStatus, HANDLER_KIND, IntegrationCredentialStore,
    IntegrationCredentials, MetadataUpdate, NewConnection, NewDelivery, OAuthSession,
    OAuthSessionStore, OutboxStore, OutboxWork, PlaintextCipher, RecordPage, RecordQuery,
    RecordScope, RecordStore, RunLimits, RunState, RunStore, ScheduleStore, StartRunError,
    StoreError, SyncScope, WriteCounts,
};
use super::{
    EventAcceptance, EventRoute, EventRouting, OutboxWrites, ReceivedEvent, RoutedConnection,
    WebhookEventStore,
};
use super::{FinishedRun, ScheduleState, SyncSchedule};
use crate::runtime::TriggerError;
use async_trait::async_trait;
use rusqlite::{Row, params};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
/// Append only: never edit a migration that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: connections with sealed credentials.
    "CREATE TABLE connections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        provider_config_key TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        credentials BLOB NOT NULL,
        connection_config TEXT NOT NULL,
        metadata TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (provider_config_key, connection_id)
    );",
    // 2: when credentials were last fetched; pending OAuth authorizations; OAuth app
    // credentials set over the API (client secret sealed like connection credentials).
    "ALTER TABLE connections ADD COLUMN last_fetched_at TEXT;
    CREATE TABLE oauth_sessions (
        state_digest TEXT PRIMARY KEY,
        provider_config_key TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE integration_credentials (
        provider_config_key TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        client_secret BLOB NOT NULL,
        scopes TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );",
    // 3: asynchronous action runs' results (`outcome` NULL while running; else the JSON
    // of the result), shared by every node that uses the database.
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        outcome TEXT
    );
    CREATE INDEX runs_started ON runs (started_at);",
    // 4: the outbox of webhooks to the application (times in Unix milliseconds).
    "CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        provider_config_key TEXT,
        connection_id TEXT,
        body TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        next_attempt_at INTEGER,
        claimed_until INTEGER,
        delivered_at INTEGER
    );
    CREATE INDEX outbox_due ON outbox (status, next_attempt_at);",
    // 5: revoked connections; provider webhooks received (remembered to process each
    // once; times in Unix milliseconds).
    "ALTER TABLE connections ADD COLUMN revoked_at TEXT;
    CREATE TABLE webhook_events (
        provider_config_key TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        account_id TEXT,
        routed INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (provider_config_key, event_id)
    );
    CREATE INDEX webhook_events_received ON webhook_events (received_at);",
    // 6: synced records (SQL in `sqlite/records.rs`). Times are Unix milliseconds;
    // `cursor` is the record's place in the one global change sequence
    // (`record_sequence`); `seen_by` is the last sync run that saved it (track-deletes).
    "CREATE TABLE records (
        provider_config_key TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        model TEXT NOT NULL,
        record_id TEXT NOT NULL,
        data TEXT NOT NULL,
        hash TEXT NOT NULL,
        first_seen_at INTEGER NOT NULL,
        last_modified_at INTEGER NOT NULL,
        last_action TEXT NOT NULL,
        deleted_at INTEGER,
        cursor INTEGER NOT NULL,
        seen_by TEXT,
        PRIMARY KEY (provider_config_key, connection_id, model, record_id)
    ) WITHOUT ROWID;
    CREATE INDEX records_by_cursor ON records (provider_config_key, connection_id, model, cursor);
    CREATE TABLE record_sequence (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
    INSERT INTO record_sequence (id, value) VALUES (1, 0);
    CREATE TABLE sync_checkpoints (
        provider_config_key TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        sync TEXT NOT NULL,
        checkpoint TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (provider_config_key, connection_id, sync)
    );",
    // 7: sync schedules (SQL in `sqlite/schedules.rs`): state STARTED/PAUSED/STOPPED,
    // the connection's frequency override, the next slot, a pending trigger, the run
    // lease, the last run's outcome. Times are Unix milliseconds.
    "CREATE TABLE sync_schedules (
        provider_config_key TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        sync TEXT NOT NULL,
        state TEXT NOT NULL,
        frequency TEXT,
        next_run_at INTEGER,
        triggered INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_expires_at INTEGER,
        last_started_at INTEGER,
        last_finished_at INTEGER,
        last_status TEXT,
        last_result TEXT,
        last_error TEXT,
        PRIMARY KEY (provider_config_key, connection_id, sync)
    );
    CREATE INDEX sync_schedules_due ON sync_schedules (next_run_at);",
    // 8: an index of the connections' `connection_config` strings, kept by triggers,
    // so routing a webhook by account (`checkr_account_id` = the event's `account_id`)
    // is a lookup, not a scan that parses every connection's JSON per event.
    "CREATE TABLE connection_config_values (
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        provider_config_key TEXT NOT NULL,
        connection_row INTEGER NOT NULL,
        PRIMARY KEY (name, value, provider_config_key, connection_row)
    ) WITHOUT ROWID;
    CREATE INDEX connection_config_values_row ON connection_config_values (connection_row);
    INSERT INTO connection_config_values
        SELECT config.key, config.value, connections.provider_config_key, connections.id
        FROM connections, json_each(connections.connection_config) AS config
        WHERE config.type = 'text';
    CREATE TRIGGER connection_config_values_insert AFTER INSERT ON connections BEGIN
        INSERT INTO connection_config_values
            SELECT config.key, config.value, NEW.provider_config_key, NEW.id
            FROM json_each(NEW.connection_config) AS config WHERE config.type = 'text';
    END;
    CREATE TRIGGER connection_config_values_update
    AFTER UPDATE OF connection_config, provider_config_key ON connections BEGIN
        DELETE FROM connection_config_values WHERE connection_row = OLD.id;
        INSERT INTO connection_config_values
            SELECT config.key, config.value, NEW.provider_config_key, NEW.id
            FROM json_each(NEW.connection_config) AS config WHERE config.type = 'text';
    END;
    CREATE TRIGGER connection_config_values_delete AFTER DELETE ON connections BEGIN
        DELETE FROM connection_config_values WHERE connection_row = OLD.id;
    END;",
    // 9: the SHA-256 digest of each connection's token, so a provider's revocation event
    // finds its connection by lookup instead of decrypting every connection of the
    // integration. '' when the credentials carry no token; NULL when not computed yet
    // (rows written before this migration: the store cannot decrypt in SQL, so
    // `with_token_digest` fills them in on first use).
    "ALTER TABLE connections ADD COLUMN token_digest TEXT;
    CREATE INDEX connections_token_digest ON connections (provider_config_key, token_digest);",
    // 10: the index of migration 8 keeps strings of at most 256 characters
    // (`MAX_INDEXED_CONFIG_CHARS`); longer ones are matched from the JSON.
    "DROP TRIGGER connection_config_values_insert;
    DROP TRIGGER connection_config_values_update;
    DELETE FROM connection_config_values WHERE length(value) > 256;
    CREATE TRIGGER connection_config_values_insert AFTER INSERT ON connections BEGIN
        INSERT INTO connection_config_values
            SELECT config.key, config.value, NEW.provider_config_key, NEW.id
            FROM json_each(NEW.connection_config) AS config
            WHERE config.type = 'text' AND length(config.value) <= 256;
    END;
    CREATE TRIGGER connection_config_values_update
    AFTER UPDATE OF connection_config, provider_config_key ON connections BEGIN
        DELETE FROM connection_config_values WHERE connection_row = OLD.id;
        INSERT INTO connection_config_values
            SELECT config.key, config.value, NEW.provider_config_key, NEW.id
            FROM json_each(NEW.connection_config) AS config
            WHERE config.type = 'text' AND length(config.value) <= 256;
    END;",
];

/// What a connection's sealed credentials are bound to.
fn connection_aad(provider_config_key: &str, connection_id: &str) -> Vec<u8> {
    format!("connection\0{provider_config_key}\0{connection_id}").into_bytes()
}

/// What an integration's sealed client secret is bound to.
fn integration_aad(provider_config_key: &str) -> Vec<u8> {
    format!("integration\0{provider_config_key}").into_bytes()
}

/// Every store in one SQLite database file, created (with its directory) on first use.
/// Cheap to clone; clones share the database.
#[derive(Clone)]
pub struct SqliteStore {
    db: Arc<Db>,
    /// Bounds of the asynchronous run results this handle keeps.
    runs: RunLimits,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// The database and what reading and writing it needs; its methods are blocking.
struct Db {
    /// The writer (also the reader of an in-memory database).
    db: Mutex<rusqlite::Connection>,
    cipher: Arc<dyn CredentialCipher>,
    /// Writes waiting for the next group commit (see `pool.rs`).
    writes: Mutex<pool::WriteQueue>,
    /// Idle read connections; none for an in-memory database.
    readers: Mutex<Vec<rusqlite::Connection>>,
    /// The database file, to open read connections on.
    path: Option<PathBuf>,
    /// When (Unix milliseconds) expired webhook event ids are next deleted.
    next_event_purge: AtomicI64,
}

/// How often expired webhook event ids are deleted. Their rows only cost disk space
/// until then (an expired id is already treated as new), and a second's worth of
/// events is a small delete.
const EVENT_PURGE_INTERVAL_MS: i64 = 1_000;

/// The longest `connection_config` string (in characters) kept in the index of
/// migration 8. Routing values are short ids (a Checkr account id is 24 characters);
/// longer strings (a provider may return a token or a document in its grant) would only
/// grow the index, so a filter on one reads the connections' JSON instead.
const MAX_INDEXED_CONFIG_CHARS: usize = 256;

/// The condition "`connection_config.<name>` is the string `value`" on `connections`,
/// for SQL whose parameters `?name` and `?value` (and `?key`, the integration, when the
/// query has one) hold them: a lookup in the index migration 8 keeps — or, for a value
/// longer than [`MAX_INDEXED_CONFIG_CHARS`], which the index leaves out, a look at each
/// candidate row's JSON. Filters and webhook routing both match through it.
fn config_condition(name: usize, value: usize, key: Option<usize>, value_text: &str) -> String {
    if value_text.chars().count() > MAX_INDEXED_CONFIG_CHARS {
        return format!(
            "EXISTS (SELECT 1 FROM json_each(connections.connection_config) AS config
                     WHERE config.key = ?{name} AND config.type = 'text'
                       AND config.value = ?{value})"
        );
    }
    let key = key.map_or_else(String::new, |key| {
        format!(" AND provider_config_key = ?{key}")
    });
    format!(
        "id IN (SELECT connection_row FROM connection_config_values
                WHERE name = ?{name} AND value = ?{value}{key})"
    )
}

/// The ids of `provider_config_key`'s connections whose `connection_config.<name>` is
/// `value`, oldest first: whom an event for that account is routed to.
fn connections_with_config(
    db: &rusqlite::Connection,
    provider_config_key: &str,
    name: &str,
    value: &str,
) -> Result<Vec<String>, StoreError> {
    db.prepare_cached(&format!(
        "SELECT connection_id FROM connections
         WHERE provider_config_key = ?1 AND {} ORDER BY id",
        config_condition(2, 3, Some(1), value)
    ))
    .and_then(|mut statement| {
        statement
            .query_map(params![provider_config_key, name, value], |row| row.get(0))?
            .collect()
    })
    .map_err(db_error)
}

fn db_error(error: rusqlite::Error) -> StoreError {
    StoreError::Database(error.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, storing credentials unencrypted.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cipher(path, Arc::new(PlaintextCipher))
    }

    /// Opens (creating if needed) the database at `path`; credentials pass through
    /// `cipher`.
    pub fn open_with_cipher(
        path: &Path,
        cipher: Arc<dyn CredentialCipher>,
    ) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| {
                StoreError::Database(format!("cannot create {}: {error}", parent.display()))
            })?;
        }
        let db = rusqlite::Connection::open(path).map_err(db_error)?;
        Self::init(db, cipher, Some(path.to_path_buf()))
    }

    /// An in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = rusqlite::Connection::open_in_memory().map_err(db_error)?;
        Self::init(db, Arc::new(PlaintextCipher), None)
    }

    /// Bounds the asynchronous run results kept (default: [`RunLimits::default`]).
    #[must_use]
    pub fn with_run_limits(mut self, limits: RunLimits) -> Self {
        self.runs = limits;
        self
    }

    /// Runs `work` on the blocking pool.
    async fn blocking<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Db) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|error| StoreError::Database(format!("a store task failed: {error}")))?
    }

    fn init(
        mut db: rusqlite::Connection,
        cipher: Arc<dyn CredentialCipher>,
        path: Option<PathBuf>,
    ) -> Result<Self, StoreError> {
        // WAL lets readers proceed while a writer commits; the busy timeout covers two
        // processes (a CLI and a server) sharing one file.
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_error)?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_error)?;
        db.set_prepared_statement_cache_capacity(pool::STATEMENT_CACHE);
        if path.is_some() {
            // Checkpoints run beside the writer (see `pool.rs`); the writer still
            // checkpoints itself if the WAL ever grows past this many pages (~40 MiB).
            db.pragma_update(None, "wal_autocheckpoint", pool::WRITER_CHECKPOINT_PAGES)
                .map_err(db_error)?;
        }
        let applied: usize = db
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(db_error)?;
        if applied > MIGRATIONS.len() {
            return Err(StoreError::Database(format!(
                "the database has schema version {applied}, newer than this terapi knows ({})",
                MIGRATIONS.len()
            )));
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            let tx = db.transaction().map_err(db_error)?;
            tx.execute_batch(migration).map_err(db_error)?;
            tx.pragma_update(None, "user_version", index + 1)
                .map_err(db_error)?;
            tx.commit().map_err(db_error)?;
        }
        let db = Arc::new(Db {
            db: Mutex::new(db),
            cipher,
            writes: Mutex::default(),
            readers: Mutex::default(),
            path,
            next_event_purge: AtomicI64::new(0),
        });
        pool::start_checkpointer(&db);
        Ok(SqliteStore {
            db,
            runs: RunLimits::default(),
        })
    }
}

impl Db {
    fn db(&self) -> MutexGuard<'_, rusqlite::Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (statements
        // are atomic), so a poisoned lock is still usable.
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn seal(&self, connection: &NewConnection) -> Result<Vec<u8>, StoreError> {
        let plaintext = serde_json::to_vec(&connection.credentials)
            .map_err(|error| StoreError::Invalid(error.to_string()))?;
        let aad = connection_aad(&connection.provider_config_key, &connection.connection_id);
        self.cipher
            .seal(&plaintext, &aad)
            .map_err(|reason| StoreError::Credentials {
                provider_config_key: connection.provider_config_key.clone(),
                connection_id: connection.connection_id.clone(),
                reason,
            })
    }

    fn read_row(&self, row: &Row<'_>) -> Result<Connection, StoreError> {
        let get_text = |index: usize| row.get::<_, String>(index).map_err(db_error);
        let provider_config_key = get_text(1)?;
        let connection_id = get_text(2)?;
        let credentials_error = |reason: String| StoreError::Credentials {
            provider_config_key: provider_config_key.clone(),
            connection_id: connection_id.clone(),
            reason,
        };
        let sealed: Vec<u8> = row.get(4).map_err(db_error)?;
        let plaintext = self
            .cipher
            .open(
                &sealed,
                &connection_aad(&provider_config_key, &connection_id),
            )
            .map_err(credentials_error)?;
        // The serde error may quote input; keep only its position so no secret leaks.
        let credentials: Credentials = serde_json::from_slice(&plaintext).map_err(|error| {
            credentials_error(format!(
                "not valid credentials JSON (line {}, column {})",
                error.line(),
                error.column()
            ))
        })?;
        let json = |index: usize| -> Result<Value, StoreError> {
            let text = get_text(index)?;
            serde_json::from_str(&text)
                .map_err(|error| StoreError::Database(format!("column {index}: {error}")))
        };
        let timestamp = |index: usize| -> Result<OffsetDateTime, StoreError> {
            let text = get_text(index)?;
            OffsetDateTime::parse(&text, &Rfc3339)
                .map_err(|error| StoreError::Database(format!("column {index}: {error}")))
        };
        Ok(Connection {
            id: row.get(0).map_err(db_error)?,
            provider: get_text(3)?,
            credentials,
            connection_config: json(5)?,
            metadata: json(6)?,
            created_at: timestamp(7)?,
            updated_at: timestamp(8)?,
            last_fetched_at: row
                .get::<_, Option<String>>(9)
                .map_err(db_error)?
                .map(|text| {
                    OffsetDateTime::parse(&text, &Rfc3339)
                        .map_err(|error| StoreError::Database(format!("column 9: {error}")))
                })
                .transpose()?,
            revoked_at: row
                .get::<_, Option<String>>(10)
                .map_err(db_error)?
                .map(|text| {
                    OffsetDateTime::parse(&text, &Rfc3339)
                        .map_err(|error| StoreError::Database(format!("column 10: {error}")))
                })
                .transpose()?,
            provider_config_key,
            connection_id,
        })
    }
}

const COLUMNS: &str = "id, provider_config_key, connection_id, provider, credentials, \
                       connection_config, metadata, created_at, updated_at, last_fetched_at, \
                       revoked_at";

fn now() -> Result<String, StoreError> {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .map_err(|error| StoreError::Database(error.to_string()))
}

fn require_object(name: &str, value: &Value) -> Result<(), StoreError> {
    if value.is_object() {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{name} must be a JSON object, got {value}"
        )))
    }
}

impl Db {
    fn upsert(&self, connection: &NewConnection) -> Result<Connection, StoreError> {
        if connection.connection_id.is_empty() || connection.provider_config_key.is_empty() {
            return Err(StoreError::Invalid(
                "connection_id and provider_config_key must not be empty".into(),
            ));
        }
        require_object("connection_config", &connection.connection_config)?;
        require_object("metadata", &connection.metadata)?;
        let sealed = self.seal(connection)?;
        let now = now()?;
        let db = self.db();
        db.execute(
            "INSERT INTO connections (provider_config_key, connection_id, provider, credentials,
                 connection_config, metadata, created_at, updated_at, token_digest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)
             ON CONFLICT (provider_config_key, connection_id) DO UPDATE SET
                 provider = excluded.provider,
                 credentials = excluded.credentials,
                 token_digest = excluded.token_digest,
                 connection_config = excluded.connection_config,
                 metadata = excluded.metadata,
                 updated_at = excluded.updated_at,
                 revoked_at = NULL",
            params![
                connection.provider_config_key,
                connection.connection_id,
                connection.provider,
                sealed,
                connection.connection_config.to_string(),
                connection.metadata.to_string(),
                now,
                connection.credentials.token_digest().unwrap_or_default(),
            ],
        )
        .map_err(db_error)?;
        let mut statement = db
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM connections WHERE provider_config_key = ?1 AND connection_id = ?2"
            ))
            .map_err(db_error)?;
        let mut rows = statement
            .query(params![
                connection.provider_config_key,
                connection.connection_id
            ])
            .map_err(db_error)?;
        match rows.next().map_err(db_error)? {
            Some(row) => self.read_row(row),
            None => Err(StoreError::Database("the upserted row vanished".into())),
        }
    }

    fn get(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<Option<Connection>, StoreError> {
        let db = self.reader();
        let mut statement = db
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM connections WHERE provider_config_key = ?1 AND connection_id = ?2"
            ))
            .map_err(db_error)?;
        let mut rows = statement
            .query(params![provider_config_key, connection_id])
            .map_err(db_error)?;
        rows.next()
            .map_err(db_error)?
            .map(|row| self.read_row(row))
            .transpose()
    }

    fn list(&self, filter: &ConnectionFilter) -> Result<Vec<Connection>, StoreError> {
        self.select(filter, COLUMNS, |db, row| db.read_row(row))
    }

    fn connection_ids(&self, filter: &ConnectionFilter) -> Result<Vec<String>, StoreError> {
        self.select(filter, "connection_id", |_, row| {
            row.get(0).map_err(db_error)
        })
    }

    /// Runs `SELECT {columns}` over the connections `filter` matches, oldest first.
    fn select<T>(
        &self,
        filter: &ConnectionFilter,
        columns: &str,
        read: impl Fn(&Db, &Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        // Only the conditions the filter sets, so SQLite can use the indexes (a
        // `?1 IS NULL OR provider_config_key = ?1` condition scans every row).
        let mut conditions = Vec::new();
        let mut bound: Vec<&dyn rusqlite::ToSql> = Vec::new();
        if let Some(key) = &filter.provider_config_key {
            bound.push(key);
            conditions.push(format!("provider_config_key = ?{}", bound.len()));
        }
        if let Some(id) = &filter.connection_id {
            bound.push(id);
            conditions.push(format!("connection_id = ?{}", bound.len()));
        }
        let key_parameter = filter.provider_config_key.as_ref().map(|_| 1);
        for (name, value) in &filter.config_equals {
            bound.push(name);
            bound.push(value);
            conditions.push(config_condition(
                bound.len() - 1,
                bound.len(),
                key_parameter,
                value,
            ));
        }
        let limit = filter
            .limit
            .map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
        let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);
        bound.push(&limit);
        bound.push(&offset);
        let conditions = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let db = self.reader();
        let mut statement = db
            .prepare_cached(&format!(
                "SELECT {columns} FROM connections {conditions}
                 ORDER BY id LIMIT ?{} OFFSET ?{}",
                bound.len() - 1,
                bound.len()
            ))
            .map_err(db_error)?;
        let mut rows = statement.query(bound.as_slice()).map_err(db_error)?;
        let mut found = Vec::new();
        while let Some(row) = rows.next().map_err(db_error)? {
            found.push(read(self, row)?);
        }
        Ok(found)
    }

    fn with_token_digest(
        &self,
        provider_config_key: &str,
        digest: &str,
    ) -> Result<Vec<String>, StoreError> {
        // '' marks a connection without a token: it matches no digest.
        if digest.is_empty() {
            return Ok(Vec::new());
        }
        // Rows stored before migration 9 get their digest first (decrypted once, here).
        let unknown = {
            let db = self.reader();
            let mut statement = db
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM connections
                     WHERE provider_config_key = ?1 AND token_digest IS NULL"
                ))
                .map_err(db_error)?;
            let mut rows = statement
                .query(params![provider_config_key])
                .map_err(db_error)?;
            let mut unknown = Vec::new();
            while let Some(row) = rows.next().map_err(db_error)? {
                let id: i64 = row.get(0).map_err(db_error)?;
                let connection = self.read_row(row)?;
                unknown.push((
                    id,
                    connection.credentials.token_digest().unwrap_or_default(),
                ));
            }
            unknown
        };
        if !unknown.is_empty() {
            let mut db = self.db();
            let tx = db.transaction().map_err(db_error)?;
            for (id, own) in &unknown {
                tx.execute(
                    "UPDATE connections SET token_digest = ?2 WHERE id = ?1 AND token_digest IS NULL",
                    params![id, own],
                )
                .map_err(db_error)?;
            }
            tx.commit().map_err(db_error)?;
        }
        let db = self.reader();
        db.prepare_cached(
            "SELECT connection_id FROM connections
             WHERE provider_config_key = ?1 AND token_digest = ?2 ORDER BY id",
        )
        .and_then(|mut statement| {
            statement
                .query_map(params![provider_config_key, digest], |row| row.get(0))?
                .collect()
        })
        .map_err(db_error)
    }

    fn delete(&self, provider_config_key: &str, connection_id: &str) -> Result<bool, StoreError> {
        let deleted = self
            .db()
            .execute(
                "DELETE FROM connections WHERE provider_config_key = ?1 AND connection_id = ?2",
                params![provider_config_key, connection_id],
            )
            .map_err(db_error)?;
        Ok(deleted > 0)
    }

    fn update_metadata(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        metadata: &Value,
        how: MetadataUpdate,
    ) -> Result<Option<Connection>, StoreError> {
        require_object("metadata", metadata)?;
        let mut db = self.db();
        let tx = db.transaction().map_err(db_error)?;
        let current: Option<String> = tx
            .query_row(
                "SELECT metadata FROM connections WHERE provider_config_key = ?1 AND connection_id = ?2",
                params![provider_config_key, connection_id],
                |row| row.get(0),
            )
            .map(Some)
            .or_else(|error| match error {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                other => Err(db_error(other)),
            })?;
        let Some(current) = current else {
            return Ok(None);
        };
        let updated = match how {
            MetadataUpdate::Replace => metadata.clone(),
            MetadataUpdate::Merge => {
                let mut merged: Value = serde_json::from_str(&current)
                    .map_err(|error| StoreError::Database(format!("metadata: {error}")))?;
                if let (Some(target), Some(changes)) =
                    (merged.as_object_mut(), metadata.as_object())
                {
                    for (key, value) in changes {
                        target.insert(key.clone(), value.clone());
                    }
                }
                merged
            }
        };
        tx.execute(
            "UPDATE connections SET metadata = ?3, updated_at = ?4
             WHERE provider_config_key = ?1 AND connection_id = ?2",
            params![
                provider_config_key,
                connection_id,
                updated.to_string(),
                now()?
            ],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        drop(db);
        self.get(provider_config_key, connection_id)
    }

    fn mark_fetched(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<(), StoreError> {
        self.db()
            .execute(
                "UPDATE connections SET last_fetched_at = ?3
                 WHERE provider_config_key = ?1 AND connection_id = ?2",
                params![provider_config_key, connection_id, now()?],
            )
            .map_err(db_error)?;
        Ok(())
    }

    fn mark_revoked(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .execute(
                "UPDATE connections SET revoked_at = coalesce(revoked_at, ?3)
                 WHERE provider_config_key = ?1 AND connection_id = ?2",
                params![provider_config_key, connection_id, now()?],
            )
            .map_err(db_error)?;
        Ok(changed > 0)
    }

    /// Whether this event's write should also delete expired event ids: true for the
    /// first caller once [`EVENT_PURGE_INTERVAL_MS`] have passed since the last time
    /// (and for the first event after the store is opened).
    fn event_purge_due(&self) -> bool {
        let now = now_millis();
        let due = self.next_event_purge.load(Ordering::Relaxed);
        now >= due
            && self
                .next_event_purge
                .compare_exchange(
                    due,
                    now.saturating_add(EVENT_PURGE_INTERVAL_MS),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// [`WebhookEventStore::accept_event`]'s transaction. Run inside a group commit.
    ///
    /// An id is a duplicate while its row is younger than `window`. Rows older than
    /// that are deleted only when `purge` is set (once a second, see
    /// [`Db::purge_due`]): a delete in every event's write was a tenth of the
    /// committer's statements under a burst. Until then an expired row is overwritten
    /// by the next event with its id, so the answer never depends on when the last
    /// purge ran.
    fn accept_event(
        db: &rusqlite::Connection,
        event: &ReceivedEvent,
        routing: &EventRouting,
        outbox: OutboxWrites,
        window: std::time::Duration,
        purge: bool,
    ) -> Result<EventAcceptance, StoreError> {
        let now = now_millis();
        let expired = now.saturating_sub(millis(window));
        if purge {
            db.prepare_cached("DELETE FROM webhook_events WHERE received_at <= ?1")
                .and_then(|mut statement| statement.execute(params![expired]))
                .map_err(db_error)?;
        }
        let key = &event.provider_config_key;
        let connection_ids = match &routing.route {
            EventRoute::Nowhere => Vec::new(),
            EventRoute::Connections(ids) => ids.clone(),
            EventRoute::ByConfig { name, value } => connections_with_config(db, key, name, value)?,
        };
        let mut routed = Vec::with_capacity(connection_ids.len());
        for connection_id in connection_ids {
            let handler_syncs = if routing.handler_syncs.is_empty() {
                Vec::new()
            } else {
                let active = schedules::active_syncs(db, key, &connection_id)?;
                routing
                    .handler_syncs
                    .iter()
                    .filter(|sync| active.contains(sync))
                    .cloned()
                    .collect()
            };
            routed.push(RoutedConnection {
                connection_id,
                handler_syncs,
            });
        }
        // One statement records the id and tells whether it was new: a row still in
        // its window is left alone (no change: a duplicate), an expired one is
        // overwritten as if it had been purged.
        let recorded = db
            .prepare_cached(
                "INSERT INTO webhook_events
                     (provider_config_key, event_id, event_type, account_id, routed, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (provider_config_key, event_id) DO UPDATE SET
                     event_type = excluded.event_type, account_id = excluded.account_id,
                     routed = excluded.routed, received_at = excluded.received_at
                 WHERE webhook_events.received_at <= ?7",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    key,
                    event.event_id,
                    event.event_type,
                    event.account_id,
                    i64::try_from(routed.len()).unwrap_or(i64::MAX),
                    now,
                    expired
                ])
            })
            .map_err(db_error)?;
        if recorded == 0 {
            return Ok(EventAcceptance::Duplicate);
        }
        for delivery in outbox(&routed) {
            insert_delivery(db, &delivery, now)?;
        }
        Ok(EventAcceptance::Accepted(routed))
    }

    fn put_oauth_session(&self, session: &OAuthSession) -> Result<(), StoreError> {
        let db = self.db();
        db.execute(
            "DELETE FROM oauth_sessions WHERE expires_at < ?1",
            params![OffsetDateTime::now_utc().unix_timestamp()],
        )
        .map_err(db_error)?;
        db.execute(
            "INSERT INTO oauth_sessions (state_digest, provider_config_key, connection_id,
                 created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                session.state_digest,
                session.provider_config_key,
                session.connection_id,
                session.created_at.unix_timestamp(),
                session.expires_at.unix_timestamp(),
            ],
        )
        .map_err(db_error)?;
        Ok(())
    }

    fn take_oauth_session(&self, state_digest: &str) -> Result<Option<OAuthSession>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare_cached(
                "DELETE FROM oauth_sessions WHERE state_digest = ?1
                 RETURNING state_digest, provider_config_key, connection_id, created_at, expires_at",
            )
            .map_err(db_error)?;
        let mut rows = statement.query(params![state_digest]).map_err(db_error)?;
        let Some(row) = rows.next().map_err(db_error)? else {
            return Ok(None);
        };
        let instant = |index: usize| -> Result<OffsetDateTime, StoreError> {
            let seconds: i64 = row.get(index).map_err(db_error)?;
            OffsetDateTime::from_unix_timestamp(seconds)
                .map_err(|error| StoreError::Database(format!("column {index}: {error}")))
        };
        Ok(Some(OAuthSession {
            state_digest: row.get(0).map_err(db_error)?,
            provider_config_key: row.get(1).map_err(db_error)?,
            connection_id: row.get(2).map_err(db_error)?,
            created_at: instant(3)?,
            expires_at: instant(4)?,
        }))
    }

    fn integration_credentials(
        &self,
        provider_config_key: &str,
    ) -> Result<Option<IntegrationCredentials>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare_cached(
                "SELECT provider_config_key, client_id, client_secret, scopes, created_at, updated_at
                 FROM integration_credentials WHERE provider_config_key = ?1",
            )
            .map_err(db_error)?;
        let mut rows = statement
            .query(params![provider_config_key])
            .map_err(db_error)?;
        let Some(row) = rows.next().map_err(db_error)? else {
            return Ok(None);
        };
        let unreadable = |reason: String| StoreError::Credentials {
            provider_config_key: provider_config_key.to_string(),
            connection_id: String::new(),
            reason,
        };
        let sealed: Vec<u8> = row.get(2).map_err(db_error)?;
        let secret = self
            .cipher
            .open(&sealed, &integration_aad(provider_config_key))
            .map_err(unreadable)?;
        let client_secret = String::from_utf8(secret)
            .map_err(|_| unreadable("the client secret is not UTF-8".into()))?;
        let scopes: String = row.get(3).map_err(db_error)?;
        let timestamp = |index: usize| -> Result<OffsetDateTime, StoreError> {
            let text: String = row.get(index).map_err(db_error)?;
            OffsetDateTime::parse(&text, &Rfc3339)
                .map_err(|error| StoreError::Database(format!("column {index}: {error}")))
        };
        Ok(Some(IntegrationCredentials {
            provider_config_key: row.get(0).map_err(db_error)?,
            client_id: row.get(1).map_err(db_error)?,
            client_secret,
            scopes: serde_json::from_str(&scopes)
                .map_err(|error| StoreError::Database(format!("scopes: {error}")))?,
            created_at: timestamp(4)?,
            updated_at: timestamp(5)?,
        }))
    }

    fn put_integration_credentials(
        &self,
        credentials: &IntegrationCredentials,
    ) -> Result<IntegrationCredentials, StoreError> {
        let key = &credentials.provider_config_key;
        if key.is_empty() || credentials.client_id.is_empty() {
            return Err(StoreError::Invalid(
                "provider_config_key and client_id must not be empty".into(),
            ));
        }
        let sealed = self
            .cipher
            .seal(credentials.client_secret.as_bytes(), &integration_aad(key))
            .map_err(|reason| StoreError::Credentials {
                provider_config_key: key.clone(),
                connection_id: String::new(),
                reason,
            })?;
        let scopes = serde_json::to_string(&credentials.scopes)
            .map_err(|error| StoreError::Invalid(error.to_string()))?;
        self.db()
            .execute(
                "INSERT INTO integration_credentials (provider_config_key, client_id,
                     client_secret, scopes, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (provider_config_key) DO UPDATE SET
                     client_id = excluded.client_id,
                     client_secret = excluded.client_secret,
                     scopes = excluded.scopes,
                     updated_at = excluded.updated_at",
                params![key, credentials.client_id, sealed, scopes, now()?],
            )
            .map_err(db_error)?;
        self.integration_credentials(key)?
            .ok_or_else(|| StoreError::Database("the stored credentials vanished".into()))
    }
}

/// The current time as Unix milliseconds.
fn now_millis() -> i64 {
    let now = OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Db {
    fn start_run(&self, id: &str, limits: RunLimits) -> Result<(), StartRunError> {
        let now = now_millis();
        let mut db = self.db();
        let tx = db.transaction().map_err(db_error)?;
        // Expired results go first.
        tx.execute(
            "DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at <= ?1",
            params![now.saturating_sub(millis(limits.ttl))],
        )
        .map_err(db_error)?;
        let count: i64 = tx
            .query_row("SELECT count(*) FROM runs", [], |row| row.get(0))
            .map_err(db_error)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= limits.max {
            // Full: drop the oldest finished (or lost) run, or refuse.
            let lost_before = now.saturating_sub(millis(limits.abandon_after));
            let evicted = tx
                .execute(
                    "DELETE FROM runs WHERE id = (
                         SELECT id FROM runs
                         WHERE finished_at IS NOT NULL OR started_at <= ?1
                         ORDER BY started_at LIMIT 1)",
                    params![lost_before],
                )
                .map_err(db_error)?;
            if evicted == 0 {
                return Err(StartRunError::Full(limits.max));
            }
        }
        tx.execute(
            "INSERT INTO runs (id, started_at) VALUES (?1, ?2)",
            params![id, now],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        Ok(())
    }

    fn finish_run(&self, id: &str, outcome: &str) -> Result<(), StoreError> {
        self.db()
            .execute(
                "UPDATE runs SET finished_at = ?2, outcome = ?3 WHERE id = ?1",
                params![id, now_millis(), outcome],
            )
            .map_err(db_error)?;
        Ok(())
    }

    fn run_state(&self, id: &str, limits: RunLimits) -> Result<Option<RunState>, StoreError> {
        let now = now_millis();
        let row: Option<(i64, Option<i64>, Option<String>)> = {
            let db = self.db();
            let mut statement = db
                .prepare_cached("SELECT started_at, finished_at, outcome FROM runs WHERE id = ?1")
                .map_err(db_error)?;
            let mut rows = statement.query(params![id]).map_err(db_error)?;
            match rows.next().map_err(db_error)? {
                Some(row) => Some((
                    row.get(0).map_err(db_error)?,
                    row.get(1).map_err(db_error)?,
                    row.get(2).map_err(db_error)?,
                )),
                None => None,
            }
        };
        let Some((started_at, finished_at, outcome)) = row else {
            return Ok(None);
        };
        match (finished_at, outcome) {
            (Some(finished_at), _) if finished_at <= now.saturating_sub(millis(limits.ttl)) => {
                Ok(None)
            }
            (Some(_), Some(outcome)) => {
                let result: Result<String, TriggerError> =
                    serde_json::from_str(&outcome).map_err(|error| {
                        StoreError::Database(format!(
                            "the result of run `{id}` is unreadable: {error}"
                        ))
                    })?;
                Ok(Some(RunState::Finished(result)))
            }
            _ if started_at <= now.saturating_sub(millis(limits.abandon_after)) => {
                Ok(Some(RunState::Finished(Err(TriggerError::Internal(
                    "the run was lost: the node running it stopped before it finished".into(),
                )))))
            }
            _ => Ok(Some(RunState::Running)),
        }
    }
}

fn from_millis(millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn to_millis(instant: OffsetDateTime) -> i64 {
    i64::try_from(instant.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

const DELIVERY_COLUMNS: &str = "id, kind, provider_config_key, connection_id, body, status, \
     attempts, last_error, created_at, next_attempt_at, delivered_at";

/// Writes a delivery to the outbox, pending and due at `now` (Unix milliseconds).
fn insert_delivery(
    db: &rusqlite::Connection,
    delivery: &NewDelivery,
    now: i64,
) -> Result<(), StoreError> {
    db.prepare_cached(
        "INSERT INTO outbox (kind, provider_config_key, connection_id, body, status,
             created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
    )
    .and_then(|mut statement| {
        statement.execute(params![
            delivery.kind,
            delivery.provider_config_key,
            delivery.connection_id,
            delivery.body,
            now
        ])
    })
    .map_err(db_error)?;
    Ok(())
}

fn read_delivery(row: &Row<'_>) -> Result<Delivery, StoreError> {
    let status: String = row.get(5).map_err(db_error)?;
    let attempts: i64 = row.get(6).map_err(db_error)?;
    Ok(Delivery {
        id: row.get(0).map_err(db_error)?,
        kind: row.get(1).map_err(db_error)?,
        provider_config_key: row.get(2).map_err(db_error)?,
        connection_id: row.get(3).map_err(db_error)?,
        body: row.get(4).map_err(db_error)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Database(format!("unknown delivery status `{status}`")))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        last_error: row.get(7).map_err(db_error)?,
        created_at: from_millis(row.get(8).map_err(db_error)?),
        next_attempt_at: row
            .get::<_, Option<i64>>(9)
            .map_err(db_error)?
            .map(from_millis),
        delivered_at: row
            .get::<_, Option<i64>>(10)
            .map_err(db_error)?
            .map(from_millis),
    })
}

impl Db {
    fn enqueue(&self, delivery: &NewDelivery) -> Result<i64, StoreError> {
        let db = self.db();
        insert_delivery(&db, delivery, now_millis())?;
        Ok(db.last_insert_rowid())
    }

    /// Claims up to `limit` due outbox rows of `work` for `lease`; run inside a group
    /// commit (a claim is a write, and the workers claim while webhooks pour in).
    fn claim_due_deliveries(
        tx: &rusqlite::Connection,
        work: OutboxWork,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        let now = now_millis();
        // One statement finds the due rows and leases them. `RETURNING` gives the rows in
        // no set order, so the oldest-first order is restored after.
        let mut statement = tx
            .prepare_cached(&format!(
                "UPDATE outbox SET claimed_until = ?5
                 WHERE id IN (
                     SELECT id FROM outbox
                     WHERE status = 'pending' AND next_attempt_at <= ?1
                       AND (claimed_until IS NULL OR claimed_until <= ?1)
                       AND (kind = ?3) = ?4
                     ORDER BY next_attempt_at, id LIMIT ?2)
                 RETURNING {DELIVERY_COLUMNS}"
            ))
            .map_err(db_error)?;
        let mut rows = statement
            .query(params![
                now,
                i64::try_from(limit).unwrap_or(i64::MAX),
                HANDLER_KIND,
                work == OutboxWork::Handlers,
                now.saturating_add(millis(lease))
            ])
            .map_err(db_error)?;
        let mut claimed = Vec::new();
        while let Some(row) = rows.next().map_err(db_error)? {
            claimed.push(read_delivery(row)?);
        }
        claimed.sort_by_key(|delivery| (delivery.next_attempt_at, delivery.id));
        Ok(claimed)
    }

    /// Records a delivery attempt; run inside a group commit (the outbox workers finish
    /// many deliveries at once).
    fn record_attempt(
        db: &rusqlite::Connection,
        id: i64,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError> {
        let now = now_millis();
        let run = |sql: &str, params: &[&dyn rusqlite::ToSql]| {
            db.prepare_cached(sql)
                .and_then(|mut statement| statement.execute(params))
        };
        match outcome {
            AttemptOutcome::Delivered => run(
                "UPDATE outbox SET status = 'delivered', attempts = attempts + 1,
                     last_error = NULL, delivered_at = ?2, next_attempt_at = NULL,
                     claimed_until = NULL
                 WHERE id = ?1",
                params![id, now],
            ),
            AttemptOutcome::RetryAt(at, error) => run(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2,
                     next_attempt_at = ?3, claimed_until = NULL
                 WHERE id = ?1",
                params![id, error, to_millis(*at)],
            ),
            AttemptOutcome::Failed(error) => run(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1,
                     last_error = ?2, next_attempt_at = NULL, claimed_until = NULL
                 WHERE id = ?1",
                params![id, error],
            ),
        }
        .map_err(db_error)?;
        Ok(())
    }

    fn list_deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM outbox
                 WHERE (?1 IS NULL OR status = ?1)
                 ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(db_error)?;
        let limit = i64::try_from(filter.limit.unwrap_or(100)).unwrap_or(i64::MAX);
        let mut rows = statement
            .query(params![filter.status.map(DeliveryStatus::as_str), limit])
            .map_err(db_error)?;
        let mut deliveries = Vec::new();
        while let Some(row) = rows.next().map_err(db_error)? {
            deliveries.push(read_delivery(row)?);
        }
        Ok(deliveries)
    }

    fn delivery(&self, id: i64) -> Result<Option<Delivery>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM outbox WHERE id = ?1"
            ))
            .map_err(db_error)?;
        let mut rows = statement.query(params![id]).map_err(db_error)?;
        rows.next()
            .map_err(db_error)?
            .map(read_delivery)
            .transpose()
    }

    fn replay(&self, id: i64) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?2,
                     claimed_until = NULL, delivered_at = NULL
                 WHERE id = ?1",
                params![id, now_millis()],
            )
            .map_err(db_error)?;
        Ok(changed > 0)
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn enqueue(&self, delivery: &NewDelivery) -> Result<i64, StoreError> {
        let delivery = delivery.clone();
        self.blocking(move |db| db.enqueue(&delivery)).await
    }

    async fn claim_due_deliveries(
        &self,
        work: OutboxWork,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.db
            .write_grouped(move |db| Db::claim_due_deliveries(db, work, limit, lease))
            .await
    }

    async fn record_attempts(&self, outcomes: &[(i64, AttemptOutcome)]) -> Result<(), StoreError> {
        let outcomes = outcomes.to_vec();
        self.db
            .write_grouped(move |db| {
                outcomes
                    .iter()
                    .try_for_each(|(id, outcome)| Db::record_attempt(db, *id, outcome))
            })
            .await
    }

    async fn list_deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        let filter = filter.clone();
        self.blocking(move |db| db.list_deliveries(&filter)).await
    }

    async fn delivery(&self, id: i64) -> Result<Option<Delivery>, StoreError> {
        self.blocking(move |db| db.delivery(id)).await
    }

    async fn replay(&self, id: i64) -> Result<bool, StoreError> {
        self.blocking(move |db| db.replay(id)).await
    }
}

#[async_trait]
impl ConnectionStore for SqliteStore {
    async fn upsert(&self, connection: &NewConnection) -> Result<Connection, StoreError> {
        let connection = connection.clone();
        self.blocking(move |db| db.upsert(&connection)).await
    }

    async fn with_token_digest(
        &self,
        provider_config_key: &str,
        digest: &str,
    ) -> Result<Vec<String>, StoreError> {
        let (key, digest) = (provider_config_key.to_string(), digest.to_string());
        self.blocking(move |db| db.with_token_digest(&key, &digest))
            .await
    }

    async fn get(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<Option<Connection>, StoreError> {
        let (key, id) = (provider_config_key.to_string(), connection_id.to_string());
        self.blocking(move |db| db.get(&key, &id)).await
    }

    async fn list(&self, filter: &ConnectionFilter) -> Result<Vec<Connection>, StoreError> {
        let filter = filter.clone();
        self.blocking(move |db| db.list(&filter)).await
    }

    async fn connection_ids(&self, filter: &ConnectionFilter) -> Result<Vec<String>, StoreError> {
        let filter = filter.clone();
        self.blocking(move |db| db.connection_ids(&filter)).await
    }

    async fn delete(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<bool, StoreError> {
        let (key, id) = (provider_config_key.to_string(), connection_id.to_string());
        self.blocking(move |db| db.delete(&key, &id)).await
    }

    async fn update_metadata(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        metadata: &Value,
        how: MetadataUpdate,
    ) -> Result<Option<Connection>, StoreError> {
        let (key, id) = (provider_config_key.to_string(), connection_id.to_string());
        let metadata = metadata.clone();
        self.blocking(move |db| db.update_metadata(&key, &id, &metadata, how))
            .await
    }

    async fn mark_fetched(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<(), StoreError> {
        let (key, id) = (provider_config_key.to_string(), connection_id.to_string());
        self.blocking(move |db| db.mark_fetched(&key, &id)).await
    }

    async fn mark_revoked(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<bool, StoreError> {
        let (key, id) = (provider_config_key.to_string(), connection_id.to_string());
        self.blocking(move |db| db.mark_revoked(&key, &id)).await
    }
}

#[async_trait]
impl WebhookEventStore for SqliteStore {
    async fn accept_event(
        &self,
        event: &ReceivedEvent,
        routing: &EventRouting,
        outbox: OutboxWrites,
        window: std::time::Duration,
    ) -> Result<EventAcceptance, StoreError> {
        // Group commit: under a burst, the events that arrive while one commit waits
        // for the disk are all committed by the next, instead of one commit each.
        let (event, routing) = (event.clone(), routing.clone());
        let purge = self.db.event_purge_due();
        self.db
            .write_grouped(move |db| Db::accept_event(db, &event, &routing, outbox, window, purge))
            .await
    }
}

#[async_trait]
impl OAuthSessionStore for SqliteStore {
    async fn put_oauth_session(&self, session: &OAuthSession) -> Result<(), StoreError> {
        let session = session.clone();
        self.blocking(move |db| db.put_oauth_session(&session))
            .await
    }

    async fn take_oauth_session(
        &self,
        state_digest: &str,
    ) -> Result<Option<OAuthSession>, StoreError> {
        let digest = state_digest.to_string();
        self.blocking(move |db| db.take_oauth_session(&digest))
            .await
    }
}

#[async_trait]
impl IntegrationCredentialStore for SqliteStore {
    async fn integration_credentials(
        &self,
        provider_config_key: &str,
    ) -> Result<Option<IntegrationCredentials>, StoreError> {
        let key = provider_config_key.to_string();
        self.blocking(move |db| db.integration_credentials(&key))
            .await
    }

    async fn put_integration_credentials(
        &self,
        credentials: &IntegrationCredentials,
    ) -> Result<IntegrationCredentials, StoreError> {
        let credentials = credentials.clone();
        self.blocking(move |db| db.put_integration_credentials(&credentials))
            .await
    }
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn start_run(&self, id: &str) -> Result<(), StartRunError> {
        let id = id.to_string();
        let (db, limits) = (self.db.clone(), self.runs);
        tokio::task::spawn_blocking(move || db.start_run(&id, limits))
            .await
            .map_err(|error| {
                StartRunError::Store(StoreError::Database(format!(
                    "a store task failed: {error}"
                )))
            })?
    }

    async fn finish_run(
        &self,
        id: &str,
        result: &Result<String, TriggerError>,
    ) -> Result<(), StoreError> {
        let outcome = serde_json::to_string(result)
            .map_err(|error| StoreError::Invalid(format!("cannot record run `{id}`: {error}")))?;
        let id = id.to_string();
        self.blocking(move |db| db.finish_run(&id, &outcome)).await
    }

    async fn run_state(&self, id: &str) -> Result<Option<RunState>, StoreError> {
        let id = id.to_string();
        let limits = self.runs;
        self.blocking(move |db| db.run_state(&id, limits)).await
    }
}

#[async_trait]
impl RecordStore for SqliteStore {
    async fn save_records(
        &self,
        scope: &RecordScope,
        records: Vec<Value>,
        run: Option<&str>,
    ) -> Result<WriteCounts, StoreError> {
        let (scope, run) = (scope.clone(), run.map(str::to_string));
        self.blocking(move |db| db.save_records(&scope, records, run.as_deref()))
            .await
    }

    async fn update_records(
        &self,
        scope: &RecordScope,
        partial: Vec<Value>,
        run: Option<&str>,
    ) -> Result<WriteCounts, StoreError> {
        let (scope, run) = (scope.clone(), run.map(str::to_string));
        self.blocking(move |db| db.update_records(&scope, partial, run.as_deref()))
            .await
    }

    async fn delete_records(
        &self,
        scope: &RecordScope,
        ids: Vec<String>,
    ) -> Result<WriteCounts, StoreError> {
        let scope = scope.clone();
        self.blocking(move |db| db.delete_records(&scope, ids))
            .await
    }

    async fn delete_records_not_seen_by(
        &self,
        scope: &RecordScope,
        run: &str,
    ) -> Result<WriteCounts, StoreError> {
        let (scope, run) = (scope.clone(), run.to_string());
        self.blocking(move |db| db.delete_records_not_seen_by(&scope, &run))
            .await
    }

    async fn records_by_ids(
        &self,
        scope: &RecordScope,
        ids: Vec<String>,
    ) -> Result<Vec<Value>, StoreError> {
        let scope = scope.clone();
        self.blocking(move |db| db.records_by_ids(&scope, &ids))
            .await
    }

    async fn list_records(
        &self,
        scope: &RecordScope,
        query: &RecordQuery,
    ) -> Result<RecordPage, StoreError> {
        let (scope, query) = (scope.clone(), query.clone());
        self.blocking(move |db| db.list_records(&scope, &query))
            .await
    }

    async fn count_records(&self, scope: &RecordScope) -> Result<u64, StoreError> {
        let scope = scope.clone();
        self.blocking(move |db| db.count_records(&scope)).await
    }

    async fn clear_records(&self, scope: &RecordScope) -> Result<u64, StoreError> {
        let scope = scope.clone();
        self.blocking(move |db| db.clear_records(&scope)).await
    }

    async fn checkpoint(&self, scope: &SyncScope) -> Result<Option<Value>, StoreError> {
        let scope = scope.clone();
        self.blocking(move |db| db.checkpoint(&scope)).await
    }

    async fn save_checkpoint(
        &self,
        scope: &SyncScope,
        checkpoint: &Value,
    ) -> Result<(), StoreError> {
        let (scope, checkpoint) = (scope.clone(), checkpoint.clone());
        self.blocking(move |db| db.save_checkpoint(&scope, &checkpoint))
            .await
    }

    async fn clear_checkpoint(&self, scope: &SyncScope) -> Result<(), StoreError> {
        let scope = scope.clone();
        self.blocking(move |db| db.clear_checkpoint(&scope)).await
    }
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn ensure_schedule(
        &self,
        scope: &SyncScope,
        next_run_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let scope = scope.clone();
        self.blocking(move |db| db.ensure_schedule(&scope, next_run_at))
            .await
    }

    async fn schedule(&self, scope: &SyncScope) -> Result<Option<SyncSchedule>, StoreError> {
        let scope = scope.clone();
        self.blocking(move |db| db.schedule(&scope)).await
    }

    async fn schedules(
        &self,
        provider_config_key: &str,
        connection_id: Option<&str>,
    ) -> Result<Vec<SyncSchedule>, StoreError> {
        let (key, id) = (
            provider_config_key.to_string(),
            connection_id.map(str::to_string),
        );
        self.blocking(move |db| db.schedules(&key, id.as_deref()))
            .await
    }

    async fn set_schedule_state(
        &self,
        scope: &SyncScope,
        state: ScheduleState,
        next_run_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let scope = scope.clone();
        self.blocking(move |db| db.set_schedule_state(&scope, state, next_run_at))
            .await
    }

    async fn set_frequency(
        &self,
        scope: &SyncScope,
        frequency: Option<&str>,
        next_run_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let (scope, frequency) = (scope.clone(), frequency.map(str::to_string));
        self.blocking(move |db| db.set_frequency(&scope, frequency.as_deref(), next_run_at))
            .await
    }

    async fn trigger(&self, scope: &SyncScope, at: OffsetDateTime) -> Result<(), StoreError> {
        let scope = scope.clone();
        self.blocking(move |db| db.trigger(&scope, at)).await
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<SyncSchedule>, StoreError> {
        let owner = owner.to_string();
        self.blocking(move |db| db.claim_due(&owner, now, lease_until, limit))
            .await
    }

    async fn claim(
        &self,
        scope: &SyncScope,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<SyncSchedule>, StoreError> {
        let (scope, owner) = (scope.clone(), owner.to_string());
        self.blocking(move |db| db.claim(&scope, &owner, now, lease_until))
            .await
    }

    async fn heartbeat(
        &self,
        scope: &SyncScope,
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (scope, owner) = (scope.clone(), owner.to_string());
        self.blocking(move |db| db.heartbeat(&scope, &owner, lease_until))
            .await
    }

    async fn finish(
        &self,
        scope: &SyncScope,
        owner: &str,
        run: &FinishedRun,
    ) -> Result<(), StoreError> {
        let (scope, owner, run) = (scope.clone(), owner.to_string(), run.clone());
        self.blocking(move |db| db.finish(&scope, &owner, &run))
            .await
    }

    async fn delete_schedules(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<u64, StoreError> {
        let (key, id) = (provider_config_key.to_string(), connection_id.to_string());
        self.blocking(move |db| db.delete_schedules(&key, &id))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::token_digest;
    use serde_json::json;

    fn sample(id: &str) -> NewConnection {
        NewConnection::new(
            "checkr-partner",
            id,
            "checkr-partner",
            Credentials::access_token(format!("token-{id}")),
        )
    }

    /// A revocation finds its connection by the token's digest: only that integration's
    /// connection with that token, the new token after a rotation, and rows stored before
    /// migration 9 (no digest yet) once their digest is filled in.
    #[test]
    fn connections_are_found_by_their_token_digest() {
        let store = SqliteStore::in_memory().expect("store").db;
        store.upsert(&sample("a")).expect("a");
        store.upsert(&sample("b")).expect("b");
        let mut basic = sample("c");
        basic.credentials = Credentials::None;
        store.upsert(&basic).expect("c");
        let mut elsewhere = sample("a");
        elsewhere.provider_config_key = "other".into();
        store.upsert(&elsewhere).expect("other a");
        let find = |token: &str| {
            store
                .with_token_digest("checkr-partner", &token_digest(token))
                .expect("lookup")
        };
        assert_eq!(find("token-a"), ["a"]);
        assert_eq!(find("token-b"), ["b"]);
        assert!(find("token-x").is_empty());
        assert!(
            store
                .with_token_digest("checkr-partner", "")
                .expect("lookup")
                .is_empty(),
            "a connection without a token matches nothing"
        );
        // As if stored before migration 9.
        store
            .db()
            .execute("UPDATE connections SET token_digest = NULL", [])
            .expect("forget digests");
        assert_eq!(find("token-a"), ["a"]);
        let unknown: i64 = store
            .db()
            .query_row(
                "SELECT count(*) FROM connections
                 WHERE provider_config_key = 'checkr-partner' AND token_digest IS NULL",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(unknown, 0, "every digest filled in");
        let mut rotated = sample("a");
        rotated.credentials = Credentials::access_token("token-a2");
        store.upsert(&rotated).expect("rotate");
        assert!(
            find("token-a").is_empty(),
            "the old token no longer matches"
        );
        assert_eq!(find("token-a2"), ["a"]);
    }

    #[test]
    fn create_get_list_delete() {
        let store = SqliteStore::in_memory().expect("store").db;
        let created = store.upsert(&sample("a")).expect("create");
        assert_eq!(created.credentials, Credentials::access_token("token-a"));
        store.upsert(&sample("b")).expect("create b");
        let fetched = store
            .get("checkr-partner", "a")
            .expect("get")
            .expect("exists");
        assert_eq!(fetched, created);
        assert_eq!(
            store
                .list(&ConnectionFilter::default())
                .expect("list")
                .len(),
            2
        );
        let only_b = ConnectionFilter {
            connection_id: Some("b".into()),
            ..Default::default()
        };
        assert_eq!(store.list(&only_b).expect("list")[0].connection_id, "b");
        assert!(store.delete("checkr-partner", "a").expect("delete"));
        assert!(!store.delete("checkr-partner", "a").expect("delete again"));
        assert!(store.get("checkr-partner", "a").expect("get").is_none());
    }

    #[test]
    fn upsert_replaces_credentials_and_keeps_created_at() {
        let store = SqliteStore::in_memory().expect("store").db;
        let first = store.upsert(&sample("a")).expect("create");
        let mut changed = sample("a");
        changed.credentials = Credentials::access_token("rotated");
        changed.metadata = json!({"team": "ops"});
        let second = store.upsert(&changed).expect("update");
        assert_eq!(second.id, first.id);
        assert_eq!(second.created_at, first.created_at);
        assert_eq!(second.credentials, Credentials::access_token("rotated"));
        assert_eq!(second.metadata, json!({"team": "ops"}));
    }

    #[test]
    fn metadata_must_be_an_object() {
        let store = SqliteStore::in_memory().expect("store").db;
        let mut connection = sample("a");
        connection.metadata = json!([1, 2]);
        let error = store.upsert(&connection).expect_err("array metadata");
        assert!(error.to_string().contains("metadata"), "{error}");
    }

    #[test]
    fn database_file_is_created_with_its_directory_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/terapi.db");
        SqliteStore::open(&path)
            .expect("open")
            .db
            .upsert(&sample("a"))
            .expect("create");
        assert!(path.exists());
        let reopened = SqliteStore::open(&path).expect("reopen").db;
        assert!(reopened.get("checkr-partner", "a").expect("get").is_some());
    }

    #[test]
    fn unreadable_credentials_error_names_the_connection_not_the_secret() {
        struct Broken;
        impl CredentialCipher for Broken {
            fn seal(&self, plaintext: &[u8], _: &[u8]) -> Result<Vec<u8>, String> {
                Ok(plaintext.to_vec())
            }
            fn open(&self, _: &[u8], _: &[u8]) -> Result<Vec<u8>, String> {
                Err("wrong key".into())
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("terapi.db");
        let store = SqliteStore::open_with_cipher(&path, Arc::new(Broken))
            .expect("open")
            .db;
        store.upsert(&sample("a")).expect_err("reading back fails");
        let error = store.get("checkr-partner", "a").expect_err("unreadable");
        let text = error.to_string();
        assert!(
            text.contains("checkr-partner/a") && text.contains("wrong key"),
            "{text}"
        );
        assert!(!text.contains("token-a"), "{text}");
    }

    #[test]
    fn encrypted_store_keeps_no_secret_bytes_in_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("terapi.db");
        let cipher = Arc::new(crate::store::AesGcmCipher::new(&[3u8; 32]));
        let store = SqliteStore::open_with_cipher(&path, cipher.clone())
            .expect("open")
            .db;
        store.upsert(&sample("a")).expect("create");
        store
            .put_integration_credentials(&IntegrationCredentials {
                provider_config_key: "checkr-partner".into(),
                client_id: "cid".into(),
                client_secret: "client-secret-value".into(),
                scopes: vec![],
                created_at: OffsetDateTime::now_utc(),
                updated_at: OffsetDateTime::now_utc(),
            })
            .expect("credentials");
        assert_eq!(
            store
                .get("checkr-partner", "a")
                .expect("get")
                .expect("exists")
                .credentials,
            Credentials::access_token("token-a")
        );
        drop(store);
        let mut bytes = std::fs::read(&path).expect("db file");
        for extra in ["-wal", "-shm"] {
            if let Ok(more) = std::fs::read(dir.path().join(format!("terapi.db{extra}"))) {
                bytes.extend(more);
            }
        }
        for secret in [&b"token-a"[..], b"client-secret-value"] {
            assert!(!bytes.windows(secret.len()).any(|window| window == secret));
        }
        // Without the key the rows are unreadable, with a message saying why.
        let plain = SqliteStore::open(&path).expect("reopen").db;
        let error = plain.get("checkr-partner", "a").expect_err("encrypted");
        assert!(
            error.to_string().contains("TERAPI_ENCRYPTION_KEY"),
            "{error}"
        );
        let reopened = SqliteStore::open_with_cipher(&path, cipher)
            .expect("reopen")
            .db;
        let secret = reopened
            .integration_credentials("checkr-partner")
            .expect("read")
            .expect("exists");
        assert_eq!(secret.client_secret, "client-secret-value");
        assert!(!format!("{secret:?}").contains("client-secret-value"));
    }

    #[test]
    fn metadata_is_replaced_or_merged() {
        let store = SqliteStore::in_memory().expect("store").db;
        let mut connection = sample("a");
        connection.metadata = json!({"a": 1, "b": 2});
        store.upsert(&connection).expect("create");
        let merged = store
            .update_metadata(
                "checkr-partner",
                "a",
                &json!({"b": 3, "c": 4}),
                MetadataUpdate::Merge,
            )
            .expect("merge")
            .expect("exists");
        assert_eq!(merged.metadata, json!({"a": 1, "b": 3, "c": 4}));
        let replaced = store
            .update_metadata(
                "checkr-partner",
                "a",
                &json!({"z": 0}),
                MetadataUpdate::Replace,
            )
            .expect("replace")
            .expect("exists");
        assert_eq!(replaced.metadata, json!({"z": 0}));
        assert!(
            store
                .update_metadata("checkr-partner", "ghost", &json!({}), MetadataUpdate::Merge)
                .expect("no error")
                .is_none()
        );
        assert!(
            store
                .update_metadata("checkr-partner", "a", &json!([1]), MetadataUpdate::Merge)
                .is_err()
        );
    }

    #[test]
    fn oauth_sessions_are_taken_once_and_expired_ones_pruned() {
        let store = SqliteStore::in_memory().expect("store").db;
        let now = OffsetDateTime::now_utc();
        let session = |digest: &str, expires_at| OAuthSession {
            state_digest: digest.into(),
            provider_config_key: "checkr-partner".into(),
            connection_id: "c".into(),
            created_at: now,
            expires_at,
        };
        store
            .put_oauth_session(&session("old", now - time::Duration::hours(1)))
            .expect("put");
        store
            .put_oauth_session(&session("live", now + time::Duration::minutes(10)))
            .expect("put");
        let taken = store
            .take_oauth_session("live")
            .expect("take")
            .expect("exists");
        assert_eq!(taken.connection_id, "c");
        assert!(store.take_oauth_session("live").expect("take").is_none());
        assert!(
            store.take_oauth_session("old").expect("take").is_none(),
            "pruned when the second session was saved"
        );
    }

    #[test]
    fn list_pages() {
        let store = SqliteStore::in_memory().expect("store").db;
        for id in ["a", "b", "c"] {
            store.upsert(&sample(id)).expect("create");
        }
        let page = |limit, offset| {
            store
                .list(&ConnectionFilter {
                    limit: Some(limit),
                    offset,
                    ..Default::default()
                })
                .expect("list")
                .into_iter()
                .map(|c| c.connection_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(page(2, 0), ["a", "b"]);
        assert_eq!(page(2, 2), ["c"]);
        assert!(page(2, 4).is_empty());
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn with_config(id: &str, account: Value) -> NewConnection {
        let mut connection = NewConnection::new(
            "checkr-partner",
            id,
            "checkr-partner",
            Credentials::access_token(format!("token-{id}")),
        );
        connection.connection_config = json!({ "checkr_account_id": account });
        connection
    }

    #[test]
    fn connections_filter_by_a_connection_config_string() {
        let store = SqliteStore::in_memory().expect("store").db;
        store.upsert(&with_config("a", json!("acct-1"))).expect("a");
        store.upsert(&with_config("b", json!("acct-2"))).expect("b");
        store.upsert(&with_config("c", json!("acct-1"))).expect("c");
        store
            .upsert(&with_config("d", json!(1)))
            .expect("d: a number, not the string");
        let ids = |filter: &ConnectionFilter| -> Vec<String> {
            store
                .list(filter)
                .expect("list")
                .into_iter()
                .map(|connection| connection.connection_id)
                .collect()
        };
        let by =
            |value: &str| ConnectionFilter::by_config("checkr-partner", "checkr_account_id", value);
        assert_eq!(ids(&by("acct-1")), ["a", "c"]);
        assert_eq!(ids(&by("acct-2")), ["b"]);
        assert!(ids(&by("1")).is_empty(), "only JSON strings match");
        assert!(
            ids(&ConnectionFilter::by_config(
                "other",
                "checkr_account_id",
                "acct-1"
            ))
            .is_empty()
        );
        let dotted = ConnectionFilter::by_config("checkr-partner", "checkr_account_id.x", "acct-1");
        assert!(ids(&dotted).is_empty(), "a key is a key, not a path");
        let mut quoted = with_config("e", json!("x"));
        quoted.connection_config = json!({ "a\"b": "x" });
        store.upsert(&quoted).expect("e");
        assert_eq!(
            ids(&ConnectionFilter::by_config("checkr-partner", "a\"b", "x")),
            ["e"],
            "any key, quotes included"
        );
        // The index follows updates and deletions.
        store
            .upsert(&with_config("a", json!("acct-3")))
            .expect("a moves");
        assert_eq!(ids(&by("acct-1")), ["c"]);
        assert_eq!(ids(&by("acct-3")), ["a"]);
        assert!(store.delete("checkr-partner", "c").expect("delete c"));
        assert!(ids(&by("acct-1")).is_empty());
        let mut other = with_config("a", json!("acct-3"));
        other.provider_config_key = "other".into();
        store.upsert(&other).expect("same id, other integration");
        assert_eq!(ids(&by("acct-3")), ["a"], "one integration's connections");
        // A long string is left out of the index and still matched, from the JSON.
        let long = "é".repeat(MAX_INDEXED_CONFIG_CHARS + 1);
        store.upsert(&with_config("f", json!(long))).expect("f");
        assert_eq!(ids(&by(&long)), ["f"]);
        assert!(
            ids(&by(&long[..long.len() - 2])).is_empty(),
            "the whole string"
        );
        let longest: i64 = store
            .db()
            .query_row(
                "SELECT coalesce(max(length(value)), 0) FROM connection_config_values",
                [],
                |row| row.get(0),
            )
            .expect("longest");
        assert!(longest <= 256, "{longest} characters indexed");
    }

    /// Connections stored before the routing index existed are routed once the store
    /// that added it opens the file.
    #[test]
    fn the_routing_index_covers_connections_stored_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("terapi.db");
        {
            let db = rusqlite::Connection::open(&path).expect("open");
            for migration in &MIGRATIONS[..7] {
                db.execute_batch(migration).expect("migration");
            }
            db.pragma_update(None, "user_version", 7).expect("version");
            db.execute(
                "INSERT INTO connections (provider_config_key, connection_id, provider,
                     credentials, connection_config, metadata, created_at, updated_at)
                 VALUES ('checkr-partner', 'old', 'checkr-partner', x'00',
                     '{\"checkr_account_id\":\"acct-old\",\"n\":1}', '{}', '', '')",
                [],
            )
            .expect("an old connection");
        }
        let store = SqliteStore::open(&path).expect("migrated");
        let filter = ConnectionFilter::by_config("checkr-partner", "checkr_account_id", "acct-old");
        assert_eq!(store.db.connection_ids(&filter).expect("ids"), ["old"]);
        let by_number = ConnectionFilter::by_config("checkr-partner", "n", "1");
        assert!(store.db.connection_ids(&by_number).expect("ids").is_empty());
    }

    fn limited(max: usize, ttl: Duration, abandon_after: Duration) -> SqliteStore {
        SqliteStore::in_memory()
            .expect("store")
            .with_run_limits(RunLimits {
                max,
                ttl,
                abandon_after,
            })
    }

    #[tokio::test]
    async fn run_results_are_bounded_in_count_and_age() {
        let hour = Duration::from_secs(3600);
        let runs = limited(2, hour, hour);
        runs.start_run("a").await.expect("a");
        runs.start_run("b").await.expect("b");
        let error = runs.start_run("c").await.expect_err("all running");
        assert!(matches!(error, StartRunError::Full(2)), "{error}");
        runs.finish_run("a", &Ok("1".into())).await.expect("finish");
        assert_eq!(
            runs.run_state("a").await.expect("state"),
            Some(RunState::Finished(Ok("1".into())))
        );
        runs.start_run("c").await.expect("a evicted");
        assert_eq!(runs.run_state("a").await.expect("state"), None);
        assert_eq!(
            runs.run_state("b").await.expect("state"),
            Some(RunState::Running)
        );

        let short = limited(10, Duration::ZERO, hour);
        short.start_run("x").await.expect("x");
        short
            .finish_run("x", &Ok("1".into()))
            .await
            .expect("finish");
        assert_eq!(
            short.run_state("x").await.expect("state"),
            None,
            "expired at once"
        );
    }

    #[tokio::test]
    async fn errors_round_trip_and_lost_runs_end() {
        let hour = Duration::from_secs(3600);
        let runs = limited(10, hour, hour);
        runs.start_run("e").await.expect("e");
        let error = TriggerError::Timeout {
            action: "get-account".into(),
            timeout: Duration::from_secs(30),
        };
        runs.finish_run("e", &Err(error.clone()))
            .await
            .expect("finish");
        assert_eq!(
            runs.run_state("e").await.expect("state"),
            Some(RunState::Finished(Err(error)))
        );
        let lost = limited(1, hour, Duration::ZERO);
        lost.start_run("l").await.expect("l");
        match lost.run_state("l").await.expect("state") {
            Some(RunState::Finished(Err(TriggerError::Internal(message)))) => {
                assert!(message.contains("lost"), "{message}")
            }
            other => panic!("a run past its deadline is lost, got {other:?}"),
        }
        lost.start_run("m").await.expect("a lost run makes room");
    }
}

#[cfg(test)]
mod outbox_tests {
    use super::*;
    use std::time::Duration;

    /// An event is routed in the transaction that records it: to the integration's
    /// connections with its account, each told which subscribed handlers are active
    /// for it; a duplicate routes and writes nothing.
    #[tokio::test]
    async fn an_event_is_routed_by_account_with_its_active_handlers() {
        let store = SqliteStore::in_memory().expect("store");
        let connect = |key: &str, id: &str, account: &str| {
            let mut connection =
                NewConnection::new(key, id, "checkr-partner", Credentials::access_token("t"));
            connection.connection_config = serde_json::json!({ "checkr_account_id": account });
            store.db.upsert(&connection).expect("connection");
        };
        connect("checkr-partner", "a", "acct-1");
        connect("checkr-partner", "b", "acct-1");
        connect("checkr-partner", "c", "acct-2");
        connect("other", "d", "acct-1");
        let now = OffsetDateTime::now_utc();
        for (sync, state) in [
            ("reports", ScheduleState::Started),
            ("candidates", ScheduleState::Paused),
            ("invitations", ScheduleState::Stopped),
        ] {
            store
                .db
                .set_schedule_state(&SyncScope::new("checkr-partner", "a", sync), state, now)
                .expect("schedule");
        }
        let event = ReceivedEvent {
            provider_config_key: "checkr-partner".into(),
            event_id: "evt_1".into(),
            event_type: "report.completed".into(),
            account_id: Some("acct-1".into()),
        };
        let routing = EventRouting {
            route: EventRoute::ByConfig {
                name: "checkr_account_id".into(),
                value: "acct-1".into(),
            },
            handler_syncs: vec!["reports".into(), "candidates".into(), "other".into()],
        };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let outbox = |seen: Arc<Mutex<Vec<RoutedConnection>>>| -> OutboxWrites {
            Box::new(move |routed: &[RoutedConnection]| {
                seen.lock().expect("seen").extend_from_slice(routed);
                routed
                    .iter()
                    .map(|connection| webhook(&connection.connection_id))
                    .collect()
            })
        };
        let window = Duration::from_secs(60);
        let accepted = store
            .accept_event(&event, &routing, outbox(seen.clone()), window)
            .await
            .expect("accepted");
        let expected = vec![
            RoutedConnection {
                connection_id: "a".into(),
                handler_syncs: vec!["reports".into()],
            },
            RoutedConnection {
                connection_id: "b".into(),
                handler_syncs: Vec::new(),
            },
        ];
        assert_eq!(accepted, EventAcceptance::Accepted(expected.clone()));
        assert_eq!(*seen.lock().expect("seen"), expected);
        let again = store
            .accept_event(&event, &routing, outbox(seen.clone()), window)
            .await
            .expect("duplicate");
        assert_eq!(again, EventAcceptance::Duplicate);
        assert_eq!(
            seen.lock().expect("seen").len(),
            2,
            "no outbox for a duplicate"
        );
        let bodies: Vec<String> = store
            .list_deliveries(&DeliveryFilter::default())
            .await
            .expect("list")
            .into_iter()
            .map(|delivery| delivery.body)
            .collect();
        assert_eq!(bodies.len(), 2);
        let routed: i64 = store
            .db
            .db()
            .query_row("SELECT routed FROM webhook_events", [], |row| row.get(0))
            .expect("recorded");
        assert_eq!(routed, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_events_are_each_accepted_once_with_their_forwards() {
        let store = SqliteStore::in_memory().expect("store");
        let accepts: Vec<_> = (0..300)
            .map(|index| {
                let store = store.clone();
                tokio::spawn(async move {
                    let event = ReceivedEvent {
                        provider_config_key: "checkr-partner".into(),
                        event_id: format!("evt_{}", index % 100),
                        event_type: "report.completed".into(),
                        account_id: None,
                    };
                    let forward = webhook(&format!("{{\"event\":{}}}", index % 100));
                    let routing = EventRouting {
                        route: EventRoute::Nowhere,
                        handler_syncs: Vec::new(),
                    };
                    let accepted = store
                        .accept_event(
                            &event,
                            &routing,
                            Box::new(move |_| vec![forward]),
                            Duration::from_secs(3600),
                        )
                        .await
                        .expect("accepted");
                    accepted != EventAcceptance::Duplicate
                })
            })
            .collect();
        let mut fresh = 0;
        for accept in accepts {
            fresh += usize::from(accept.await.expect("task"));
        }
        assert_eq!(fresh, 100, "each event id accepted once, its retries not");
        let filter = DeliveryFilter {
            status: None,
            limit: Some(1000),
        };
        let mut bodies: Vec<String> = store
            .list_deliveries(&filter)
            .await
            .expect("list")
            .into_iter()
            .map(|delivery| delivery.body)
            .collect();
        assert_eq!(
            bodies.len(),
            100,
            "one forward per accepted event, none for a retry"
        );
        bodies.sort();
        bodies.dedup();
        assert_eq!(bodies.len(), 100, "every event's own forward");
    }

    /// An event id is a duplicate within its window, new again after it (whether or not
    /// its row was purged yet), and expired rows are purged by a later event's write.
    #[tokio::test]
    async fn an_event_id_is_new_again_after_its_window_and_expired_ids_are_purged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("terapi.db");
        let store = SqliteStore::open(&path).expect("store");
        let event = |id: &str| ReceivedEvent {
            provider_config_key: "checkr-partner".into(),
            event_id: id.into(),
            event_type: "report.completed".into(),
            account_id: None,
        };
        let routing = EventRouting {
            route: EventRoute::Nowhere,
            handler_syncs: Vec::new(),
        };
        let accept = |store: &SqliteStore, id: &str, window: Duration| {
            let (store, event, routing) = (store.clone(), event(id), routing.clone());
            async move {
                store
                    .accept_event(&event, &routing, Box::new(|_| Vec::new()), window)
                    .await
                    .expect("accept")
            }
        };
        let hour = Duration::from_secs(3600);
        assert!(matches!(
            accept(&store, "evt_1", hour).await,
            EventAcceptance::Accepted(_)
        ));
        assert_eq!(
            accept(&store, "evt_1", hour).await,
            EventAcceptance::Duplicate
        );
        // This store purged at its first event and not since: evt_1's row is still
        // there, expired under a zero window, and the id counts as new.
        assert!(matches!(
            accept(&store, "evt_1", Duration::ZERO).await,
            EventAcceptance::Accepted(_)
        ));
        let ids = |store: &SqliteStore| -> Vec<String> {
            store
                .db
                .db()
                .prepare("SELECT event_id FROM webhook_events ORDER BY event_id")
                .and_then(|mut statement| {
                    statement
                        .query_map([], |row| row.get(0))?
                        .collect::<Result<_, _>>()
                })
                .expect("ids")
        };
        assert_eq!(ids(&store), ["evt_1"], "one row per id, overwritten");
        drop(store);
        // A store opened afresh purges with its first event.
        let reopened = SqliteStore::open(&path).expect("reopened");
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(matches!(
            accept(&reopened, "evt_2", Duration::from_millis(1)).await,
            EventAcceptance::Accepted(_)
        ));
        assert_eq!(ids(&reopened), ["evt_2"], "the expired id purged");
    }

    /// Writes that share a group commit are still each all-or-nothing: one that fails
    /// rolls back alone, the others in its transaction are committed and acknowledged.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failing_write_in_a_group_commit_rolls_back_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("terapi.db")).expect("store");
        let writes: Vec<_> = (0..200)
            .map(|index: i64| {
                let db = store.db.clone();
                tokio::spawn(async move {
                    db.write_grouped(move |db| {
                        db.execute(
                            "INSERT INTO webhook_events (provider_config_key, event_id, event_type,
                                 routed, received_at)
                             VALUES ('k', ?1, 't', 0, ?2)",
                            params![format!("evt_{index}"), now_millis()],
                        )
                        .map_err(db_error)?;
                        if index % 2 == 1 {
                            return Err(StoreError::Invalid(format!("write {index} refused")));
                        }
                        Ok(index)
                    })
                    .await
                })
            })
            .collect();
        for (index, write) in (0..).zip(writes) {
            match write.await.expect("task") {
                Ok(answered) => {
                    assert_eq!(index % 2, 0);
                    assert_eq!(answered, index);
                }
                Err(StoreError::Invalid(message)) => {
                    assert_eq!(index % 2, 1);
                    assert_eq!(message, format!("write {index} refused"));
                }
                Err(other) => panic!("write {index}: {other}"),
            }
        }
        let reader = store.db.reader();
        assert!(
            matches!(reader, pool::Reader::Pooled(..)),
            "a file has readers"
        );
        let stored: Vec<String> = reader
            .prepare(
                "SELECT event_id FROM webhook_events ORDER BY CAST(substr(event_id, 5) AS INTEGER)",
            )
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| row.get(0))?
                    .collect::<Result<_, _>>()
            })
            .expect("read");
        let expected: Vec<String> = (0..200)
            .step_by(2)
            .map(|index| format!("evt_{index}"))
            .collect();
        assert_eq!(
            stored, expected,
            "only the writes that succeeded, all of them"
        );
    }

    /// A read connection sees every write acknowledged before it, at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reads_see_each_acknowledged_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("terapi.db")).expect("store");
        for index in 0..50 {
            let mut connection = NewConnection::new(
                "checkr-partner",
                format!("c{index}"),
                "checkr-partner",
                Credentials::None,
            );
            connection.connection_config =
                serde_json::json!({ "checkr_account_id": format!("acct-{}", index % 5) });
            ConnectionStore::upsert(&store, &connection)
                .await
                .expect("upsert");
            let routed = store
                .connection_ids(&ConnectionFilter::by_config(
                    "checkr-partner",
                    "checkr_account_id",
                    format!("acct-{}", index % 5),
                ))
                .await
                .expect("ids");
            assert_eq!(routed.last(), Some(&format!("c{index}")), "{routed:?}");
            assert_eq!(routed.len(), index / 5 + 1);
        }
    }

    #[tokio::test]
    async fn handler_jobs_and_webhooks_are_claimed_by_their_own_workers() {
        let store = SqliteStore::in_memory().expect("store");
        let hook = store.enqueue(&webhook("{}")).await.expect("enqueue");
        let job = store
            .enqueue(&NewDelivery {
                kind: HANDLER_KIND.into(),
                ..webhook(r#"{"sync":"reports","event":{}}"#)
            })
            .await
            .expect("enqueue");
        let lease = Duration::from_secs(60);
        let claimed = |work| {
            let store = &store;
            async move {
                store
                    .claim_due_deliveries(work, 10, lease)
                    .await
                    .expect("claim")
                    .into_iter()
                    .map(|delivery| delivery.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(claimed(OutboxWork::Handlers).await, vec![job]);
        assert_eq!(claimed(OutboxWork::Deliveries).await, vec![hook]);
        assert!(claimed(OutboxWork::Handlers).await.is_empty(), "leased");
    }

    fn webhook(body: &str) -> NewDelivery {
        NewDelivery {
            kind: "sync".into(),
            provider_config_key: Some("checkr-partner".into()),
            connection_id: Some("acme".into()),
            body: body.into(),
        }
    }

    #[tokio::test]
    async fn a_claimed_delivery_is_not_claimed_twice_until_its_attempt_is_recorded() {
        let store = SqliteStore::in_memory().expect("store");
        let id = store.enqueue(&webhook("{\"a\":1}")).await.expect("enqueue");
        let lease = Duration::from_secs(60);
        let first = store
            .claim_due_deliveries(OutboxWork::Deliveries, 10, lease)
            .await
            .expect("claim");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].id, id);
        assert_eq!(first[0].body, "{\"a\":1}");
        assert!(
            store
                .claim_due_deliveries(OutboxWork::Deliveries, 10, lease)
                .await
                .expect("claim")
                .is_empty(),
            "leased"
        );
        store
            .record_attempt(
                id,
                &AttemptOutcome::RetryAt(OffsetDateTime::now_utc(), "HTTP 503".into()),
            )
            .await
            .expect("retry");
        let again = store
            .claim_due_deliveries(OutboxWork::Deliveries, 10, lease)
            .await
            .expect("claim");
        assert_eq!(again.len(), 1, "due again after a failed attempt");
        assert_eq!(again[0].attempts, 1);
        assert_eq!(again[0].last_error.as_deref(), Some("HTTP 503"));
        store
            .record_attempt(id, &AttemptOutcome::Delivered)
            .await
            .expect("delivered");
        let delivered = store.delivery(id).await.expect("read").expect("exists");
        assert_eq!(delivered.status, DeliveryStatus::Delivered);
        assert!(delivered.delivered_at.is_some());
        assert!(
            store
                .claim_due_deliveries(OutboxWork::Deliveries, 10, lease)
                .await
                .expect("claim")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn an_expired_lease_makes_a_delivery_claimable_again() {
        let store = SqliteStore::in_memory().expect("store");
        store.enqueue(&webhook("{}")).await.expect("enqueue");
        assert_eq!(
            store
                .claim_due_deliveries(OutboxWork::Deliveries, 10, Duration::ZERO)
                .await
                .expect("claim")
                .len(),
            1
        );
        assert_eq!(
            store
                .claim_due_deliveries(OutboxWork::Deliveries, 10, Duration::ZERO)
                .await
                .expect("claim")
                .len(),
            1,
            "a worker that died mid-delivery does not strand it"
        );
    }

    #[tokio::test]
    async fn failed_deliveries_are_listed_and_replayable() {
        let store = SqliteStore::in_memory().expect("store");
        let failed = store.enqueue(&webhook("{\"n\":1}")).await.expect("enqueue");
        let ok = store.enqueue(&webhook("{\"n\":2}")).await.expect("enqueue");
        store
            .record_attempt(failed, &AttemptOutcome::Failed("HTTP 400".into()))
            .await
            .expect("failed");
        store
            .record_attempt(ok, &AttemptOutcome::Delivered)
            .await
            .expect("delivered");
        let listed = store
            .list_deliveries(&DeliveryFilter {
                status: Some(DeliveryStatus::Failed),
                limit: None,
            })
            .await
            .expect("list");
        assert_eq!(listed.iter().map(|d| d.id).collect::<Vec<_>>(), [failed]);
        let all = store
            .list_deliveries(&DeliveryFilter::default())
            .await
            .expect("list");
        assert_eq!(
            all.iter().map(|d| d.id).collect::<Vec<_>>(),
            [ok, failed],
            "newest first"
        );
        assert!(
            store
                .claim_due_deliveries(OutboxWork::Deliveries, 10, Duration::from_secs(60))
                .await
                .expect("claim")
                .is_empty()
        );
        assert!(store.replay(failed).await.expect("replay"));
        assert!(!store.replay(9999).await.expect("replay unknown"));
        let due = store
            .claim_due_deliveries(OutboxWork::Deliveries, 10, Duration::from_secs(60))
            .await
            .expect("claim");
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].id, failed);
        assert_eq!(due[0].attempts, 0, "a replay starts over");
    }
}
