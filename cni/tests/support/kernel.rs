//! What the kernel says: qdiscs, links, MTUs and sysctls, read with iproute2.

use std::process::Command;

use serde_json::Value;

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The tbf rate on `dev`, in bits per second, if it has a tbf root qdisc.
pub fn tbf_rate_bits(dev: &str) -> Option<u64> {
    let (ok, out) = run("tc", &["-j", "qdisc", "show", "dev", dev]);
    if !ok {
        return None;
    }
    let qdiscs: Value = serde_json::from_str(&out).ok()?;
    qdiscs
        .as_array()?
        .iter()
        .find(|q| q["kind"] == "tbf")
        .and_then(|q| q["options"]["rate"].as_u64())
        .map(|bytes| bytes * 8)
}

/// The ifb device `dev`'s ingress is redirected to (the bandwidth plugin's egress shaper).
pub fn redirect_target(dev: &str) -> Option<String> {
    let (ok, out) = run("tc", &["filter", "show", "dev", dev, "parent", "ffff:"]);
    if !ok {
        return None;
    }
    let (_, after) = out.split_once("to device ")?;
    Some(
        after
            .split(|c: char| c == ')' || c.is_whitespace())
            .next()?
            .to_string(),
    )
}

/// Whether a link of that name exists on the host.
pub fn host_link_exists(name: &str) -> bool {
    run("ip", &["link", "show", "dev", name]).0
}

/// The MTU of `ifname` inside `netns`.
pub fn mtu_in(netns: &str, ifname: &str) -> u64 {
    let (ok, out) = run("ip", &["-n", netns, "-j", "link", "show", "dev", ifname]);
    assert!(ok, "no {ifname} in {netns}");
    let links: Value = serde_json::from_str(&out).unwrap();
    links[0]["mtu"].as_u64().unwrap()
}

/// A sysctl's value inside `netns`.
pub fn sysctl_in(netns: &str, key: &str) -> String {
    let (ok, out) = run("ip", &["netns", "exec", netns, "sysctl", "-n", key]);
    assert!(ok, "sysctl {key} in {netns}");
    out.trim().to_string()
}

/// Sets a sysctl inside `netns` behind the plugins' back.
pub fn set_sysctl_in(netns: &str, key: &str, value: &str) {
    let (ok, _) = run(
        "ip",
        &[
            "netns",
            "exec",
            netns,
            "sysctl",
            "-qw",
            &format!("{key}={value}"),
        ],
    );
    assert!(ok, "set {key} in {netns}");
}

/// The host-side veth in a bridge plugin result: no sandbox, not the bridge.
pub fn host_veth(result: &Value, bridge: &str) -> String {
    result["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i.get("sandbox").is_none() && i["name"] != bridge)
        .and_then(|i| i["name"].as_str())
        .unwrap_or_else(|| panic!("no host veth in {result}"))
        .to_string()
}
