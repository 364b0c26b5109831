use terapi_sdk::{ActionError, NoInput};

pub fn run(_input: NoInput) -> Result<usize, ActionError> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // 1 MiB at a time, touched so the pages are real.
        hoard.push(std::hint::black_box(vec![7u8; 1 << 20]));
        if hoard.len() == usize::MAX {
            return Ok(hoard.len());
        }
    }
}
