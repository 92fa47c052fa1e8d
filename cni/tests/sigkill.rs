//! `tether-cni` killed with SIGKILL in the middle of an ADD, after it recorded its plan, at
//! several points of its delegates' runs; the runtime's DEL of the chain then leaves the node
//! as it was: no record, no ifb or qdisc of a delegate that did run, no backup of tuning's, the
//! pod's interface MTU as the main plugin left it. (tuning's DEL restores the interface's MTU,
//! MAC and flags, never sysctls: those are the namespace's and go with it when the runtime
//! removes the sandbox; containernetworking/plugins `plugins/meta/tuning/tuning.go`, `cmdDel`.)
//! Root only; under `CI=true` a skip fails.
//!
//! The points are hit deterministically by stand-ins in the test's `CNI_PATH`
//! (`support/stand_in.rs`) that stop at a chosen point of a delegate's run and say so; the
//! shipped plugin has no hook for this.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support::agent::{Agent, Behaviour};
use support::kernel::{host_link_exists, host_veth, mtu_in, redirect_target, sysctl_in};
use support::runtime::{ChainExt, PLUGIN_DIR, tether_binary};
use support::stand_in::{CniPath, Stop, wait_for_marker};
use support::{Node, camera_profile, privileged};
use testkit::cni_runtime::{Attachment, NetworkList};

const KEEPALIVE: &str = "net.ipv4.tcp_keepalive_time";
/// Longer than any step may take; reaching it is a hang, and a failure.
const HANG: Duration = Duration::from_secs(30);

/// How each delegate runs during the ADD that is killed.
#[derive(Debug, Clone, Copy)]
enum Delegate {
    Real,
    Blocks(Stop),
}

/// Processes and devices a run leaves if it fails half way; removed on drop.
#[derive(Default)]
struct Leftovers {
    tether: Option<Child>,
    stand_in: Option<u32>,
    ifb: Option<String>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if let Some(mut child) = self.tether.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(pid) = self.stand_in.take() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        if let Some(ifb) = self.ifb.take().filter(|ifb| host_link_exists(ifb)) {
            let _ = Command::new("ip").args(["link", "del", &ifb]).status();
        }
    }
}

/// What the pod's namespace looks like.
fn netns_state(netns: &str) -> (u64, String) {
    (mtu_in(netns, "eth0"), sysctl_in(netns, KEEPALIVE))
}

/// Where tuning keeps an interface's attributes to restore on DEL (its default `dataDir`).
fn tuning_backup(container_id: &str) -> PathBuf {
    Path::new("/run/cni/tuning").join(format!("{container_id}_eth0.json"))
}

/// Starts tether's ADD of `pod` on `prev`, its delegates found in `cni_path`.
fn start_add(chain: &NetworkList, pod: &Attachment, prev: &Value, cni_path: &CniPath) -> Child {
    let mut env = pod.env("ADD");
    env.retain(|(k, _)| *k != "CNI_PATH");
    env.push(("CNI_PATH", cni_path.path()));
    let mut child = Command::new(tether_binary())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let last = chain.plugins.len() - 1;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&chain.plugin_conf(last, Some(prev)))
        .unwrap();
    child
}

/// Kills tether's ADD where `bandwidth` and `tuning` say, then DELs the chain as the runtime
/// does and checks the node is as before.
fn killed_then_deleted(bandwidth: Delegate, tuning: Delegate) {
    let what = format!("bandwidth {bandwidth:?}, tuning {tuning:?}");
    let node = Node::new();
    let _agent = Agent::start(&node.socket(), Behaviour::Answer(camera_profile()));
    let chain = node.chain("1.0.0", json!({}));
    let (netns, pod) = node.pod("killed");
    let mut leftovers = Leftovers::default();

    let prev = chain.main_add(&pod);
    let veth = host_veth(&prev);
    let before = netns_state(&netns.name);

    let marker = node.dir.join("stand-in.pid");
    let cni_path = CniPath::new(node.dir.join("cni-path"));
    for (plugin, how) in [("bandwidth", bandwidth), ("tuning", tuning)] {
        match how {
            Delegate::Real => cni_path.real(plugin),
            Delegate::Blocks(stop) => cni_path.blocking(plugin, stop, &marker),
        }
    }
    leftovers.tether = Some(start_add(&chain, &pod, &prev, &cni_path));
    leftovers.stand_in = Some(wait_for_marker(&marker, HANG));
    assert_eq!(
        node.state_files(),
        vec![format!("{}@eth0.json", pod.container_id)],
        "{what}: the plan is recorded before any delegate runs"
    );
    let mut tether = leftovers.tether.take().unwrap();
    tether.kill().unwrap();
    let status = tether.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{what}: tether was still running when killed"
    );

    // The point is the one named: what the delegates applied before the kill.
    let bandwidth_ran = !matches!(bandwidth, Delegate::Blocks(Stop::Before));
    let ifb = redirect_target(&veth);
    assert_eq!(ifb.is_some(), bandwidth_ran, "{what}: ifb {ifb:?}");
    leftovers.ifb.clone_from(&ifb);
    let tuning_ran = matches!(tuning, Delegate::Blocks(Stop::After));
    assert_eq!(
        netns_state(&netns.name) != before,
        tuning_ran,
        "{what}: namespace {:?}, before {before:?}",
        netns_state(&netns.name)
    );
    assert_eq!(
        tuning_backup(&pod.container_id).exists(),
        tuning_ran,
        "{what}: tuning's backup"
    );

    // The runtime's DEL: tether first (CNI_PATH back to the real plugins), then the bridge.
    assert_eq!(pod.cni_path, PLUGIN_DIR);
    chain
        .run(1, "DEL", &pod, Some(&prev))
        .unwrap_or_else(|e| panic!("{what}: tether DEL: {e}"));
    assert!(
        node.state_files().is_empty(),
        "{what}: {:?}",
        node.state_files()
    );
    if let Some(ifb) = &ifb {
        assert!(!host_link_exists(ifb), "{what}: ifb {ifb} left behind");
    }
    assert_eq!(
        mtu_in(&netns.name, "eth0"),
        before.0,
        "{what}: the interface's MTU"
    );
    assert!(
        !tuning_backup(&pod.container_id).exists(),
        "{what}: tuning's backup left behind"
    );
    chain
        .run(0, "DEL", &pod, Some(&prev))
        .unwrap_or_else(|e| panic!("{what}: bridge DEL: {e}"));
    assert!(
        !host_link_exists(&veth),
        "{what}: veth {veth} and its qdiscs left behind"
    );
    // A second DEL, as runtimes retry, finds nothing to do.
    chain
        .del(&pod, Some(&prev))
        .unwrap_or_else(|e| panic!("{what}: DEL again: {e}"));
}

#[test]
fn killed_before_bandwidth_applies_anything() {
    if privileged() {
        killed_then_deleted(Delegate::Blocks(Stop::Before), Delegate::Real);
    }
}

#[test]
fn killed_after_bandwidth_applied_before_it_answered() {
    if privileged() {
        killed_then_deleted(Delegate::Blocks(Stop::After), Delegate::Real);
    }
}

#[test]
fn killed_between_bandwidth_and_tuning() {
    if privileged() {
        killed_then_deleted(Delegate::Real, Delegate::Blocks(Stop::Before));
    }
}

#[test]
fn killed_after_tuning_applied_before_it_answered() {
    if privileged() {
        killed_then_deleted(Delegate::Real, Delegate::Blocks(Stop::After));
    }
}
