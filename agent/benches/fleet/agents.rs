//! The fleet: N `tether-agent run` processes, each with its own node, token, state directory,
//! socket and logs under one temporary directory, all killed and reaped when the fleet is
//! dropped (also when the benchmark fails half way).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::cloud::{Cloud, node};

/// The agent binary: `TETHER_FLEET_AGENT_BIN`, else this build's.
fn binary() -> PathBuf {
    std::env::var_os("TETHER_FLEET_AGENT_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_tether-agent")),
        PathBuf::from,
    )
}

/// The running agents.
pub struct Fleet {
    children: Vec<Child>,
}

impl Fleet {
    /// Starts `n` agents against `cloud`, their files under `dir`.
    pub fn start(cloud: &Cloud, dir: &Path, n: usize) -> Self {
        let mut fleet = Self {
            children: Vec::with_capacity(n),
        };
        for i in 0..n {
            let home = dir.join(node(i));
            std::fs::create_dir_all(&home).unwrap();
            let kubeconfig = cloud.kubeconfig(&home, i);
            let log = File::create(home.join("agent.log")).unwrap();
            let child = Command::new(binary())
                .args(["run", "--node-name", &node(i)])
                .args(["--metrics-addr", "127.0.0.1:0"])
                .arg("--socket")
                .arg(home.join("agent.sock"))
                .arg("--state-dir")
                .arg(home.join("state"))
                .env("KUBECONFIG", &kubeconfig)
                .env_remove("KUBERNETES_SERVICE_HOST")
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            fleet.children.push(child);
        }
        fleet
    }

    /// Resident memory of every agent, in KiB, from `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> Vec<u64> {
        self.children
            .iter()
            .filter_map(|c| std::fs::read_to_string(format!("/proc/{}/status", c.id())).ok())
            .filter_map(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .collect()
    }

    /// Agents that have exited (none should).
    pub fn exited(&mut self) -> usize {
        self.children
            .iter_mut()
            .map(|c| c.try_wait())
            .filter(|status| !matches!(status, Ok(None)))
            .count()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
        }
        for c in &mut self.children {
            let _ = c.wait();
        }
    }
}
