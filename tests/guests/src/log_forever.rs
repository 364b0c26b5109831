use serde::Deserialize;
use terapi_sdk::ActionError;

#[derive(Deserialize, terapi_sdk::schemars::JsonSchema)]
#[schemars(crate = "terapi_sdk::schemars")]
pub struct Input {
    /// Bytes per line.
    #[serde(default = "default_line_bytes")]
    line_bytes: usize,
    /// Print to stdout instead of using the log interface.
    #[serde(default)]
    stdout: bool,
}

fn default_line_bytes() -> usize {
    1024
}

/// Logs (or prints) lines of `line_bytes` bytes as fast as it can, forever.
pub fn run(input: Input) -> Result<u64, ActionError> {
    let line = "x".repeat(input.line_bytes);
    let mut lines: u64 = 0;
    loop {
        if input.stdout {
            println!("{lines} {line}");
        } else {
            terapi_sdk::log::info(&line);
        }
        lines = std::hint::black_box(lines.wrapping_add(1));
        if lines == u64::MAX {
            return Ok(lines);
        }
    }
}
