//! Upstream faults from the simulator, one per test: rate limits with the reset in either
//! format, server errors, slowness, a connection broken mid-body, truncated JSON, the
//! wrong content type. Retries honour the reset header and back off, stop after the
//! configured count, never repeat a non-idempotent POST without an `Idempotency-Key`,
//! and the action sees a precise error. (The basic retry cases are in
//! `runtime/http_capability.rs` and `server/proxy.rs`.)

mod upstream;
