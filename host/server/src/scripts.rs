//! `GET /scripts/config`: each integration's syncs and actions with their descriptions
//! and JSON schemas, in the shape of Nango's `/scripts/config`.

use super::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

/// `GET /scripts/config` →
/// `[{"providerConfigKey", "provider", "syncs": [{"name", "type": "sync", "description",
/// "runs", "auto_start", "track_deletes", "returns", "models": [{"name", "schema"}]}],
/// "actions": [{"name", "type": "action", "description", "input", "output"}]}]`.
pub async fn config(State(state): State<AppState>) -> Json<Value> {
    let runtime = state.runtime();
    let integrations: Vec<Value> = runtime
        .integration_keys()
        .map(|key| {
            let actions: Vec<Value> = runtime
                .actions(key)
                .unwrap_or_default()
                .iter()
                .map(|action| {
                    json!({
                        "name": action.name,
                        "type": "action",
                        "description": action.description,
                        "input": action.input_schema,
                        "output": action.output_schema,
                    })
                })
                .collect();
            let syncs: Vec<Value> = runtime
                .syncs(key)
                .unwrap_or_default()
                .iter()
                .map(|sync| {
                    json!({
                        "name": sync.name,
                        "type": "sync",
                        "description": sync.description,
                        "runs": sync.frequency,
                        "auto_start": sync.auto_start,
                        "track_deletes": sync.track_deletes,
                        "returns": sync.models.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
                        "models": sync.models.iter().map(|m| json!({
                            "name": m.name,
                            "schema": m.json_schema,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({
                "providerConfigKey": key,
                "provider": runtime.provider(key).map(|(name, _)| name),
                "syncs": syncs,
                "actions": actions,
            })
        })
        .collect();
    Json(Value::Array(integrations))
}
