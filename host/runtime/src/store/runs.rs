//! Asynchronous run results: what [`RunStore`](super::RunStore) keeps and its bounds.

use crate::config::RuntimeConfig;
use crate::runtime::TriggerError;
use std::time::Duration;

/// How many asynchronous run results are kept, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Entries kept (running and finished); when full, the oldest finished one is
    /// dropped, and when all are running a new run is refused.
    pub max: usize,
    /// How long a finished run's result is kept.
    pub ttl: Duration,
    /// A run still marked running after this long is reported as lost: the node that ran
    /// it stopped before recording its result (a live run ends at its deadline).
    pub abandon_after: Duration,
}

impl RunLimits {
    /// The limits the configuration sets: `server.async_results_max`,
    /// `server.async_results_ttl_secs`, and the invocation deadline plus a minute.
    pub fn from_config(config: &RuntimeConfig) -> Self {
        RunLimits {
            max: config.server.async_results_max.max(1),
            ttl: Duration::from_secs(config.server.async_results_ttl_secs),
            abandon_after: config.limits.invocation_timeout() + Duration::from_secs(60),
        }
    }
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits::from_config(&RuntimeConfig::default())
    }
}

/// Where an asynchronous run stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// Still running.
    Running,
    /// Finished: the action's JSON output or its error.
    Finished(Result<String, TriggerError>),
}

/// Why a run could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum StartRunError {
    /// Every entry is a run still in progress.
    #[error("{0} asynchronous action runs are in progress; try again later")]
    Full(usize),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] super::StoreError),
}
