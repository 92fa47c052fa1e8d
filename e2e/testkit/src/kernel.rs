//! Reading a node's kernel with iproute2: what to run and how to read its output. Each read
//! is an argv plus a parser, so cni's tests run it on this host and the e2e backends run the
//! same argv on a node (`docker exec` on sim or kind), and both parse it the same way.

use std::process::Command;

use serde_json::Value;

/// One read of the kernel: the command to run and how to turn its stdout into a value.
#[derive(Debug, Clone)]
pub struct Read<T> {
    /// The command, program first.
    pub argv: Vec<String>,
    parse: fn(&str) -> Option<T>,
}

impl<T> Read<T> {
    /// The value in `stdout` of a successful run, `None` when it holds none.
    pub fn parse(&self, stdout: &str) -> Option<T> {
        (self.parse)(stdout)
    }

    /// Runs the read on this host; `None` when the command fails or the value is absent.
    pub fn local(&self) -> Option<T> {
        let (program, args) = self.argv.split_first()?;
        let out = Command::new(program).args(args).output().ok()?;
        if !out.status.success() {
            return None;
        }
        self.parse(&String::from_utf8_lossy(&out.stdout))
    }

    /// The argv as `&str`s, for runners that take those.
    pub fn args(&self) -> Vec<&str> {
        self.argv.iter().map(String::as_str).collect()
    }
}

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

/// `ip [-n netns] …`: iproute2 inside `netns` when given.
fn ip(netns: Option<&str>, rest: &[&str]) -> Vec<String> {
    let mut v = vec!["ip".to_string()];
    if let Some(ns) = netns {
        v.extend(["-n".to_string(), ns.to_string()]);
    }
    v.extend(rest.iter().map(|p| p.to_string()));
    v
}

/// The rate of the tbf root qdisc on `dev`, in bits per second (tc reports bytes).
pub fn tbf_rate_bits(dev: &str) -> Read<u64> {
    Read {
        argv: argv(&["tc", "-j", "qdisc", "show", "dev", dev]),
        parse: parse_tbf_rate_bits,
    }
}

fn parse_tbf_rate_bits(out: &str) -> Option<u64> {
    let qdiscs: Value = serde_json::from_str(out).ok()?;
    qdiscs
        .as_array()?
        .iter()
        .find(|q| q["kind"] == "tbf")
        .and_then(|q| q["options"]["rate"].as_u64())
        .map(|bytes| bytes * 8)
}

/// The device `dev`'s ingress is redirected to: the ifb the bandwidth plugin shapes egress on.
pub fn redirect_target(dev: &str) -> Read<String> {
    Read {
        argv: argv(&["tc", "filter", "show", "dev", dev, "parent", "ffff:"]),
        parse: parse_redirect_target,
    }
}

fn parse_redirect_target(out: &str) -> Option<String> {
    let (_, after) = out.split_once("to device ")?;
    let dev = after
        .split(|c: char| c == ')' || c.is_whitespace())
        .next()?;
    (!dev.is_empty()).then(|| dev.to_string())
}

/// The MTU of `ifname`, inside `netns` when given.
pub fn mtu(netns: Option<&str>, ifname: &str) -> Read<u64> {
    Read {
        argv: ip(netns, &["-j", "link", "show", "dev", ifname]),
        parse: parse_mtu,
    }
}

fn parse_mtu(out: &str) -> Option<u64> {
    let links: Value = serde_json::from_str(out).ok()?;
    links.get(0)?["mtu"].as_u64()
}

/// Whether the link `name` exists (outside any pod namespace).
pub fn link_exists(name: &str) -> Read<()> {
    Read {
        argv: ip(None, &["link", "show", "dev", name]),
        parse: |_| Some(()),
    }
}

/// A sysctl inside `netns`, read from `/proc/sys` with `cat` (the sysctl binary is not on
/// every node image).
pub fn sysctl(netns: &str, key: &str) -> Read<String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    Read {
        argv: argv(&["ip", "netns", "exec", netns, "cat", &path]),
        parse: |out| Some(out.trim().to_string()),
    }
}

/// The host-side veth in a bridge plugin's result: no `sandbox`, not the bridge (which the
/// plugin lists first).
pub fn host_veth_in_result(result: &Value) -> Option<String> {
    let interfaces = result["interfaces"].as_array()?;
    let bridge = interfaces.first()?["name"].as_str()?;
    interfaces
        .iter()
        .find(|i| i.get("sandbox").is_none() && i["name"] != bridge)
        .and_then(|i| i["name"].as_str())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tbf_rate_is_read_in_bits() {
        let out = r#"[{"kind":"ingress","handle":"ffff:"},{"kind":"tbf","handle":"1:","options":{"rate":1250000,"burst":125000}}]"#;
        assert_eq!(tbf_rate_bits("veth0").parse(out), Some(10_000_000));
        assert_eq!(
            tbf_rate_bits("veth0").parse(r#"[{"kind":"noqueue"}]"#),
            None
        );
        assert_eq!(tbf_rate_bits("veth0").parse("not json"), None);
        assert_eq!(
            tbf_rate_bits("veth0").argv,
            ["tc", "-j", "qdisc", "show", "dev", "veth0"]
        );
    }

    #[test]
    fn redirect_target_is_the_mirred_device() {
        let out = "filter parent ffff: protocol all pref 49152 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 flowid :1 not_in_hw\n  match 00000000/00000000 at 0\n\taction order 1: mirred (Egress Redirect to device bwp0ab12) stolen\n";
        assert_eq!(
            redirect_target("veth0").parse(out).as_deref(),
            Some("bwp0ab12")
        );
        assert_eq!(redirect_target("veth0").parse(""), None);
    }

    #[test]
    fn mtu_reads_the_first_link_inside_the_namespace() {
        let read = mtu(Some("pod1"), "eth0");
        assert_eq!(
            read.argv,
            ["ip", "-n", "pod1", "-j", "link", "show", "dev", "eth0"]
        );
        assert_eq!(read.parse(r#"[{"ifname":"eth0","mtu":1400}]"#), Some(1400));
        assert_eq!(read.parse("[]"), None);
    }

    #[test]
    fn sysctl_reads_proc_sys_inside_the_namespace() {
        let read = sysctl("pod1", "net.ipv4.tcp_keepalive_time");
        assert_eq!(
            read.argv,
            [
                "ip",
                "netns",
                "exec",
                "pod1",
                "cat",
                "/proc/sys/net/ipv4/tcp_keepalive_time"
            ]
        );
        assert_eq!(read.parse("60\n").as_deref(), Some("60"));
    }

    #[test]
    fn host_veth_is_neither_the_bridge_nor_in_the_sandbox() {
        let result = json!({"interfaces": [
            {"name": "cni0"},
            {"name": "veth1234"},
            {"name": "eth0", "sandbox": "/var/run/netns/p"}
        ]});
        assert_eq!(host_veth_in_result(&result).as_deref(), Some("veth1234"));
        assert_eq!(host_veth_in_result(&json!({})), None);
    }
}
