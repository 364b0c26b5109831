//! A component the host must refuse to load: its one action declares an input schema in
//! which each of 40 definitions applies the next one twice, so checking one input value
//! would take 2^40 subschema evaluations. A component of its own, because the host
//! refuses the whole component (the test guests must keep loading).

use serde::{Deserialize, Deserializer};
use terapi_sdk::ActionError;
use terapi_sdk::schemars::{JsonSchema, Schema, SchemaGenerator};
use terapi_sdk::serde_json::{Map, Value, json};

/// Levels of doubling; the host accepts at most 7 (510 checks per value).
const LEVELS: usize = 40;

/// Any JSON; only its declared schema matters.
pub struct Doubling(Value);

impl<'de> Deserialize<'de> for Doubling {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Doubling)
    }
}

impl JsonSchema for Doubling {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Doubling".into()
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
        Schema::try_from(json!({ "$ref": "#/$defs/d0", "$defs": defs }))
            .unwrap_or_else(|_| Schema::default())
    }
}

fn doubling(input: Doubling) -> Result<Value, ActionError> {
    Ok(input.0)
}

terapi_sdk::integration! {
    /// Declares the hostile schema; never runs.
    "doubling" => doubling,
}
