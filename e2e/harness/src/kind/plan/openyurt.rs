//! OpenYurt: yurt-manager, yurthub's configuration, NodePools, and waiting for each worker to
//! be converted into an edge node.

use super::{kubectl, node_exec, path};
use crate::kind::cmd::Cmd;
use crate::kind::config::{EDGE_WORKER_LABEL, KindConfig, NODEPOOL_LABEL, YURTHUB_HEALTHZ};
use crate::kind::files::paths;
use crate::kind::versions::Versions;

/// Namespace OpenYurt's charts are installed into and its conversion Jobs run in.
pub const OPENYURT_NAMESPACE: &str = "kube-system";
/// Node annotation: how long an edge node's pods survive its being unreachable; `0` = forever
/// (OpenYurt v1.7.0 e2e sets it on every node so a cut-off node keeps its pods).
pub const AUTONOMY_ANNOTATION: &str = "node.openyurt.io/autonomy-duration";

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
/// Its standard output goes to [`paths::YURTHUB_CFG`] (`> file` in the transcript).
pub fn helm_template_yurthub_cfg(config: &KindConfig, versions: &Versions) -> Cmd {
    let rendered = config.work_dir.join(paths::YURTHUB_CFG);
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
    .stdout_to(&rendered)
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
/// set only after the node-servant Job, which waits for yurthub's health, succeeded). The Job
/// itself is not awaited: it is deleted 2 h after it finished, and `up` must stay idempotent.
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

/// Restarts yurthub's systemd unit on the node.
pub fn restart_yurthub(node: &str) -> Cmd {
    node_exec(node, ["systemctl", "restart", "yurthub.service"])
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
