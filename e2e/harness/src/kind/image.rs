//! tether's DaemonSet image for the kind backend, built from the compiled binaries when the
//! Nix-built image (`nix build .#image`) is not loaded: `tether-agent` on PATH (the DaemonSet
//! runs `tether-agent run` and `tether-agent install-cni`), and what install-cni copies to the
//! node under `/opt/tether/bin`.

use std::path::Path;

use crate::binaries::Binaries;
use crate::image::{self, Entry, ImageSpec};
use testkit::cni_runtime::DEBIAN_PLUGIN_DIR as HOST_PLUGIN_DIR;

/// Repository of the image built from cargo's binaries.
pub const REPOSITORY: &str = "tether-e2e-agent";
/// Where install-cni takes the plugins from (`TETHER_PLUGIN_SOURCE_DIR` in deploy/).
pub const BUNDLE_DIR: &str = "/opt/tether/bin";

/// The image's contents.
pub fn spec(bins: &Binaries) -> ImageSpec {
    let mut entries = vec![
        Entry::binary(&bins.agent, "/usr/local/bin/tether-agent"),
        Entry::binary(&bins.cni, format!("{BUNDLE_DIR}/tether-cni")),
    ];
    for plugin in ["bandwidth", "tuning"] {
        entries.push(Entry::copy(
            Path::new(HOST_PLUGIN_DIR).join(plugin),
            Path::new(BUNDLE_DIR).join(plugin),
        ));
    }
    ImageSpec {
        repository: REPOSITORY.into(),
        entries,
        files: Vec::new(),
        dirs: vec!["/tmp".into(), "/run/tether".into(), "/var/lib/tether".into()],
        links: Vec::new(),
        dockerfile: "FROM scratch\nCOPY . /\nENV PATH=/usr/local/bin:/usr/bin:/bin\nCMD [\"tether-agent\", \"--help\"]\n".into(),
    }
}

/// Builds the image (or finds it built from the same inputs); its `repo:tag`.
pub fn build(bins: &Binaries, work: &Path) -> anyhow::Result<String> {
    image::build(&spec(bins), work)
}
