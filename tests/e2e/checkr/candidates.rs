//! `create-candidate`, `get-candidate` and `list-candidates` end to end: the real component
//! through the host against the simulator.

use crate::checkr::support::*;
use crate::support::*;
use checkr_sim::{Fault, FaultKind};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn create_candidate_sends_the_checked_candidate_and_returns_checkrs() {
    let harness = Harness::start().await;
    let invocation = harness
        .runtime
        .run_action(
            CHECKR,
            CONNECTION,
            "create-candidate",
            &full_candidate().to_string(),
        )
        .await;
    let candidate: Value = invocation.result.expect("created").parse().expect("JSON");
    assert_eq!(candidate["object"], "candidate");
    assert_eq!(candidate["email"], "jane.doe@example.com");
    assert_eq!(candidate["ssn"], "XXX-XX-4645", "Checkr masks the SSN");
    assert_eq!(candidate["driver_license_state"], "CA");
    assert_eq!(candidate["custom_id"], "emp-42");
    assert!(candidate["id"].as_str().is_some_and(|id| id.len() == 24));

    let requests = api_requests(&harness);
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/candidates")
    );
    assert_eq!(request.header("authorization"), Some(basic(TOKEN).as_str()));
    assert!(
        request
            .header("idempotency-key")
            .is_some_and(|key| key.starts_with("terapi-create-candidate-")),
        "{:?}",
        request.headers
    );
    let body = request.body_json().expect("JSON body");
    assert_eq!(
        body["work_locations"],
        json!([{ "country": "US", "state": "CA", "city": "San Francisco" }]),
        "the work location is normalized and sent as Checkr's list"
    );
    assert_eq!(body["middle_name"], "Quinn");
    assert!(body.get("no_middle_name").is_none());

    let logged: String = invocation
        .logs
        .iter()
        .map(|line| line.message.as_str())
        .collect();
    assert!(!logged.contains("847-43-4645"), "the SSN is never logged");
}

#[tokio::test]
async fn create_candidate_with_only_an_email_is_enough_for_the_hosted_flow() {
    let harness = Harness::start().await;
    let candidate = ok(
        &harness,
        "create-candidate",
        json!({ "email": "solo@example.com" }),
    )
    .await;
    assert_eq!(candidate["email"], "solo@example.com");
    let body = api_requests(&harness)[0].body_json().expect("body");
    assert_eq!(body, json!({ "email": "solo@example.com" }));
}

#[tokio::test]
async fn repeating_a_create_returns_the_same_candidate_instead_of_a_duplicate() {
    let harness = Harness::start().await;
    let first = ok(&harness, "create-candidate", full_candidate()).await;
    let second = ok(&harness, "create-candidate", full_candidate()).await;
    assert_eq!(first["id"], second["id"], "replayed, not duplicated");
    let requests = api_requests(&harness);
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("idempotency-key"),
        requests[1].header("idempotency-key"),
        "the same create carries the same key"
    );
    let listed = ok(&harness, "list-candidates", json!({})).await;
    assert_eq!(listed["total"], 1, "one candidate at Checkr: {listed}");

    // Another candidate gets another key, and is created.
    let mut other = full_candidate();
    other["email"] = json!("john.roe@example.com");
    let third = ok(&harness, "create-candidate", other).await;
    assert_ne!(third["id"], first["id"]);
    assert_ne!(
        api_requests(&harness)[2].header("idempotency-key"),
        requests[0].header("idempotency-key")
    );
}

#[tokio::test]
async fn an_explicit_idempotency_key_is_sent_and_replays_under_that_key() {
    let harness = Harness::start().await;
    let first = ok(
        &harness,
        "create-candidate",
        json!({ "email": "a@example.com", "idempotency_key": "order-77" }),
    )
    .await;
    // Same key, different data: Checkr replays the first response.
    let replay = ok(
        &harness,
        "create-candidate",
        json!({ "email": "b@example.com", "idempotency_key": "order-77" }),
    )
    .await;
    assert_eq!(replay["id"], first["id"]);
    assert_eq!(replay["email"], "a@example.com");
    for request in api_requests(&harness) {
        assert_eq!(request.header("idempotency-key"), Some("order-77"));
    }
    let listed = ok(&harness, "list-candidates", json!({})).await;
    assert_eq!(listed["total"], 1);
}

#[tokio::test]
async fn a_create_that_hits_a_server_error_is_retried_once_and_creates_one_candidate() {
    let harness = Harness::start().await;
    harness
        .sim
        .inject_fault(Fault::status("/v1/candidates", 503).method("POST"));
    let candidate = ok(&harness, "create-candidate", full_candidate()).await;
    let posts: Vec<_> = api_requests(&harness)
        .into_iter()
        .filter(|request| request.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2, "503, then the retry");
    assert_eq!(
        posts[0].header("idempotency-key"),
        posts[1].header("idempotency-key")
    );
    let listed = ok(&harness, "list-candidates", json!({})).await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["candidates"][0]["id"], candidate["id"]);
}

#[tokio::test]
async fn semantically_invalid_candidates_are_rejected_with_every_problem_before_any_call() {
    let harness = Harness::start().await;
    let input = json!({
        "email": "not-an-email",
        "first_name": "Jane",
        "middle_name": "Quinn",
        "no_middle_name": true,
        "last_name": "Doe",
        "dob": "1990-02-30",
        "ssn": "666-12-3456",
        "zipcode": "9410",
        "driver_license_number": "F2111655",
        "work_location": { "country": "XX" }
    });
    let error = run(&harness, CONNECTION, "create-candidate", input)
        .await
        .expect_err("invalid");
    let text = format!("{error:?}");
    assert!(
        !text.contains("666-12-3456"),
        "the SSN is not echoed: {text}"
    );
    let fields = invalid_fields(error);
    let names: Vec<&str> = fields.iter().map(|(field, _)| field.as_str()).collect();
    for expected in [
        "email",
        "no_middle_name",
        "dob",
        "ssn",
        "zipcode",
        "driver_license_state",
        "work_location.country",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {fields:?}");
    }
    let dob = fields
        .iter()
        .find(|(field, _)| field == "dob")
        .expect("dob");
    assert!(dob.1.contains("YYYY-MM-DD"), "{dob:?}");
    assert!(
        api_requests(&harness).is_empty(),
        "nothing was sent to Checkr"
    );
}

#[tokio::test]
async fn a_name_needs_a_middle_name_or_no_middle_name_and_us_locations_need_a_state() {
    let harness = Harness::start().await;
    let error = run(
        &harness,
        CONNECTION,
        "create-candidate",
        json!({
            "email": "jane@example.com",
            "first_name": "Jane",
            "last_name": "Doe",
            "work_location": { "country": "US" }
        }),
    )
    .await
    .expect_err("invalid");
    let fields = invalid_fields(error);
    assert_eq!(
        fields
            .iter()
            .map(|(field, _)| field.as_str())
            .collect::<Vec<_>>(),
        vec!["middle_name", "work_location.state"],
        "{fields:?}"
    );
    let ok_input = json!({
        "email": "jane@example.com",
        "first_name": "Jane",
        "no_middle_name": true,
        "last_name": "Doe",
        "work_location": { "country": "GB" }
    });
    let candidate = ok(&harness, "create-candidate", ok_input).await;
    assert_eq!(candidate["no_middle_name"], true);
    assert_eq!(api_requests(&harness).len(), 1);
}

#[tokio::test]
async fn input_of_the_wrong_shape_is_rejected_by_the_host_naming_each_field() {
    let harness = Harness::start().await;
    let error = run(
        &harness,
        CONNECTION,
        "create-candidate",
        json!({ "emial": "jane@example.com", "ssn": 847434645, "work_location": {} }),
    )
    .await
    .expect_err("wrong shape");
    let errors = schema_errors(error.clone());
    let by_field = |field: &str| {
        errors
            .iter()
            .find(|error| error.field == field)
            .unwrap_or_else(|| panic!("{field} missing from {errors:?}"))
            .message
            .clone()
    };
    assert_eq!(by_field("email"), "is required");
    assert!(by_field("emial").contains("not an accepted field"));
    assert!(
        by_field("emial").contains("email"),
        "suggests the right name"
    );
    assert_eq!(by_field("ssn"), "must be a string or null, got an integer");
    assert_eq!(by_field("work_location.country"), "is required");
    assert!(
        !error.to_string().contains("847434645"),
        "the SSN is not echoed: {error}"
    );
    assert!(api_requests(&harness).is_empty());
}

#[tokio::test]
async fn checkr_rejections_keep_checkrs_status_and_message() {
    let harness = Harness::start().await;
    // Checkr allows two candidates of one identity per 24 hours; distinct keys make the
    // creates distinct requests.
    for key in ["k1", "k2"] {
        ok(
            &harness,
            "create-candidate",
            json!({ "email": "dup@example.com", "idempotency_key": key }),
        )
        .await;
    }
    let error = run(
        &harness,
        CONNECTION,
        "create-candidate",
        json!({ "email": "dup@example.com", "idempotency_key": "k3" }),
    )
    .await
    .expect_err("duplicate");
    let (message, payload) = action_error(error);
    assert!(message.contains("409"), "{message}");
    assert_eq!(payload["status"], 409);
    assert!(
        payload["error"]
            .as_str()
            .is_some_and(|error| error.starts_with("Duplicate candidate detected")),
        "{payload}"
    );
}

#[tokio::test]
async fn get_candidate_returns_it_and_reports_checkrs_404() {
    let harness = Harness::start().await;
    let created = ok(&harness, "create-candidate", full_candidate()).await;
    let id = created["id"].as_str().expect("id");
    let fetched = ok(&harness, "get-candidate", json!({ "id": id })).await;
    assert_eq!(fetched["id"], created["id"]);
    assert_eq!(fetched["email"], "jane.doe@example.com");
    assert_eq!(fetched["zipcode"], "94107");
    let get = api_requests(&harness).pop().expect("request");
    assert_eq!(
        (get.method.as_str(), get.path.clone()),
        ("GET", format!("/v1/candidates/{id}"))
    );

    let error = run(
        &harness,
        CONNECTION,
        "get-candidate",
        json!({ "id": "000000000000000000000000" }),
    )
    .await
    .expect_err("unknown");
    let (message, payload) = action_error(error);
    assert!(message.contains("Candidate not found"), "{message}");
    assert_eq!(payload["status"], 404);
    assert_eq!(payload["error"], "Candidate not found");
}

#[tokio::test]
async fn ids_cannot_escape_their_path() {
    let harness = Harness::start().await;
    let error = run(
        &harness,
        CONNECTION,
        "get-candidate",
        json!({ "id": "../account" }),
    )
    .await
    .expect_err("no such candidate");
    assert_eq!(action_error(error).1["status"], 404);
    let request = api_requests(&harness).pop().expect("request");
    assert_eq!(request.path, "/v1/candidates/..%2Faccount");
}

#[tokio::test]
async fn rate_limited_reads_are_retried_after_checkrs_reset_time() {
    let harness = Harness::start().await;
    let id = create_candidate(&harness, CONNECTION, "jane@example.com").await;
    harness.sim.inject_fault(Fault::rate_limited(
        format!("/v1/candidates/{id}"),
        Duration::from_millis(300),
    ));
    let fetched = ok(&harness, "get-candidate", json!({ "id": id })).await;
    assert_eq!(fetched["id"], id.as_str());
    let gets: Vec<_> = api_requests(&harness)
        .into_iter()
        .filter(|request| request.method == "GET")
        .collect();
    assert_eq!(gets.len(), 2, "a 429, then the retry");
    assert!(gets[1].received_at >= gets[0].received_at + Duration::from_millis(250));
}

/// Creates `count` candidates `person{i}@example.com`, custom ids `c{i}` (odd ones `odd`).
async fn seed_candidates(harness: &Harness, count: usize) {
    for index in 0..count {
        let custom_id = if index % 2 == 1 {
            "odd".to_string()
        } else {
            format!("c{index}")
        };
        ok(
            harness,
            "create-candidate",
            json!({ "email": format!("person{index}@example.com"), "custom_id": custom_id }),
        )
        .await;
    }
    harness.sim.clear_requests();
}

#[tokio::test]
async fn list_candidates_follows_next_href_across_every_page() {
    let harness = Harness::start().await;
    seed_candidates(&harness, 7).await;
    let listed = ok(&harness, "list-candidates", json!({ "per_page": 2 })).await;
    let emails: Vec<&str> = listed["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|candidate| candidate["email"].as_str().expect("email"))
        .collect();
    let expected: Vec<String> = (0..7)
        .rev()
        .map(|index| format!("person{index}@example.com"))
        .collect();
    assert_eq!(emails, expected, "all seven, newest first, none twice");
    assert_eq!(listed["total"], 7);
    assert_eq!(listed["has_more"], false);

    let requests = api_requests(&harness);
    assert_eq!(requests.len(), 4, "pages of 2, 2, 2 and 1");
    let pages: Vec<Option<String>> = requests
        .iter()
        .map(|request| {
            assert_eq!(request.path, "/v1/candidates");
            assert_eq!(request.header("authorization"), Some(basic(TOKEN).as_str()));
            request
                .query_pairs()
                .into_iter()
                .find(|(name, _)| name == "page")
                .map(|(_, page)| page)
        })
        .collect();
    assert_eq!(
        pages,
        vec![None, Some("2".into()), Some("3".into()), Some("4".into())]
    );
}

#[tokio::test]
async fn list_candidates_stops_fetching_at_the_limit() {
    let harness = Harness::start().await;
    seed_candidates(&harness, 7).await;
    let listed = ok(
        &harness,
        "list-candidates",
        json!({ "per_page": 2, "limit": 3 }),
    )
    .await;
    assert_eq!(listed["candidates"].as_array().expect("list").len(), 3);
    assert_eq!(listed["has_more"], true);
    assert_eq!(listed["total"], 7);
    assert_eq!(api_requests(&harness).len(), 2, "two pages hold three");
}

#[tokio::test]
async fn list_candidates_passes_its_filters_to_every_page() {
    let harness = Harness::start().await;
    seed_candidates(&harness, 7).await;
    let odd = ok(
        &harness,
        "list-candidates",
        json!({ "custom_id": "odd", "per_page": 1 }),
    )
    .await;
    assert_eq!(odd["total"], 3);
    assert_eq!(odd["candidates"].as_array().expect("list").len(), 3);
    for request in api_requests(&harness) {
        assert!(
            request
                .query_pairs()
                .contains(&("custom_id".to_string(), "odd".to_string())),
            "{}",
            request.query
        );
    }

    let by_email = ok(
        &harness,
        "list-candidates",
        json!({ "email": "PERSON4@example.com" }),
    )
    .await;
    assert_eq!(by_email["total"], 1);
    assert_eq!(by_email["candidates"][0]["custom_id"], "c4");

    let future = ok(
        &harness,
        "list-candidates",
        json!({ "created_after": "2999-01-01" }),
    )
    .await;
    assert_eq!(future["total"], 0);
    assert_eq!(future["candidates"], json!([]));
}

#[tokio::test]
async fn list_candidates_rejects_bad_filters_before_calling_checkr() {
    let harness = Harness::start().await;
    let error = run(
        &harness,
        CONNECTION,
        "list-candidates",
        json!({ "created_after": "yesterday", "created_before": "2024-01-01", "email": "x" }),
    )
    .await
    .expect_err("invalid");
    let fields: Vec<String> = invalid_fields(error)
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    assert_eq!(fields, vec!["email", "created_after"]);

    let error = run(
        &harness,
        CONNECTION,
        "list-candidates",
        json!({ "created_after": "2024-02-01T00:00:00Z", "created_before": "2024-01-01" }),
    )
    .await
    .expect_err("inverted range");
    assert_eq!(invalid_fields(error)[0].0, "created_before");

    let error = run(
        &harness,
        CONNECTION,
        "list-candidates",
        json!({ "per_page": 500, "limit": 0 }),
    )
    .await
    .expect_err("out of range");
    let errors = schema_errors(error);
    assert!(
        errors
            .iter()
            .any(|error| error.field == "per_page" && error.message == "must be at most 100"),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|error| error.field == "limit" && error.message == "must be at least 1"),
        "{errors:?}"
    );
    assert!(api_requests(&harness).is_empty());
}

#[tokio::test]
async fn a_next_link_that_repeats_ends_the_listing_instead_of_looping() {
    let harness = Harness::start().await;
    let id = create_candidate(&harness, CONNECTION, "loop@example.com").await;
    let candidate = ok(&harness, "get-candidate", json!({ "id": id })).await;
    harness.sim.clear_requests();
    let looping_page = json!({
        "data": [candidate],
        "object": "list",
        "next_href": format!("{}/v1/candidates?page=2&per_page=100", harness.sim.base_url()),
        "count": 1
    });
    harness.sim.inject_fault(
        Fault::new(
            "/v1/candidates",
            FaultKind::Status {
                status: 200,
                body: Some(looping_page.to_string()),
                reset: None,
            },
        )
        .method("GET")
        .times(10),
    );
    let listed = ok(&harness, "list-candidates", json!({})).await;
    assert_eq!(
        api_requests(&harness).len(),
        2,
        "page 1, then page 2 whose next link is itself: stop"
    );
    assert_eq!(listed["candidates"].as_array().expect("list").len(), 2);
    harness.sim.clear_faults();
}

#[tokio::test]
async fn every_checkr_error_status_keeps_its_status_and_message() {
    let harness = Harness::start().await;
    let id = create_candidate(&harness, CONNECTION, "jane@example.com").await;
    let path = format!("/v1/candidates/{id}");
    for (status, message) in [
        (400, "Candidate must be at least 18 years old"),
        (401, "Bad authentication error"),
        (403, "Candidate has requested that their PII be removed"),
        (404, "Candidate not found"),
        (409, "Duplicate report detected"),
        (422, "Continuous check already exists"),
    ] {
        harness.sim.inject_fault(Fault::new(
            path.clone(),
            FaultKind::Status {
                status,
                body: Some(json!({ "error": message }).to_string()),
                reset: None,
            },
        ));
        let error = run(&harness, CONNECTION, "get-candidate", json!({ "id": id }))
            .await
            .expect_err("faulted");
        let (text, payload) = action_error(error);
        assert!(text.contains(&status.to_string()), "{text}");
        assert!(text.contains(message), "{text}");
        assert_eq!(payload["status"], status);
        assert_eq!(payload["error"], message);
        assert_eq!(payload["body"], json!({ "error": message }));
    }
    // 429 is retried after Checkr's reset time (up to three times, within the invocation's
    // deadline); when it persists, it is reported like the others.
    harness.sim.clear_requests();
    harness
        .sim
        .inject_fault(Fault::rate_limited(path.clone(), Duration::from_millis(100)).times(4));
    let error = run(&harness, CONNECTION, "get-candidate", json!({ "id": id }))
        .await
        .expect_err("still limited");
    let (_, payload) = action_error(error);
    assert_eq!(payload["status"], 429);
    assert_eq!(payload["error"], "Too many requests");
    let attempts = api_requests(&harness).len();
    assert!(
        (2..=4).contains(&attempts),
        "retried, at most 3 times: {attempts}"
    );
}
