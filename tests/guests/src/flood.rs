use serde::{Deserialize, Serialize};
use terapi_sdk::{ActionError, Request};

#[derive(Deserialize, terapi_sdk::schemars::JsonSchema)]
#[schemars(crate = "terapi_sdk::schemars")]
pub struct Input {
    /// What to request, again and again.
    endpoint: String,
    /// Keep going when the host refuses a request (else return the refusal).
    #[serde(default)]
    ignore_errors: bool,
}

#[derive(Serialize, terapi_sdk::schemars::JsonSchema)]
#[schemars(crate = "terapi_sdk::schemars")]
pub struct Output {
    sent: u64,
}

/// Sends requests in a loop until the host refuses one (or forever, ignoring refusals).
pub fn run(input: Input) -> Result<Output, ActionError> {
    let mut sent: u64 = 0;
    loop {
        match terapi_sdk::get(Request::new(input.endpoint.clone())) {
            Ok(_) => sent += 1,
            Err(error) if !input.ignore_errors => return Err(error.into()),
            Err(_) => {}
        }
        if sent == u64::MAX {
            return Ok(Output { sent });
        }
    }
}
