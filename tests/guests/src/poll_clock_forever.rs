use terapi_sdk::{ActionError, NoInput};

/// Asks WASI for the time in a tight loop: a host call per iteration, forever.
pub fn run(_input: NoInput) -> Result<u64, ActionError> {
    let started = std::time::Instant::now();
    let mut polls: u64 = 0;
    loop {
        let elapsed = std::hint::black_box(started.elapsed());
        polls = polls.wrapping_add(1);
        if elapsed.as_secs() == u64::MAX {
            return Ok(polls);
        }
    }
}
