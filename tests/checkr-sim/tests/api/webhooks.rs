//! Webhooks and their signatures.

use crate::common::{TOKEN, start};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn webhooks_crud() {
    let (_sim, api) = start().await;
    let missing = api.post(TOKEN, "/v1/webhooks", json!({})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error(), "webhook_url is missing");
    let insecure = api
        .post(
            TOKEN,
            "/v1/webhooks",
            json!({"webhook_url": "http://example.com/hook"}),
        )
        .await;
    assert_eq!(insecure.status, StatusCode::BAD_REQUEST);
    let created = api
        .post(
            TOKEN,
            "/v1/webhooks",
            json!({"webhook_url": "https://example.com/hook", "include_object": true, "live": false}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let hook = created.json();
    assert_eq!(hook["object"], "webhook");
    assert_eq!(hook["include_object"], true);
    let id = hook["id"].as_str().expect("id").to_string();
    let dup = api
        .post(
            TOKEN,
            "/v1/webhooks",
            json!({"webhook_url": "https://example.com/hook"}),
        )
        .await;
    assert_eq!(dup.error(), "Url has already been taken");
    let local = api
        .post(
            TOKEN,
            "/v1/webhooks",
            json!({"webhook_url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(local.status, StatusCode::CREATED);
    assert_eq!(api.get(TOKEN, "/v1/webhooks").await.json()["count"], 2);
    assert_eq!(
        api.get(TOKEN, &format!("/v1/webhooks/{id}")).await.json(),
        hook
    );
    let deleted = api.delete(TOKEN, &format!("/v1/webhooks/{id}")).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.json()["id"], id.as_str());
    assert_eq!(api.get(TOKEN, "/v1/webhooks").await.json()["count"], 1);
    assert_eq!(
        api.delete(TOKEN, &format!("/v1/webhooks/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn webhook_signature_test_vector() {
    assert_eq!(
        checkr_sim::sign_webhook(b"test-secret", br#"{"monday":"75F","tuesday":"80F"}"#),
        "b7412f05e981a473b5ecbdb5393afaea02a679db6d7c8e56803512ec4ba98151"
    );
}
