//! What runs inside a sim edge node's container: `tether-node`, the node's init and its
//! container runtime stand-in.
//!
//! An edge node of the sim backend is a Docker container that plays both the host and the
//! tether DaemonSet pod on it: its init runs `tether-agent install-cni` as the DaemonSet's
//! init container would, then keeps `tether-agent run` alive as kubelet would. Pods are
//! network namespaces whose CNI chain `tether-node pod add` runs from the node's conflist,
//! as containerd does.

pub mod init;
pub mod pods;

/// The node's CNI configuration directory.
pub const CNI_CONF_DIR: &str = "/etc/cni/net.d";
/// The node's CNI binary directory.
pub const CNI_BIN_DIR: &str = "/opt/cni/bin";
/// Where the agent's image keeps its binaries (install-cni's source directory).
pub const TETHER_BUNDLE_DIR: &str = "/opt/tether/bin";
/// The init's configuration: the steps before the agent and the agent's command line.
pub const INIT_CONFIG: &str = "/etc/tether-node/init.json";
/// Pid of the running agent, rewritten at every (re)start.
pub const AGENT_PID_FILE: &str = "/run/tether-node/agent.pid";
/// ADD results of the node's pods, which DEL hands back to the plugins.
pub const POD_STATE_DIR: &str = "/var/lib/tether-node/pods";
