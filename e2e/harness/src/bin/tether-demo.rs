//! `tether-demo`: the sim backend as a demo cluster, for `hack/up.sh --sim`.

use std::path::PathBuf;

use clap::Parser;

/// Two edge nodes in Docker (tether-demo-edge-1 and -edge-2 on network tether-demo) running
/// tether against the API double, a demo NetworkProfile and pods. Writes DIR/kubeconfig, then
/// DIR/ready; serves until SIGTERM or Ctrl-C, then removes its containers. hack/up.sh --sim
/// starts it and hack/down.sh stops it.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Directory for the kubeconfig and the ready marker.
    #[arg(long, default_value = ".tether-demo")]
    dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    e2e::demo::run(&Cli::parse().dir).await
}
