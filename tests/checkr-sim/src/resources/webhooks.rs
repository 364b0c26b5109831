//! Webhook subscriptions: `POST /v1/webhooks` (201), `GET /v1/webhooks`
//! (paginated), `GET /v1/webhooks/{id}`, `DELETE /v1/webhooks/{id}`. The simulator
//! delivers the events of the subscription's account to it (see [`crate::delivery`]),
//! signed with the key of the token that registered it. An account may have at most
//! [`MAX_WEBHOOKS`] subscriptions, as at Checkr.

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
use crate::pagination::{Page, list_response};
use crate::params::{self, Query};
use crate::state::{Sim, iso, iso_opt};

/// A webhook subscription.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub(crate) id: String,
    pub(crate) account_id: String,
    pub(crate) webhook_url: String,
    pub(crate) include_object: bool,
    pub(crate) live: bool,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) deleted_at: Option<OffsetDateTime>,
    /// The key deliveries are signed with: the client secret of the partner application
    /// that issued the registering token, or else that token (the API key) itself.
    pub(crate) signing_key: Vec<u8>,
}

/// How many live subscriptions an account may have.
pub(crate) const MAX_WEBHOOKS: usize = 2;

impl Webhook {
    /// The webhook's JSON.
    pub(crate) fn to_json(&self) -> Value {
        let json = json!({
            "id": self.id,
            "object": "webhook",
            "uri": format!("/v1/webhooks/{}", self.id),
            "account_id": self.account_id,
            "application_id": null,
            "include_object": self.include_object,
            "live": self.live,
            "webhook_url": self.webhook_url,
            "created_at": iso(self.created_at),
            "deleted_at": iso_opt(self.deleted_at),
        });
        super::omit_nulls(json, &["deleted_at"])
    }
}

/// The routes.
pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/v1/webhooks", get(list).post(create))
        .route("/v1/webhooks/{id}", get(show).delete(remove))
}

/// https anywhere, or http to a loopback host (the simulator's own tests).
fn acceptable_url(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else {
        return false;
    };
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => crate::oauth::is_loopback(&url),
        _ => false,
    }
}

async fn create(State(sim): State<Sim>, auth: Auth, headers: HeaderMap, body: Bytes) -> ApiResult {
    let body = params::parse_body(&headers, &body)?;
    let webhook_url = params::opt_string(&body, "webhook_url")?
        .ok_or_else(|| ApiError::bad_request("webhook_url is missing"))?;
    if !acceptable_url(&webhook_url) {
        return Err(ApiError::bad_request(
            "Url is not valid. Please use a publicly available host and the HTTPS or SNS protocol.",
        ));
    }
    let include_object = params::opt_bool(&body, "include_object")?.unwrap_or(false);
    let live = params::opt_bool(&body, "live")?.unwrap_or(false);
    let mut state = sim.lock();
    let now = state.now_s();
    let id = state.ids.hex(24);
    let signing_key = state
        .tokens
        .get(&auth.token)
        .and_then(|t| t.client_id.as_deref())
        .and_then(|client_id| state.oauth_apps.iter().find(|a| a.client_id == client_id))
        .map(|app| app.client_secret.as_bytes().to_vec())
        .unwrap_or_else(|| auth.token.as_bytes().to_vec());
    let account = state.account_mut(&auth.account_id)?;
    if account
        .webhooks
        .iter()
        .any(|w| w.deleted_at.is_none() && w.webhook_url == webhook_url && w.live == live)
    {
        return Err(ApiError::bad_request("Url has already been taken"));
    }
    if account
        .webhooks
        .iter()
        .filter(|w| w.deleted_at.is_none())
        .count()
        >= MAX_WEBHOOKS
    {
        return Err(ApiError::bad_request("Allowed webhook API limit exceeded"));
    }
    let webhook = Webhook {
        id,
        account_id: auth.account_id.clone(),
        webhook_url,
        include_object,
        live,
        created_at: now,
        deleted_at: None,
        signing_key,
    };
    let rendered = webhook.to_json();
    account.webhooks.push(webhook);
    Ok((StatusCode::CREATED, axum::Json(rendered)).into_response())
}

async fn list(State(sim): State<Sim>, auth: Auth, RawQuery(raw): RawQuery) -> ApiResult {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let state = sim.lock();
    let items = state
        .account(&auth.account_id)?
        .webhooks
        .iter()
        .filter(|w| w.deleted_at.is_none())
        .map(Webhook::to_json)
        .collect();
    Ok(axum::Json(list_response(
        sim.base_url(),
        "/v1/webhooks",
        &query,
        page,
        items,
    ))
    .into_response())
}

async fn show(State(sim): State<Sim>, auth: Auth, Path(id): Path<String>) -> ApiResult {
    let state = sim.lock();
    let webhook = state
        .account(&auth.account_id)?
        .webhooks
        .iter()
        .find(|w| w.id == id && w.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found("Webhook not found"))?;
    Ok(axum::Json(webhook.to_json()).into_response())
}

async fn remove(State(sim): State<Sim>, auth: Auth, Path(id): Path<String>) -> ApiResult {
    let mut state = sim.lock();
    let now = state.now_s();
    let webhook = state
        .account_mut(&auth.account_id)?
        .webhooks
        .iter_mut()
        .find(|w| w.id == id && w.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found("Webhook not found"))?;
    webhook.deleted_at = Some(now);
    Ok(axum::Json(json!({
        "id": webhook.id,
        "object": "webhook",
        "uri": format!("/v1/webhooks/{}", webhook.id),
        "account_id": webhook.account_id,
    }))
    .into_response())
}
