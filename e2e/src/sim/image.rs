//! The edge-node image, built locally (no registry): a root filesystem assembled from the
//! compiled `tether-agent`, `tether-cni` and `tether-node`, the host's CNI plugins and the
//! iproute2/iptables tools the node needs, each with the shared libraries it loads, then
//! `docker build` of a `FROM scratch` Dockerfile over it.

use std::collections::BTreeSet;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::json;

use crate::docker;
use crate::node::{CNI_BIN_DIR, CNI_CONF_DIR, INIT_CONFIG, TETHER_BUNDLE_DIR};

/// Repository of the node image; the tag is a hash of its inputs.
pub const REPOSITORY: &str = "tether-e2e-node";
/// Where Debian's containernetworking-plugins are.
pub const HOST_PLUGIN_DIR: &str = "/usr/lib/cni";
/// The node's agent state, as in the DaemonSet.
pub const STATE_DIR: &str = "/var/lib/tether";
const DOCKERFILE: &str =
    "FROM scratch\nCOPY . /\nENTRYPOINT [\"/usr/local/bin/tether-node\", \"init\"]\n";

/// The compiled tether binaries that go into the image.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `tether-agent`.
    pub agent: PathBuf,
    /// `tether-cni`.
    pub cni: PathBuf,
    /// `tether-node`.
    pub node: PathBuf,
}

/// A file of the image: where it comes from, where it goes.
struct Entry {
    from: PathBuf,
    to: PathBuf,
    strip: bool,
}

fn entries(bins: &Binaries) -> Vec<Entry> {
    let mut entries = vec![
        Entry {
            from: bins.agent.clone(),
            to: format!("{TETHER_BUNDLE_DIR}/tether-agent").into(),
            strip: true,
        },
        Entry {
            from: bins.cni.clone(),
            to: format!("{TETHER_BUNDLE_DIR}/tether-cni").into(),
            strip: true,
        },
        Entry {
            from: bins.node.clone(),
            to: "/usr/local/bin/tether-node".into(),
            strip: true,
        },
        Entry {
            from: "/usr/sbin/ip".into(),
            to: "/usr/sbin/ip".into(),
            strip: false,
        },
        Entry {
            from: "/usr/sbin/tc".into(),
            to: "/usr/sbin/tc".into(),
            strip: false,
        },
        Entry {
            from: "/usr/sbin/xtables-nft-multi".into(),
            to: "/usr/sbin/xtables-nft-multi".into(),
            strip: false,
        },
        Entry {
            from: "/usr/lib/x86_64-linux-gnu/xtables/libxt_standard.so".into(),
            to: "/usr/lib/x86_64-linux-gnu/xtables/libxt_standard.so".into(),
            strip: false,
        },
    ];
    // The agent's image carries the delegates; the node itself has only its main plugins,
    // so install-cni has work to do, as on a kind node.
    for plugin in ["bandwidth", "tuning"] {
        entries.push(Entry {
            from: Path::new(HOST_PLUGIN_DIR).join(plugin),
            to: Path::new(TETHER_BUNDLE_DIR).join(plugin),
            strip: false,
        });
    }
    for plugin in ["bridge", "host-local", "loopback"] {
        entries.push(Entry {
            from: Path::new(HOST_PLUGIN_DIR).join(plugin),
            to: Path::new(CNI_BIN_DIR).join(plugin),
            strip: false,
        });
    }
    entries
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

/// What init runs: install-cni as the DaemonSet's init container, then the agent.
pub fn init_config() -> serde_json::Value {
    let agent = format!("{TETHER_BUNDLE_DIR}/tether-agent");
    json!({
        "before": [[agent, "install-cni", "--source-dir", TETHER_BUNDLE_DIR, "--cni-bin-dir", CNI_BIN_DIR, "--cni-conf-dir", CNI_CONF_DIR]],
        "run": [agent, "run", "--state-dir", STATE_DIR]
    })
}

/// Shared libraries `binary` loads, as `ldd` resolves them on this host.
fn libraries(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .context("running ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // Static binaries make ldd fail with "not a dynamic executable".
        return Ok(Vec::new());
    }
    Ok(text
        .lines()
        .filter_map(|line| line.split_whitespace().find(|w| w.starts_with('/')))
        .map(PathBuf::from)
        .collect())
}

fn copy(from: &Path, root: &Path, to: &Path, strip: bool) -> anyhow::Result<()> {
    let dest = root.join(to.strip_prefix("/").unwrap_or(to));
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    if strip {
        let status = Command::new("objcopy")
            .args(["--strip-debug"])
            .arg(from)
            .arg(&dest)
            .status()
            .context("running objcopy (binutils)")?;
        if !status.success() {
            bail!("objcopy --strip-debug {} failed", from.display());
        }
    } else {
        fs::copy(from, &dest)
            .with_context(|| format!("copying {} to {}", from.display(), dest.display()))?;
    }
    Ok(())
}

/// Writes the node's root filesystem under `root`.
pub fn assemble(bins: &Binaries, root: &Path) -> anyhow::Result<()> {
    let mut libs = BTreeSet::new();
    for entry in entries(bins) {
        if !entry.from.is_file() {
            bail!(
                "{} is missing (install containernetworking-plugins, iproute2 and iptables, and build the workspace)",
                entry.from.display()
            );
        }
        copy(&entry.from, root, &entry.to, entry.strip)?;
        libs.extend(libraries(&entry.from)?);
    }
    for lib in libs {
        // Copy the file a symlink points to, under the name the loader asks for.
        let real =
            fs::canonicalize(&lib).with_context(|| format!("resolving {}", lib.display()))?;
        copy(&real, root, &lib, false)?;
    }
    symlink("xtables-nft-multi", root.join("usr/sbin/iptables")).context("linking iptables")?;
    for dir in [
        "tmp",
        "run",
        "var/lib",
        "var/log",
        "etc/tether-node",
        "etc/cni/net.d",
        "proc",
        "sys",
        "dev",
    ] {
        fs::create_dir_all(root.join(dir)).with_context(|| format!("creating /{dir}"))?;
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))
        .context("chmod /tmp")?;
    symlink("/run", root.join("var/run")).context("linking /var/run")?;
    let conflist = root
        .join(CNI_CONF_DIR.trim_start_matches('/'))
        .join("10-kindnet.conflist");
    fs::write(&conflist, serde_json::to_vec_pretty(&primary_conflist())?)
        .context("writing the conflist")?;
    fs::write(
        root.join(INIT_CONFIG.trim_start_matches('/')),
        serde_json::to_vec_pretty(&init_config())?,
    )
    .context("writing init.json")?;
    fs::write(root.join("Dockerfile"), DOCKERFILE).context("writing the Dockerfile")?;
    Ok(())
}

/// The image tag for these inputs: a hash of every source file's identity (path, size,
/// modification time) and of the generated files, so unchanged inputs reuse the image
/// without assembling anything.
fn input_tag(bins: &Binaries) -> anyhow::Result<String> {
    let mut hasher = DefaultHasher::new();
    for entry in entries(bins) {
        let meta = fs::metadata(&entry.from).with_context(|| {
            format!("{} is missing (install containernetworking-plugins, iproute2 and iptables, and build the workspace)", entry.from.display())
        })?;
        (
            &entry.from,
            &entry.to,
            entry.strip,
            meta.len(),
            meta.modified().ok(),
        )
            .hash(&mut hasher);
    }
    (
        primary_conflist().to_string(),
        init_config().to_string(),
        DOCKERFILE,
    )
        .hash(&mut hasher);
    Ok(format!("{REPOSITORY}:{:016x}", hasher.finish()))
}

/// Builds the image (or finds it already built from the same inputs); its `repo:tag`.
pub fn build(bins: &Binaries, work: &Path) -> anyhow::Result<String> {
    let tag = input_tag(bins)?;
    if docker::docker(&["image", "inspect", "--format", "{{.Id}}", &tag]).is_ok() {
        return Ok(tag);
    }
    let root = work.join("node-rootfs");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    assemble(bins, &root)?;
    let context = root.to_string_lossy();
    let built = docker::docker(&[
        "build",
        "--quiet",
        "--label",
        "tether.e2e=node",
        "-t",
        &tag,
        &context,
    ])
    .with_context(|| format!("building {tag}"));
    let _ = fs::remove_dir_all(&root);
    built.map(|_| tag)
}
