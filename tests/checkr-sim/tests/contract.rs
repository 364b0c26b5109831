//! The contract check: requests and responses validated against Checkr's OpenAPI
//! description (read from `../shared`; these tests fail, saying so, without it).

mod common;

use std::panic::AssertUnwindSafe;

use checkr_sim::{AccountSeed, Fault, SimConfig};
use common::{TOKEN, start_with};
use reqwest::StatusCode;
use serde_json::json;

fn checked() -> SimConfig {
    SimConfig::default()
        .with_contract_check()
        .with_token(TOKEN, AccountSeed::new("Acme Staffing"))
}

#[tokio::test]
async fn valid_traffic_is_counted_and_passes() {
    let (sim, api) = start_with(checked()).await;
    let created = api
        .post(
            TOKEN,
            "/v1/candidates",
            json!({ "email": "jane@example.com" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let list = api
        .get(
            TOKEN,
            "/v1/candidates?created_after=2024-01-01T00:00:00Z&per_page=10",
        )
        .await;
    assert_eq!(list.status, StatusCode::OK);
    // Unknown id: a 404 the description lists for few operations, in Checkr's error shape.
    let missing = api.get(TOKEN, "/v1/candidates/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Injected faults are the test's own making.
    sim.inject_fault(Fault::status("/v1/account", 503));
    api.get(TOKEN, "/v1/account").await;

    let report = sim.contract_report();
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert_eq!(report.requests_checked, 4);
    assert_eq!(report.responses_checked, 2);
    assert_eq!(report.exempt.len(), 2, "{:?}", report.exempt);
    assert!(report.exempt[0].contains("404"), "{:?}", report.exempt);
    assert!(
        report.exempt[1].contains("injected fault"),
        "{:?}",
        report.exempt
    );
    sim.assert_contract();
}

#[tokio::test]
async fn violations_name_the_operation_and_the_pointer_and_fail_on_drop() {
    let (sim, api) = start_with(checked()).await;
    // A date where Checkr takes a date-time; a query parameter it does not have; a
    // two-letter country too long; a path Checkr does not serve.
    api.get(TOKEN, "/v1/candidates?created_after=2024-01-01&colour=red")
        .await;
    api.post(
        TOKEN,
        "/v1/candidates",
        json!({
            "email": "jane@example.com",
            "work_locations": [{ "country": "USA", "state": "CA" }]
        }),
    )
    .await;
    api.get(TOKEN, "/v1/teapots").await;

    let lines: Vec<String> = sim
        .contract_report()
        .violations
        .iter()
        .map(ToString::to_string)
        .collect();
    let expected = [
        "listOfCandidates (GET /v1/candidates): request at /query/created_after",
        "listOfCandidates (GET /v1/candidates): request at /query/colour",
        "createCandidate (POST /v1/candidates): request at /body/work_locations/0/country",
        "GET /v1/teapots: request at /path",
    ];
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    for (line, start) in lines.iter().zip(expected) {
        assert!(line.starts_with(start), "{line} should start with {start}");
    }

    let dropped = std::panic::catch_unwind(AssertUnwindSafe(|| drop(sim)));
    let message = dropped.expect_err("dropping a simulator with violations fails the test");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("/query/created_after"), "{message}");
}

#[tokio::test]
async fn oauth_endpoints_are_exempt_by_name() {
    let (sim, api) = start_with(checked()).await;
    let response = api
        .send(
            api.client
                .post(api.url("/oauth/tokens"))
                .form(&[("code", "x")]),
        )
        .await;
    assert!(response.status.is_client_error());
    let report = sim.contract_report();
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert_eq!(report.exempt.len(), 1);
    assert!(report.exempt[0].starts_with("POST /oauth/tokens: partner OAuth"));
}
