use serde::Serialize;
use terapi_sdk::{ActionError, NoInput};

#[derive(Serialize, terapi_sdk::schemars::JsonSchema)]
#[schemars(crate = "terapi_sdk::schemars")]
pub struct Output {
    /// What reading the root directory gave.
    read_root: String,
    /// How many environment variables the guest sees.
    env_vars: usize,
    /// Whether the clock works (milliseconds since the epoch > 0).
    clock_works: bool,
    /// Whether randomness works (two draws differ).
    random_works: bool,
}

pub fn run(_input: NoInput) -> Result<Output, ActionError> {
    println!("hello from stdout");
    eprintln!("hello from stderr");
    terapi_sdk::log::info("hello from the log interface");
    let read_root = match std::fs::read_dir("/") {
        Ok(entries) => format!("ok: {} entries", entries.count()),
        Err(error) => format!("error: {error}"),
    };
    let clock_works = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() > 0)
        .unwrap_or(false);
    let random_works = {
        use std::collections::hash_map::RandomState;
        use std::hash::BuildHasher;
        RandomState::new().hash_one(1u8) != RandomState::new().hash_one(1u8)
    };
    Ok(Output {
        read_root,
        env_vars: std::env::vars().count(),
        clock_works,
        random_works,
    })
}
