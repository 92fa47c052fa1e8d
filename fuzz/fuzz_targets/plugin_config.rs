#![no_main]
//! cargo-fuzz target `plugin_config`: the body is [`tether_fuzz::plugin_config`], shared with the corpus replay test.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_fuzz::plugin_config(data));
