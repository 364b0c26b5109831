//! `get-candidate`: `GET /v1/candidates/{id}`.

use crate::checkr;
use crate::models::Candidate;
use crate::validate;
use serde::Deserialize;
use terapi_sdk::schemars::{self, JsonSchema};
use terapi_sdk::{ActionError, InputErrors};

/// Which candidate.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Checkr's id for the candidate.
    pub id: String,
}

/// Returns the candidate (SSN masked).
pub fn run(input: Input) -> Result<Candidate, ActionError> {
    let id = input.id.trim();
    let mut errors = InputErrors::new();
    if !validate::is_identifier(id) {
        errors.add("id", "must be a Checkr candidate id");
    }
    errors.into_result()?;
    terapi_sdk::get(checkr::idempotent(&checkr::path("candidates", id))?)?.json()
}
