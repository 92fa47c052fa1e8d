//! `tether-sim`: run tether's doubles standalone — the Kubernetes API double (`serve`) and
//! the yurthub double in front of any API server (`yurthub`).

mod serve;
mod yurthub;

use clap::{Parser, Subcommand};

/// Doubles of what cannot run on tether's test machines: a Kubernetes API server and
/// OpenYurt's yurthub.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API until Ctrl-C (or SIGTERM); write an admin kubeconfig first.
    Serve(serve::Args),
    /// Stand in for yurthub in front of an API server (`tether-sim serve` or a real cluster).
    #[command(long_about = yurthub::LONG_ABOUT)]
    Yurthub(yurthub::Args),
}

/// Wait for Ctrl-C or SIGTERM.
async fn interrupted() -> anyhow::Result<()> {
    use anyhow::Context;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args).await,
        Command::Yurthub(args) => yurthub::run(args).await,
    }
}
