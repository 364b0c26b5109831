//! Synced records and sync checkpoints: what [`RecordStore`](super::RecordStore) keeps.
//!
//! A record is a JSON object with a string `id`, kept per integration + connection +
//! model. Every change (a record added, its content changed, it deleted) takes the next
//! value of one global sequence, its *cursor*; reading in cursor order after a cursor
//! therefore never skips or repeats a change while syncs keep writing, which is what the
//! records API's paging and "what changed since" rest on.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// What happened to a record last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RecordAction {
    /// First saved (or saved again after it was deleted).
    Added,
    /// Its content changed.
    Updated,
    /// Deleted (soft: it stays readable as deleted).
    Deleted,
}

impl RecordAction {
    /// The stored and wire form: `ADDED`, `UPDATED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordAction::Added => "ADDED",
            RecordAction::Updated => "UPDATED",
            RecordAction::Deleted => "DELETED",
        }
    }

    /// Parses the stored form, or the records API's lower-case filter words.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "ADDED" => Some(RecordAction::Added),
            "UPDATED" => Some(RecordAction::Updated),
            "DELETED" => Some(RecordAction::Deleted),
            _ => None,
        }
    }
}

/// Which records of which sync run: the key every record operation is scoped by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordScope {
    /// The integration, e.g. `checkr-partner`.
    pub provider_config_key: String,
    /// The connection.
    pub connection_id: String,
    /// The model, e.g. `Candidate`.
    pub model: String,
}

impl RecordScope {
    /// The records of `model` for one connection of one integration.
    pub fn new(
        provider_config_key: impl Into<String>,
        connection_id: impl Into<String>,
        model: impl Into<String>,
    ) -> Self {
        RecordScope {
            provider_config_key: provider_config_key.into(),
            connection_id: connection_id.into(),
            model: model.into(),
        }
    }
}

/// Where a sync's checkpoint is kept: per integration + connection + sync.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncScope {
    /// The integration.
    pub provider_config_key: String,
    /// The connection.
    pub connection_id: String,
    /// The sync's name.
    pub sync: String,
}

impl SyncScope {
    /// One sync of one connection of one integration.
    pub fn new(
        provider_config_key: impl Into<String>,
        connection_id: impl Into<String>,
        sync: impl Into<String>,
    ) -> Self {
        SyncScope {
            provider_config_key: provider_config_key.into(),
            connection_id: connection_id.into(),
            sync: sync.into(),
        }
    }
}

/// What one write changed, counted per kind of change. An unchanged re-save counts as
/// `unchanged`, never as `updated`: that is what makes re-running a batch after a crash
/// harmless.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriteCounts {
    /// Records that did not exist (or were deleted) and now do.
    pub added: u64,
    /// Records whose content changed.
    pub updated: u64,
    /// Records marked deleted.
    pub deleted: u64,
    /// Records written with exactly the content they had (or deletes of records already
    /// deleted or unknown).
    pub unchanged: u64,
}

impl WriteCounts {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: WriteCounts) {
        self.added += other.added;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.unchanged += other.unchanged;
    }

    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        self.added + self.updated + self.deleted > 0
    }
}

/// One stored record with its bookkeeping (Nango's `_nango_metadata`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// The record's `id`.
    pub id: String,
    /// The record as last saved (for a deleted record: as it was before it was deleted).
    pub data: Value,
    /// When it was first saved.
    pub first_seen_at: OffsetDateTime,
    /// When its content (or deleted state) last changed.
    pub last_modified_at: OffsetDateTime,
    /// What happened to it last.
    pub last_action: RecordAction,
    /// When it was deleted, if it is.
    pub deleted_at: Option<OffsetDateTime>,
    /// Its position in the change sequence (see [`RecordCursor`]).
    pub cursor: RecordCursor,
}

impl StoredRecord {
    /// The record as Nango's records API returns it: its fields plus `_nango_metadata`
    /// (`first_seen_at`, `last_modified_at`, `last_action`, `deleted_at`, `cursor`). A
    /// stored value that is not an object (never written by terapi) is wrapped as
    /// `{"value": ...}`.
    pub fn into_nango_json(self) -> Value {
        let mut data = match self.data {
            Value::Object(map) => map,
            other => {
                let mut map = serde_json::Map::new();
                map.insert("value".into(), other);
                map
            }
        };
        data.insert(
            "_nango_metadata".into(),
            serde_json::json!({
                "first_seen_at": crate::util::iso(self.first_seen_at),
                "last_modified_at": crate::util::iso(self.last_modified_at),
                "last_action": self.last_action.as_str(),
                "deleted_at": self.deleted_at.map(crate::util::iso),
                "cursor": self.cursor.encode(),
            }),
        );
        Value::Object(data)
    }
}

/// A position in the global change sequence. On the wire it is an opaque string; only
/// strings this module produced decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordCursor(pub u64);

/// Prefix of the wire form, so a cursor from some other API (or a bare number) is
/// refused instead of silently meaning something else.
const CURSOR_PREFIX: &str = "c1_";

impl RecordCursor {
    /// The opaque wire form.
    pub fn encode(self) -> String {
        format!("{CURSOR_PREFIX}{:016x}", self.0)
    }

    /// Reads a wire-form cursor; `None` if it is not one.
    pub fn decode(text: &str) -> Option<Self> {
        let hex = text.strip_prefix(CURSOR_PREFIX)?;
        if hex.len() != 16 {
            return None;
        }
        u64::from_str_radix(hex, 16).ok().map(RecordCursor)
    }
}

/// Which records [`RecordStore::list_records`](super::RecordStore::list_records)
/// returns, in cursor (that is, modification) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordQuery {
    /// Only records changed after this cursor.
    pub after: Option<RecordCursor>,
    /// Only records last modified at or after this time.
    pub modified_after: Option<OffsetDateTime>,
    /// Only records whose last action is one of these (empty: any).
    pub actions: BTreeSet<RecordAction>,
    /// Only these ids (empty: any).
    pub ids: Vec<String>,
    /// At most this many.
    pub limit: usize,
}

/// A page of records and the cursor of the next page (`None` when this page is the
/// last one as of now).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPage {
    /// The records, in cursor order.
    pub records: Vec<StoredRecord>,
    /// Pass it as [`RecordQuery::after`] for the next page.
    pub next_cursor: Option<RecordCursor>,
}

/// The content hash a record is compared by: SHA-256 of its canonical JSON text
/// (`serde_json` keeps object keys sorted, so equal values hash equal whatever order the
/// guest serialized them in).
pub(crate) fn content_hash(data: &Value) -> String {
    use sha2::{Digest, Sha256};
    crate::util::hex(&Sha256::digest(data.to_string().as_bytes()))
}

/// The record's `id`, which must be a non-empty string.
pub(crate) fn record_id(record: &Value) -> Result<&str, String> {
    match record.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id),
        Some(Value::String(_)) => Err("`id` must not be empty".into()),
        Some(other) => Err(format!(
            "`id` must be a string, got {}",
            crate::schema::type_name(other)
        )),
        None if record.is_object() => Err("`id` is required".into()),
        None => Err(format!(
            "must be a JSON object, got {}",
            crate::schema::type_name(record)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursors_round_trip_and_foreign_strings_are_refused() {
        let cursor = RecordCursor(42);
        assert_eq!(RecordCursor::decode(&cursor.encode()), Some(cursor));
        assert!(cursor.encode() < RecordCursor(43).encode());
        for bad in [
            "",
            "42",
            "c1_",
            "c1_zz00000000000000",
            "c2_000000000000002a",
        ] {
            assert_eq!(RecordCursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn hash_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"id":"1","a":1,"b":2}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"b":2,"id":"1","a":1}"#).expect("json");
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(
            content_hash(&a),
            content_hash(&json!({"id":"1","a":1,"b":3}))
        );
    }

    #[test]
    fn ids_must_be_non_empty_strings() {
        assert_eq!(record_id(&json!({"id": "x"})), Ok("x"));
        assert!(
            record_id(&json!({"id": 1}))
                .expect_err("number")
                .contains("string")
        );
        assert!(
            record_id(&json!({}))
                .expect_err("missing")
                .contains("required")
        );
        assert!(
            record_id(&json!({"id": ""}))
                .expect_err("empty")
                .contains("empty")
        );
        assert!(
            record_id(&json!([1]))
                .expect_err("array")
                .contains("object")
        );
    }
}
