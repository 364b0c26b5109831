//! Lays out the component's linear memory for a cheap per-invocation reset.
//!
//! The host resets a pooled instance's memory after every invocation by scanning its
//! pages for the ones written (Linux `PAGEMAP_SCAN`) and resetting those; the scan walks
//! the whole initial memory. Two link settings keep that small:
//!
//! * a 256 KiB shadow stack instead of Rust's default 1 MiB. On wasm only values whose
//!   address is taken live there (locals and call frames are on the engine's own stack),
//!   so 256 KiB is still far more than an action needs; an overflow traps, it does not
//!   corrupt the heap, because the stack sits below the data.
//! * 1 MiB of initial memory: stack, data and a heap of ~700 KiB, enough for a typical
//!   invocation without growing memory (growing costs the host two `mprotect` calls,
//!   one to grow and one to reset the slot afterwards). Larger results grow it as usual.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=262144");
        println!("cargo:rustc-link-arg-cdylib=--initial-memory=1048576");
    }
}
