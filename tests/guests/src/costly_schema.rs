//! An input schema as costly as the host accepts: each of 7 definitions applies the next
//! one twice, for 510 subschema evaluations per item of the input array (the host's limit
//! is 1,000 per value). The host checks inputs against it before any sandbox runs; the
//! end-to-end tests send the largest inputs the host's validation budget lets through and
//! time the rest of the API meanwhile.

use serde::{Deserialize, Deserializer};
use terapi_sdk::ActionError;
use terapi_sdk::schemars::{JsonSchema, Schema, SchemaGenerator};
use terapi_sdk::serde_json::{Map, Value, json};

const LEVELS: usize = 7;

/// An array of strings, described expensively.
pub struct Costly(Value);

impl<'de> Deserialize<'de> for Costly {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Costly)
    }
}

impl JsonSchema for Costly {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Costly".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut defs = Map::new();
        for level in 0..LEVELS {
            let next = format!("#/$defs/d{}", level + 1);
            defs.insert(
                format!("d{level}"),
                json!({ "allOf": [{ "$ref": next }, { "$ref": next }] }),
            );
        }
        defs.insert(format!("d{LEVELS}"), json!({ "type": "string" }));
        Schema::try_from(json!({
            "type": "array",
            "items": { "$ref": "#/$defs/d0" },
            "$defs": defs
        }))
        .unwrap_or_else(|_| Schema::default())
    }
}

/// Returns how many items it was given.
pub fn run(input: Costly) -> Result<Value, ActionError> {
    Ok(json!({ "items": input.0.as_array().map_or(0, Vec::len) }))
}
