//! The one "call a guest export in a fresh sandbox" step.
//!
//! Every guest call — an action's `run`, a component's `describe`, a sync's
//! `fetch-data`, and tomorrow a webhook handler — goes through [`Sandboxes::call`]:
//! admission (a free slot within the concurrency limit and the memory budget, else a
//! bounded wait, else [`GuestFailure::Overloaded`]; see [`super::admission`]), then a fresh
//! `Store` holding only the capability states the call is granted, a memory cap, a yield
//! to other work every epoch tick plus a wall-clock timeout, and one classification of what went wrong
//! (timeout, memory limit, crash with the guest's panic message) with the captured run
//! log. Adding a world means writing its export call as a closure, not copying this.

use super::admission::{Admission, AdmissionStats, Overloaded};
use crate::bindings::connection as wit_connection;
use crate::capabilities::checkpoint::CheckpointState;
use crate::capabilities::connection::ConnectionState;
use crate::capabilities::http::HttpState;
use crate::capabilities::log::{LogLine, LogSource, LogState};
use crate::capabilities::metadata::MetadataState;
use crate::capabilities::records::{RecordsState, SyncRun};
use crate::capabilities::wasi::WasiState;
use crate::capabilities::{self, checkpoint, connection, http, log, metadata, records};
use crate::config::Limits;
use crate::outbound::HttpPolicy;
use futures_util::future::BoxFuture;
use reqwest::header::HeaderValue;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::{WasiCtxView, WasiView};

/// Caps linear memory and remembers whether the cap was hit, so a failure can be
/// reported as "memory limit exceeded" instead of whatever the guest did when its
/// allocation failed (usually an abort).
pub(crate) struct MemoryLimiter {
    limit: usize,
    exceeded: Option<usize>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; 100k entries is far beyond any action.
        Ok(desired <= 100_000)
    }
}

/// What a sandbox's `Store` holds: one state per granted capability, each reached by its
/// host functions through a projection (see [`crate::capabilities`]).
pub(crate) struct SandboxState {
    limiter: MemoryLimiter,
    connection: ConnectionState,
    http: HttpState,
    log: LogState,
    wasi: WasiState,
    records: RecordsState,
    checkpoint: CheckpointState,
    metadata: MetadataState,
}

impl SandboxState {
    /// The run log: lines the guest logged, then what it printed.
    fn into_logs(self) -> Vec<LogLine> {
        let mut lines = self.log.lines;
        self.wasi.drain_output_into(&mut lines);
        lines
    }
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.view()
    }
}

/// Links what the guest worlds import: deny-by-default WASI, terapi's capabilities, and
/// the sync-only ones (`records`, `checkpoint`, `metadata`). One linker serves
/// components of world `action` and `integration` alike; in an action's sandbox the
/// sync-only imports answer with an error (their states hold no [`SyncRun`]).
pub(crate) fn add_capabilities(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    capabilities::add_types_to_linker(linker)?;
    connection::add_to_linker(linker, |state| &mut state.connection)?;
    http::add_to_linker(linker, |state| &mut state.http)?;
    log::add_to_linker(linker, |state| &mut state.log)?;
    records::add_to_linker(linker, |state| &mut state.records)?;
    checkpoint::add_to_linker(linker, |state| &mut state.checkpoint)?;
    metadata::add_to_linker(linker, |state| &mut state.metadata)?;
    Ok(())
}

/// What a call grants the guest: the connection it runs for, and how its HTTP requests
/// go out.
pub(crate) struct Grant {
    /// The guest's view of the connection.
    pub(crate) connection: Arc<wit_connection::Connection>,
    /// The integration's outbound policy.
    pub(crate) policy: Arc<HttpPolicy>,
    /// The `Authorization` value injected for the connection; secret.
    pub(crate) authorization: Option<HeaderValue>,
    /// The sync run the call is (`None`: an action, a `describe`).
    pub(crate) sync: Option<Arc<SyncRun>>,
}

/// Why a guest call produced no result of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GuestFailure {
    /// It ran past its deadline and was stopped.
    Timeout(Duration),
    /// It tried to grow its memory beyond the cap (bytes) and was stopped.
    MemoryLimitExceeded(usize),
    /// It trapped: a panic, an abort, invalid output. With the guest's panic message
    /// when it printed one.
    Crashed(String),
    /// It never ran: the host was at capacity (no sandbox slot within the wait bound,
    /// or the line of waiting calls full).
    Overloaded(Overloaded),
}

/// A guest call's outcome and its run log.
pub(crate) struct Called<R> {
    pub(crate) result: Result<R, GuestFailure>,
    pub(crate) logs: Vec<LogLine>,
}

/// An export call: given the fresh store, instantiate and call. Boxed so one step serves
/// every world's exports.
pub(crate) type ExportCall<R> = Box<
    dyn for<'a> FnOnce(&'a mut Store<SandboxState>) -> BoxFuture<'a, wasmtime::Result<R>> + Send,
>;

/// Makes and runs sandboxes: the engine, the limits, the HTTP client guests' requests go
/// out with.
pub(crate) struct Sandboxes {
    engine: Engine,
    limits: Limits,
    client: reqwest::Client,
    admission: Admission,
}

impl Sandboxes {
    pub(crate) fn new(engine: Engine, limits: Limits, client: reqwest::Client) -> Self {
        Sandboxes {
            admission: Admission::new(&limits),
            engine,
            limits,
            client,
        }
    }

    /// The admission control's counters.
    pub(crate) fn admission_stats(&self) -> AdmissionStats {
        self.admission.stats()
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Runs `call` in a fresh sandbox granted `grant`, stopped after `timeout` (counted
    /// from when it was admitted, not from when it started waiting).
    pub(crate) async fn call<R: Send>(
        &self,
        grant: Grant,
        timeout: Duration,
        call: ExportCall<R>,
    ) -> Called<R> {
        // Held until the store is dropped, so the slot (and its share of the memory
        // budget) is free again only once the sandbox is gone.
        let _admitted = match self.admission.admit().await {
            Ok(admitted) => admitted,
            Err(overloaded) => {
                return Called {
                    result: Err(GuestFailure::Overloaded(overloaded)),
                    logs: Vec::new(),
                };
            }
        };
        let mut store = self.new_store(grant, timeout);
        let outcome = tokio::time::timeout(timeout, call(&mut store)).await;
        let state = store.into_data();
        let memory_exceeded = state.limiter.exceeded.is_some();
        let logs = state.into_logs();
        let result = match outcome {
            Err(_elapsed) => Err(GuestFailure::Timeout(timeout)),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) if memory_exceeded => {
                Err(GuestFailure::MemoryLimitExceeded(self.limits.memory_bytes))
            }
            Ok(Err(error)) if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
                Err(GuestFailure::Timeout(timeout))
            }
            Ok(Err(error)) => Err(GuestFailure::Crashed(crash_message(&error, &logs))),
        };
        Called { result, logs }
    }

    fn new_store(&self, grant: Grant, timeout: Duration) -> Store<SandboxState> {
        let deadline = tokio::time::Instant::now() + timeout;
        let state = SandboxState {
            limiter: MemoryLimiter {
                limit: self.limits.memory_bytes,
                exceeded: None,
            },
            connection: ConnectionState::new(grant.connection),
            http: HttpState::new(
                self.client.clone(),
                grant.policy,
                grant.authorization,
                deadline,
                &self.limits,
            ),
            log: LogState::default(),
            wasi: WasiState::new(self.limits.log_capture_bytes),
            records: RecordsState::new(grant.sync.clone()),
            checkpoint: CheckpointState::new(grant.sync.clone()),
            metadata: MetadataState::new(grant.sync),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        // The guest yields to the async runtime at every epoch tick (10 ms of CPU), so a
        // guest spinning on the CPU never holds a thread from other guests or the API
        // for longer than that; the wall-clock `timeout` around the call stops it at its
        // deadline (dropping the future drops the guest).
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        store
    }
}

/// A crash explained: the guest's panic message when it printed one, else the trap (or
/// the exit status of a guest that called `exit`).
fn crash_message(error: &wasmtime::Error, logs: &[LogLine]) -> String {
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return format!("it called exit with status {}", exit.0);
    }
    let trap = error
        .downcast_ref::<Trap>()
        .map(|trap| trap.to_string())
        .unwrap_or_else(|| format!("{error:#}"));
    let panic = logs
        .iter()
        .enumerate()
        .find(|(_, line)| line.source == LogSource::Stderr && line.message.contains("panicked at"))
        .map(|(index, line)| {
            // The panic message is on the line after "panicked at <file>:<line>:".
            match logs.get(index + 1) {
                Some(next) if next.source == LogSource::Stderr => {
                    format!("{} {}", line.message, next.message)
                }
                _ => line.message.clone(),
            }
        });
    match panic {
        Some(panic) => format!("{panic} ({trap})"),
        None => trap,
    }
}
