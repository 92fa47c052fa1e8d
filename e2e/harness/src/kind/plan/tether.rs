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

/// Deletes the tether DaemonSet and waits until its pods are gone (kubelet SIGTERMs the
/// install-cni sidecar last, which takes tether out of each node's chain).
pub fn delete_tether_daemonset(config: &KindConfig) -> Cmd {
    kubectl(
        config,
        [
            "delete".to_owned(),
            "--namespace".into(),
            TETHER_NAMESPACE.into(),
            format!("daemonset/{TETHER_AGENT}"),
            "--cascade=foreground".into(),
            "--wait=true".into(),
            "--timeout=180s".into(),
        ],
    )
}

/// Waits until no pod of the tether DaemonSet is left.
pub fn wait_tether_pods_gone(config: &KindConfig) -> Cmd {
    kubectl(
        config,
        [
            "wait".to_owned(),
            "--namespace".into(),
            TETHER_NAMESPACE.into(),
            "--for=delete".into(),
            "pod".into(),
            format!("--selector=app.kubernetes.io/name={TETHER_AGENT}"),
            "--timeout=180s".into(),
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

/// Deletes the agent's PriorityLevelConfiguration, so `apply -k` recreates it exactly as
/// deploy/ has it: a merge patch of a reused cluster's earlier `limit` (`borrowingLimitPercent`,
/// `Reject`) would otherwise outlive the apply, which only resets the fields deploy/ sets.
pub fn delete_agent_priority_level(config: &KindConfig) -> Cmd {
    kubectl(
        config,
        [
            "delete".to_owned(),
            "prioritylevelconfigurations.flowcontrol.apiserver.k8s.io".into(),
            TETHER_AGENT.into(),
            "--ignore-not-found".into(),
        ],
    )
}

/// Deletes what an earlier `limit` added to put load into the agent's priority level (every
/// object labelled [`crate::kind::apf::CONTENTION_LABEL`]).
pub fn delete_contention(config: &KindConfig) -> Cmd {
    let (key, value) = crate::kind::apf::CONTENTION_LABEL;
    kubectl(
        config,
        [
            "delete".to_owned(),
            "flowschemas.flowcontrol.apiserver.k8s.io,clusterrolebindings.rbac.authorization.k8s.io,clusterroles.rbac.authorization.k8s.io,serviceaccounts".into(),
            "--all-namespaces".into(),
            format!("--selector={key}={value}"),
            "--ignore-not-found".into(),
        ],
    )
}

/// Deletes what a scenario creates (NetworkProfiles; pods and Events in `default`), so a reused
/// cluster takes the same names again without 409 Conflict and without an earlier run's Events.
/// Pods go at once (`--force`): a pod on a node cut off by an interrupted run would otherwise
/// wait for its kubelet; its sandbox is left to kubelet, and the scenarios find sandboxes by
/// pod UID, which a new pod of the same name does not share.
pub fn delete_scenario_objects(config: &KindConfig) -> Vec<Cmd> {
    vec![
        kubectl(
            config,
            [
                "delete",
                "networkprofiles.tether.dev",
                "--all",
                "--ignore-not-found",
            ],
        ),
        kubectl(
            config,
            [
                "delete",
                "pods",
                "--all",
                "--namespace",
                "default",
                "--force",
                "--grace-period=0",
                "--ignore-not-found",
            ],
        ),
        kubectl(
            config,
            [
                "delete",
                "events.events.k8s.io",
                "--all",
                "--namespace",
                "default",
                "--ignore-not-found",
            ],
        ),
    ]
}

/// Every PriorityLevelConfiguration, as JSON (for the other levels' shares).
pub fn priority_levels(config: &KindConfig) -> Cmd {
    kubectl(
        config,
        [
            "get",
            "prioritylevelconfigurations.flowcontrol.apiserver.k8s.io",
            "--output=json",
        ],
    )
}

/// Applies [`paths::LIMIT_PATCH`] to the agent's PriorityLevelConfiguration as a merge patch.
pub fn patch_agent_priority_level(config: &KindConfig) -> Cmd {
    kubectl(
        config,
        [
            "patch".to_owned(),
            "prioritylevelconfigurations.flowcontrol.apiserver.k8s.io".into(),
            TETHER_AGENT.into(),
            "--type=merge".into(),
            format!("--patch-file={}", path(config, paths::LIMIT_PATCH)),
        ],
    )
}

/// A token of the contention load's ServiceAccount, valid for an hour.
pub fn load_token(config: &KindConfig) -> Cmd {
    kubectl(
        config,
        [
            "create",
            "token",
            crate::kind::apf::LOAD_ACCOUNT,
            "--namespace",
            TETHER_NAMESPACE,
            "--duration=3600s",
        ],
    )
}
