//! Every command the kind backend runs, as argv vectors built by pure functions from the
//! configuration and the pins, one module per part of the cluster; all re-exported here. The
//! files they refer to come from [`super::files`].

mod cluster;
mod nodes;
mod openyurt;
mod tether;

pub use cluster::*;
pub use nodes::*;
pub use openyurt::*;
pub use tether::*;

use super::cmd::Cmd;
use super::config::KindConfig;

fn path(config: &KindConfig, rel: &str) -> String {
    config.work_dir.join(rel).display().to_string()
}

fn kubectl<I: IntoIterator<Item = S>, S: Into<String>>(config: &KindConfig, args: I) -> Cmd {
    let mut cmd = Cmd::new(
        "kubectl",
        ["--kubeconfig".to_owned(), path(config, "kubeconfig")],
    );
    cmd.args.extend(args.into_iter().map(Into::into));
    cmd
}

/// `docker exec <node> <argv…>`: runs inside a kind node container.
pub fn node_exec<I: IntoIterator<Item = S>, S: Into<String>>(node: &str, argv: I) -> Cmd {
    let mut cmd = Cmd::new("docker", ["exec".to_owned(), node.to_owned()]);
    cmd.args.extend(argv.into_iter().map(Into::into));
    cmd
}

/// `kubectl apply -f <file>` of a generated file.
pub fn kubectl_apply_file(config: &KindConfig, rel: &str) -> Cmd {
    kubectl(config, ["apply".to_owned(), "-f".into(), path(config, rel)])
}

/// Preflight probes: each prints its tool's version.
pub fn tool_versions() -> [(&'static str, Cmd); 4] {
    [
        (
            "docker",
            Cmd::new("docker", ["version", "--format", "{{.Server.Version}}"]),
        ),
        ("kind", Cmd::new("kind", ["version"])),
        (
            "kubectl",
            Cmd::new("kubectl", ["version", "--client", "--output=json"]),
        ),
        ("helm", Cmd::new("helm", ["version", "--short"])),
    ]
}
