//! The runtime library: actions in sandboxes, their capabilities and limits.

mod errors;
mod get_account;
mod http_capability;
mod sandbox_limits;
