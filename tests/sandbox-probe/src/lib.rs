//! A test program for the terapi host: an action that tries what the sandbox must deny
//! (files, environment, sockets) and what it must allow (clock, randomness, printing).

mod probe_network;
mod probe_sandbox;

terapi_sdk::actions! {
    /// Tries to read files and environment, and prints to stdout and stderr.
    "probe-sandbox" => probe_sandbox::run,
    /// Tries WASI's own sockets (TCP connect, UDP bind, name lookup) and a host file.
    "probe-network" => probe_network::run,
}
