use terapi_sdk::{ActionError, NoInput};

/// Sleeps 10 ms at a time through WASI's monotonic clock, forever.
pub fn run(_input: NoInput) -> Result<u64, ActionError> {
    let mut naps: u64 = 0;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(10));
        naps = std::hint::black_box(naps.wrapping_add(1));
        if naps == u64::MAX {
            return Ok(naps);
        }
    }
}
