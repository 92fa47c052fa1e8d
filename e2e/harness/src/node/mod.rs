//! What runs inside a sim edge node's container: `tether-node`, the node's init, its kubelet
//! double and the tools a scenario uses on the node.
//!
//! An edge node of the sim backend is a Docker container that plays a Kind node: containerd
//! with its CRI plugin and runc run the pod sandboxes and the CNI chain (the kindnet-like
//! conflist, with `tether` inserted by install-cni); a kubelet double drives CRI from the
//! pods the API binds to the node. The container also plays the tether DaemonSet pod: its
//! init runs `tether-agent install-cni` as the DaemonSet's init container would, then keeps
//! `tether-agent run` alive as kubelet would.
//!
//! | file | what |
//! | --- | --- |
//! | `init.rs` | PID 1: the host fixes, the kindnet conflist, containerd, the images, install-cni, the kubelet double and the agent kept running |
//! | `host.rs` | cgroup controllers and `/proc/sys` remounted read-write |
//! | `kindnet.rs` | the main plugin's conflist, written from its template at start and on request |
//! | `cri.rs` | the CRI client on containerd's socket; every call logged |
//! | `kubelet.rs` | the kubelet double: pods bound to the node run through CRI, their status written back |
//! | `control.rs` | the kubelet double's local control socket: show, recreate, await a pod's sandbox |

pub mod control;
pub mod cri;
pub mod host;
pub mod init;
pub mod kindnet;
pub mod kubelet;

/// yurthub's address on the node, where OpenYurt's `masterservice` filter points pods'
/// `default/kubernetes` (DESIGN.md); real yurthub puts it on its `hub-dummy0` interface.
pub const YURTHUB_IP: &str = "169.254.2.1";
/// yurthub's HTTPS port.
pub const YURTHUB_PORT: u16 = 10268;
/// yurthub's serving certificate, signed by the cluster CA (so pods' `ca.crt` trusts it).
pub const YURTHUB_CERT: &str = "/etc/kubernetes/yurthub.crt";
/// Its key.
pub const YURTHUB_KEY: &str = "/etc/kubernetes/yurthub.key";
/// yurthub's disk cache.
pub const YURTHUB_CACHE_DIR: &str = "/var/lib/yurthub/cache";
/// How often the sim's yurthub probes the cloud: v1.7.0's 10 s is shortened (the double's
/// `--probe-interval`) so a scenario's reconnect converges in seconds.
pub const YURTHUB_PROBE_INTERVAL: &str = "1s";
/// Environment variable overriding [`YURTHUB_PROBE_INTERVAL`] when the node image is built
/// (`10s` measures a reconnect with v1.7.0's default).
pub const YURTHUB_PROBE_INTERVAL_ENV: &str = "TETHER_E2E_YURTHUB_PROBE_INTERVAL";
/// Name of yurthub's service under init (`tether-node restart yurthub`).
pub const YURTHUB_SERVICE: &str = "yurthub";
/// Name of the DaemonSet pod's install-cni sidecar (`install-cni --watch`) under init.
pub const INSTALL_CNI_SERVICE: &str = "install-cni";
/// Name of the agent's service under init.
pub const AGENT_SERVICE: &str = "agent";

/// The node's CNI configuration directory.
pub const CNI_CONF_DIR: &str = "/etc/cni/net.d";
/// The node's CNI binary directory.
pub const CNI_BIN_DIR: &str = "/opt/cni/bin";
/// Where the agent's image keeps its binaries (install-cni's source directory).
pub const TETHER_BUNDLE_DIR: &str = "/opt/tether/bin";
/// The init's configuration: the steps before the agent and the agent's command line.
pub const INIT_CONFIG: &str = "/etc/tether-node/init.json";
/// Where init keeps the pid of each process it runs (`<name>.pid`).
pub const RUN_DIR: &str = "/run/tether-node";
/// containerd's configuration.
pub const CONTAINERD_CONFIG: &str = "/etc/containerd/config.toml";
/// containerd's socket (CRI and its own API).
pub const CONTAINERD_SOCKET: &str = "/run/containerd/containerd.sock";
/// containerd's namespace for Kubernetes, where CRI finds its images.
pub const CONTAINERD_NAMESPACE: &str = "k8s.io";
/// The node's local images, imported into containerd at start (no registry is reachable).
pub const IMAGES_ARCHIVE: &str = "/opt/tether-node/images.tar";
/// The sandbox image, named as kind's containerd configuration names it.
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";
/// The image of the pods' app containers (the same do-nothing program).
pub const APP_IMAGE: &str = "tether.dev/e2e-app:1";
/// The kubelet double's kubeconfig, where kind's kubelet has its own: yurthub's address and
/// the node's credentials, as kubelet's on an OpenYurt edge node (node-servant points it at
/// yurthub).
pub const KUBELET_KUBECONFIG: &str = "/etc/kubernetes/kubelet.conf";
/// yurthub's kubeconfig: the API server's address and the node's credentials, which yurthub
/// uses for its Lease probe and for requests that carry no token.
pub const YURTHUB_KUBECONFIG: &str = "/etc/kubernetes/yurthub.conf";
/// The kubelet double's control socket.
pub const KUBELET_SOCKET: &str = "/run/tether-node/kubelet.sock";
/// Root of the pods' log directories, as kubelet's.
pub const POD_LOG_DIR: &str = "/var/log/pods";
