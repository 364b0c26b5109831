//! `get-account`: `GET /v1/account`.

use crate::checkr;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use terapi_sdk::schemars::{self, JsonSchema};
use terapi_sdk::{ActionError, NoInput};

/// A Checkr account. Fields Checkr adds later are kept in `other`. Checkr's description
/// requires none of the fields, so every one is optional.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    /// Checkr's id for the account.
    pub id: Option<String>,
    /// Always `account`.
    pub object: Option<String>,
    /// The account's API path.
    pub uri: Option<String>,
    /// The account's name.
    pub name: Option<String>,
    /// When the account was created (ISO-8601).
    pub created_at: Option<String>,
    /// Whether Checkr has credentialed the account.
    pub authorized: Option<bool>,
    /// Whether the account may order background checks through the API.
    pub api_authorized: Option<bool>,
    /// employment, business, insurance or tenant (kept as text).
    pub purpose: Option<String>,
    /// The company behind the account.
    pub company: Option<Value>,
    /// Every other field Checkr returned.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Returns the account the connection's token belongs to.
pub fn run(_input: NoInput) -> Result<Account, ActionError> {
    let request = checkr::request("/v1/account")?;
    terapi_sdk::get(request)?.json()
}
