//! Command line of `tether-agent`; every flag can also come from the environment.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// tether's node agent: answers `tether-cni` on a Unix socket with the NetworkProfile that
/// applies to a pod, from a live watch of the API server, else a disk cache, else defaults.
/// Without a subcommand it runs (`tether-agent --node-name n` is `tether-agent run --node-name n`).
#[derive(Debug, Parser)]
#[command(name = "tether-agent", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const SUBCOMMANDS: &[&str] = &[
    "run",
    "crd",
    "install-cni",
    "help",
    "-h",
    "--help",
    "-V",
    "--version",
];

/// The command line with `run` inserted when no subcommand is named, so `run` is the default
/// even when only its flags (or only environment variables) are given.
pub fn with_default_subcommand(mut args: Vec<OsString>) -> Vec<OsString> {
    let named = args
        .get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|a| SUBCOMMANDS.contains(&a));
    if !named {
        args.insert(1.min(args.len()), OsString::from("run"));
    }
    args
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the node: watch the API, answer the CNI plugin, report (the default).
    Run(RunArgs),
    /// Print the NetworkProfile CustomResourceDefinition generated from the Rust types.
    Crd,
    /// Install (or with --uninstall remove) the tether CNI plugin on the node; --watch keeps it chained.
    InstallCni(InstallArgs),
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags of `run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Name of the node this agent serves (from the downward API in the DaemonSet).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// Unix socket the CNI plugin queries; created with mode 0600.
    #[arg(long, env = "TETHER_SOCKET", default_value = cni::protocol::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// State directory; the disk cache lives in `<state-dir>/cache`, the outbox in `<state-dir>/outbox`.
    #[arg(long, env = "TETHER_STATE_DIR", default_value = "/var/lib/tether")]
    pub state_dir: PathBuf,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "TETHER_METRICS_ADDR", default_value = "0.0.0.0:9464")]
    pub metrics_addr: SocketAddr,
    /// Sustained requests per second the agent sends to the API server (client-side token bucket).
    #[arg(long, env = "TETHER_QPS", default_value_t = 5.0)]
    pub qps: f64,
    /// Requests the token bucket lets through at once after a quiet period.
    #[arg(long, env = "TETHER_BURST", default_value_t = 10)]
    pub burst: u32,
    /// How long an ADD waits for a pod the watch has not delivered yet before answering defaults.
    #[arg(long, env = "TETHER_POD_WAIT_MS", default_value_t = 1000)]
    pub pod_wait_ms: u64,
    /// Deadline for reading a request and writing its answer on one socket connection.
    #[arg(long, env = "TETHER_CONNECTION_TIMEOUT_MS", default_value_t = 2000)]
    pub connection_timeout_ms: u64,
    /// Socket connections open at once; at the limit a new one takes the place of the oldest
    /// still reading its request.
    #[arg(long, env = "TETHER_MAX_CONNECTIONS", default_value_t = 128)]
    pub max_connections: usize,
    /// Writes (Events, status entries) kept in the outbox while the API server is unreachable.
    #[arg(long, env = "TETHER_OUTBOX_LIMIT", default_value_t = 1024)]
    pub outbox_limit: usize,
    /// Log format.
    #[arg(long, env = "TETHER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Flags of `install-cni`.
#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// Directory holding `tether-cni` and the fallback `bandwidth` and `tuning` plugins.
    #[arg(
        long,
        env = "TETHER_PLUGIN_SOURCE_DIR",
        default_value = "/opt/tether/bin"
    )]
    pub source_dir: PathBuf,
    /// The node's CNI binary directory (mounted from the host).
    #[arg(long, env = "TETHER_CNI_BIN_DIR", default_value = "/host/opt/cni/bin")]
    pub cni_bin_dir: PathBuf,
    /// The node's CNI configuration directory (mounted from the host).
    #[arg(
        long,
        env = "TETHER_CNI_CONF_DIR",
        default_value = "/host/etc/cni/net.d"
    )]
    pub cni_conf_dir: PathBuf,
    /// Socket path written into the plugin's configuration entry.
    #[arg(long, env = "TETHER_SOCKET", default_value = cni::protocol::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Remove the tether entry and the plugin instead of installing them.
    #[arg(long, env = "TETHER_UNINSTALL", conflicts_with_all = ["watch", "check"])]
    pub uninstall: bool,
    /// Install, then keep watching the configuration directory and chain tether again whenever
    /// the primary conflist is rewritten without it; on SIGTERM or SIGINT, uninstall.
    #[arg(long, env = "TETHER_CNI_WATCH", conflicts_with = "check")]
    pub watch: bool,
    /// How often `--watch` looks at the configuration directory.
    #[arg(
        long,
        env = "TETHER_CNI_WATCH_INTERVAL_MS",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(10..)
    )]
    pub watch_interval_ms: u64,
    /// With `--watch`: leave tether chained when stopped by SIGTERM or SIGINT.
    #[arg(long, env = "TETHER_CNI_KEEP_ON_EXIT")]
    pub keep_on_exit: bool,
    /// Change nothing; succeed only if the primary conflist ends with exactly one tether entry
    /// for `--socket` and the plugin is installed (the DaemonSet's startup probe).
    #[arg(long, env = "TETHER_CNI_CHECK")]
    pub check: bool,
}

#[cfg(test)]
mod tests;
