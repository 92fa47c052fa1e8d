//! Each scenario's steps after bring-up, in the scenario's order, planned by a dry run of the
//! backend the kind [`crate::backend::Backend`] impl drives (`KindCluster` calls exactly these
//! methods), and the transcript they leave. The scenarios' own dry run stops at bring-up, since
//! their API calls need a cluster; these tests cover what happens on nodes and in the API
//! server's configuration after it: cuts and reconnects both ways, sandboxes by UID, kernel
//! reads through `docker exec`, the squeeze, the audit log.

use super::DryRun;
use crate::backend::{AGENT_USER, Cut};
use crate::kind::*;
use testkit::kernel;

/// The commands of the steps run so far, as the transcript has them, without comments.
fn steps(run: &DryRun) -> Vec<String> {
    let transcript = run.transcript();
    let body = &transcript[exec::TRANSCRIPT_HEADER.len()..];
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Index of the first step after `from` containing every needle, failing the test if none.
fn after(steps: &[String], from: usize, needles: &[&str]) -> usize {
    steps[from..]
        .iter()
        .position(|s| needles.iter().all(|n| s.contains(n)))
        .map(|i| from + i)
        .unwrap_or_else(|| {
            panic!(
                "no step with {needles:?} after step {from} in:\n{}",
                steps[from..].join("\n")
            )
        })
}

/// A kernel read of the scenario, as `read_kernel` sends it through `node_exec`.
fn read<T>(run: &mut DryRun, node: &str, read: &kernel::Read<T>) {
    assert_eq!(run.backend.exec_on_node(node, &read.args()).unwrap(), None);
}

fn bash_accepts(run: &DryRun) {
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(run.work().join(DryRunExecutor::TRANSCRIPT))
        .status()
        .unwrap();
    assert!(status.success(), "bash -n commands.sh");
}

#[test]
fn data_path_after_bring_up() {
    let mut run = DryRun::new();
    // add_pod(edge-1, cam-1): the pod's first sandbox, found by its UID
    let cam1 = run
        .backend
        .await_sandbox("edge-1", "uid-cam-1", &[])
        .unwrap();
    assert_eq!(
        run.backend.sandbox_attachment("edge-1", &cam1).unwrap(),
        None
    );
    let (veth, netns) = ("${HOST_VETH}", "${NETNS}");
    read(&mut run, "edge-1", &kernel::tbf_rate_bits(veth));
    read(&mut run, "edge-1", &kernel::redirect_target(veth));
    read(&mut run, "edge-1", &kernel::mtu(Some(netns), "eth0"));
    read(
        &mut run,
        "edge-1",
        &kernel::sysctl(netns, "net.ipv4.tcp_keepalive_time"),
    );
    // web-1 and cam-2 without a profile: the MTU the node network gives
    assert_eq!(run.backend.default_pod_mtu("edge-1").unwrap(), None);
    assert_eq!(run.backend.default_pod_mtu("edge-2").unwrap(), None);
    // del_sandbox(cam-1), then the links are gone
    run.backend.await_sandbox_gone("edge-1", &cam1).unwrap();
    read(&mut run, "edge-1", &kernel::link_exists(veth));

    let s = steps(&run);
    let first = after(
        &s,
        0,
        &[
            "tether_poll 120 other-than --",
            "crictl pods",
            "io.kubernetes.pod.uid=uid-cam-1",
        ],
    );
    let sandbox = after(&s, first, &["SANDBOX=$(", "--latest"]);
    let veth_at = after(
        &s,
        sandbox,
        &["HOST_VETH=$(docker exec tether-e2e-worker sh -c"],
    );
    let tc = after(
        &s,
        veth_at,
        &["docker exec tether-e2e-worker tc", "\"${HOST_VETH}\""],
    );
    let mtu = after(
        &s,
        tc,
        &["docker exec tether-e2e-worker ip -n \"${NETNS}\"", "eth0"],
    );
    let node_mtu = after(
        &s,
        mtu,
        &["docker exec tether-e2e-worker2 cat /sys/class/net/eth0/mtu"],
    );
    let gone = after(
        &s,
        node_mtu,
        &["tether_poll 120 is ''", "--id \"${SANDBOX}\""],
    );
    after(
        &s,
        gone,
        &["docker exec tether-e2e-worker ip", "\"${HOST_VETH}\""],
    );
    bash_accepts(&run);
}

fn caching_after_bring_up(cut: Cut) -> Vec<String> {
    let mut run = DryRun::new();
    let cam1 = run
        .backend
        .await_sandbox("edge-1", "uid-cam-1", &[])
        .unwrap();
    run.backend.sandbox_attachment("edge-1", &cam1).unwrap();
    run.backend.cut("edge-1", cut).unwrap();
    // cam-2's sandbox recreated while cut off, then its MTU
    let cam2 = run.backend.recreate_sandbox("edge-1", "uid-cam-2").unwrap();
    run.backend.sandbox_attachment("edge-1", &cam2).unwrap();
    read(&mut run, "edge-1", &kernel::mtu(Some("${NETNS}"), "eth0"));
    run.backend.restart_agent("edge-1").unwrap();
    let cam3 = run.backend.recreate_sandbox("edge-1", "uid-cam-3").unwrap();
    run.backend.sandbox_attachment("edge-1", &cam3).unwrap();
    run.backend.restart_yurthub("edge-1").unwrap();
    let cam2_again = run.backend.recreate_sandbox("edge-1", "uid-cam-2").unwrap();
    run.backend
        .sandbox_attachment("edge-1", &cam2_again)
        .unwrap();
    run.backend.reconnect("edge-1", cut).unwrap();
    let again = run.backend.recreate_sandbox("edge-1", "uid-cam-1").unwrap();
    run.backend.sandbox_attachment("edge-1", &again).unwrap();
    bash_accepts(&run);
    steps(&run)
}

/// The order every caching run keeps: cut and checked, sandboxes recreated by UID while cut,
/// the agent restarted, yurthub restarted and healthy, cam-2 again, the cut undone, yurthub healthy, tether still chained, cam-1 again.
fn caching_order(s: &[String], cut_step: &str, undo_step: &str) {
    let cut = after(s, 0, &[cut_step]);
    let checked = after(
        s,
        cut,
        &["if docker exec tether-e2e-worker curl", "then printf"],
    );
    let cam2 = after(
        s,
        checked,
        &["OLD_SANDBOXES=$(", "io.kubernetes.pod.uid=uid-cam-2"],
    );
    let removed = after(s, cam2, &["crictl rmp --force ${OLD_SANDBOXES[*]}"]);
    let restart = after(s, removed, &["crictl stop --timeout 10 ${OLD_AGENTS[*]}"]);
    let cam3 = after(s, restart, &["io.kubernetes.pod.uid=uid-cam-3"]);
    let hub = after(
        s,
        cam3,
        &["docker exec tether-e2e-worker systemctl restart yurthub.service"],
    );
    let hub_healthy = after(s, hub, &["curl", "127.0.0.1:10267/v1/healthz"]);
    let cam2_again = after(s, hub_healthy, &["io.kubernetes.pod.uid=uid-cam-2"]);
    let since = after(s, cam2_again, &["RECONNECTED_AT=$(date -u"]);
    let undo = after(s, since, &[undo_step]);
    let renewed = after(
        s,
        undo,
        &[
            "tether_poll 60 after \"${RECONNECTED_AT}\"",
            "leases.coordination.k8s.io tether-e2e-worker",
        ],
    );
    let healthy = after(s, renewed, &["tether_poll 60 after \"${FIRST_RENEWAL}\""]);
    let chained = after(
        s,
        healthy,
        &["tether_poll 30 has '\"tether\"'", "10-kindnet.conflist"],
    );
    after(s, chained, &["io.kubernetes.pod.uid=uid-cam-1"]);
}

#[test]
fn caching_with_a_network_disconnect_after_bring_up() {
    let s = caching_after_bring_up(Cut::Network);
    caching_order(
        &s,
        "docker network disconnect kind tether-e2e-worker",
        "docker network connect kind tether-e2e-worker",
    );
    assert!(
        s.iter()
            .any(|l| l.starts_with("test \"${ADDRESS_AFTER}\" = ")),
        "the address is compared"
    );
}

#[test]
fn caching_with_a_blackhole_after_bring_up() {
    let s = caching_after_bring_up(Cut::Blackhole);
    caching_order(
        &s,
        "docker exec tether-e2e-worker ip6tables --wait -I INPUT -s \"${CP_IPV6}\" -j DROP",
        "docker exec tether-e2e-worker ip6tables --wait -D INPUT -s \"${CP_IPV6}\" -j DROP",
    );
    assert!(!s.iter().any(|l| l.contains("docker network")));
}

#[test]
fn chain_after_bring_up() {
    let mut run = DryRun::new();
    let conflist = "docker exec tether-e2e-worker cat /etc/cni/net.d/10-kindnet.conflist";
    assert_eq!(
        run.backend
            .exec_on_node("edge-1", &["cat", "/etc/cni/net.d/10-kindnet.conflist"])
            .unwrap(),
        None
    );
    run.backend.restart_main_plugin("edge-1").unwrap();
    let cam1 = run
        .backend
        .await_sandbox("edge-1", "uid-cam-1", &[])
        .unwrap();
    run.backend.sandbox_attachment("edge-1", &cam1).unwrap();
    run.backend.remove_tether().unwrap();
    let s = steps(&run);
    let read = after(&s, 0, &[conflist]);
    let old = after(
        &s,
        read,
        &["OLD_KINDNET=$(", "crictl ps", "--name '^kindnet-cni$'"],
    );
    let stop = after(&s, old, &["crictl stop --timeout 10 ${OLD_KINDNET[*]}"]);
    let new = after(
        &s,
        stop,
        &[
            "tether_poll 330 other-than ${OLD_KINDNET[*]}",
            "kindnet-cni",
        ],
    );
    let sandbox = after(&s, new, &["io.kubernetes.pod.uid=uid-cam-1"]);
    let delete = after(
        &s,
        sandbox,
        &[
            "delete --namespace tether-system daemonset/tether-agent",
            "--cascade=foreground",
        ],
    );
    after(
        &s,
        delete,
        &[
            "wait --namespace tether-system --for=delete pod",
            "--selector=app.kubernetes.io/name=tether-agent",
        ],
    );
    bash_accepts(&run);
}

#[test]
fn rbac_after_bring_up() {
    let mut run = DryRun::new();
    let cam1 = run
        .backend
        .await_sandbox("edge-1", "uid-cam-1", &[])
        .unwrap();
    run.backend.sandbox_attachment("edge-1", &cam1).unwrap();
    assert_eq!(run.backend.audit_requests().unwrap(), None);
    let s = steps(&run);
    after(
        &s,
        0,
        &["docker exec tether-e2e-control-plane cat /var/log/kubernetes/kube-apiserver-audit.log"],
    );
    bash_accepts(&run);
}

#[test]
fn rate_limit_after_bring_up() {
    let mut run = DryRun::new();
    run.backend.limit(2).unwrap();
    for uid in ["uid-cam-0", "uid-cam-1"] {
        let id = run.backend.recreate_sandbox("edge-1", uid).unwrap();
        run.backend.sandbox_attachment("edge-1", &id).unwrap();
    }
    assert_eq!(run.backend.audit_requests().unwrap(), None);
    assert_eq!(run.backend.rejected(AGENT_USER).unwrap(), None);
    let s = steps(&run);
    let patch = after(
        &s,
        0,
        &[
            "patch prioritylevelconfigurations.flowcontrol.apiserver.k8s.io tether-agent --type=merge",
        ],
    );
    let squeezed = after(
        &s,
        patch,
        &["apiserver_flowcontrol_upper_limit_seats{priority_level=\"tether-agent\"} 2"],
    );
    let load = after(&s, squeezed, &["LOAD_TOKEN=$("]);
    let pods = after(&s, load, &["io.kubernetes.pod.uid=uid-cam-0"]);
    let audit = after(&s, pods, &["kube-apiserver-audit.log"]);
    after(&s, audit + 1, &["kube-apiserver-audit.log"]);
    bash_accepts(&run);
}
