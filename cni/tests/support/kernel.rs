//! What the kernel says on this host: [`testkit::kernel`]'s reads, run here.

use std::process::Command;

use testkit::kernel;

/// The tbf rate on `dev`, in bits per second, if it has a tbf root qdisc.
pub fn tbf_rate_bits(dev: &str) -> Option<u64> {
    kernel::tbf_rate_bits(dev).local()
}

/// The ifb device `dev`'s ingress is redirected to (the bandwidth plugin's egress shaper).
pub fn redirect_target(dev: &str) -> Option<String> {
    kernel::redirect_target(dev).local()
}

/// Whether a link of that name exists on the host.
pub fn host_link_exists(name: &str) -> bool {
    kernel::link_exists(name).local().is_some()
}

/// The MTU of `ifname` inside `netns`.
pub fn mtu_in(netns: &str, ifname: &str) -> u64 {
    kernel::mtu(Some(netns), ifname)
        .local()
        .unwrap_or_else(|| panic!("no {ifname} in {netns}"))
}

/// A sysctl's value inside `netns`.
pub fn sysctl_in(netns: &str, key: &str) -> String {
    kernel::sysctl(netns, key)
        .local()
        .unwrap_or_else(|| panic!("sysctl {key} in {netns}"))
}

/// Sets a sysctl inside `netns` behind the plugins' back.
pub fn set_sysctl_in(netns: &str, key: &str, value: &str) {
    let ok = Command::new("ip")
        .args([
            "netns",
            "exec",
            netns,
            "sysctl",
            "-qw",
            &format!("{key}={value}"),
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "set {key} in {netns}");
}

/// The host-side veth in a bridge plugin result: no sandbox, not the bridge.
pub fn host_veth(result: &serde_json::Value) -> String {
    kernel::host_veth_in_result(result).unwrap_or_else(|| panic!("no host veth in {result}"))
}
