//! Dry-run tests of the per-node steps and of reading what happened.

use std::path::Path;

use super::DryRun;
use crate::backend::Cut;
use crate::kind::*;

#[test]
fn a_network_cut_records_the_address_and_proves_the_api_server_out_of_reach() {
    let mut run = DryRun::new();
    run.backend.cut("edge-1", Cut::Network).unwrap();
    let record = run.work().join("disconnected/tether-e2e-worker.ipv4");
    let inspect = run.position("address recorded", |c| {
        c.argv()
            == [
                "docker",
                "inspect",
                "--format={{(index .NetworkSettings.Networks \"kind\").IPAddress}}",
                "tether-e2e-worker",
            ]
            && c.stdout_to.as_deref() == Some(record.as_path())
    });
    let disconnect = run.position("disconnect", |c| {
        c.argv()
            == [
                "docker",
                "network",
                "disconnect",
                "kind",
                "tether-e2e-worker",
            ]
    });
    assert!(inspect < disconnect);
    let transcript = run.transcript();
    let probe = "if docker exec tether-e2e-worker curl --silent --insecure --globoff --output /dev/null --max-time 5 ";
    for url in [
        "https://tether-e2e-control-plane:6443/healthz;",
        r#"https://"${CP_IPV4}":6443/healthz;"#,
        r#"'https://['"${CP_IPV6}"']:6443/healthz';"#,
    ] {
        assert!(
            transcript
                .lines()
                .any(|l| l.starts_with(probe) && l.contains(url) && l.ends_with("exit 1; fi")),
            "no refuted probe of {url}:\n{transcript}"
        );
    }
    assert!(
        transcript.find(probe).unwrap() > transcript.find("docker network disconnect").unwrap(),
        "the check comes after the cut"
    );
}

#[test]
fn a_blackhole_drops_the_api_servers_ipv4_and_ipv6_both_ways_and_is_checked() {
    let mut run = DryRun::new();
    run.backend.cut("edge-2", Cut::Blackhole).unwrap();
    let transcript = run.transcript();
    for family in ["IPAddress", "GlobalIPv6Address"] {
        assert!(
            transcript.contains(&format!(
                "=$(docker inspect '--format={{{{(index .NetworkSettings.Networks \"kind\").{family}}}}}' tether-e2e-control-plane)"
            )),
            "{transcript}"
        );
    }
    for (tool, var) in [("iptables", "CP_IPV4"), ("ip6tables", "CP_IPV6")] {
        for (chain, dir) in [("OUTPUT", "-d"), ("INPUT", "-s")] {
            let rule = format!(
                "docker exec tether-e2e-worker2 {tool} --wait -I {chain} {dir} \"${{{var}}}\" -j DROP"
            );
            assert!(
                transcript.lines().any(|l| l == rule),
                "no {rule:?} in:\n{transcript}"
            );
        }
    }
    let last_rule = transcript.rfind("ip6tables --wait -I").unwrap();
    let first_probe = transcript
        .find("if docker exec tether-e2e-worker2 curl")
        .unwrap();
    assert!(last_rule < first_probe, "the check comes after the cut");
    run.backend.reconnect("edge-2", Cut::Blackhole).unwrap();
    let transcript = run.transcript();
    for tool in ["iptables", "ip6tables"] {
        for chain in ["OUTPUT", "INPUT"] {
            assert!(
                transcript.contains(&format!("{tool} --wait -D {chain}")),
                "{transcript}"
            );
        }
    }
    assert!(
        !run.commands().iter().any(|c| c.has_args(&["network"])),
        "a blackhole leaves the docker network alone"
    );
}

#[test]
fn a_reconnect_returns_after_two_lease_renewals_ready_kindnet_and_tether_in_the_conflist() {
    let mut run = DryRun::new();
    run.backend.cut("edge-1", Cut::Network).unwrap();
    run.backend
        .reconnect("tether-e2e-worker", Cut::Network)
        .unwrap();
    let transcript = run.transcript();
    let at = |needle: &str| {
        transcript
            .find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{transcript}"))
    };
    let record = run.work().join("disconnected/tether-e2e-worker.ipv4");
    let lease = format!(
        "kubectl --kubeconfig {} get leases.coordination.k8s.io tether-e2e-worker --namespace kube-node-lease '--output=jsonpath={{.spec.renewTime}}'",
        run.work().join("kubeconfig").display()
    );
    let steps = [
        "RECONNECTED_AT=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)".to_owned(),
        "docker network connect kind tether-e2e-worker".into(),
        format!("ADDRESS_BEFORE=$(cat {})", record.display()),
        "ADDRESS_AFTER=$(docker inspect".into(),
        r#"test "${ADDRESS_AFTER}" = "${ADDRESS_BEFORE}""#.into(),
        format!("rm -f {}", record.display()),
        format!("tether_poll 60 after \"${{RECONNECTED_AT}}\" -- {lease}"),
        format!("FIRST_RENEWAL=$({lease})"),
        format!("tether_poll 60 after \"${{FIRST_RENEWAL}}\" -- {lease}"),
        "wait --for=condition=Ready node/tether-e2e-worker".into(),
        "tether_poll 330 other-than -- docker exec tether-e2e-worker crictl ps --quiet --state running --label io.kubernetes.pod.namespace=kube-system --name '^kindnet-cni$'".into(),
        r#"tether_poll 30 has '"tether"' -- docker exec tether-e2e-worker cat /etc/cni/net.d/10-kindnet.conflist"#.into(),
    ];
    let positions: Vec<usize> = steps.iter().map(|s| at(s)).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "out of order: {steps:#?}\n{transcript}"
    );
    assert!(
        !run.commands().iter().any(|c| c.has_args(&["--ip"])),
        "docker refuses --ip on kind's network"
    );
}

#[test]
fn sandboxes_are_found_by_pod_uid_never_by_a_name_pattern() {
    let mut run = DryRun::new();
    let id = run.backend.recreate_sandbox("edge-1", "uid-1").unwrap();
    assert_eq!(id, "${SANDBOX}");
    run.backend.await_sandbox_gone("edge-1", &id).unwrap();
    let transcript = run.transcript();
    let list = "docker exec tether-e2e-worker crictl pods --quiet --state ready --label io.kubernetes.pod.uid=uid-1";
    for line in [
        format!("OLD_SANDBOXES=$({list})"),
        "docker exec tether-e2e-worker crictl rmp --force ${OLD_SANDBOXES[*]}".into(),
        format!("tether_poll 120 other-than ${{OLD_SANDBOXES[*]}} -- {list}"),
        format!("SANDBOX=$({list} --latest)"),
        r#"tether_poll 120 is '' -- docker exec tether-e2e-worker crictl pods --quiet --state ready --id "${SANDBOX}""#.into(),
    ] {
        assert!(
            transcript.lines().any(|l| l == line),
            "no {line:?} in:\n{transcript}"
        );
    }
    // crictl's --name and --namespace are regular expressions: cam-1 would match cam-10..19
    for cmd in run.commands() {
        assert!(
            !(cmd.has_args(&["crictl", "pods"])
                && (cmd.flag("--name").is_some() || cmd.flag("--namespace").is_some())),
            "{cmd}"
        );
    }
}

#[test]
fn a_sandboxs_record_netns_and_host_veth_are_read_inside_the_node() {
    let mut run = DryRun::new();
    assert_eq!(
        run.backend
            .sandbox_attachment("edge-1", "${SANDBOX}")
            .unwrap(),
        None
    );
    let transcript = run.transcript();
    for line in [
        r#"RECORD=$(docker exec tether-e2e-worker cat /var/lib/tether/cni/"${SANDBOX}"@eth0.json)"#,
        r#"NETNS=$(docker exec tether-e2e-worker jq --raw-output '.netns | split("/") | last' /var/lib/tether/cni/"${SANDBOX}"@eth0.json)"#,
    ] {
        assert!(
            transcript.lines().any(|l| l == line),
            "no {line:?} in:\n{transcript}"
        );
    }
    let veth = run.commands().last().unwrap();
    assert_eq!(
        veth.argv(),
        [
            "docker",
            "exec",
            "tether-e2e-worker",
            "sh",
            "-c",
            plan::HOST_VETH_SCRIPT,
            "sh",
            "${NETNS}"
        ],
        "the namespace reaches the script as an argument"
    );
    // the script is valid sh
    let status = std::process::Command::new("sh")
        .args(["-n", "-c", plan::HOST_VETH_SCRIPT])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn agent_restart_stops_the_running_agent_and_waits_for_a_new_one() {
    let mut run = DryRun::new();
    run.backend.restart_agent("edge-2").unwrap();
    let list = "docker exec tether-e2e-worker2 crictl ps --quiet --state running --label io.kubernetes.pod.namespace=tether-system --name '^agent$'";
    let transcript = run.transcript();
    for line in [
        format!("OLD_AGENTS=$({list})"),
        "docker exec tether-e2e-worker2 crictl stop --timeout 10 ${OLD_AGENTS[*]}".into(),
        format!("tether_poll 120 other-than ${{OLD_AGENTS[*]}} -- {list}"),
    ] {
        assert!(
            transcript.lines().any(|l| l == line),
            "no {line:?} in:\n{transcript}"
        );
    }
}

#[test]
fn yurthub_restart_restarts_its_unit_and_waits_for_its_health_endpoint() {
    let mut run = DryRun::new();
    run.backend.restart_yurthub("edge-1").unwrap();
    let transcript = run.transcript();
    let lines: Vec<&str> = transcript.lines().collect();
    let restart = lines
        .iter()
        .position(|l| *l == "docker exec tether-e2e-worker systemctl restart yurthub.service")
        .unwrap_or_else(|| panic!("no restart in:\n{transcript}"));
    assert!(
        lines[restart..].iter().any(|l| {
            l.starts_with("tether_poll 60 any -- docker exec tether-e2e-worker curl")
                && l.ends_with("http://127.0.0.1:10267/v1/healthz")
        }),
        "no health poll after the restart in:\n{transcript}"
    );
}

#[test]
fn reads_rbac_audit_metrics_mtu_and_logs_from_the_real_cluster() {
    let mut run = DryRun::new();
    assert_eq!(run.backend.can_i("list", "secrets", None).unwrap(), None);
    assert_eq!(run.backend.audit_requests().unwrap(), None);
    assert_eq!(
        run.backend
            .rejected("system:serviceaccount:tether-system:tether-agent")
            .unwrap(),
        None
    );
    assert_eq!(run.backend.apiserver_metrics().unwrap(), None);
    assert_eq!(run.backend.default_pod_mtu("edge-1").unwrap(), None);
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
    let audit = [
        "docker",
        "exec",
        "tether-e2e-control-plane",
        "cat",
        "/var/log/kubernetes/kube-apiserver-audit.log",
    ];
    assert_eq!(c[1].argv(), audit);
    assert_eq!(c[2].argv(), audit, "429s are counted in the audit log");
    assert!(c[3].has_args(&["get", "--raw", "/metrics"]));
    assert_eq!(
        c[4].argv(),
        [
            "docker",
            "exec",
            "tether-e2e-worker",
            "cat",
            "/sys/class/net/eth0/mtu"
        ]
    );
    assert_eq!(
        c[5].argv(),
        [
            "kind",
            "export",
            "logs",
            "/tmp/kind-logs",
            "--name",
            "tether-e2e"
        ]
    );
    assert!(c[6].has_args(&["delete", "cluster", "--name", "tether-e2e"]));
}

#[test]
fn bad_input_is_refused_before_anything_runs() {
    let mut run = DryRun::new();
    let err = run
        .backend
        .cut("edge-9", Cut::Network)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("edge-9") && err.contains("edge-1, edge-2"),
        "{err}"
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
