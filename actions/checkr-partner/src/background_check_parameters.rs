//! `background-check-parameters`: for a service key, the input `trigger-background-check`
//! takes, as a list a form can be built from. The service key is checked with
//! `GET /v1/packages/{slug}`; `node` is listed (and required) only when the connection's
//! account has Account Hierarchy enabled.

use crate::checkr;
use crate::models::Package;
use crate::validate;
use serde::{Deserialize, Serialize};
use terapi_sdk::schemars::{self, JsonSchema};
use terapi_sdk::{ActionError, InputErrors};

/// Which service.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The service key: a package slug from `background-check-services`.
    pub service_key: String,
}

/// One input parameter of `trigger-background-check`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Parameter {
    /// The input field's name.
    pub key: String,
    /// Its type: `string`, `string[]` or `object[]` (objects described in `description`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A label for a form.
    pub title: String,
    /// What to put there.
    pub description: String,
    /// Whether the trigger fails without it.
    pub required: bool,
}

/// The parameters.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// The service key asked about.
    pub service_key: String,
    /// The package's name.
    pub service_name: Option<String>,
    /// The input fields of `trigger-background-check`.
    pub parameters: Vec<Parameter>,
}

fn parameter(key: &str, kind: &str, title: &str, description: &str, required: bool) -> Parameter {
    Parameter {
        key: key.to_string(),
        kind: kind.to_string(),
        title: title.to_string(),
        description: description.to_string(),
        required,
    }
}

/// Lists the parameters for triggering the service.
pub fn run(input: Input) -> Result<Output, ActionError> {
    let service_key = input.service_key.trim().to_string();
    let mut errors = InputErrors::new();
    if !validate::is_identifier(&service_key) {
        errors.add(
            "service_key",
            "must be a package slug from background-check-services",
        );
    }
    errors.into_result()?;
    let package: Package =
        terapi_sdk::get(checkr::read(&checkr::path("packages", &service_key))?)?.json()?;
    let mut parameters = vec![
        parameter(
            "package",
            "string",
            "Service key",
            &format!("The package to order: `{}`.", package.slug),
            true,
        ),
        parameter(
            "candidate_id",
            "string",
            "Candidate ID",
            "Checkr's id of the candidate to check, from create-candidate.",
            true,
        ),
        parameter(
            "work_locations",
            "object[]",
            "Work locations",
            "Where the candidate will work: objects with `country` (ISO 3166-1 alpha-2, \
             required), `state` (two-letter code, required in the US) and `city`. Required \
             for candidates outside the US.",
            false,
        ),
        parameter("tags", "string[]", "Tags", "Tags for the report.", false),
    ];
    if checkr::hierarchy_enabled() {
        parameters.push(parameter(
            "node",
            "string",
            "Node",
            "custom_id of the hierarchy node ordering the check; it must be allowed to order \
             this package (see background-check-services).",
            true,
        ));
    }
    parameters.push(parameter(
        "idempotency_key",
        "string",
        "Idempotency key",
        "Optional key making the order idempotent for 24 hours; by default one is derived \
         from the order itself.",
        false,
    ));
    Ok(Output {
        service_key: package.slug,
        service_name: package.name,
        parameters,
    })
}
