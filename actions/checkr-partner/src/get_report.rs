//! `get-report`: `GET /v1/reports/{id}`.

use crate::checkr;
use crate::validate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use terapi_sdk::schemars::{self, JsonSchema};
use terapi_sdk::{ActionError, InputErrors};

/// Which report.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The report's id (an invitation's `report_id`, or one of a candidate's `report_ids`).
    pub id: String,
}

/// A Checkr report, with Checkr's own status, result, adjudication and assessment (kept
/// as text, so a value Checkr adds later still parses). Checkr's description requires
/// none of the fields, so every one is optional.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Checkr's id for the report.
    pub id: Option<String>,
    /// Always `report`.
    pub object: Option<String>,
    /// The report's API path.
    pub uri: Option<String>,
    /// `pending`, `complete`, `suspended`, `dispute` or `canceled`.
    pub status: Option<String>,
    /// `clear` or `consider` once complete; none before.
    pub result: Option<String>,
    /// The customer's decision: `engaged`, `pre_adverse_action`, `post_adverse_action`.
    pub adjudication: Option<String>,
    /// Checkr Assess's verdict: `eligible`, `review` or `escalated`.
    pub assessment: Option<String>,
    /// The package (service key) the report runs.
    pub package: Option<String>,
    /// The candidate checked.
    pub candidate_id: Option<String>,
    /// When the report was created (ISO 8601).
    pub created_at: Option<String>,
    /// When it completed.
    pub completed_at: Option<String>,
    /// Seconds from creation to completion (an `integer` in Checkr's description: signed).
    pub turnaround_time: Option<i64>,
    /// When Checkr expects it to complete.
    pub estimated_completion_time: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Every other field Checkr returned: screening ids, work locations, ...
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Returns the report.
pub fn run(input: Input) -> Result<Report, ActionError> {
    let id = input.id.trim();
    let mut errors = InputErrors::new();
    if !validate::is_identifier(id) {
        errors.add("id", "must be a Checkr report id");
    }
    errors.into_result()?;
    terapi_sdk::get(checkr::idempotent(&checkr::path("reports", id))?)?.json()
}
