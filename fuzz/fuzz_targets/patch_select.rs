#![no_main]
//! cargo-fuzz target `patch_select`: the body is [`tether_fuzz::patch_select`], shared with the corpus replay test.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_fuzz::patch_select(data));
