//! `cancel-background-check`: `DELETE /v1/invitations/{id}`. A pending invitation is
//! canceled (Checkr then reports it `expired`, with `deleted_at` set); a completed one can no
//! longer be canceled.

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

/// Cancels the invitation and returns it as canceled.
pub fn run(input: Input) -> Result<Invitation, ActionError> {
    let id = input.id.trim();
    let mut errors = InputErrors::new();
    if !validate::is_identifier(id) {
        errors.add("id", "must be a Checkr invitation id");
    }
    errors.into_result()?;
    terapi_sdk::delete(checkr::read(&checkr::path("invitations", id))?)?.json()
}
