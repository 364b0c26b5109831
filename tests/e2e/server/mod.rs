//! `terapi serve`: the HTTP API, OAuth, the proxy, and the server as a process.

mod api;
mod cli;
mod hostile_components;
mod oauth;
mod proxy;
pub mod support;
