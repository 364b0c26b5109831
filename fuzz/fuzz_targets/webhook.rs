//! Webhook signature verification and event parsing: key, NUL, signature, NUL, body.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| terapi_runtime::fuzzing::webhook(data));
