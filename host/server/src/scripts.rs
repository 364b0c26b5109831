//! `GET /scripts/config`: each integration's actions with their descriptions and JSON
//! schemas, in the shape of Nango's `/scripts/config` as far as it applies (terapi has
//! actions, no syncs).

use super::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

/// `GET /scripts/config` →
/// `[{"providerConfigKey", "provider", "syncs": [], "actions": [{"name", "type":
/// "action", "description", "input", "output"}]}]`.
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
            json!({
                "providerConfigKey": key,
                "provider": runtime.provider(key).map(|(name, _)| name),
                "syncs": [],
                "actions": actions,
            })
        })
        .collect();
    Json(Value::Array(integrations))
}
