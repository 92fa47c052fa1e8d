//! `tether-node`: init, kubelet double and node tools of a sim edge node (see `e2e::node`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use cni::agent_client::AgentClient;
use e2e::node::control::{self, Request};
use e2e::node::{
    CNI_CONF_DIR, CONTAINERD_SOCKET, KUBELET_KUBECONFIG, KUBELET_SOCKET, init, kindnet, kubelet,
};

/// Init, kubelet double and node tools of a tether sim edge node.
#[derive(Parser)]
#[command(name = "tether-node", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// PID 1: bring the node up (containerd, kindnet's conflist, install-cni), then keep
    /// containerd, the kubelet double and the agent running.
    Init,
    /// The kubelet double: run the pods bound to this node through containerd's CRI.
    Kubelet {
        /// This node's name.
        #[arg(long, env = "NODE_NAME")]
        node: String,
        /// Kubeconfig with the API server's address and the kubelet's credentials.
        #[arg(long, default_value = KUBELET_KUBECONFIG)]
        kubeconfig: PathBuf,
        /// The runtime's CRI socket.
        #[arg(long, default_value = CONTAINERD_SOCKET)]
        runtime: PathBuf,
        /// Where to serve the control socket.
        #[arg(long, default_value = KUBELET_SOCKET)]
        control: PathBuf,
    },
    /// Stop one of init's services (`agent`, `yurthub`, `kubelet`, `containerd`); init starts
    /// it again, as kubelet restarts a container or systemd a unit. Returns once the new one
    /// runs and, for a sidecar with a check, passes it.
    Restart {
        /// The service's name.
        name: String,
    },
    /// Stop one of init's services for good, as kubelet stops a deleted pod's containers;
    /// returns once it has exited.
    Stop {
        /// The service's name.
        name: String,
    },
    /// Succeed when something accepts TCP connections at ADDR within a second (yurthub's
    /// startup check).
    ProbeTcp {
        /// `IP:port`.
        addr: std::net::SocketAddr,
    },
    /// Wait until the agent answers its health check on the socket and the kubelet double
    /// its control socket.
    WaitReady {
        /// The agent's socket.
        #[arg(long, default_value = cni::protocol::DEFAULT_SOCKET)]
        socket: PathBuf,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: u64,
    },
    /// The main plugin's configuration.
    #[command(subcommand)]
    Cni(CniCmd),
    /// Pods as the kubelet double runs them (JSON on stdout).
    #[command(subcommand)]
    Pod(PodCmd),
}

#[derive(Subcommand)]
enum CniCmd {
    /// Write kindnet's conflist again from its template, as kindnetd does when it restarts.
    Rewrite,
}

#[derive(Subcommand)]
enum PodCmd {
    /// The pod's sandbox, once it is ready.
    Show {
        /// Pod UID.
        #[arg(long)]
        uid: String,
        /// How long to wait for a ready sandbox.
        #[arg(long, default_value_t = 60_000)]
        timeout_ms: u64,
    },
    /// Replace the pod's sandbox with a new one (attempt + 1); the new one, once ready.
    Recreate {
        /// Pod UID.
        #[arg(long)]
        uid: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 60_000)]
        timeout_ms: u64,
    },
    /// Wait until the deleted pod's sandbox is stopped (CNI DEL) and removed.
    WaitGone {
        /// Pod UID.
        #[arg(long)]
        uid: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 60_000)]
        timeout_ms: u64,
    },
    /// Every pod the kubelet double knows.
    List,
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tether-node: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Cmd) -> anyhow::Result<()> {
    match command {
        Cmd::Init => init::run(),
        Cmd::Kubelet {
            node,
            kubeconfig,
            runtime,
            control,
        } => tokio::runtime::Runtime::new()
            .context("starting the async runtime")?
            .block_on(kubelet::run(kubelet::Config {
                node,
                kubeconfig,
                runtime,
                control,
            })),
        Cmd::Restart { name } => init::restart(&name),
        Cmd::Stop { name } => init::stop(&name),
        Cmd::ProbeTcp { addr } => {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                .map(drop)
                .with_context(|| format!("connecting to {addr}"))
        }
        Cmd::WaitReady { socket, timeout_ms } => {
            wait_ready(&socket, Duration::from_millis(timeout_ms))
        }
        Cmd::Cni(CniCmd::Rewrite) => {
            kindnet::write(Path::new(kindnet::TEMPLATE), Path::new(CNI_CONF_DIR)).map(drop)
        }
        Cmd::Pod(pod) => {
            let (request, timeout_ms) = match pod {
                PodCmd::Show { uid, timeout_ms } => (Request::Show { uid, timeout_ms }, timeout_ms),
                PodCmd::Recreate { uid, timeout_ms } => {
                    (Request::Recreate { uid, timeout_ms }, timeout_ms)
                }
                PodCmd::WaitGone { uid, timeout_ms } => {
                    (Request::AwaitGone { uid, timeout_ms }, timeout_ms)
                }
                PodCmd::List => (Request::List, 5_000),
            };
            let answer = control::ask(
                Path::new(KUBELET_SOCKET),
                &request,
                Duration::from_millis(timeout_ms),
            )?;
            println!("{}", serde_json::to_string(&answer)?);
            Ok(())
        }
    }
}

fn wait_ready(socket: &Path, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let client = AgentClient::new(socket, Duration::from_millis(500));
    loop {
        match client.healthz() {
            Ok(()) => break,
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("agent not ready within {timeout:?}"));
            }
            // The socket appears when the agent has bound it; checking again soon is the
            // only way to learn that from outside the agent's process.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    loop {
        let asked = control::ask(
            Path::new(KUBELET_SOCKET),
            &Request::List,
            Duration::from_secs(1),
        );
        match asked {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(e)
                    .with_context(|| format!("kubelet double not ready within {timeout:?}"));
            }
            // Same for the kubelet double, which listens once containerd answers.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
