use terapi_sdk::ActionError;
use terapi_sdk::serde_json::Value;

pub fn run(input: Value) -> Result<Value, ActionError> {
    Ok(input)
}
