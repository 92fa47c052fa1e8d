//! A running `tether-agent` binary, socket queries, and (`sim`) the API server double its
//! tests run it against.

// Test support: failing loudly is what a panic in a test helper is for.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod sim;

/// A kubeconfig pointing at `server` with a dummy token: for an API that cannot be reached
/// (the double's own kubeconfigs come from [`sim::Cluster::agent_kubeconfig`]).
pub fn kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join(format!("kubeconfig-{}", server.replace(['/', ':'], "_")));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: dummy\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The agent binary as a child process, killed on drop.
pub struct Agent {
    pub child: Child,
    pub socket: PathBuf,
    /// Port of /metrics, /healthz and /readyz on 127.0.0.1.
    pub metrics_port: u16,
}

impl Agent {
    /// Starts `tether-agent run` for node `edge-1` and waits for its socket.
    pub fn start(dir: &Path, kubeconfig: &Path) -> Self {
        Self::start_with(dir, kubeconfig, &[])
    }

    /// Like [`Agent::start`], with extra environment variables.
    pub fn start_with(dir: &Path, kubeconfig: &Path, env: &[(&str, &str)]) -> Self {
        let socket = dir.join("run").join("agent.sock");
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_tether-agent"))
            .args(["run", "--node-name", "edge-1"])
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .arg("--socket")
            .arg(&socket)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .env("KUBECONFIG", kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let agent = Self {
            child,
            socket,
            metrics_port,
        };
        wait_until(Duration::from_secs(20), || agent.socket.exists());
        agent
    }

    /// GET of `path` on the operations endpoint: status and body.
    pub fn ops(&self, path: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        (
            out[9..12].parse().unwrap(),
            out.split_once("\r\n\r\n").unwrap().1.to_owned(),
        )
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(mut self) -> i32 {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` until it holds, failing the test at `limit`.
pub fn wait_until(limit: Duration, cond: impl FnMut() -> bool) {
    wait_until_or(limit, cond, String::new);
}

/// Like [`wait_until`]; at `limit` the failure also shows what `explain` says.
pub fn wait_until_or(
    limit: Duration,
    mut cond: impl FnMut() -> bool,
    explain: impl FnOnce() -> String,
) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() >= limit {
            panic!("condition not met within {limit:?}\n{}", explain());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP/1.1 request over the socket as `tether-cni` sends it; returns status and body.
pub fn query(socket: &Path, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    (status, out.split_once("\r\n\r\n").unwrap().1.to_owned())
}
