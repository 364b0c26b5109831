//! `list-candidates`: `GET /v1/candidates`, following Checkr's `next_href` links to the last
//! page or until `limit` candidates are in hand.

use crate::checkr;
use crate::models::Candidate;
use crate::validate;
use serde::{Deserialize, Serialize};
use terapi_sdk::schemars::{self, JsonSchema};
use terapi_sdk::{ActionError, InputErrors};

/// Filters and bounds. Checkr lists newest first.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Only candidates with this email address (case-insensitive).
    pub email: Option<String>,
    /// Only candidates with this custom id.
    pub custom_id: Option<String>,
    /// Only candidates created after this moment: a date `YYYY-MM-DD` (midnight UTC that
    /// day) or an RFC 3339 date-time. Checkr takes only a date-time, so it is sent as one,
    /// in UTC to the second (`2024-01-31` → `2024-01-31T00:00:00Z`).
    pub created_after: Option<String>,
    /// Only candidates created before this moment: a date `YYYY-MM-DD` (midnight UTC that
    /// day) or an RFC 3339 date-time. Checkr takes only a date-time, so it is sent as one,
    /// in UTC to the second (`2024-01-31` → `2024-01-31T00:00:00Z`).
    pub created_before: Option<String>,
    /// Return at most this many candidates; pages past it are not fetched. Default: all.
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
    /// Candidates per page requested from Checkr (1 to 100, default 100).
    #[schemars(range(min = 1, max = 100))]
    pub per_page: Option<u32>,
}

/// The candidates found.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// The candidates, newest first.
    pub candidates: Vec<Candidate>,
    /// How many candidates match in all, as Checkr counts them.
    pub total: Option<i64>,
    /// True when `limit` cut the list short.
    pub has_more: bool,
}

/// Lists the candidates that match the filters.
pub fn run(input: Input) -> Result<Output, ActionError> {
    let filters = filters(&input)?;
    let mut request = checkr::idempotent("/v1/candidates")?;
    for (name, value) in filters {
        request = request.param(name, value);
    }
    let mut paginator = checkr::paginator();
    if let Some(per_page) = input.per_page {
        paginator = paginator.page_size("per_page", per_page);
    }
    let limit = input.limit.map(|limit| limit as usize);
    let collected = paginator.pages::<Candidate>(request).collect_up_to(limit)?;
    Ok(Output {
        total: collected.first_page["count"].as_i64(),
        candidates: collected.items,
        has_more: collected.has_more,
    })
}

/// Checks the input and returns the query filters to send, as Checkr takes them, or
/// reports every problem.
pub(crate) fn filters(input: &Input) -> Result<Vec<(&'static str, String)>, ActionError> {
    let mut errors = InputErrors::new();
    let email = input.email.as_deref().map(str::trim);
    if email.is_some_and(|email| !validate::is_email(email)) {
        errors.add("email", "must be an email address such as jane@example.com");
    }
    let custom_id = input.custom_id.as_deref().map(str::trim);
    if custom_id.is_some_and(|id| !validate::is_identifier(id)) {
        errors.add(
            "custom_id",
            "must be at most 255 characters without control characters",
        );
    }
    let mut bounds = [None, None];
    for (slot, (field, value)) in bounds.iter_mut().zip([
        ("created_after", &input.created_after),
        ("created_before", &input.created_before),
    ]) {
        if let Some(value) = value {
            match validate::parse_timestamp(value.trim()) {
                Some(at) => *slot = Some(at),
                None => errors.add(
                    field,
                    "must be a date (2024-01-31) or an RFC 3339 date-time (2024-01-31T12:00:00Z)",
                ),
            }
        }
    }
    if matches!(bounds, [Some(after), Some(before)] if after >= before) {
        errors.add("created_before", "must be later than created_after");
    }
    if input.limit == Some(0) {
        errors.add("limit", "must be at least 1");
    }
    if input
        .per_page
        .is_some_and(|per_page| !(1..=100).contains(&per_page))
    {
        errors.add("per_page", "must be between 1 and 100");
    }
    errors.into_result()?;

    let [after, before] = bounds.map(|bound| bound.map(validate::rfc3339_utc));
    Ok([
        ("email", email.map(str::to_string)),
        ("custom_id", custom_id.map(str::to_string)),
        ("created_after", after),
        ("created_before", before),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|value| (name, value)))
    .collect())
}
