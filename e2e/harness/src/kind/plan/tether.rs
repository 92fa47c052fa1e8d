//! tether on the cluster: apply deploy/, wait for it, and read what happened (RBAC answers,
//! metrics, the audit log).

use super::{kubectl, node_exec, path};
use crate::kind::cmd::Cmd;
use crate::kind::config::{AUDIT_LOG_PATH, KindConfig, TETHER_AGENT, TETHER_NAMESPACE};
use crate::kind::files::paths;

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

/// `kubectl wait` for every pod of a namespace to be Ready.
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
