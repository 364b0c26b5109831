//! End-to-end tests: the real `terapi` host running the real action components (built by
//! `cargo xtask build-actions`) against the loopback Checkr simulator.

mod checkr_background_checks;
mod checkr_candidates;
mod checkr_services;
mod checkr_support;
mod cli;
mod get_account;
mod http_capability;
mod runtime_errors;
mod sandbox_limits;
mod server_api;
mod server_cli;
mod server_oauth;
mod server_proxy;
mod server_support;
mod support;
mod sync;
