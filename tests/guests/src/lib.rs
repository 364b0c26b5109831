//! Test programs for the terapi host: actions that misbehave (loop, allocate, panic) or
//! reach where they must not. One file per behaviour. The sandbox probe is a component of
//! its own (`tests/sandbox-probe`): it touches the filesystem, which makes the guest's libc
//! set up its preopened directories on every call, and `echo` here is the benchmarks'
//! no-op action, which should cost what an action like the Checkr ones costs. The `numbers`
//! sync exercises the host's records, checkpoints and metadata without an upstream API.

mod allocate_forever;
mod costly_schema;
mod echo;
mod fetch;
mod loop_forever;
mod numbers;
mod panic;

terapi_sdk::integration! {
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
    /// Takes an array of strings under the costliest input schema the host accepts.
    "costly-schema" => costly_schema::run,
    syncs {
        /// Saves `count` numbers (connection metadata) in batches with a checkpoint after
        /// each; a full pass tracks deletes. See `numbers.rs`.
        "numbers" => numbers::fetch_data {
            models: [numbers::Number],
            frequency: "every hour",
            auto_start: false,
            track_deletes: true,
        },
    }
}
