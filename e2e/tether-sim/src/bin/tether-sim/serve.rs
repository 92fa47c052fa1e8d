//! `tether-sim serve`: the Kubernetes API double, standalone.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use tether_sim::apiserver::{self, SimConfig};

/// Flags of `serve`.
#[derive(clap::Args)]
pub struct Args {
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
}

/// Serve until interrupted.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        kubeconfig,
        listen,
        audit_log,
        load,
        sans,
    } = args;
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
    super::interrupted().await?;
    server.shutdown().await;
    println!("tether-sim stopped");
    Ok(())
}
