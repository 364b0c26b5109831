//! End-to-end tests: the real `terapi` host running the real action components (built by
//! `cargo xtask build-actions`) against the loopback Checkr simulator.

mod checkr;
mod cli;
mod hostile;
mod runtime;
mod server;
mod support;
mod sync;
mod webhooks;
