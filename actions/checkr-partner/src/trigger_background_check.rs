//! `trigger-background-check`: `POST /v1/invitations` (201). Checkr emails the candidate an
//! invitation to its hosted flow; once they complete it, a report runs.

use crate::checkr;
use crate::models::{Invitation, WorkLocation};
use crate::validate;
use serde::{Deserialize, Serialize};
use terapi_sdk::schemars::{self, JsonSchema};
use terapi_sdk::{ActionError, InputErrors};

/// The check to order. `background-check-parameters` lists these fields for a package.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Checkr's id of the candidate to check (from `create-candidate`).
    pub candidate_id: String,
    /// The service key: the slug of the package to order (from `background-check-services`).
    pub package: String,
    /// Where the candidate will work. Checkr requires it for candidates outside the US and
    /// for some hierarchy-enabled accounts. `state` is required for US locations only:
    /// Checkr's description says so in prose and real Checkr accepts non-US locations
    /// without one, although the description's `WorkLocation` schema requires it.
    pub work_locations: Option<Vec<WorkLocation>>,
    /// `custom_id` of the hierarchy node ordering the check. Required when the connection's
    /// account has Account Hierarchy enabled.
    pub node: Option<String>,
    /// Tags for the report.
    pub tags: Option<Vec<String>>,
    /// `Idempotency-Key` for the order. By default one is derived from the connection and
    /// the order, so repeating the same order within 24 hours returns the first invitation
    /// instead of inviting the candidate twice; give a new key to order the same check again
    /// (after canceling one, say).
    pub idempotency_key: Option<String>,
}

/// What is sent to Checkr.
#[derive(Debug, Serialize)]
pub(crate) struct Body {
    candidate_id: String,
    package: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    work_locations: Option<Vec<WorkLocation>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<String>>,
}

/// Checks the input and builds the request body, or reports every problem.
pub(crate) fn check(input: &Input, hierarchy: bool) -> Result<Body, ActionError> {
    let mut errors = InputErrors::new();
    let candidate_id = input.candidate_id.trim().to_string();
    if !validate::is_identifier(&candidate_id) {
        errors.add("candidate_id", "must be a Checkr candidate id");
    }
    let package = input.package.trim().to_string();
    if !validate::is_identifier(&package) {
        errors.add(
            "package",
            "must be a package slug from background-check-services",
        );
    }
    let node = input
        .node
        .as_deref()
        .map(str::trim)
        .filter(|node| !node.is_empty())
        .map(str::to_string);
    match &node {
        None if hierarchy => errors.add(
            "node",
            "is required: the account has Account Hierarchy enabled (pick a node's custom_id from list-nodes)",
        ),
        Some(node) if !validate::is_identifier(node) => {
            errors.add("node", "must be a node's custom_id")
        }
        _ => {}
    }
    let work_locations = input.work_locations.as_ref().map(|locations| {
        if locations.is_empty() {
            errors.add("work_locations", "must not be empty when given");
        }
        locations
            .iter()
            .enumerate()
            .map(|(index, location)| {
                location.check(&format!("work_locations[{index}]"), &mut errors)
            })
            .collect::<Vec<_>>()
    });
    let tags = input.tags.as_ref().map(|tags| {
        tags.iter()
            .enumerate()
            .filter_map(|(index, tag)| {
                let tag = tag.trim();
                if tag.is_empty() || tag.chars().any(char::is_control) {
                    errors.add(format!("tags[{index}]"), "must be a non-blank tag");
                    None
                } else {
                    Some(tag.to_string())
                }
            })
            .collect::<Vec<_>>()
    });
    validate::check_idempotency_key(input.idempotency_key.as_deref(), &mut errors);
    errors.into_result()?;
    Ok(Body {
        candidate_id,
        package,
        work_locations,
        node,
        tags,
    })
}

/// Orders the check and returns the invitation: its `invitation_url`, `status` (`pending`)
/// and `expires_at`.
pub fn run(input: Input) -> Result<Invitation, ActionError> {
    let body = check(&input, checkr::hierarchy_enabled())?;
    let key = checkr::idempotency_key(
        "trigger-background-check",
        &body,
        input.idempotency_key.as_deref(),
    )?;
    let request = checkr::request("/v1/invitations")?
        .header("Idempotency-Key", key)
        .retries(checkr::RETRIES)
        .json(&body)?;
    terapi_sdk::post(request)?.json()
}
