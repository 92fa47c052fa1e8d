//! One edge node: cut it off and back, restart the agent and recreate pod sandboxes in it.

use super::{kubectl, node_exec};
use crate::kind::cmd::Cmd;
use crate::kind::config::{KindConfig, TETHER_NAMESPACE};

/// The node container's IPv4 address on the cluster's docker network.
pub fn node_address(config: &KindConfig, node: &str) -> Cmd {
    Cmd::new(
        "docker",
        [
            "inspect".to_owned(),
            format!(
                "--format={{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
                config.network
            ),
            node.to_owned(),
        ],
    )
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

/// Stops a container; kubelet starts it again from its local state, no API server needed.
pub fn stop_container(node: &str, id: &str) -> Cmd {
    node_exec(node, ["crictl", "stop", "--timeout", "10", id])
}

/// IDs of the ready pod sandboxes of a namespace on the node.
/// crictl's `--namespace` is a regular expression, hence the anchors.
pub fn pod_sandboxes(node: &str, namespace: &str) -> Cmd {
    let exact = format!("^{namespace}$");
    node_exec(
        node,
        [
            "crictl",
            "pods",
            "--quiet",
            "--state",
            "ready",
            "--namespace",
            &exact,
        ],
    )
}

/// Stops and removes one pod sandbox: kubelet then creates a new one, running CNI ADD again.
pub fn remove_sandbox(node: &str, id: &str) -> [Cmd; 2] {
    [
        node_exec(node, ["crictl", "stopp", id]),
        node_exec(node, ["crictl", "rmp", id]),
    ]
}
