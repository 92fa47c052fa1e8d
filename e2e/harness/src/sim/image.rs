//! The edge-node image of the sim backend: `tether-node` as init and kubelet double;
//! containerd, its runc shim and runc from the host's Debian packages with a CRI
//! configuration like kind's; the pause and app images as a docker-archive containerd
//! imports at start; the agent's bundle (`tether-agent`, `tether-cni`, `bandwidth`,
//! `tuning`) where install-cni takes it from; the node's own main plugins and kindnet-like
//! conflist template; and iproute2/iptables.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;

use crate::binaries::Binaries;
use crate::image::{self, ArchiveSpec, Entry, ImageSpec};
use crate::node::{
    APP_IMAGE, CNI_BIN_DIR, CNI_CONF_DIR, CONTAINERD_CONFIG, CONTAINERD_SOCKET, IMAGES_ARCHIVE,
    INIT_CONFIG, INSTALL_CNI_SERVICE, PAUSE_IMAGE, POD_LOG_DIR, TETHER_BUNDLE_DIR,
    YURTHUB_CACHE_DIR, YURTHUB_CERT, YURTHUB_IP, YURTHUB_KEY, YURTHUB_KUBECONFIG, YURTHUB_PORT,
    YURTHUB_PROBE_INTERVAL, YURTHUB_PROBE_INTERVAL_ENV, YURTHUB_SERVICE, kindnet,
};

/// Repository of the node image.
pub const REPOSITORY: &str = "tether-e2e-node";
/// The node's agent state, as in the DaemonSet.
pub const STATE_DIR: &str = "/var/lib/tether";

/// containerd's configuration (v2 format, which containerd 1.6 reads), after kind's
/// `images/base/files/etc/containerd/config.toml`: the CRI plugin with runc through the v2
/// shim, the overlayfs snapshotter, the sandbox image kind names, the CNI directories of a
/// kind node. `restrict_oom_score_adj` because the node's root cannot lower a process's OOM
/// score (no CAP_SYS_RESOURCE in a container), as kind sets it for rootless nodes.
pub fn containerd_config() -> String {
    format!(
        r#"version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "{CONTAINERD_SOCKET}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  tolerate_missing_hugepages_controller = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{CNI_CONF_DIR}"
"#
    )
}

/// The pause and app images: one do-nothing program under two names.
pub fn pod_images(bins: &Binaries) -> anyhow::Result<ArchiveSpec> {
    // tether-pause is built with the other binaries of the e2e crate, beside tether-node.
    let pause: PathBuf = bins
        .node
        .parent()
        .context("tether-node has no directory")?
        .join("tether-pause");
    Ok(ArchiveSpec {
        repo_tags: vec![PAUSE_IMAGE.into(), APP_IMAGE.into()],
        entries: vec![Entry::binary(pause, "/pause")],
        entrypoint: vec!["/pause".into()],
    })
}

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

/// What init runs: yurthub (a sidecar named [`YURTHUB_SERVICE`], up once it accepts
/// connections), then the DaemonSet's pod (deploy/daemonset.yaml): install-cni as a native
/// sidecar that keeps tether chained (`--watch`), started once `--check` passes, then the
/// agent.
pub fn init_config() -> anyhow::Result<serde_json::Value> {
    let agent = format!("{TETHER_BUNDLE_DIR}/tether-agent");
    let dirs = [
        "--source-dir",
        TETHER_BUNDLE_DIR,
        "--cni-bin-dir",
        CNI_BIN_DIR,
        "--cni-conf-dir",
        CNI_CONF_DIR,
    ];
    let install = |mode: &str| {
        let mut argv = vec![agent.clone(), "install-cni".into(), mode.into()];
        argv.extend(dirs.iter().map(|d| d.to_string()));
        argv
    };
    let listen = format!("{YURTHUB_IP}:{YURTHUB_PORT}");
    // yurthub in the node's API path, as OpenYurt's node-servant installs it: its address,
    // then the double itself (`--node` from NODE_NAME), with the kubelet's identity for its
    // lease probe, as yurthub uses the node's certificate. Real yurthub puts the address on a
    // dummy interface; the hosts here have no `dummy` module, so it goes on the node's
    // loopback, which is just as local to the node and as unaffected by a cut.
    let address = format!("{YURTHUB_IP}/32");
    let yurthub = vec![
        "/usr/local/bin/tether-sim".to_string(),
        "yurthub".into(),
        "--kubeconfig".into(),
        YURTHUB_KUBECONFIG.into(),
        "--listen".into(),
        listen.clone(),
        "--cache-dir".into(),
        YURTHUB_CACHE_DIR.into(),
        "--tls-cert".into(),
        YURTHUB_CERT.into(),
        "--tls-key".into(),
        YURTHUB_KEY.into(),
        "--probe-interval".into(),
        yurthub_probe_interval()?,
    ];
    let yurthub_up = vec!["tether-node".to_string(), "probe-tcp".into(), listen];
    Ok(json!({
        "before": [["ip", "addr", "add", &address, "dev", "lo"]],
        "sidecars": [
            {"name": YURTHUB_SERVICE, "run": yurthub, "check": yurthub_up},
            {"name": INSTALL_CNI_SERVICE, "run": install("--watch"), "check": install("--check")},
        ],
        "run": [agent, "run", "--state-dir", STATE_DIR]
    }))
}

/// yurthub's probe interval: [`YURTHUB_PROBE_INTERVAL`], or [`YURTHUB_PROBE_INTERVAL_ENV`]
/// when set: a number and a unit, as the double's `--probe-interval` takes it.
fn yurthub_probe_interval() -> anyhow::Result<String> {
    let Some(value) = std::env::var(YURTHUB_PROBE_INTERVAL_ENV)
        .ok()
        .filter(|v| !v.is_empty())
    else {
        return Ok(YURTHUB_PROBE_INTERVAL.to_string());
    };
    let unit = value.trim_start_matches(|c: char| c.is_ascii_digit());
    if unit.len() == value.len() || !["ms", "s", "m"].contains(&unit) {
        anyhow::bail!("{YURTHUB_PROBE_INTERVAL_ENV}={value:?}: expected e.g. 10s, 500ms or 1m");
    }
    Ok(value)
}

/// The node image's contents, with the pod images' archive written under `archives`.
pub fn spec(bins: &Binaries, archives: &Path) -> anyhow::Result<ImageSpec> {
    let pod_images = image::archive(&pod_images(bins)?, archives)?;
    let mut entries = vec![
        Entry::copy(pod_images, IMAGES_ARCHIVE),
        Entry::copy("/usr/bin/containerd", "/usr/bin/containerd"),
        Entry::copy(
            "/usr/bin/containerd-shim-runc-v2",
            "/usr/bin/containerd-shim-runc-v2",
        ),
        Entry::copy("/usr/bin/ctr", "/usr/bin/ctr"),
        Entry::copy("/usr/sbin/runc", "/usr/sbin/runc"),
        Entry::binary(&bins.agent, format!("{TETHER_BUNDLE_DIR}/tether-agent")),
        Entry::binary(&bins.cni, format!("{TETHER_BUNDLE_DIR}/tether-cni")),
        Entry::binary(&bins.node, "/usr/local/bin/tether-node"),
        Entry::binary(&bins.sim, "/usr/local/bin/tether-sim"),
        Entry::copy("/usr/sbin/ip", "/usr/sbin/ip"),
        // kernel reads are the same argv on sim and kind (testkit::kernel): cat reads /proc/sys
        Entry::copy("/usr/bin/cat", "/usr/bin/cat"),
        // ... and stat tells a rewritten conflist by its inode (the chain scenario), as on kind
        Entry::copy("/usr/bin/stat", "/usr/bin/stat"),
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
        "/tmp",
        "/run",
        "/var/lib",
        "/var/log",
        POD_LOG_DIR,
        CNI_CONF_DIR,
        "/proc",
        "/sys",
        "/dev",
    ];
    Ok(ImageSpec {
        repository: REPOSITORY.into(),
        entries,
        files: vec![
            (kindnet::TEMPLATE.into(), primary_conflist().to_string()),
            (INIT_CONFIG.into(), init_config()?.to_string()),
            (CONTAINERD_CONFIG.into(), containerd_config()),
        ],
        dirs: dirs.iter().map(|d| d.to_string()).collect(),
        links: vec![
            ("/usr/sbin/iptables".into(), "xtables-nft-multi".into()),
            ("/var/run".into(), "/run".into()),
        ],
        dockerfile:
            "FROM scratch\nCOPY . /\nENV PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin\nENTRYPOINT [\"/usr/local/bin/tether-node\", \"init\"]\n".into(),
    })
}

/// Builds the node image (or finds it built from the same inputs); its `repo:tag`. The pod
/// images' archive is kept beside the binaries, so an unchanged build reuses it, and the
/// node image with it.
pub fn build(bins: &Binaries, work: &Path) -> anyhow::Result<String> {
    let archives = bins
        .node
        .parent()
        .context("tether-node has no directory")?
        .join("tether-e2e-images");
    image::build(&spec(bins, &archives)?, work)
}
