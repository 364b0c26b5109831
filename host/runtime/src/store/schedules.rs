//! Sync schedules: one row per sync and connection, in the database so every node that
//! shares it sees the same schedule and the same lease.
//!
//! A run is only started by whoever *claims* the schedule's lease (atomically, in the
//! database), keeps it alive with a heartbeat while the run lasts, and releases it when
//! recording the run's result. Two runs of the same sync and connection therefore never
//! overlap, whether they are asked for by two triggers, two processes or two nodes; a
//! lease whose holder died expires and the schedule becomes claimable again.

use super::SyncScope;
use serde_json::Value;
use time::OffsetDateTime;

/// Whether a schedule runs by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleState {
    /// Runs at its frequency.
    Started,
    /// Paused: runs only when triggered.
    Paused,
    /// Never started (a run was only ever asked for by hand).
    Stopped,
}

impl ScheduleState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleState::Started => "STARTED",
            ScheduleState::Paused => "PAUSED",
            ScheduleState::Stopped => "STOPPED",
        }
    }

    /// Reads the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "STARTED" => Some(ScheduleState::Started),
            "PAUSED" => Some(ScheduleState::Paused),
            "STOPPED" => Some(ScheduleState::Stopped),
            _ => None,
        }
    }
}

/// One sync's schedule for one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSchedule {
    /// Which sync of which connection.
    pub scope: SyncScope,
    /// Whether it runs by itself.
    pub state: ScheduleState,
    /// The connection's own frequency, overriding the sync's default (Nango syntax).
    pub frequency: Option<String>,
    /// When it runs next (`None`: not scheduled).
    pub next_run_at: Option<OffsetDateTime>,
    /// A run was asked for (by a trigger) and has not started yet.
    pub triggered: bool,
    /// Who holds the lease, if anyone.
    pub lease_owner: Option<String>,
    /// Until when the lease holds unless renewed.
    pub lease_expires_at: Option<OffsetDateTime>,
    /// When the last run started.
    pub last_started_at: Option<OffsetDateTime>,
    /// When the last run finished.
    pub last_finished_at: Option<OffsetDateTime>,
    /// The last run's result: `SUCCESS` or `ERROR`.
    pub last_status: Option<String>,
    /// What the last run changed, per model: `{"Candidate": {"added": 1, ...}}`.
    pub last_result: Option<Value>,
    /// Why the last run failed.
    pub last_error: Option<String>,
}

impl SyncSchedule {
    /// Whether a run holds the lease at `now`.
    pub fn running(&self, now: OffsetDateTime) -> bool {
        self.lease_owner.is_some() && self.lease_expires_at.is_some_and(|until| until > now)
    }

    /// Nango's status word: `RUNNING` while a run holds the lease, else `PAUSED` when
    /// paused, else the last run's `SUCCESS`/`ERROR`, else `STOPPED` (never ran).
    pub fn status(&self, now: OffsetDateTime) -> &'static str {
        if self.running(now) {
            return "RUNNING";
        }
        if self.state == ScheduleState::Paused {
            return "PAUSED";
        }
        match self.last_status.as_deref() {
            Some("SUCCESS") => "SUCCESS",
            Some(_) => "ERROR",
            None => "STOPPED",
        }
    }
}

/// A finished run, as its schedule records it.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedRun {
    /// When it finished.
    pub finished_at: OffsetDateTime,
    /// `true` if it succeeded.
    pub success: bool,
    /// What it changed, per model.
    pub result: Value,
    /// Why it failed.
    pub error: Option<String>,
    /// When the schedule runs next (`None`: not scheduled).
    pub next_run_at: Option<OffsetDateTime>,
    /// Whether it is asked for again at `next_run_at` even when its schedule is not
    /// started: a triggered run refused as overloaded or cut short by a shutdown. Kept in
    /// the same write as the result, so a crash between the two cannot lose the trigger.
    pub triggered: bool,
}
