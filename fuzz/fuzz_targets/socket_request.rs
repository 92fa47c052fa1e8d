#![no_main]
//! cargo-fuzz target `socket_request`: the body is [`tether_fuzz::socket_request`], shared with the corpus replay test.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_fuzz::socket_request(data));
