use terapi_sdk::{ActionError, NoInput};

pub fn run(_input: NoInput) -> Result<(), ActionError> {
    let numbers: Vec<u32> = std::hint::black_box(Vec::new());
    panic!(
        "the test guest panicked on purpose ({} numbers)",
        numbers.len()
    );
}
