//! `get-background-check`: `GET /v1/invitations/{id}`, canceled ones included.

use crate::checkr;
use crate::models::{Invitation, InvitationRef};
use terapi_sdk::ActionError;

/// Returns the invitation: its status and, once the candidate completed it, its
/// `report_id` (see `get-report`).
pub fn run(input: InvitationRef) -> Result<Invitation, ActionError> {
    let id = input.checked_id()?;
    let request =
        checkr::idempotent(&checkr::path("invitations", id))?.param("include_deleted", "true");
    terapi_sdk::get(request)?.json()
}
