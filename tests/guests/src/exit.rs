use serde::Deserialize;
use terapi_sdk::ActionError;

#[derive(Deserialize, terapi_sdk::schemars::JsonSchema)]
#[schemars(crate = "terapi_sdk::schemars")]
pub struct Input {
    /// The exit status (ignored with `abort`).
    #[serde(default)]
    code: i32,
    /// Abort instead of exiting.
    #[serde(default)]
    abort: bool,
}

/// Ends the process the guest thinks it is: `exit(code)` or `abort()`.
pub fn run(input: Input) -> Result<(), ActionError> {
    if input.abort {
        std::process::abort();
    }
    std::process::exit(input.code)
}
