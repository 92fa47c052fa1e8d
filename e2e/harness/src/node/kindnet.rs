//! The node's main CNI plugin configuration, as kindnetd manages it on a kind node: written
//! from its template when the node starts, and written again from the template whenever
//! kindnetd restarts — which drops whatever another installer (tether's install-cni) put in
//! it. `tether-node cni rewrite` does that on request, so a scenario can.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::CNI_CONF_DIR;

/// The conflist's file name, kindnet's.
pub const CONFLIST: &str = "10-kindnet.conflist";
/// The template the node writes it from.
pub const TEMPLATE: &str = "/etc/tether-node/10-kindnet.conflist.template";

/// Where the conflist lives.
pub fn conflist_path() -> PathBuf {
    Path::new(CNI_CONF_DIR).join(CONFLIST)
}

/// Writes the conflist from `template` into `conf_dir`, replacing it atomically (a temporary
/// file renamed over it, so the runtime never reads half a file); its path.
pub fn write(template: &Path, conf_dir: &Path) -> anyhow::Result<PathBuf> {
    let content = fs::read(template).with_context(|| format!("reading {}", template.display()))?;
    serde_json::from_slice::<serde_json::Value>(&content)
        .with_context(|| format!("{} is not JSON", template.display()))?;
    fs::create_dir_all(conf_dir).with_context(|| format!("creating {}", conf_dir.display()))?;
    let path = conf_dir.join(CONFLIST);
    let temporary = conf_dir.join(format!(".{CONFLIST}.tmp"));
    fs::write(&temporary, &content).with_context(|| format!("writing {}", temporary.display()))?;
    fs::rename(&temporary, &path).with_context(|| format!("replacing {}", path.display()))?;
    println!(
        "tether-node: wrote {} from {}",
        path.display(),
        template.display()
    );
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_replaces_what_was_inserted_and_refuses_a_broken_template() {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("template");
        let conf = dir.path().join("net.d");
        fs::write(&template, br#"{"plugins": [{"type": "bridge"}]}"#).unwrap();
        let path = write(&template, &conf).unwrap();
        fs::write(
            &path,
            br#"{"plugins": [{"type": "bridge"}, {"type": "tether"}]}"#,
        )
        .unwrap();
        write(&template, &conf).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            r#"{"plugins": [{"type": "bridge"}]}"#
        );
        fs::write(&template, b"{").unwrap();
        assert!(write(&template, &conf).is_err());
        assert_eq!(
            fs::read_dir(&conf).unwrap().count(),
            1,
            "no temporary file left"
        );
    }
}
