//! Candidates: create (`POST /v1/candidates`, 201), retrieve, update
//! (`POST /v1/candidates/{id}`) and list (`GET /v1/candidates`, filtered, paginated,
//! newest first).
//!
//! Duplicates: a candidate with the same identity as an existing one — same email
//! (case-insensitive) and same `custom_id` (absent counts as one value) — is a
//! duplicate; once [`crate::SimConfig::duplicate_candidate_limit`] (default 2)
//! candidates of one identity were created within 24 hours, the next is 409
//! `"Duplicate candidate detected. No more than 2 duplicate candidates can be created
//! within a 24 hour period"`, Checkr's documented message.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, list_response_counted};
use crate::params::{self, Query};
use crate::state::{Sim, iso, parse_time};

/// Free-text string fields a candidate keeps.
const STRING_FIELDS: &[&str] = &[
    "first_name",
    "middle_name",
    "last_name",
    "mother_maiden_name",
    "email",
    "phone",
    "zipcode",
    "dob",
    "ssn",
    "driver_license_number",
    "driver_license_state",
    "previous_driver_license_number",
    "previous_driver_license_state",
    "custom_id",
];

/// A candidate.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) id: String,
    pub(crate) created_at: OffsetDateTime,
    /// Validated input fields (the SSN unmasked), by name.
    pub(crate) fields: Map<String, Value>,
    pub(crate) report_ids: Vec<String>,
    pub(crate) adjudication: Option<String>,
}

impl Candidate {
    fn str_field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// The candidate's email.
    pub(crate) fn email(&self) -> Option<&str> {
        self.str_field("email")
    }

    fn full_names(&self) -> Vec<String> {
        let first = self.str_field("first_name").unwrap_or("");
        let middle = self.str_field("middle_name").unwrap_or("");
        let last = self.str_field("last_name").unwrap_or("");
        let join = |parts: &[&str]| {
            parts
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        };
        vec![join(&[first, last]), join(&[first, middle, last])]
    }

    fn is_us_only(&self) -> bool {
        match self.fields.get("work_locations") {
            Some(Value::Array(locations)) => locations.iter().all(|l| {
                l.get("country")
                    .and_then(Value::as_str)
                    .is_none_or(|c| c == "US")
            }),
            _ => true,
        }
    }

    /// The candidate's JSON (SSN masked to its last four digits).
    pub(crate) fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert("object".into(), json!("candidate"));
        out.insert("uri".into(), json!(format!("/v1/candidates/{}", self.id)));
        out.insert("created_at".into(), json!(iso(self.created_at)));
        for field in STRING_FIELDS {
            let value = self.fields.get(*field).cloned().unwrap_or(Value::Null);
            let value = if *field == "ssn" {
                value
                    .as_str()
                    .map(|s| json!(mask_ssn(s)))
                    .unwrap_or(Value::Null)
            } else {
                value
            };
            out.insert((*field).into(), value);
        }
        for field in ["no_middle_name", "copy_requested"] {
            out.insert(
                field.into(),
                self.fields.get(field).cloned().unwrap_or(json!(false)),
            );
        }
        out.insert("report_ids".into(), json!(self.report_ids));
        out.insert(
            "geo_ids".into(),
            self.fields.get("geo_ids").cloned().unwrap_or(json!([])),
        );
        out.insert("adjudication".into(), json!(self.adjudication));
        out.insert(
            "metadata".into(),
            self.fields.get("metadata").cloned().unwrap_or(json!({})),
        );
        for field in ["work_locations", "postal_address"] {
            if let Some(value) = self.fields.get(field) {
                out.insert(field.into(), value.clone());
            }
        }
        super::omit_nulls(Value::Object(out), &["phone"])
    }
}

/// `847-43-4645` → `XXX-XX-4645`.
fn mask_ssn(ssn: &str) -> String {
    let digits: String = ssn.chars().filter(char::is_ascii_digit).collect();
    let last4 = &digits[digits.len().saturating_sub(4)..];
    format!("XXX-XX-{last4}")
}

/// The routes.
pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/v1/candidates", get(list).post(create))
        .route("/v1/candidates/{id}", get(show).post(update))
}

async fn create(State(sim): State<Sim>, auth: Auth, headers: HeaderMap, body: Bytes) -> ApiResult {
    let body = params::parse_body(&headers, &body)?;
    let fields = validate(&body, true)?;
    let mut state = sim.lock();
    let now = state.now_s();
    let limit = state.duplicate_candidate_limit;
    let email = fields
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase();
    let custom_id = fields.get("custom_id").cloned().unwrap_or(Value::Null);
    let account = state.account(&auth.account_id)?;
    let duplicates = account
        .candidates
        .iter()
        .filter(|c| c.email().map(str::to_lowercase).as_deref() == Some(email.as_str()))
        .filter(|c| c.fields.get("custom_id").cloned().unwrap_or(Value::Null) == custom_id)
        .filter(|c| now - c.created_at < time::Duration::hours(24))
        .count();
    if duplicates >= limit {
        return Err(ApiError::conflict(format!(
            "Duplicate candidate detected. No more than {limit} duplicate candidates can be created within a 24 hour period"
        )));
    }
    let candidate = Candidate {
        id: state.ids.hex(24),
        created_at: now,
        fields,
        report_ids: Vec::new(),
        adjudication: None,
    };
    let rendered = candidate.to_json();
    state
        .account_mut(&auth.account_id)?
        .candidates
        .push(candidate);
    state.emit(&auth.account_id, "candidate.created", rendered.clone());
    Ok((StatusCode::CREATED, axum::Json(rendered)).into_response())
}

async fn show(State(sim): State<Sim>, auth: Auth, Path(id): Path<String>) -> ApiResult {
    let state = sim.lock();
    let candidate = state
        .account(&auth.account_id)?
        .candidates
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found("Candidate not found"))?;
    Ok(axum::Json(candidate.to_json()).into_response())
}

async fn update(
    State(sim): State<Sim>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = params::parse_body(&headers, &body)?;
    let patch = validate(&body, false)?;
    let mut state = sim.lock();
    let account = state.account_mut(&auth.account_id)?;
    let candidate = account
        .candidates
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found("Candidate not found"))?;
    let mut merged = candidate.fields.clone();
    for (k, v) in patch {
        if v.is_null() {
            merged.remove(&k);
        } else {
            merged.insert(k, v);
        }
    }
    check_middle_name(&merged)?;
    candidate.fields = merged;
    let rendered = candidate.to_json();
    state.emit(&auth.account_id, "candidate.updated", rendered.clone());
    Ok(axum::Json(rendered).into_response())
}

async fn list(State(sim): State<Sim>, auth: Auth, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let time_filter = |name: &str| -> Result<Option<OffsetDateTime>, ApiError> {
        query
            .get(name)
            .map(|v| {
                parse_time(v).ok_or_else(|| {
                    ApiError::bad_request(format!("{name} must be an ISO-8601 date-time"))
                })
            })
            .transpose()
    };
    let created_after = time_filter("created_after")?;
    let created_before = time_filter("created_before")?;
    let email = query.get("email").map(str::to_lowercase);
    let full_name = query.get("full_name").map(|n| {
        n.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    });
    let custom_id = query.get("custom_id");
    let adjudication = query.get("adjudication");
    let driver_license_number = query.get("driver_license_number");
    let geo_id = query.get("geo_id");

    let state = sim.lock();
    let mut matching: Vec<&Candidate> = state
        .account(&auth.account_id)?
        .candidates
        .iter()
        .rev()
        .filter(|c| c.is_us_only())
        .filter(|c| {
            email
                .as_deref()
                .is_none_or(|e| c.email().map(str::to_lowercase).as_deref() == Some(e))
        })
        .filter(|c| {
            full_name
                .as_ref()
                .is_none_or(|n| c.full_names().contains(n))
        })
        .filter(|c| custom_id.is_none_or(|id| c.str_field("custom_id") == Some(id)))
        .filter(|c| {
            adjudication.is_none_or(|a| match c.adjudication.as_deref() {
                Some(v) => v == a,
                None => a == "null",
            })
        })
        .filter(|c| {
            driver_license_number.is_none_or(|d| c.str_field("driver_license_number") == Some(d))
        })
        .filter(|c| {
            geo_id.is_none_or(|g| {
                c.fields
                    .get("geo_ids")
                    .and_then(Value::as_array)
                    .is_some_and(|ids| ids.iter().any(|i| i.as_str() == Some(g)))
            })
        })
        .filter(|c| created_after.is_none_or(|t| c.created_at > t))
        .filter(|c| created_before.is_none_or(|t| c.created_at < t))
        .collect();
    matching.sort_by_key(|item| std::cmp::Reverse(item.created_at));
    let items = page.window(&matching).iter().map(|c| c.to_json()).collect();
    Ok(axum::Json(list_response_counted(
        sim.base_url(),
        "/v1/candidates",
        &query,
        page,
        matching.len(),
        items,
    ))
    .into_response())
}

/// Validates the fields present in `body`. On create, `email` is required. The result
/// holds the normalized fields given; for an update, fields given as `null` or `""`
/// come back as `null` (cleared).
fn validate(body: &Map<String, Value>, creating: bool) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for field in STRING_FIELDS {
        let value = params::opt_string(body, field)?;
        match value {
            Some(value) => {
                let value = value.trim().to_string();
                check_string_field(field, &value)?;
                let value = match *field {
                    "driver_license_state" | "previous_driver_license_state" => {
                        value.to_ascii_uppercase()
                    }
                    _ => value,
                };
                out.insert((*field).into(), Value::String(value));
            }
            None if !creating && body.contains_key(*field) => {
                if *field == "email" {
                    return Err(ApiError::bad_request("email can't be blank"));
                }
                out.insert((*field).into(), Value::Null);
            }
            None => {}
        }
    }
    if creating && !out.contains_key("email") {
        return Err(ApiError::required("email"));
    }
    for field in ["no_middle_name", "copy_requested"] {
        if let Some(b) = params::opt_bool(body, field)? {
            out.insert(field.into(), Value::Bool(b));
        }
    }
    if let Some(geo_ids) = params::opt_string_array(body, "geo_ids")? {
        out.insert("geo_ids".into(), json!(geo_ids));
    }
    if let Some(metadata) = params::opt_flat_object(body, "metadata")? {
        if metadata.len() > 50 {
            return Err(ApiError::bad_request("metadata can have at most 50 keys"));
        }
        if metadata.keys().any(|k| k.chars().count() > 40) {
            return Err(ApiError::bad_request(
                "metadata keys must be 40 characters or less",
            ));
        }
        if metadata
            .values()
            .any(|v| v.as_str().is_some_and(|s| s.chars().count() > 500))
        {
            return Err(ApiError::bad_request(
                "metadata values must be 500 characters or less",
            ));
        }
        out.insert("metadata".into(), Value::Object(metadata));
    }
    if let Some(locations) = params::opt_work_locations(body)? {
        out.insert("work_locations".into(), locations);
    }
    match body.get("postal_address") {
        None | Some(Value::Null) => {}
        Some(Value::Object(address)) => {
            out.insert("postal_address".into(), Value::Object(address.clone()));
        }
        Some(_) => return Err(ApiError::bad_request("postal_address must be an object")),
    }
    if creating {
        check_middle_name(&out)?;
    }
    Ok(out)
}

fn check_middle_name(fields: &Map<String, Value>) -> Result<(), ApiError> {
    let no_middle = fields
        .get("no_middle_name")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if no_middle && fields.get("middle_name").is_some_and(|m| !m.is_null()) {
        return Err(ApiError::bad_request(
            "Candidate must not have a middle name when no_middle_name is set to true",
        ));
    }
    Ok(())
}

fn check_string_field(field: &str, value: &str) -> Result<(), ApiError> {
    let name_ok = |v: &str| {
        v.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '\'' | '.' | ','))
    };
    let name_error = |label: &str| {
        ApiError::bad_request(format!(
            "{label} must only contain letters, numbers, spaces, hyphens, apostrophes, periods, and commas"
        ))
    };
    match field {
        "email" if !valid_email(value) => {
            Err(ApiError::bad_request("Email is not a valid email address"))
        }
        "first_name" if !name_ok(value) => Err(name_error("First name")),
        "middle_name" if !name_ok(value) => Err(name_error("Middle name")),
        "last_name" if !name_ok(value) => Err(name_error("Last name")),
        "mother_maiden_name" if !name_ok(value) => Err(name_error("Mother maiden name")),
        "ssn" if !valid_ssn(value) => Err(ApiError::bad_request("SSN is invalid")),
        "zipcode" if !valid_zipcode(value) => Err(ApiError::bad_request("Zipcode is invalid")),
        "dob" if !valid_dob(value) => Err(ApiError::bad_request(
            "dob must be a date in the format YYYY-MM-DD",
        )),
        "phone" if !valid_phone(value) => {
            Err(ApiError::bad_request("Phone is not a valid phone number"))
        }
        "driver_license_state" | "previous_driver_license_state"
            if !(value.len() == 2 && value.bytes().all(|b| b.is_ascii_alphabetic())) =>
        {
            Err(ApiError::bad_request(format!(
                "{field} is not a valid US state"
            )))
        }
        _ => Ok(()),
    }
}

/// `local@domain.tld`, no spaces.
fn valid_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !value.chars().any(char::is_whitespace)
        && domain.contains('.')
        && domain.split('.').all(|part| !part.is_empty())
}

/// Checkr's SSN controls: exactly 9 digits (hyphens allowed as `XXX-XX-XXXX`), not
/// starting with 666 or 9, not one repeated digit, not `123456789`.
fn valid_ssn(value: &str) -> bool {
    let digits: String = value.chars().filter(|c| *c != '-').collect();
    let shape_ok = value.len() == 9
        || (value.len() == 11 && value.as_bytes()[3] == b'-' && value.as_bytes()[6] == b'-');
    if !shape_ok || digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let first = digits.as_bytes()[0];
    !(digits.starts_with("666")
        || first == b'9'
        || digits.bytes().all(|b| b == first)
        || digits == "123456789")
}

/// `12345` or `12345-6789`.
fn valid_zipcode(value: &str) -> bool {
    let b = value.as_bytes();
    match b.len() {
        5 => b.iter().all(u8::is_ascii_digit),
        10 => b[5] == b'-' && b[..5].iter().chain(&b[6..]).all(u8::is_ascii_digit),
        _ => false,
    }
}

fn valid_dob(value: &str) -> bool {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format).is_ok_and(|d| d.year() >= 1900)
}

fn valid_phone(value: &str) -> bool {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '+' | '(' | ')' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssn_rules() {
        assert!(valid_ssn("847-43-4645"));
        assert!(valid_ssn("847434645"));
        assert!(!valid_ssn("666-34-3768"));
        assert!(!valid_ssn("967-65-4325"));
        assert!(!valid_ssn("111-11-1111"));
        assert!(!valid_ssn("123-45-6789"));
        assert!(!valid_ssn("84743464"));
        assert!(!valid_ssn("84-7434-645"));
        assert!(!valid_ssn("abc-de-fghi"));
        assert_eq!(mask_ssn("847-43-2001"), "XXX-XX-2001");
    }

    #[test]
    fn emails_zipcodes_dobs() {
        assert!(valid_email("john.smith@gmail.com"));
        assert!(!valid_email("john.smith"));
        assert!(!valid_email("john@localhost"));
        assert!(!valid_email("jo hn@x.com"));
        assert!(!valid_email("@x.com"));
        assert!(valid_zipcode("90401"));
        assert!(valid_zipcode("90401-1234"));
        assert!(!valid_zipcode("9040"));
        assert!(valid_dob("1970-01-22"));
        assert!(!valid_dob("1970-13-22"));
        assert!(!valid_dob("22/01/1970"));
    }
}
