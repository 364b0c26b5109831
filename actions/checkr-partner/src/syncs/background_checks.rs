//! `background-checks`: every invitation of the account (`GET /v1/invitations`, all
//! pages) saved as a [`BackgroundCheck`]. Each run is a full listing between
//! `track-deletes-start` and `track-deletes-end`, so an invitation that disappears from
//! the listing (canceled) becomes DELETED when the run succeeds. No checkpoint: a run
//! killed midway starts over, and re-saving unchanged records changes nothing.

use super::models::{BackgroundCheck, Invitation};
use terapi_sdk::{ActionError, records};

/// Runs the sync.
pub fn fetch_data() -> Result<(), ActionError> {
    records::track_deletes_start::<BackgroundCheck>()?;
    let pages = super::pages_from::<Invitation>("/v1/invitations", &[], 1)?;
    let saved = records::save_pages(pages, BackgroundCheck::from)?;
    records::track_deletes_end::<BackgroundCheck>()?;
    terapi_sdk::info!(
        "background-checks: saved {} invitation(s) from {} page(s)",
        saved.records,
        saved.pages
    );
    Ok(())
}

/// Applies an `invitation.*` webhook: the invitation as Checkr has it now, or DELETED for
/// `invitation.deleted` (a canceled invitation, which the listing no longer shows) and
/// when Checkr no longer finds it (see [`refresh_from_event`](super::refresh_from_event)).
pub fn on_webhook(event: serde_json::Value) -> Result<(), ActionError> {
    super::refresh_from_event(
        &event,
        "invitations",
        &["invitation.deleted"],
        |invitation: Invitation| BackgroundCheck::from(invitation),
    )
}
