//! Test programs for the terapi host: actions that misbehave (loop, allocate, panic),
//! reach where they must not, or probe the sandbox. One file per behaviour.

mod allocate_forever;
mod echo;
mod fetch;
mod loop_forever;
mod panic;
mod probe_sandbox;

terapi_sdk::actions! {
    /// Returns its input unchanged.
    "echo" => echo::run,
    /// Spins forever; the host's deadline must stop it.
    "loop-forever" => loop_forever::run,
    /// Allocates until something gives; the host's memory cap must stop it.
    "allocate-forever" => allocate_forever::run,
    /// Panics.
    "panic" => panic::run,
    /// Sends the request it is given and returns what came back.
    "fetch" => fetch::run,
    /// Tries to read files and environment, and prints to stdout and stderr.
    "probe-sandbox" => probe_sandbox::run,
}
