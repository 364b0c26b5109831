//! The REST API under `/v1`: authentication, account, rate-limit headers, candidates
//! and pagination, idempotency, invitations, reports, packages, nodes, webhooks.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use checkr_sim::{AccountSeed, NodeSeed, SimConfig};
use common::{HIER_TOKEN, TOKEN, basic, parse_iso, start, start_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

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
