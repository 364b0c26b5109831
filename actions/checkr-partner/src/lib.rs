//! Checkr partner workflows, one file per action. The same component serves the
//! `checkr-partner` and `checkr-partner-staging` integrations: the host points it at the
//! right API.

mod checkr;
mod get_account;

terapi_sdk::actions! {
    /// Returns the Checkr account the connection is authorized for.
    "get-account" => get_account::run,
}
