//! `tether-agent install-cni` on the binary, configured through the environment as the
//! DaemonSet's `install-cni` container is: one-shot install and uninstall, `--check`, and
//! `--watch` putting tether back after the main plugin rewrites its conflist as kindnetd does,
//! then taking it out on SIGTERM (and not on SIGKILL, nor with `--keep-on-exit`).

// Helpers of this test file fail the test by panicking, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const KINDNET: &str = r#"{"cniVersion":"0.4.0","name":"kindnet","plugins":[{"type":"ptp","ipMasq":false,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.1.0/24"}]]}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#;

/// `tether-agent install-cni` with the DaemonSet's environment, pointed at `root`.
fn command(root: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tether-agent"));
    cmd.arg("install-cni")
        .env("TETHER_PLUGIN_SOURCE_DIR", root.join("src"))
        .env("TETHER_CNI_BIN_DIR", root.join("bin"))
        .env("TETHER_CNI_CONF_DIR", root.join("conf"))
        .env("TETHER_SOCKET", "/run/tether/agent.sock");
    cmd
}

fn run(root: &Path, uninstall: bool) -> Output {
    let mut cmd = command(root);
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
    let installed: Value = serde_json::from_slice(&fs::read(&conflist).unwrap()).unwrap();
    assert_eq!(installed["plugins"][2]["type"], "tether");
    assert_eq!(
        fs::read(root.path().join("bin/tether")).unwrap(),
        b"tether-cni"
    );
    let second = run(root.path(), false);
    assert!(String::from_utf8_lossy(&second.stdout).contains("already up to date"));

    assert!(run(root.path(), true).status.success());
    let restored: Value = serde_json::from_slice(&fs::read(&conflist).unwrap()).unwrap();
    assert_eq!(restored, serde_json::from_str::<Value>(original).unwrap());
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

/// A node's directories: the image's plugins under `src`, the node's `bin` and `conf` with
/// kindnet's conflist.
fn kind_node() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    for d in ["src", "bin", "conf"] {
        fs::create_dir_all(root.path().join(d)).unwrap();
    }
    for p in ["tether-cni", "bandwidth", "tuning"] {
        fs::write(root.path().join("src").join(p), p).unwrap();
    }
    let conflist = root.path().join("conf/10-kindnet.conflist");
    fs::write(&conflist, KINDNET).unwrap();
    (root, conflist)
}

/// What kindnetd does each time it starts: its template written to a temporary file (an
/// extension containerd ignores) and renamed over the conflist.
fn kindnetd_rewrites(conflist: &Path, content: &str) {
    let tmp = conflist.with_extension("conflist.temp");
    fs::write(&tmp, content).unwrap();
    fs::rename(&tmp, conflist).unwrap();
}

fn plugin_types(conflist: &Path) -> Vec<String> {
    let v: Value = serde_json::from_slice(&fs::read(conflist).unwrap()).unwrap();
    v["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn check(root: &Path) -> bool {
    command(root)
        .arg("--check")
        .output()
        .unwrap()
        .status
        .success()
}

/// `install-cni --watch` as a child process: its stdout lines arrive on a channel (`None` when
/// it closes, that is when the process has exited); killed on drop.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<Option<String>>,
    seen: Vec<String>,
}

impl Watch {
    fn start(root: &Path, extra: &[&str]) -> Self {
        let mut child = command(root)
            .arg("--watch")
            .args(extra)
            .env("TETHER_CNI_WATCH_INTERVAL_MS", "50")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(line) => {
                        if tx.send(Some(line)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send(None);
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits up to 20 s for a log line containing `text`.
    fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Ok(None) => panic!("exited before logging {text:?}; it logged {:?}", self.seen),
                Err(_) => panic!("no {text:?} within 20 s; it logged {:?}", self.seen),
            }
        }
    }

    /// Sends `signal` and waits up to 20 s for the exit; the exit status's success.
    fn stop(&mut self, signal: &str) -> bool {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(Some(line)) => self.seen.push(line),
                Ok(None) => break,
                Err(_) => panic!(
                    "still running 20 s after {signal}; it logged {:?}",
                    self.seen
                ),
            }
        }
        self.child.wait().unwrap().success()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_puts_tether_back_after_a_kindnetd_rewrite_and_sigterm_takes_it_out() {
    let (root, conflist) = kind_node();
    assert!(!check(root.path()));
    let mut watch = Watch::start(root.path(), &[]);
    watch.wait_for("chained tether into");
    assert_eq!(plugin_types(&conflist), ["ptp", "portmap", "tether"]);
    assert!(check(root.path()), "--check agrees");

    for n in ["(1 time since start)", "(2 times since start)"] {
        kindnetd_rewrites(&conflist, KINDNET);
        let line = watch.wait_for(n);
        assert!(line.contains("was rewritten without tether"), "{line}");
        assert_eq!(plugin_types(&conflist), ["ptp", "portmap", "tether"]);
    }

    // A conflist with tether twice (a careless hand edit, or two installers) is repaired.
    let mut twice: Value = serde_json::from_str(KINDNET).unwrap();
    let entry = serde_json::json!({"type": "tether", "agentSocket": "/run/tether/agent.sock"});
    twice["plugins"]
        .as_array_mut()
        .unwrap()
        .extend([entry.clone(), entry]);
    kindnetd_rewrites(&conflist, &twice.to_string());
    watch.wait_for("removed 1 duplicate tether entry");
    assert_eq!(plugin_types(&conflist), ["ptp", "portmap", "tether"]);

    assert!(watch.stop("-TERM"), "SIGTERM exits 0: {:?}", watch.seen);
    assert!(watch.seen.iter().any(|l| l.contains("uninstall: updated")));
    let restored: Value = serde_json::from_slice(&fs::read(&conflist).unwrap()).unwrap();
    assert_eq!(restored, serde_json::from_str::<Value>(KINDNET).unwrap());
    assert!(!root.path().join("bin/tether").exists());
    assert!(!check(root.path()));
    let names: Vec<String> = fs::read_dir(root.path().join("conf"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["10-kindnet.conflist"], "no temporary file is left");
}

#[test]
fn a_killed_watcher_or_keep_on_exit_leaves_tether_chained() {
    let (root, conflist) = kind_node();
    let mut crashed = Watch::start(root.path(), &[]);
    crashed.wait_for("chained tether into");
    assert!(!crashed.stop("-KILL"), "killed, not exited");
    assert!(check(root.path()), "a crash leaves tether chained");

    // The restarted container finds it in place and changes nothing.
    let before = fs::read(&conflist).unwrap();
    let mut kept = Watch::start(root.path(), &["--keep-on-exit"]);
    kept.wait_for("tether already chained in");
    assert!(kept.stop("-TERM"), "{:?}", kept.seen);
    assert!(kept.seen.iter().any(|l| l.contains("stays chained")));
    assert_eq!(fs::read(&conflist).unwrap(), before);
    assert!(check(root.path()));
}
