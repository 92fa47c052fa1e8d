//! Privileged integration tests: the built `tether-cni` run as a container runtime runs it,
//! after `bridge` + `host-local`, in real network namespaces, with the real `bandwidth` and
//! `tuning` plugins; assertions read the kernel. Root only; under `CI=true` a skip fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::agent::{Agent, Behaviour};
use support::kernel::{
    host_link_exists, host_veth, mtu_in, redirect_target, set_sysctl_in, sysctl_in, tbf_rate_bits,
};
use support::runtime::{ChainExt, ExecExt};
use support::{Node, camera_profile, no_profile, privileged};

const KEEPALIVE: &str = "net.ipv4.tcp_keepalive_time";

/// What a profile left on the host: the host veth and the ifb device shaping egress.
struct Applied {
    veth: String,
    ifb: String,
}

fn assert_camera_applied(result: &Value, netns: &str) -> Applied {
    let veth = host_veth(result);
    assert_eq!(
        tbf_rate_bits(&veth),
        Some(10_000_000),
        "ingress tbf on {veth}"
    );
    let ifb = redirect_target(&veth).expect("egress redirect to an ifb device");
    assert_eq!(tbf_rate_bits(&ifb), Some(5_000_000), "egress tbf on {ifb}");
    assert_eq!(mtu_in(netns, "eth0"), 1400);
    assert_eq!(sysctl_in(netns, KEEPALIVE), "60");
    Applied { veth, ifb }
}

#[test]
fn add_applies_the_profile_and_del_removes_every_trace() {
    if !privileged() {
        return;
    }
    let node = Node::new();
    let agent = Agent::start(&node.socket(), Behaviour::Answer(camera_profile()));
    let chain = node.chain("1.0.0", json!({}));
    let (netns, pod) = node.pod("cam");

    let result = chain.add_ok(&pod);
    let applied = assert_camera_applied(&result, &netns.name);
    // The result is the main plugin's, passed through in the list's version.
    assert_eq!(result["cniVersion"], "1.0.0");
    assert_eq!(result["interfaces"][2]["name"], "eth0");
    assert!(result["ips"][0].get("version").is_none());
    assert_eq!(
        node.state_files(),
        vec![format!("{}@eth0.json", pod.container_id)]
    );
    let requests = agent.requests();
    assert_eq!(requests.len(), 1);
    let (method, path, body) = &requests[0];
    assert_eq!((method.as_str(), path.as_str()), ("POST", "/v1/cni/add"));
    let body = body.clone().expect("an AddRequest body");
    assert_eq!(
        (
            body.pod_namespace.as_str(),
            body.pod_name.as_str(),
            body.pod_uid.as_str()
        ),
        ("default", "cam", "uid-cam")
    );
    assert_eq!(
        (body.container_id.as_str(), body.netns.as_str()),
        (pod.container_id.as_str(), pod.netns.as_str())
    );

    chain
        .del(&pod, Some(&result))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !host_link_exists(&applied.ifb),
        "ifb {} left behind",
        applied.ifb
    );
    assert!(
        !host_link_exists(&applied.veth),
        "veth {} left behind",
        applied.veth
    );
    assert!(
        node.state_files().is_empty(),
        "state left: {:?}",
        node.state_files()
    );
    assert_eq!(agent.requests().len(), 1, "DEL must not talk to the agent");
}

#[test]
fn results_in_0_3_1_keep_their_version() {
    if !privileged() {
        return;
    }
    let node = Node::new();
    let _agent = Agent::start(&node.socket(), Behaviour::Answer(camera_profile()));
    let chain = node.chain("0.3.1", json!({}));
    let (netns, pod) = node.pod("old");
    let result = chain.add_ok(&pod);
    assert_eq!(result["cniVersion"], "0.3.1");
    assert_eq!(result["ips"][0]["version"], "4");
    let applied = assert_camera_applied(&result, &netns.name);
    chain.del(&pod, Some(&result)).unwrap();
    assert!(!host_link_exists(&applied.ifb));
    assert!(node.state_files().is_empty());
}

#[test]
fn no_matching_profile_passes_prev_result_through_untouched() {
    if !privileged() {
        return;
    }
    let node = Node::new();
    let _agent = Agent::start(&node.socket(), Behaviour::Answer(no_profile()));
    let chain = node.chain("1.0.0", json!({}));
    let (netns, pod) = node.pod("plain");
    let prev = chain.main_add(&pod);
    let out = chain.tether(&pod.env("ADD"), Some(&prev), json!({}));
    assert!(out.success, "{out:?}");
    assert_eq!(out.json(), prev);
    assert_eq!(tbf_rate_bits(&host_veth(&prev)), None);
    assert_eq!(mtu_in(&netns.name, "eth0"), 1500);
    // The record says ADD ran with no profile, so CHECK and DEL know the attachment.
    assert_eq!(node.state_files().len(), 1);
    chain.check(&pod, &prev).unwrap();
    chain.del(&pod, Some(&prev)).unwrap();
    assert!(node.state_files().is_empty());
}

fn agent_failure(
    behaviour: Option<Behaviour>,
    policy: &str,
) -> (Node, testkit::cni_runtime::Exec, Option<Agent>) {
    let node = Node::new();
    let agent = behaviour.map(|b| Agent::start(&node.socket(), b));
    let chain = node.chain(
        "1.0.0",
        json!({"failurePolicy": policy, "agentTimeoutMs": 300}),
    );
    let (_netns, pod) = node.pod("x");
    let outcome = match chain.add(&pod) {
        Ok((result, _)) => {
            let veth = host_veth(&result);
            assert_eq!(tbf_rate_bits(&veth), None, "no profile may be applied");
            chain.del(&pod, Some(&result)).unwrap();
            testkit::cni_runtime::Exec {
                success: true,
                stdout: result.to_string(),
                stderr: String::new(),
            }
        }
        Err(failure) => {
            assert_eq!(failure.index, 1, "only tether may fail: {failure}");
            chain.del(&pod, None).unwrap();
            failure.exec.unwrap()
        }
    };
    (node, outcome, agent)
}

#[test]
fn agent_down_or_answering_garbage_under_both_policies() {
    if !privileged() {
        return;
    }
    let mut bad_profile = camera_profile();
    bad_profile.mtu = Some(100);
    let cases: Vec<(&str, Option<Behaviour>)> = vec![
        ("down", None),
        ("not http", Some(Behaviour::Raw(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()))),
        ("500", Some(Behaviour::Raw(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 20\r\n\r\n{\"error\": \"broken\"}\n".to_vec()))),
        ("bad json", Some(Behaviour::Raw(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n{\"pr".to_vec()))),
        ("invalid profile", Some(Behaviour::Answer(bad_profile))),
    ];
    for (what, behaviour) in cases {
        let (node, out, _agent) = agent_failure(behaviour.clone(), "ignore");
        assert!(out.success, "{what}, ignore: {out:?}");
        assert_eq!(node.state_files().len(), 0, "{what}: DEL cleans the record");

        let (node, out, _agent) = agent_failure(behaviour, "fail");
        assert_eq!(out.error_code(), 11, "{what}, fail: {out:?}");
        assert!(
            node.state_files().is_empty(),
            "{what}: nothing recorded on failure"
        );
    }
}

#[test]
fn an_agent_slower_than_the_deadline_is_not_waited_for() {
    if !privileged() {
        return;
    }
    for policy in ["ignore", "fail"] {
        // The agent holds every request until released, which happens only after ADD
        // returned: ADD finishing at all proves the deadline was kept.
        let (_node, out, agent) = agent_failure(Some(Behaviour::Hold(camera_profile())), policy);
        let agent = agent.unwrap();
        assert_eq!(agent.requests().len(), 1, "{policy}: the agent was asked");
        match policy {
            "ignore" => {
                assert!(out.success, "{out:?}");
            }
            _ => {
                assert_eq!(out.error_code(), 11);
                assert!(
                    out.json()["details"]
                        .as_str()
                        .unwrap()
                        .contains("no answer"),
                    "{out:?}"
                );
            }
        }
        agent.release();
    }
}

#[test]
fn ignore_policy_says_on_stderr_why_there_is_no_profile() {
    if !privileged() {
        return;
    }
    let node = Node::new();
    let chain = node.chain("1.0.0", json!({}));
    let (_netns, pod) = node.pod("quiet");
    let prev = chain.main_add(&pod);
    let out = chain.tether(&pod.env("ADD"), Some(&prev), json!({}));
    assert!(out.success, "{out:?}");
    assert!(out.stderr.contains("without a profile"), "{out:?}");
    assert!(out.stderr.contains("default/quiet"), "{out:?}");
    assert_eq!(out.json(), prev, "prevResult comes back unchanged");
    chain.del(&pod, Some(&prev)).unwrap();
}

#[test]
fn del_twice_and_del_after_the_namespace_is_gone_succeed() {
    if !privileged() {
        return;
    }
    let node = Node::new();
    let _agent = Agent::start(&node.socket(), Behaviour::Answer(camera_profile()));
    let chain = node.chain("1.0.0", json!({}));

    let (_netns, pod) = node.pod("twice");
    let result = chain.add_ok(&pod);
    let ifb = redirect_target(&host_veth(&result)).unwrap();
    chain.del(&pod, Some(&result)).unwrap();
    chain.del(&pod, Some(&result)).unwrap();
    assert!(!host_link_exists(&ifb));

    let (netns, pod) = node.pod("gone");
    let result = chain.add_ok(&pod);
    let ifb = redirect_target(&host_veth(&result)).unwrap();
    netns.delete().unwrap_or_else(|e| panic!("{e}"));
    chain
        .del(&pod, Some(&result))
        .unwrap_or_else(|e| panic!("DEL after netns deletion: {e}"));
    let mut without_netns = pod.clone();
    without_netns.netns = String::new();
    chain.del(&without_netns, None).unwrap();
    assert!(!host_link_exists(&ifb), "ifb {ifb} survived");
    assert!(node.state_files().is_empty());
    // tuning's DEL cannot enter a deleted namespace, so it never removes its MTU backup
    // (containernetworking/plugins `plugins/meta/tuning/tuning.go`, `cmdDel`); the test removes
    // what it made tuning leave.
    let _ = std::fs::remove_file(format!("/run/cni/tuning/{}_eth0.json", pod.container_id));
}

#[test]
fn check_verifies_the_kernel_against_the_record() {
    if !privileged() {
        return;
    }
    let node = Node::new();
    let _agent = Agent::start(&node.socket(), Behaviour::Answer(camera_profile()));
    let chain = node.chain("1.0.0", json!({}));
    let (netns, pod) = node.pod("chk");
    let result = chain.add_ok(&pod);
    chain.check(&pod, &result).unwrap_or_else(|e| panic!("{e}"));

    // Drift behind the plugins' back: tuning's CHECK, run by tether, notices.
    set_sysctl_in(&netns.name, KEEPALIVE, "7200");
    let out = chain.tether(&pod.env("CHECK"), Some(&result), json!({}));
    assert!(!out.success, "{out:?}");
    assert!(out.stdout.contains("tuning CHECK"), "{out:?}");
    set_sysctl_in(&netns.name, KEEPALIVE, "60");

    // A namespace other than the recorded one: state and runtime disagree.
    let mut moved = pod.clone();
    moved.netns = "/var/run/netns/elsewhere".into();
    let out = chain.tether(&moved.env("CHECK"), Some(&result), json!({}));
    assert_eq!(out.error_code(), 3, "{out:?}");

    // An attachment tether never saw.
    let mut stranger = pod.clone();
    stranger.container_id = "never-added".into();
    assert_eq!(
        chain
            .tether(&stranger.env("CHECK"), Some(&result), json!({}))
            .error_code(),
        3
    );

    // CHECK does not exist before 0.4.0.
    let old = node.chain("0.3.1", json!({}));
    assert_eq!(
        old.tether(&pod.env("CHECK"), Some(&result), json!({}))
            .error_code(),
        1
    );

    chain.del(&pod, Some(&result)).unwrap();
}

#[test]
fn status_reflects_the_agent_only_under_fail() {
    if !privileged() {
        return;
    }
    let node = Node::new();
    let env = vec![("CNI_COMMAND", "STATUS".to_string())];
    let fail = node.chain(
        "1.1.0",
        json!({"failurePolicy": "fail", "agentTimeoutMs": 300}),
    );
    let ignore = node.chain("1.1.0", json!({}));

    let down = fail.tether(&env, None, json!({}));
    assert_eq!(down.error_code(), 50, "{down:?}");
    let ok = ignore.tether(&env, None, json!({}));
    assert!(ok.success && ok.stdout.is_empty(), "{ok:?}");

    let agent = Agent::start(&node.socket(), Behaviour::Answer(no_profile()));
    let up = fail.tether(&env, None, json!({}));
    assert!(up.success && up.stdout.is_empty(), "{up:?}");
    assert_eq!(agent.requests()[0].1, "/v1/healthz");
    // STATUS is a 1.1.0 command.
    let old = node.chain("1.0.0", json!({"failurePolicy": "fail"}));
    assert_eq!(old.tether(&env, None, json!({})).error_code(), 1);
}

#[test]
fn gc_forgets_and_undoes_attachments_the_runtime_no_longer_has() {
    if !privileged() {
        return;
    }
    let node = Node::new();
    let _agent = Agent::start(&node.socket(), Behaviour::Answer(camera_profile()));
    let chain = node.chain("1.0.0", json!({}));
    let (_ns1, keep) = node.pod("keep");
    let (_ns2, drop_me) = node.pod("drop");
    let kept = chain.add_ok(&keep);
    let dropped = chain.add_ok(&drop_me);
    let kept_ifb = redirect_target(&host_veth(&kept)).unwrap();
    let dropped_ifb = redirect_target(&host_veth(&dropped)).unwrap();

    let gc = node.chain("1.1.0", json!({}));
    let env = vec![
        ("CNI_COMMAND", "GC".to_string()),
        ("CNI_PATH", support::runtime::PLUGIN_DIR.to_string()),
    ];
    let valid = json!({"cni.dev/valid-attachments": [{"containerID": keep.container_id, "ifname": "eth0"}]});
    let out = gc.tether(&env, None, valid);
    assert!(out.success, "{out:?}");
    assert!(out.stdout.is_empty(), "GC prints nothing: {out:?}");
    assert_eq!(
        node.state_files(),
        vec![format!("{}@eth0.json", keep.container_id)]
    );
    assert!(
        !host_link_exists(&dropped_ifb),
        "GC undoes the bandwidth plugin's ifb"
    );
    assert!(
        host_link_exists(&kept_ifb),
        "GC leaves live attachments alone"
    );

    let no_list = gc.tether(&env, None, json!({}));
    assert_eq!(no_list.error_code(), 7);
    assert_eq!(node.state_files().len(), 1, "a refused GC changes nothing");
    chain.del(&keep, Some(&kept)).unwrap();
    chain.del(&drop_me, Some(&dropped)).unwrap();
}

#[test]
fn a_failing_delegate_is_rolled_back_and_leaves_no_state() {
    if !privileged() {
        return;
    }
    let node = Node::new();
    let mut profile = camera_profile();
    // bandwidth succeeds, then tuning fails on a sysctl the kernel does not have.
    profile
        .sysctls
        .insert("net.ipv4.no_such_sysctl".into(), "1".into());
    let _agent = Agent::start(&node.socket(), Behaviour::Answer(profile));
    let chain = node.chain("1.0.0", json!({}));
    let (_netns, pod) = node.pod("rollback");
    let prev = chain.main_add(&pod);
    let veth = host_veth(&prev);
    let out = chain.tether(&pod.env("ADD"), Some(&prev), json!({}));
    assert!(!out.success, "{out:?}");
    assert!(
        out.json()["msg"]
            .as_str()
            .unwrap()
            .starts_with("tuning ADD"),
        "{out:?}"
    );
    // bandwidth's DEL removes its ifb device; the qdisc on the veth goes with the veth
    // when the runtime's DEL reaches the main plugin.
    let ifb = redirect_target(&veth).expect("bandwidth ran before tuning failed");
    assert!(
        !host_link_exists(&ifb),
        "bandwidth's ifb {ifb} was not undone"
    );
    assert!(node.state_files().is_empty(), "{:?}", node.state_files());
    chain.del(&pod, Some(&prev)).unwrap();
}

#[test]
fn a_missing_delegate_fails_cleanly() {
    if !privileged() {
        return;
    }
    let node = Node::new();
    let _agent = Agent::start(&node.socket(), Behaviour::Answer(camera_profile()));
    let chain = node.chain("1.0.0", json!({}));
    let (_netns, pod) = node.pod("nodelegate");
    let prev = chain.main_add(&pod);
    let empty = node.dir.join("empty-cni-path");
    std::fs::create_dir_all(&empty).unwrap();
    let mut env = pod.env("ADD");
    env.retain(|(k, _)| *k != "CNI_PATH");
    env.push(("CNI_PATH", empty.display().to_string()));
    let out = chain.tether(&env, Some(&prev), json!({}));
    assert_eq!(out.error_code(), 100, "{out:?}");
    assert!(out.stdout.contains("bandwidth"), "{out:?}");
    assert!(node.state_files().is_empty());
    chain.del(&pod, Some(&prev)).unwrap();
}

#[test]
fn a_1_1_0_list_runs_delegates_at_1_0_0_and_reports_the_mtu() {
    if !privileged() {
        return;
    }
    let node = Node::new();
    let _agent = Agent::start(&node.socket(), Behaviour::Answer(camera_profile()));
    let chain = node.chain("1.1.0", json!({}));
    let (netns, pod) = node.pod("new");
    // Debian's bridge speaks at most 1.0.0; its result is a valid 1.1.0 result as well.
    let mut bridge_conf: Value = serde_json::from_slice(&chain.plugin_conf(0, None)).unwrap();
    bridge_conf["cniVersion"] = json!("1.0.0");
    let mut prev = support::runtime::exec(
        &chain.plugins[0].0,
        &pod.env("ADD"),
        bridge_conf.to_string().as_bytes(),
    )
    .json();
    prev["cniVersion"] = json!("1.1.0");

    let out = chain.tether(&pod.env("ADD"), Some(&prev), json!({}));
    assert!(out.success, "{out:?}");
    let result = out.json();
    assert_eq!(result["cniVersion"], "1.1.0");
    assert_eq!(result["interfaces"][2]["mtu"], 1400, "{result}");
    assert_camera_applied(&prev, &netns.name);
    let check = chain.tether(&pod.env("CHECK"), Some(&result), json!({}));
    assert!(check.success, "{check:?}");
    let del = chain.tether(&pod.env("DEL"), Some(&result), json!({}));
    assert!(del.success, "{del:?}");
    assert!(node.state_files().is_empty());
    let _ = support::runtime::exec(
        &chain.plugins[0].0,
        &pod.env("DEL"),
        bridge_conf.to_string().as_bytes(),
    );
}
