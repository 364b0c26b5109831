//! `create-candidate`: `POST /v1/candidates` (201).
//!
//! Only `email` is strictly required: with Checkr's hosted flow (an invitation from
//! `trigger-background-check`) the candidate fills in the rest. Whatever is given is checked
//! before anything is sent, and every problem is reported at once.
//!
//! What is sent is what Checkr's published description accepts: names only in the
//! characters its pattern allows (a last name at least two of them), an `email`-format
//! address, a `date` for `dob`, a five-digit ZIP code (a ZIP+4 is cut to its first five
//! digits), and work locations whose `state` is present for the US (the description's
//! schema wants it everywhere, its prose and Checkr only in the US: see
//! [`WorkLocation`]).

use crate::checkr;
use crate::models::{Candidate, WorkLocation};
use crate::validate;
use serde::{Deserialize, Serialize};
use terapi_sdk::schemars::{self, JsonSchema};
use terapi_sdk::{ActionError, InputErrors};

/// The candidate to create. Values are never echoed in errors or logs.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Email address; Checkr sends invitations there. Required.
    #[schemars(email)]
    pub email: String,
    /// First name: letters (Latin-1: `A-Z`, `a-z`, `À`-`ÿ` but `×` and `÷`), digits,
    /// spaces, hyphens, apostrophes, periods and commas — Checkr's published pattern.
    #[schemars(regex(pattern = r"^[a-zA-Z0-9ªµºÀ-ÖØ-öø-ÿ\-'., ]*$"))]
    pub first_name: Option<String>,
    /// Middle name, in the characters `first_name` allows. Give either this or
    /// `no_middle_name: true` when giving a name.
    #[schemars(regex(pattern = r"^[a-zA-Z0-9ªµºÀ-ÖØ-öø-ÿ\-'., ]*$"))]
    pub middle_name: Option<String>,
    /// `true` when the candidate has no middle name (then `middle_name` must be absent).
    pub no_middle_name: Option<bool>,
    /// Last name, in the characters `first_name` allows and at least two of them (Checkr's
    /// pattern).
    #[schemars(regex(pattern = r"^[a-zA-Z0-9ªµºÀ-ÖØ-öø-ÿ\-'., ]*$"))]
    pub last_name: Option<String>,
    /// Phone number, 10 to 15 digits.
    pub phone: Option<String>,
    /// US ZIP code, `12345` or `12345-6789`. Checkr takes the five-digit code, so a ZIP+4
    /// is sent as its first five digits.
    pub zipcode: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub dob: Option<String>,
    /// Social security number, `XXX-XX-XXXX` or nine digits. Never logged.
    pub ssn: Option<String>,
    /// Driver license number (give `driver_license_state` with it).
    pub driver_license_number: Option<String>,
    /// Two-letter US state that issued the driver license.
    pub driver_license_state: Option<String>,
    /// Your own id for the candidate; `list-candidates` can filter on it.
    pub custom_id: Option<String>,
    /// Where the candidate will work. Checkr requires it for candidates outside the US.
    pub work_location: Option<WorkLocation>,
    /// `Idempotency-Key` for the create. By default one is derived from the connection and
    /// the candidate's data, so repeating the same create within 24 hours returns the first
    /// candidate instead of a duplicate; give your own to control that.
    pub idempotency_key: Option<String>,
}

/// What is sent to Checkr: the checked, normalized input.
#[derive(Serialize)]
pub(crate) struct Body {
    email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    middle_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    no_middle_name: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zipcode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dob: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    driver_license_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    driver_license_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    work_locations: Option<Vec<WorkLocation>>,
}

/// Trims a text field; blank counts as absent.
fn text(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_string)
}

/// Checks the input and builds the request body, or reports every problem.
pub(crate) fn check(input: &Input) -> Result<Body, ActionError> {
    let mut errors = InputErrors::new();

    let email = input.email.trim().to_string();
    if !validate::is_email(&email) {
        errors.add("email", "must be an email address such as jane@example.com");
    }

    let first_name = text(&input.first_name);
    let middle_name = text(&input.middle_name);
    let last_name = text(&input.last_name);
    for (field, value, min) in [
        ("first_name", &first_name, 1),
        ("middle_name", &middle_name, 1),
        ("last_name", &last_name, 2),
    ] {
        if value
            .as_deref()
            .is_some_and(|name| !validate::is_name(name))
        {
            errors.add(
                field,
                "may only contain letters (A-Z and Latin-1 letters such as é), numbers, spaces, \
                 hyphens, apostrophes, periods and commas, and at least one letter",
            );
        } else if value
            .as_deref()
            .is_some_and(|name| name.chars().count() < min)
        {
            errors.add(field, "must be at least 2 characters long");
        }
    }
    let no_middle_name = input.no_middle_name.unwrap_or(false);
    let named = first_name.is_some() || last_name.is_some();
    match (&middle_name, no_middle_name) {
        (Some(_), true) => errors.add(
            "no_middle_name",
            "must not be true when middle_name is given: give one or the other",
        ),
        (None, false) if named || input.no_middle_name.is_some() => errors.add(
            "middle_name",
            "is required unless no_middle_name is true: give one or the other",
        ),
        _ => {}
    }

    let dob = text(&input.dob);
    if let Some(dob) = &dob {
        match validate::parse_date(dob) {
            None => errors.add(
                "dob",
                "must be a date written YYYY-MM-DD, such as 1990-04-27",
            ),
            Some((year, month, day)) => {
                let born = validate::days_from_civil(year, month, day);
                if year < 1900 {
                    errors.add("dob", "must be in 1900 or later");
                } else if validate::today().is_some_and(|today| born > today) {
                    errors.add("dob", "must not be in the future");
                }
            }
        }
    }

    let ssn = text(&input.ssn);
    if ssn.as_deref().is_some_and(|ssn| !validate::is_ssn(ssn)) {
        errors.add(
            "ssn",
            "must be a valid social security number: nine digits, as XXX-XX-XXXX or XXXXXXXXX",
        );
    }
    let zipcode = text(&input.zipcode);
    if zipcode
        .as_deref()
        .is_some_and(|zip| !validate::is_zipcode(zip))
    {
        errors.add("zipcode", "must be a US ZIP code: 12345 or 12345-6789");
    }
    // Checkr's description: "Candidate's 5-digit zip code".
    let zipcode = zipcode.map(|zip| zip.chars().take(5).collect::<String>());
    let phone = text(&input.phone);
    if phone
        .as_deref()
        .is_some_and(|phone| !validate::is_phone(phone))
    {
        errors.add(
            "phone",
            "must be a phone number of 10 to 15 digits (+, spaces, dots, hyphens and parentheses allowed)",
        );
    }

    let driver_license_number = text(&input.driver_license_number);
    let driver_license_state = text(&input.driver_license_state).map(|s| s.to_ascii_uppercase());
    if driver_license_state
        .as_deref()
        .is_some_and(|state| !validate::is_us_state(state))
    {
        errors.add(
            "driver_license_state",
            "must be a two-letter US state code such as CA",
        );
    }
    match (&driver_license_number, &driver_license_state) {
        (Some(_), None) => errors.add(
            "driver_license_state",
            "is required when driver_license_number is given",
        ),
        (None, Some(_)) => errors.add(
            "driver_license_number",
            "is required when driver_license_state is given",
        ),
        _ => {}
    }

    let custom_id = text(&input.custom_id);
    if custom_id
        .as_deref()
        .is_some_and(|id| !validate::is_identifier(id))
    {
        errors.add(
            "custom_id",
            "must be at most 255 characters without control characters",
        );
    }
    let work_location = input
        .work_location
        .as_ref()
        .map(|location| location.check("work_location", &mut errors));
    validate::check_idempotency_key(input.idempotency_key.as_deref(), &mut errors);
    errors.into_result()?;

    Ok(Body {
        email,
        first_name,
        middle_name,
        no_middle_name: input.no_middle_name,
        last_name,
        phone,
        zipcode,
        dob,
        ssn,
        driver_license_number,
        driver_license_state,
        custom_id,
        work_locations: work_location.map(|location| vec![location]),
    })
}

/// Creates the candidate and returns it as Checkr stored it (SSN masked).
pub fn run(input: Input) -> Result<Candidate, ActionError> {
    let body = check(&input)?;
    let key = checkr::idempotency_key("create-candidate", &body, input.idempotency_key.as_deref())?;
    let request = checkr::request("/v1/candidates")?
        .header("Idempotency-Key", key)
        .retries(checkr::RETRIES)
        .json(&body)?;
    terapi_sdk::post(request)?.json()
}
