//! The `numbers` sync: saves `count` records of model `Number` (`{"id": "n0", "value": 0,
//! "label": ""}` ... `n{count-1}`), `page_size` per batch, with a checkpoint after every
//! batch, so the host's plumbing (records, checkpoints, track-deletes, metadata, crash
//! resume) can be tested without any upstream API.
//!
//! Settings come from the connection's metadata (all optional):
//!
//! * `count` (default 10): how many numbers exist;
//! * `page_size` (default 100, at least 1): records per `batch-save`;
//! * `label` (default `""`): copied into every record, so changing it makes every
//!   record UPDATED;
//! * `fail_after_pages`: fail the run on purpose after saving this many batches;
//! * `delay_ms` (default 0): sleep this long after each batch (to kill a run mid-way).
//!
//! The checkpoint is `{"next": N}`, the first number not saved yet. A run without a
//! checkpoint is a full pass: it tracks deletes (numbers at or above a lowered `count`
//! become DELETED when it succeeds). A run with a checkpoint resumes at `next` and tracks
//! no deletes. A run that gets to the end clears the checkpoint, so the next run is a full
//! pass again. Every run also sets metadata `last_run_saved` to the records it saved.

use serde::{Deserialize, Serialize};
use terapi_sdk::schemars::{self, JsonSchema};
use terapi_sdk::{ActionError, checkpoint, metadata, records};

/// One number.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Number {
    /// `n` followed by the value.
    pub id: String,
    /// The number.
    pub value: u64,
    /// The connection metadata's `label`.
    pub label: String,
}

/// The settings read from the connection's metadata.
#[derive(Debug, Deserialize)]
struct Settings {
    #[serde(default = "default_count")]
    count: u64,
    #[serde(default = "default_page_size")]
    page_size: u64,
    #[serde(default)]
    label: String,
    #[serde(default)]
    fail_after_pages: Option<u64>,
    #[serde(default)]
    delay_ms: u64,
}

fn default_count() -> u64 {
    10
}

fn default_page_size() -> u64 {
    100
}

/// Where the last run stopped.
#[derive(Debug, Serialize, Deserialize)]
struct Progress {
    next: u64,
}

/// Saves the numbers; see the module documentation.
pub fn fetch_data() -> Result<(), ActionError> {
    let settings: Settings = metadata::get()?;
    if settings.page_size == 0 {
        return Err(ActionError::new(
            "metadata field `page_size` must be at least 1",
        ));
    }
    let resumed: Option<Progress> = checkpoint::get()?;
    let full_pass = resumed.is_none();
    let mut next = resumed.map_or(0, |progress| progress.next);
    if full_pass {
        records::track_deletes_start::<Number>()?;
    }
    let mut pages = 0;
    let mut saved = 0;
    while next < settings.count {
        let end = settings.count.min(next + settings.page_size);
        let batch: Vec<Number> = (next..end)
            .map(|value| Number {
                id: format!("n{value}"),
                value,
                label: settings.label.clone(),
            })
            .collect();
        records::save(&batch)?;
        saved += batch.len();
        next = end;
        checkpoint::save(&Progress { next })?;
        pages += 1;
        if settings.fail_after_pages == Some(pages) {
            return Err(ActionError::new(format!(
                "failing on purpose after {pages} page(s), as metadata `fail_after_pages` asks"
            )));
        }
        if settings.delay_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(settings.delay_ms));
        }
    }
    if full_pass {
        records::track_deletes_end::<Number>()?;
    }
    checkpoint::clear()?;
    let mut meta: serde_json::Value = metadata::get()?;
    meta["last_run_saved"] = saved.into();
    metadata::set(&meta)?;
    terapi_sdk::info!("numbers: saved {saved} record(s) in {pages} batch(es)");
    Ok(())
}

/// Applies a `number.*` webhook event: `number.set` saves `data.object` (a [`Number`])
/// as it is, `number.removed` marks `data.object.id` deleted, and any other type fails
/// on purpose (so the host's handling of a failing handler can be tested).
pub fn on_webhook(event: serde_json::Value) -> Result<(), ActionError> {
    let object = event["data"]["object"].clone();
    match event["type"].as_str() {
        Some("number.set") => {
            let number: Number = serde_json::from_value(object)?;
            records::save(&[number])
        }
        Some("number.removed") => {
            let id = object["id"]
                .as_str()
                .ok_or_else(|| ActionError::new("`data.object.id` must be a string"))?;
            records::delete::<Number>(&[id])
        }
        other => Err(ActionError::new(format!(
            "numbers: cannot apply a `{}` event",
            other.unwrap_or("(untyped)")
        ))),
    }
}
