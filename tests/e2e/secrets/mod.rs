//! Secret hygiene: one sweep across every flow that handles a secret, through a real
//! `terapi serve` logging at debug level, asserting that no secret appears anywhere a
//! person or a log pipeline would see it.

mod sweep;
