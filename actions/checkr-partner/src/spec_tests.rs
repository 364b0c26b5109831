//! Property tests against Checkr's published API description (`../shared/checkr-openapi.yaml`
//! beside the repository, or `$CHECKR_OPENAPI_SPEC`): for each of the eleven actions,
//! responses generated from the description's schema for the operation it calls — random,
//! schema-valid, optional fields dropped at random, `null` where allowed, integers of
//! either sign — parse the way the action parses them (`Response::json`, or Checkr's
//! paginator for lists) and make the action's output; and responses that break the schema
//! where an action reads a field give an error naming that field.
//!
//! For the actions that send data, generated inputs the action accepts (its input schema
//! and its own checks) must produce a request body or query the description accepts.
//!
//! `CHECKR_PROPERTY_CASES` sets the number of cases per action (default 256); a failing
//! case names its seed.

use crate::background_check_parameters;
use crate::background_check_services;
use crate::checkr;
use crate::get_account::Account;
use crate::get_report::Report;
use crate::models::{Candidate, Invitation, Node, Package};
use checkr_openapi::{Rng, Spec};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use terapi_sdk::paginate::Collected;
use terapi_sdk::{ActionError, Request, Response};

fn spec() -> &'static Spec {
    checkr_openapi::shared().unwrap_or_else(|error| panic!("{error}"))
}

fn cases() -> u64 {
    std::env::var("CHECKR_PROPERTY_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256)
}

/// The JSON pointer of the schema of `operation_id`'s `status` response.
fn schema(operation_id: &str, status: u16) -> String {
    let spec = spec();
    let operation = spec
        .operation(operation_id)
        .unwrap_or_else(|| panic!("{operation_id} is not in Checkr's description"));
    spec.response_schema(operation, status)
        .unwrap_or_else(|| panic!("{operation_id} documents no {status} response body"))
}

/// `cases()` schema-valid instances of the schema at `pointer`, with their seeds. Each is
/// validated first, so a generator mistake cannot pass for a parsing success.
fn instances(pointer: &str) -> Vec<(u64, Value)> {
    let spec = spec();
    (0..cases())
        .map(|seed| {
            let instance = spec.generate(pointer, &mut Rng::new(seed));
            let problems = spec.validate(pointer, &instance);
            assert!(
                problems.is_empty(),
                "the generator made an invalid instance of {pointer} (seed {seed}): {problems:?}"
            );
            (seed, instance)
        })
        .collect()
}

/// What a single-object action does with a 2xx body.
fn object<T: DeserializeOwned>(body: &Value) -> Result<T, ActionError> {
    Response::new("GET /v1/test", 200, Vec::new(), body.to_string()).json()
}

/// What a list action does with a 2xx page (every page answers `body`; a `next_href`
/// repeats and ends the listing).
fn list<T: DeserializeOwned>(body: &Value) -> Result<Collected<T>, ActionError> {
    let body = body.to_string();
    checkr::paginator()
        .pages_with::<T, _>(Request::new("/v1/test"), move |_| {
            Ok(Response::new("GET /v1/test", 200, Vec::new(), body.clone()))
        })
        .collect_up_to(None)
}

fn expect_ok<T>(action: &str, seed: u64, body: &Value, result: Result<T, ActionError>) -> T {
    result.unwrap_or_else(|error| {
        panic!(
            "{action}: a schema-valid response failed (seed {seed}): {}\n{body:#}",
            error.message
        )
    })
}

/// Runs `check` on every generated response of `operation_id`/`status`; returns the count.
fn for_each_response(operation_id: &str, status: u16, mut check: impl FnMut(u64, &Value)) -> u64 {
    let pointer = schema(operation_id, status);
    let all = instances(&pointer);
    for (seed, body) in &all {
        check(*seed, body);
    }
    all.len() as u64
}

#[test]
fn get_account_parses_every_valid_account() {
    for_each_response("account", 200, |seed, body| {
        expect_ok("get-account", seed, body, object::<Account>(body));
    });
}

#[test]
fn create_and_get_candidate_parse_every_valid_candidate() {
    for (action, operation, status) in [
        ("create-candidate", "createCandidate", 201),
        ("get-candidate", "getCandidate", 200),
    ] {
        for_each_response(operation, status, |seed, body| {
            expect_ok(action, seed, body, object::<Candidate>(body));
        });
    }
}

#[test]
fn list_candidates_parses_every_valid_page() {
    for_each_response("listOfCandidates", 200, |seed, body| {
        let collected = expect_ok("list-candidates", seed, body, list::<Candidate>(body));
        // Every page is this body: a `next_href` is followed once, then repeats.
        let expected = body["data"].as_array().map_or(0, Vec::len) * collected.pages;
        assert_eq!(collected.items.len(), expected, "seed {seed}");
        assert_eq!(
            collected.first_page["count"].as_i64(),
            body["count"].as_i64(),
            "seed {seed}: the total"
        );
    });
}

#[test]
fn the_background_check_actions_parse_every_valid_invitation() {
    for (action, operation, status) in [
        ("trigger-background-check", "createInvitation", 201),
        ("cancel-background-check", "cancelInvitation", 200),
        ("get-background-check", "getInvitation", 200),
    ] {
        for_each_response(operation, status, |seed, body| {
            expect_ok(action, seed, body, object::<Invitation>(body));
        });
    }
}

#[test]
fn get_report_parses_every_valid_report() {
    for_each_response("getReport", 200, |seed, body| {
        expect_ok("get-report", seed, body, object::<Report>(body));
    });
}

#[test]
fn list_nodes_parses_every_valid_page() {
    for_each_response("nodesList", 200, |seed, body| {
        expect_ok("list-nodes", seed, body, list::<Node>(body));
    });
}

#[test]
fn background_check_services_and_parameters_handle_every_valid_listing() {
    let nodes = instances(&schema("nodesList", 200));
    for_each_response("packagesList", 200, |seed, body| {
        let packages = expect_ok(
            "background-check-services",
            seed,
            body,
            list::<Package>(body),
        );
        let (_, node_page) = &nodes[(seed as usize) % nodes.len()];
        let nodes = expect_ok(
            "background-check-services",
            seed,
            node_page,
            list::<Node>(node_page),
        );
        let flat = background_check_services::services(packages.items.clone(), None);
        assert_eq!(flat.len(), packages.items.len(), "seed {seed}");
        let per_node =
            background_check_services::services(packages.items.clone(), Some(nodes.items));
        serde_json::to_value(&per_node).expect("services serialize");

        for package in &packages.items {
            let Some(slug) = package.slug.clone() else {
                continue;
            };
            let found = background_check_parameters::find(packages.items.clone(), &slug)
                .unwrap_or_else(|error| panic!("seed {seed}: {}", error.message));
            let output = background_check_parameters::parameters(found, seed % 2 == 0);
            assert_eq!(output.service_key, slug, "seed {seed}");
        }
    });
}

/// A response that breaks the schema at `field` (set to `bad`): it must not validate, and
/// the action's error must name the field.
fn assert_named(
    action: &str,
    pointer: &str,
    field: &str,
    bad: Value,
    parse: fn(&Value) -> Result<(), ActionError>,
) {
    let spec = spec();
    for (seed, mut body) in instances(pointer).into_iter().take(32) {
        let path: Vec<&str> = field.split('.').collect();
        let mut target = &mut body;
        for key in &path[..path.len() - 1] {
            target = &mut target[*key];
        }
        target[path[path.len() - 1]] = bad.clone();
        assert!(
            !spec.validate(pointer, &body).is_empty(),
            "{action}: {field} = {bad} should break the schema"
        );
        let error = parse(&body).expect_err("an invalid response is refused");
        let last = path[path.len() - 1];
        assert!(
            error.message.contains(last),
            "{action} (seed {seed}): the error does not name `{field}`: {}",
            error.message
        );
    }
}

#[test]
fn invalid_responses_are_refused_naming_the_field() {
    assert_named(
        "get-account",
        &schema("account", 200),
        "api_authorized",
        json!("yes"),
        |body| object::<Account>(body).map(drop),
    );
    assert_named(
        "get-candidate",
        &schema("getCandidate", 200),
        "report_ids",
        json!(5),
        |body| object::<Candidate>(body).map(drop),
    );
    assert_named(
        "get-background-check",
        &schema("getInvitation", 200),
        "status",
        json!(7),
        |body| object::<Invitation>(body).map(drop),
    );
    assert_named(
        "get-report",
        &schema("getReport", 200),
        "turnaround_time",
        json!("fast"),
        |body| object::<Report>(body).map(drop),
    );
    let packages = schema("packagesList", 200);
    let package = format!("{packages}/properties/data/items");
    assert_named(
        "background-check-services",
        &package,
        "price",
        json!("ten dollars"),
        |body| list::<Package>(&json!({ "data": [body] })).map(drop),
    );
    let nodes = schema("nodesList", 200);
    let node = format!("{nodes}/properties/data/items");
    assert_named("list-nodes", &node, "custom_id", json!(42), |body| {
        list::<Node>(&json!({ "data": [body] })).map(drop)
    });
}

// --- Requests: every input the action accepts produces a request Checkr's description
// accepts. Inputs are drawn field by field from pools of valid, borderline and invalid
// values; those the action's input schema (what the host checks) and the action's own
// checks accept must give a request body or query that validates.

/// Nothing half the time, else [`pick`].
fn maybe(rng: &mut Rng, good: &[Value], bad: &[Value]) -> Option<Value> {
    if rng.chance(1, 2) {
        return None;
    }
    Some(pick(rng, good, bad))
}

/// One of `bad` one time in eight (when there are any), else one of `good`.
fn pick(rng: &mut Rng, good: &[Value], bad: &[Value]) -> Value {
    let pool = if !bad.is_empty() && rng.chance(1, 8) {
        bad
    } else {
        good
    };
    let index = rng.below(pool.len() as u64) as usize;
    pool.get(index).cloned().unwrap_or(Value::Null)
}

fn insert_some(object: &mut serde_json::Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        object.insert(key.to_string(), value);
    }
}

fn work_location(rng: &mut Rng) -> Value {
    let mut location = serde_json::Map::new();
    location.insert(
        "country".into(),
        pick(
            rng,
            &[json!("US"), json!("us"), json!("GB"), json!("CA")],
            &[json!("Canada")],
        ),
    );
    insert_some(
        &mut location,
        "state",
        maybe(
            rng,
            &[json!("CA"), json!("ca"), json!("ON")],
            &[json!(""), json!("ZZ")],
        ),
    );
    insert_some(
        &mut location,
        "city",
        maybe(
            rng,
            &[json!("San Francisco"), json!("Zürich")],
            &[json!("x".repeat(300))],
        ),
    );
    Value::Object(location)
}

/// Whether the host would accept `input` for an action whose input type is `T`.
fn schema_accepts<T: terapi_sdk::schemars::JsonSchema>(input: &Value) -> bool {
    let schema = serde_json::to_value(terapi_sdk::schemars::schema_for!(T)).expect("schema");
    checkr_openapi::validate_against(&schema, input).is_empty()
}

/// The request body schema of `operation_id`.
fn request_schema(operation_id: &str) -> String {
    let spec = spec();
    let operation = spec.operation(operation_id).expect("operation");
    let body = spec
        .document()
        .pointer(&format!("{}/requestBody/$ref", operation.pointer))
        .and_then(Value::as_str)
        .expect("a request body reference");
    format!(
        "{}/content/application~1json/schema",
        body.trim_start_matches('#')
    )
}

fn assert_valid_body(action: &str, seed: u64, schema: &str, input: &Value, body: &Value) {
    let problems = spec().validate(schema, body);
    assert!(
        problems.is_empty(),
        "{action} (seed {seed}) accepted {input} but sent a body Checkr's description \
         refuses: {problems:?}\n{body:#}"
    );
}

#[test]
fn create_candidate_sends_only_bodies_checkr_accepts() {
    let schema = request_schema("createCandidate");
    let names = [
        json!("Jane"),
        json!("José"),
        json!("Ærøskøbing"),
        json!("Mary-Jane O'Neil, Jr."),
        json!("Q"),
        json!("  "),
    ];
    let bad_names = [json!("Łukasz"), json!("R2-D2!")];
    let mut accepted = 0;
    for seed in 0..cases() {
        let rng = &mut Rng::new(seed);
        let mut input = serde_json::Map::new();
        input.insert(
            "email".into(),
            pick(
                rng,
                &[
                    json!("jane@example.com"),
                    json!("a+tag@sub.example.co.uk"),
                    json!(" JANE.DOE@EXAMPLE.COM "),
                ],
                &[json!("not-an-email"), json!("jané@example.com")],
            ),
        );
        insert_some(&mut input, "first_name", maybe(rng, &names, &bad_names));
        insert_some(&mut input, "middle_name", maybe(rng, &names, &bad_names));
        insert_some(
            &mut input,
            "last_name",
            maybe(
                rng,
                &[json!("Doe"), json!("Ng"), json!("Øre")],
                &[json!("O"), json!("Łi")],
            ),
        );
        // Mostly consistent with middle_name (Checkr wants one or the other), now and
        // then not.
        let no_middle_name = if rng.chance(1, 8) {
            maybe(rng, &[json!(true), json!(false)], &[])
        } else if input.contains_key("middle_name") {
            None
        } else {
            Some(json!(true))
        };
        insert_some(&mut input, "no_middle_name", no_middle_name);
        insert_some(
            &mut input,
            "phone",
            maybe(
                rng,
                &[json!("415-555-0100"), json!("+44 (20) 7946 0958")],
                &[json!("555")],
            ),
        );
        insert_some(
            &mut input,
            "zipcode",
            maybe(
                rng,
                &[json!("94107"), json!("94107-1234")],
                &[json!("9410")],
            ),
        );
        insert_some(
            &mut input,
            "dob",
            maybe(
                rng,
                &[json!("1990-04-27"), json!("2000-02-29")],
                &[json!("1899-12-31"), json!("1990-4-27")],
            ),
        );
        insert_some(
            &mut input,
            "ssn",
            maybe(
                rng,
                &[json!("847-43-4645"), json!("847434645")],
                &[json!("123-45-6789")],
            ),
        );
        if rng.chance(1, 3) {
            input.insert("driver_license_number".into(), json!("F2111655"));
            input.insert(
                "driver_license_state".into(),
                pick(rng, &[json!("CA"), json!("ca")], &[json!("ZZ")]),
            );
        }
        insert_some(
            &mut input,
            "custom_id",
            maybe(rng, &[json!("emp-42")], &[json!("x".repeat(300))]),
        );
        if rng.chance(1, 2) {
            input.insert("work_location".into(), work_location(rng));
        }
        let input = Value::Object(input);
        if !schema_accepts::<crate::create_candidate::Input>(&input) {
            continue;
        }
        let Ok(parsed) = serde_json::from_value::<crate::create_candidate::Input>(input.clone())
        else {
            continue;
        };
        if let Ok(body) = crate::create_candidate::check(&parsed) {
            accepted += 1;
            let body = serde_json::to_value(&body).expect("body serializes");
            assert_valid_body("create-candidate", seed, &schema, &input, &body);
        }
    }
    eprintln!(
        "create-candidate: {accepted} of {} generated inputs accepted; each request validated",
        cases()
    );
    assert!(
        accepted * 10 >= cases(),
        "too few accepted inputs: {accepted}"
    );
}

#[test]
fn trigger_background_check_sends_only_bodies_checkr_accepts() {
    let schema = request_schema("createInvitation");
    let mut accepted = 0;
    for seed in 0..cases() {
        let rng = &mut Rng::new(seed);
        let mut input = serde_json::Map::new();
        input.insert(
            "candidate_id".into(),
            pick(
                rng,
                &[json!("e44aa283528e6fde7d542194"), json!("abc")],
                &[json!(" ")],
            ),
        );
        input.insert(
            "package".into(),
            pick(rng, &[json!("tasker_pro"), json!("driver_standard")], &[]),
        );
        if rng.chance(1, 2) {
            let count = rng.below(3);
            let locations: Vec<Value> = (0..count).map(|_| work_location(rng)).collect();
            input.insert("work_locations".into(), Value::Array(locations));
        }
        insert_some(
            &mut input,
            "node",
            maybe(rng, &[json!("west")], &[json!(" ")]),
        );
        insert_some(
            &mut input,
            "tags",
            maybe(rng, &[json!(["ok"]), json!([])], &[json!(["ok", ""])]),
        );
        let input = Value::Object(input);
        if !schema_accepts::<crate::trigger_background_check::Input>(&input) {
            continue;
        }
        let Ok(parsed) =
            serde_json::from_value::<crate::trigger_background_check::Input>(input.clone())
        else {
            continue;
        };
        if let Ok(body) = crate::trigger_background_check::check(&parsed, rng.chance(1, 2)) {
            accepted += 1;
            let body = serde_json::to_value(&body).expect("body serializes");
            assert_valid_body("trigger-background-check", seed, &schema, &input, &body);
        }
    }
    eprintln!(
        "trigger-background-check: {accepted} of {} generated inputs accepted; each request validated",
        cases()
    );
    assert!(
        accepted * 10 >= cases(),
        "too few accepted inputs: {accepted}"
    );
}

#[test]
fn list_candidates_sends_only_queries_checkr_accepts() {
    let moments = [
        json!("2024-01-31"),
        json!("2024-01-31T12:00:00Z"),
        json!("2024-01-31t12:00:00.5+02:00"),
        json!("2024-01-31 12:00:00Z"),
        json!("1969-12-31T23:59:59-01:00"),
    ];
    let bad_moments = [json!("yesterday"), json!("2024-02-30")];
    let mut accepted = 0;
    for seed in 0..cases() {
        let rng = &mut Rng::new(seed);
        let mut input = serde_json::Map::new();
        insert_some(
            &mut input,
            "email",
            maybe(rng, &[json!("jane@example.com")], &[json!("x")]),
        );
        insert_some(
            &mut input,
            "custom_id",
            maybe(rng, &[json!("emp-42"), json!("a b/c?d")], &[]),
        );
        insert_some(
            &mut input,
            "created_after",
            maybe(rng, &moments, &bad_moments),
        );
        insert_some(
            &mut input,
            "created_before",
            maybe(rng, &moments, &bad_moments),
        );
        insert_some(
            &mut input,
            "per_page",
            maybe(rng, &[json!(1), json!(100)], &[]),
        );
        let input = Value::Object(input);
        if !schema_accepts::<crate::list_candidates::Input>(&input) {
            continue;
        }
        let Ok(parsed) = serde_json::from_value::<crate::list_candidates::Input>(input.clone())
        else {
            continue;
        };
        let Ok(filters) = crate::list_candidates::filters(&parsed) else {
            continue;
        };
        accepted += 1;
        let mut query = form_urlencoded_pairs(&filters);
        query.push_str(&format!(
            "{}per_page={}",
            if query.is_empty() { "" } else { "&" },
            parsed.per_page.unwrap_or(100)
        ));
        let (operation, violations) = spec().check_request(checkr_openapi::RequestParts {
            method: "GET",
            path: "/v1/candidates",
            query: &query,
            authorization: Some("Basic dG9rZW46"),
            content_type: None,
            headers: &[],
            body: b"",
        });
        assert!(operation.is_some());
        assert!(
            violations.is_empty(),
            "list-candidates (seed {seed}) accepted {input} but sent ?{query}: {violations:?}"
        );
    }
    eprintln!(
        "list-candidates: {accepted} of {} generated inputs accepted; each request validated",
        cases()
    );
    assert!(
        accepted * 10 >= cases(),
        "too few accepted inputs: {accepted}"
    );
}

/// `name=value&...`, percent-encoded as the host encodes query parameters.
fn form_urlencoded_pairs(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| {
            let encoded: String = value
                .bytes()
                .map(|byte| {
                    if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                        char::from(byte).to_string()
                    } else {
                        format!("%{byte:02X}")
                    }
                })
                .collect();
            format!("{name}={encoded}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[test]
fn unknown_enum_values_do_not_fail_a_response_or_a_list() {
    let packages = schema("packagesList", 200);
    for (seed, mut page) in instances(&packages).into_iter().take(64) {
        let mut package = spec().generate(
            &format!("{packages}/properties/data/items"),
            &mut Rng::new(seed),
        );
        package["screenings"] = json!([{ "type": "brand_new_screening", "subtype": null }]);
        page["data"] = json!([package]);
        let listed = list::<Package>(&page).unwrap_or_else(|error| panic!("{}", error.message));
        assert!(listed.items.iter().all(|package| {
            package.screenings[0].kind.as_deref() == Some("brand_new_screening")
        }));
    }
    for (seed, mut report) in instances(&schema("getReport", 200)).into_iter().take(64) {
        report["status"] = json!("frozen");
        report["result"] = json!("inconclusive");
        report["assessment"] = json!("pending_review");
        let parsed: Report = object(&report).unwrap_or_else(|error| {
            panic!("seed {seed}: {}", error.message);
        });
        assert_eq!(parsed.status.as_deref(), Some("frozen"));
    }
    for (seed, mut invitation) in instances(&schema("getInvitation", 200))
        .into_iter()
        .take(64)
    {
        invitation["status"] = json!("archived");
        let parsed: Invitation = object(&invitation).unwrap_or_else(|error| {
            panic!("seed {seed}: {}", error.message);
        });
        assert_eq!(parsed.status.as_deref(), Some("archived"));
    }
}
