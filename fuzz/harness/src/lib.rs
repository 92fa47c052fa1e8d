//! The bodies of tether's fuzz targets. Each `pub fn <target>(data: &[u8])` is called by
//! cargo-fuzz's `fuzz/fuzz_targets/<target>.rs` and, for every file of `fuzz/corpus/<target>/`,
//! by `tests/corpus.rs`, so plain `cargo test` keeps the corpora as regression tests.
//!
//! A body returns normally for any input; it panics (and so fails the fuzzer or the replay
//! test) only when the code under test panics or breaks an invariant the body checks.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A fuzz body's failure is a panic.

mod input;
mod patch_select;
mod plugin_config;
mod result_conversion;
mod runtime;
mod socket_request;
mod state_files;

pub use patch_select::patch_select;
pub use plugin_config::plugin_config;
pub use result_conversion::result_conversion;
pub use socket_request::socket_request;
pub use state_files::state_files;
