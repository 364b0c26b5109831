//! Test programs for the terapi host: actions that misbehave (loop, sleep, allocate,
//! recurse, flood, panic, exit, return or log giant things) or reach where they must not.
//! One file per behaviour; the hostile-guest tests (`tests/e2e/hostile/`) run them. The sandbox probe is a component of
//! its own (`tests/sandbox-probe`): it touches the filesystem, which makes the guest's libc
//! set up its preopened directories on every call, and `echo` here is the benchmarks'
//! no-op action, which should cost what an action like the Checkr ones costs. The `numbers`
//! sync exercises the host's records, checkpoints and metadata without an upstream API.

mod allocate_forever;
mod costly_schema;
mod echo;
mod exit;
mod fetch;
mod flood;
mod giant_error;
mod giant_output;
mod log_forever;
mod loop_forever;
mod numbers;
mod panic;
mod poll_clock_forever;
mod recurse_forever;
mod sleep_forever;

terapi_sdk::integration! {
    /// Returns its input unchanged.
    "echo" => echo::run,
    /// Spins forever; the host's deadline must stop it.
    "loop-forever" => loop_forever::run,
    /// Allocates until something gives; the host's memory cap must stop it.
    "allocate-forever" => allocate_forever::run,
    /// Panics.
    "panic" => panic::run,
    /// Sends the request it is given (any URL, headers, method, body size) and returns
    /// what came back: the SSRF, header-smuggling, header-bomb and huge-body attacks
    /// are inputs to this one action.
    "fetch" => fetch::run,
    /// Sleeps through WASI's clock forever; the host's deadline must stop it.
    "sleep-forever" => sleep_forever::run,
    /// Reads WASI's clock in a tight loop forever (a host call per iteration).
    "poll-clock-forever" => poll_clock_forever::run,
    /// Logs (or prints) 1 KiB lines forever; the host must bound what it keeps.
    "log-forever" => log_forever::run,
    /// Sends requests in a loop; the per-run request budget must stop the flood.
    "flood" => flood::run,
    /// Recurses without end; the stack limit must trap it.
    "recurse-forever" => recurse_forever::run,
    /// Returns a string as long as asked; the host's output cap must refuse a giant one.
    "giant-output" => giant_output::run,
    /// Fails with a message and payload as long as asked; the host must bound them.
    "giant-error" => giant_error::run,
    /// Calls `exit(code)` or `abort()`.
    "exit" => exit::run,
    /// Takes an array of strings under the costliest input schema the host accepts.
    "costly-schema" => costly_schema::run,
    syncs {
        /// Saves `count` numbers (connection metadata) in batches with a checkpoint after
        /// each; a full pass tracks deletes; `number.*` webhooks set or remove one. See
        /// `numbers.rs`.
        "numbers" => numbers::fetch_data {
            models: [numbers::Number],
            frequency: "every hour",
            auto_start: false,
            track_deletes: true,
            webhooks: ["number.*"] => numbers::on_webhook,
        },
    }
}
