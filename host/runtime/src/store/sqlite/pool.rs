//! How the store shares one SQLite file between many tasks: one writer connection
//! whose small writes are **group-committed**, and a pool of **read connections**.
//!
//! Why: every commit ends with an fsync of the write-ahead log (`synchronous = FULL`,
//! so an acknowledged write survives a power cut). With one commit per write, a burst of
//! webhooks (each an event row and its outbox rows) and the outbox worker's delivery
//! results (one row update each) queue behind each other's fsyncs, and every read waits
//! behind them for the one connection. Measured on the 2-core CI machine, that held
//! ingest at ~2,400 events/s with a p99 of ~34 ms.
//!
//! * Group commit: a write queued while a commit is under way joins the next commit.
//!   One blocking task (the committer) drains the queue, one transaction per batch; each
//!   write runs in a savepoint of its own, so one failing write rolls back alone and the
//!   others in its batch still commit. A caller is answered only after the commit that
//!   holds its write is durable (or failed).
//! * Checkpoints in the background: SQLite's default copies the WAL back into the
//!   database inside a commit once the WAL passes 1,000 pages, so every few hundred
//!   events one commit also writes and fsyncs the database file, and everything queued
//!   behind it waits (the p99 of the ingest burst was twice its p50 because of it). A
//!   thread of the store's own runs passive checkpoints on its own connection instead,
//!   which never block the writer; the writer checkpoints itself only if the WAL grows
//!   far past that (the thread fell behind).
//! * Readers: in WAL mode a reader sees the last commit and never waits for the writer,
//!   so reads on the hot paths (routing a webhook, looking a connection up, listing
//!   schedules) take a connection of their own instead of the writer's lock.

use super::{Db, db_error};
use crate::store::StoreError;
use std::ops::Deref;
use std::sync::{Arc, MutexGuard};

/// The most writes one transaction holds: a batch that grows without bound would make
/// its first caller wait for every write queued behind it.
const MAX_BATCH: usize = 512;

/// Read connections kept open when idle (more are opened under load, then closed).
/// Two cores serve at most a handful of reads at once; a few spare ones cost ~100 KiB
/// each.
const IDLE_READERS: usize = 8;

/// Prepared statements kept per connection. The store has a few dozen distinct ones and
/// a burst of webhooks cycles through about twenty on the writer alone; rusqlite's
/// default (16) made the writer parse some of them again for every write.
pub(super) const STATEMENT_CACHE: usize = 64;

/// The WAL size (pages) past which the writer checkpoints in its own commit: only when
/// the background checkpointer fell far behind (10,000 4-KiB pages, ~40 MiB).
pub(super) const WRITER_CHECKPOINT_PAGES: i64 = 10_000;

/// How often the background checkpointer copies the WAL into the database. A passive
/// checkpoint of what a busy quarter second wrote takes a few milliseconds, off the
/// writer's path.
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Starts the background checkpointer of a file database: a thread with a connection
/// of its own that ends once the store is dropped.
pub(super) fn start_checkpointer(db: &Arc<Db>) {
    let Some(path) = db.path.clone() else {
        return;
    };
    let store = Arc::downgrade(db);
    let spawned = std::thread::Builder::new()
        .name("terapi-sqlite-checkpoint".into())
        .spawn(move || {
            let connection = match rusqlite::Connection::open(&path) {
                Ok(connection) => connection,
                Err(error) => {
                    tracing::warn!(%error, "no background checkpoints; the writer checkpoints itself");
                    return;
                }
            };
            let _ = connection.busy_timeout(std::time::Duration::from_secs(5));
            loop {
                std::thread::sleep(CHECKPOINT_INTERVAL);
                if store.strong_count() == 0 {
                    return;
                }
                // PASSIVE: copies what no reader still needs, waits for nobody.
                if let Err(error) =
                    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::debug!(%error, "background checkpoint skipped");
                }
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "no background checkpoints; the writer checkpoints itself");
    }
}

/// Writes waiting for the committer.
#[derive(Default)]
pub(super) struct WriteQueue {
    pending: Vec<Box<dyn Pending>>,
    /// Whether a committer is running (and will see anything pushed now).
    committing: bool,
}

/// One queued write, type-erased.
trait Pending: Send {
    /// Runs the write in the open transaction, inside a savepoint of its own.
    fn apply(&mut self, db: &rusqlite::Connection);
    /// Answers the caller once the transaction is over.
    fn answer(self: Box<Self>, commit: Result<(), &str>);
}

struct Write<T, F> {
    work: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    done: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Pending for Write<T, F>
where
    T: Send,
    F: FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send,
{
    fn apply(&mut self, db: &rusqlite::Connection) {
        let Some(work) = self.work.take() else {
            return;
        };
        // Cached statements: parsing three savepoint statements per write was a sixth of
        // the committer's time under a burst of webhooks.
        let run = |sql: &str| {
            db.prepare_cached(sql)
                .and_then(|mut statement| statement.execute([]))
                .map(|_| ())
        };
        if let Err(error) = run("SAVEPOINT grouped_write") {
            self.outcome = Some(Err(db_error(error)));
            return;
        }
        let outcome = work(db);
        let ended = if outcome.is_ok() {
            run("RELEASE grouped_write")
        } else {
            run("ROLLBACK TO grouped_write").and_then(|()| run("RELEASE grouped_write"))
        };
        self.outcome = Some(match ended {
            Ok(()) => outcome,
            Err(error) => Err(db_error(error)),
        });
    }

    fn answer(self: Box<Self>, commit: Result<(), &str>) {
        let answer = match (commit, self.outcome) {
            (Err(message), _) => Err(StoreError::Database(message.to_string())),
            (Ok(()), Some(outcome)) => outcome,
            (Ok(()), None) => Err(StoreError::Database(
                "a write was not applied before its commit".into(),
            )),
        };
        let _ = self.done.send(answer);
    }
}

impl Db {
    /// Queues `work` for the next group commit and waits until that commit is durable.
    pub(super) async fn write_grouped<T, F>(self: &Arc<Self>, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (done, answer) = tokio::sync::oneshot::channel();
        let start = {
            let mut queue = self.lock_queue();
            queue.pending.push(Box::new(Write {
                work: Some(work),
                outcome: None,
                done,
            }));
            !std::mem::replace(&mut queue.committing, true)
        };
        if start {
            let db = self.clone();
            tokio::task::spawn_blocking(move || db.commit_queued());
        }
        answer.await.map_err(|_| {
            StoreError::Database("a write's transaction ended without an answer".into())
        })?
    }

    fn lock_queue(&self) -> MutexGuard<'_, WriteQueue> {
        self.writes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The committer: commits batches until the queue is empty. Whether it is running
    /// is decided under the queue's lock, so a write is never left queued with no
    /// committer to see it.
    fn commit_queued(&self) {
        loop {
            let mut batch = {
                let mut queue = self.lock_queue();
                if queue.pending.is_empty() {
                    queue.committing = false;
                    return;
                }
                let taken = queue.pending.len().min(MAX_BATCH);
                let rest = queue.pending.split_off(taken);
                std::mem::replace(&mut queue.pending, rest)
            };
            // A panicking write drops its batch unanswered (its callers get an error,
            // none a false acknowledgement); the committer goes on with the next.
            let committed =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<(), String> {
                    let mut db = self.db();
                    let tx = db.transaction().map_err(|error| error.to_string())?;
                    for write in &mut batch {
                        write.apply(&tx);
                    }
                    tx.commit().map_err(|error| error.to_string())
                }));
            if let Ok(committed) = committed {
                for write in batch {
                    write.answer(committed.as_ref().map(|_| ()).map_err(String::as_str));
                }
            }
        }
    }

    /// A connection to read with: one of the pool's (opened if none is idle) when the
    /// database is a file, else the writer.
    pub(super) fn reader(&self) -> Reader<'_> {
        let Some(path) = self.path.as_deref() else {
            return Reader::Writer(self.db());
        };
        let idle = self
            .readers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        let opened = idle.map(Ok).unwrap_or_else(|| {
            let db = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | rusqlite::OpenFlags::SQLITE_OPEN_URI,
            )?;
            db.busy_timeout(std::time::Duration::from_secs(5))?;
            db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            Ok::<_, rusqlite::Error>(db)
        });
        match opened {
            Ok(db) => Reader::Pooled(Some(db), self),
            Err(error) => {
                // Reading through the writer is slower, never wrong.
                tracing::warn!(%error, "cannot open a read connection; reading through the writer");
                Reader::Writer(self.db())
            }
        }
    }
}

/// A connection to read with (see [`Db::reader`]); returned to the pool when dropped.
pub(super) enum Reader<'a> {
    Pooled(Option<rusqlite::Connection>, &'a Db),
    Writer(MutexGuard<'a, rusqlite::Connection>),
}

impl Deref for Reader<'_> {
    type Target = rusqlite::Connection;

    fn deref(&self) -> &rusqlite::Connection {
        match self {
            Reader::Pooled(Some(db), _) => db,
            Reader::Pooled(None, _) => unreachable!("a pooled reader is only emptied on drop"),
            Reader::Writer(db) => db,
        }
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Reader::Pooled(db, pool) = self
            && let Some(db) = db.take()
        {
            let mut readers = pool
                .readers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if readers.len() < IDLE_READERS {
                readers.push(db);
            }
        }
    }
}
