//! Checkr partner workflows, one file per action. The same component serves the
//! `checkr-partner` and `checkr-partner-staging` integrations: the host points it at the
//! right API.
//!
//! Checkr's errors (`{"error": "..."}` with 400, 401, 403, 404, 409, 422 or 429) become
//! `ActionError`s whose payload keeps Checkr's status, message and body. Input is checked
//! before anything is sent: the host checks its shape against each action's schema, the
//! actions check what a schema cannot say (formats, codes, fields that go together) and
//! report every problem at once as `Invalid input provided`.
//!
//! The component also carries the syncs (`syncs/`, one file each) that keep a local copy
//! of the account's background checks, candidates and reports.

mod background_check_parameters;
mod background_check_services;
mod cancel_background_check;
mod checkr;
mod create_candidate;
mod get_account;
mod get_background_check;
mod get_candidate;
mod get_report;
mod list_candidates;
mod list_nodes;
mod models;
#[cfg(test)]
mod spec_tests;
mod syncs;
mod trigger_background_check;
mod validate;

terapi_sdk::integration! {
    /// Returns the Checkr account the connection is authorized for.
    "get-account" => get_account::run,
    /// Creates a candidate (`POST /v1/candidates`). Only `email` is required for Checkr's
    /// hosted flow; whatever else is given is checked first. Idempotent for 24 hours. A
    /// work location outside the US needs no `state` (Checkr's prose and API; its schema
    /// says otherwise).
    "create-candidate" => create_candidate::run,
    /// Returns one candidate (`GET /v1/candidates/{id}`).
    "get-candidate" => get_candidate::run,
    /// Lists candidates, filtered by email, custom_id and creation time (a date or a
    /// date-time, sent as the date-time Checkr takes), across every page or up to `limit`.
    "list-candidates" => list_candidates::run,
    /// Orders a background check: invites the candidate to complete the package
    /// (`POST /v1/invitations`). `node` is required on hierarchy accounts. Idempotent for 24
    /// hours. Work locations outside the US need no `state` (Checkr's prose and API; its
    /// schema says otherwise).
    "trigger-background-check" => trigger_background_check::run,
    /// Cancels a pending background check (`DELETE /v1/invitations/{id}`).
    "cancel-background-check" => cancel_background_check::run,
    /// Returns a background check's invitation and status (`GET /v1/invitations/{id}`).
    "get-background-check" => get_background_check::run,
    /// Returns a report with its status, result, adjudication and assessment
    /// (`GET /v1/reports/{id}`).
    "get-report" => get_report::run,
    /// Lists the services (packages) the account can order; on hierarchy accounts, per node.
    "background-check-services" => background_check_services::run,
    /// Lists the input trigger-background-check takes for a service key.
    "background-check-parameters" => background_check_parameters::run,
    /// Lists the account hierarchy's nodes (`GET /v1/nodes`).
    "list-nodes" => list_nodes::run,
    syncs {
        /// Every invitation (background check) of the account, with its link, status,
        /// package and report; invitations that disappear (canceled) become DELETED.
        "background-checks" => syncs::background_checks::fetch_data {
            models: [syncs::models::BackgroundCheck],
            frequency: "every hour",
            auto_start: true,
            track_deletes: true,
            webhooks: ["invitation.*"] => syncs::background_checks::on_webhook,
        },
        /// Every candidate of the account: candidates created since the last run, and a
        /// full pass once a day so updates to older ones are not missed.
        "candidates" => syncs::candidates::fetch_data {
            models: [syncs::models::Candidate],
            frequency: "every hour",
            auto_start: true,
            track_deletes: false,
            webhooks: ["candidate.*"] => syncs::candidates::on_webhook,
        },
        /// The reports of the account's candidates, refetched until they are complete or
        /// canceled.
        "reports" => syncs::reports::fetch_data {
            models: [syncs::models::Report],
            frequency: "every hour",
            auto_start: true,
            track_deletes: false,
            webhooks: ["report.*"] => syncs::reports::on_webhook,
        },
    }
}
