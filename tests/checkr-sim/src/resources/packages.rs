//! Packages: `GET /v1/packages` (paginated) and `GET /v1/packages/{slug_or_id}`.
//! Every account has Checkr's four test packages.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, list_response};
use crate::params::Query;
use crate::state::{IdGen, Sim, iso};

/// A package.
#[derive(Debug, Clone)]
pub(crate) struct Package {
    pub(crate) id: String,
    pub(crate) slug: String,
    pub(crate) name: String,
    /// Price in USD cents.
    pub(crate) price: u32,
    /// `(type, subtype)`.
    pub(crate) screenings: Vec<(String, Option<String>)>,
    pub(crate) apply_url: String,
    pub(crate) created_at: OffsetDateTime,
}

impl Package {
    /// The package's JSON.
    pub(crate) fn to_json(&self) -> Value {
        let screenings: Vec<Value> = self
            .screenings
            .iter()
            .map(|(kind, subtype)| json!({ "type": kind, "subtype": subtype }))
            .collect();
        json!({
            "id": self.id,
            "object": "package",
            "uri": format!("/v1/packages/{}", self.id),
            "apply_url": self.apply_url,
            "created_at": iso(self.created_at),
            "name": self.name,
            "slug": self.slug,
            "price": self.price,
            "screenings": screenings,
        })
    }

    /// Whether the package has a screening of `kind`.
    pub(crate) fn has(&self, kind: &str) -> bool {
        self.screenings.iter().any(|(k, _)| k == kind)
    }
}

/// Checkr's four test packages, with realistic screenings and prices.
pub(crate) fn default_packages(
    ids: &mut IdGen,
    uri_name: &str,
    created_at: OffsetDateTime,
) -> Vec<Package> {
    let basic: &[(&str, Option<&str>)] = &[
        ("ssn_trace", None),
        ("sex_offender_search", None),
        ("global_watchlist_search", None),
        ("national_criminal_search", Some("standard")),
    ];
    let county: (&str, Option<&str>) = ("county_criminal_search", Some("7years"));
    let mvr: (&str, Option<&str>) = ("motor_vehicle_report", None);
    type Screening<'a> = (&'a str, Option<&'a str>);
    let specs: Vec<(&str, &str, u32, Vec<Screening>)> = vec![
        ("tasker_standard", "Tasker Standard", 2999, basic.to_vec()),
        (
            "tasker_pro",
            "Tasker Pro",
            5499,
            [basic, &[county]].concat(),
        ),
        (
            "driver_standard",
            "Driver Standard",
            3999,
            [basic, &[mvr]].concat(),
        ),
        (
            "driver_pro",
            "Driver Pro",
            7999,
            [basic, &[county, mvr]].concat(),
        ),
    ];
    specs
        .into_iter()
        .map(|(slug, name, price, screenings)| Package {
            id: ids.hex(24),
            slug: slug.to_string(),
            name: name.to_string(),
            price,
            screenings: screenings
                .into_iter()
                .map(|(k, s)| (k.to_string(), s.map(str::to_string)))
                .collect(),
            apply_url: format!("https://apply.checkr.com/apply/{uri_name}/{}", ids.hex(12)),
            created_at,
        })
        .collect()
}

/// The routes.
pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/v1/packages", get(list))
        .route("/v1/packages/{id}", get(show))
}

async fn list(State(sim): State<Sim>, auth: Auth, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let items: Vec<Value> = {
        let state = sim.lock();
        state
            .account(&auth.account_id)?
            .packages
            .iter()
            .map(Package::to_json)
            .collect()
    };
    Ok(axum::Json(list_response(
        sim.base_url(),
        "/v1/packages",
        &query,
        page,
        items,
    ))
    .into_response())
}

async fn show(State(sim): State<Sim>, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let state = sim.lock();
    let package = state
        .account(&auth.account_id)?
        .package(&id)
        .ok_or_else(|| ApiError::not_found("Package not found"))?;
    Ok(axum::Json(package.to_json()).into_response())
}
