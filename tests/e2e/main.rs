//! End-to-end tests: the real `terapi` host running the real action components (built by
//! `cargo xtask build-actions`) against the loopback Checkr simulator.

mod capacity;
mod checkr;
mod cli;
mod faults;
mod hostile;
mod process;
mod runtime;
mod secrets;
mod server;
mod support;
mod sync;
mod webhooks;
