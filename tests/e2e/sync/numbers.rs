//! The runtime running the test guest's `numbers` sync: batches, checkpoints, unchanged
//! re-runs, updates, track-deletes, failed runs, metadata.

use super::support::{NUMBER, actions, all_numbers, number_counts, run_numbers, set_numbers};
use crate::support::{CONNECTION, GUESTS, Harness};
use serde_json::json;
use std::collections::BTreeSet;
use terapi_runtime::{RecordAction, SyncError, SyncScope, WriteCounts};

fn counts(added: u64, updated: u64, deleted: u64, unchanged: u64) -> WriteCounts {
    WriteCounts {
        added,
        updated,
        deleted,
        unchanged,
    }
}

#[tokio::test]
async fn a_full_run_then_an_unchanged_one_then_updates_and_deletes() {
    let harness = Harness::start().await;
    let syncs = harness.runtime.syncs(GUESTS).expect("integration");
    let numbers = syncs
        .iter()
        .find(|info| info.name == "numbers")
        .expect("numbers");
    assert!(numbers.track_deletes);
    assert_eq!(numbers.models[0].name, NUMBER);

    // 260 records over 3 batches of 100.
    set_numbers(&harness, json!({ "count": 260, "page_size": 100 })).await;
    let first = run_numbers(&harness).await;
    first.result.as_ref().expect("first run succeeds");
    assert_eq!(number_counts(&first), counts(260, 0, 0, 0));
    let records = all_numbers(&harness).await;
    assert_eq!(records.len(), 260);
    let ids: BTreeSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 260, "no duplicate ids");
    assert_eq!(
        actions(&records),
        json!({"added": 260, "updated": 0, "deleted": 0})
    );
    let metadata = harness
        .runtime
        .connections()
        .get(GUESTS, CONNECTION)
        .await
        .expect("store")
        .expect("connection")
        .metadata;
    assert_eq!(metadata["last_run_saved"], 260, "the sync wrote metadata");

    // The same data again: nothing changes, not even a cursor.
    let second = run_numbers(&harness).await;
    second.result.as_ref().expect("second run succeeds");
    assert_eq!(number_counts(&second), counts(0, 0, 0, 260));
    assert_eq!(all_numbers(&harness).await, records);

    // A changed label changes every record: UPDATED.
    set_numbers(&harness, json!({ "count": 260, "label": "v2" })).await;
    let third = run_numbers(&harness).await;
    third.result.as_ref().expect("third run succeeds");
    assert_eq!(number_counts(&third), counts(0, 260, 0, 0));
    let records = all_numbers(&harness).await;
    assert!(
        records
            .iter()
            .all(|r| r.last_action == RecordAction::Updated)
    );
    assert!(records.iter().all(|r| r.data["label"] == "v2"));

    // Fewer numbers: the full pass tracks deletes, so the missing ones become DELETED.
    set_numbers(&harness, json!({ "count": 250, "label": "v2" })).await;
    let fourth = run_numbers(&harness).await;
    fourth.result.as_ref().expect("fourth run succeeds");
    assert_eq!(number_counts(&fourth), counts(0, 0, 10, 250));
    let records = all_numbers(&harness).await;
    assert_eq!(
        actions(&records),
        json!({"added": 0, "updated": 250, "deleted": 10})
    );
    let deleted: BTreeSet<String> = records
        .iter()
        .filter(|r| r.deleted_at.is_some())
        .map(|r| r.id.clone())
        .collect();
    let expected: BTreeSet<String> = (250..260).map(|n| format!("n{n}")).collect();
    assert_eq!(deleted, expected);
}

#[tokio::test]
async fn a_failed_run_deletes_nothing_and_the_next_resumes_from_its_checkpoint() {
    let harness = Harness::start().await;
    set_numbers(&harness, json!({ "count": 300, "page_size": 100 })).await;
    run_numbers(&harness)
        .await
        .result
        .expect("first run succeeds");

    // 200 numbers remain, and the run fails after its first batch: nothing is deleted.
    set_numbers(
        &harness,
        json!({ "count": 200, "page_size": 100, "fail_after_pages": 1, "label": "x" }),
    )
    .await;
    let failed = run_numbers(&harness).await;
    match &failed.result {
        Err(SyncError::Failed { message, .. }) => {
            assert!(message.contains("failing on purpose"), "{message}")
        }
        other => panic!("expected a failed run, got {other:?}"),
    }
    assert_eq!(
        number_counts(&failed),
        counts(0, 100, 0, 0),
        "the batch saved before the failure stays saved"
    );
    let records = all_numbers(&harness).await;
    assert_eq!(records.iter().filter(|r| r.deleted_at.is_some()).count(), 0);
    let checkpoint = harness
        .runtime
        .records()
        .checkpoint(&SyncScope::new(GUESTS, CONNECTION, "numbers"))
        .await
        .expect("store");
    assert_eq!(checkpoint, Some(json!({ "next": 100 })));

    // The next run resumes at 100: the first batch is not rewritten.
    set_numbers(
        &harness,
        json!({ "count": 200, "page_size": 100, "label": "x" }),
    )
    .await;
    let resumed = run_numbers(&harness).await;
    resumed.result.as_ref().expect("resumed run succeeds");
    assert_eq!(number_counts(&resumed), counts(0, 100, 0, 0));
    let records = all_numbers(&harness).await;
    assert_eq!(records.len(), 300, "no record lost or duplicated");
    assert_eq!(records.iter().filter(|r| r.deleted_at.is_some()).count(), 0);
}

#[tokio::test]
async fn unknown_syncs_and_connections_are_named() {
    let harness = Harness::start().await;
    let outcome = harness
        .runtime
        .run_sync(GUESTS, CONNECTION, "letters")
        .await;
    let error = outcome.result.expect_err("unknown sync").to_string();
    assert!(
        error.contains("`letters`") && error.contains("numbers"),
        "{error}"
    );
    let outcome = harness.runtime.run_sync(GUESTS, "nobody", "numbers").await;
    let error = outcome.result.expect_err("unknown connection").to_string();
    assert!(error.contains("`nobody`"), "{error}");
}

#[tokio::test]
async fn a_sync_never_runs_twice_at_once_for_a_connection() {
    use std::sync::Arc;
    use terapi_runtime::service::{Service, ServiceOptions};
    let sim = crate::support::simulator().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let config = crate::support::config(data_dir.path(), &sim.base_url());
    let service = Service::open(
        config,
        ServiceOptions {
            insecure_dev: true,
            env: Arc::new(|_| None),
        },
    )
    .await
    .expect("service")
    .with_runtime()
    .await
    .expect("runtime");
    let mut connection = terapi_runtime::NewConnection::new(
        GUESTS,
        CONNECTION,
        "checkr-partner",
        terapi_runtime::Credentials::None,
    );
    connection.metadata = json!({ "count": 60, "page_size": 10, "delay_ms": 50 });
    service
        .connections()
        .upsert(&connection)
        .await
        .expect("connection");
    let (first, second) = tokio::join!(
        service.run_sync_now(GUESTS, CONNECTION, "numbers", None),
        service.run_sync_now(GUESTS, CONNECTION, "numbers", None),
    );
    let (ran, refused) = match (first, second) {
        (Ok(ran), Err(refused)) | (Err(refused), Ok(ran)) => (ran, refused),
        (first, second) => panic!("expected one run and one refusal: {first:?} / {second:?}"),
    };
    ran.result.as_ref().expect("the run succeeds");
    assert_eq!(number_counts(&ran).added, 60);
    assert_eq!(refused.code, "sync_already_running", "{refused}");
    assert!(refused.message.contains("`numbers`"), "{refused}");
    // Once it finished, it may run again.
    let again = service
        .run_sync_now(GUESTS, CONNECTION, "numbers", None)
        .await
        .expect("runs again");
    assert_eq!(number_counts(&again), counts(0, 0, 0, 60));
}
