#![no_main]
//! cargo-fuzz target `result_conversion`: the body is [`tether_fuzz::result_conversion`], shared with the corpus replay test.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_fuzz::result_conversion(data));
