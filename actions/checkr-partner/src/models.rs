//! Checkr's resources as the actions return them, and the input types several actions
//! share. Outputs keep every field Checkr sends: the ones the actions know are typed, the
//! rest land in `other`.
//!
//! The models are as tolerant as Checkr's OpenAPI description: a field the description
//! does not mark `required` is an `Option` (a response without it still parses), integers
//! are signed as the description's `integer` is, and enumerated values (statuses, results,
//! screening types) are kept as text, so a value Checkr adds later does not fail a whole
//! list.

use crate::validate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use terapi_sdk::InputErrors;
use terapi_sdk::schemars::{self, JsonSchema};

/// Where the candidate will work.
///
/// Checkr's description contradicts itself here: its `WorkLocation` schema requires
/// `state` everywhere, its prose requires it only for US candidates and requires `country`
/// for the others. Real Checkr follows the prose (international checks have no US state),
/// so `state` is required only when `country` is `US`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkLocation {
    /// Country, as an ISO 3166-1 alpha-2 code (`US`, `CA`, `GB`, ...): two letters, as
    /// Checkr's description requires.
    pub country: String,
    /// State or province. For the US a two-letter state code (`CA`), and required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// City, at most 255 characters (Checkr's limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
}

impl WorkLocation {
    /// Checks the location, recording problems under `field`; returns it normalized
    /// (codes upper-cased, blanks trimmed).
    pub fn check(&self, field: &str, errors: &mut InputErrors) -> WorkLocation {
        let country = self.country.trim().to_ascii_uppercase();
        if !validate::is_country_code(&country) {
            errors.add(
                format!("{field}.country"),
                "must be an ISO 3166-1 alpha-2 country code such as US",
            );
        }
        let state = self
            .state
            .as_deref()
            .map(str::trim)
            .filter(|state| !state.is_empty())
            .map(str::to_ascii_uppercase);
        if country == "US" {
            match &state {
                None => errors.add(format!("{field}.state"), "is required for US locations"),
                Some(state) if !validate::is_us_state(state) => errors.add(
                    format!("{field}.state"),
                    "must be a two-letter US state code such as CA",
                ),
                Some(_) => {}
            }
        }
        let city = self
            .city
            .as_deref()
            .map(str::trim)
            .filter(|city| !city.is_empty())
            .map(str::to_string);
        if city.as_ref().is_some_and(|city| city.chars().count() > 255) {
            errors.add(format!("{field}.city"), "must be at most 255 characters");
        }
        WorkLocation {
            country,
            state,
            city,
        }
    }
}

/// A Checkr candidate. The SSN comes back masked (`XXX-XX-4645`).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Candidate {
    /// Checkr's id for the candidate (always sent, although the description does not
    /// require it).
    pub id: Option<String>,
    /// Always `candidate`.
    pub object: Option<String>,
    /// The candidate's API path.
    pub uri: Option<String>,
    /// When the candidate was created (ISO 8601).
    pub created_at: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Middle name.
    pub middle_name: Option<String>,
    /// True when the candidate has no middle name.
    pub no_middle_name: Option<bool>,
    /// Last name.
    pub last_name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// ZIP code.
    pub zipcode: Option<String>,
    /// Date of birth, YYYY-MM-DD.
    pub dob: Option<String>,
    /// Social security number, masked but for its last four digits.
    pub ssn: Option<String>,
    /// Driver license number.
    pub driver_license_number: Option<String>,
    /// Driver license state.
    pub driver_license_state: Option<String>,
    /// The caller's own id for the candidate.
    pub custom_id: Option<String>,
    /// The candidate's reports.
    #[serde(default)]
    pub report_ids: Vec<String>,
    /// The candidate's geos.
    #[serde(default)]
    pub geo_ids: Vec<String>,
    /// The adjudication of the candidate's latest report: `engaged`,
    /// `pre_adverse_action`, `post_adverse_action` (kept as text).
    pub adjudication: Option<String>,
    /// Where the candidate works.
    pub work_locations: Option<Vec<Value>>,
    /// Every other field Checkr returned.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A Checkr invitation: the hosted flow in which a candidate completes a background check.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Invitation {
    /// Checkr's id for the invitation (always sent, although the description does not
    /// require it).
    pub id: Option<String>,
    /// Always `invitation`.
    pub object: Option<String>,
    /// The invitation's API path.
    pub uri: Option<String>,
    /// The link the candidate follows to complete the check.
    pub invitation_url: Option<String>,
    /// `pending`, `completed` or `expired` (canceled invitations are expired); kept as
    /// text.
    pub status: Option<String>,
    /// The candidate invited.
    pub candidate_id: Option<String>,
    /// The package (service key) ordered.
    pub package: Option<String>,
    /// When the invitation was created (ISO 8601).
    pub created_at: Option<String>,
    /// When the invitation expires unless completed (ISO 8601).
    pub expires_at: Option<String>,
    /// When the candidate completed it.
    pub completed_at: Option<String>,
    /// When it was canceled.
    pub deleted_at: Option<String>,
    /// The report created once the candidate completed the invitation.
    pub report_id: Option<String>,
    /// Tags for the report.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Every other field Checkr returned.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A package: a set of screenings Checkr runs together, ordered by its slug (the service
/// key).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Package {
    /// Checkr's id for the package.
    pub id: Option<String>,
    /// The service key: what `trigger-background-check` takes as `package`.
    pub slug: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Price in US cents (an `integer` in Checkr's description: signed).
    pub price: Option<i64>,
    /// The screenings the package runs.
    #[serde(default)]
    pub screenings: Vec<Screening>,
    /// The package's API path.
    pub uri: Option<String>,
    /// Checkr-hosted apply link for the package.
    pub apply_url: Option<String>,
    /// When the package was created (ISO 8601).
    pub created_at: Option<String>,
}

/// One screening of a package.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Screening {
    /// The screening type, e.g. `ssn_trace`, `motor_vehicle_report` (kept as text: a type
    /// Checkr adds later does not fail the list).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A variant of the type, e.g. `7years`.
    pub subtype: Option<String>,
}

/// A node of an account hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Node {
    /// The account's own unique id for the node: what `trigger-background-check` takes as
    /// `node`.
    pub custom_id: String,
    /// Display name.
    pub name: Option<String>,
    /// The level of the node, e.g. `region`.
    pub tier: Option<String>,
    /// `custom_id` of the parent node; none at the top.
    pub parent_custom_id: Option<String>,
    /// Slugs of the packages the node may order (present when asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<String>>,
}

/// Input naming one background check (an invitation).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationRef {
    /// The invitation's id (from `trigger-background-check`).
    pub id: String,
}

impl InvitationRef {
    /// The trimmed id, or `Invalid input provided` when it is not a Checkr id.
    pub fn checked_id(&self) -> Result<&str, terapi_sdk::ActionError> {
        let id = self.id.trim();
        let mut errors = InputErrors::new();
        if !validate::is_identifier(id) {
            errors.add("id", "must be a Checkr invitation id");
        }
        errors.into_result()?;
        Ok(id)
    }
}
