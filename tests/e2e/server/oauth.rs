//! The OAuth connect against the simulator: the whole dance, every way it must refuse,
//! deauthorization on delete, and encryption at rest.

use crate::server::support::*;
use crate::support::{CHECKR, basic};
use checkr_sim::AccountSeed;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use terapi_runtime::{
    ConnectionStore, Credentials, OAuthSession, OAuthSessionStore, oauth::state_digest,
};
use time::OffsetDateTime;

async fn access_token(harness: &ServerHarness, connection_id: &str) -> String {
    match harness
        .store()
        .get(CHECKR, connection_id)
        .await
        .expect("readable")
        .expect("stored")
        .credentials
    {
        Credentials::OAuth2 { access_token, .. } => access_token,
        other => panic!("expected OAuth2 credentials, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_dance_stores_the_token_and_the_action_runs_with_it() {
    let harness = ServerHarness::start_with(
        AccountSeed::new("Hierarchy Corp").with_hierarchy(true),
        |_| {},
    )
    .await;
    let authorize = harness.start_connect("customer-1").await;
    // The authorize URL: client id in the path, redirect URI, scope, state.
    assert_eq!(authorize.path(), format!("/authorize/{CLIENT_ID}"));
    let query: std::collections::HashMap<String, String> =
        authorize.query_pairs().into_owned().collect();
    assert_eq!(
        query["redirect_uri"],
        format!("{}/oauth/callback", harness.base_url)
    );
    assert_eq!(query["scope"], "read_write");
    assert!(query["state"].len() >= 40, "a long random state");

    let done = harness.browse(authorize).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["success"], true);
    assert_eq!(done.body["connection_id"], "customer-1");

    // The token exchange was form-encoded with the client credentials.
    let exchange = harness
        .sim
        .requests()
        .into_iter()
        .find(|request| request.path == "/oauth/tokens")
        .expect("token exchange");
    assert!(
        exchange
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/x-www-form-urlencoded")
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&exchange.body)
        .into_owned()
        .collect();
    for (name, value) in [
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("grant_type", "authorization_code"),
    ] {
        assert!(
            form.contains(&(name.to_string(), value.to_string())),
            "{name} in {form:?}"
        );
    }

    let (status, connection) = send(harness.api(
        Method::GET,
        &format!("/connections/customer-1?provider_config_key={CHECKR}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = access_token(&harness, "customer-1").await;
    assert_eq!(connection["credentials"]["type"], "OAUTH2");
    assert_eq!(connection["credentials"]["access_token"], token);
    assert_eq!(connection["credentials"]["raw"]["scope"], "read_write");
    let account_id = harness.sim.account_id(&token).expect("the token is live");
    assert_eq!(
        connection["connection_config"]["checkr_account_id"],
        account_id
    );
    assert_eq!(
        connection["connection_config"]["accountHierarchyEnabled"],
        true
    );

    // The action runs with the new token.
    harness.sim.clear_requests();
    let (status, account) = send(
        harness
            .api(Method::POST, "/action/trigger")
            .header("Connection-Id", "customer-1")
            .header("Provider-Config-Key", CHECKR)
            .json(&json!({ "action_name": "get-account" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["name"], "Hierarchy Corp");
    assert_eq!(
        harness.sim.requests()[0].header("authorization"),
        Some(basic(&token).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_without_hierarchy_is_recorded_as_such() {
    let harness = ServerHarness::start().await;
    let done = harness.connect("plain").await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    let connection = harness
        .store()
        .get(CHECKR, "plain")
        .await
        .expect("readable")
        .expect("stored");
    assert_eq!(
        connection.connection_config["accountHierarchyEnabled"],
        false
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_state_is_rejected_without_a_token_exchange() {
    let harness = ServerHarness::start().await;
    let authorize = harness.start_connect("victim").await;
    // A real code, from the provider, but with a state the server never issued.
    let response = harness
        .client
        .get(authorize)
        .send()
        .await
        .expect("authorize");
    let callback = location(&response);
    let code = callback
        .query_pairs()
        .find(|(key, _)| key == "code")
        .map(|(_, value)| value.into_owned())
        .expect("code");
    let forged = format!(
        "{}/oauth/callback?code={code}&state=forged-state",
        harness.base_url
    );
    let (status, body) = send(harness.client.get(forged)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code_of(&body), "invalid_state");
    assert_eq!(harness.token_exchanges(), 0);
    assert!(!harness.has_connection("victim").await);

    let (status, body) = send(
        harness
            .client
            .get(format!("{}/oauth/callback?code={code}", harness.base_url)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code_of(&body), "invalid_state", "a missing state too");
}

fn code_of(body: &Value) -> &str {
    code(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_state_is_rejected_and_nothing_is_exchanged_twice() {
    let harness = ServerHarness::start().await;
    let done = harness.connect("once").await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(harness.token_exchanges(), 1);
    let token = access_token(&harness, "once").await;
    let (status, body) = send(harness.client.get(done.callback().clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code_of(&body), "invalid_state");
    assert_eq!(harness.token_exchanges(), 1, "no second exchange");
    assert_eq!(access_token(&harness, "once").await, token, "unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_state_is_rejected_without_a_token_exchange() {
    let harness = ServerHarness::start().await;
    // A pending authorization that expired a minute ago, as the server stores them.
    let now = OffsetDateTime::now_utc();
    harness
        .store()
        .put_oauth_session(&OAuthSession {
            state_digest: state_digest("stale-state"),
            provider_config_key: CHECKR.into(),
            connection_id: "late".into(),
            created_at: now - time::Duration::minutes(11),
            expires_at: now - time::Duration::minutes(1),
        })
        .await
        .expect("session stored");
    let (status, body) = send(harness.client.get(format!(
        "{}/oauth/callback?code=anything&state=stale-state",
        harness.base_url
    )))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code_of(&body), "expired_state");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("10 minutes")
    );
    assert_eq!(harness.token_exchanges(), 0);
    assert!(!harness.has_connection("late").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_shows_a_failure_page_and_stores_nothing() {
    let harness = ServerHarness::start().await;
    harness.sim.set_oauth_deny(true);
    let done = harness.connect("denied").await;
    assert_eq!(done.status, StatusCode::BAD_REQUEST);
    assert_eq!(done.callback_param("error"), "access_denied");
    assert_eq!(code_of(&done.body), "oauth_authorization_failed");
    assert!(
        done.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("access_denied")
    );
    assert_eq!(harness.token_exchanges(), 0);
    assert!(!harness.has_connection("denied").await);

    // A browser gets an HTML page, not JSON and not a 500.
    harness.sim.set_oauth_deny(true);
    let authorize = harness.start_connect("denied-html").await;
    let response = harness
        .client
        .get(authorize)
        .send()
        .await
        .expect("authorize");
    let page = harness
        .client
        .get(location(&response))
        .header(reqwest::header::ACCEPT, "text/html")
        .send()
        .await
        .expect("callback");
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(
        page.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let text = page.text().await.expect("page");
    assert!(
        text.contains("Connection failed") && text.contains("access_denied"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_code_is_rejected_by_the_provider_and_nothing_is_stored() {
    let harness = ServerHarness::start().await;
    let first = harness.connect("first").await;
    assert_eq!(first.status, StatusCode::OK);
    let used_code = first.callback_param("code");
    // A fresh, valid state for another connection, but the already-used code.
    let authorize = harness.start_connect("second").await;
    let fresh_state = authorize
        .query_pairs()
        .find(|(key, _)| key == "state")
        .map(|(_, value)| value.into_owned())
        .expect("state");
    let mut callback =
        reqwest::Url::parse(&format!("{}/oauth/callback", harness.base_url)).expect("url");
    callback
        .query_pairs_mut()
        .append_pair("code", &used_code)
        .append_pair("state", &fresh_state);
    let (status, body) = send(harness.client.get(callback)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(code_of(&body), "token_exchange_failed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("already been used"),
        "{body}"
    );
    assert!(!harness.has_connection("second").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_needs_the_secret_key_or_a_valid_signed_link() {
    let harness = ServerHarness::start().await;
    let url = format!(
        "{}/oauth/connect/{CHECKR}?connection_id=someone",
        harness.base_url
    );
    let (status, body) = send(harness.client.get(&url)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code_of(&body), "missing_auth_header");
    let (status, _) = send(harness.client.get(&url).bearer_auth("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let forged = format!("{url}&expires=99999999999&signature=00");
    let (status, body) = send(harness.client.get(&forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code_of(&body), "invalid_connect_link");

    // The link `terapi connect` prints works without the key, for that connection only.
    let mut config = terapi_runtime::RuntimeConfig::default();
    config.server.public_url = Some(harness.base_url.clone());
    let link = terapi_server::connect_link(
        &config,
        SECRET_KEY,
        CHECKR,
        "someone",
        std::time::Duration::from_secs(60),
    );
    let done = harness
        .browse(reqwest::Url::parse(&link).expect("link"))
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert!(harness.has_connection("someone").await);
    let other = link.replace("connection_id=someone", "connection_id=someone-else");
    let (status, _) = send(harness.client.get(other)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "bound to its connection");

    // Bad input is named.
    let (status, body) = send(harness.api(Method::GET, &format!("/oauth/connect/{CHECKR}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("connection_id")
    );
    let (status, body) = send(harness.api(
        Method::GET,
        "/oauth/connect/checkr-partner-staging?connection_id=x",
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code_of(&body), "oauth_not_configured");
    let (status, body) =
        send(harness.api(Method::GET, "/oauth/connect/nope?connection_id=x")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code_of(&body), "unknown_provider_config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_deauthorizes_then_removes_and_the_simulator_rejects_the_token() {
    let harness = ServerHarness::start().await;
    assert_eq!(harness.connect("leaving").await.status, StatusCode::OK);
    let token = access_token(&harness, "leaving").await;
    harness.sim.clear_requests();
    let (status, body) = send(harness.api(
        Method::DELETE,
        &format!("/connections/leaving?provider_config_key={CHECKR}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "success": true }));
    let deauthorize = harness
        .sim
        .requests()
        .into_iter()
        .find(|request| request.path == "/oauth/deauthorize")
        .expect("deauthorize called");
    assert_eq!(deauthorize.method, "POST");
    assert_eq!(
        deauthorize.header("authorization"),
        Some(basic(&token).as_str())
    );
    assert!(!harness.has_connection("leaving").await);
    assert_eq!(harness.sim.account_id(&token), None, "the token is revoked");
    let direct = harness
        .client
        .get(format!("{}/v1/account", harness.sim.base_url()))
        .header(reqwest::header::AUTHORIZATION, basic(&token))
        .send()
        .await
        .expect("direct");
    assert_eq!(direct.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deauthorization_keeps_the_connection_and_says_so() {
    let harness = ServerHarness::start().await;
    assert_eq!(harness.connect("staying").await.status, StatusCode::OK);
    harness
        .sim
        .inject_fault(checkr_sim::Fault::status("/oauth/deauthorize", 503).times(10));
    let (status, body) = send(harness.api(
        Method::DELETE,
        &format!("/connections/staying?provider_config_key={CHECKR}"),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(code_of(&body), "deauthorize_failed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("kept"),
        "{body}"
    );
    assert!(harness.has_connection("staying").await);
    let token = access_token(&harness, "staying").await;
    assert!(harness.sim.account_id(&token).is_some(), "still live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_file_holds_no_token_bytes() {
    let harness = ServerHarness::start().await;
    assert_eq!(harness.connect("secretive").await.status, StatusCode::OK);
    let token = access_token(&harness, "secretive").await;
    let mut bytes = std::fs::read(&harness.db_path).expect("database file");
    for suffix in ["-wal", "-shm"] {
        let mut path = harness.db_path.clone().into_os_string();
        path.push(suffix);
        if let Ok(more) = std::fs::read(path) {
            bytes.extend(more);
        }
    }
    assert!(bytes.len() > 1000, "the database has content");
    assert!(
        !bytes
            .windows(token.len())
            .any(|window| window == token.as_bytes()),
        "the access token is not stored in clear"
    );
    assert!(
        bytes
            .windows(b"secretive".len())
            .any(|window| window == b"secretive"),
        "sanity: the connection id itself is stored in clear"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_encryption_key_the_server_refuses_to_start_unless_insecure_dev() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let config = terapi_runtime::RuntimeConfig {
        data_dir: data_dir.path().to_path_buf(),
        ..Default::default()
    };
    let env = |with_secret: bool| -> terapi_server::EnvLookup {
        std::sync::Arc::new(move |name: &str| {
            (with_secret && name == "TERAPI_SECRET_KEY").then(|| SECRET_KEY.to_string())
        })
    };
    let options = |insecure_dev, with_secret| terapi_server::ServeOptions {
        insecure_dev,
        listen: Some("127.0.0.1:0".parse().expect("addr")),
        env: env(with_secret),
    };
    let error = terapi_server::Server::bind(config.clone(), options(false, true))
        .await
        .expect_err("no encryption key");
    assert!(
        error.to_string().contains("TERAPI_ENCRYPTION_KEY"),
        "{error}"
    );
    assert!(error.to_string().contains("--insecure-dev"), "{error}");
    let error = terapi_server::Server::bind(config.clone(), options(true, false))
        .await
        .expect_err("no secret key");
    assert!(error.to_string().contains("TERAPI_SECRET_KEY"), "{error}");
    terapi_server::Server::bind(config, options(true, true))
        .await
        .expect("insecure dev mode starts");
}
