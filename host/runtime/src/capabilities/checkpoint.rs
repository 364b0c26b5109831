//! `terapi:runtime/checkpoint`: where a sync left off, per sync and connection.
//!
//! Saved in a transaction of its own after the batches before it committed, so a
//! checkpoint never runs ahead of the records: a run killed at any moment resumes from
//! its last checkpoint and re-saves, unchanged, what it had saved after it.

use super::records::{SYNC_ONLY, SyncRun};
use crate::bindings::checkpoint as wit;
use crate::store::SyncScope;
use serde_json::Value;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// The checkpoint capability's state: the run it belongs to, or `None` in an action.
#[derive(Default)]
pub(crate) struct CheckpointState {
    run: Option<Arc<SyncRun>>,
}

impl CheckpointState {
    /// The state of a sandbox running `run` (`None`: an action).
    pub(crate) fn new(run: Option<Arc<SyncRun>>) -> Self {
        CheckpointState { run }
    }

    fn scope(&self) -> Result<(Arc<SyncRun>, SyncScope), String> {
        let run = self.run.clone().ok_or_else(|| SYNC_ONLY.to_string())?;
        let scope = SyncScope::new(&run.provider_config_key, &run.connection_id, &run.sync);
        Ok((run, scope))
    }
}

struct HasCheckpoint;

impl HasData for HasCheckpoint {
    type Data<'a> = &'a mut CheckpointState;
}

/// Grants the checkpoint capability; `get` projects a store's data onto its state.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut CheckpointState,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasCheckpoint>(linker, get)
}

impl wit::Host for CheckpointState {
    async fn get(&mut self) -> Result<Option<String>, String> {
        let (run, scope) = self.scope()?;
        let checkpoint = run
            .records
            .checkpoint(&scope)
            .await
            .map_err(|error| error.to_string())?;
        Ok(checkpoint.map(|value| value.to_string()))
    }

    async fn save(&mut self, checkpoint: String) -> Result<(), String> {
        let (run, scope) = self.scope()?;
        let value: Value = serde_json::from_str(&checkpoint)
            .map_err(|error| format!("the checkpoint is not valid JSON: {error}"))?;
        run.records
            .save_checkpoint(&scope, &value)
            .await
            .map_err(|error| error.to_string())
    }

    async fn clear(&mut self) -> Result<(), String> {
        let (run, scope) = self.scope()?;
        run.records
            .clear_checkpoint(&scope)
            .await
            .map_err(|error| error.to_string())
    }
}
