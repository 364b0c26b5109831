//! `get-account`, the first Checkr workflow, end to end.

use crate::support::*;
use terapi_runtime::{Credentials, TriggerError};

#[tokio::test]
async fn get_account_returns_the_simulators_account_with_basic_auth() {
    let harness = Harness::start().await;
    let output = harness
        .runtime
        .trigger_action(CHECKR, CONNECTION, "get-account", "{}")
        .await
        .expect("get-account succeeds");
    let account: serde_json::Value = output.parse().expect("JSON output");
    assert_eq!(account["object"], "account");
    assert_eq!(account["name"], "Acme Staffing");
    assert_eq!(
        account["id"].as_str(),
        harness.sim.account_id(TOKEN).as_deref(),
        "the account is the token's"
    );
    for field in [
        "uri",
        "created_at",
        "authorized",
        "api_authorized",
        "purpose",
        "company",
    ] {
        assert!(
            !account[field].is_null(),
            "{field} is passed through: {account}"
        );
    }
    let requests = harness.sim.requests();
    assert_eq!(requests.len(), 1, "exactly one upstream call");
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/v1/account");
    assert_eq!(
        requests[0].header("authorization"),
        Some(basic(TOKEN).as_str())
    );
}

#[tokio::test]
async fn connection_without_credentials_fails_with_access_token_is_missing() {
    let harness = Harness::start().await;
    harness
        .connect(CHECKR, "no-credentials", Credentials::None)
        .await;
    let error = harness
        .runtime
        .trigger_action(CHECKR, "no-credentials", "get-account", "{}")
        .await
        .expect_err("no token");
    assert_eq!(
        error,
        TriggerError::Action {
            message: "access_token is missing".into(),
            payload: None
        }
    );
    assert!(
        harness.sim.requests().is_empty(),
        "nothing was sent upstream"
    );
}

#[tokio::test]
async fn revoked_token_surfaces_checkrs_401_in_the_action_error() {
    let harness = Harness::start().await;
    harness.sim.revoke_token(TOKEN);
    let error = harness
        .runtime
        .trigger_action(CHECKR, CONNECTION, "get-account", "{}")
        .await
        .expect_err("revoked");
    let TriggerError::Action { message, payload } = error else {
        panic!("expected an ActionError, got {error:?}");
    };
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("Bad authentication error"), "{message}");
    let payload = payload.expect("payload");
    assert_eq!(payload["status"], 401);
    assert_eq!(payload["error"], "Bad authentication error");
    assert_eq!(
        harness.sim.requests().len(),
        1,
        "the request did reach Checkr"
    );
}

#[tokio::test]
async fn wrong_token_is_rejected_by_checkr_not_by_the_host() {
    let harness = Harness::start().await;
    harness
        .connect(
            CHECKR,
            "wrong",
            Credentials::access_token("not-a-real-token"),
        )
        .await;
    let error = harness
        .runtime
        .trigger_action(CHECKR, "wrong", "get-account", "{}")
        .await
        .expect_err("wrong token");
    assert!(
        error.to_string().contains("Bad authentication error"),
        "{error}"
    );
    let requests = harness.sim.requests();
    assert_eq!(
        requests[0].header("authorization"),
        Some(basic("not-a-real-token").as_str())
    );
}

#[tokio::test]
async fn staging_integration_uses_the_same_component_against_its_own_base_url() {
    let staging_sim = simulator().await;
    let harness = Harness::start_with(|config| {
        let mut staging = config.integrations[CHECKR].clone();
        staging.provider = Some("checkr-partner-staging".into());
        staging.api_base_url = Some(staging_sim.base_url());
        config
            .integrations
            .insert("checkr-partner-staging".into(), staging);
    })
    .await;
    harness
        .connect(
            "checkr-partner-staging",
            CONNECTION,
            Credentials::access_token(TOKEN),
        )
        .await;
    harness
        .runtime
        .trigger_action("checkr-partner-staging", CONNECTION, "get-account", "")
        .await
        .expect("staging works");
    assert_eq!(staging_sim.requests().len(), 1);
    assert!(
        harness.sim.requests().is_empty(),
        "production was not called"
    );
    assert_eq!(
        harness.runtime.component_cache_stats().compiled(),
        2,
        "the shared component is compiled once, plus the test guests"
    );
}

#[tokio::test]
async fn replaced_credentials_are_used_by_the_very_next_run() {
    let harness = Harness::start().await;
    assert_eq!(harness.account_name().await, "Acme Staffing");
    // The runtime keeps what it derived from the connection (guest record, Authorization
    // value); replacing the credentials must not leave the old ones in use.
    harness
        .connect(
            CHECKR,
            CONNECTION,
            Credentials::access_token("replaced-token"),
        )
        .await;
    let error = harness
        .runtime
        .trigger_action(CHECKR, CONNECTION, "get-account", "{}")
        .await
        .expect_err("the replaced token is unknown to Checkr");
    assert!(matches!(error, TriggerError::Action { .. }), "{error:?}");
    let requests = harness.sim.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].header("authorization"),
        Some(basic("replaced-token").as_str())
    );
    harness
        .connect(CHECKR, CONNECTION, Credentials::access_token(TOKEN))
        .await;
    assert_eq!(harness.account_name().await, "Acme Staffing");
}
