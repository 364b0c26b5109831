//! A component with actions and no syncs (`actions!`) still exports the sync entry points:
//! an empty `describe-syncs` and a `fetch-data` that names the missing sync.

use terapi_sdk::bindings::Guest;
use terapi_sdk::{ActionError, NoInput};

fn ping(_: NoInput) -> Result<String, ActionError> {
    Ok("pong".into())
}

terapi_sdk::actions! {
    /// Answers pong.
    "ping" => ping,
}

#[test]
fn no_syncs_are_described_and_none_runs() {
    assert!(__TerapiComponent::describe_syncs().is_empty());
    let error = __TerapiComponent::fetch_data("candidates".into()).expect_err("no syncs");
    assert_eq!(
        error.message,
        "no such sync `candidates`; this component has no syncs"
    );
    assert_eq!(
        __TerapiComponent::run("ping".into(), String::new()).expect("runs"),
        "\"pong\""
    );
}
