//! What a test needs from the machine. Locally a missing requirement skips the test with a
//! message; under `CI=true` it fails it, so CI can never pass by skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether CI is running the tests (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// `ok`, after failing the test under CI or printing why it is skipped otherwise.
pub fn met(ok: bool, what: &str) -> bool {
    assert!(ok || !in_ci(), "test skipped under CI=true: {what}");
    if !ok {
        eprintln!("skipped: {what}");
    }
    ok
}

/// Whether a Docker engine answers.
pub fn docker() -> bool {
    let ok = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    met(ok, "no Docker engine answers")
}

/// Whether the tests run as root.
pub fn root() -> bool {
    let ok = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    met(ok, "not root")
}

/// Whether root and the CNI plugins in `plugin_dir` are there.
pub fn root_with_plugins(plugin_dir: &Path) -> bool {
    root()
        && met(
            plugin_dir.join("bandwidth").exists(),
            "containernetworking-plugins are not installed",
        )
}

/// `program` on PATH, if it is there.
pub fn program(program: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    met(found.is_some(), &format!("{program} is not installed"))
        .then_some(())
        .and(found)
}
