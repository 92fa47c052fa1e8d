//! The compiled binaries the node image is built from: the workspace's own, built with the
//! profile the tests run with, so a test always runs the code it was compiled with.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// The compiled tether binaries the images are built from.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `tether-agent`.
    pub agent: PathBuf,
    /// `tether-cni`.
    pub cni: PathBuf,
    /// `tether-node`.
    pub node: PathBuf,
    /// `tether-sim`, whose yurthub double runs on every sim node.
    pub sim: PathBuf,
}

/// The profile directory (`target/debug`, `target/release`) of the running test binary.
fn profile_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test binary")?;
    // target/<profile>/deps/<test> or target/<profile>/<bin>
    let dir = exe.parent().context("test binary has no directory")?;
    Ok(if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    })
}

/// Builds (a no-op when fresh) and locates `tether-agent`, `tether-cni`, `tether-node` and
/// `tether-sim`.
pub fn build() -> anyhow::Result<Binaries> {
    let dir = profile_dir()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "agent",
        "-p",
        "cni",
        "-p",
        "e2e",
        "-p",
        "tether-sim",
        "--bins",
    ]);
    // What cargo sets for the running test (CARGO_MANIFEST_DIR, CARGO_PKG_NAME, …) would
    // reach this build's build scripts' fingerprints (ring's reruns on them), so every test
    // run would rebuild ring and what depends on it, twice: drop them.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_for_the_test = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_"]
            .iter()
            .any(|p| key.starts_with(p))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&key.as_ref());
        if set_for_the_test {
            cmd.env_remove(key.as_ref());
        }
    }
    if dir.file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    let manifest = testkit::repo::root().join("Cargo.toml");
    let status = cmd
        .arg("--manifest-path")
        .arg(&manifest)
        .status()
        .with_context(|| format!("running {cargo:?} build"))?;
    if !status.success() {
        bail!("cargo build of the node binaries failed ({status})");
    }
    let bins = Binaries {
        agent: dir.join("tether-agent"),
        cni: dir.join("tether-cni"),
        node: dir.join("tether-node"),
        sim: dir.join("tether-sim"),
    };
    for bin in [&bins.agent, &bins.cni, &bins.node, &bins.sim] {
        if !bin.is_file() {
            bail!("{} was not built", bin.display());
        }
    }
    Ok(bins)
}
