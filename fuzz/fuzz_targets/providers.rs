//! `providers.toml` parsing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| terapi_runtime::fuzzing::providers(data));
