//! DEL always finishes: whatever record ADD left (one of an unknown format, one written with a
//! delegate version this build does not know), DEL undoes what it can, removes the record and
//! exits 0, so the runtime can remove the sandbox. Without a profile's delegates to run, no
//! privileges are needed; the last test runs the real chain as root.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use cni::delegate::Delegate;
use cni::state::{FORMAT, Record, StateDir};
use serde_json::{Map, Value, json};
use support::agent::{Agent, Behaviour};
use support::kernel::{host_link_exists, host_veth, redirect_target};
use support::runtime::{ChainExt, exec, tether_binary};
use support::stand_in::CniPath;
use support::{Node, camera_profile, privileged};
use testkit::cni_runtime::Exec;

/// A delegate version no tether-cni knows yet.
const FUTURE_VERSION: &str = "9.9.9";

fn delegate(plugin: &str) -> Delegate {
    Delegate {
        plugin: plugin.into(),
        conf: Map::new(),
    }
}

fn record(delegate_version: &str, delegates: Vec<Delegate>) -> Record {
    Record {
        format: FORMAT,
        container_id: "abc123".into(),
        ifname: "eth0".into(),
        netns: Some("/var/run/netns/gone".into()),
        network: "n".into(),
        delegate_version: delegate_version.into(),
        cni_args: "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p".into(),
        profile: None,
        source: None,
        delegates,
    }
}

/// tether's DEL of `abc123@eth0` with `cniVersion` 1.1.0 and delegates from `cni_path`.
fn del(node: &Node, cni_path: &str) -> Exec {
    let env = [
        ("CNI_COMMAND", "DEL".to_string()),
        ("CNI_CONTAINERID", "abc123".into()),
        ("CNI_NETNS", "/var/run/netns/gone".into()),
        ("CNI_IFNAME", "eth0".into()),
        ("CNI_PATH", cni_path.into()),
        (
            "CNI_ARGS",
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p".into(),
        ),
    ];
    let conf = json!({"cniVersion": "1.1.0", "name": "n", "type": "tether",
                      "agentSocket": node.socket(), "stateDir": node.state_dir()});
    exec(&tether_binary(), &env, conf.to_string().as_bytes())
}

fn log_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_unknown_delegate_version_without_delegates_is_removed() {
    let node = Node::new();
    StateDir::new(node.state_dir())
        .save(&record(FUTURE_VERSION, Vec::new()))
        .unwrap();
    let out = del(&node, "/nonexistent");
    assert!(out.success, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(out.stderr.contains(FUTURE_VERSION), "{out:?}");
    assert!(node.state_files().is_empty(), "{:?}", node.state_files());
}

#[test]
fn an_unknown_delegate_version_is_undone_at_the_confs_version_whatever_the_delegates_say() {
    let node = Node::new();
    let log = node.dir.join("delegates.log");
    let cni_path = CniPath::new(node.dir.join("cni-path"));
    cni_path.logging("bandwidth", &log, false);
    // tuning refuses its DEL: DEL goes on with bandwidth and still finishes.
    cni_path.logging("tuning", &log, true);
    StateDir::new(node.state_dir())
        .save(&record(
            FUTURE_VERSION,
            vec![delegate("bandwidth"), delegate("tuning")],
        ))
        .unwrap();
    let out = del(&node, &cni_path.path());
    assert!(out.success, "{out:?}");
    assert!(out.stderr.contains(FUTURE_VERSION), "{out:?}");
    assert!(out.stderr.contains("stand-in refuses DEL"), "{out:?}");
    // 1.1.0 is lowered to 1.0.0 for delegates, as ADD does; reverse ADD order.
    assert_eq!(log_lines(&log), ["DEL 1.0.0", "DEL 1.0.0"]);
    assert!(node.state_files().is_empty(), "{:?}", node.state_files());
}

#[test]
fn a_known_version_keeps_a_failing_delegate_del_for_the_runtime_to_retry() {
    let node = Node::new();
    let log = node.dir.join("delegates.log");
    let cni_path = CniPath::new(node.dir.join("cni-path"));
    cni_path.logging("tuning", &log, true);
    StateDir::new(node.state_dir())
        .save(&record("1.0.0", vec![delegate("tuning")]))
        .unwrap();
    let out = del(&node, &cni_path.path());
    assert!(!out.success, "{out:?}");
    assert_eq!(log_lines(&log), ["DEL 1.0.0"]);
    assert_eq!(node.state_files().len(), 1, "kept for the retry");
}

#[test]
fn a_record_of_an_unknown_format_is_removed() {
    let node = Node::new();
    let state = StateDir::new(node.state_dir());
    state.save(&record("1.0.0", Vec::new())).unwrap();
    let mut future: Value =
        serde_json::from_slice(&std::fs::read(state.path("abc123", "eth0")).unwrap()).unwrap();
    future["format"] = json!(FORMAT + 1);
    std::fs::write(state.path("abc123", "eth0"), future.to_string()).unwrap();
    let out = del(&node, "/nonexistent");
    assert!(out.success, "{out:?}");
    assert!(out.stderr.contains("format"), "{out:?}");
    assert!(node.state_files().is_empty(), "{:?}", node.state_files());
}

#[test]
fn a_profile_recorded_at_an_unknown_version_is_still_undone_in_the_kernel() {
    if !privileged() {
        return;
    }
    let node = Node::new();
    let _agent = Agent::start(&node.socket(), Behaviour::Answer(camera_profile()));
    let chain = node.chain("1.0.0", json!({}));
    let (_netns, pod) = node.pod("future");
    let result = chain.add_ok(&pod);
    let ifb = redirect_target(&host_veth(&result)).expect("bandwidth's ifb");

    // As if a newer tether-cni had written the record.
    let state = StateDir::new(node.state_dir());
    let mut record = state.load(&pod.container_id, "eth0").unwrap().unwrap();
    record.delegate_version = FUTURE_VERSION.into();
    state.save(&record).unwrap();

    chain
        .del(&pod, Some(&result))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!host_link_exists(&ifb), "ifb {ifb} left behind");
    assert!(node.state_files().is_empty(), "{:?}", node.state_files());
}
