//! The HTTP API endpoint by endpoint, with good and bad input, over a real socket.

use crate::server::support::*;
use crate::support::{CHECKR, TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use terapi_runtime::{ConnectionStore, Credentials, IntegrationCredentialStore};

fn trigger(harness: &ServerHarness, connection: &str, body: Value) -> reqwest::RequestBuilder {
    harness
        .api(Method::POST, "/action/trigger")
        .header("Connection-Id", connection)
        .header("Provider-Config-Key", CHECKR)
        .json(&body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_endpoint_requires_the_secret_key() {
    let harness = ServerHarness::start().await;
    let endpoints = [
        (Method::POST, "/action/trigger"),
        (Method::GET, "/action/some-id"),
        (Method::GET, "/connections"),
        (
            Method::GET,
            "/connections/acme?provider_config_key=checkr-partner",
        ),
        (
            Method::DELETE,
            "/connections/acme?provider_config_key=checkr-partner",
        ),
        (Method::POST, "/connections/metadata"),
        (Method::PATCH, "/connections/metadata"),
        (Method::GET, "/integrations"),
        (Method::GET, "/integrations/checkr-partner"),
        (Method::PATCH, "/integrations/checkr-partner"),
        (Method::GET, "/proxy/v1/account"),
        (Method::POST, "/proxy/v1/candidates"),
        (Method::GET, "/scripts/config"),
        (Method::GET, "/metrics"),
        (Method::GET, "/webhooks"),
        (Method::POST, "/webhooks/some-id/replay"),
        (Method::GET, "/records?model=Candidate"),
        (Method::POST, "/sync/trigger"),
        (Method::POST, "/sync/start"),
        (Method::POST, "/sync/pause"),
        (Method::GET, "/sync/status"),
        (Method::PUT, "/sync/update-connection-frequency"),
    ];
    for (method, path) in endpoints {
        let url = format!("{}{path}", harness.base_url);
        let (status, body) = send(harness.client.request(method.clone(), &url)).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a key"
        );
        assert_eq!(code(&body), "missing_auth_header", "{method} {path}");
        let (status, body) = send(
            harness
                .client
                .request(method.clone(), &url)
                .bearer_auth("not-the-key"),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a wrong key"
        );
        assert_eq!(code(&body), "unknown_account");
        let (status, body) = send(harness.client.request(method.clone(), &url).header(
            reqwest::header::AUTHORIZATION,
            format!("Basic {SECRET_KEY}"),
        ))
        .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with Basic"
        );
        assert_eq!(code(&body), "malformed_auth_header");
        assert!(
            !body.to_string().contains(SECRET_KEY),
            "errors never echo the key"
        );
    }
    assert!(
        harness.sim.requests().is_empty(),
        "nothing reached upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_needs_no_key_and_metrics_count_the_sandboxes() {
    let harness = ServerHarness::start().await;
    let (status, body) = send(harness.client.get(format!("{}/health", harness.base_url))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"result": "ok"})));

    harness
        .seed_connection("acme", Credentials::access_token(TOKEN))
        .await;
    let (status, _) = send(trigger(
        &harness,
        "acme",
        json!({"action_name": "get-account", "input": {}}),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let response = harness
        .api(Method::GET, "/metrics")
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|value| value.starts_with("text/plain")),
        "Prometheus' text format"
    );
    let text = response.text().await.expect("text");
    let value = |series: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{series} in {text}"))
    };
    assert_eq!(value("terapi_sandbox_running"), 0, "{text}");
    assert_eq!(value("terapi_admission_waiting"), 0, "{text}");
    assert!(value("terapi_sandbox_slots") >= 1, "{text}");
    assert!(value("terapi_admission_admitted_total") >= 1, "{text}");
    assert_eq!(
        value("terapi_admission_refused_total{reason=\"queue_full\"}"),
        0
    );
    // Every series is announced with its help and type.
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let name = line.split(['{', ' ']).next().expect("name");
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_runs_the_action_and_maps_errors_like_nango() {
    let harness = ServerHarness::start().await;
    harness
        .seed_connection("acme", Credentials::access_token(TOKEN))
        .await;
    harness.seed_connection("empty", Credentials::None).await;

    let (status, account) = send(trigger(
        &harness,
        "acme",
        json!({"action_name": "get-account", "input": {}}),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["name"], "Acme Staffing");
    // `input` may be absent.
    let (status, _) = send(trigger(
        &harness,
        "acme",
        json!({"action_name": "get-account"}),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = send(trigger(
        &harness,
        "empty",
        json!({"action_name": "get-account"}),
    ))
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(code(&body), "action_script_runtime_error");
    assert_eq!(body["error"]["message"], "access_token is missing");

    let (status, body) = send(trigger(
        &harness,
        "ghost",
        json!({"action_name": "get-account"}),
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "unknown_connection");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("ghost")
    );

    let (status, body) = send(trigger(
        &harness,
        "acme",
        json!({"action_name": "no-such-action"}),
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "unknown_action");

    let (status, body) = send(
        harness
            .api(Method::POST, "/action/trigger")
            .header("Provider-Config-Key", CHECKR)
            .json(&json!({"action_name": "get-account"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "invalid_headers");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Connection-Id")
    );
    let (status, body) = send(harness.api(Method::POST, "/action/trigger")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Connection-Id") && message.contains("Provider-Config-Key"),
        "{message}"
    );

    for bad in [
        "{not json",
        "[]",
        "{\"input\": {}}",
        "{\"action_name\": 5}",
        "",
    ] {
        let (status, body) = send(
            harness
                .api(Method::POST, "/action/trigger")
                .header("Connection-Id", "acme")
                .header("Provider-Config-Key", CHECKR)
                .body(bad),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(code(&body), "invalid_body", "{bad}");
    }
    let (status, body) = send(
        harness
            .api(Method::POST, "/action/trigger")
            .header("Connection-Id", "acme")
            .header("Provider-Config-Key", "nope")
            .json(&json!({"action_name": "get-account"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(code(&body), "unknown_provider_config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_trigger_returns_an_id_to_poll() {
    let harness = ServerHarness::start().await;
    harness
        .seed_connection("acme", Credentials::access_token(TOKEN))
        .await;
    harness.seed_connection("empty", Credentials::None).await;
    let poll = |id: String| {
        let harness = &harness;
        async move {
            for _ in 0..200 {
                let response = harness
                    .api(Method::GET, &format!("/action/{id}"))
                    .send()
                    .await
                    .expect("poll");
                if response.status() != StatusCode::NOT_FOUND {
                    let status = response.status();
                    let body: Value = response.json().await.expect("json");
                    return (status, body);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("the run never finished");
        }
    };
    let (status, accepted) = send(
        trigger(&harness, "acme", json!({"action_name": "get-account"})).header("X-Async", "true"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = accepted["id"].as_str().expect("id").to_string();
    assert_eq!(accepted["statusUrl"], format!("/action/{id}"));
    let (status, output) = poll(id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(output["name"], "Acme Staffing");

    let (_, accepted) = send(
        trigger(&harness, "empty", json!({"action_name": "get-account"})).header("X-Async", "true"),
    )
    .await;
    let (status, error) = poll(accepted["id"].as_str().expect("id").to_string()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(code(&error), "action_script_runtime_error");

    let (status, body) = send(harness.api(Method::GET, "/action/unknown-id")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "not_found");
    let (status, body) = send(
        trigger(&harness, "acme", json!({"action_name": "get-account"})).header("X-Async", "maybe"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "invalid_headers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_list_get_metadata_and_delete() {
    let harness = ServerHarness::start().await;
    for id in ["a", "b", "c"] {
        harness
            .seed_connection(id, Credentials::access_token(format!("token-{id}")))
            .await;
    }
    let (status, body) = send(harness.api(Method::GET, "/connections")).await;
    assert_eq!(status, StatusCode::OK);
    let listed = body["connections"].as_array().expect("list");
    assert_eq!(listed.len(), 3);
    let first = &listed[0];
    for field in [
        "id",
        "connection_id",
        "provider_config_key",
        "provider",
        "created",
        "metadata",
        "errors",
        "end_user",
        "tags",
    ] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    assert!(
        !body.to_string().contains("token-a"),
        "no credentials in the list"
    );
    let (_, body) = send(harness.api(Method::GET, "/connections?connectionId=b")).await;
    assert_eq!(body["connections"][0]["connection_id"], "b");
    assert_eq!(body["connections"].as_array().map(Vec::len), Some(1));
    let (_, body) = send(harness.api(
        Method::GET,
        "/connections?integrationId=checkr-partner-staging",
    ))
    .await;
    assert_eq!(body["connections"], json!([]));
    let (_, body) = send(harness.api(Method::GET, "/connections?limit=2&page=1")).await;
    assert_eq!(body["connections"][0]["connection_id"], "c");
    let (status, body) = send(harness.api(Method::GET, "/connections?limit=lots")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("limit")
    );

    let (status, body) = send(harness.api(
        Method::GET,
        "/connections/a?provider_config_key=checkr-partner",
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    for field in [
        "id",
        "connection_id",
        "provider_config_key",
        "provider",
        "created_at",
        "updated_at",
        "last_fetched_at",
        "metadata",
        "connection_config",
        "errors",
        "end_user",
        "tags",
        "credentials",
    ] {
        assert!(body.get(field).is_some(), "{field} in {body}");
    }
    assert_eq!(body["credentials"]["type"], "OAUTH2");
    assert_eq!(body["credentials"]["access_token"], "token-a");
    assert!(body["last_fetched_at"].is_string(), "fetching is recorded");
    let (status, body) = send(harness.api(Method::GET, "/connections/a")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("provider_config_key")
    );
    let (status, body) = send(harness.api(
        Method::GET,
        "/connections/zzz?provider_config_key=checkr-partner",
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "unknown_connection");

    // Metadata: POST replaces, PATCH merges, several connections at once.
    let (status, body) = send(
        harness
            .api(Method::POST, "/connections/metadata")
            .json(&json!({
                "metadata": {"team": "ops", "tier": 1},
                "connection_id": ["a", "b"],
                "provider_config_key": CHECKR,
            })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = send(
        harness
            .api(Method::PATCH, "/connections/metadata")
            .json(&json!({
                "metadata": {"tier": 2},
                "connection_id": "a",
                "provider_config_key": CHECKR,
            })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let store = harness.store();
    assert_eq!(
        store
            .get(CHECKR, "a")
            .await
            .expect("a")
            .expect("a")
            .metadata,
        json!({"team": "ops", "tier": 2})
    );
    assert_eq!(
        store
            .get(CHECKR, "b")
            .await
            .expect("b")
            .expect("b")
            .metadata,
        json!({"team": "ops", "tier": 1})
    );
    let (status, body) = send(harness.api(Method::POST, "/connections/metadata").json(&json!({
        "metadata": {"x": 1}, "connection_id": ["a", "ghost"], "provider_config_key": CHECKR,
    })))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "unknown_connection");
    assert_eq!(
        store
            .get(CHECKR, "a")
            .await
            .expect("a")
            .expect("a")
            .metadata["tier"],
        2,
        "all or nothing"
    );
    for bad in [
        json!({"metadata": [1], "connection_id": "a", "provider_config_key": CHECKR}),
        json!({"metadata": {}, "provider_config_key": CHECKR}),
        json!({"metadata": {}, "connection_id": 5, "provider_config_key": CHECKR}),
    ] {
        let (status, body) = send(
            harness
                .api(Method::POST, "/connections/metadata")
                .json(&bad),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(code(&body), "invalid_body");
    }
    let (status, body) = send(
        harness
            .api(Method::PATCH, "/connections/metadata")
            .body("{oops"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "invalid_body");

    // Delete a connection the provider does not know: the token is already dead, so
    // deauthorization is moot and the connection goes.
    let (status, body) = send(harness.api(
        Method::DELETE,
        "/connections/c?provider_config_key=checkr-partner",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"success": true}));
    assert!(!harness.has_connection("c").await);
    let (status, body) = send(harness.api(
        Method::DELETE,
        "/connections/c?provider_config_key=checkr-partner",
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "unknown_connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrations_are_listed_and_their_oauth_credentials_set_over_the_api() {
    let harness = ServerHarness::start().await;
    let (status, body) = send(harness.api(Method::GET, "/integrations")).await;
    assert_eq!(status, StatusCode::OK);
    let data = body["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["unique_key"], "checkr-partner");
    assert_eq!(data[0]["provider"], "checkr-partner");
    assert_eq!(data[0]["display_name"], "Checkr (partner)");
    for field in ["logo", "created_at", "updated_at"] {
        assert!(data[0].get(field).is_some(), "{field}");
    }
    let (status, body) = send(harness.api(
        Method::GET,
        "/integrations/checkr-partner?include=credentials",
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["credentials"]["client_id"], CLIENT_ID);
    assert!(
        !body.to_string().contains(CLIENT_SECRET),
        "never the secret"
    );
    let (status, body) = send(harness.api(Method::GET, "/integrations/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "unknown_provider_config");

    // The staging integration has no OAuth app until one is set over the API.
    let (status, body) = send(harness.api(
        Method::GET,
        "/oauth/connect/checkr-partner-staging?connection_id=s",
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = send(harness.api(Method::PATCH, "/integrations/checkr-partner-staging").json(&json!({
        "credentials": {"type": "OAUTH2", "client_id": "staging-client", "client_secret": "staging-secret-value", "scopes": "read_write"}
    })))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["credentials"]["client_id"], "staging-client");
    assert!(!body.to_string().contains("staging-secret-value"));
    let response = harness
        .api(
            Method::GET,
            "/oauth/connect/checkr-partner-staging?connection_id=s",
        )
        .send()
        .await
        .expect("connect");
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response).path(), "/authorize/staging-client");
    // Stored encrypted.
    let stored = harness
        .store()
        .integration_credentials("checkr-partner-staging")
        .await
        .expect("readable")
        .expect("stored");
    assert_eq!(stored.client_secret, "staging-secret-value");
    let bytes = std::fs::read(&harness.db_path).expect("db");
    assert!(
        !bytes
            .windows(20)
            .any(|window| window == b"staging-secret-value")
    );

    for (bad, needle) in [
        (
            json!({"credentials": {"type": "API_KEY", "client_id": "x", "client_secret": "y"}}),
            "type",
        ),
        (
            json!({"credentials": {"type": "OAUTH2", "client_secret": "y"}}),
            "client_id",
        ),
        (
            json!({"credentials": {"type": "OAUTH2", "client_id": "x", "client_secret": "y", "extra": 1}}),
            "extra",
        ),
    ] {
        let (status, body) = send(
            harness
                .api(Method::PATCH, "/integrations/checkr-partner")
                .json(&bad),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(code(&body), "invalid_body");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_config_lists_actions_with_their_schemas() {
    let harness = ServerHarness::start().await;
    let (status, body) = send(harness.api(Method::GET, "/scripts/config")).await;
    assert_eq!(status, StatusCode::OK);
    let integrations = body.as_array().expect("array");
    let checkr = integrations
        .iter()
        .find(|entry| entry["providerConfigKey"] == CHECKR)
        .expect("checkr-partner");
    let get_account = checkr["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|action| action["name"] == "get-account")
        .expect("get-account");
    assert!(
        get_account["description"]
            .as_str()
            .is_some_and(|text| !text.is_empty())
    );
    assert!(get_account["input"].is_object(), "{get_account}");
    assert!(get_account["output"].is_object(), "{get_account}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_json() {
    let harness = ServerHarness::start().await;
    let (status, body) = send(harness.api(Method::GET, "/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "not_found");
    let (status, body) = send(harness.api(Method::PUT, "/integrations")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(code(&body), "method_not_allowed");
    let big = vec![b'x'; 11 << 20];
    let (status, body) = send(
        harness
            .api(Method::POST, "/action/trigger")
            .header("Connection-Id", "a")
            .header("Provider-Config-Key", CHECKR)
            .body(big),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&body), "payload_too_large");
}
