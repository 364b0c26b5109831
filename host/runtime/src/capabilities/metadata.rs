//! `terapi:runtime/metadata`: the connection's metadata, which the application and its
//! syncs share (e.g. a sync's settings chosen by the application, or what a sync learned
//! about the account). Read from the connection store each time, so a change made by the
//! application during a run is seen.

use super::records::{SYNC_ONLY, SyncRun};
use crate::bindings::metadata as wit;
use crate::store::MetadataUpdate;
use serde_json::Value;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// The metadata capability's state: the run it belongs to, or `None` in an action.
#[derive(Default)]
pub(crate) struct MetadataState {
    run: Option<Arc<SyncRun>>,
}

impl MetadataState {
    /// The state of a sandbox running `run` (`None`: an action).
    pub(crate) fn new(run: Option<Arc<SyncRun>>) -> Self {
        MetadataState { run }
    }

    fn run(&self) -> Result<Arc<SyncRun>, String> {
        self.run.clone().ok_or_else(|| SYNC_ONLY.to_string())
    }
}

struct HasMetadata;

impl HasData for HasMetadata {
    type Data<'a> = &'a mut MetadataState;
}

/// Grants the metadata capability; `get` projects a store's data onto its state.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut MetadataState,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasMetadata>(linker, get)
}

impl wit::Host for MetadataState {
    async fn get(&mut self) -> Result<String, String> {
        let run = self.run()?;
        let connection = run
            .connections
            .get(&run.provider_config_key, &run.connection_id)
            .await
            .map_err(|error| error.to_string())?
            .ok_or_else(|| format!("connection `{}` no longer exists", run.connection_id))?;
        Ok(connection.metadata.to_string())
    }

    async fn set(&mut self, metadata: String) -> Result<(), String> {
        let run = self.run()?;
        let value: Value = serde_json::from_str(&metadata)
            .map_err(|error| format!("the metadata is not valid JSON: {error}"))?;
        if !value.is_object() {
            return Err(format!(
                "the metadata must be a JSON object, got {}",
                crate::schema::type_name(&value)
            ));
        }
        run.connections
            .update_metadata(
                &run.provider_config_key,
                &run.connection_id,
                &value,
                MetadataUpdate::Replace,
            )
            .await
            .map_err(|error| error.to_string())?
            .map(|_| ())
            .ok_or_else(|| format!("connection `{}` no longer exists", run.connection_id))
    }
}
