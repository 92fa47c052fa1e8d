//! Errors of the kind backend.

use std::path::PathBuf;

use super::versions::VersionsError;

/// Why a step of the kind backend failed; each names the command, file or node involved.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    /// The configuration was rejected before anything ran.
    #[error("invalid kind backend configuration: {0}")]
    InvalidConfig(String),
    /// A node name that is neither an alias nor a kind worker name of this cluster.
    #[error("unknown node {node:?}: this cluster's edge nodes are {known}")]
    UnknownNode {
        /// What was asked for.
        node: String,
        /// The aliases that exist.
        known: String,
    },
    /// `hack/versions.env` is malformed.
    #[error(transparent)]
    Versions(#[from] VersionsError),
    /// Tools the kind tier needs are not on PATH.
    #[error(
        "the kind backend needs {missing} on PATH (found: {found}). \
         Run `nix develop` for a shell with docker, kind, kubectl and helm at the pinned versions, \
         or install them; or use the default backend: TETHER_E2E_BACKEND=sim"
    )]
    MissingTools {
        /// Comma-separated names of the missing tools.
        missing: String,
        /// What was found, with versions.
        found: String,
    },
    /// A tool is present but at a version the pins do not allow.
    #[error("{tool} {found} is not usable: {wanted}. `nix develop` provides a matching one")]
    WrongVersion {
        /// The tool.
        tool: &'static str,
        /// The version it reported.
        found: String,
        /// What is required.
        wanted: String,
    },
    /// A command could not be started.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A command exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// A generated file could not be written.
    #[error("could not write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A generated document could not be serialised.
    #[error("could not render {what}: {message}")]
    Render {
        /// The document.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// A condition was not reached in time.
    #[error("timed out after {seconds}s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The deadline.
        seconds: u64,
    },
    /// A command still holds placeholders of a dry run: a value a real run must capture first.
    #[error("`{command}` still holds the placeholders {names}: capture them before running it")]
    Unresolved {
        /// The command line.
        command: String,
        /// The placeholders' names.
        names: String,
    },
    /// A command that had to fail succeeded (a probe got through a cut).
    #[error("`{command}` succeeded, but it must fail: {what}")]
    NotRefuted {
        /// What its failure would have shown.
        what: String,
        /// The command line.
        command: String,
    },
    /// A command's output is not what the step needs.
    #[error("`{command}`: {why}")]
    Unexpected {
        /// The command line.
        command: String,
        /// What is wrong with its output.
        why: String,
    },
    /// After a reconnect the node's conflist no longer chains tether.
    #[error(
        "{node}: /etc/cni/net.d/10-kindnet.conflist has no `tether` plugin after the reconnect. \
         kindnetd panics after 5 failed route reconciliations (kind v0.31.0 \
         images/kindnetd/cmd/kindnetd/main.go:266-277), and on restart writes the conflist \
         afresh from its template (cni.go:83-121, 131-157); install-cni must put tether back. \
         Pods created now would come up without their profile"
    )]
    TetherDropped {
        /// The node.
        node: String,
    },
    /// A node came back from a reconnect with another address, which kind clusters do not survive.
    #[error("node {node} came back on the kind network as {after}, not {before}")]
    AddressChanged {
        /// The node container.
        node: String,
        /// Its IPv4 before the disconnect.
        before: String,
        /// Its IPv4 after the reconnect.
        after: String,
    },
}
