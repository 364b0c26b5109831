use serde::Deserialize;
use terapi_sdk::ActionError;

#[derive(Deserialize, terapi_sdk::schemars::JsonSchema)]
#[schemars(crate = "terapi_sdk::schemars")]
pub struct Input {
    /// Length of the error message.
    #[serde(default)]
    message_bytes: usize,
    /// Length of the string in the error's payload (none when 0).
    #[serde(default)]
    payload_bytes: usize,
}

/// Fails with a message and a payload as large as asked.
pub fn run(input: Input) -> Result<(), ActionError> {
    let error = ActionError::new("e".repeat(input.message_bytes));
    if input.payload_bytes == 0 {
        return Err(error);
    }
    Err(error.with_payload("p".repeat(input.payload_bytes)))
}
