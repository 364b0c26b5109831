//! Data to sync: seeded candidates with invitations and reports, and changes to them
//! (churn), for terapi's sync tests and the demo.
//!
//! [`seed_account`] gives an account `n` candidates, created one second apart and ending
//! now. Each has, by its position `i`: no invitation (`i % 5 == 0`), a pending invitation
//! (1), a completed invitation with a pending report (2), a completed invitation with a
//! complete report (3; `clear` for even `i`, `consider` for odd), or an expired invitation
//! (4; candidate and invitation created eight days earlier). Seeding emits no events.
//!
//! [`churn`] changes an account a little, the way a live account changes: it completes
//! the oldest pending report, completes the oldest pending invitation (creating a pending
//! report), updates the oldest candidate's phone number and creates a new candidate.

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::resources::candidates::Candidate;
use crate::resources::invitations::{self, Invitation, LIFETIME};
use crate::resources::reports::{self, Report};
use crate::state::State;

const FIRST_NAMES: &[&str] = &[
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Frances", "Donald", "Radia", "Leslie",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Allen", "Knuth", "Perlman",
    "Lamport",
];

/// The fields of the `k`-th seeded candidate of an account.
fn candidate_fields(k: usize) -> Map<String, Value> {
    let first = FIRST_NAMES[k % FIRST_NAMES.len()];
    let last = LAST_NAMES[(k / FIRST_NAMES.len()) % LAST_NAMES.len()];
    let mut fields = Map::new();
    fields.insert("first_name".into(), json!(first));
    fields.insert("last_name".into(), json!(last));
    fields.insert("no_middle_name".into(), json!(true));
    fields.insert(
        "email".into(),
        json!(format!(
            "{}.{}.{k}@example.com",
            first.to_lowercase(),
            last.to_lowercase()
        )),
    );
    fields.insert("phone".into(), json!(format!("415-555-{:04}", k % 10_000)));
    fields.insert("zipcode".into(), json!("94105"));
    fields.insert(
        "dob".into(),
        json!(format!(
            "19{:02}-{:02}-{:02}",
            60 + k % 40,
            1 + k % 12,
            1 + k % 28
        )),
    );
    fields.insert("custom_id".into(), json!(format!("seed-{k}")));
    fields
}

/// Adds `n` seeded candidates (with their invitations and reports) to account
/// `account_id`; see the module documentation. Does nothing for an unknown account.
pub(crate) fn seed_account(state: &mut State, account_id: &str, n: usize) {
    let now = state.now_s();
    let Some(account) = state.accounts.get(account_id) else {
        return;
    };
    let offset = account.candidates.len();
    let uri_name = account.uri_name.clone();
    let packages = account.packages.clone();
    if packages.is_empty() {
        return;
    }
    let mut candidates = Vec::with_capacity(n);
    let mut invitations = Vec::new();
    let mut new_reports = Vec::new();
    for i in 0..n {
        let k = offset + i;
        let back = i64::try_from(n - 1 - i).unwrap_or(i64::MAX);
        let mut created_at = now - time::Duration::seconds(back);
        if i % 5 == 4 {
            created_at -= time::Duration::days(8);
        }
        let mut candidate = Candidate {
            id: state.ids.hex(24),
            created_at,
            fields: candidate_fields(k),
            report_ids: Vec::new(),
            adjudication: None,
        };
        if i % 5 != 0 {
            let package = &packages[k % packages.len()];
            let mut invitation = Invitation {
                id: state.ids.hex(24),
                candidate_id: candidate.id.clone(),
                package: package.slug.clone(),
                node: None,
                work_locations: None,
                tags: Vec::new(),
                invitation_url: format!(
                    "https://apply.checkr.com/invite/{uri_name}/{}",
                    state.ids.hex(12)
                ),
                created_at,
                expires_at: created_at + LIFETIME,
                completed_at: None,
                deleted_at: None,
                report_id: None,
            };
            if i % 5 == 2 || i % 5 == 3 {
                let report_id = state.ids.hex(24);
                let complete = i % 5 == 3;
                let result = if k % 2 == 0 { "clear" } else { "consider" };
                invitation.completed_at = Some(created_at);
                invitation.report_id = Some(report_id.clone());
                candidate.report_ids.push(report_id.clone());
                new_reports.push(Report {
                    id: report_id,
                    candidate_id: candidate.id.clone(),
                    package: package.slug.clone(),
                    created_at,
                    completed_at: complete
                        .then(|| (created_at + time::Duration::hours(1)).min(now)),
                    status: if complete { "complete" } else { "pending" }.to_string(),
                    result: complete.then(|| result.to_string()),
                    assessment: complete.then(|| {
                        if result == "clear" {
                            "eligible"
                        } else {
                            "review"
                        }
                        .to_string()
                    }),
                    source: "form".to_string(),
                    tags: Vec::new(),
                    work_locations: json!([]),
                    segment_stamps: Vec::new(),
                    screening_ids: reports::screening_ids(package, &mut state.ids),
                });
            }
            invitations.push(invitation);
        }
        candidates.push(candidate);
    }
    // Stored oldest first, as records created through the API are, so the listings'
    // newest-first sort meets (nearly) ordered data and stays linear.
    candidates.sort_by_key(|c| c.created_at);
    invitations.sort_by_key(|i| i.created_at);
    if let Some(account) = state.accounts.get_mut(account_id) {
        account.candidates.extend(candidates);
        account.invitations.extend(invitations);
        account.reports.extend(new_reports);
    }
}

/// One step of churn on account `account_id`; returns what changed:
/// `{"report_completed", "invitation_completed", "report_created", "candidate_updated",
/// "candidate_created"}` (ids, `null` where there was nothing to change).
pub(crate) fn churn(state: &mut State, account_id: &str) -> Result<Value, ApiError> {
    let now = state.now_s();
    let account = state.account(account_id)?;
    let pending_report = account
        .reports
        .iter()
        .filter(|r| r.status == "pending")
        .min_by_key(|r| r.created_at)
        .map(|r| r.id.clone());
    let pending_invitation = account
        .invitations
        .iter()
        .filter(|i| i.status(now) == "pending")
        .min_by_key(|i| i.created_at)
        .map(|i| i.id.clone());
    let oldest_candidate = account
        .candidates
        .iter()
        .min_by_key(|c| c.created_at)
        .map(|c| c.id.clone());

    let report_completed = pending_report.filter(|id| {
        let result = if id.len() % 2 == 0 {
            "clear"
        } else {
            "consider"
        };
        reports::complete(state, id, result)
    });
    let report_created = pending_invitation
        .as_deref()
        .and_then(|id| invitations::complete(state, id));
    let invitation_completed = report_created.as_ref().and(pending_invitation);
    let candidate_updated = match oldest_candidate {
        Some(id) => {
            let phone = format!("415-555-{:04}", state.ids.next_u64() % 10_000);
            update_candidate(state, account_id, &id, json!({ "phone": phone }))?;
            Some(id)
        }
        None => None,
    };
    let k = state.account(account_id)?.candidates.len();
    let candidate = Candidate {
        id: state.ids.hex(24),
        created_at: now,
        fields: candidate_fields(k),
        report_ids: Vec::new(),
        adjudication: None,
    };
    let created_id = candidate.id.clone();
    let rendered = candidate.to_json();
    state.account_mut(account_id)?.candidates.push(candidate);
    state.emit(account_id, "candidate.created", rendered);
    Ok(json!({
        "report_completed": report_completed,
        "invitation_completed": invitation_completed,
        "report_created": report_created,
        "candidate_updated": candidate_updated,
        "candidate_created": created_id,
    }))
}

/// Sets (or, with `null`, removes) fields of a candidate of account `account_id`, as
/// `POST /v1/candidates/{id}` would, without its validation; returns the candidate.
pub(crate) fn update_candidate(
    state: &mut State,
    account_id: &str,
    id: &str,
    patch: Value,
) -> Result<Value, ApiError> {
    let Value::Object(patch) = patch else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    let candidate = state
        .account_mut(account_id)?
        .candidates
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found("Candidate not found"))?;
    for (field, value) in patch {
        if value.is_null() {
            candidate.fields.remove(&field);
        } else {
            candidate.fields.insert(field, value);
        }
    }
    let rendered = candidate.to_json();
    state.emit(account_id, "candidate.updated", rendered.clone());
    Ok(rendered)
}

/// Makes a pending invitation of account `account_id` expire now; returns it.
pub(crate) fn expire_invitation(
    state: &mut State,
    account_id: &str,
    id: &str,
) -> Result<Value, ApiError> {
    let now = state.now_s();
    let invitation = state
        .account_mut(account_id)?
        .invitations
        .iter_mut()
        .find(|i| i.id == id && i.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found("Invitation not found"))?;
    if invitation.status(now) != "pending" {
        return Err(ApiError::bad_request(format!(
            "Invitation is {}, not pending",
            invitation.status(now)
        )));
    }
    invitation.expires_at = now;
    let rendered = invitation.to_json(now);
    state.emit(account_id, "invitation.expired", rendered.clone());
    Ok(rendered)
}

/// Removes a candidate of account `account_id` (and its invitations and reports), as if
/// Checkr had deleted its data; returns the id.
pub(crate) fn delete_candidate(
    state: &mut State,
    account_id: &str,
    id: &str,
) -> Result<Value, ApiError> {
    let account = state.account_mut(account_id)?;
    let before = account.candidates.len();
    account.candidates.retain(|c| c.id != id);
    if account.candidates.len() == before {
        return Err(ApiError::not_found("Candidate not found"));
    }
    account.invitations.retain(|i| i.candidate_id != id);
    account.reports.retain(|r| r.candidate_id != id);
    Ok(json!({ "id": id, "deleted": true }))
}

/// When the newest candidate of an account was created.
#[cfg(test)]
fn newest(state: &State, account_id: &str) -> Option<time::OffsetDateTime> {
    state
        .accounts
        .get(account_id)?
        .candidates
        .iter()
        .map(|c| c.created_at)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AccountSeed, SimConfig};
    use crate::state::Sim;

    #[test]
    fn seeding_creates_the_documented_mix() {
        let sim = Sim::new(&SimConfig::default(), "http://sim.test".into());
        let mut state = sim.lock();
        state
            .clock
            .freeze(time::macros::datetime!(2024-05-01 12:00:00 UTC));
        let account = state.ensure_account(&AccountSeed::default());
        seed_account(&mut state, &account, 10);
        let now = state.now_s();
        assert_eq!(
            newest(&state, &account),
            Some(now - time::Duration::seconds(1)),
            "the last (i = 9) is one of the expired ones, created earlier"
        );
        let data = &state.accounts[&account];
        assert_eq!(data.candidates.len(), 10);
        assert_eq!(data.invitations.len(), 8, "two of ten have none");
        assert_eq!(data.reports.len(), 4);
        let statuses: Vec<&str> = data.invitations.iter().map(|i| i.status(now)).collect();
        assert_eq!(statuses.iter().filter(|s| **s == "pending").count(), 2);
        assert_eq!(statuses.iter().filter(|s| **s == "completed").count(), 4);
        assert_eq!(statuses.iter().filter(|s| **s == "expired").count(), 2);
        assert_eq!(
            data.reports
                .iter()
                .filter(|r| r.status == "complete")
                .count(),
            2
        );
        let ids: std::collections::HashSet<&str> =
            data.candidates.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), 10);
        for report in &data.reports {
            let owner = data.candidates.iter().find(|c| c.id == report.candidate_id);
            assert!(owner.is_some_and(|c| c.report_ids.contains(&report.id)));
        }
    }

    #[test]
    fn churn_changes_a_report_an_invitation_and_candidates() {
        let sim = Sim::new(&SimConfig::default(), "http://sim.test".into());
        let mut state = sim.lock();
        let account = state.ensure_account(&AccountSeed::default());
        seed_account(&mut state, &account, 10);
        let changed = churn(&mut state, &account).expect("churn");
        for field in [
            "report_completed",
            "invitation_completed",
            "report_created",
            "candidate_updated",
            "candidate_created",
        ] {
            assert!(changed[field].is_string(), "{field}: {changed}");
        }
        let data = &state.accounts[&account];
        assert_eq!(data.candidates.len(), 11);
        assert_eq!(data.reports.len(), 5);
        assert_eq!(
            data.reports
                .iter()
                .filter(|r| r.status == "complete")
                .count(),
            3
        );
        assert!(state.events.len() >= 4);
    }
}
