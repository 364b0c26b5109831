//! Account hierarchy nodes: `GET /v1/nodes` (`include=packages`, `order_by`,
//! `order`, paginated) and `GET /v1/nodes/{custom_id}`. Accounts without hierarchy
//! get 403 `"Sorry, your account is not enabled for Hierarchy"`.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::config::NodeSeed;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, list_response};
use crate::params::Query;
use crate::state::{Account, Sim};

const NOT_ENABLED: &str = "Sorry, your account is not enabled for Hierarchy";

/// The routes.
pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/v1/nodes", get(list))
        .route("/v1/nodes/{custom_id}", get(show))
}

fn node_json(account: &Account, node: &NodeSeed, include_packages: bool) -> Value {
    let mut out = json!({
        "name": node.name,
        "custom_id": node.custom_id,
        "tier": node.tier,
        "parent_custom_id": node.parent_custom_id,
    });
    if include_packages && let Value::Object(map) = &mut out {
        map.insert(
            "packages".into(),
            json!(account.node_packages(&node.custom_id)),
        );
    }
    super::omit_nulls(out, &[])
}

fn includes_packages(query: &Query) -> Result<bool, ApiError> {
    match query.get("include") {
        None => Ok(false),
        Some(include) => {
            let mut packages = false;
            for part in include.split(',').map(str::trim) {
                match part {
                    "packages" => packages = true,
                    "" => {}
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "include has an unknown value: {part}"
                        )));
                    }
                }
            }
            Ok(packages)
        }
    }
}

async fn list(State(sim): State<Sim>, auth: Auth, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Query::parse(raw.as_deref());
    let state = sim.lock();
    let account = state.account(&auth.account_id)?;
    if !account.hierarchy_enabled {
        return Err(ApiError::forbidden(NOT_ENABLED));
    }
    let page = Page::from_query(&query)?;
    let include_packages = includes_packages(&query)?;
    let mut nodes: Vec<&NodeSeed> = account.nodes.iter().collect();
    match query.get("order_by") {
        None | Some("created_at") => {}
        Some("custom_id") => nodes.sort_by(|a, b| a.custom_id.cmp(&b.custom_id)),
        Some(_) => {
            return Err(ApiError::bad_request(
                "order_by must be custom_id or created_at",
            ));
        }
    }
    match query.get("order") {
        None | Some("asc") => {}
        Some("desc") => nodes.reverse(),
        Some(_) => return Err(ApiError::bad_request("order must be asc or desc")),
    }
    let items = nodes
        .into_iter()
        .map(|n| node_json(account, n, include_packages))
        .collect();
    Ok(axum::Json(list_response(
        sim.base_url(),
        "/v1/nodes",
        &query,
        page,
        items,
    ))
    .into_response())
}

async fn show(
    State(sim): State<Sim>,
    auth: Auth,
    Path(custom_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let query = Query::parse(raw.as_deref());
    let state = sim.lock();
    let account = state.account(&auth.account_id)?;
    if !account.hierarchy_enabled {
        return Err(ApiError::forbidden(NOT_ENABLED));
    }
    let include_packages = includes_packages(&query)?;
    let node = account
        .node(&custom_id)
        .ok_or_else(|| ApiError::not_found("Node not found"))?;
    Ok(axum::Json(node_json(account, node, include_packages)).into_response())
}
