//! `candidates`: every candidate of the account, as [`Candidate`] records.
//!
//! Checkr lists candidates newest first and filters them by `created_after`, but cannot
//! list the ones *updated* since a moment. So the sync alternates two kinds of pass:
//!
//! * an **incremental** pass lists only the candidates created after the newest one seen
//!   so far (less a minute of overlap, in case Checkr's filter is exclusive or clocks
//!   disagree; re-saving an unchanged candidate changes nothing);
//! * a **full** pass lists every candidate, so updates to older ones are not missed. It
//!   runs first, then whenever the last one started more than a day ago (connection
//!   metadata `checkr_candidates_full_pass_hours` changes the interval; 0 makes every
//!   pass full).
//!
//! The checkpoint ([`Progress`]) remembers the newest `created_at` and when the last full
//! pass ran, and while a pass is under way, the page to resume it from: it is saved after
//! every page, so a run killed midway resumes the same pass at the next page.

use super::models::Candidate;
use crate::validate::parse_timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use terapi_sdk::{ActionError, checkpoint, metadata, records};

/// How long after a full pass the next one is due, unless the connection's metadata says
/// otherwise.
pub const FULL_PASS_EVERY_HOURS: i64 = 24;

/// How far before the newest candidate seen an incremental pass starts listing.
pub const OVERLAP_SECONDS: i64 = 60;

/// The metadata field that overrides [`FULL_PASS_EVERY_HOURS`].
pub const FULL_PASS_METADATA_FIELD: &str = "checkr_candidates_full_pass_hours";

/// The sync's checkpoint (times in seconds since the Unix epoch).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The newest `created_at` among the candidates of the finished passes.
    #[serde(default)]
    pub newest: Option<i64>,
    /// When the last finished full pass started.
    #[serde(default)]
    pub last_full_pass: Option<i64>,
    /// While a pass is under way: the page it resumes from.
    #[serde(default)]
    pub resume_page: Option<u32>,
    /// While a pass is under way: its `created_after` filter (none for a full pass).
    #[serde(default)]
    pub pass_created_after: Option<i64>,
    /// While a pass is under way: when it started.
    #[serde(default)]
    pub pass_started: Option<i64>,
    /// While a pass is under way: the newest `created_at` it saw so far.
    #[serde(default)]
    pub pass_newest: Option<i64>,
}

/// One pass over the candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// `created_after` filter; none for a full pass.
    pub created_after: Option<i64>,
    /// The first page to fetch.
    pub first_page: u32,
    /// When the pass started.
    pub started: i64,
    /// The newest `created_at` seen so far.
    pub newest: Option<i64>,
}

impl Pass {
    /// Whether the pass lists every candidate.
    pub fn is_full(&self) -> bool {
        self.created_after.is_none()
    }

    /// Notes a candidate seen.
    pub fn saw(&mut self, created_at: Option<&str>) {
        if let Some(at) = created_at.and_then(parse_timestamp) {
            self.newest = Some(self.newest.map_or(at, |newest| newest.max(at)));
        }
    }

    /// The checkpoint while the pass is under way, `next_page` being the next to fetch.
    pub fn in_progress(&self, progress: &Progress, next_page: u32) -> Progress {
        Progress {
            resume_page: Some(next_page),
            pass_created_after: self.created_after,
            pass_started: Some(self.started),
            pass_newest: self.newest,
            ..progress.clone()
        }
    }

    /// The checkpoint once the pass finished.
    pub fn finished(&self, progress: &Progress) -> Progress {
        Progress {
            newest: match (progress.newest, self.newest) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            last_full_pass: if self.is_full() {
                Some(self.started)
            } else {
                progress.last_full_pass
            },
            ..Progress::default()
        }
    }
}

/// The pass to run now: the interrupted one if any, else a full pass when one is due
/// (none ever ran, or the last started `full_every` seconds ago or more), else an
/// incremental one.
pub fn plan(progress: &Progress, now: i64, full_every: i64) -> Pass {
    if let Some(page) = progress.resume_page {
        return Pass {
            created_after: progress.pass_created_after,
            first_page: page.max(1),
            started: progress.pass_started.unwrap_or(now),
            newest: progress.pass_newest,
        };
    }
    let full_due = progress
        .last_full_pass
        .is_none_or(|last| now - last >= full_every);
    let created_after = match progress.newest {
        Some(newest) if !full_due => Some(newest - OVERLAP_SECONDS),
        _ => None,
    };
    Pass {
        created_after,
        first_page: 1,
        started: now,
        newest: None,
    }
}

/// The full-pass interval in seconds: the connection metadata's
/// [`FULL_PASS_METADATA_FIELD`] (hours, a non-negative number) or the default.
pub fn full_pass_interval(metadata: &Value) -> Result<i64, ActionError> {
    match metadata.get(FULL_PASS_METADATA_FIELD) {
        None | Some(Value::Null) => Ok(FULL_PASS_EVERY_HOURS * 3600),
        Some(value) => match value.as_f64() {
            Some(hours) if hours >= 0.0 && hours.is_finite() => Ok((hours * 3600.0) as i64),
            _ => Err(ActionError::new(format!(
                "connection metadata field `{FULL_PASS_METADATA_FIELD}` must be a number of hours (0 or more)"
            ))),
        },
    }
}

/// Runs the sync.
pub fn fetch_data() -> Result<(), ActionError> {
    let progress: Progress = checkpoint::get()?.unwrap_or_default();
    let full_every = full_pass_interval(&metadata::get::<Value>()?)?;
    let pass = plan(&progress, super::now()?, full_every);
    let mut params = Vec::new();
    if let Some(after) = pass.created_after {
        params.push(("created_after", super::format_timestamp(after)));
    }
    let pages = super::pages_from::<Candidate>("/v1/candidates", &params, pass.first_page)?;
    let first_page = pass.first_page;
    // Both closures below need the pass: the first notes each candidate, the second
    // saves the checkpoint after each page.
    let pass = std::cell::RefCell::new(pass);
    let saved = records::save_pages_with(
        pages,
        |candidate| {
            pass.borrow_mut().saw(candidate.created_at.as_deref());
            candidate
        },
        |page| {
            if !page.has_next {
                return Ok(());
            }
            let next_page = u32::try_from(page.number)
                .ok()
                .and_then(|number| first_page.checked_add(number))
                .ok_or_else(|| ActionError::new("candidates: too many pages"))?;
            checkpoint::save(&pass.borrow().in_progress(&progress, next_page))
        },
    )?;
    let pass = pass.into_inner();
    checkpoint::save(&pass.finished(&progress))?;
    terapi_sdk::info!(
        "candidates: {} pass saved {} candidate(s) from {} page(s)",
        if pass.is_full() {
            "full"
        } else {
            "incremental"
        },
        saved.records,
        saved.pages
    );
    Ok(())
}

/// Applies a `candidate.*` webhook: the candidate as Checkr has it now, or DELETED once
/// Checkr no longer finds it (see [`refresh_from_event`](super::refresh_from_event)).
pub fn on_webhook(event: Value) -> Result<(), ActionError> {
    super::refresh_from_event(&event, "candidates", &[], |candidate: Candidate| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DAY: i64 = 86_400;

    #[test]
    fn the_first_pass_is_full_then_incremental_until_a_day_passed() {
        let now = 1_700_000_000;
        let first = plan(&Progress::default(), now, DAY);
        assert!(first.is_full());
        assert_eq!(first.first_page, 1);

        let mut pass = first.clone();
        pass.saw(Some("2023-11-14T22:00:00Z"));
        pass.saw(Some("2023-11-14T20:00:00Z"));
        pass.saw(None);
        let progress = pass.finished(&Progress::default());
        let newest = parse_timestamp("2023-11-14T22:00:00Z");
        assert_eq!(progress.newest, newest);
        assert_eq!(progress.last_full_pass, Some(now));
        assert_eq!(progress.resume_page, None);

        let next = plan(&progress, now + 3600, DAY);
        assert!(!next.is_full());
        assert_eq!(next.created_after, newest.map(|n| n - OVERLAP_SECONDS));

        let incremental = next.finished(&progress);
        assert_eq!(
            incremental.last_full_pass,
            Some(now),
            "kept by an incremental pass"
        );
        assert_eq!(incremental.newest, newest, "no newer candidate: unchanged");

        assert!(plan(&incremental, now + DAY, DAY).is_full(), "a day later");
        assert!(
            plan(&incremental, now + 60, 0).is_full(),
            "interval 0: always full"
        );
    }

    #[test]
    fn an_interrupted_pass_resumes_at_its_next_page_with_its_filter() {
        let progress = Progress {
            newest: Some(1_000),
            last_full_pass: Some(500),
            ..Progress::default()
        };
        let mut pass = plan(&progress, 2_000, DAY);
        assert_eq!(pass.created_after, Some(1_000 - OVERLAP_SECONDS));
        pass.saw(Some("1970-01-01T00:30:00Z"));
        let saved = pass.in_progress(&progress, 4);
        assert_eq!(saved.resume_page, Some(4));
        assert_eq!(saved.newest, Some(1_000));

        let resumed = plan(&saved, 9_999_999, DAY);
        assert_eq!(resumed.first_page, 4);
        assert_eq!(
            resumed.created_after,
            Some(1_000 - OVERLAP_SECONDS),
            "same filter, though a full pass is due"
        );
        assert_eq!(resumed.started, 2_000);
        assert_eq!(resumed.newest, Some(1_800));
        let done = resumed.finished(&saved);
        assert_eq!(done.newest, Some(1_800));
        assert_eq!(done.last_full_pass, Some(500));
        assert_eq!(done.resume_page, None);

        // A full pass interrupted and resumed stays full, and counts from its start.
        let full = plan(&Progress::default(), 3_000, DAY).in_progress(&Progress::default(), 2);
        let resumed = plan(&full, 50_000, DAY);
        assert!(resumed.is_full());
        assert_eq!(resumed.finished(&full).last_full_pass, Some(3_000));
    }

    #[test]
    fn the_checkpoint_is_flat() {
        let progress = Progress {
            resume_page: Some(3),
            ..Progress::default()
        };
        let value = serde_json::to_value(&progress).expect("serializes");
        assert!(
            value
                .as_object()
                .expect("object")
                .values()
                .all(|v| !v.is_object() && !v.is_array())
        );
    }

    #[test]
    fn the_full_pass_interval_comes_from_metadata() {
        assert_eq!(full_pass_interval(&json!({})).expect("default"), DAY);
        assert_eq!(
            full_pass_interval(&json!({ FULL_PASS_METADATA_FIELD: 0 })).expect("0"),
            0
        );
        assert_eq!(
            full_pass_interval(&json!({ FULL_PASS_METADATA_FIELD: 1.5 })).expect("1.5"),
            5400
        );
        let error = full_pass_interval(&json!({ FULL_PASS_METADATA_FIELD: "x" })).expect_err("bad");
        assert!(error.message.contains(FULL_PASS_METADATA_FIELD));
        assert!(full_pass_interval(&json!({ FULL_PASS_METADATA_FIELD: -1 })).is_err());
    }
}
