//! `tether-sim`: run the in-process Kubernetes API double standalone.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tether_sim::apiserver::{self, SimConfig};

/// A faithful Kubernetes API double for tether's tests: HTTPS with its own CA, bearer
/// tokens, RBAC, list/watch, server-side apply, APF-style 429s and an audit log.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API until Ctrl-C (or SIGTERM); write an admin kubeconfig first.
    Serve {
        /// Where to write the admin kubeconfig (token of group system:masters, the CA inline).
        #[arg(long)]
        kubeconfig: PathBuf,
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Also append the audit log to this file as JSON lines.
        #[arg(long)]
        audit_log: Option<PathBuf>,
        /// Multi-document YAML files of objects to create at start (CRDs, RBAC, ...).
        #[arg(long = "load")]
        load: Vec<PathBuf>,
        /// Extra names or IPs for the serving certificate (e.g. a Docker bridge address).
        #[arg(long = "san")]
        sans: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve {
            kubeconfig,
            listen,
            audit_log,
            load,
            sans,
        } => serve(kubeconfig, listen, audit_log, load, sans).await,
    }
}

async fn serve(
    kubeconfig: PathBuf,
    listen: SocketAddr,
    audit_log: Option<PathBuf>,
    load: Vec<PathBuf>,
    sans: Vec<String>,
) -> anyhow::Result<()> {
    let config = SimConfig {
        listen,
        audit_file: audit_log,
        extra_sans: sans,
        ..SimConfig::default()
    };
    let server = apiserver::start(config)
        .await
        .with_context(|| format!("starting tether-sim on {listen}"))?;
    for path in &load {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        server
            .load_yaml(&text)
            .with_context(|| format!("loading {}", path.display()))?;
    }
    std::fs::write(&kubeconfig, server.admin_kubeconfig())
        .with_context(|| format!("writing kubeconfig {}", kubeconfig.display()))?;
    println!(
        "tether-sim listening on {} (kubeconfig: {})",
        server.url(),
        kubeconfig.display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    server.shutdown().await;
    println!("tether-sim stopped");
    Ok(())
}
