use terapi_sdk::{ActionError, NoInput};

pub fn run(_input: NoInput) -> Result<u64, ActionError> {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
        if counter == u64::MAX {
            return Ok(counter);
        }
    }
}
