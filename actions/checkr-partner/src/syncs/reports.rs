//! `reports`: the reports of the account's candidates, as [`Report`] records.
//!
//! Each run lists the candidates (`GET /v1/candidates`, page by page; a candidate's
//! `report_ids` include the reports its completed invitations produced) and, for each
//! page, fetches (`GET /v1/reports/{id}`) the reports that are not stored yet or whose
//! stored status is not final (`complete` or `canceled`), then saves them. So a report is
//! refetched on every run until it reaches a final status, and never after. A report
//! Checkr no longer finds (404) is skipped with a warning.
//!
//! The checkpoint remembers the next page of the candidates listing while a run is under
//! way, so a run killed midway resumes there; a finished run clears it.

use super::models::{Candidate, Report};
use crate::checkr;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use terapi_sdk::{ActionError, checkpoint, records};

/// The sync's checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// While a run is under way: the candidates page to resume from.
    #[serde(default)]
    pub resume_page: Option<u32>,
}

/// The report ids among `ids` (one page's) to fetch: not final in `stored`, each once, in
/// order. Nothing is remembered across pages, so a run's memory does not grow with the
/// account; a candidate Checkr's paging shows twice only costs its pending reports a
/// second fetch.
pub fn to_fetch(ids: &[String], stored: &[Report]) -> Vec<String> {
    let done: HashSet<&str> = stored
        .iter()
        .filter(|report| report.is_final())
        .map(|report| report.id.as_str())
        .collect();
    let mut wanted: Vec<String> = Vec::new();
    for id in ids {
        if !done.contains(id.as_str()) && !wanted.contains(id) {
            wanted.push(id.clone());
        }
    }
    wanted
}

/// `GET /v1/reports/{id}`; `None` when Checkr answers 404.
fn fetch_report(id: &str) -> Result<Option<Report>, ActionError> {
    let response = terapi_sdk::get(checkr::idempotent(&checkr::path("reports", id))?)?;
    if response.status == 404 {
        terapi_sdk::warn!("reports: report {id} was not found; skipped");
        return Ok(None);
    }
    response.json().map(Some)
}

/// Runs the sync.
pub fn fetch_data() -> Result<(), ActionError> {
    let progress: Progress = checkpoint::get()?.unwrap_or_default();
    let first_page = progress.resume_page.unwrap_or(1).max(1);
    let mut pages = super::pages_from::<Candidate>("/v1/candidates", &[], first_page)?;
    let mut fetched = 0;
    let mut candidate_pages = 0;
    while let Some(page) = pages.next() {
        let page = page?;
        candidate_pages += 1;
        let ids: Vec<String> = page
            .items
            .into_iter()
            .flat_map(|candidate| candidate.report_ids)
            .collect();
        let stored = records::get_by_ids::<Report>(&ids)?;
        let mut batch = Vec::new();
        for id in to_fetch(&ids, &stored) {
            if let Some(report) = fetch_report(&id)? {
                batch.push(report);
            }
            fetched += 1;
        }
        records::save(&batch)?;
        if pages.has_next() {
            let next_page = u32::try_from(page.number)
                .ok()
                .and_then(|number| first_page.checked_add(number))
                .ok_or_else(|| ActionError::new("reports: too many pages"))?;
            checkpoint::save(&Progress {
                resume_page: Some(next_page),
            })?;
        }
    }
    checkpoint::clear()?;
    terapi_sdk::info!(
        "reports: fetched {fetched} report(s) over {candidate_pages} page(s) of candidates"
    );
    Ok(())
}

/// Applies a `report.*` webhook: the report as Checkr has it now (see
/// [`refresh_from_event`](super::refresh_from_event)).
pub fn on_webhook(event: serde_json::Value) -> Result<(), ActionError> {
    super::refresh_from_event(&event, "reports", &[], |report: Report| report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str, status: &str) -> Report {
        serde_json::from_value(serde_json::json!({ "id": id, "status": status })).expect("report")
    }

    #[test]
    fn only_new_and_unfinished_reports_are_fetched_once() {
        let ids: Vec<String> = ["r1", "r2", "r3", "r4", "r2", "r5"]
            .iter()
            .map(|id| id.to_string())
            .collect();
        let stored = vec![
            report("r1", "complete"),
            report("r2", "pending"),
            report("r3", "canceled"),
            report("r4", "suspended"),
        ];
        assert_eq!(to_fetch(&ids, &stored), vec!["r2", "r4", "r5"]);
        assert_eq!(to_fetch(&ids, &[]), vec!["r1", "r2", "r3", "r4", "r5"]);
    }
}
