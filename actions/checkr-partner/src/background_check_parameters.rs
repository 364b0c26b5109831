//! `background-check-parameters`: for a service key, the input `trigger-background-check`
//! takes, as a list a form can be built from. The service key (a package's slug) is looked
//! up among the account's packages (`GET /v1/packages`, every page): Checkr's
//! `GET /v1/packages/{id}` takes the package's id, not its slug. `node` is listed (and
//! required) only when the connection's account has Account Hierarchy enabled.

use crate::background_check_services;
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
    let packages = background_check_services::all_packages()?;
    let package = find(packages, &service_key)?;
    Ok(parameters(package, checkr::hierarchy_enabled()))
}

/// The package whose slug is `service_key`, or an error naming the field.
pub fn find(packages: Vec<Package>, service_key: &str) -> Result<Package, ActionError> {
    packages
        .into_iter()
        .find(|package| package.slug.as_deref() == Some(service_key))
        .ok_or_else(|| {
            ActionError::new(format!(
                "Package not found: the account has no package with the service key \
                 `{service_key}` (see background-check-services)"
            ))
            .with_payload(serde_json::json!({
                "field": "service_key",
                "error": "Package not found",
            }))
        })
}

/// The parameters for ordering `package`.
pub fn parameters(package: Package, hierarchy: bool) -> Output {
    let slug = package.slug.unwrap_or_default();
    let mut parameters = vec![
        parameter(
            "package",
            "string",
            "Service key",
            &format!("The package to order: `{slug}`."),
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
    if hierarchy {
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
    Output {
        service_key: slug,
        service_name: package.name,
        parameters,
    }
}
