//! One current-thread Tokio runtime per process, reused across runs of the async targets.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

/// The process's runtime, built on first use.
pub fn get() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a Tokio runtime")
    })
}
