//! Helpers for the Checkr action tests: running an action with JSON in and out, hierarchy
//! connections, reading errors and upstream requests.

use crate::support::*;
use checkr_sim::{AccountSeed, RecordedRequest};
use serde_json::{Value, json};
use terapi_runtime::{Credentials, FieldError, NewConnection, TriggerError};

/// The token of the hierarchy-enabled account [`connect_hierarchy`] adds.
pub const HIERARCHY_TOKEN: &str = "sim-token-hier";
/// Its connection id.
pub const HIERARCHY: &str = "hier";

/// Runs `action` for `connection` with `input`; the output parsed as JSON.
pub async fn run(
    harness: &Harness,
    connection: &str,
    action: &str,
    input: Value,
) -> Result<Value, TriggerError> {
    let output = harness
        .runtime
        .trigger_action(CHECKR, connection, action, &input.to_string())
        .await?;
    Ok(output.parse().expect("the output is JSON"))
}

/// Runs `action` for the default connection and expects success.
pub async fn ok(harness: &Harness, action: &str, input: Value) -> Value {
    match run(harness, CONNECTION, action, input).await {
        Ok(output) => output,
        Err(error) => panic!("{action} failed: {error:?}"),
    }
}

/// The message and payload of an `ActionError`; panics on any other error.
pub fn action_error(error: TriggerError) -> (String, Value) {
    match error {
        TriggerError::Action { message, payload } => (message, payload.unwrap_or(Value::Null)),
        other => panic!("expected an ActionError, got {other:?}"),
    }
}

/// The `(field, message)` pairs of an `Invalid input provided` ActionError.
pub fn invalid_fields(error: TriggerError) -> Vec<(String, String)> {
    let (message, payload) = action_error(error);
    assert_eq!(message, "Invalid input provided", "{payload}");
    payload["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|error| {
            (
                error["field"].as_str().unwrap_or("").to_string(),
                error["message"].as_str().expect("message").to_string(),
            )
        })
        .collect()
}

/// The field errors of the host's schema rejection; panics on any other error.
pub fn schema_errors(error: TriggerError) -> Vec<FieldError> {
    assert_eq!(error.code(), "invalid_action_input");
    match error {
        TriggerError::InvalidInput { errors, .. } => errors,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

/// The API requests the simulator received (`/v1/...`), in order.
pub fn api_requests(harness: &Harness) -> Vec<RecordedRequest> {
    harness
        .sim
        .requests()
        .into_iter()
        .filter(|request| request.path.starts_with("/v1/"))
        .collect()
}

/// Stores a connection for `token` whose configuration says whether the account uses
/// Account Hierarchy.
pub async fn connect_with_hierarchy_flag(
    harness: &Harness,
    connection_id: &str,
    token: &str,
    hierarchy: bool,
) {
    let mut connection = NewConnection::new(
        CHECKR,
        connection_id,
        "checkr-partner",
        Credentials::access_token(token),
    );
    connection.connection_config = json!({ "accountHierarchyEnabled": hierarchy });
    harness
        .runtime
        .connections()
        .upsert(&connection)
        .await
        .expect("connection stored");
}

/// Adds a hierarchy-enabled account (the simulator's default tree unless `account` has
/// nodes) and connection [`HIERARCHY`] to it, flagged as such.
pub async fn connect_hierarchy(harness: &Harness, account: AccountSeed) {
    harness
        .sim
        .add_token(HIERARCHY_TOKEN, account.with_hierarchy(true));
    connect_with_hierarchy_flag(harness, HIERARCHY, HIERARCHY_TOKEN, true).await;
}

/// A candidate with every field, valid for the action and the simulator.
pub fn full_candidate() -> Value {
    json!({
        "first_name": "Jane",
        "middle_name": "Quinn",
        "last_name": "Doe",
        "email": "jane.doe@example.com",
        "phone": "415-555-0100",
        "zipcode": "94107",
        "dob": "1990-04-27",
        "ssn": "847-43-4645",
        "driver_license_number": "F2111655",
        "driver_license_state": "ca",
        "custom_id": "emp-42",
        "work_location": { "country": "us", "state": "ca", "city": "San Francisco" }
    })
}

/// Creates a candidate with just an email (Checkr's hosted flow) and returns its id.
pub async fn create_candidate(harness: &Harness, connection: &str, email: &str) -> String {
    let candidate = run(
        harness,
        connection,
        "create-candidate",
        json!({ "email": email }),
    )
    .await
    .expect("candidate created");
    candidate["id"].as_str().expect("id").to_string()
}
