//! Packages: list and show.

use crate::common::{TOKEN, start};
use reqwest::StatusCode;

#[tokio::test]
async fn packages_list_and_show() {
    let (_sim, api) = start().await;
    let list = api.get(TOKEN, "/v1/packages").await.json();
    assert_eq!(list["count"], 4);
    let slugs: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|p| p["slug"].as_str())
        .collect();
    assert_eq!(
        slugs,
        [
            "tasker_standard",
            "tasker_pro",
            "driver_standard",
            "driver_pro"
        ]
    );
    let pro = api.get(TOKEN, "/v1/packages/driver_pro").await.json();
    assert_eq!(pro["object"], "package");
    assert_eq!(pro["name"], "Driver Pro");
    assert!(pro["price"].as_u64().is_some_and(|p| p > 0));
    let types: Vec<&str> = pro["screenings"]
        .as_array()
        .expect("screenings")
        .iter()
        .filter_map(|s| s["type"].as_str())
        .collect();
    assert!(types.contains(&"motor_vehicle_report") && types.contains(&"ssn_trace"));
    let by_id = api
        .get(
            TOKEN,
            &format!("/v1/packages/{}", pro["id"].as_str().expect("id")),
        )
        .await
        .json();
    assert_eq!(by_id, pro);
    let paged = api
        .get(TOKEN, "/v1/packages?per_page=3&page=2")
        .await
        .json();
    assert_eq!(paged["data"].as_array().map(Vec::len), Some(1));
    let missing = api.get(TOKEN, "/v1/packages/platinum").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error(), "Package not found");
}
