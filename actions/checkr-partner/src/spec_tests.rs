//! Property tests against Checkr's published API description (`../shared/checkr-openapi.yaml`
//! beside the repository, or `$CHECKR_OPENAPI_SPEC`): for each of the eleven actions,
//! responses generated from the description's schema for the operation it calls — random,
//! schema-valid, optional fields dropped at random, `null` where allowed, integers of
//! either sign — parse the way the action parses them (`Response::json`, or Checkr's
//! paginator for lists) and make the action's output; and responses that break the schema
//! where an action reads a field give an error naming that field.
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
