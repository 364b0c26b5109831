//! Where a sync left off: a flat JSON object per sync and connection, typed with serde.
//!
//! The host commits a saved checkpoint in the same transaction as the records saved
//! before it, so a run killed at any moment resumes from its last checkpoint and re-saves
//! only what came after. Flat means every field is a string, number, boolean or `null`
//! (no nested objects or arrays); [`save`] refuses anything else, naming the field.
//!
//! ```no_run
//! # use terapi_sdk::ActionError;
//! #[derive(serde::Serialize, serde::Deserialize, Default)]
//! struct Progress {
//!     /// The newest `created_at` seen by the last finished pass.
//!     created_after: Option<String>,
//!     /// The page to resume from, when a pass was interrupted.
//!     page: Option<u32>,
//! }
//!
//! # fn f() -> Result<(), ActionError> {
//! let mut progress: Progress = terapi_sdk::checkpoint::get()?.unwrap_or_default();
//! progress.page = Some(3);
//! terapi_sdk::checkpoint::save(&progress)?;
//! # Ok(()) }
//! ```

use crate::ActionError;
use crate::bindings::terapi::runtime::checkpoint as wit;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The last saved checkpoint, or `None` before the first (and after [`clear`]). A stored
/// checkpoint that does not fit `T` (the sync changed its checkpoint type) is an error
/// naming the field; [`clear`] it to start over.
pub fn get<T: DeserializeOwned>() -> Result<Option<T>, ActionError> {
    let stored = wit::get().map_err(|error| host_error("get", error))?;
    stored.map(|text| decode(&text)).transpose()
}

/// Saves the checkpoint, which must serialize to a flat JSON object.
pub fn save<T: Serialize>(checkpoint: &T) -> Result<(), ActionError> {
    let text = encode(checkpoint)?;
    wit::save(&text).map_err(|error| host_error("save", error))
}

/// Forgets the checkpoint: the next run starts from the beginning.
pub fn clear() -> Result<(), ActionError> {
    wit::clear().map_err(|error| host_error("clear", error))
}

/// Serializes a checkpoint, checking it is a flat JSON object.
pub(crate) fn encode<T: Serialize>(checkpoint: &T) -> Result<String, ActionError> {
    let value = serde_json::to_value(checkpoint).map_err(|error| {
        ActionError::new(format!("the checkpoint could not be serialized: {error}"))
    })?;
    let Value::Object(fields) = &value else {
        return Err(ActionError::new(
            "a checkpoint must be a JSON object (a struct with named fields)",
        ));
    };
    if let Some((name, _)) = fields
        .iter()
        .find(|(_, field)| matches!(field, Value::Object(_) | Value::Array(_)))
    {
        return Err(ActionError::new(format!(
            "checkpoint field `{name}` must be a string, number, boolean or null: checkpoints are flat"
        )));
    }
    Ok(value.to_string())
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, ActionError> {
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        ActionError::new(format!(
            "the stored checkpoint does not fit at `{}`: {} (clear it to start over)",
            error.path(),
            error.inner()
        ))
    })
}

fn host_error(operation: &str, error: String) -> ActionError {
    ActionError::new(format!("checkpoint::{operation} failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
    struct Progress {
        created_after: Option<String>,
        page: Option<u32>,
        full: bool,
    }

    #[test]
    fn typed_checkpoints_round_trip() {
        let progress = Progress {
            created_after: Some("2024-01-01T00:00:00Z".into()),
            page: None,
            full: true,
        };
        let text = encode(&progress).expect("flat");
        assert_eq!(
            text,
            r#"{"created_after":"2024-01-01T00:00:00Z","full":true,"page":null}"#
        );
        assert_eq!(decode::<Progress>(&text).expect("decoded"), progress);
    }

    #[test]
    fn nested_or_non_object_checkpoints_are_refused() {
        let error = encode(&serde_json::json!({ "a": 1, "pages": [1, 2] })).expect_err("nested");
        assert!(error.message.contains("field `pages`"), "{}", error.message);
        assert!(encode(&3).is_err());
        let error = decode::<Progress>(r#"{"page":"x","full":true}"#).expect_err("bad");
        assert!(error.message.contains("at `page`"), "{}", error.message);
    }
}
