//! Syncs end to end: the real host running the test guest's `numbers` sync and the
//! Checkr component's syncs against the simulator, through the runtime, the service's
//! scheduler, the records and sync API, and the CLI.

mod api;
mod checkr;
mod cli;
mod crash;
mod nango_node;
mod numbers;
mod support;
mod webhooks;
