//! Account hierarchy: nodes, and which packages a node may order.

use crate::common::{HIER_TOKEN, TOKEN, start, start_with};
use checkr_sim::{AccountSeed, NodeSeed, SimConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn hierarchy_on_and_off() {
    let (_sim, api) = start().await;
    // Without hierarchy: nodes are forbidden, node is not required.
    let nodes = api.get(TOKEN, "/v1/nodes").await;
    assert_eq!(nodes.status, StatusCode::FORBIDDEN);
    assert_eq!(
        nodes.json(),
        json!({"error": "Sorry, your account is not enabled for Hierarchy"})
    );
    let flat = api.candidate(TOKEN, "flat@example.com").await;
    let ok = api
        .post(
            TOKEN,
            "/v1/invitations",
            json!({"package": "tasker_pro", "candidate_id": flat}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);

    // With hierarchy: nodes listed (paginated), node required and checked.
    let mut url = "/v1/nodes?include=packages&per_page=3".to_string();
    let mut all = Vec::new();
    loop {
        let resp = api.get(HIER_TOKEN, &url).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        let body = resp.json();
        assert_eq!(body["count"], 7);
        all.extend(body["data"].as_array().expect("data").iter().cloned());
        match body["next_href"].as_str() {
            Some(next) => {
                assert!(next.contains("include=packages"));
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(all.len(), 7);
    let sf = all
        .iter()
        .find(|n| n["custom_id"] == "sf-branch")
        .expect("sf-branch");
    assert_eq!(sf["name"], "San Francisco");
    assert_eq!(sf["tier"], "branch");
    assert_eq!(sf["parent_custom_id"], "west");
    assert_eq!(
        sf["packages"],
        json!([
            "tasker_standard",
            "tasker_pro",
            "driver_standard",
            "driver_pro"
        ])
    );
    let root = all
        .iter()
        .find(|n| n["custom_id"] == "acme-hq")
        .expect("root");
    assert_eq!(root["parent_custom_id"], Value::Null);
    let without = api.get(HIER_TOKEN, "/v1/nodes").await.json();
    assert!(without["data"][0].get("packages").is_none());

    let hc = api.candidate(HIER_TOKEN, "hier@example.com").await;
    let no_node = api
        .post(
            HIER_TOKEN,
            "/v1/invitations",
            json!({"package": "tasker_pro", "candidate_id": hc}),
        )
        .await;
    assert_eq!(no_node.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_node.error(), "node is a required field");
    let bad_node = api
        .post(
            HIER_TOKEN,
            "/v1/invitations",
            json!({"package": "tasker_pro", "candidate_id": hc, "node": "mars"}),
        )
        .await;
    assert_eq!(bad_node.status, StatusCode::NOT_FOUND);
    assert_eq!(bad_node.error(), "Node not found");
    let good = api
        .post(
            HIER_TOKEN,
            "/v1/invitations",
            json!({"package": "tasker_pro", "candidate_id": hc, "node": "sf-branch",
                   "work_locations": [{"state": "CA", "city": "San Francisco"}]}),
        )
        .await;
    assert_eq!(good.status, StatusCode::CREATED, "{}", good.text);
}

#[tokio::test]
async fn node_package_visibility_is_enforced() {
    let nodes = vec![
        NodeSeed::new("root", "Root", "company", None, &["tasker_standard"]),
        NodeSeed::new(
            "drivers",
            "Drivers",
            "division",
            Some("root"),
            &["driver_pro"],
        ),
    ];
    let (_sim, api) = start_with(
        SimConfig::default().with_token(
            TOKEN,
            AccountSeed::new("Custom")
                .with_hierarchy(true)
                .with_nodes(nodes),
        ),
    )
    .await;
    let listed = api.get(TOKEN, "/v1/nodes?include=packages").await.json();
    assert_eq!(
        listed["data"][1]["packages"],
        json!(["tasker_standard", "driver_pro"])
    );
    let c = api.candidate(TOKEN, "n@example.com").await;
    let denied = api
        .post(
            TOKEN,
            "/v1/invitations",
            json!({"package": "driver_pro", "candidate_id": c, "node": "root"}),
        )
        .await;
    assert_eq!(denied.status, StatusCode::BAD_REQUEST);
    let allowed = api
        .post(
            TOKEN,
            "/v1/invitations",
            json!({"package": "driver_pro", "candidate_id": c, "node": "drivers"}),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::CREATED);
}
