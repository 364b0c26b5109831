//! Sync workflows shared by the server and the CLI: the scheduler, triggering, starting
//! and pausing syncs, per-connection frequencies, status, and reading records.
//!
//! The scheduler is a loop that claims due schedules from the [`ScheduleStore`] (a lease
//! in the database, so two runs of the same sync and connection never overlap, across
//! processes too), runs each in a task of its own while a heartbeat keeps its lease
//! alive, and records the outcome with the next slot: now + the interval + jitter (up to
//! a tenth of the interval, at most five minutes), so a thousand connections created
//! together do not all fire in the same second. A failed run is recorded with its error
//! and simply runs again at its next slot.

use super::{ErrorKind, Service, ServiceError};
use crate::capabilities::records::SyncProgress;
use crate::runtime::{Runtime, SyncError, SyncInfo, SyncOutcome, parse_frequency};
use crate::store::{
    ConnectionFilter, FinishedRun, RecordPage, RecordQuery, RecordScope, ScheduleState,
    ScheduleStore, Stores, SyncSchedule, SyncScope, WriteCounts,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

/// How often the scheduler looks for due schedules when nothing wakes it.
const TICK: Duration = Duration::from_millis(500);
/// How often it makes sure every connection has its auto-start syncs scheduled (covers
/// connections created by another process, e.g. `terapi connection add`).
const RECONCILE: Duration = Duration::from_secs(30);
/// Sync runs one scheduler runs at once.
const MAX_CONCURRENT_RUNS: usize = 16;
/// The most a run is delayed to spread load.
const MAX_JITTER: Duration = Duration::from_secs(300);
/// The spread of retries of runs refused as overloaded, so they do not all come back in
/// the same second.
const OVERLOADED_JITTER: Duration = Duration::from_secs(5);

/// A sync's status for one connection, shaped like an entry of Nango's
/// `GET /sync/status`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncStatus {
    /// A stable id: `<integration>:<connection>:<sync>`.
    pub id: String,
    /// The connection.
    pub connection_id: String,
    /// The sync.
    pub name: String,
    /// `RUNNING`, `PAUSED`, `STOPPED`, `SUCCESS` or `ERROR`.
    pub status: &'static str,
    /// The last run's changes per model: `{"Candidate": {"added":1,"updated":0,"deleted":0}}`.
    pub latest_result: Value,
    /// The frequency in force (the connection's override or the sync's default).
    pub frequency: String,
    /// When the last run finished.
    pub finished_at: Option<OffsetDateTime>,
    /// When it runs next.
    pub next_scheduled_sync_at: Option<OffsetDateTime>,
    /// Live records per model.
    pub record_count: BTreeMap<String, u64>,
    /// The checkpoint the next run starts from.
    pub checkpoint: Option<Value>,
    /// Why the last run failed.
    pub last_error: Option<String>,
}

impl SyncStatus {
    /// The status as Nango's `GET /sync/status` shows one sync (the API and the CLI both
    /// print this).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "connection_id": self.connection_id,
            "name": self.name,
            "status": self.status,
            "type": "INCREMENTAL",
            "latestResult": self.latest_result,
            "frequency": self.frequency,
            "finishedAt": self.finished_at.map(crate::util::iso),
            "nextScheduledSyncAt": self.next_scheduled_sync_at.map(crate::util::iso),
            "recordCount": self.record_count,
            "checkpoint": self.checkpoint,
            "error": self.last_error,
        })
    }
}

/// What a trigger forgets before the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncReset {
    /// Nothing: the run continues from the checkpoint.
    None,
    /// The checkpoint: the run starts from the beginning (Nango's `full_refresh`).
    Checkpoint,
    /// The checkpoint and the records (Nango's `opts.reset`,
    /// `full_refresh_and_clear_cache`).
    All,
}

/// A random delay in `[0, max)`, to spread runs.
fn jitter(max: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() || max.is_zero() {
        return Duration::ZERO;
    }
    let fraction = u64::from_le_bytes(bytes) as f64 / u64::MAX as f64;
    max.mul_f64(fraction)
}

/// When a schedule with `interval` runs next after `now`.
fn next_slot(now: OffsetDateTime, interval: Duration) -> OffsetDateTime {
    now + interval + jitter((interval / 10).min(MAX_JITTER))
}

/// The counts a run's result shows, per model (Nango's `latestResult`).
fn result_json(counts: &BTreeMap<String, WriteCounts>) -> Value {
    let mut result = Map::new();
    for (model, counts) in counts {
        result.insert(
            model.clone(),
            json!({ "added": counts.added, "updated": counts.updated, "deleted": counts.deleted }),
        );
    }
    Value::Object(result)
}

/// Runs claimed schedules: what the scheduler and `terapi sync run` share.
#[derive(Clone)]
struct Runner {
    runtime: Arc<Runtime>,
    schedules: Arc<dyn ScheduleStore>,
    owner: String,
    /// How long a lease holds without a heartbeat (`limits.sync_lease_ms`); renewed
    /// every third of it.
    lease: Duration,
    /// Where sync webhooks are written, when the application wants them.
    notifier: Option<super::webhooks::SyncNotifier>,
    /// The shutdown deadline, once asked for: a run still going then is stopped.
    shutdown: tokio::sync::watch::Receiver<Option<tokio::time::Instant>>,
}

impl Runner {
    fn interval(&self, schedule: &SyncSchedule) -> Duration {
        schedule
            .frequency
            .as_deref()
            .and_then(|frequency| parse_frequency(frequency).ok())
            .or_else(|| {
                sync_info(
                    &self.runtime,
                    &schedule.scope.provider_config_key,
                    &schedule.scope.sync,
                )
                .map(SyncInfo::interval)
            })
            .unwrap_or(Duration::from_secs(3600))
    }

    /// Runs a schedule this runner holds the lease of, renewing the lease while it runs,
    /// and records the outcome (releasing the lease).
    async fn run(
        &self,
        schedule: SyncSchedule,
        progress: Option<Arc<SyncProgress>>,
    ) -> SyncOutcome {
        let scope = schedule.scope.clone();
        let heartbeat = {
            let (schedules, scope, owner, lease) = (
                self.schedules.clone(),
                scope.clone(),
                self.owner.clone(),
                self.lease,
            );
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    let until = OffsetDateTime::now_utc() + lease;
                    match schedules.heartbeat(&scope, &owner, until).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(sync = %scope.sync, connection = %scope.connection_id, "a running sync lost its lease");
                        }
                        Err(error) => {
                            tracing::warn!(sync = %scope.sync, %error, "cannot renew a sync's lease");
                        }
                    }
                }
            })
        };
        let started_at = OffsetDateTime::now_utc();
        let outcome = tokio::select! {
            outcome = self.runtime.run_sync_with_progress(
                &scope.provider_config_key,
                &scope.connection_id,
                &scope.sync,
                progress,
            ) => outcome,
            // Dropping the run drops its sandbox; what it saved and checkpointed stays.
            () = super::shutdown_deadline(self.shutdown.clone()) => SyncOutcome {
                result: Err(SyncError::Interrupted { sync: scope.sync.clone() }),
                counts: BTreeMap::new(),
                started_at,
                finished_at: OffsetDateTime::now_utc(),
                logs: Vec::new(),
            },
        };
        heartbeat.abort();
        let now = OffsetDateTime::now_utc();
        let scheduled = schedule.state == ScheduleState::Started;
        // A run that never started, or was cut short, is asked for again even when its
        // schedule is not started (a trigger), or the trigger would be lost.
        let again_at = match &outcome.result {
            Err(SyncError::Interrupted { .. }) => Some(now),
            Err(SyncError::Overloaded {
                retry_after_secs, ..
            }) => Some(now + Duration::from_secs(*retry_after_secs) + jitter(OVERLOADED_JITTER)),
            _ => None,
        };
        // Refused as overloaded (it never started): again after the retry delay, spread
        // over a few seconds, not a whole interval later. Cut short by a shutdown: due at
        // once, so the next start (or another node) resumes it from its checkpoint
        // without waiting for the lease to expire.
        let next_run_at =
            again_at.or_else(|| scheduled.then(|| next_slot(now, self.interval(&schedule))));
        let finished = FinishedRun {
            finished_at: now,
            success: outcome.result.is_ok(),
            result: result_json(&outcome.counts),
            error: outcome.result.as_ref().err().map(ToString::to_string),
            next_run_at,
            triggered: again_at.is_some() && !scheduled,
        };
        match &outcome.result {
            Ok(()) => tracing::info!(
                integration = %scope.provider_config_key, connection = %scope.connection_id,
                sync = %scope.sync, result = %finished.result, "sync run succeeded"
            ),
            Err(error) => tracing::warn!(
                integration = %scope.provider_config_key, connection = %scope.connection_id,
                sync = %scope.sync, %error, "sync run failed; it runs again at its next slot"
            ),
        }
        if let Err(error) = self.schedules.finish(&scope, &self.owner, &finished).await {
            tracing::error!(sync = %scope.sync, %error, "cannot record a sync run's result");
        }
        if let Some(notifier) = &self.notifier {
            notifier
                .notify(&scope, &outcome, super::webhooks::SyncType::Incremental)
                .await;
        }
        outcome
    }
}

fn sync_info<'a>(runtime: &'a Runtime, key: &str, sync: &str) -> Option<&'a SyncInfo> {
    runtime
        .syncs(key)
        .and_then(|syncs| syncs.iter().find(|info| info.name == sync))
}

/// The running scheduler; dropping it (or [`SchedulerHandle::stop`]) stops claiming new
/// runs. Runs in progress finish in their own tasks.
#[derive(Debug)]
pub struct SchedulerHandle {
    task: tokio::task::JoinHandle<()>,
    /// One permit per run slot; a run holds one while it goes.
    permits: Arc<Semaphore>,
}

impl SchedulerHandle {
    /// Stops the scheduler loop.
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Stops claiming runs, then waits for the runs in progress: they finish, or are
    /// stopped at the shutdown deadline ([`Service::begin_shutdown`]) and record
    /// themselves as interrupted (due again at once, to resume from their checkpoints).
    /// Waits at most until `deadline + settle`; returns whether every run ended.
    pub async fn shutdown(&self, deadline: tokio::time::Instant, settle: Duration) -> bool {
        self.task.abort();
        let all = u32::try_from(MAX_CONCURRENT_RUNS).unwrap_or(u32::MAX);
        tokio::time::timeout_at(deadline + settle, self.permits.acquire_many(all))
            .await
            .is_ok_and(|acquired| acquired.is_ok())
    }
}

impl Drop for SchedulerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Makes sure every connection of every integration has its auto-start syncs scheduled.
async fn reconcile(runtime: &Runtime, stores: &Stores) -> Result<(), ServiceError> {
    for key in runtime.integration_keys() {
        let auto: Vec<&SyncInfo> = runtime
            .syncs(key)
            .unwrap_or(&[])
            .iter()
            .filter(|info| info.auto_start)
            .collect();
        if auto.is_empty() {
            continue;
        }
        let filter = ConnectionFilter {
            provider_config_key: Some(key.to_string()),
            ..ConnectionFilter::default()
        };
        for connection in stores.connections.list(&filter).await? {
            schedule_auto_start(stores, key, &connection.connection_id, &auto).await?;
        }
    }
    Ok(())
}

async fn schedule_auto_start(
    stores: &Stores,
    key: &str,
    connection_id: &str,
    syncs: &[&SyncInfo],
) -> Result<(), ServiceError> {
    let now = OffsetDateTime::now_utc();
    for info in syncs {
        // The first run soon, spread over a few seconds.
        let first = now + jitter((info.interval() / 10).min(Duration::from_secs(5)));
        let scope = SyncScope::new(key, connection_id, &info.name);
        if stores.schedules.ensure_schedule(&scope, first).await? {
            tracing::info!(integration = %key, connection = %connection_id, sync = %info.name, "sync scheduled");
        }
    }
    Ok(())
}

impl Service {
    fn sync_runtime(&self) -> Result<&Arc<Runtime>, ServiceError> {
        self.started_runtime()
    }

    fn runner(&self) -> Result<Runner, ServiceError> {
        Ok(Runner {
            runtime: self.sync_runtime()?.clone(),
            schedules: self.stores.schedules.clone(),
            owner: crate::util::random_id().map_err(ServiceError::internal)?,
            lease: self.config.limits.sync_lease(),
            notifier: self.sync_notifier(),
            shutdown: self.shutdown.subscribe(),
        })
    }

    /// Starts the scheduler loop (`terapi serve` does).
    pub fn start_scheduler(&self) -> Result<SchedulerHandle, ServiceError> {
        let runner = self.runner()?;
        let stores = self.stores.clone();
        let wake = self.sync_wake.clone();
        let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_RUNS));
        let handle_permits = permits.clone();
        let task = tokio::spawn(async move {
            let mut last_reconcile: Option<tokio::time::Instant> = None;
            loop {
                // Shutting down: claim nothing more (runs in progress end on their own).
                if runner.shutdown.borrow().is_some() {
                    return;
                }
                if last_reconcile.is_none_or(|at| at.elapsed() >= RECONCILE) {
                    if let Err(error) = reconcile(&runner.runtime, &stores).await {
                        tracing::warn!(%error, "cannot schedule auto-start syncs");
                    }
                    last_reconcile = Some(tokio::time::Instant::now());
                }
                let free = permits.available_permits();
                if free > 0 {
                    let now = OffsetDateTime::now_utc();
                    match stores
                        .schedules
                        .claim_due(&runner.owner, now, now + runner.lease, free)
                        .await
                    {
                        Ok(claimed) => {
                            for schedule in claimed {
                                let Ok(permit) = permits.clone().try_acquire_owned() else {
                                    break;
                                };
                                let runner = runner.clone();
                                tokio::spawn(async move {
                                    runner.run(schedule, None).await;
                                    drop(permit);
                                });
                            }
                        }
                        Err(error) => tracing::warn!(%error, "cannot claim due syncs"),
                    }
                }
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(TICK) => {}
                }
            }
        });
        Ok(SchedulerHandle {
            task,
            permits: handle_permits,
        })
    }

    /// Schedules the auto-start syncs of a connection just created (the OAuth callback
    /// calls it; the scheduler also catches up on connections created elsewhere).
    pub async fn connection_created(
        &self,
        key: &str,
        connection_id: &str,
    ) -> Result<(), ServiceError> {
        let Some(runtime) = self.runtime.as_ref() else {
            return Ok(());
        };
        let auto: Vec<&SyncInfo> = runtime
            .syncs(key)
            .unwrap_or(&[])
            .iter()
            .filter(|info| info.auto_start)
            .collect();
        schedule_auto_start(&self.stores, key, connection_id, &auto).await?;
        self.sync_wake.notify_one();
        Ok(())
    }

    /// The integration's syncs, or `unknown_provider_config`.
    pub fn syncs(&self, key: &str) -> Result<&[SyncInfo], ServiceError> {
        self.sync_runtime()?
            .syncs(key)
            .ok_or_else(|| ServiceError::unknown_integration(key))
    }

    /// Resolves sync names (`*` or empty: all of them), refusing unknown ones by name.
    pub fn resolve_syncs(
        &self,
        key: &str,
        names: &[String],
    ) -> Result<Vec<SyncInfo>, ServiceError> {
        let syncs = self.syncs(key)?;
        if names.is_empty() || names.iter().any(|name| name == "*") {
            return Ok(syncs.to_vec());
        }
        names
            .iter()
            .map(|name| {
                syncs
                    .iter()
                    .find(|info| &info.name == name)
                    .cloned()
                    .ok_or_else(|| unknown_sync(key, name, syncs))
            })
            .collect()
    }

    /// The connections a sync request is about: the one named (which must exist), or
    /// every connection of the integration.
    async fn sync_connections(
        &self,
        key: &str,
        connection_id: Option<&str>,
    ) -> Result<Vec<String>, ServiceError> {
        match connection_id {
            Some(id) => {
                self.connection(key, id).await?;
                Ok(vec![id.to_string()])
            }
            None => {
                let filter = ConnectionFilter {
                    provider_config_key: Some(key.to_string()),
                    ..ConnectionFilter::default()
                };
                Ok(self
                    .connections()
                    .list(&filter)
                    .await?
                    .into_iter()
                    .map(|connection| connection.connection_id)
                    .collect())
            }
        }
    }

    /// Asks for a run of each sync for the connection (or every connection) as soon as
    /// possible. [`SyncReset::Checkpoint`] forgets the checkpoints first (a full
    /// refresh), [`SyncReset::All`] the records too (the run adds them afresh). A run
    /// already asked for, or asked for while one is in progress, is not doubled.
    pub async fn trigger_syncs(
        &self,
        key: &str,
        connection_id: Option<&str>,
        syncs: &[String],
        reset: SyncReset,
    ) -> Result<(), ServiceError> {
        let syncs = self.resolve_syncs(key, syncs)?;
        let connections = self.sync_connections(key, connection_id).await?;
        let now = OffsetDateTime::now_utc();
        for connection in &connections {
            for info in &syncs {
                let scope = SyncScope::new(key, connection, &info.name);
                if reset != SyncReset::None {
                    self.stores.records.clear_checkpoint(&scope).await?;
                }
                if reset == SyncReset::All {
                    for model in &info.models {
                        self.stores
                            .records
                            .clear_records(&RecordScope::new(key, connection, &model.name))
                            .await?;
                    }
                }
                self.stores.schedules.trigger(&scope, now).await?;
            }
        }
        self.sync_wake.notify_one();
        Ok(())
    }

    /// Starts (resumes) or pauses syncs' schedules for the connection (or every
    /// connection).
    pub async fn set_syncs_state(
        &self,
        key: &str,
        connection_id: Option<&str>,
        syncs: &[String],
        state: ScheduleState,
    ) -> Result<(), ServiceError> {
        let syncs = self.resolve_syncs(key, syncs)?;
        let connections = self.sync_connections(key, connection_id).await?;
        let now = OffsetDateTime::now_utc();
        for connection in &connections {
            for info in &syncs {
                let scope = SyncScope::new(key, connection, &info.name);
                self.stores
                    .schedules
                    .set_schedule_state(&scope, state, now)
                    .await?;
            }
        }
        self.sync_wake.notify_one();
        Ok(())
    }

    /// Sets a connection's frequency for a sync (`None`: back to the sync's default);
    /// returns the frequency in force. The next run moves to one interval after the last
    /// one (or from now).
    pub async fn update_connection_frequency(
        &self,
        key: &str,
        connection_id: &str,
        sync: &str,
        frequency: Option<&str>,
    ) -> Result<String, ServiceError> {
        let info = self
            .resolve_syncs(key, &[sync.to_string()])?
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::internal("a resolved sync vanished"))?;
        self.connection(key, connection_id).await?;
        let (interval, in_force) = match frequency {
            Some(text) => (
                parse_frequency(text).map_err(|message| {
                    ServiceError::new(ErrorKind::Invalid, "invalid_frequency", message)
                })?,
                text.to_string(),
            ),
            None => (info.interval(), info.frequency.clone()),
        };
        let scope = SyncScope::new(key, connection_id, sync);
        let current = self.stores.schedules.schedule(&scope).await?;
        let next = current.as_ref().and_then(|schedule| {
            (schedule.state == ScheduleState::Started).then(|| {
                let from = schedule
                    .last_finished_at
                    .unwrap_or_else(OffsetDateTime::now_utc);
                from + interval
            })
        });
        self.stores
            .schedules
            .set_frequency(&scope, frequency, next)
            .await?;
        Ok(in_force)
    }

    /// The status of syncs (empty or `*`: all) for the connection (or every connection).
    pub async fn sync_status(
        &self,
        key: &str,
        connection_id: Option<&str>,
        syncs: &[String],
    ) -> Result<Vec<SyncStatus>, ServiceError> {
        let syncs = self.resolve_syncs(key, syncs)?;
        let connections = self.sync_connections(key, connection_id).await?;
        let now = OffsetDateTime::now_utc();
        let mut statuses = Vec::new();
        for connection in &connections {
            for info in &syncs {
                let scope = SyncScope::new(key, connection, &info.name);
                let schedule = self.stores.schedules.schedule(&scope).await?;
                let mut record_count = BTreeMap::new();
                for model in &info.models {
                    let count = self
                        .stores
                        .records
                        .count_records(&RecordScope::new(key, connection, &model.name))
                        .await?;
                    record_count.insert(model.name.clone(), count);
                }
                let checkpoint = self.stores.records.checkpoint(&scope).await?;
                statuses.push(SyncStatus {
                    id: format!("{key}:{connection}:{}", info.name),
                    connection_id: connection.clone(),
                    name: info.name.clone(),
                    status: schedule
                        .as_ref()
                        .map_or("STOPPED", |schedule| schedule.status(now)),
                    latest_result: schedule
                        .as_ref()
                        .and_then(|schedule| schedule.last_result.clone())
                        .unwrap_or_else(|| Value::Object(Map::new())),
                    frequency: schedule
                        .as_ref()
                        .and_then(|schedule| schedule.frequency.clone())
                        .unwrap_or_else(|| info.frequency.clone()),
                    finished_at: schedule.as_ref().and_then(|s| s.last_finished_at),
                    next_scheduled_sync_at: schedule.as_ref().and_then(|s| {
                        (s.state == ScheduleState::Started || s.triggered)
                            .then_some(s.next_run_at)
                            .flatten()
                    }),
                    record_count,
                    checkpoint,
                    last_error: schedule.and_then(|schedule| schedule.last_error),
                });
            }
        }
        Ok(statuses)
    }

    /// Runs a sync now, in this process, holding its lease like a scheduled run (so it
    /// never overlaps a run elsewhere: `sync_already_running` then), and records the
    /// outcome. `progress` receives live counts.
    pub async fn run_sync_now(
        &self,
        key: &str,
        connection_id: &str,
        sync: &str,
        progress: Option<Arc<SyncProgress>>,
    ) -> Result<SyncOutcome, ServiceError> {
        self.resolve_syncs(key, &[sync.to_string()])?;
        self.connection(key, connection_id).await?;
        let runner = self.runner()?;
        let scope = SyncScope::new(key, connection_id, sync);
        let now = OffsetDateTime::now_utc();
        let Some(schedule) = self
            .stores
            .schedules
            .claim(&scope, &runner.owner, now, now + runner.lease)
            .await?
        else {
            return Err(ServiceError::new(
                ErrorKind::Unavailable,
                "sync_already_running",
                format!("sync `{sync}` is already running for connection `{connection_id}`"),
            ));
        };
        Ok(runner.run(schedule, progress).await)
    }

    /// Records of a model for a connection, in modification order. The model must be one
    /// of the integration's syncs' and the connection must exist.
    pub async fn list_records(
        &self,
        key: &str,
        connection_id: &str,
        model: &str,
        query: &RecordQuery,
    ) -> Result<RecordPage, ServiceError> {
        let syncs = self.syncs(key)?;
        let known: Vec<&str> = syncs
            .iter()
            .flat_map(|info| info.models.iter().map(|model| model.name.as_str()))
            .collect();
        if !known.contains(&model) {
            return Err(ServiceError::new(
                ErrorKind::NotFound,
                "unknown_model",
                format!(
                    "integration `{key}` has no model `{model}`; its syncs' models: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        self.connection(key, connection_id).await?;
        Ok(self
            .stores
            .records
            .list_records(&RecordScope::new(key, connection_id, model), query)
            .await?)
    }
}

/// `unknown_sync`, listing the syncs there are.
fn unknown_sync(key: &str, name: &str, syncs: &[SyncInfo]) -> ServiceError {
    ServiceError::new(
        ErrorKind::NotFound,
        "unknown_sync",
        format!(
            "integration `{key}` has no sync `{name}`; it has: {}",
            if syncs.is_empty() {
                "none".to_string()
            } else {
                syncs
                    .iter()
                    .map(|info| info.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    )
}

impl From<SyncError> for ServiceError {
    fn from(error: SyncError) -> Self {
        let (kind, code) = match &error {
            SyncError::UnknownIntegration { .. } => {
                (ErrorKind::NotFound, "unknown_provider_config")
            }
            SyncError::UnknownSync { .. } => (ErrorKind::NotFound, "unknown_sync"),
            SyncError::UnknownConnection { .. } => (ErrorKind::NotFound, "unknown_connection"),
            SyncError::ConnectionRevoked { .. } => (ErrorKind::Forbidden, "connection_revoked"),
            SyncError::Failed { .. } => (ErrorKind::Upstream, "sync_script_runtime_error"),
            SyncError::Timeout { .. } => (ErrorKind::Upstream, "sync_timeout"),
            SyncError::MemoryLimitExceeded { .. } => {
                (ErrorKind::Upstream, "sync_memory_limit_exceeded")
            }
            SyncError::Crashed { .. } => (ErrorKind::Upstream, "sync_crashed"),
            SyncError::Overloaded { .. } => (ErrorKind::Unavailable, "server_overloaded"),
            SyncError::Interrupted { .. } => (ErrorKind::Unavailable, "sync_interrupted"),
            SyncError::Internal(_) => (ErrorKind::Internal, "internal_error"),
        };
        ServiceError::new(kind, code, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_slots_are_spread_within_a_tenth_of_the_interval() {
        let now = OffsetDateTime::now_utc();
        let interval = Duration::from_secs(3600);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let next = next_slot(now, interval);
            let delay = next - now;
            assert!(delay >= time::Duration::seconds(3600), "{delay}");
            assert!(delay <= time::Duration::seconds(3960), "{delay}");
            seen.insert(delay.whole_milliseconds());
        }
        assert!(seen.len() > 40, "jittered: {} distinct delays", seen.len());
        let day = next_slot(now, Duration::from_secs(86_400)) - now;
        assert!(
            day <= time::Duration::seconds(86_400 + 300),
            "capped at five minutes"
        );
    }

    #[test]
    fn results_show_added_updated_deleted_per_model() {
        let mut counts = BTreeMap::new();
        counts.insert(
            "Candidate".to_string(),
            WriteCounts {
                added: 3,
                updated: 1,
                deleted: 2,
                unchanged: 9,
            },
        );
        assert_eq!(
            result_json(&counts),
            json!({ "Candidate": { "added": 3, "updated": 1, "deleted": 2 } })
        );
    }
}
