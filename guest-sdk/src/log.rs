//! Structured run logs.
//!
//! Lines logged here are attached to the invocation's run log by the host, with their
//! level. What an action prints to stdout or stderr is captured too, at `info` and
//! `warn`, but these functions keep the level. Never log credentials.
//!
//! ```no_run
//! terapi_sdk::log::info("fetching the account");
//! terapi_sdk::info!("fetched {} candidates", 3);
//! ```

use crate::bindings::terapi::runtime::log::{Level, log};

/// Logs at `trace`.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs at `debug`.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at `info`.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at `warn`.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at `error`.
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Logs a formatted message at `info`: `terapi_sdk::info!("{} rows", n)`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&::std::format!($($arg)*)) };
}

/// Logs a formatted message at `warn`: `terapi_sdk::warn!("{} rows skipped", n)`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&::std::format!($($arg)*)) };
}

/// Logs a formatted message at `error`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&::std::format!($($arg)*)) };
}

/// Logs a formatted message at `debug`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(&::std::format!($($arg)*)) };
}
