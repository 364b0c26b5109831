//! `GET /v1/account`.

use crate::common::{HIER_TOKEN, TOKEN, parse_iso, start};
use reqwest::StatusCode;

#[tokio::test]
async fn account_has_the_documented_fields() {
    let (sim, api) = start().await;
    let resp = api.get(TOKEN, "/v1/account").await;
    assert_eq!(resp.status, StatusCode::OK);
    let account = resp.json();
    for field in [
        "id",
        "object",
        "uri",
        "uri_name",
        "name",
        "created_at",
        "authorized",
        "api_authorized",
        "purpose",
        "available_screenings",
        "company",
        "billing_email",
        "technical_contact_email",
        "support_email",
        "support_phone",
        "default_compliance_state",
        "geos_required",
        "segmentation_enabled",
    ] {
        assert!(account.get(field).is_some(), "missing {field}: {account}");
    }
    assert_eq!(account["object"], "account");
    assert_eq!(account["name"], "Acme Staffing");
    assert_eq!(account["uri_name"], "acme-staffing");
    assert_eq!(
        account["uri"],
        format!("/v1/accounts/{}", account["id"].as_str().expect("id"))
    );
    assert_eq!(account["purpose"], "employment");
    assert_eq!(account["segmentation_enabled"], false);
    assert_eq!(account["company"]["name"], "Acme Staffing");
    assert!(
        account["available_screenings"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
    parse_iso(account["created_at"].as_str().expect("created_at"));
    assert_eq!(account["id"].as_str().map(str::len), Some(24));
    assert_eq!(sim.account_id(TOKEN).as_deref(), account["id"].as_str());

    let hier = api.get(HIER_TOKEN, "/v1/account").await.json();
    assert_eq!(hier["segmentation_enabled"], true);
    assert_ne!(hier["id"], account["id"]);
}
