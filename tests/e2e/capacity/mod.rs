//! Capacity: admission control (503 with `Retry-After` when every sandbox slot is busy
//! and the line is full or too slow), graceful shutdown on SIGTERM, and load through the
//! HTTP API of a real `terapi serve` process.

mod admission;
mod load;
mod shutdown;
mod support;
