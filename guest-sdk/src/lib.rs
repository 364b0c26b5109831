//! # terapi-sdk: write terapi actions and syncs in Rust
//!
//! An *action* is one integration workflow ("fetch the Checkr account", "create a
//! candidate"). Actions run inside the terapi host as WebAssembly components, in a fresh
//! sandbox per invocation. They cannot open sockets or read files: everything they need
//! comes from the host through this crate —
//!
//! * [`get_connection`]: the connection the action runs for, credentials included;
//! * [`get`], [`post`], [`put`], [`patch`], [`delete`] and [`send`]: HTTP requests the host
//!   performs against the provider's API (with its base URL, allow-list, timeouts and
//!   retries);
//! * [`log`](mod@log): structured run logs;
//! * [`ActionError`]: how an action fails on purpose, with a message and a JSON payload
//!   ([`InputErrors`] builds the one for invalid input);
//! * [`Paginator`]: following a list endpoint's pages (link, cursor or offset style).
//!
//! Each action is a plain function from a typed input to a typed output. The
//! [`actions!`] macro registers them under their names and exports the component's
//! entry points:
//!
//! ```no_run
//! use terapi_sdk::{ActionError, Credentials, NoInput, Request};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, schemars::JsonSchema)]
//! pub struct Account {
//!     pub id: String,
//!     pub name: String,
//! }
//!
//! /// Returns the Checkr account the connection belongs to.
//! pub fn get_account(_input: NoInput) -> Result<Account, ActionError> {
//!     let connection = terapi_sdk::get_connection();
//!     let token = match connection.credentials {
//!         Credentials::OAuth2 { access_token, .. } => access_token,
//!         _ => return Err(ActionError::new("access_token is missing")),
//!     };
//!     let request = Request::new("/v1/account")
//!         .header("Authorization", terapi_sdk::basic_auth(&token, ""));
//!     terapi_sdk::get(request)?.json()
//! }
//!
//! terapi_sdk::actions! {
//!     /// Returns the Checkr account the connection belongs to.
//!     "get-account" => get_account,
//! }
//! ```
//!
//! # Syncs
//!
//! A *sync* keeps a local copy of a provider's data: the host runs it on a schedule, and
//! it saves what it fetched as *records* of typed *models* through [`records`]. Where it
//! left off goes in a typed [`checkpoint`] (saved in the same transaction as the records
//! saved before it, so a run killed at any moment resumes exactly); the connection's
//! [`metadata`] is shared with the application. Each sync is a function
//! `fn() -> Result<(), ActionError>` registered with [`syncs!`] (or, for a component with
//! actions too, [`integration!`]):
//!
//! ```no_run
//! use terapi_sdk::{ActionError, Paginator, Request};
//!
//! /// A user, as the sync keeps it. Every model has a string `id`.
//! #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! pub struct User {
//!     pub id: String,
//!     pub email: Option<String>,
//! }
//!
//! pub fn users() -> Result<(), ActionError> {
//!     let pages = Paginator::link("data", "next").pages::<User>(Request::new("/users"));
//!     // One page saved at a time: a sync never holds the whole listing.
//!     terapi_sdk::records::save_pages(pages, |user| user)?;
//!     Ok(())
//! }
//!
//! terapi_sdk::syncs! {
//!     /// Every user of the account.
//!     "users" => users {
//!         models: [User],
//!         frequency: "every hour",
//!         track_deletes: true,
//!     },
//! }
//! ```
//!
//! Build the crate as a `cdylib` for `wasm32-wasip2`; the result is a component the host
//! loads (`cargo xtask build-actions` in the terapi repository does this for you).

// The generated bindings name the runtime by its path from action crates; this makes the
// same path work inside this crate.
extern crate self as terapi_sdk;

pub mod checkpoint;
mod connection;
mod error;
pub mod http;
pub mod log;
pub mod metadata;
pub mod paginate;
pub mod records;
mod registry;
mod sync;

pub use connection::{Connection, Credentials, get_connection};
pub use error::{ActionError, INVALID_INPUT, InputErrors};
pub use http::{
    HttpError, Method, Request, Response, basic_auth, delete, get, patch, post, put, send,
};
pub use paginate::{Collected, Page, Pages, Paginator, StopReason};
pub use records::Saved;
pub use registry::NoInput;
pub use sync::{model_info, model_name};

/// Re-exported so action crates depend on this crate alone.
pub use schemars;
/// Re-exported so action crates depend on this crate alone.
pub use serde;
/// Re-exported so action crates depend on this crate alone.
pub use serde_json;
/// The wit-bindgen runtime the generated bindings use, re-exported so action crates
/// depend on this crate alone.
pub use wit_bindgen;

/// Bindings generated from `wit/terapi.wit` (world `integration`: actions and syncs).
/// Authors use the safe wrappers at the crate root instead; this module is public because
/// the [`actions!`], [`syncs!`] and [`integration!`] macros expand to code that refers to
/// it. A component with actions only still exports the sync entry points (an empty
/// `describe-syncs`, a `fetch-data` that fails); its unused imports are left out of the
/// component.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "integration",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_integration_world",
        default_bindings_module: "::terapi_sdk::bindings",
        runtime_path: "::terapi_sdk::wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub mod __private {
    //! Support code for the [`actions!`](crate::actions), [`syncs!`](crate::syncs) and
    //! [`integration!`](crate::integration) macros. Not a stable API.
    pub use crate::registry::{describe, invoke, unknown_action};
    pub use crate::sync::{describe_sync, first_or, run_sync, run_webhook, unknown_sync};
}
