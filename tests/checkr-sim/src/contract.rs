//! The contract check: when [`crate::SimConfig::with_contract_check`] turned it on, every
//! request the simulator receives is validated against Checkr's published OpenAPI
//! description (see the `checkr-openapi` crate) before it is handled, and every response
//! against the schema for its status after. Violations are kept (with the operation and
//! the JSON pointer) for [`crate::Simulator::contract_report`]; a simulator dropped with
//! violations fails the test that made them.
//!
//! Nothing is skipped silently: what the spec does not describe on purpose is listed here,
//! with the reason, and counted as exempt.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::Response;
use checkr_openapi::{RequestParts, Spec, Violation};
use serde_json::Value;

use crate::recording::MAX_BODY;
use crate::state::Sim;

/// Paths outside Checkr's REST API description by design: the partner OAuth flow, which
/// Checkr documents in its partner guide, not in the OpenAPI description, and the
/// simulator's own control endpoints, which tests call to change its state.
pub const EXEMPT_PATHS: &[(&str, &str)] = &[
    (
        "/_sim/",
        "the simulator's control endpoints (seeding, churn, completing reports): test tooling, not Checkr",
    ),
    (
        "/oauth/",
        "partner OAuth token exchange and deauthorization (partner guide, not in the API description)",
    ),
    (
        "/authorize/",
        "partner OAuth authorize page (partner guide, not in the API description)",
    ),
];

/// Error statuses Checkr sends on every operation although the description lists them
/// on few: their bodies must still be Checkr's error shape, `{"error": "<message>"}`.
pub const UNDOCUMENTED_ERRORS: &[(u16, &str)] = &[
    (
        400,
        "invalid input (\"<field> is a required field\"); listed on some operations only",
    ),
    (
        401,
        "bad or revoked credentials; \"Authentication\" section, not listed on every operation",
    ),
    (
        403,
        "forbidden; \"Errors\" section, not listed on every operation",
    ),
    (
        404,
        "unknown id or path (\"Candidate not found\"); listed on few operations",
    ),
    (
        409,
        "duplicate candidate, or an Idempotency-Key still being processed (\"Idempotency support\")",
    ),
    (422, "unprocessable request (\"Errors\" section)"),
    (429, "rate limit exceeded (\"Rate limiting\" section)"),
];

/// Marks a response produced by an injected fault: such a response is the test's own
/// making, not the simulator imitating Checkr, so it is exempt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Injected;

/// What the contract check saw.
#[derive(Debug, Clone, Default)]
pub struct ContractReport {
    /// Requests validated against an operation of the description.
    pub requests_checked: usize,
    /// Responses validated against the schema for their status.
    pub responses_checked: usize,
    /// Requests to [`EXEMPT_PATHS`], and responses produced by injected faults or with a
    /// status in [`UNDOCUMENTED_ERRORS`] (whose error shape was still checked).
    pub exempt: Vec<String>,
    /// Every violation, in order.
    pub violations: Vec<Violation>,
}

impl ContractReport {
    /// One line: how much was checked and how many violations there were.
    pub fn summary(&self) -> String {
        format!(
            "contract check: {} requests and {} responses validated against Checkr's OpenAPI \
             description, {} exempt, {} violations",
            self.requests_checked,
            self.responses_checked,
            self.exempt.len(),
            self.violations.len()
        )
    }
}

/// Outermost middleware when the contract check is on.
pub(crate) async fn middleware(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    let Some(spec) = sim.contract() else {
        return next.run(req).await;
    };
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let label = format!("{method} {path}");
    if let Some((_, reason)) = EXEMPT_PATHS
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
    {
        sim.lock()
            .contract
            .exempt
            .push(format!("{label}: {reason}"));
        return next.run(req).await;
    }

    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        record(
            &sim,
            false,
            vec![Violation {
                operation: label,
                side: "request".into(),
                pointer: "/body".into(),
                message: "the body could not be read".into(),
            }],
        );
        return crate::error::error_response(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "Request body is too large",
        );
    };
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|value: &axum::http::HeaderValue| value.to_str().ok())
            .map(str::to_string)
    };
    let authorization = header(AUTHORIZATION);
    let content_type = header(CONTENT_TYPE);
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let (operation, violations) = spec.check_request(RequestParts {
        method: &method,
        path: &path,
        query: parts.uri.query().unwrap_or(""),
        authorization: authorization.as_deref(),
        content_type: content_type.as_deref(),
        headers: &headers,
        body: &bytes,
    });
    let operation = operation.cloned();
    record(&sim, operation.is_some(), violations);

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if response.extensions().get::<Injected>().is_some() {
        sim.lock()
            .contract
            .exempt
            .push(format!("{label}: a response from an injected fault"));
        return response;
    }
    let Some(operation) = operation else {
        return response;
    };
    let (parts, body) = response.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let status = parts.status.as_u16();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    if spec.documents_status(&operation, status) {
        let violations = spec.check_response(&operation, status, content_type, &bytes);
        let mut state = sim.lock();
        state.contract.responses_checked += 1;
        state.contract.violations.extend(violations);
    } else {
        let violation = |pointer: &str, message: String| Violation {
            operation: operation.label(),
            side: format!("response {status}"),
            pointer: pointer.into(),
            message,
        };
        let mut state = sim.lock();
        match UNDOCUMENTED_ERRORS.iter().find(|(code, _)| *code == status) {
            Some((_, reason)) => {
                state
                    .contract
                    .exempt
                    .push(format!("{} {status}: {reason}", operation.label()));
                let body: Option<Value> = serde_json::from_slice(&bytes).ok();
                if !body
                    .as_ref()
                    .and_then(|body| body.get("error"))
                    .is_some_and(Value::is_string)
                {
                    state.contract.violations.push(violation(
                        "/body/error",
                        "an error response must be Checkr's {\"error\": \"<message>\"}".into(),
                    ));
                }
            }
            None => state.contract.violations.push(violation(
                "/status",
                "the spec does not document this status for the operation, nor is it one of \
                 Checkr's general errors"
                    .into(),
            )),
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn record(sim: &Sim, matched: bool, violations: Vec<Violation>) {
    let mut state = sim.lock();
    if matched {
        state.contract.requests_checked += 1;
    }
    state.contract.violations.extend(violations);
}

/// The shared description, or a panic saying it is missing.
pub(crate) fn required_spec() -> &'static Spec {
    match checkr_openapi::shared() {
        Ok(spec) => spec,
        Err(error) => panic!("the contract check cannot run: {error}"),
    }
}
