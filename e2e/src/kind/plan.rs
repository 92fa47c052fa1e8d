//! Every command the kind backend runs, as argv vectors built by pure functions from the
//! configuration and the pins. The files they refer to come from [`super::files`].

use super::cmd::Cmd;
use super::config::{
    AUDIT_LOG_PATH, EDGE_WORKER_LABEL, KIND_NETWORK, KindConfig, NODEPOOL_LABEL, TETHER_AGENT,
    TETHER_NAMESPACE, YURTHUB_HEALTHZ,
};
use super::files::paths;
use super::versions::Versions;

/// Namespace OpenYurt's charts are installed into and its conversion Jobs run in.
pub const OPENYURT_NAMESPACE: &str = "kube-system";
/// Node annotation: how long an edge node's pods survive its being unreachable; `0` = forever
/// (OpenYurt v1.7.0 e2e sets it on every node so a cut-off node keeps its pods).
pub const AUTONOMY_ANNOTATION: &str = "node.openyurt.io/autonomy-duration";
/// Label node-servant conversion Jobs carry, valued with the node name.
pub const CONVERSION_JOB_LABEL: &str = "openyurt.io/conversion-node";

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

/// `kind get clusters`: whether a cluster of this name already runs (for reuse).
pub fn kind_get_clusters() -> Cmd {
    Cmd::new("kind", ["get", "clusters"])
}

/// `kind create cluster` from the generated config, writing the kubeconfig into the work dir.
pub fn kind_create(config: &KindConfig, versions: &Versions) -> Cmd {
    Cmd::new(
        "kind",
        [
            "create".to_owned(),
            "cluster".into(),
            "--name".into(),
            config.cluster_name.clone(),
            "--config".into(),
            path(config, paths::KIND_CONFIG),
            "--image".into(),
            versions.kind_node_image.to_string(),
            "--kubeconfig".into(),
            config.kubeconfig().display().to_string(),
            "--wait".into(),
            "180s".into(),
        ],
    )
}

/// `kind delete cluster`.
pub fn kind_delete(config: &KindConfig) -> Cmd {
    Cmd::new(
        "kind",
        [
            "delete".to_owned(),
            "cluster".into(),
            "--name".into(),
            config.cluster_name.clone(),
            "--kubeconfig".into(),
            config.kubeconfig().display().to_string(),
        ],
    )
}

/// `kind export kubeconfig` for a reused cluster whose kubeconfig is not in the work dir.
pub fn kind_export_kubeconfig(config: &KindConfig) -> Cmd {
    Cmd::new(
        "kind",
        [
            "export".to_owned(),
            "kubeconfig".into(),
            "--name".into(),
            config.cluster_name.clone(),
            "--kubeconfig".into(),
            config.kubeconfig().display().to_string(),
        ],
    )
}

/// `kind load docker-image`: the local tether image into every node (no registry involved).
pub fn kind_load_image(config: &KindConfig) -> Cmd {
    Cmd::new(
        "kind",
        [
            "load".to_owned(),
            "docker-image".into(),
            config.image.clone(),
            "--name".into(),
            config.cluster_name.clone(),
        ],
    )
}

/// `kind export logs <dir>`: kept when a scenario fails.
pub fn kind_export_logs(config: &KindConfig, dir: &str) -> Cmd {
    Cmd::new(
        "kind",
        [
            "export".to_owned(),
            "logs".into(),
            dir.to_owned(),
            "--name".into(),
            config.cluster_name.clone(),
        ],
    )
}

/// Annotates every node with autonomy-duration 0 so a cut-off edge node keeps its pods.
pub fn annotate_autonomy(config: &KindConfig) -> Cmd {
    kubectl(
        config,
        [
            "annotate".to_owned(),
            "--overwrite".into(),
            "nodes".into(),
            "--all".into(),
            format!("{AUTONOMY_ANNOTATION}=0"),
        ],
    )
}

/// `helm upgrade --install yurt-manager` at the pinned chart version, waiting for it to run.
pub fn helm_install_yurt_manager(config: &KindConfig, versions: &Versions) -> Cmd {
    Cmd::new(
        "helm",
        [
            "upgrade".to_owned(),
            "--install".into(),
            "yurt-manager".into(),
            "yurt-manager".into(),
            "--repo".into(),
            versions.openyurt_helm_repo.clone(),
            "--version".into(),
            versions
                .yurt_manager_chart
                .to_string()
                .trim_start_matches('v')
                .to_owned(),
            "--namespace".into(),
            OPENYURT_NAMESPACE.into(),
            "--values".into(),
            path(config, paths::YURT_MANAGER_VALUES),
            "--kubeconfig".into(),
            config.kubeconfig().display().to_string(),
            "--wait".into(),
            "--timeout".into(),
            "5m".into(),
        ],
    )
}

/// `helm template yurthub --show-only templates/yurthub-cfg.yaml`: yurthub's RBAC and its
/// ConfigMap `yurt-hub-cfg` (with `cache_agents`), without the chart's YurtStaticSets — what
/// OpenYurt v1.7.0's own e2e installs, since node-servant runs yurthub as a systemd service.
/// Its standard output is saved as [`paths::YURTHUB_CFG`].
pub fn helm_template_yurthub_cfg(config: &KindConfig, versions: &Versions) -> Cmd {
    Cmd::new(
        "helm",
        [
            "template".to_owned(),
            "yurthub".into(),
            "yurthub".into(),
            "--repo".into(),
            versions.openyurt_helm_repo.clone(),
            "--version".into(),
            versions
                .yurthub_chart
                .to_string()
                .trim_start_matches('v')
                .to_owned(),
            "--namespace".into(),
            OPENYURT_NAMESPACE.into(),
            "--values".into(),
            path(config, paths::YURTHUB_VALUES),
            "--show-only".into(),
            "templates/yurthub-cfg.yaml".into(),
        ],
    )
}

/// `kubectl apply -f <file>` of a generated file.
pub fn kubectl_apply_file(config: &KindConfig, rel: &str) -> Cmd {
    kubectl(config, ["apply".to_owned(), "-f".into(), path(config, rel)])
}

/// Labels a worker into its pool, which starts yurt-manager's conversion of the node.
pub fn label_nodepool(config: &KindConfig, node: &str, pool: &str) -> Cmd {
    kubectl(
        config,
        [
            "label".to_owned(),
            "--overwrite".into(),
            "node".into(),
            node.to_owned(),
            format!("{NODEPOOL_LABEL}={pool}"),
        ],
    )
}

/// Waits until yurt-manager has marked the node converted (`openyurt.io/is-edge-worker=true`,
/// set only after the node-servant Job, which waits for yurthub's health, succeeded).
pub fn wait_edge_worker(config: &KindConfig, node: &str) -> Cmd {
    let key = EDGE_WORKER_LABEL.replace('.', "\\.");
    kubectl(
        config,
        [
            "wait".to_owned(),
            format!("--for=jsonpath={{.metadata.labels.{key}}}=true"),
            format!("node/{node}"),
            "--timeout=600s".into(),
        ],
    )
}

/// Waits for the node's conversion Job to be complete.
pub fn wait_conversion_job(config: &KindConfig, node: &str) -> Cmd {
    kubectl(
        config,
        [
            "wait".to_owned(),
            "--namespace".into(),
            OPENYURT_NAMESPACE.into(),
            "--for=condition=Complete".into(),
            "job".into(),
            "--selector".into(),
            format!("{CONVERSION_JOB_LABEL}={node}"),
            "--timeout=300s".into(),
        ],
    )
}

/// Reads `.spec.unschedulable` (polled until empty or `false`: yurt-manager uncordons last).
pub fn get_unschedulable(config: &KindConfig, node: &str) -> Cmd {
    kubectl(
        config,
        [
            "get".to_owned(),
            "node".into(),
            node.to_owned(),
            "--output=jsonpath={.spec.unschedulable}".into(),
        ],
    )
}

/// yurthub's systemd unit on the node is active.
pub fn yurthub_service_active(node: &str) -> Cmd {
    node_exec(node, ["systemctl", "is-active", "yurthub.service"])
}

/// yurthub answers its health endpoint on the node.
pub fn yurthub_healthz(node: &str) -> Cmd {
    node_exec(
        node,
        [
            "curl",
            "--fail",
            "--silent",
            "--show-error",
            "--max-time",
            "5",
            YURTHUB_HEALTHZ,
        ],
    )
}

/// `kubectl apply -k` of the overlay over deploy/ (CRD, RBAC, APF objects, DaemonSet).
pub fn apply_tether(config: &KindConfig) -> Cmd {
    kubectl(
        config,
        [
            "apply".to_owned(),
            "-k".into(),
            path(config, paths::OVERLAY_DIR),
        ],
    )
}

/// Waits for the tether DaemonSet to be rolled out on every node.
pub fn wait_tether_rollout(config: &KindConfig) -> Cmd {
    kubectl(
        config,
        [
            "rollout".to_owned(),
            "status".into(),
            "--namespace".into(),
            TETHER_NAMESPACE.into(),
            format!("daemonset/{TETHER_AGENT}"),
            "--timeout=300s".into(),
        ],
    )
}

/// `kubectl auth can-i <verb> <resource> --as=<tether-agent's ServiceAccount>`; prints yes/no.
pub fn can_i(config: &KindConfig, verb: &str, resource: &str, namespace: Option<&str>) -> Cmd {
    let mut args = vec![
        "auth".to_owned(),
        "can-i".into(),
        verb.to_owned(),
        resource.to_owned(),
    ];
    args.push(format!(
        "--as=system:serviceaccount:{TETHER_NAMESPACE}:{TETHER_AGENT}"
    ));
    match namespace {
        Some(ns) => args.extend(["--namespace".to_owned(), ns.to_owned()]),
        None => args.push("--all-namespaces".into()),
    }
    kubectl(config, args)
}

/// The API server's metrics, e.g. `apiserver_flowcontrol_rejected_requests_total`.
pub fn apiserver_metrics(config: &KindConfig) -> Cmd {
    kubectl(config, ["get", "--raw", "/metrics"])
}

/// The API server's audit log, read from the control-plane container.
pub fn read_audit_log(config: &KindConfig) -> Cmd {
    node_exec(&config.control_plane(), ["cat", AUDIT_LOG_PATH])
}

/// The node container's IPv4 address on the kind network.
pub fn node_address(node: &str) -> Cmd {
    Cmd::new(
        "docker",
        [
            "inspect".to_owned(),
            format!(
                "--format={{{{(index .NetworkSettings.Networks \"{KIND_NETWORK}\").IPAddress}}}}"
            ),
            node.to_owned(),
        ],
    )
}

/// Cuts the node off the cloud: `docker network disconnect kind <node>`, as OpenYurt's e2e does.
pub fn disconnect(node: &str) -> Cmd {
    Cmd::new("docker", ["network", "disconnect", KIND_NETWORK, node])
}

/// Plugs the node back in. Without `--ip`: Docker refuses a fixed IPv4 on kind's network, whose
/// IPv4 subnet is not user-configured; the address is checked afterwards instead.
pub fn reconnect(node: &str) -> Cmd {
    Cmd::new("docker", ["network", "connect", KIND_NETWORK, node])
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
pub fn pod_sandboxes(node: &str, namespace: &str) -> Cmd {
    node_exec(
        node,
        [
            "crictl",
            "pods",
            "--quiet",
            "--state",
            "ready",
            "--namespace",
            namespace,
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

/// `kubectl wait` for every pod of a namespace on a node to be Ready.
pub fn wait_pods_ready(config: &KindConfig, namespace: &str) -> Cmd {
    kubectl(
        config,
        [
            "wait".to_owned(),
            "--namespace".into(),
            namespace.to_owned(),
            "--for=condition=Ready".into(),
            "pods".into(),
            "--all".into(),
            "--timeout=180s".into(),
        ],
    )
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
