//! One edge node: cut it off and back (and check both took effect), restart the agent, find,
//! recreate and read pod sandboxes.
//!
//! crictl's `--name` and `--namespace` filters are regular expressions (cri-tools v1.33.0
//! `cmd/crictl/util.go:535-547` `matchesRegex`, applied in `cmd/crictl/sandbox.go:758-759`):
//! `cam-1` also matches `cam-10`. Sandboxes are therefore found by the exact label kubelet puts
//! on them, `io.kubernetes.pod.uid`, or by their own ID.

use std::path::Path;

use super::{kubectl, node_exec};
use crate::kind::cmd::Cmd;
use crate::kind::config::{KindConfig, TETHER_NAMESPACE};

/// Label kubelet sets on every pod sandbox: the pod's UID (kubernetes `pkg/kubelet/types/labels.go`
/// `KubernetesPodUIDLabel`).
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
/// Where tether-cni keeps its records on a node (DESIGN.md, fixed names).
pub const CNI_STATE_DIR: &str = cni::config::DEFAULT_STATE_DIR;
/// The conflist kindnetd writes from its template (kind v0.31.0
/// `images/kindnetd/cmd/kindnetd/cni.go:81`), which install-cni adds `tether` to.
pub const KINDNET_CONFLIST: &str = "/etc/cni/net.d/10-kindnet.conflist";
/// The port the API server listens on inside the cluster network (kind v0.31.0
/// `pkg/cluster/internal/providers/common/constants.go:21`).
pub const API_SERVER_PORT: u16 = 6443;
/// Format of the reconnect time: that of a Lease's `renewTime` (apimachinery v0.34.3
/// `pkg/apis/meta/v1/micro_time.go:26,181`, RFC 3339 with microseconds, UTC), so the two
/// compare as strings.
pub const MICRO_TIME_FORMAT: &str = "+%Y-%m-%dT%H:%M:%S.%6NZ";

/// An address family of the cluster's docker network (kind makes it dual-stack when Docker can:
/// kind v0.31.0 `pkg/cluster/internal/providers/docker/network.go:68-82`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4, `iptables`.
    V4,
    /// IPv6, `ip6tables`.
    V6,
}

impl Family {
    fn inspect_field(self) -> &'static str {
        match self {
            Family::V4 => "IPAddress",
            Family::V6 => "GlobalIPv6Address",
        }
    }

    fn iptables(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }
}

/// A container's address of `family` on the cluster's docker network (empty if it has none).
pub fn container_address(config: &KindConfig, container: &str, family: Family) -> Cmd {
    Cmd::new(
        "docker",
        [
            "inspect".to_owned(),
            format!(
                "--format={{{{(index .NetworkSettings.Networks \"{}\").{}}}}}",
                config.network,
                family.inspect_field()
            ),
            container.to_owned(),
        ],
    )
}

/// The node container's IPv4 address on the cluster's docker network.
pub fn node_address(config: &KindConfig, node: &str) -> Cmd {
    container_address(config, node, Family::V4)
}

/// Cuts the node off the cloud: `docker network disconnect kind <node>`, as OpenYurt's e2e does.
pub fn disconnect(config: &KindConfig, node: &str) -> Cmd {
    Cmd::new("docker", ["network", "disconnect", &config.network, node])
}

/// Plugs the node back in. Without `--ip`: Docker refuses a fixed IPv4 on kind's network, whose
/// IPv4 subnet is not user-configured; the address is checked afterwards instead.
pub fn reconnect(config: &KindConfig, node: &str) -> Cmd {
    Cmd::new("docker", ["network", "connect", &config.network, node])
}

/// Reads a file on this machine (the address recorded at a disconnect).
pub fn read_local(file: &Path) -> Cmd {
    Cmd::new("cat", [file.display().to_string()])
}

/// Removes a file on this machine.
pub fn remove_local(file: &Path) -> Cmd {
    Cmd::new("rm", ["-f".to_owned(), file.display().to_string()])
}

/// Succeeds when two values are equal (`test A = B`).
pub fn same(a: &str, b: &str) -> Cmd {
    Cmd::new("test", [a, "=", b])
}

/// This machine's time in a Lease's format (node containers share its clock).
pub fn now_micro() -> Cmd {
    Cmd::new("date", ["-u", MICRO_TIME_FORMAT])
}

/// One rule of the blackhole: packets to (`OUTPUT -d`) or from (`INPUT -s`) `address` dropped
/// inside the node; `op` is `-I` (insert) or `-D` (delete). `--wait` for the xtables lock, which
/// kube-proxy and kindnetd take too.
pub fn blackhole_rule(node: &str, family: Family, op: &str, chain: &str, address: &str) -> Cmd {
    let direction = match chain {
        "INPUT" => "-s",
        _ => "-d",
    };
    node_exec(
        node,
        [
            family.iptables(),
            "--wait",
            op,
            chain,
            direction,
            address,
            "-j",
            "DROP",
        ],
    )
}

/// Every rule of the blackhole for `address`, in order.
pub fn blackhole_rules(node: &str, family: Family, op: &str, address: &str) -> [Cmd; 2] {
    [
        blackhole_rule(node, family, op, "OUTPUT", address),
        blackhole_rule(node, family, op, "INPUT", address),
    ]
}

/// A request from inside the node to the API server at `host` (a name, an IPv4, or an IPv6 in
/// brackets). Any HTTP answer makes it succeed (`--insecure`, no `--fail`), so it fails only
/// when the server cannot be reached: what a cut must achieve.
pub fn api_probe(node: &str, host: &str) -> Cmd {
    node_exec(
        node,
        [
            "curl".to_owned(),
            "--silent".into(),
            "--insecure".into(),
            "--globoff".into(),
            "--output".into(),
            "/dev/null".into(),
            "--max-time".into(),
            "5".into(),
            format!("https://{host}:{API_SERVER_PORT}/healthz"),
        ],
    )
}

/// Waits for a node to be Ready (after a reconnect).
pub fn wait_node_ready(config: &KindConfig, node: &str) -> Cmd {
    kubectl(
        config,
        [
            "wait".to_owned(),
            "--for=condition=Ready".into(),
            format!("node/{node}"),
            "--timeout=180s".into(),
        ],
    )
}

/// The node's Lease `renewTime`, which yurthub's health probe renews with every success
/// (OpenYurt v1.7.0 `pkg/yurthub/healthchecker/cloudapiserver/prober.go:88-95`,
/// `node_lease.go:153`).
pub fn lease_renew_time(config: &KindConfig, node: &str) -> Cmd {
    kubectl(
        config,
        [
            "get".to_owned(),
            "leases.coordination.k8s.io".into(),
            node.to_owned(),
            "--namespace".into(),
            "kube-node-lease".into(),
            "--output=jsonpath={.spec.renewTime}".into(),
        ],
    )
}

/// IDs of kindnetd's running container on the node (container `kindnet-cni` of DaemonSet
/// `kube-system/kindnet`, kind v0.31.0 `pkg/build/nodeimage/const_cni.go:110`).
pub fn kindnet_running(node: &str) -> Cmd {
    node_exec(
        node,
        [
            "crictl",
            "ps",
            "--quiet",
            "--state",
            "running",
            "--label",
            "io.kubernetes.pod.namespace=kube-system",
            "--name",
            "^kindnet-cni$",
        ],
    )
}

/// The node's primary conflist.
pub fn read_conflist(node: &str) -> Cmd {
    node_exec(node, ["cat", KINDNET_CONFLIST])
}

/// The MTU of the node's `eth0`, which kindnetd gives the pods (kind v0.31.0
/// `images/kindnetd/cmd/kindnetd/cni.go:65-78` `computeBridgeMTU`, `:109-110`).
pub fn node_mtu(node: &str) -> Cmd {
    node_exec(node, ["cat", "/sys/class/net/eth0/mtu"])
}

/// IDs of the agent's containers on the node (`crictl ps`, matching pod namespace and name).
pub fn agent_containers(config: &KindConfig, node: &str, state: &str) -> Cmd {
    node_exec(
        node,
        [
            "crictl".to_owned(),
            "ps".into(),
            "--quiet".into(),
            "--state".into(),
            state.to_owned(),
            "--label".into(),
            format!("io.kubernetes.pod.namespace={TETHER_NAMESPACE}"),
            "--name".into(),
            format!("^{}$", config.agent_container),
        ],
    )
}

/// Stops containers; kubelet starts them again from its local state, no API server needed.
pub fn stop_containers(node: &str, ids: &[String]) -> Cmd {
    let mut cmd = node_exec(node, ["crictl", "stop", "--timeout", "10"]);
    cmd.args.extend(ids.iter().cloned());
    cmd
}

/// IDs of the ready sandboxes of the pod with this UID; with `latest`, only the newest.
pub fn pod_sandboxes(node: &str, uid: &str, latest: bool) -> Cmd {
    let mut cmd = node_exec(
        node,
        [
            "crictl".to_owned(),
            "pods".into(),
            "--quiet".into(),
            "--state".into(),
            "ready".into(),
            "--label".into(),
            format!("{POD_UID_LABEL}={uid}"),
        ],
    );
    if latest {
        cmd.args.push("--latest".into());
    }
    cmd
}

/// The sandbox's ID while it is ready; nothing once it is stopped (CNI DEL has run) or gone.
pub fn sandbox_ready(node: &str, id: &str) -> Cmd {
    node_exec(
        node,
        ["crictl", "pods", "--quiet", "--state", "ready", "--id", id],
    )
}

/// Stops and removes pod sandboxes (`crictl rmp --force`, cri-tools v1.33.0
/// `cmd/crictl/sandbox.go:132-134,181-186`): kubelet then creates a new one, running CNI ADD.
pub fn remove_sandboxes(node: &str, ids: &[String]) -> Cmd {
    let mut cmd = node_exec(node, ["crictl", "rmp", "--force"]);
    cmd.args.extend(ids.iter().cloned());
    cmd
}

/// Where tether-cni's record of a sandbox's `eth0` is.
pub fn cni_record_path(id: &str) -> String {
    format!("{CNI_STATE_DIR}/{id}@eth0.json")
}

/// tether-cni's record of the sandbox.
pub fn cni_record(node: &str, id: &str) -> Cmd {
    node_exec(node, ["cat".to_owned(), cni_record_path(id)])
}

/// The name of the sandbox's network namespace (the last part of the record's `netns` path,
/// a name under /var/run/netns that `ip -n` takes), read with the node's jq (kind v0.31.0
/// `images/base/Dockerfile:74-78` installs jq).
pub fn sandbox_netns(node: &str, id: &str) -> Cmd {
    node_exec(
        node,
        [
            "jq".to_owned(),
            "--raw-output".into(),
            ".netns | split(\"/\") | last".into(),
            cni_record_path(id),
        ],
    )
}

/// The script [`host_veth`] runs in the node: the host link whose ifindex is the `link_index`
/// of eth0 in the namespace named by `$1` (the other end of the pod's veth pair). A constant;
/// the namespace reaches it as an argument, never as script text.
pub const HOST_VETH_SCRIPT: &str = r#"peer=$(ip -n "$1" -j link show dev eth0 | jq '.[0].link_index') && ip -j link show | jq --raw-output --argjson peer "$peer" '.[] | select(.ifindex == $peer) | .ifname'"#;

/// The host side of the pod's veth pair.
pub fn host_veth(node: &str, netns: &str) -> Cmd {
    node_exec(node, ["sh", "-c", HOST_VETH_SCRIPT, "sh", netns])
}
