//! `tether-agent install-cni` on the binary, configured through the environment as the
//! DaemonSet's init container does.

use std::fs;
use std::process::{Command, Output};

#[allow(clippy::expect_used)]
fn run(root: &std::path::Path, uninstall: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tether-agent"));
    cmd.arg("install-cni")
        .env("TETHER_PLUGIN_SOURCE_DIR", root.join("src"))
        .env("TETHER_CNI_BIN_DIR", root.join("bin"))
        .env("TETHER_CNI_CONF_DIR", root.join("conf"))
        .env("TETHER_SOCKET", "/run/tether/agent.sock");
    if uninstall {
        cmd.arg("--uninstall");
    }
    cmd.output().expect("tether-agent runs")
}

#[test]
fn install_is_idempotent_and_uninstall_reverses_it() {
    let root = tempfile::tempdir().unwrap();
    for d in ["src", "bin", "conf"] {
        fs::create_dir_all(root.path().join(d)).unwrap();
    }
    for p in ["tether-cni", "bandwidth", "tuning"] {
        fs::write(root.path().join("src").join(p), p).unwrap();
    }
    let conflist = root.path().join("conf/10-flannel.conflist");
    let original = r#"{"name":"cbr0","cniVersion":"1.0.0","plugins":[{"type":"flannel","delegate":{"hairpinMode":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#;
    fs::write(&conflist, original).unwrap();

    let first = run(root.path(), false);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let installed: serde_json::Value =
        serde_json::from_slice(&fs::read(&conflist).unwrap()).unwrap();
    assert_eq!(installed["plugins"][2]["type"], "tether");
    assert_eq!(
        fs::read(root.path().join("bin/tether")).unwrap(),
        b"tether-cni"
    );
    let second = run(root.path(), false);
    assert!(String::from_utf8_lossy(&second.stdout).contains("already up to date"));

    assert!(run(root.path(), true).status.success());
    let restored: serde_json::Value =
        serde_json::from_slice(&fs::read(&conflist).unwrap()).unwrap();
    assert_eq!(
        restored,
        serde_json::from_str::<serde_json::Value>(original).unwrap()
    );
    assert!(!root.path().join("bin/tether").exists());

    fs::remove_file(&conflist).unwrap();
    let failed = run(root.path(), false);
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("no CNI configuration"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
}
