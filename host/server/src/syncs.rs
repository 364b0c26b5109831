//! `POST /sync/trigger`, `POST /sync/start`, `POST /sync/pause`, `GET /sync/status`,
//! `PUT /sync/update-connection-frequency`, shaped like Nango's.
//!
//! Bodies are read field by field so that every mistake gets a 400 naming the field.

use super::AppState;
use super::errors::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use serde_json::{Map, Value, json};
use terapi_runtime::ScheduleState;
use terapi_runtime::service::SyncReset;
use terapi_runtime::service::SyncStatus;

/// The body as a JSON object.
fn object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid_body("the body must be a JSON object")),
        Err(error) => Err(ApiError::invalid_body(format!(
            "the body is not valid JSON: {error}"
        ))),
    }
}

/// A required string field.
fn string(body: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    match body.get(name) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        Some(Value::String(_)) => Err(ApiError::invalid_body(format!(
            "`{name}` must not be empty"
        ))),
        Some(_) => Err(ApiError::invalid_body(format!("`{name}` must be a string"))),
        None => Err(ApiError::invalid_body(format!("`{name}` is required"))),
    }
}

/// An optional string field.
fn optional_string(body: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => string(body, name).map(Some),
    }
}

/// `syncs`: sync names, or objects with a `name` (Nango's `{name, variant}`).
fn syncs(body: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let Some(Value::Array(items)) = body.get("syncs") else {
        return Err(ApiError::invalid_body(
            "`syncs` is required: an array of sync names",
        ));
    };
    if items.is_empty() {
        return Err(ApiError::invalid_body(
            "`syncs` must name at least one sync",
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(name) if !name.is_empty() => Ok(name.clone()),
            Value::Object(object) => match object.get("name") {
                Some(Value::String(name)) if !name.is_empty() => Ok(name.clone()),
                _ => Err(ApiError::invalid_body(format!(
                    "`syncs[{index}].name` must be a non-empty string"
                ))),
            },
            _ => Err(ApiError::invalid_body(format!(
                "`syncs[{index}]` must be a sync name"
            ))),
        })
        .collect()
}

/// What a trigger resets: `opts.reset`, or the legacy `sync_mode` / `full_resync`.
fn reset(body: &Map<String, Value>) -> Result<SyncReset, ApiError> {
    let mut reset = SyncReset::None;
    match body.get("opts") {
        None | Some(Value::Null) => {}
        Some(Value::Object(opts)) => match opts.get("reset") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => reset = SyncReset::All,
            Some(_) => return Err(ApiError::invalid_body("`opts.reset` must be a boolean")),
        },
        Some(_) => return Err(ApiError::invalid_body("`opts` must be an object")),
    }
    match body.get("full_resync") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => reset = reset.max_with(SyncReset::Checkpoint),
        Some(_) => return Err(ApiError::invalid_body("`full_resync` must be a boolean")),
    }
    match body.get("sync_mode") {
        None | Some(Value::Null) => {}
        Some(Value::String(mode)) => match mode.as_str() {
            "incremental" => {}
            "full_refresh" => reset = reset.max_with(SyncReset::Checkpoint),
            "full_refresh_and_clear_cache" => reset = SyncReset::All,
            other => {
                return Err(ApiError::invalid_body(format!(
                    "`sync_mode` must be `incremental`, `full_refresh` or \
                     `full_refresh_and_clear_cache`, not `{other}`"
                )));
            }
        },
        Some(_) => return Err(ApiError::invalid_body("`sync_mode` must be a string")),
    }
    Ok(reset)
}

/// The stronger of two resets.
trait Stronger {
    fn max_with(self, other: SyncReset) -> SyncReset;
}

impl Stronger for SyncReset {
    fn max_with(self, other: SyncReset) -> SyncReset {
        match (self, other) {
            (SyncReset::All, _) | (_, SyncReset::All) => SyncReset::All,
            (SyncReset::Checkpoint, _) | (_, SyncReset::Checkpoint) => SyncReset::Checkpoint,
            _ => SyncReset::None,
        }
    }
}

/// `POST /sync/trigger` `{syncs, provider_config_key, connection_id?, opts?: {reset}}`.
pub async fn trigger(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body = object(&body)?;
    let key = string(&body, "provider_config_key")?;
    let connection_id = optional_string(&body, "connection_id")?;
    let syncs = syncs(&body)?;
    let reset = reset(&body)?;
    state
        .service()
        .trigger_syncs(&key, connection_id.as_deref(), &syncs, reset)
        .await?;
    Ok(Json(json!({ "success": true })))
}

async fn set_state(
    state: AppState,
    body: Bytes,
    schedule: ScheduleState,
) -> Result<Json<Value>, ApiError> {
    let body = object(&body)?;
    let key = string(&body, "provider_config_key")?;
    let connection_id = optional_string(&body, "connection_id")?;
    let syncs = syncs(&body)?;
    state
        .service()
        .set_syncs_state(&key, connection_id.as_deref(), &syncs, schedule)
        .await?;
    Ok(Json(json!({ "success": true })))
}

/// `POST /sync/start` `{syncs, provider_config_key, connection_id?}`.
pub async fn start(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    set_state(state, body, ScheduleState::Started).await
}

/// `POST /sync/pause` `{syncs, provider_config_key, connection_id?}`.
pub async fn pause(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    set_state(state, body, ScheduleState::Paused).await
}

/// `GET /sync/status?syncs=a,b|*&provider_config_key=...&connection_id=...`.
pub async fn status(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut syncs = None;
    let mut key = None;
    let mut connection_id = None;
    for (name, value) in url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "syncs" => syncs = Some(value.into_owned()),
            "provider_config_key" => key = Some(value.into_owned()),
            "connection_id" => connection_id = Some(value.into_owned()).filter(|id| !id.is_empty()),
            other => {
                return Err(ApiError::invalid_query(format!(
                    "unknown query parameter `{other}`; expected syncs, provider_config_key, \
                     connection_id"
                )));
            }
        }
    }
    let key = key
        .filter(|key| !key.is_empty())
        .ok_or_else(|| ApiError::invalid_query("`provider_config_key` is required"))?;
    let syncs = syncs
        .filter(|syncs| !syncs.trim().is_empty())
        .ok_or_else(|| {
            ApiError::invalid_query("`syncs` is required: sync names, comma-separated, or `*`")
        })?;
    let names: Vec<String> = syncs
        .split(',')
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect();
    let statuses = state
        .service()
        .sync_status(&key, connection_id.as_deref(), &names)
        .await?;
    let syncs: Vec<Value> = statuses.iter().map(SyncStatus::to_json).collect();
    Ok(Json(json!({ "syncs": syncs })))
}

/// `PUT /sync/update-connection-frequency`
/// `{sync_name, provider_config_key, connection_id, frequency: "every 2h" | null}` →
/// `{"frequency": <the frequency in force>}`.
pub async fn update_frequency(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = object(&body)?;
    let sync = string(&body, "sync_name")?;
    let key = string(&body, "provider_config_key")?;
    let connection_id = string(&body, "connection_id")?;
    let frequency = match body.get("frequency") {
        Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            return Err(ApiError::invalid_body(
                "`frequency` must be a string such as `every 2h`, or null for the default",
            ));
        }
        None => {
            return Err(ApiError::invalid_body(
                "`frequency` is required (null restores the sync's default)",
            ));
        }
    };
    let in_force = state
        .service()
        .update_connection_frequency(&key, &connection_id, &sync, frequency.as_deref())
        .await?;
    Ok(Json(json!({ "frequency": in_force })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Map<String, Value> {
        object(&Bytes::from(text.to_string())).expect("object")
    }

    #[test]
    fn resets_follow_opts_and_the_legacy_fields() {
        let cases = [
            (r#"{}"#, SyncReset::None),
            (r#"{"opts":{"reset":true}}"#, SyncReset::All),
            (r#"{"full_resync":true}"#, SyncReset::Checkpoint),
            (r#"{"sync_mode":"full_refresh"}"#, SyncReset::Checkpoint),
            (
                r#"{"sync_mode":"full_refresh_and_clear_cache"}"#,
                SyncReset::All,
            ),
            (r#"{"sync_mode":"incremental"}"#, SyncReset::None),
        ];
        for (text, expected) in cases {
            assert_eq!(reset(&body(text)).expect(text), expected, "{text}");
        }
        for (text, named) in [
            (r#"{"sync_mode":"sometimes"}"#, "`sync_mode`"),
            (r#"{"opts":{"reset":"yes"}}"#, "`opts.reset`"),
            (r#"{"full_resync":1}"#, "`full_resync`"),
        ] {
            let error = reset(&body(text)).expect_err(text);
            assert!(error.message.contains(named), "{text}: {}", error.message);
        }
    }

    #[test]
    fn sync_lists_name_the_bad_entry() {
        assert_eq!(
            syncs(&body(r#"{"syncs":["a",{"name":"b","variant":"base"}]}"#)).expect("names"),
            vec!["a", "b"]
        );
        for (text, named) in [
            (r#"{}"#, "`syncs` is required"),
            (r#"{"syncs":[]}"#, "at least one"),
            (r#"{"syncs":["a",3]}"#, "`syncs[1]`"),
            (r#"{"syncs":[{"variant":"x"}]}"#, "`syncs[0].name`"),
        ] {
            let error = syncs(&body(text)).expect_err(text);
            assert!(error.message.contains(named), "{text}: {}", error.message);
        }
    }
}
