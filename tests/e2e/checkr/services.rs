//! `background-check-services`, `background-check-parameters` and `list-nodes` end to end,
//! with hierarchy on and off; and the component's self-description.

use crate::checkr::support::*;
use crate::support::*;
use checkr_sim::{AccountSeed, NodeSeed};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const PACKAGES: [&str; 4] = [
    "tasker_standard",
    "tasker_pro",
    "driver_standard",
    "driver_pro",
];

fn slugs(services: &Value) -> Vec<String> {
    services["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|service| service["slug"].as_str().expect("slug").to_string())
        .collect()
}

#[tokio::test]
async fn services_without_hierarchy_are_the_accounts_packages() {
    let harness = Harness::start().await;
    let services = ok(&harness, "background-check-services", json!({})).await;
    assert_eq!(slugs(&services), PACKAGES);
    for service in services["services"].as_array().expect("list") {
        assert_eq!(service["node"], Value::Null);
        assert!(service["price"].is_u64(), "{service}");
        assert!(service["name"].is_string(), "{service}");
        assert!(
            !service["screenings"]
                .as_array()
                .expect("screenings")
                .is_empty(),
            "{service}"
        );
    }
    let driver_pro = &services["services"][3];
    assert!(
        driver_pro["screenings"]
            .as_array()
            .expect("screenings")
            .iter()
            .any(|screening| screening["type"] == "motor_vehicle_report")
    );
    let requests = api_requests(&harness);
    assert_eq!(requests.len(), 1, "no nodes without hierarchy");
    assert_eq!(requests[0].path, "/v1/packages");
    assert!(
        requests[0]
            .query_pairs()
            .contains(&("per_page".into(), "100".into()))
    );
}

#[tokio::test]
async fn services_with_hierarchy_list_each_nodes_packages_with_its_custom_id() {
    let harness = Harness::start().await;
    connect_hierarchy(
        &harness,
        AccountSeed::new("Hier Corp").with_nodes(vec![
            NodeSeed::new("hq", "HQ", "company", None, &["tasker_standard"]),
            NodeSeed::new(
                "drivers",
                "Drivers",
                "division",
                Some("hq"),
                &["driver_pro"],
            ),
            NodeSeed::new("empty-root", "Dormant", "company", None, &[]),
        ]),
    )
    .await;
    let services = run(
        &harness,
        HIERARCHY,
        "background-check-services",
        json!(null),
    )
    .await
    .expect("services");
    let pairs: Vec<(String, String)> = services["services"]
        .as_array()
        .expect("list")
        .iter()
        .map(|service| {
            (
                service["node"].as_str().expect("node").to_string(),
                service["slug"].as_str().expect("slug").to_string(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("hq".to_string(), "tasker_standard".to_string()),
            ("drivers".to_string(), "tasker_standard".to_string()),
            ("drivers".to_string(), "driver_pro".to_string()),
        ],
        "a node may order its own packages and its ancestors'"
    );
    let full = &services["services"][2];
    assert_eq!(full["name"], "Driver Pro", "package details are joined in");
    assert!(full["price"].is_u64());

    let paths: Vec<String> = api_requests(&harness)
        .iter()
        .map(|request| format!("{}?{}", request.path, request.query))
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths[0].starts_with("/v1/packages?"), "{paths:?}");
    assert!(
        paths[1].starts_with("/v1/nodes?") && paths[1].contains("include=packages"),
        "{paths:?}"
    );
}

#[tokio::test]
async fn services_with_the_default_hierarchy_cover_every_node() {
    let harness = Harness::start().await;
    connect_hierarchy(&harness, AccountSeed::new("Hier Corp")).await;
    let services = run(&harness, HIERARCHY, "background-check-services", json!({}))
        .await
        .expect("services");
    let list = services["services"].as_array().expect("list");
    assert_eq!(list.len(), 7 * 4, "seven nodes, each may order all four");
    let nodes: BTreeSet<&str> = list
        .iter()
        .map(|service| service["node"].as_str().expect("node"))
        .collect();
    assert_eq!(nodes.len(), 7);
    assert!(nodes.contains("sf-branch"));
}

#[tokio::test]
async fn services_fall_back_to_packages_when_no_node_has_any() {
    let harness = Harness::start().await;
    connect_hierarchy(
        &harness,
        AccountSeed::new("Bare Tree").with_nodes(vec![NodeSeed::new(
            "root",
            "Root",
            "company",
            None,
            &[],
        )]),
    )
    .await;
    let services = run(&harness, HIERARCHY, "background-check-services", json!({}))
        .await
        .expect("services");
    assert_eq!(slugs(&services), PACKAGES);
    assert!(
        services["services"]
            .as_array()
            .expect("list")
            .iter()
            .all(|service| service["node"].is_null())
    );
}

#[tokio::test]
async fn a_connection_that_claims_hierarchy_on_a_flat_account_gets_a_clear_error() {
    let harness = Harness::start().await;
    connect_with_hierarchy_flag(&harness, "wrong-flag", TOKEN, true).await;
    let error = run(
        &harness,
        "wrong-flag",
        "background-check-services",
        json!({}),
    )
    .await
    .expect_err("403 from nodes");
    let (message, payload) = action_error(error);
    assert!(
        message.starts_with("Account Hierarchy is not enabled for this Checkr account"),
        "{message}"
    );
    assert_eq!(payload["status"], 403);
    assert_eq!(
        payload["error"],
        "Sorry, your account is not enabled for Hierarchy"
    );
}

#[tokio::test]
async fn parameters_without_hierarchy_have_no_node() {
    let harness = Harness::start().await;
    let output = ok(
        &harness,
        "background-check-parameters",
        json!({ "service_key": "driver_pro" }),
    )
    .await;
    assert_eq!(output["service_key"], "driver_pro");
    assert_eq!(output["service_name"], "Driver Pro");
    let parameters = output["parameters"].as_array().expect("parameters");
    let keys: Vec<&str> = parameters
        .iter()
        .map(|parameter| parameter["key"].as_str().expect("key"))
        .collect();
    assert!(!keys.contains(&"node"), "{keys:?}");
    for parameter in parameters {
        for field in ["key", "type", "title", "description"] {
            assert!(parameter[field].is_string(), "{field}: {parameter}");
        }
        assert!(parameter["required"].is_boolean());
    }
    let required: Vec<&str> = parameters
        .iter()
        .filter(|parameter| parameter["required"] == true)
        .map(|parameter| parameter["key"].as_str().expect("key"))
        .collect();
    assert_eq!(required, vec!["package", "candidate_id"]);
    let request = api_requests(&harness).pop().expect("request");
    // Checked among the account's packages: Checkr's GET /v1/packages/{id} takes an id.
    assert_eq!(request.path, "/v1/packages", "the key is checked");
}

#[tokio::test]
async fn parameters_with_hierarchy_require_a_node_and_match_the_trigger_input() {
    let harness = Harness::start().await;
    connect_hierarchy(&harness, AccountSeed::new("Hier Corp")).await;
    let output = run(
        &harness,
        HIERARCHY,
        "background-check-parameters",
        json!({ "service_key": "tasker_pro" }),
    )
    .await
    .expect("parameters");
    let parameters = output["parameters"].as_array().expect("parameters");
    let node = parameters
        .iter()
        .find(|parameter| parameter["key"] == "node")
        .expect("node listed");
    assert_eq!(node["required"], true);
    assert_eq!(node["type"], "string");

    // Every listed parameter is a field of trigger-background-check's input schema.
    let trigger = harness
        .runtime
        .actions(CHECKR)
        .expect("actions")
        .iter()
        .find(|action| action.name == "trigger-background-check")
        .expect("trigger action")
        .input_schema
        .clone();
    let properties = trigger["properties"].as_object().expect("properties");
    for parameter in parameters {
        let key = parameter["key"].as_str().expect("key");
        assert!(properties.contains_key(key), "{key} is not a trigger input");
    }
    let schema_required: BTreeSet<&str> = trigger["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for key in &schema_required {
        assert!(
            parameters
                .iter()
                .any(|parameter| parameter["key"] == *key && parameter["required"] == true),
            "{key} is required by the trigger"
        );
    }
}

#[tokio::test]
async fn parameters_for_an_unknown_service_key_are_refused_naming_the_field() {
    let harness = Harness::start().await;
    let error = run(
        &harness,
        CONNECTION,
        "background-check-parameters",
        json!({ "service_key": "platinum" }),
    )
    .await
    .expect_err("unknown");
    let (message, payload) = action_error(error);
    assert!(message.contains("Package not found"), "{message}");
    assert!(message.contains("platinum"), "{message}");
    // Looked up among the account's packages: Checkr's GET /v1/packages/{id} takes an id,
    // not a slug, so the service key never goes into that path.
    assert_eq!(payload["field"], "service_key");
    assert!(
        api_requests(&harness)
            .iter()
            .all(|request| request.path == "/v1/packages"),
        "only the package list is asked for"
    );

    let error = run(
        &harness,
        CONNECTION,
        "background-check-parameters",
        json!({}),
    )
    .await
    .expect_err("no key");
    assert_eq!(schema_errors(error)[0].field, "service_key");
}

#[tokio::test]
async fn list_nodes_returns_the_hierarchy() {
    let harness = Harness::start().await;
    connect_hierarchy(&harness, AccountSeed::new("Hier Corp")).await;
    let output = harness
        .runtime
        .trigger_action(CHECKR, HIERARCHY, "list-nodes", "")
        .await
        .expect("an empty input is fine");
    let nodes: Value = output.parse().expect("JSON");
    let nodes = nodes["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 7);
    assert_eq!(nodes[0]["custom_id"], "acme-hq");
    assert_eq!(nodes[0]["parent_custom_id"], Value::Null);
    assert_eq!(nodes[3]["parent_custom_id"], "west");
    assert!(nodes[0].get("packages").is_none(), "not asked for");

    let with_packages = run(
        &harness,
        HIERARCHY,
        "list-nodes",
        json!({ "include_packages": true }),
    )
    .await
    .expect("nodes");
    assert_eq!(with_packages["nodes"][4]["packages"], json!(PACKAGES));
    let last = api_requests(&harness).pop().expect("request");
    assert!(
        last.query_pairs()
            .contains(&("include".into(), "packages".into()))
    );

    let error = run(
        &harness,
        HIERARCHY,
        "list-nodes",
        json!({ "include_package": true }),
    )
    .await
    .expect_err("typo");
    let errors = schema_errors(error);
    assert_eq!(errors[0].field, "include_package");
    assert!(errors[0].message.contains("include_packages"), "{errors:?}");
}

#[tokio::test]
async fn list_nodes_pages_through_a_large_hierarchy() {
    let harness = Harness::start().await;
    let mut tree = vec![NodeSeed::new(
        "root",
        "Root",
        "company",
        None,
        &["tasker_standard"],
    )];
    for index in 0..249 {
        tree.push(NodeSeed::new(
            format!("site-{index:03}"),
            format!("Site {index}"),
            "site",
            Some("root"),
            &[],
        ));
    }
    connect_hierarchy(&harness, AccountSeed::new("Big Corp").with_nodes(tree)).await;
    let output = run(&harness, HIERARCHY, "list-nodes", json!({}))
        .await
        .expect("nodes");
    let nodes = output["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 250);
    let unique: BTreeSet<&str> = nodes
        .iter()
        .map(|node| node["custom_id"].as_str().expect("custom_id"))
        .collect();
    assert_eq!(unique.len(), 250, "no node twice");
    let requests = api_requests(&harness);
    assert_eq!(requests.len(), 3, "pages of 100, 100 and 50");
    assert!(requests.iter().all(|request| request.path == "/v1/nodes"));
}

#[tokio::test]
async fn list_nodes_on_a_flat_account_says_hierarchy_is_not_enabled() {
    let harness = Harness::start().await;
    let error = run(&harness, CONNECTION, "list-nodes", json!({}))
        .await
        .expect_err("403");
    let (message, payload) = action_error(error);
    assert!(
        message.starts_with("Account Hierarchy is not enabled for this Checkr account"),
        "{message}"
    );
    assert!(message.contains("403"), "{message}");
    assert_eq!(payload["status"], 403);
    assert_eq!(
        payload["error"],
        "Sorry, your account is not enabled for Hierarchy"
    );
}

#[tokio::test]
async fn the_component_describes_every_action_with_strict_input_schemas() {
    let harness = Harness::start().await;
    let actions = harness.runtime.actions(CHECKR).expect("actions");
    let names: Vec<&str> = actions.iter().map(|action| action.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "get-account",
            "create-candidate",
            "get-candidate",
            "list-candidates",
            "trigger-background-check",
            "cancel-background-check",
            "get-background-check",
            "get-report",
            "background-check-services",
            "background-check-parameters",
            "list-nodes",
        ]
    );
    for action in actions {
        assert!(!action.description.is_empty(), "{}", action.name);
        assert!(action.output_schema.is_object(), "{}", action.name);
        let input = &action.input_schema;
        let object = if input["type"] == "object" {
            Some(input)
        } else {
            input["$defs"].get("Input")
        };
        if let Some(object) = object {
            assert_eq!(
                object["additionalProperties"], false,
                "{} rejects unknown fields",
                action.name
            );
        }
    }
    let create = actions
        .iter()
        .find(|action| action.name == "create-candidate")
        .expect("create-candidate");
    assert_eq!(create.input_schema["required"], json!(["email"]));
    assert!(
        create.input_schema["properties"]["ssn"]["description"]
            .as_str()
            .is_some_and(|text| !text.is_empty())
    );
}
