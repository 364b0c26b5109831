//! `trigger-background-check`, `get-background-check`, `cancel-background-check` and
//! `get-report` end to end, with and without Account Hierarchy.

use crate::checkr::support::*;
use crate::support::*;
use checkr_sim::AccountSeed;
use serde_json::json;

#[tokio::test]
async fn trigger_background_check_invites_the_candidate() {
    let harness = Harness::start().await;
    let candidate_id = create_candidate(&harness, CONNECTION, "jane@example.com").await;
    let invitation = ok(
        &harness,
        "trigger-background-check",
        json!({
            "candidate_id": candidate_id,
            "package": "driver_pro",
            "work_locations": [{ "country": "US", "state": "ca", "city": "Oakland" }],
            "tags": ["night-shift"]
        }),
    )
    .await;
    for field in [
        "id",
        "uri",
        "invitation_url",
        "status",
        "candidate_id",
        "package",
        "created_at",
        "expires_at",
    ] {
        assert!(
            !invitation[field].is_null(),
            "{field} missing: {invitation}"
        );
    }
    assert_eq!(invitation["status"], "pending");
    assert_eq!(invitation["candidate_id"], candidate_id.as_str());
    assert_eq!(invitation["package"], "driver_pro");
    assert_eq!(invitation["tags"], json!(["night-shift"]));
    assert!(
        invitation["invitation_url"]
            .as_str()
            .is_some_and(|url| url.starts_with("https://apply.checkr.com/invite/"))
    );

    let post = api_requests(&harness).pop().expect("request");
    assert_eq!(
        (post.method.as_str(), post.path.as_str()),
        ("POST", "/v1/invitations")
    );
    assert!(
        post.header("idempotency-key")
            .is_some_and(|key| key.starts_with("terapi-trigger-background-check-"))
    );
    assert_eq!(
        post.body_json().expect("body"),
        json!({
            "candidate_id": candidate_id,
            "package": "driver_pro",
            "work_locations": [{ "country": "US", "state": "CA", "city": "Oakland" }],
            "tags": ["night-shift"]
        })
    );
}

#[tokio::test]
async fn triggering_the_same_check_twice_invites_once() {
    let harness = Harness::start().await;
    let candidate_id = create_candidate(&harness, CONNECTION, "jane@example.com").await;
    let input = json!({ "candidate_id": candidate_id, "package": "tasker_standard" });
    let first = ok(&harness, "trigger-background-check", input.clone()).await;
    let second = ok(&harness, "trigger-background-check", input).await;
    assert_eq!(first["id"], second["id"]);
    let created = harness
        .sim
        .events()
        .into_iter()
        .filter(|event| event["type"] == "invitation.created")
        .count();
    assert_eq!(created, 1, "Checkr created one invitation");

    let fresh = ok(
        &harness,
        "trigger-background-check",
        json!({ "candidate_id": candidate_id, "package": "tasker_standard", "idempotency_key": "again-1" }),
    )
    .await;
    assert_ne!(fresh["id"], first["id"], "a new key orders anew");
}

#[tokio::test]
async fn unknown_package_and_candidate_surface_checkrs_404() {
    let harness = Harness::start().await;
    let candidate_id = create_candidate(&harness, CONNECTION, "jane@example.com").await;
    let error = run(
        &harness,
        CONNECTION,
        "trigger-background-check",
        json!({ "candidate_id": candidate_id, "package": "platinum" }),
    )
    .await
    .expect_err("no such package");
    let (message, payload) = action_error(error);
    assert!(message.contains("Package not found"), "{message}");
    assert_eq!(payload["status"], 404);
    assert_eq!(payload["error"], "Package not found");

    let error = run(
        &harness,
        CONNECTION,
        "trigger-background-check",
        json!({ "candidate_id": "ffffffffffffffffffffffff", "package": "tasker_pro" }),
    )
    .await
    .expect_err("no such candidate");
    assert_eq!(action_error(error).1["error"], "Candidate not found");
}

#[tokio::test]
async fn invalid_orders_are_rejected_before_any_call() {
    let harness = Harness::start().await;
    let error = run(
        &harness,
        CONNECTION,
        "trigger-background-check",
        json!({
            "candidate_id": " ",
            "package": "tasker_pro",
            "work_locations": [{ "country": "US" }, { "country": "Canada" }],
            "tags": ["ok", ""]
        }),
    )
    .await
    .expect_err("invalid");
    let fields: Vec<String> = invalid_fields(error)
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    assert_eq!(
        fields,
        vec![
            "candidate_id",
            "work_locations[0].state",
            "work_locations[1].country",
            "tags[1]"
        ]
    );
    let error = run(
        &harness,
        CONNECTION,
        "trigger-background-check",
        json!({ "candidate_id": "abc", "service_key": "tasker_pro" }),
    )
    .await
    .expect_err("wrong field name");
    let errors = schema_errors(error);
    let mut fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, vec!["package", "service_key"], "{errors:?}");
    assert!(api_requests(&harness).is_empty());
}

#[tokio::test]
async fn with_hierarchy_a_node_is_required_before_anything_is_sent() {
    let harness = Harness::start().await;
    connect_hierarchy(&harness, AccountSeed::new("Hier Corp")).await;
    let candidate_id = create_candidate(&harness, HIERARCHY, "h@example.com").await;
    harness.sim.clear_requests();
    let error = run(
        &harness,
        HIERARCHY,
        "trigger-background-check",
        json!({ "candidate_id": candidate_id, "package": "tasker_pro" }),
    )
    .await
    .expect_err("node missing");
    let fields = invalid_fields(error);
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].0, "node");
    assert!(fields[0].1.contains("Account Hierarchy"), "{fields:?}");
    assert!(api_requests(&harness).is_empty(), "nothing was sent");

    let invitation = run(
        &harness,
        HIERARCHY,
        "trigger-background-check",
        json!({
            "candidate_id": candidate_id,
            "package": "tasker_pro",
            "node": "sf-branch",
            "work_locations": [{ "country": "US", "state": "CA", "city": "San Francisco" }]
        }),
    )
    .await
    .expect("ordered for the node");
    assert_eq!(invitation["status"], "pending");
    let post = api_requests(&harness).pop().expect("request");
    assert_eq!(post.body_json().expect("body")["node"], "sf-branch");
    assert_eq!(
        post.header("authorization"),
        Some(basic(HIERARCHY_TOKEN).as_str())
    );

    // Checkr's own verdict on a node that does not exist is passed through.
    let error = run(
        &harness,
        HIERARCHY,
        "trigger-background-check",
        json!({ "candidate_id": candidate_id, "package": "tasker_pro", "node": "mars" }),
    )
    .await
    .expect_err("no such node");
    assert_eq!(action_error(error).1["error"], "Node not found");
}

#[tokio::test]
async fn without_hierarchy_no_node_is_needed() {
    let harness = Harness::start().await;
    connect_with_hierarchy_flag(&harness, "flat", TOKEN, false).await;
    let candidate_id = create_candidate(&harness, "flat", "flat@example.com").await;
    let invitation = run(
        &harness,
        "flat",
        "trigger-background-check",
        json!({ "candidate_id": candidate_id, "package": "tasker_standard" }),
    )
    .await
    .expect("no node needed");
    assert_eq!(invitation["status"], "pending");
    let body = api_requests(&harness)
        .pop()
        .expect("request")
        .body_json()
        .expect("body");
    assert!(body.get("node").is_none(), "{body}");
}

#[tokio::test]
async fn a_background_check_is_followed_to_its_report() {
    let harness = Harness::start().await;
    let candidate_id = create_candidate(&harness, CONNECTION, "jane@example.com").await;
    let invitation = ok(
        &harness,
        "trigger-background-check",
        json!({ "candidate_id": candidate_id, "package": "tasker_pro", "tags": ["t1"] }),
    )
    .await;
    let invitation_id = invitation["id"].as_str().expect("id").to_string();

    let pending = ok(
        &harness,
        "get-background-check",
        json!({ "id": invitation_id }),
    )
    .await;
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["report_id"], serde_json::Value::Null);

    let report_id = harness
        .sim
        .complete_invitation(&invitation_id)
        .expect("completed");
    let completed = ok(
        &harness,
        "get-background-check",
        json!({ "id": invitation_id }),
    )
    .await;
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["report_id"], report_id.as_str());

    let report = ok(&harness, "get-report", json!({ "id": report_id })).await;
    assert_eq!(report["status"], "pending");
    assert_eq!(report["result"], serde_json::Value::Null);
    assert_eq!(report["package"], "tasker_pro");
    assert_eq!(report["candidate_id"], candidate_id.as_str());
    assert!(
        !report["county_criminal_search_ids"].is_null(),
        "screening ids pass through: {report}"
    );

    assert!(harness.sim.complete_report(&report_id, "consider"));
    let report = ok(&harness, "get-report", json!({ "id": report_id })).await;
    assert_eq!(report["status"], "complete");
    assert_eq!(report["result"], "consider");
    assert_eq!(report["assessment"], "review");
    assert_eq!(report["adjudication"], serde_json::Value::Null);
    assert_eq!(report["tags"], json!(["t1"]));
    assert!(report["turnaround_time"].is_u64());

    let error = run(&harness, CONNECTION, "get-report", json!({ "id": "nope" }))
        .await
        .expect_err("unknown report");
    let (_, payload) = action_error(error);
    assert_eq!(payload["status"], 404);
    assert_eq!(payload["error"], "Report not found");
}

#[tokio::test]
async fn cancel_background_check_cancels_a_pending_one_only() {
    let harness = Harness::start().await;
    let candidate_id = create_candidate(&harness, CONNECTION, "jane@example.com").await;
    let invitation = ok(
        &harness,
        "trigger-background-check",
        json!({ "candidate_id": candidate_id, "package": "tasker_standard" }),
    )
    .await;
    let id = invitation["id"].as_str().expect("id").to_string();

    let canceled = ok(&harness, "cancel-background-check", json!({ "id": id })).await;
    assert_eq!(canceled["status"], "expired");
    assert!(canceled["deleted_at"].is_string());
    let delete = api_requests(&harness).pop().expect("request");
    assert_eq!(
        (delete.method.as_str(), delete.path.clone()),
        ("DELETE", format!("/v1/invitations/{id}"))
    );

    let fetched = ok(&harness, "get-background-check", json!({ "id": id })).await;
    assert_eq!(
        fetched["status"], "expired",
        "a canceled check is still visible"
    );
    assert_eq!(fetched["deleted_at"], canceled["deleted_at"]);

    let error = run(
        &harness,
        CONNECTION,
        "cancel-background-check",
        json!({ "id": id }),
    )
    .await
    .expect_err("already canceled");
    assert_eq!(action_error(error).1["status"], 404);

    // A completed check can no longer be canceled: Checkr's 400 comes through.
    let other = ok(
        &harness,
        "trigger-background-check",
        json!({ "candidate_id": candidate_id, "package": "tasker_pro" }),
    )
    .await;
    let other_id = other["id"].as_str().expect("id");
    harness
        .sim
        .complete_invitation(other_id)
        .expect("completed");
    let error = run(
        &harness,
        CONNECTION,
        "cancel-background-check",
        json!({ "id": other_id }),
    )
    .await
    .expect_err("completed");
    let (message, payload) = action_error(error);
    assert_eq!(payload["status"], 400);
    assert!(message.contains("already been completed"), "{message}");
}
