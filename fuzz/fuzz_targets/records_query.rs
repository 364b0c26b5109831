//! The query string of `GET /records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| terapi_server::fuzzing::records_query(data));
