//! Invitations and the reports their completion creates.

use std::time::Duration;

use crate::common::{HIER_TOKEN, TOKEN, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn invitations_lifecycle_and_reports() {
    let (sim, api) = start().await;
    let candidate = api.candidate(TOKEN, "inv@example.com").await;

    let missing_package = api
        .post(TOKEN, "/v1/invitations", json!({"candidate_id": candidate}))
        .await;
    assert_eq!(missing_package.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing_package.error(), "package is a required field");
    let missing_candidate = api
        .post(TOKEN, "/v1/invitations", json!({"package": "driver_pro"}))
        .await;
    assert_eq!(
        missing_candidate.error(),
        "candidate_id is a required field"
    );
    let bad_package = api
        .post(
            TOKEN,
            "/v1/invitations",
            json!({"package": "gold", "candidate_id": candidate}),
        )
        .await;
    assert_eq!(bad_package.status, StatusCode::NOT_FOUND);
    assert_eq!(bad_package.json(), json!({"error": "Package not found"}));
    let bad_candidate = api
        .post(
            TOKEN,
            "/v1/invitations",
            json!({"package": "driver_pro", "candidate_id": "nope"}),
        )
        .await;
    assert_eq!(bad_candidate.status, StatusCode::NOT_FOUND);
    assert_eq!(bad_candidate.error(), "Candidate not found");

    sim.freeze_clock(time::macros::datetime!(2030-03-01 10:00:00 UTC));
    let created = api
        .post(
            TOKEN,
            "/v1/invitations",
            json!({"package": "driver_pro", "candidate_id": candidate,
                   "work_locations": [{"country": "US", "state": "CA"}], "tags": ["night-shift"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let inv = created.json();
    let inv_id = inv["id"].as_str().expect("id").to_string();
    assert_eq!(inv["object"], "invitation");
    assert_eq!(inv["uri"], format!("/v1/invitations/{inv_id}"));
    assert!(
        inv["invitation_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://apply.checkr.com/invite/"))
    );
    assert_eq!(inv["status"], "pending");
    assert_eq!(inv["created_at"], "2030-03-01T10:00:00Z");
    assert_eq!(inv["expires_at"], "2030-03-08T10:00:00Z");
    assert_eq!(inv["completed_at"], Value::Null);
    assert_eq!(inv["deleted_at"], Value::Null);
    assert_eq!(inv["package"], "driver_pro");
    assert_eq!(inv["candidate_id"], candidate.as_str());
    assert_eq!(inv["report_id"], Value::Null);
    assert_eq!(inv["tags"], json!(["night-shift"]));
    assert_eq!(inv["archived"], false);

    assert_eq!(
        api.get(TOKEN, &format!("/v1/invitations/{inv_id}"))
            .await
            .json(),
        inv
    );
    let listed = api
        .get(
            TOKEN,
            &format!("/v1/invitations?candidate_id={candidate}&status=pending"),
        )
        .await
        .json();
    assert_eq!(listed["count"], 1);
    assert_eq!(
        api.get(TOKEN, "/v1/invitations?status=completed")
            .await
            .json()["count"],
        0
    );
    let bad_status = api.get(TOKEN, "/v1/invitations?status=done").await;
    assert_eq!(bad_status.status, StatusCode::BAD_REQUEST);
    assert!(bad_status.error().starts_with("status"));

    // Completion creates a pending report.
    sim.advance_clock(Duration::from_secs(3600));
    let report_id = sim.complete_invitation(&inv_id).expect("completed");
    assert_eq!(sim.complete_invitation(&inv_id), None);
    let done = api
        .get(TOKEN, &format!("/v1/invitations/{inv_id}"))
        .await
        .json();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["completed_at"], "2030-03-01T11:00:00Z");
    assert_eq!(done["report_id"], report_id.as_str());
    let report = api
        .get(TOKEN, &format!("/v1/reports/{report_id}"))
        .await
        .json();
    assert_eq!(report["object"], "report");
    assert_eq!(report["status"], "pending");
    assert_eq!(report["result"], Value::Null);
    assert_eq!(report["candidate_id"], candidate.as_str());
    assert_eq!(report["package"], "driver_pro");
    assert!(report["ssn_trace_id"].is_string());
    assert!(report["motor_vehicle_report_id"].is_string());
    assert_eq!(
        report["county_criminal_search_ids"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        report["work_locations"],
        json!([{"country": "US", "state": "CA", "city": null}])
    );
    let cand = api
        .get(TOKEN, &format!("/v1/candidates/{candidate}"))
        .await
        .json();
    assert_eq!(cand["report_ids"], json!([report_id]));

    sim.advance_clock(Duration::from_secs(90));
    assert!(sim.complete_report(&report_id, "clear"));
    assert!(!sim.complete_report(&report_id, "clear"));
    let report = api
        .get(TOKEN, &format!("/v1/reports/{report_id}"))
        .await
        .json();
    assert_eq!(report["status"], "complete");
    assert_eq!(report["result"], "clear");
    assert_eq!(report["assessment"], "eligible");
    assert_eq!(report["turnaround_time"], 90);
    assert_eq!(report["completed_at"], "2030-03-01T11:01:30Z");
    assert_eq!(
        api.get(TOKEN, "/v1/reports/nope").await.status,
        StatusCode::NOT_FOUND
    );
    // Another account cannot see it.
    assert_eq!(
        api.get(HIER_TOKEN, &format!("/v1/reports/{report_id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let completed_cancel = api
        .delete(TOKEN, &format!("/v1/invitations/{inv_id}"))
        .await;
    assert_eq!(completed_cancel.status, StatusCode::BAD_REQUEST);

    // Cancel another invitation.
    let second = api
        .post(
            TOKEN,
            "/v1/invitations",
            json!({"package": "tasker_standard", "candidate_id": candidate}),
        )
        .await
        .json();
    let second_id = second["id"].as_str().expect("id").to_string();
    let canceled = api
        .delete(TOKEN, &format!("/v1/invitations/{second_id}"))
        .await;
    assert_eq!(canceled.status, StatusCode::OK);
    assert_eq!(canceled.json()["status"], "expired");
    assert!(canceled.json()["deleted_at"].is_string());
    assert_eq!(
        api.get(TOKEN, &format!("/v1/invitations/{second_id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let with_deleted = api
        .get(
            TOKEN,
            &format!("/v1/invitations/{second_id}?include_deleted=true"),
        )
        .await;
    assert_eq!(with_deleted.status, StatusCode::OK);
    assert_eq!(
        api.delete(TOKEN, &format!("/v1/invitations/{second_id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(sim.complete_invitation(&second_id), None);

    // Pending invitations expire after 7 days.
    let third = api
        .post(
            TOKEN,
            "/v1/invitations",
            json!({"package": "tasker_pro", "candidate_id": candidate}),
        )
        .await
        .json();
    let third_id = third["id"].as_str().expect("id").to_string();
    sim.advance_clock(Duration::from_secs(7 * 24 * 3600));
    let expired = api
        .get(TOKEN, &format!("/v1/invitations/{third_id}"))
        .await
        .json();
    assert_eq!(expired["status"], "expired");
    assert_eq!(
        api.get(TOKEN, "/v1/invitations?status=expired")
            .await
            .json()["count"],
        1
    );
    assert_eq!(sim.complete_invitation(&third_id), None);
}
