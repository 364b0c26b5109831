use serde::Deserialize;
use terapi_sdk::ActionError;

#[derive(Deserialize, terapi_sdk::schemars::JsonSchema)]
#[schemars(crate = "terapi_sdk::schemars")]
pub struct Input {
    /// Length of the string returned.
    bytes: usize,
}

/// Returns a JSON string of `bytes` bytes.
pub fn run(input: Input) -> Result<String, ActionError> {
    Ok("o".repeat(input.bytes))
}
