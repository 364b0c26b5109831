//! `terapi:runtime/records`: the records a sync saves, validated and written through the
//! [`RecordStore`].
//!
//! Every record is checked host-side before anything is written — valid JSON, an object
//! with a non-empty string `id`, matching its model's JSON Schema — and an error names
//! the record (its index in the batch and its id) and the field, so a guest author can
//! find it. Each batch is one store transaction. Outside a sync run (an action's
//! invocation) every import fails with an error saying so.
//!
//! [`SyncRun`] is what a sync's sandbox is granted; the `checkpoint` and `metadata`
//! capabilities share it. Its [`SyncProgress`] is shared with whoever started the run,
//! so counts survive a run that fails or times out, and can be shown live.

use crate::bindings::records as wit;
use crate::schema::{FieldError, InputSchema};
use crate::store::{ConnectionStore, RecordScope, RecordStore, StoreError, WriteCounts};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use wasmtime::component::{HasData, Linker};

/// The message every sync-only import returns in an action.
pub(crate) const SYNC_ONLY: &str =
    "records, checkpoints and connection metadata are only available to syncs, not to actions";

/// The compiled JSON Schemas of a sync's models, by model name.
pub(crate) type ModelSchemas = BTreeMap<String, InputSchema>;

/// What one sync run's sandbox is granted: where records, checkpoints and metadata live,
/// whose they are, and the models it may save.
pub(crate) struct SyncRun {
    pub(crate) records: Arc<dyn RecordStore>,
    pub(crate) connections: Arc<dyn ConnectionStore>,
    pub(crate) provider_config_key: String,
    pub(crate) connection_id: String,
    pub(crate) sync: String,
    /// Unique per run: records saved are marked seen by it (track-deletes).
    pub(crate) run_id: String,
    pub(crate) models: Arc<ModelSchemas>,
    pub(crate) progress: Arc<SyncProgress>,
    /// Whether the run is a webhook handler (`on-webhook`) rather than `fetch-data`.
    pub(crate) webhook: bool,
}

impl SyncRun {
    fn scope(&self, model: &str) -> RecordScope {
        RecordScope::new(&self.provider_config_key, &self.connection_id, model)
    }

    /// Refuses a model the sync did not declare.
    fn check_model(&self, model: &str) -> Result<&InputSchema, String> {
        self.models.get(model).ok_or_else(|| {
            format!(
                "unknown model `{model}`: sync `{}` declares {}",
                self.sync,
                self.models
                    .keys()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }
}

/// Where track-deletes stands for one model in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackDeletes {
    /// `track-deletes-start` was called.
    Started,
    /// `track-deletes-end` too: applied if the run succeeds.
    Ended,
}

/// A sync run's progress: what it changed so far, per model. Shared between the
/// sandbox and whoever started the run.
#[derive(Debug, Default)]
pub struct SyncProgress {
    inner: Mutex<ProgressInner>,
}

#[derive(Debug, Default, Clone)]
struct ProgressInner {
    counts: BTreeMap<String, WriteCounts>,
    batches: u64,
    track_deletes: BTreeMap<String, TrackDeletes>,
}

impl SyncProgress {
    fn lock(&self) -> MutexGuard<'_, ProgressInner> {
        // Plain counters: a panic elsewhere cannot leave them half-written.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What the run changed so far, per model.
    pub fn counts(&self) -> BTreeMap<String, WriteCounts> {
        self.lock().counts.clone()
    }

    /// How many batches the guest wrote so far.
    pub fn batches(&self) -> u64 {
        self.lock().batches
    }

    /// The models whose track-deletes was started and ended in this run.
    pub(crate) fn track_deletes_ended(&self) -> Vec<String> {
        self.lock()
            .track_deletes
            .iter()
            .filter(|(_, state)| **state == TrackDeletes::Ended)
            .map(|(model, _)| model.clone())
            .collect()
    }

    /// Adds a guest batch's counts to the model's.
    pub(crate) fn record(&self, model: &str, counts: WriteCounts) {
        let mut inner = self.lock();
        inner.batches += 1;
        inner
            .counts
            .entry(model.to_string())
            .or_default()
            .add(counts);
    }

    /// Adds the counts of the host's own writes (track-deletes): not a guest batch.
    pub(crate) fn record_host_write(&self, model: &str, counts: WriteCounts) {
        self.lock()
            .counts
            .entry(model.to_string())
            .or_default()
            .add(counts);
    }

    /// Makes sure every declared model appears in the counts (with zeros).
    pub(crate) fn declare(&self, models: impl Iterator<Item = String>) {
        let mut inner = self.lock();
        for model in models {
            inner.counts.entry(model).or_default();
        }
    }
}

/// The records capability's state: the run it writes for, or `None` in an action.
#[derive(Default)]
pub(crate) struct RecordsState {
    run: Option<Arc<SyncRun>>,
}

impl RecordsState {
    /// The state of a sandbox running `run` (`None`: an action).
    pub(crate) fn new(run: Option<Arc<SyncRun>>) -> Self {
        RecordsState { run }
    }

    fn run(&self) -> Result<Arc<SyncRun>, String> {
        self.run.clone().ok_or_else(|| SYNC_ONLY.to_string())
    }
}

struct HasRecords;

impl HasData for HasRecords {
    type Data<'a> = &'a mut RecordsState;
}

/// Grants the records capability; `get` projects a store's data onto its state.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RecordsState,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasRecords>(linker, get)
}

/// `record <index> (id `<id>`)`.
fn name_record(index: usize, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("record {index} (id `{id}`)"),
        None => format!("record {index}"),
    }
}

/// One schema violation, phrased about a record.
fn describe_field_error(error: &FieldError) -> String {
    if error.field.is_empty() {
        format!("the record {}", error.message)
    } else {
        format!("`{}` {}", error.field, error.message)
    }
}

/// Parses a batch, checking each record's `id` and, when `schema` is given, its shape.
fn parse_batch(
    model: &str,
    records: &[String],
    schema: Option<&InputSchema>,
) -> Result<Vec<Value>, String> {
    let mut parsed = Vec::with_capacity(records.len());
    for (index, text) in records.iter().enumerate() {
        let value: Value = serde_json::from_str(text).map_err(|error| {
            format!(
                "{} of model `{model}` is not valid JSON: {error}",
                name_record(index, None)
            )
        })?;
        let id = crate::store::record_id(&value).map_err(|message| {
            format!("{} of model `{model}`: {message}", name_record(index, None))
        })?;
        if let Some(schema) = schema
            && let Err(errors) = schema.validate(&value)
        {
            return Err(format!(
                "{} of model `{model}` does not match the model's schema: {}",
                name_record(index, Some(id)),
                errors
                    .iter()
                    .map(describe_field_error)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        parsed.push(value);
    }
    Ok(parsed)
}

/// Checks each partial record merged into its stored record (top-level keys replaced)
/// against the schema; records not stored are left to the store, which names them.
fn check_merged(
    model: &str,
    partial: &[Value],
    stored: &[Value],
    schema: &InputSchema,
) -> Result<(), String> {
    for (index, changes) in partial.iter().enumerate() {
        let id = changes.get("id").and_then(Value::as_str);
        let Some(mut merged) = stored
            .iter()
            .find(|record| record.get("id").and_then(Value::as_str) == id)
            .cloned()
        else {
            continue;
        };
        if let (Some(target), Some(changes)) = (merged.as_object_mut(), changes.as_object()) {
            for (key, value) in changes {
                target.insert(key.clone(), value.clone());
            }
        }
        if let Err(errors) = schema.validate(&merged) {
            return Err(format!(
                "{} of model `{model}` would no longer match the model's schema: {}",
                name_record(index, id),
                errors
                    .iter()
                    .map(describe_field_error)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    Ok(())
}

fn store_error(error: StoreError) -> String {
    // Store errors name records and fields, never credentials.
    error.to_string()
}

impl wit::Host for RecordsState {
    async fn batch_save(&mut self, model: String, records: Vec<String>) -> Result<(), String> {
        let run = self.run()?;
        let schema = run.check_model(&model)?;
        let parsed = parse_batch(&model, &records, Some(schema))?;
        let counts = run
            .records
            .save_records(&run.scope(&model), parsed, Some(&run.run_id))
            .await
            .map_err(store_error)?;
        run.progress.record(&model, counts);
        Ok(())
    }

    async fn batch_update(&mut self, model: String, records: Vec<String>) -> Result<(), String> {
        let run = self.run()?;
        let schema = run.check_model(&model)?;
        // A partial record lacks the model's required fields by design: what is checked
        // against the schema is the record it makes merged into the stored one. (The
        // run holds its sync's lease, so nothing else changes the stored records between
        // this read and the write.)
        let parsed = parse_batch(&model, &records, None)?;
        let ids: Vec<String> = parsed
            .iter()
            .filter_map(|record| record.get("id").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        let stored = run
            .records
            .records_by_ids(&run.scope(&model), ids)
            .await
            .map_err(store_error)?;
        check_merged(&model, &parsed, &stored, schema)?;
        let counts = run
            .records
            .update_records(&run.scope(&model), parsed, Some(&run.run_id))
            .await
            .map_err(store_error)?;
        run.progress.record(&model, counts);
        Ok(())
    }

    async fn batch_delete(&mut self, model: String, ids: Vec<String>) -> Result<(), String> {
        let run = self.run()?;
        run.check_model(&model)?;
        let counts = run
            .records
            .delete_records(&run.scope(&model), ids)
            .await
            .map_err(store_error)?;
        run.progress.record(&model, counts);
        Ok(())
    }

    async fn get_records_by_ids(
        &mut self,
        model: String,
        ids: Vec<String>,
    ) -> Result<Vec<String>, String> {
        let run = self.run()?;
        run.check_model(&model)?;
        let found = run
            .records
            .records_by_ids(&run.scope(&model), ids)
            .await
            .map_err(store_error)?;
        Ok(found.iter().map(Value::to_string).collect())
    }

    async fn track_deletes_start(&mut self, model: String) -> Result<(), String> {
        let run = self.run()?;
        run.check_model(&model)?;
        if run.webhook {
            return Err(format!(
                "track-deletes needs a full listing: it is for `fetch-data`, not for sync `{}`'s \
                 webhook handler",
                run.sync
            ));
        }
        run.progress
            .lock()
            .track_deletes
            .insert(model, TrackDeletes::Started);
        Ok(())
    }

    async fn track_deletes_end(&mut self, model: String) -> Result<(), String> {
        let run = self.run()?;
        run.check_model(&model)?;
        let mut progress = run.progress.lock();
        match progress.track_deletes.get_mut(&model) {
            Some(state) => {
                *state = TrackDeletes::Ended;
                Ok(())
            }
            None => Err(format!(
                "track-deletes-end(`{model}`) without track-deletes-start(`{model}`) in this run"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> InputSchema {
        InputSchema::compile(json!({
            "type": "object",
            "properties": { "id": { "type": "string" }, "email": { "type": "string" } },
            "required": ["id", "email"]
        }))
        .expect("schema")
    }

    #[test]
    fn bad_records_are_named_by_index_id_and_field() {
        let schema = schema();
        let ok = r#"{"id":"a","email":"a@x"}"#.to_string();
        let cases = [
            (r#"{"id":"b","email":7}"#, "record 1 (id `b`)", "`email`"),
            (r#"{"id":"b"}"#, "record 1 (id `b`)", "email"),
            (
                r#"{"id":3,"email":"x"}"#,
                "record 1 of model `Candidate`",
                "`id` must be a string",
            ),
            (r#"{"email":"x"}"#, "record 1", "`id` is required"),
            (r#"{"id":"#, "record 1", "not valid JSON"),
        ];
        for (bad, record, field) in cases {
            let error = parse_batch("Candidate", &[ok.clone(), bad.to_string()], Some(&schema))
                .expect_err(bad);
            assert!(
                error.contains(record) && error.contains(field),
                "{bad}: {error}"
            );
        }
        let parsed = parse_batch("Candidate", &[ok], Some(&schema)).expect("valid");
        assert_eq!(parsed, vec![json!({"id":"a","email":"a@x"})]);
    }

    #[test]
    fn partial_updates_are_checked_merged_into_the_stored_record() {
        let schema = schema();
        let stored = vec![json!({"id": "a", "email": "a@x"})];
        let fine = vec![json!({"id": "a", "email": "b@x"}), json!({"id": "new"})];
        assert!(check_merged("Candidate", &fine, &stored, &schema).is_ok());
        let bad = vec![json!({"id": "a", "email": 5})];
        let error = check_merged("Candidate", &bad, &stored, &schema).expect_err("bad");
        assert!(
            error.contains("record 0 (id `a`)") && error.contains("`email`"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn outside_a_sync_every_import_says_records_are_for_syncs() {
        use wit::Host as _;
        let mut state = RecordsState::new(None);
        let error = state
            .batch_save("Candidate".into(), vec![])
            .await
            .expect_err("action");
        assert!(error.contains("only available to syncs"), "{error}");
        let error = state
            .track_deletes_start("Candidate".into())
            .await
            .expect_err("action");
        assert!(error.contains("only available to syncs"), "{error}");
    }
}
