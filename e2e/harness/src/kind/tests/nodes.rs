//! Dry-run tests of the per-node steps and of reading what happened.

use std::path::Path;

use super::DryRun;
use crate::kind::*;

#[test]
fn disconnect_and_reconnect_use_the_kind_network_and_wait_for_the_node() {
    let mut run = DryRun::new();
    run.backend.disconnect("edge-1").unwrap();
    run.backend.reconnect("tether-e2e-worker").unwrap();
    run.backend.disconnect("edge-2").unwrap();
    let argv: Vec<Vec<&str>> = run.commands().iter().map(Cmd::argv).collect();
    let inspect = |n| {
        vec![
            "docker",
            "inspect",
            "--format={{(index .NetworkSettings.Networks \"kind\").IPAddress}}",
            n,
        ]
    };
    assert_eq!(argv[0], inspect("tether-e2e-worker"));
    assert_eq!(
        argv[1],
        [
            "docker",
            "network",
            "disconnect",
            "kind",
            "tether-e2e-worker"
        ]
    );
    assert_eq!(
        argv[2],
        ["docker", "network", "connect", "kind", "tether-e2e-worker"]
    );
    assert_eq!(argv[3], inspect("tether-e2e-worker"));
    assert!(run.commands()[4].has_args(&[
        "wait",
        "--for=condition=Ready",
        "node/tether-e2e-worker"
    ]));
    assert_eq!(
        argv[6],
        [
            "docker",
            "network",
            "disconnect",
            "kind",
            "tether-e2e-worker2"
        ]
    );
    assert!(
        !argv.iter().flatten().any(|a| *a == "--ip"),
        "docker refuses --ip on kind's network"
    );
}

#[test]
fn agent_restart_and_sandbox_recreation_go_through_crictl_in_the_node() {
    let mut run = DryRun::new();
    run.backend.restart_agent("edge-2").unwrap();
    assert_eq!(
        run.backend.recreate_sandboxes("edge-2", "demo").unwrap(),
        None
    );
    let argv: Vec<Vec<&str>> = run.commands().iter().map(Cmd::argv).collect();
    assert_eq!(
        argv[0],
        [
            "docker",
            "exec",
            "tether-e2e-worker2",
            "crictl",
            "ps",
            "--quiet",
            "--state",
            "running",
            "--label",
            "io.kubernetes.pod.namespace=tether-system",
            "--name",
            "^agent$"
        ]
    );
    assert_eq!(
        argv[1],
        [
            "docker",
            "exec",
            "tether-e2e-worker2",
            "crictl",
            "pods",
            "--quiet",
            "--state",
            "ready",
            "--namespace",
            "^demo$"
        ]
    );
    let [stop, remove] = plan::remove_sandbox("tether-e2e-worker2", "abc123");
    assert_eq!(
        stop.argv(),
        [
            "docker",
            "exec",
            "tether-e2e-worker2",
            "crictl",
            "stopp",
            "abc123"
        ]
    );
    assert_eq!(
        remove.argv(),
        [
            "docker",
            "exec",
            "tether-e2e-worker2",
            "crictl",
            "rmp",
            "abc123"
        ]
    );
}

#[test]
fn reads_rbac_audit_metrics_and_logs_from_the_real_cluster() {
    let mut run = DryRun::new();
    assert_eq!(run.backend.can_i("list", "secrets", None).unwrap(), None);
    assert_eq!(run.backend.audit_log().unwrap(), None);
    assert_eq!(run.backend.apiserver_metrics().unwrap(), None);
    run.backend
        .export_logs(Path::new("/tmp/kind-logs"))
        .unwrap();
    run.backend.down().unwrap();
    let c = run.commands();
    assert!(c[0].has_args(&[
        "auth",
        "can-i",
        "list",
        "secrets",
        "--as=system:serviceaccount:tether-system:tether-agent",
        "--all-namespaces"
    ]));
    assert_eq!(
        c[1].argv(),
        [
            "docker",
            "exec",
            "tether-e2e-control-plane",
            "cat",
            "/var/log/kubernetes/kube-apiserver-audit.log"
        ]
    );
    assert!(c[2].has_args(&["get", "--raw", "/metrics"]));
    assert_eq!(
        c[3].argv(),
        [
            "kind",
            "export",
            "logs",
            "/tmp/kind-logs",
            "--name",
            "tether-e2e"
        ]
    );
    assert!(c[4].has_args(&["delete", "cluster", "--name", "tether-e2e"]));
}

#[test]
fn bad_input_is_refused_before_anything_runs() {
    let mut run = DryRun::new();
    let err = run.backend.disconnect("edge-9").unwrap_err().to_string();
    assert!(
        err.contains("edge-9") && err.contains("edge-1, edge-2"),
        "{err}"
    );
    assert!(
        run.backend
            .recreate_sandboxes("edge-1", "demo|kube-system")
            .is_err()
    );
    assert!(run.commands().is_empty());
    let dir = tempfile::tempdir().unwrap();
    let mut config = KindConfig::new("/repo/deploy".into(), dir.path().to_owned());
    config.cache_agents = vec!["kubelet".into()];
    assert!(matches!(
        KindBackend::new(config.clone(), RealExecutor),
        Err(KindError::InvalidConfig(_))
    ));
    config.cache_agents = vec!["tether-agent".into()];
    config.cluster_name = "Tether_E2E".into();
    assert!(matches!(
        KindBackend::new(config.clone(), RealExecutor),
        Err(KindError::InvalidConfig(_))
    ));
    config.cluster_name = "ok".into();
    config.work_dir = "relative".into();
    assert!(matches!(
        KindBackend::new(config, RealExecutor),
        Err(KindError::InvalidConfig(_))
    ));
}
