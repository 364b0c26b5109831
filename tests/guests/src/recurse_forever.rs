use serde::Deserialize;
use terapi_sdk::ActionError;

#[derive(Deserialize, terapi_sdk::schemars::JsonSchema)]
#[schemars(crate = "terapi_sdk::schemars")]
pub struct Input {
    /// Put a 256-byte buffer whose address is taken in every frame, so the recursion
    /// also runs down the shadow stack in linear memory (else only the engine's stack).
    #[serde(default)]
    padded: bool,
}

/// Recurses without end.
pub fn run(input: Input) -> Result<u64, ActionError> {
    Ok(descend(0, input.padded))
}

fn descend(depth: u64, padded: bool) -> u64 {
    if depth == u64::MAX {
        return depth;
    }
    let below = if padded {
        let mut frame = [0u8; 256];
        frame[(depth % 256) as usize] = 1;
        let frame = std::hint::black_box(&mut frame);
        descend(depth + 1, padded).wrapping_add(u64::from(frame[0]))
    } else {
        descend(depth + 1, padded)
    };
    std::hint::black_box(below).wrapping_add(1)
}
