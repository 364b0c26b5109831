//! The Checkr component's syncs against the simulator seeded with candidates,
//! invitations and reports.

use crate::support::{CHECKR, CONNECTION, TOKEN, config};
use checkr_sim::{AccountSeed, SimConfig, Simulator};
use serde_json::json;
use std::collections::BTreeSet;
use terapi_runtime::{
    Credentials, MetadataUpdate, NewConnection, RecordAction, RecordQuery, RecordScope, Runtime,
    StoredRecord, SyncOutcome, WriteCounts,
};

struct Checkr {
    sim: Simulator,
    runtime: Runtime,
    _data_dir: tempfile::TempDir,
}

impl Checkr {
    async fn start(candidates: usize) -> Checkr {
        let sim = Simulator::start(
            SimConfig::default()
                .with_seed_candidates(candidates)
                .with_token(TOKEN, AccountSeed::new("Acme Staffing")),
        )
        .await
        .expect("simulator starts");
        let data_dir = tempfile::tempdir().expect("tempdir");
        let runtime = Runtime::new(config(data_dir.path(), &sim.base_url()))
            .await
            .expect("runtime starts");
        runtime
            .connections()
            .upsert(&NewConnection::new(
                CHECKR,
                CONNECTION,
                "checkr-partner",
                Credentials::access_token(TOKEN),
            ))
            .await
            .expect("connection");
        Checkr {
            sim,
            runtime,
            _data_dir: data_dir,
        }
    }

    async fn run(&self, sync: &str) -> SyncOutcome {
        let outcome = self.runtime.run_sync(CHECKR, CONNECTION, sync).await;
        if let Err(error) = &outcome.result {
            panic!("sync `{sync}` failed: {error}; log: {:?}", outcome.logs);
        }
        outcome
    }

    async fn records(&self, model: &str) -> Vec<StoredRecord> {
        self.runtime
            .records()
            .list_records(
                &RecordScope::new(CHECKR, CONNECTION, model),
                &RecordQuery {
                    limit: 10_000,
                    ..RecordQuery::default()
                },
            )
            .await
            .expect("records")
            .records
    }

    /// GET requests to the simulator's `path` so far.
    fn listings(&self, path: &str) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|request| request.path == path)
            .count()
    }
}

fn of(outcome: &SyncOutcome, model: &str) -> WriteCounts {
    outcome.counts.get(model).copied().unwrap_or_default()
}

#[tokio::test]
async fn candidates_full_then_unchanged_then_incremental_then_updated() {
    let checkr = Checkr::start(260).await;
    let first = checkr.run("candidates").await;
    assert_eq!(of(&first, "Candidate").added, 260, "{:?}", first.counts);
    assert!(checkr.listings("/v1/candidates") >= 3, "three pages of 100");
    let records = checkr.records("Candidate").await;
    let ids: BTreeSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!((records.len(), ids.len()), (260, 260), "no duplicate ids");

    // Nothing changed upstream: nothing changes here.
    let second = checkr.run("candidates").await;
    let counts = of(&second, "Candidate");
    assert_eq!(
        (counts.added, counts.updated, counts.deleted),
        (0, 0, 0),
        "{counts:?}"
    );
    assert_eq!(checkr.records("Candidate").await, records);

    // One candidate created and the oldest one changed: the incremental pass picks up
    // the new one only.
    let changed = checkr.sim.churn(TOKEN).expect("churn");
    let created = changed["candidate_created"]
        .as_str()
        .expect("created")
        .to_string();
    let updated = changed["candidate_updated"]
        .as_str()
        .expect("updated")
        .to_string();
    let third = checkr.run("candidates").await;
    let counts = of(&third, "Candidate");
    assert_eq!((counts.added, counts.updated), (1, 0), "{counts:?}");
    let records = checkr.records("Candidate").await;
    let new = records
        .iter()
        .find(|r| r.id == created)
        .expect("new candidate");
    assert_eq!(new.last_action, RecordAction::Added);

    // A full pass (every pass, by the connection's metadata) finds the changed one.
    checkr
        .runtime
        .connections()
        .update_metadata(
            CHECKR,
            CONNECTION,
            &json!({ "checkr_candidates_full_pass_hours": 0 }),
            MetadataUpdate::Merge,
        )
        .await
        .expect("metadata")
        .expect("connection");
    let fourth = checkr.run("candidates").await;
    let counts = of(&fourth, "Candidate");
    assert_eq!((counts.added, counts.deleted), (0, 0), "{counts:?}");
    let after = checkr.records("Candidate").await;
    assert_eq!(after.len(), 261);
    let changed = after.iter().find(|r| r.id == updated).expect("updated one");
    assert_eq!(changed.last_action, RecordAction::Updated);
    // Exactly the records whose content differs are UPDATED (the churn may also change
    // a candidate through its completed invitation).
    let differing: BTreeSet<&str> = after
        .iter()
        .filter(|now| {
            records
                .iter()
                .find(|before| before.id == now.id)
                .is_some_and(|before| before.data != now.data)
        })
        .map(|r| r.id.as_str())
        .collect();
    let marked: BTreeSet<&str> = after
        .iter()
        .filter(|r| r.last_action == RecordAction::Updated)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(differing, marked);
    assert_eq!(counts.updated, marked.len() as u64);
}

#[tokio::test]
async fn background_checks_track_deletes() {
    let checkr = Checkr::start(50).await;
    let first = checkr.run("background-checks").await;
    let added = of(&first, "BackgroundCheck").added;
    assert!(added > 0, "{:?}", first.counts);
    let records = checkr.records("BackgroundCheck").await;
    assert_eq!(records.len() as u64, added);
    // Remove a candidate (with its invitations) upstream.
    let gone = records[0].data["candidate_id"]
        .as_str()
        .expect("candidate_id")
        .to_string();
    let invitations: BTreeSet<&str> = records
        .iter()
        .filter(|r| r.data["candidate_id"] == gone.as_str())
        .map(|r| r.id.as_str())
        .collect();
    assert!(checkr.sim.delete_candidate(TOKEN, &gone));
    let second = checkr.run("background-checks").await;
    let counts = of(&second, "BackgroundCheck");
    assert_eq!(counts.deleted, invitations.len() as u64, "{counts:?}");
    assert_eq!((counts.added, counts.updated), (0, 0), "{counts:?}");
    let records = checkr.records("BackgroundCheck").await;
    for record in &records {
        let expected = invitations.contains(record.id.as_str());
        assert_eq!(
            record.last_action == RecordAction::Deleted,
            expected,
            "{}",
            record.id
        );
    }
}
