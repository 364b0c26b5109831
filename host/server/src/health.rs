//! `GET /health` for load balancers and `GET /metrics` for operators.
//!
//! `/health` needs no key (a load balancer or orchestrator probing a node has none) and
//! says nothing about the node beyond that it answers. `/metrics` is behind the secret
//! key: how full the node is tells an outsider when an overload attempt is working.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// `GET /health` → `{"result": "ok"}` (Nango's health check answers the same).
pub async fn health() -> Json<Value> {
    Json(json!({ "result": "ok" }))
}

/// `GET /metrics` → the admission counters in Prometheus' text format, so a node can be
/// scraped and alerted on (a sustained `terapi_admission_waiting` or a growing refusal
/// count means the node needs more capacity or fewer clients).
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let stats = state.runtime().admission_stats();
    let mut out = String::new();
    let gauges = [
        (
            "terapi_sandbox_slots",
            "Sandboxes that may run at once (the tightest of the admission limits).",
            stats.slots as u64,
        ),
        (
            "terapi_sandbox_running",
            "Sandboxes running now.",
            stats.running as u64,
        ),
        (
            "terapi_admission_waiting",
            "Calls waiting in line for a sandbox slot now.",
            stats.waiting as u64,
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP terapi_admission_admitted_total Calls given a sandbox slot since start.\n\
         # TYPE terapi_admission_admitted_total counter\n\
         terapi_admission_admitted_total {}",
        stats.admitted
    );
    let _ = writeln!(
        out,
        "# HELP terapi_admission_refused_total Calls refused with 503 server_overloaded since start, by reason.\n\
         # TYPE terapi_admission_refused_total counter\n\
         terapi_admission_refused_total{{reason=\"queue_full\"}} {}\n\
         terapi_admission_refused_total{{reason=\"wait_exceeded\"}} {}",
        stats.refused_queue_full, stats.refused_wait_exceeded
    );
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
