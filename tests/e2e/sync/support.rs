//! Helpers the sync tests share.

use crate::support::{CONNECTION, GUESTS, Harness};
use serde_json::{Value, json};
use terapi_runtime::{
    MetadataUpdate, RecordAction, RecordQuery, RecordScope, StoredRecord, SyncOutcome, WriteCounts,
};

/// The test guest's sync and model.
pub const NUMBERS: &str = "numbers";
pub const NUMBER: &str = "Number";

/// Sets the default test-guests connection's metadata (the `numbers` settings).
pub async fn set_numbers(harness: &Harness, settings: Value) {
    harness
        .runtime
        .connections()
        .update_metadata(GUESTS, CONNECTION, &settings, MetadataUpdate::Replace)
        .await
        .expect("metadata set")
        .expect("connection exists");
}

/// Runs `numbers` for the default connection.
pub async fn run_numbers(harness: &Harness) -> SyncOutcome {
    harness.runtime.run_sync(GUESTS, CONNECTION, NUMBERS).await
}

/// The `Number` counts of a run.
pub fn number_counts(outcome: &SyncOutcome) -> WriteCounts {
    outcome.counts.get(NUMBER).copied().unwrap_or_default()
}

/// Every stored `Number` record, deleted ones included, in cursor order.
pub async fn all_numbers(harness: &Harness) -> Vec<StoredRecord> {
    let scope = RecordScope::new(GUESTS, CONNECTION, NUMBER);
    harness
        .runtime
        .records()
        .list_records(
            &scope,
            &RecordQuery {
                limit: 10_000,
                ..RecordQuery::default()
            },
        )
        .await
        .expect("records")
        .records
}

/// How many stored records have each last action.
pub fn actions(records: &[StoredRecord]) -> Value {
    let count = |action: RecordAction| {
        records
            .iter()
            .filter(|record| record.last_action == action)
            .count()
    };
    json!({
        "added": count(RecordAction::Added),
        "updated": count(RecordAction::Updated),
        "deleted": count(RecordAction::Deleted),
    })
}
