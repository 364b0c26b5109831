//! A component-supplied JSON Schema compiled and an input validated with it: schema, NUL, input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| terapi_runtime::fuzzing::schema(data));
