//! The records the Checkr syncs keep, and the Checkr resources they are made from.
//!
//! Checkr's responses are read tolerantly: only `id` is required, everything else is
//! optional (a missing or `null` list is empty), unknown fields are ignored. A record
//! keeps only the fields listed here, so that a field Checkr adds does not make every
//! record UPDATED.

use serde::{Deserialize, Deserializer, Serialize};
use terapi_sdk::schemars::{self, JsonSchema};

/// A background check: a Checkr invitation to complete a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BackgroundCheck {
    /// The invitation's id.
    pub id: String,
    /// The link the candidate follows to complete the check (Checkr's `invitation_url`).
    pub url: Option<String>,
    /// `pending`, `completed` or `expired`.
    pub status: Option<String>,
    /// The candidate invited.
    pub candidate_id: Option<String>,
    /// The package ordered (Checkr's `package`).
    pub service_key: Option<String>,
    /// When it was created (ISO 8601).
    pub created_at: Option<String>,
    /// When it expires unless completed (ISO 8601).
    pub expires_at: Option<String>,
    /// When the candidate completed it.
    pub completed_at: Option<String>,
    /// The report created once the candidate completed it.
    pub report_id: Option<String>,
}

/// A Checkr invitation, as `GET /v1/invitations` lists it.
#[derive(Debug, Deserialize)]
pub struct Invitation {
    /// Its id.
    pub id: String,
    /// The candidate's link.
    pub invitation_url: Option<String>,
    /// `pending`, `completed` or `expired`.
    pub status: Option<String>,
    /// The candidate invited.
    pub candidate_id: Option<String>,
    /// The package's slug.
    pub package: Option<String>,
    /// When it was created.
    pub created_at: Option<String>,
    /// When it expires.
    pub expires_at: Option<String>,
    /// When it was completed.
    pub completed_at: Option<String>,
    /// The report it produced.
    pub report_id: Option<String>,
}

impl From<Invitation> for BackgroundCheck {
    fn from(invitation: Invitation) -> Self {
        BackgroundCheck {
            id: invitation.id,
            url: invitation.invitation_url,
            status: invitation.status,
            candidate_id: invitation.candidate_id,
            service_key: invitation.package,
            created_at: invitation.created_at,
            expires_at: invitation.expires_at,
            completed_at: invitation.completed_at,
            report_id: invitation.report_id,
        }
    }
}

/// A Checkr candidate, as the `candidates` sync keeps it. The SSN and driver license are
/// left out: a local copy needs no more personal data than the application uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Candidate {
    /// Checkr's id for the candidate.
    pub id: String,
    /// When the candidate was created (ISO 8601).
    #[serde(default)]
    pub created_at: Option<String>,
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Middle name.
    #[serde(default)]
    pub middle_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// ZIP code.
    #[serde(default)]
    pub zipcode: Option<String>,
    /// The caller's own id for the candidate.
    #[serde(default)]
    pub custom_id: Option<String>,
    /// The adjudication of the candidate's latest report.
    #[serde(default)]
    pub adjudication: Option<String>,
    /// The candidate's reports.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub report_ids: Vec<String>,
    /// The candidate's geos.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub geo_ids: Vec<String>,
}

/// A Checkr report, as the `reports` sync keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Checkr's id for the report.
    pub id: String,
    /// `pending`, `complete`, `suspended`, `dispute` or `canceled`.
    #[serde(default)]
    pub status: Option<String>,
    /// `clear` or `consider` once complete.
    #[serde(default)]
    pub result: Option<String>,
    /// The customer's decision: `engaged`, `pre_adverse_action`, `post_adverse_action`.
    #[serde(default)]
    pub adjudication: Option<String>,
    /// Checkr Assess's verdict: `eligible`, `review` or `escalated`.
    #[serde(default)]
    pub assessment: Option<String>,
    /// The package the report runs.
    #[serde(default)]
    pub package: Option<String>,
    /// The candidate checked.
    #[serde(default)]
    pub candidate_id: Option<String>,
    /// When the report was created (ISO 8601).
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it completed.
    #[serde(default)]
    pub completed_at: Option<String>,
    /// Seconds from creation to completion.
    #[serde(default)]
    pub turnaround_time: Option<u64>,
    /// When Checkr expects it to complete.
    #[serde(default)]
    pub estimated_completion_time: Option<String>,
    /// Tags.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<String>,
}

impl Report {
    /// Whether the report can no longer change status: `complete` or `canceled`.
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_deref(), Some("complete" | "canceled"))
    }
}

/// A list that may come as `null`.
fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invitations_become_background_checks() {
        let invitation: Invitation = serde_json::from_value(json!({
            "id": "inv1",
            "object": "invitation",
            "invitation_url": "https://apply.checkr.com/invite/acme/abc",
            "status": "pending",
            "candidate_id": "cand1",
            "package": "tasker_standard",
            "created_at": "2024-01-01T00:00:00Z",
            "expires_at": "2024-01-08T00:00:00Z",
            "completed_at": null,
            "tags": ["x"],
        }))
        .expect("parses");
        let check = BackgroundCheck::from(invitation);
        assert_eq!(
            check.url.as_deref(),
            Some("https://apply.checkr.com/invite/acme/abc")
        );
        assert_eq!(check.service_key.as_deref(), Some("tasker_standard"));
        assert_eq!(check.report_id, None);
        let record = serde_json::to_value(&check).expect("serializes");
        assert_eq!(record["id"], "inv1");
        assert_eq!(record["status"], "pending");
    }

    #[test]
    fn candidates_and_reports_parse_tolerantly() {
        let candidate: Candidate = serde_json::from_value(json!({
            "id": "c1",
            "report_ids": null,
            "ssn": "XXX-XX-1234",
            "email": "a@b.co",
        }))
        .expect("parses");
        assert!(candidate.report_ids.is_empty());
        let record = serde_json::to_value(&candidate).expect("serializes");
        assert!(record.get("ssn").is_none(), "no SSN in the local copy");

        let report: Report =
            serde_json::from_value(json!({ "id": "r1", "status": "pending" })).expect("parses");
        assert!(!report.is_final());
        for (status, is_final) in [
            ("complete", true),
            ("canceled", true),
            ("suspended", false),
            ("dispute", false),
        ] {
            let report = Report {
                status: Some(status.into()),
                ..report.clone()
            };
            assert_eq!(report.is_final(), is_final, "{status}");
        }
        assert!(serde_json::from_value::<Report>(json!({ "status": "pending" })).is_err());
    }

    #[test]
    fn models_have_string_ids() {
        for (name, schema) in [
            ("BackgroundCheck", schemars::schema_for!(BackgroundCheck)),
            ("Candidate", schemars::schema_for!(Candidate)),
            ("Report", schemars::schema_for!(Report)),
        ] {
            let schema = schema.as_value();
            assert_eq!(schema["title"], name);
            assert_eq!(schema["properties"]["id"]["type"], "string", "{name}");
            assert!(
                schema["required"]
                    .as_array()
                    .is_some_and(|r| r.contains(&json!("id"))),
                "{name}"
            );
        }
    }
}
