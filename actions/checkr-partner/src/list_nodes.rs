//! `list-nodes`: `GET /v1/nodes`, every page: the account hierarchy's nodes. Accounts without
//! Account Hierarchy get Checkr's 403, reported as such.

use crate::checkr;
use crate::models::Node;
use serde::{Deserialize, Serialize};
use terapi_sdk::ActionError;
use terapi_sdk::schemars::{self, JsonSchema};

/// What to include.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Also return, for each node, the slugs of the packages it may order (its own and
    /// its ancestors').
    #[serde(default)]
    pub include_packages: bool,
}

/// The hierarchy.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// Every node, parents before children as Checkr orders them.
    pub nodes: Vec<Node>,
}

/// Every node of the account's hierarchy.
pub fn all_nodes(include_packages: bool) -> Result<Vec<Node>, ActionError> {
    let mut request = checkr::idempotent("/v1/nodes")?;
    if include_packages {
        request = request.param("include", "packages");
    }
    checkr::paginator()
        .pages::<Node>(request)
        .collect_up_to(None)
        .map(|collected| collected.items)
        .map_err(checkr::explain_hierarchy_error)
}

/// Lists the nodes.
pub fn run(input: Option<Input>) -> Result<Output, ActionError> {
    let input = input.unwrap_or_default();
    Ok(Output {
        nodes: all_nodes(input.include_packages)?,
    })
}
