//! The proxy's request headers: options and the headers forwarded upstream.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| terapi_server::fuzzing::proxy_headers(data));
