//! Reports: `GET /v1/reports/{id}`. Reports are created by completing an invitation
//! ([`crate::Simulator::complete_invitation`]) and finished by
//! [`crate::Simulator::complete_report`].

use axum::Router;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::resources::packages::Package;
use crate::state::{IdGen, Sim, State as SimState, iso, iso_opt};

/// Screening types whose id is a single `<type>_id` field.
const SINGLE_SCREENINGS: &[&str] = &[
    "ssn_trace",
    "sex_offender_search",
    "global_watchlist_search",
    "national_criminal_search",
    "federal_criminal_search",
    "motor_vehicle_report",
];

/// A report.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub(crate) id: String,
    pub(crate) candidate_id: String,
    pub(crate) package: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) completed_at: Option<OffsetDateTime>,
    /// `pending`, `complete`, `suspended`, `dispute` or `canceled`.
    pub(crate) status: String,
    /// `clear`, `consider` or none.
    pub(crate) result: Option<String>,
    /// `eligible`, `review`, `escalated` or none.
    pub(crate) assessment: Option<String>,
    pub(crate) source: String,
    pub(crate) tags: Vec<String>,
    pub(crate) work_locations: Value,
    pub(crate) segment_stamps: Vec<String>,
    /// `ssn_trace_id`, `county_criminal_search_ids`, ... as they appear in the JSON.
    pub(crate) screening_ids: Map<String, Value>,
}

impl Report {
    /// The report's JSON.
    pub(crate) fn to_json(&self) -> Value {
        let turnaround = self
            .completed_at
            .map(|done| (done - self.created_at).whole_seconds());
        let estimated =
            (self.created_at + time::Duration::days(3)).replace_time(time::Time::MIDNIGHT);
        let mut out = json!({
            "id": self.id,
            "object": "report",
            "uri": format!("/v1/reports/{}", self.id),
            "status": self.status,
            "result": self.result,
            "includes_canceled": false,
            "created_at": iso(self.created_at),
            "completed_at": iso_opt(self.completed_at),
            "revised_at": null,
            "upgraded_at": null,
            "turnaround_time": turnaround,
            "package": self.package,
            "adjudication": null,
            "assessment": self.assessment,
            "source": self.source,
            "segment_stamps": self.segment_stamps,
            "work_locations": self.work_locations,
            "estimated_completion_time": iso(estimated),
            "candidate_story_ids": [],
            "candidate_id": self.candidate_id,
            "tags": self.tags,
            "document_ids": [],
            "geo_ids": [],
            "archived": false,
        });
        if let Value::Object(map) = &mut out {
            for (k, v) in &self.screening_ids {
                map.insert(k.clone(), v.clone());
            }
        }
        super::omit_nulls(
            out,
            &[
                "result",
                "adjudication",
                "assessment",
                "revised_at",
                "upgraded_at",
            ],
        )
    }
}

/// Screening id fields for a report of `package`: one id per screening it includes,
/// `null` or `[]` for the common ones it does not.
pub(crate) fn screening_ids(package: &Package, ids: &mut IdGen) -> Map<String, Value> {
    let mut out = Map::new();
    for kind in SINGLE_SCREENINGS {
        let value = if package.has(kind) {
            json!(ids.hex(24))
        } else {
            Value::Null
        };
        out.insert(format!("{kind}_id"), value);
    }
    let county = if package.has("county_criminal_search") {
        vec![ids.hex(24)]
    } else {
        Vec::new()
    };
    out.insert("county_criminal_search_ids".into(), json!(county));
    let state = if package.has("state_criminal_search") {
        vec![ids.hex(24)]
    } else {
        Vec::new()
    };
    out.insert("state_criminal_searches".into(), json!(state));
    out
}

/// The routes.
pub(crate) fn routes() -> Router<Sim> {
    Router::new().route("/v1/reports/{id}", get(show))
}

async fn show(State(sim): State<Sim>, auth: Auth, Path(id): Path<String>) -> ApiResult {
    let state = sim.lock();
    let report = state
        .account(&auth.account_id)?
        .reports
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::not_found("Report not found"))?;
    Ok(axum::Json(report.to_json()).into_response())
}

/// Completes a pending report (in any account) with `result` (`clear` → assessment
/// `eligible`, `consider` → `review`). False if there is no such pending report or
/// the result is neither.
pub(crate) fn complete(state: &mut SimState, id: &str, result: &str) -> bool {
    let assessment = match result {
        "clear" => "eligible",
        "consider" => "review",
        _ => return false,
    };
    let now = state.now_s();
    let Some(account) = state
        .accounts
        .values_mut()
        .find(|a| a.reports.iter().any(|r| r.id == id))
    else {
        return false;
    };
    let account_id = account.id.clone();
    let Some(report) = account.reports.iter_mut().find(|r| r.id == id) else {
        return false;
    };
    if report.status != "pending" {
        return false;
    }
    report.status = "complete".to_string();
    report.result = Some(result.to_string());
    report.assessment = Some(assessment.to_string());
    report.completed_at = Some(now);
    let rendered = report.to_json();
    state.emit(&account_id, "report.completed", rendered);
    true
}
