//! The connection's metadata: a JSON object the application and the syncs share (for
//! example which sub-accounts to sync, set by the application; or what a sync learned
//! about the account).
//!
//! ```no_run
//! # use terapi_sdk::ActionError;
//! # fn f() -> Result<(), ActionError> {
//! let mut metadata: serde_json::Value = terapi_sdk::metadata::get()?;
//! metadata["last_full_sync"] = "2024-01-01T00:00:00Z".into();
//! terapi_sdk::metadata::set(&metadata)?;
//! # Ok(()) }
//! ```

use crate::ActionError;
use crate::bindings::terapi::runtime::metadata as wit;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The current metadata, deserialized as `T` (use `serde_json::Value` for any shape). A
/// mismatch is an error naming the field.
pub fn get<T: DeserializeOwned>() -> Result<T, ActionError> {
    let text = wit::get().map_err(|error| host_error("get", error))?;
    decode(&text)
}

/// Replaces the metadata; `metadata` must serialize to a JSON object.
pub fn set<T: Serialize>(metadata: &T) -> Result<(), ActionError> {
    let text = encode(metadata)?;
    wit::set(&text).map_err(|error| host_error("set", error))
}

pub(crate) fn encode<T: Serialize>(metadata: &T) -> Result<String, ActionError> {
    let value = serde_json::to_value(metadata).map_err(|error| {
        ActionError::new(format!("the metadata could not be serialized: {error}"))
    })?;
    if !value.is_object() {
        return Err(ActionError::new(
            "connection metadata must be a JSON object",
        ));
    }
    Ok(value.to_string())
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, ActionError> {
    // The host stores no metadata as an empty string or `null`: read it as `{}`.
    let text = match text.trim() {
        "" | "null" => "{}",
        other => other,
    };
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        ActionError::new(format!(
            "the connection metadata does not fit at `{}`: {}",
            error.path(),
            error.inner()
        ))
    })
}

fn host_error(operation: &str, error: String) -> ActionError {
    ActionError::new(format!("metadata::{operation} failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, Default)]
    struct Settings {
        #[serde(default)]
        numbers: Option<u32>,
    }

    #[test]
    fn metadata_is_an_object_and_reads_empty_as_empty() {
        assert!(encode(&serde_json::json!({ "a": 1 })).is_ok());
        assert!(encode(&"text").is_err());
        assert_eq!(decode::<Settings>("").expect("empty").numbers, None);
        assert_eq!(
            decode::<Settings>(r#"{"numbers":3}"#).expect("ok").numbers,
            Some(3)
        );
        let error = decode::<Settings>(r#"{"numbers":"x"}"#).expect_err("bad");
        assert!(error.message.contains("at `numbers`"), "{}", error.message);
        let value: serde_json::Value = decode("null").expect("null");
        assert!(value.is_object());
    }
}
