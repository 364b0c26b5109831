//! Partner OAuth: authorize, token exchange, single use, expiry, deny mode,
//! deauthorization.

mod common;

use std::time::Duration;

use checkr_sim::{AccountSeed, OAuthApp, SimConfig, Simulator};
use common::{Api, basic, start_with};
use reqwest::StatusCode;
use serde_json::json;

const CLIENT_ID: &str = "cid-123";
const SECRET: &str = "s3cret";
const REDIRECT: &str = "https://app.example.com/oauth/callback";

async fn start() -> (Simulator, Api) {
    start_with(SimConfig::default().with_oauth_app(
        OAuthApp::new(CLIENT_ID, SECRET, REDIRECT).with_redirect_uri("http://127.0.0.1:1/cb"),
    ))
    .await
}

/// Runs the authorize step and returns the redirect's query pairs.
async fn authorize(api: &Api, redirect_uri: &str, state: &str) -> Vec<(String, String)> {
    let resp = api
        .send(
            api.client
                .get(api.url(&format!("/authorize/{CLIENT_ID}")))
                .query(&[
                    ("redirect_uri", redirect_uri),
                    ("scope", "read_write"),
                    ("state", state),
                ]),
        )
        .await;
    assert_eq!(resp.status, StatusCode::FOUND, "{}", resp.text);
    let location = resp.header("location").expect("location");
    let mut url = url::Url::parse(location).expect("location URL");
    let pairs = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_query(None);
    assert_eq!(url.as_str(), redirect_uri);
    pairs
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn exchange_form(api: &Api, code: &str, secret: &str) -> common::Resp {
    api.send(api.client.post(api.url("/oauth/tokens")).form(&[
        ("client_id", CLIENT_ID),
        ("client_secret", secret),
        ("code", code),
    ]))
    .await
}

#[tokio::test]
async fn code_flow_issues_a_working_token_once() {
    let (sim, api) = start().await;
    let pairs = authorize(&api, REDIRECT, "xyz").await;
    assert_eq!(param(&pairs, "state"), Some("xyz"));
    let code = param(&pairs, "code").expect("code").to_string();

    let resp = exchange_form(&api, &code, SECRET).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let body = resp.json();
    assert_eq!(body["scope"], "read_write");
    let token = body["access_token"].as_str().expect("token").to_string();
    let account_id = body["checkr_account_id"]
        .as_str()
        .expect("account")
        .to_string();
    let account = api.get(&token, "/v1/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert_eq!(account.json()["id"], account_id.as_str());
    assert_eq!(sim.account_id(&token), Some(account_id));

    // Single use.
    let again = exchange_form(&api, &code, SECRET).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(
        again.error().contains("already been used"),
        "{}",
        again.text
    );

    // JSON body with grant_type works too; each exchange connects a fresh account.
    let code2 = param(&authorize(&api, REDIRECT, "s2").await, "code")
        .expect("code")
        .to_string();
    let resp = api
        .send(api.client.post(api.url("/oauth/tokens")).json(&json!({
            "client_id": CLIENT_ID, "client_secret": SECRET, "code": code2,
            "grant_type": "authorization_code"
        })))
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_ne!(resp.json()["access_token"], body["access_token"]);
    assert_ne!(resp.json()["checkr_account_id"], body["checkr_account_id"]);
}

#[tokio::test]
async fn token_exchange_errors() {
    let (sim, api) = start().await;
    let code = param(&authorize(&api, REDIRECT, "s").await, "code")
        .expect("code")
        .to_string();
    let wrong_secret = exchange_form(&api, &code, "wrong").await;
    assert_eq!(wrong_secret.status, StatusCode::UNAUTHORIZED);
    assert!(wrong_secret.json().get("error").is_some());
    let unknown = exchange_form(&api, "not-a-code", SECRET).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let missing = api
        .send(
            api.client
                .post(api.url("/oauth/tokens"))
                .form(&[("client_id", CLIENT_ID), ("code", &code)]),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error(), "client_secret is a required field");
    let bad_grant = api
        .send(api.client.post(api.url("/oauth/tokens")).form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("code", &code),
            ("grant_type", "refresh_token"),
        ]))
        .await;
    assert_eq!(bad_grant.status, StatusCode::BAD_REQUEST);
    // The failed attempts did not use the code up.
    assert_eq!(
        exchange_form(&api, &code, SECRET).await.status,
        StatusCode::OK
    );

    // expire_codes() expires every issued code.
    let code = param(&authorize(&api, REDIRECT, "s").await, "code")
        .expect("code")
        .to_string();
    sim.expire_codes();
    let expired = exchange_form(&api, &code, SECRET).await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST);
    assert!(expired.error().contains("expired"), "{}", expired.text);

    // So does the clock passing five minutes.
    let code = param(&authorize(&api, REDIRECT, "s").await, "code")
        .expect("code")
        .to_string();
    sim.advance_clock(Duration::from_secs(4 * 60));
    let code_ok = param(&authorize(&api, REDIRECT, "s").await, "code")
        .expect("code")
        .to_string();
    sim.advance_clock(Duration::from_secs(61));
    assert_eq!(
        exchange_form(&api, &code, SECRET).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        exchange_form(&api, &code_ok, SECRET).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn authorize_checks_client_and_redirect() {
    let (sim, api) = start().await;
    let unknown = api
        .send(
            api.client
                .get(api.url("/authorize/nobody"))
                .query(&[("redirect_uri", REDIRECT)]),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    for bad in [
        "https://evil.example.com/cb",
        "http://app.example.com/oauth/callback",
        "not a url",
    ] {
        let resp = api
            .send(
                api.client
                    .get(api.url(&format!("/authorize/{CLIENT_ID}")))
                    .query(&[("redirect_uri", bad)]),
            )
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(resp.json().get("error").is_some());
    }
    // Loopback http is fine, any port; the older URL works too; no redirect_uri
    // means the first registered one.
    let loopback = authorize(&api, "http://127.0.0.1:4567/cb", "st").await;
    assert!(param(&loopback, "code").is_some());
    let old = api
        .send(
            api.client
                .get(api.url(&format!("/oauth/authorize/{CLIENT_ID}"))),
        )
        .await;
    assert_eq!(old.status, StatusCode::FOUND);
    assert!(
        old.header("location")
            .is_some_and(|l| l.starts_with(REDIRECT))
    );

    // Deny mode.
    sim.set_oauth_deny(true);
    let denied = authorize(&api, REDIRECT, "st-9").await;
    assert_eq!(param(&denied, "error"), Some("access_denied"));
    assert_eq!(param(&denied, "state"), Some("st-9"));
    assert_eq!(param(&denied, "code"), None);
}

#[tokio::test]
async fn deauthorize_revokes_the_token() {
    let partner = AccountSeed::new("Customer One").with_id("cccccccccccccccccccccccc");
    let (sim, api) =
        start_with(SimConfig::default().with_oauth_app(
            OAuthApp::new(CLIENT_ID, SECRET, REDIRECT).with_connect_account(partner),
        ))
        .await;
    let code = param(&authorize(&api, REDIRECT, "s").await, "code")
        .expect("code")
        .to_string();
    let body = exchange_form(&api, &code, SECRET).await.json();
    assert_eq!(body["checkr_account_id"], "cccccccccccccccccccccccc");
    let token = body["access_token"].as_str().expect("token").to_string();
    assert_eq!(api.get(&token, "/v1/account").await.status, StatusCode::OK);

    let unauthenticated = api
        .send(api.client.post(api.url("/oauth/deauthorize")))
        .await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    let resp = api
        .send(
            api.client
                .post(api.url("/oauth/deauthorize"))
                .header("authorization", basic(&token)),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.json(), json!({"access_token": token}));
    let after = api.get(&token, "/v1/account").await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.json(), json!({"error": "Bad authentication error"}));

    let event = sim
        .events()
        .into_iter()
        .find(|e| e["type"] == "token.deauthorized")
        .expect("event");
    assert_eq!(event["data"]["object"]["access_code"], token.as_str());
    assert_eq!(event["object"], "event");
}
