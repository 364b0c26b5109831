//! `background-check-services`: the packages the account can order, every page of
//! `GET /v1/packages`. When the connection's account has Account Hierarchy enabled, also
//! every page of `GET /v1/nodes?include=packages`: each package is then listed once per node
//! that may order it, with that node's `custom_id` (which `trigger-background-check` needs).
//! If no node lists any package, the account's packages are returned without nodes.
//!
//! Checkr's description requires none of a package's fields: a package without a `slug`
//! is still listed (with `slug: null`), since it cannot be ordered by key but is still one
//! of the account's packages.

use crate::checkr;
use crate::list_nodes;
use crate::models::{Node, Package, Screening};
use serde::Serialize;
use terapi_sdk::schemars::{self, JsonSchema};
use terapi_sdk::{ActionError, NoInput};

/// A service: a package, and the node that orders it when the account has a hierarchy.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Service {
    /// The service key: the package's slug, `trigger-background-check`'s `package`.
    pub slug: Option<String>,
    /// Checkr's id for the package.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Price in US cents.
    pub price: Option<i64>,
    /// The screenings the package runs.
    pub screenings: Vec<Screening>,
    /// The package's API path.
    pub uri: Option<String>,
    /// Checkr-hosted apply link for the package.
    pub apply_url: Option<String>,
    /// `custom_id` of the node this entry is for (hierarchy accounts only).
    pub node: Option<String>,
}

impl Service {
    fn new(package: Package, node: Option<String>) -> Self {
        Service {
            slug: package.slug,
            id: package.id,
            name: package.name,
            price: package.price,
            screenings: package.screenings,
            uri: package.uri,
            apply_url: package.apply_url,
            node,
        }
    }
}

/// The services.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// Every package, or every (node, package) pair on hierarchy accounts.
    pub services: Vec<Service>,
}

/// Every package of the account (every page of `GET /v1/packages`).
pub fn all_packages() -> Result<Vec<Package>, ActionError> {
    Ok(checkr::paginator()
        .pages::<Package>(checkr::idempotent("/v1/packages")?)
        .collect_up_to(None)?
        .items)
}

/// Lists the services the account can order.
pub fn run(_input: NoInput) -> Result<Output, ActionError> {
    let packages = all_packages()?;
    let nodes = if checkr::hierarchy_enabled() {
        Some(list_nodes::all_nodes(true)?)
    } else {
        None
    };
    Ok(Output {
        services: services(packages, nodes),
    })
}

/// The services: each package, or with `nodes` (hierarchy accounts) each package once per
/// node that lists it.
pub fn services(packages: Vec<Package>, nodes: Option<Vec<Node>>) -> Vec<Service> {
    let Some(nodes) = nodes else {
        return packages
            .into_iter()
            .map(|package| Service::new(package, None))
            .collect();
    };
    let mut services = Vec::new();
    for node in nodes {
        for slug in node.packages.as_deref().unwrap_or_default() {
            let package = packages
                .iter()
                .find(|package| package.slug.as_deref() == Some(slug.as_str()))
                .cloned()
                .unwrap_or_else(|| {
                    // Listed on the node but not among the account's packages: keep what is
                    // known rather than hide an orderable service.
                    Package {
                        id: None,
                        slug: Some(slug.clone()),
                        name: None,
                        price: None,
                        screenings: Vec::new(),
                        uri: None,
                        apply_url: None,
                        created_at: None,
                    }
                });
            services.push(Service::new(package, Some(node.custom_id.clone())));
        }
    }
    if services.is_empty() {
        services = packages
            .into_iter()
            .map(|package| Service::new(package, None))
            .collect();
    }
    services
}
