//! The edge-node image of the sim backend: `tether-node` as init, the agent's bundle
//! (`tether-agent`, `tether-cni`, `bandwidth`, `tuning`) where install-cni takes it from, the
//! node's own main plugins and kindnet-like conflist, and iproute2/iptables.

use std::path::Path;

use serde_json::json;

use crate::binaries::Binaries;
use crate::image::{self, Entry, ImageSpec};
use crate::node::{CNI_BIN_DIR, CNI_CONF_DIR, INIT_CONFIG, TETHER_BUNDLE_DIR};

/// Repository of the node image.
pub const REPOSITORY: &str = "tether-e2e-node";
/// The node's agent state, as in the DaemonSet.
pub const STATE_DIR: &str = "/var/lib/tether";

/// The node's primary conflist, as kindnet writes it (0.3.1, bridge + host-local).
pub fn primary_conflist() -> serde_json::Value {
    json!({
        "cniVersion": "0.3.1",
        "name": "kindnet",
        "plugins": [{
            "type": "bridge",
            "bridge": "cni0",
            "isGateway": true,
            "ipMasq": false,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "dataDir": "/var/lib/cni/networks"}
        }]
    })
}

/// What init runs: install-cni as the DaemonSet's init container, then the agent.
pub fn init_config() -> serde_json::Value {
    let agent = format!("{TETHER_BUNDLE_DIR}/tether-agent");
    json!({
        "before": [[agent, "install-cni", "--source-dir", TETHER_BUNDLE_DIR, "--cni-bin-dir", CNI_BIN_DIR, "--cni-conf-dir", CNI_CONF_DIR]],
        "run": [agent, "run", "--state-dir", STATE_DIR]
    })
}

/// The node image's contents.
pub fn spec(bins: &Binaries) -> ImageSpec {
    let mut entries = vec![
        Entry::binary(&bins.agent, format!("{TETHER_BUNDLE_DIR}/tether-agent")),
        Entry::binary(&bins.cni, format!("{TETHER_BUNDLE_DIR}/tether-cni")),
        Entry::binary(&bins.node, "/usr/local/bin/tether-node"),
        Entry::copy("/usr/sbin/ip", "/usr/sbin/ip"),
        // kernel reads are the same argv on sim and kind (testkit::kernel): cat reads /proc/sys
        Entry::copy("/usr/bin/cat", "/usr/bin/cat"),
        Entry::copy("/usr/sbin/tc", "/usr/sbin/tc"),
        Entry::copy("/usr/sbin/xtables-nft-multi", "/usr/sbin/xtables-nft-multi"),
        Entry::copy(
            "/usr/lib/x86_64-linux-gnu/xtables/libxt_standard.so",
            "/usr/lib/x86_64-linux-gnu/xtables/libxt_standard.so",
        ),
    ];
    // The agent's image carries the delegates; the node itself has only its main plugins,
    // so install-cni has work to do, as on a kind node.
    for plugin in ["bandwidth", "tuning"] {
        entries.push(Entry::copy(
            Path::new(testkit::cni_runtime::DEBIAN_PLUGIN_DIR).join(plugin),
            Path::new(TETHER_BUNDLE_DIR).join(plugin),
        ));
    }
    for plugin in ["bridge", "host-local", "loopback"] {
        entries.push(Entry::copy(
            Path::new(testkit::cni_runtime::DEBIAN_PLUGIN_DIR).join(plugin),
            Path::new(CNI_BIN_DIR).join(plugin),
        ));
    }
    let dirs = [
        "/tmp", "/run", "/var/lib", "/var/log", "/proc", "/sys", "/dev",
    ];
    ImageSpec {
        repository: REPOSITORY.into(),
        entries,
        files: vec![
            (
                format!("{CNI_CONF_DIR}/10-kindnet.conflist"),
                primary_conflist().to_string(),
            ),
            (INIT_CONFIG.into(), init_config().to_string()),
        ],
        dirs: dirs.iter().map(|d| d.to_string()).collect(),
        links: vec![
            ("/usr/sbin/iptables".into(), "xtables-nft-multi".into()),
            ("/var/run".into(), "/run".into()),
        ],
        dockerfile:
            "FROM scratch\nCOPY . /\nENTRYPOINT [\"/usr/local/bin/tether-node\", \"init\"]\n".into(),
    }
}

/// Builds the node image (or finds it built from the same inputs); its `repo:tag`.
pub fn build(bins: &Binaries, work: &Path) -> anyhow::Result<String> {
    image::build(&spec(bins), work)
}
