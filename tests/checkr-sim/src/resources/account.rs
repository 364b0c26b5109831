//! `GET /v1/account`: the authenticated token's account.

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::error::ApiResult;
use crate::state::{Account, Sim, iso};

/// Screenings every simulated account may order.
const AVAILABLE_SCREENINGS: &[&str] = &[
    "county_civil_search",
    "county_criminal_search",
    "education_verification",
    "employment_verification",
    "federal_civil_search",
    "federal_criminal_search",
    "global_watchlist_search",
    "motor_vehicle_report",
    "municipal_criminal_search",
    "national_criminal_search",
    "sex_offender_search",
    "ssn_trace",
    "state_criminal_search",
];

/// The account's JSON.
pub(crate) fn to_json(account: &Account) -> Value {
    let domain = format!("{}.example.com", account.uri_name);
    json!({
        "id": account.id,
        "object": "account",
        "uri": format!("/v1/accounts/{}", account.id),
        "uri_name": account.uri_name,
        "name": account.name,
        "created_at": iso(account.created_at),
        "authorized": true,
        "api_authorized": true,
        "purpose": account.purpose,
        "available_screenings": AVAILABLE_SCREENINGS,
        "company": {
            "name": account.name,
            "dba_name": account.name,
            "street": "123 Main St",
            "city": "San Francisco",
            "state": "CA",
            "zipcode": "94105",
            "phone": "415-555-0100",
            "website": format!("https://{domain}"),
            "industry": "56-13",
            "incorporation_state": "DE",
            "incorporation_type": "corporation",
        },
        "adverse_action_email": format!("adverse-action@{domain}"),
        "billing_email": format!("billing@{domain}"),
        "compliance_contact_email": format!("compliance@{domain}"),
        "technical_contact_email": format!("engineering@{domain}"),
        "support_email": format!("support@{domain}"),
        "support_phone": "415-555-0188",
        "default_compliance_city": "San Francisco",
        "default_compliance_state": "CA",
        "geos_required": false,
        "segmentation_enabled": account.hierarchy_enabled,
    })
}

/// The routes.
pub(crate) fn routes() -> Router<Sim> {
    Router::new().route("/v1/account", get(show))
}

async fn show(State(sim): State<Sim>, auth: Auth) -> ApiResult {
    let state = sim.lock();
    Ok(axum::Json(to_json(state.account(&auth.account_id)?)).into_response())
}
