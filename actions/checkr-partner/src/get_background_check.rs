//! `get-background-check`: `GET /v1/invitations/{id}`, canceled ones included.

use crate::checkr;
use crate::models::Invitation;
use crate::validate;
use serde::Deserialize;
use terapi_sdk::schemars::{self, JsonSchema};
use terapi_sdk::{ActionError, InputErrors};

/// Which background check.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The invitation's id (from `trigger-background-check`).
    pub id: String,
}

/// Returns the invitation: its status and, once the candidate completed it, its
/// `report_id` (see `get-report`).
pub fn run(input: Input) -> Result<Invitation, ActionError> {
    let id = input.id.trim();
    let mut errors = InputErrors::new();
    if !validate::is_identifier(id) {
        errors.add("id", "must be a Checkr invitation id");
    }
    errors.into_result()?;
    let request = checkr::read(&checkr::path("invitations", id))?.param("include_deleted", "true");
    terapi_sdk::get(request)?.json()
}
