#![no_main]
//! cargo-fuzz target `state_files`: the body is [`tether_fuzz::state_files`], shared with the corpus replay test.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_fuzz::state_files(data));
