//! Candidates: create, read, update, list filters, duplicates, pagination and idempotency.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::{TOKEN, basic, parse_iso, start, start_with};
use checkr_sim::{AccountSeed, SimConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn pagination_follows_next_href_to_the_end() {
    let (_sim, api) = start().await;
    let mut created = HashSet::new();
    for i in 0..60 {
        let resp = api
            .post(
                TOKEN,
                "/v1/candidates",
                json!({"email": format!("p{i}@example.com"), "custom_id": "batch"}),
            )
            .await;
        assert_eq!(resp.status, StatusCode::CREATED);
        created.insert(resp.json()["id"].as_str().expect("id").to_string());
    }
    api.candidate(TOKEN, "outsider@example.com").await;

    let mut url = "/v1/candidates?custom_id=batch&per_page=25".to_string();
    let mut seen = HashSet::new();
    let mut pages = 0;
    loop {
        let resp = api.get(TOKEN, &url).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        let body = resp.json();
        pages += 1;
        assert_eq!(body["object"], "list");
        assert_eq!(body["count"], 60);
        for c in body["data"].as_array().expect("data") {
            assert!(
                seen.insert(c["id"].as_str().expect("id").to_string()),
                "duplicate across pages"
            );
        }
        if pages == 1 {
            assert_eq!(body["previous_href"], Value::Null);
        } else {
            let prev = body["previous_href"].as_str().expect("previous_href");
            assert!(prev.contains(&format!("page={}", pages - 1)));
        }
        match body["next_href"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&api.base), "{next}");
                assert!(
                    next.contains("custom_id=batch") && next.contains("per_page=25"),
                    "{next}"
                );
                assert!(next.contains(&format!("page={}", pages + 1)), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);

    let exact = api
        .get(TOKEN, "/v1/candidates?page=2&per_page=25")
        .await
        .json();
    assert_eq!(
        exact["next_href"],
        format!("{}/v1/candidates?page=3&per_page=25", api.base)
    );
    assert_eq!(exact["count"], 61);
    let empty = api.get(TOKEN, "/v1/candidates?page=9").await.json();
    assert_eq!(empty["data"], json!([]));
    assert_eq!(empty["next_href"], Value::Null);
    let zero = api.get(TOKEN, "/v1/candidates?per_page=0").await.json();
    assert_eq!(zero["data"], json!([]));
    assert_eq!(zero["count"], 61);

    for (query, field) in [
        ("per_page=101", "per_page"),
        ("per_page=abc", "per_page"),
        ("page=0", "page"),
        ("page=-2", "page"),
    ] {
        let resp = api.get(TOKEN, &format!("/v1/candidates?{query}")).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(resp.error().starts_with(field), "{query}: {}", resp.text);
    }
}

#[tokio::test]
async fn candidate_validation_and_errors() {
    let (_sim, api) = start().await;
    let missing = api
        .post(TOKEN, "/v1/candidates", json!({"first_name": "John"}))
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.json(),
        json!({"error": "email is a required field"})
    );

    let bad_email = api
        .post(TOKEN, "/v1/candidates", json!({"email": "nope"}))
        .await;
    assert_eq!(bad_email.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_email.error(), "Email is not a valid email address");

    let bad_ssn = api
        .post(
            TOKEN,
            "/v1/candidates",
            json!({"email": "a@b.co", "ssn": "123-45-6789"}),
        )
        .await;
    assert_eq!(bad_ssn.error(), "SSN is invalid");
    let bad_dob = api
        .post(
            TOKEN,
            "/v1/candidates",
            json!({"email": "a@b.co", "dob": "22/01/1970"}),
        )
        .await;
    assert!(bad_dob.error().starts_with("dob"), "{}", bad_dob.text);
    let bad_type = api
        .post(
            TOKEN,
            "/v1/candidates",
            json!({"email": "a@b.co", "first_name": {"x": 1}}),
        )
        .await;
    assert_eq!(bad_type.error(), "first_name must be a string");
    let bad_locations = api
        .post(
            TOKEN,
            "/v1/candidates",
            json!({"email": "a@b.co", "work_locations": "CA"}),
        )
        .await;
    assert!(
        bad_locations.error().starts_with("work_locations"),
        "{}",
        bad_locations.text
    );

    let broken = api
        .send(
            api.client
                .post(api.url("/v1/candidates"))
                .header("authorization", basic(TOKEN))
                .header("content-type", "application/json")
                .body("{\"email\":"),
        )
        .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert!(broken.error().contains("JSON"), "{}", broken.text);
    let array = api.post(TOKEN, "/v1/candidates", json!(["x"])).await;
    assert_eq!(array.status, StatusCode::BAD_REQUEST);

    let not_found = api
        .get(TOKEN, "/v1/candidates/000000000000000000000000")
        .await;
    assert_eq!(not_found.status, StatusCode::NOT_FOUND);
    assert_eq!(not_found.json(), json!({"error": "Candidate not found"}));
    let update_missing = api
        .post(
            TOKEN,
            "/v1/candidates/000000000000000000000000",
            json!({"first_name": "X"}),
        )
        .await;
    assert_eq!(update_missing.status, StatusCode::NOT_FOUND);

    let route = api.get(TOKEN, "/v1/nothing-here").await;
    assert_eq!(route.status, StatusCode::NOT_FOUND);
    assert_eq!(route.header("content-type"), Some("application/json"));
    assert!(route.header("x-ratelimit-limit").is_some());
    let method = api
        .send(
            api.client
                .put(api.url("/v1/account"))
                .header("authorization", basic(TOKEN)),
        )
        .await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(method.json().get("error").is_some());
}

#[tokio::test]
async fn candidate_create_read_update_form_and_json() {
    let (sim, api) = start().await;
    let created = api
        .post(
            TOKEN,
            "/v1/candidates",
            json!({
                "first_name": "John", "middle_name": "Alfred", "last_name": "Smith",
                "email": "john.smith@gmail.com", "phone": "5555555555", "zipcode": 90401,
                "dob": "1970-01-22", "ssn": "847-43-2001", "driver_license_number": "F2111655",
                "driver_license_state": "ca", "custom_id": "emp-1",
                "work_locations": [{"country": "US", "state": "CA", "city": "San Francisco"}],
                "metadata": {"job_req_id": "12345"}
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let c = created.json();
    let id = c["id"].as_str().expect("id").to_string();
    assert_eq!(c["object"], "candidate");
    assert_eq!(c["uri"], format!("/v1/candidates/{id}"));
    assert_eq!(c["ssn"], "XXX-XX-2001");
    assert_eq!(c["zipcode"], "90401");
    assert_eq!(c["driver_license_state"], "CA");
    assert_eq!(c["report_ids"], json!([]));
    assert_eq!(c["geo_ids"], json!([]));
    assert_eq!(c["adjudication"], Value::Null);
    assert_eq!(c["metadata"], json!({"job_req_id": "12345"}));
    parse_iso(c["created_at"].as_str().expect("created_at"));
    assert!(!created.text.contains("847-43"), "unmasked SSN leaked");

    let fetched = api.get(TOKEN, &format!("/v1/candidates/{id}")).await;
    assert_eq!(fetched.json(), c);

    let updated = api
        .post(
            TOKEN,
            &format!("/v1/candidates/{id}"),
            json!({"first_name": "Johnny", "phone": null}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.json()["first_name"], "Johnny");
    assert_eq!(updated.json()["phone"], Value::Null);
    assert_eq!(updated.json()["last_name"], "Smith");
    let cleared_email = api
        .post(TOKEN, &format!("/v1/candidates/{id}"), json!({"email": ""}))
        .await;
    assert_eq!(cleared_email.status, StatusCode::BAD_REQUEST);

    // Form encoding, Checkr's documented default.
    let form = api
        .send(
            api.client
                .post(api.url("/v1/candidates"))
                .header("authorization", basic(TOKEN))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("email=form%40example.com&first_name=Ann&no_middle_name=true&geo_ids[]=g1&work_locations[][state]=NY"),
        )
        .await;
    assert_eq!(form.status, StatusCode::CREATED, "{}", form.text);
    let f = form.json();
    assert_eq!(f["email"], "form@example.com");
    assert_eq!(f["no_middle_name"], true);
    assert_eq!(f["geo_ids"], json!(["g1"]));
    assert_eq!(
        f["work_locations"],
        json!([{"country": "US", "state": "NY", "city": null}])
    );

    let types: Vec<String> = sim
        .events()
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "candidate.created",
            "candidate.updated",
            "candidate.created"
        ]
    );
}

#[tokio::test]
async fn duplicate_candidates_get_409() {
    let (_sim, api) = start().await;
    let body = json!({"email": "Dup@Example.com", "custom_id": "x1"});
    assert_eq!(
        api.post(TOKEN, "/v1/candidates", body.clone()).await.status,
        StatusCode::CREATED
    );
    let lower = json!({"email": "dup@example.com", "custom_id": "x1"});
    assert_eq!(
        api.post(TOKEN, "/v1/candidates", lower.clone())
            .await
            .status,
        StatusCode::CREATED
    );
    let third = api.post(TOKEN, "/v1/candidates", lower).await;
    assert_eq!(third.status, StatusCode::CONFLICT);
    assert!(
        third.error().starts_with("Duplicate candidate detected"),
        "{}",
        third.text
    );
    // A different custom_id is a different identity.
    let other = json!({"email": "dup@example.com", "custom_id": "x2"});
    assert_eq!(
        api.post(TOKEN, "/v1/candidates", other).await.status,
        StatusCode::CREATED
    );

    let (_sim, strict) = start_with(
        SimConfig::default()
            .with_token(TOKEN, AccountSeed::default())
            .with_duplicate_candidate_limit(1),
    )
    .await;
    assert_eq!(
        strict
            .post(TOKEN, "/v1/candidates", body.clone())
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        strict.post(TOKEN, "/v1/candidates", body).await.status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn candidate_list_filters() {
    let (sim, api) = start().await;
    sim.freeze_clock(time::macros::datetime!(2030-05-01 09:00:00 UTC));
    let a = api
        .post(TOKEN, "/v1/candidates", json!({"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "custom_id": "c-a"}))
        .await
        .json();
    sim.advance_clock(Duration::from_secs(3600));
    let b = api
        .post(TOKEN, "/v1/candidates", json!({"email": "bob@example.com", "first_name": "Bob", "middle_name": "Q", "last_name": "Ray"}))
        .await
        .json();
    let ids = |path: &str| {
        let api = api.clone();
        let path = path.to_string();
        async move {
            let resp = api.get(TOKEN, &path).await;
            assert_eq!(resp.status, StatusCode::OK, "{path}: {}", resp.text);
            resp.json()["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|c| c["id"].clone())
                .collect::<Vec<_>>()
        }
    };
    // Newest first.
    assert_eq!(
        ids("/v1/candidates").await,
        vec![b["id"].clone(), a["id"].clone()]
    );
    assert_eq!(
        ids("/v1/candidates?email=ANN%40example.com").await,
        vec![a["id"].clone()]
    );
    assert_eq!(
        ids("/v1/candidates?full_name=Bob%20Ray").await,
        vec![b["id"].clone()]
    );
    assert_eq!(
        ids("/v1/candidates?full_name=bob+q+ray").await,
        vec![b["id"].clone()]
    );
    assert_eq!(
        ids("/v1/candidates?custom_id=c-a").await,
        vec![a["id"].clone()]
    );
    assert_eq!(
        ids("/v1/candidates?created_after=2030-05-01T09:30:00Z").await,
        vec![b["id"].clone()]
    );
    assert_eq!(
        ids("/v1/candidates?created_before=2030-05-01T09:30:00Z").await,
        vec![a["id"].clone()]
    );
    assert_eq!(
        ids("/v1/candidates?created_after=2030-05-02").await,
        Vec::<Value>::new()
    );
    let bad = api
        .get(TOKEN, "/v1/candidates?created_after=yesterday")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.error().starts_with("created_after"), "{}", bad.text);
}

#[tokio::test]
async fn idempotency_key_replays_the_first_success() {
    let (sim, api) = start().await;
    let post = |key: &str, body: Value| {
        api.client
            .post(api.url("/v1/candidates"))
            .header("authorization", basic(TOKEN))
            .header("idempotency-key", key)
            .json(&body)
    };
    let first = api
        .send(post("k1", json!({"email": "idem@example.com"})))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let replay = api
        .send(post("k1", json!({"email": "idem@example.com"})))
        .await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.text, first.text);
    // A different body with the same key still replays (no body check, as documented).
    let different = api
        .send(post("k1", json!({"email": "other@example.com"})))
        .await;
    assert_eq!(different.text, first.text);
    let count = api.get(TOKEN, "/v1/candidates").await.json()["count"].clone();
    assert_eq!(count, 1);

    // Errors are not saved: the retry runs anew.
    let failed = api.send(post("k2", json!({}))).await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST);
    let retried = api
        .send(post("k2", json!({"email": "k2@example.com"})))
        .await;
    assert_eq!(retried.status, StatusCode::CREATED);

    // Another token's key space is separate.
    sim.add_token("t2", AccountSeed::new("Two"));
    let other_token = api
        .send(
            api.client
                .post(api.url("/v1/candidates"))
                .header("authorization", basic("t2"))
                .header("idempotency-key", "k1")
                .json(&json!({"email": "t2@example.com"})),
        )
        .await;
    assert_eq!(other_token.json()["email"], "t2@example.com");

    // After 24 hours the key is forgotten.
    sim.advance_clock(Duration::from_secs(24 * 3600 + 1));
    let later = api
        .send(post("k1", json!({"email": "later@example.com"})))
        .await;
    assert_eq!(later.status, StatusCode::CREATED);
    assert_eq!(later.json()["email"], "later@example.com");
}
