//! The plugin chain as a runtime runs it (`testkit::cni_runtime`), plus what the tests ask of a
//! plugin run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use testkit::cni_runtime::{self as runtime, Exec, NetworkList};

pub use testkit::cni_runtime::Attachment;

/// Where Debian's containernetworking-plugins live.
pub const PLUGIN_DIR: &str = testkit::cni_runtime::DEBIAN_PLUGIN_DIR;
/// Longer than any command may take; a plugin still running then is a hang, and a failure.
const HANG: Duration = Duration::from_secs(30);

/// The tether plugin binary under test: `TETHER_CNI_BIN` when set (e.g. the node's static
/// build, so it passes the same tests it is benchmarked with), else the one built for these
/// tests.
pub fn tether_binary() -> PathBuf {
    std::env::var_os("TETHER_CNI_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_tether-cni")),
        PathBuf::from,
    )
}

/// A plugin run that must finish.
pub fn exec(binary: &Path, env: &[(&str, String)], stdin: &[u8]) -> Exec {
    runtime::exec(binary, env, stdin, HANG).unwrap_or_else(|e| panic!("{e}"))
}

/// What the tests read from a run.
pub trait ExecExt {
    /// stdout as JSON.
    fn json(&self) -> Value;
    /// The spec error code of a failed run, after checking the error has every field.
    fn error_code(&self) -> u64;
}

impl ExecExt for Exec {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    fn error_code(&self) -> u64 {
        assert!(!self.success, "expected a failure: {self:?}");
        let err = self.json();
        for key in ["cniVersion", "code", "msg", "details"] {
            assert!(err.get(key).is_some(), "error JSON lacks {key}: {err}");
        }
        err["code"].as_u64().unwrap()
    }
}

/// Test conveniences on a network list.
pub trait ChainExt {
    /// ADD that must succeed.
    fn add_ok(&self, a: &Attachment) -> Value;
    /// Runs one command of the last plugin (tether) alone, with `prev` and extra keys.
    fn tether(&self, env: &[(&str, String)], prev: Option<&Value>, extra: Value) -> Exec;
    /// ADD of the first plugin (the main one) alone; its result.
    fn main_add(&self, a: &Attachment) -> Value;
}

impl ChainExt for NetworkList {
    fn add_ok(&self, a: &Attachment) -> Value {
        self.add(a).unwrap_or_else(|e| panic!("ADD failed: {e}")).0
    }

    fn tether(&self, env: &[(&str, String)], prev: Option<&Value>, extra: Value) -> Exec {
        let last = self.plugins.len() - 1;
        let mut conf: Value = serde_json::from_slice(&self.plugin_conf(last, prev)).unwrap();
        if let (Some(conf), Some(extra)) = (conf.as_object_mut(), extra.as_object()) {
            conf.extend(extra.clone());
        }
        exec(
            &self.plugins[last].0,
            env,
            &serde_json::to_vec(&conf).unwrap(),
        )
    }

    fn main_add(&self, a: &Attachment) -> Value {
        self.run(0, "ADD", a, None)
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
    }
}
