//! `cancel-background-check`: `DELETE /v1/invitations/{id}`. A pending invitation is
//! canceled (Checkr then reports it `expired`, with `deleted_at` set); a completed one can no
//! longer be canceled.

use crate::checkr;
use crate::models::{Invitation, InvitationRef};
use terapi_sdk::ActionError;

/// Cancels the invitation and returns it as canceled.
pub fn run(input: InvitationRef) -> Result<Invitation, ActionError> {
    let id = input.checked_id()?;
    terapi_sdk::delete(checkr::idempotent(&checkr::path("invitations", id))?)?.json()
}
