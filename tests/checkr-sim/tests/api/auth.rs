//! Authentication, tokens shared by accounts, and rate-limit headers.

use std::time::Duration;

use crate::common;
use crate::common::{TOKEN, parse_iso, start, start_with};
use checkr_sim::{AccountSeed, SimConfig};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn bad_credentials_get_401_json() {
    let (sim, api) = start().await;
    let no_auth = api.send(api.client.get(api.url("/v1/account"))).await;
    let unknown = api.get("nope", "/v1/account").await;
    let bearer = api
        .send(api.client.get(api.url("/v1/account")).bearer_auth(TOKEN))
        .await;
    let with_password = api
        .send(
            api.client
                .get(api.url("/v1/account"))
                .basic_auth(TOKEN, Some("pw")),
        )
        .await;
    for resp in [&no_auth, &unknown, &bearer, &with_password] {
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
        assert_eq!(resp.json(), json!({"error": "Bad authentication error"}));
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert!(resp.header("x-ratelimit-reset").is_some());
    }
    // reqwest's basic_auth with no password sends exactly `token:`.
    let ok = api
        .send(
            api.client
                .get(api.url("/v1/account"))
                .basic_auth(TOKEN, None::<&str>),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);

    sim.revoke_token(TOKEN);
    assert_eq!(
        api.get(TOKEN, "/v1/account").await.status,
        StatusCode::UNAUTHORIZED
    );
    let id = sim.add_token("fresh", AccountSeed::new("Fresh Co"));
    let resp = api.get("fresh", "/v1/account").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.json()["id"], id.as_str());
}

#[tokio::test]
async fn tokens_with_the_same_account_id_share_data() {
    let seed = AccountSeed::new("Shared").with_id("aaaaaaaaaaaaaaaaaaaaaaaa");
    let (_sim, api) = start_with(
        SimConfig::default()
            .with_token("a", seed.clone())
            .with_token("b", seed)
            .with_token("c", AccountSeed::new("Other")),
    )
    .await;
    let id = api.candidate("a", "shared@example.com").await;
    assert_eq!(
        api.get("b", &format!("/v1/candidates/{id}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.get("c", &format!("/v1/candidates/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn rate_limit_headers_and_429() {
    let (sim, api) =
        start_with(SimConfig::default().with_token(TOKEN, AccountSeed::default())).await;
    let first = api.get(TOKEN, "/v1/account").await;
    let second = api.get(TOKEN, "/v1/account").await;
    assert_eq!(first.header("x-ratelimit-limit"), Some("1200"));
    let remaining = |r: &common::Resp| -> u32 {
        r.header("x-ratelimit-remaining")
            .and_then(|v| v.parse().ok())
            .expect("remaining")
    };
    // (Unless a minute boundary fell between the two requests.)
    if first.header("x-ratelimit-reset") == second.header("x-ratelimit-reset") {
        assert!(remaining(&second) < remaining(&first));
    }
    let reset_raw = first.header("x-ratelimit-reset").expect("reset");
    assert!(
        reset_raw.ends_with('Z') && reset_raw.len() == 20,
        "{reset_raw}"
    );
    let reset = parse_iso(reset_raw);
    let now = sim.now();
    assert_eq!(reset.second(), 0);
    assert!(reset > now - Duration::from_secs(1) && reset <= now + Duration::from_secs(61));

    // A frozen clock makes the window boundary deterministic.
    sim.freeze_clock(time::macros::datetime!(2030-01-01 12:00:10 UTC));
    sim.set_rate_limit(3);
    for expected in ["2", "1", "0"] {
        let resp = api.get(TOKEN, "/v1/account").await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.header("x-ratelimit-remaining"), Some(expected));
        assert_eq!(
            resp.header("x-ratelimit-reset"),
            Some("2030-01-01T12:01:00Z")
        );
    }
    let limited = api.get(TOKEN, "/v1/account").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.json(), json!({"error": "Too many requests"}));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(limited.header("x-ratelimit-limit"), Some("3"));
    // Another token has its own window.
    sim.add_token("other", AccountSeed::default());
    assert_eq!(api.get("other", "/v1/account").await.status, StatusCode::OK);
    // The next minute resets the count.
    sim.advance_clock(Duration::from_secs(60));
    let next = api.get(TOKEN, "/v1/account").await;
    assert_eq!(next.status, StatusCode::OK);
    assert_eq!(
        next.header("x-ratelimit-reset"),
        Some("2030-01-01T12:02:00Z")
    );
}
