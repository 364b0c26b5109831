//! Invitations: create (`POST /v1/invitations`, 201), list (filters `candidate_id`,
//! `status`; paginated, newest first), retrieve (`include_deleted=true` to see a
//! canceled one) and cancel (`DELETE`, which sets `deleted_at` and makes the status
//! `expired`). A pending invitation turns `expired` when the simulator's clock passes
//! `expires_at` (created + 7 days). Completion is a test hook
//! ([`crate::Simulator::complete_invitation`]) that creates a pending report.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, list_response_counted};
use crate::params::{self, Query};
use crate::resources::reports::{self, Report};
use crate::state::{Sim, State as SimState, iso, iso_opt};

/// How long an invitation stays valid.
pub(crate) const LIFETIME: time::Duration = time::Duration::days(7);

/// An invitation.
#[derive(Debug, Clone)]
pub(crate) struct Invitation {
    pub(crate) id: String,
    pub(crate) candidate_id: String,
    pub(crate) package: String,
    pub(crate) node: Option<String>,
    pub(crate) work_locations: Option<Value>,
    pub(crate) tags: Vec<String>,
    pub(crate) invitation_url: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) completed_at: Option<OffsetDateTime>,
    pub(crate) deleted_at: Option<OffsetDateTime>,
    pub(crate) report_id: Option<String>,
}

impl Invitation {
    /// `pending`, `completed` or `expired` (canceled invitations are expired).
    pub(crate) fn status(&self, now: OffsetDateTime) -> &'static str {
        if self.completed_at.is_some() {
            "completed"
        } else if self.deleted_at.is_some() || now >= self.expires_at {
            "expired"
        } else {
            "pending"
        }
    }

    /// The invitation's JSON as of `now`.
    pub(crate) fn to_json(&self, now: OffsetDateTime) -> Value {
        let json = json!({
            "id": self.id,
            "object": "invitation",
            "uri": format!("/v1/invitations/{}", self.id),
            "invitation_url": self.invitation_url,
            "status": self.status(now),
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "completed_at": iso_opt(self.completed_at),
            "deleted_at": iso_opt(self.deleted_at),
            "package": self.package,
            "candidate_id": self.candidate_id,
            "report_id": self.report_id,
            "tags": self.tags,
            "archived": false,
        });
        super::omit_nulls(json, &["completed_at", "deleted_at", "report_id"])
    }

    fn is_us_only(&self) -> bool {
        match &self.work_locations {
            Some(Value::Array(locations)) => locations.iter().all(|l| {
                l.get("country")
                    .and_then(Value::as_str)
                    .is_none_or(|c| c == "US")
            }),
            _ => true,
        }
    }
}

/// The routes.
pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/v1/invitations", get(list).post(create))
        .route("/v1/invitations/{id}", get(show).delete(cancel))
}

async fn create(State(sim): State<Sim>, auth: Auth, headers: HeaderMap, body: Bytes) -> ApiResult {
    let body = params::parse_body(&headers, &body)?;
    let package_slug = params::req_string(&body, "package")?;
    let candidate_id = params::req_string(&body, "candidate_id")?;
    let node = params::opt_string(&body, "node")?;
    let work_locations = params::opt_work_locations(&body)?;
    let tags = params::opt_string_array(&body, "tags")?.unwrap_or_default();

    let mut state = sim.lock();
    let now = state.now_s();
    let account = state.account(&auth.account_id)?;
    if account.hierarchy_enabled && node.is_none() {
        return Err(ApiError::required("node"));
    }
    if account.require_work_locations && work_locations.is_none() {
        return Err(ApiError::required("work_locations"));
    }
    let package = account
        .package(&package_slug)
        .ok_or_else(|| ApiError::not_found("Package not found"))?
        .slug
        .clone();
    if !account.candidates.iter().any(|c| c.id == candidate_id) {
        return Err(ApiError::not_found("Candidate not found"));
    }
    let node = if account.hierarchy_enabled {
        node
    } else {
        None
    };
    if let Some(node) = &node {
        if account.node(node).is_none() {
            return Err(ApiError::not_found("Node not found"));
        }
        if !account.node_packages(node).contains(&package) {
            return Err(ApiError::bad_request(format!(
                "Package {package} is not available for node {node}"
            )));
        }
    }
    let uri_name = account.uri_name.clone();
    let invitation = Invitation {
        id: state.ids.hex(24),
        candidate_id,
        package,
        node,
        work_locations,
        tags,
        invitation_url: format!(
            "https://apply.checkr.com/invite/{uri_name}/{}",
            state.ids.hex(12)
        ),
        created_at: now,
        expires_at: now + LIFETIME,
        completed_at: None,
        deleted_at: None,
        report_id: None,
    };
    let rendered = invitation.to_json(now);
    state
        .account_mut(&auth.account_id)?
        .invitations
        .push(invitation);
    state.emit(&auth.account_id, "invitation.created", rendered.clone());
    Ok((StatusCode::CREATED, axum::Json(rendered)).into_response())
}

async fn show(
    State(sim): State<Sim>,
    auth: Auth,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let query = Query::parse(raw.as_deref());
    let include_deleted = params::opt_bool(&query_map(&query), "include_deleted")?.unwrap_or(false);
    let state = sim.lock();
    let now = state.now();
    let invitation = state
        .account(&auth.account_id)?
        .invitations
        .iter()
        .find(|i| i.id == id && (include_deleted || i.deleted_at.is_none()))
        .ok_or_else(|| ApiError::not_found("Invitation not found"))?;
    Ok(axum::Json(invitation.to_json(now)).into_response())
}

async fn cancel(State(sim): State<Sim>, auth: Auth, Path(id): Path<String>) -> ApiResult {
    let mut state = sim.lock();
    let now = state.now_s();
    let account = state.account_mut(&auth.account_id)?;
    let invitation = account
        .invitations
        .iter_mut()
        .find(|i| i.id == id && i.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found("Invitation not found"))?;
    if invitation.completed_at.is_some() {
        return Err(ApiError::bad_request(
            "Invitation has already been completed and cannot be canceled",
        ));
    }
    invitation.deleted_at = Some(now);
    let rendered = invitation.to_json(now);
    state.emit(&auth.account_id, "invitation.deleted", rendered.clone());
    Ok(axum::Json(rendered).into_response())
}

async fn list(State(sim): State<Sim>, auth: Auth, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let status = query.get("status");
    if let Some(status) = status
        && !matches!(status, "pending" | "completed" | "expired")
    {
        return Err(ApiError::bad_request(
            "status must be one of pending, completed, expired",
        ));
    }
    let candidate_id = query.get("candidate_id");
    let state = sim.lock();
    let now = state.now();
    let mut matching: Vec<&Invitation> = state
        .account(&auth.account_id)?
        .invitations
        .iter()
        .rev()
        .filter(|i| i.deleted_at.is_none() && i.is_us_only())
        .filter(|i| candidate_id.is_none_or(|c| i.candidate_id == c))
        .filter(|i| status.is_none_or(|s| i.status(now) == s))
        .collect();
    matching.sort_by_key(|item| std::cmp::Reverse(item.created_at));
    let items = page
        .window(&matching)
        .iter()
        .map(|i| i.to_json(now))
        .collect();
    Ok(axum::Json(list_response_counted(
        sim.base_url(),
        "/v1/invitations",
        &query,
        page,
        matching.len(),
        items,
    ))
    .into_response())
}

fn query_map(query: &Query) -> serde_json::Map<String, Value> {
    query
        .pairs()
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// Completes a pending invitation (in any account): sets `completed_at`, creates a
/// pending report for its candidate and package, and returns the report id. `None`
/// if there is no such invitation or it is not pending.
pub(crate) fn complete(state: &mut SimState, id: &str) -> Option<String> {
    let now = state.now_s();
    let account_id = state
        .accounts
        .values()
        .find(|a| a.invitations.iter().any(|i| i.id == id))?
        .id
        .clone();
    let report_id = state.ids.hex(24);
    let screening_ids = {
        let account = state.accounts.get(&account_id)?;
        let invitation = account.invitations.iter().find(|i| i.id == id)?;
        if invitation.status(now) != "pending" {
            return None;
        }
        let package = account.package(&invitation.package)?;
        reports::screening_ids(package, &mut state.ids)
    };
    let account = state.accounts.get_mut(&account_id)?;
    let invitation = account.invitations.iter_mut().find(|i| i.id == id)?;
    invitation.completed_at = Some(now);
    invitation.report_id = Some(report_id.clone());
    let invitation = invitation.clone();
    let segment_stamps = invitation
        .node
        .as_deref()
        .map(|n| {
            account
                .node_lineage(n)
                .iter()
                .map(|node| format!("{}|{}", node.tier, node.name))
                .collect()
        })
        .unwrap_or_default();
    let report = Report {
        id: report_id.clone(),
        candidate_id: invitation.candidate_id.clone(),
        package: invitation.package.clone(),
        created_at: now,
        completed_at: None,
        status: "pending".to_string(),
        result: None,
        assessment: None,
        source: "form".to_string(),
        tags: invitation.tags.clone(),
        work_locations: invitation
            .work_locations
            .clone()
            .unwrap_or_else(|| json!([])),
        segment_stamps,
        screening_ids,
    };
    if let Some(candidate) = account
        .candidates
        .iter_mut()
        .find(|c| c.id == invitation.candidate_id)
    {
        candidate.report_ids.push(report_id.clone());
    }
    let report_json = report.to_json();
    account.reports.push(report);
    let invitation_json = invitation.to_json(now);
    state.emit(&account_id, "invitation.completed", invitation_json);
    state.emit(&account_id, "report.created", report_json);
    Some(report_id)
}
