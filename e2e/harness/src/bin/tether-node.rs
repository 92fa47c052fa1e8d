//! `tether-node`: init and container-runtime stand-in of a sim edge node (see `e2e::node`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use cni::agent_client::AgentClient;
use e2e::node::{init, pods};

/// Init and container-runtime stand-in of a tether sim edge node.
#[derive(Parser)]
#[command(name = "tether-node", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// PID 1: run the steps of /etc/tether-node/init.json, then keep the agent running.
    Init,
    /// Stop the agent; init starts it again, as kubelet restarts a container.
    RestartAgent,
    /// Wait until the agent answers its health check on the socket.
    WaitReady {
        /// The agent's socket.
        #[arg(long, default_value = cni::protocol::DEFAULT_SOCKET)]
        socket: std::path::PathBuf,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: u64,
    },
    /// Pod sandboxes.
    #[command(subcommand)]
    Pod(PodCmd),
}

#[derive(Subcommand)]
enum PodCmd {
    /// Create a sandbox and run the node's CNI ADD; prints the outcome as JSON.
    Add {
        /// Pod namespace.
        #[arg(long)]
        namespace: String,
        /// Pod name.
        #[arg(long)]
        name: String,
        /// Pod UID.
        #[arg(long)]
        uid: String,
        /// Sandbox ID (also the network namespace's name).
        #[arg(long)]
        container_id: String,
    },
    /// Run CNI DEL and remove the sandbox.
    Del {
        /// Sandbox ID.
        #[arg(long)]
        container_id: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tether-node: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Init => init::run()?,
        Cmd::RestartAgent => init::restart_agent()?,
        Cmd::WaitReady { socket, timeout_ms } => {
            wait_ready(&socket, Duration::from_millis(timeout_ms))?
        }
        Cmd::Pod(PodCmd::Add {
            namespace,
            name,
            uid,
            container_id,
        }) => {
            let outcome = pods::add(&pods::Sandbox {
                namespace,
                name,
                uid,
                container_id,
            })?;
            return Ok(match outcome {
                Ok(report) => {
                    println!("{report}");
                    ExitCode::SUCCESS
                }
                Err(failure) => {
                    println!("{failure}");
                    ExitCode::from(2)
                }
            });
        }
        Cmd::Pod(PodCmd::Del { container_id }) => pods::del(&container_id)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn wait_ready(socket: &std::path::Path, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let client = AgentClient::new(socket, Duration::from_millis(500));
    loop {
        match client.healthz() {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("agent not ready within {timeout:?}"));
            }
            // The socket appears when the agent has bound it; checking again soon is the
            // only way to learn that from outside the agent's process.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
