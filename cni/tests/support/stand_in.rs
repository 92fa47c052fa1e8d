//! A test's own `CNI_PATH` for tether's delegates: the real `bandwidth` and `tuning`, or shell
//! stand-ins that log how they were called, or that stop and wait to be killed at a chosen
//! point. Nothing in the shipped plugin knows about them: they are found in `CNI_PATH` as any
//! delegate is.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::runtime::PLUGIN_DIR;

/// A directory handed to tether as `CNI_PATH`.
pub struct CniPath {
    dir: PathBuf,
}

/// Where a blocking stand-in stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Before the real plugin runs: it has applied nothing.
    Before,
    /// After the real plugin has applied its work, before it answers.
    After,
}

impl CniPath {
    /// An empty directory `dir`.
    pub fn new(dir: PathBuf) -> CniPath {
        std::fs::create_dir_all(&dir).unwrap();
        CniPath { dir }
    }

    /// The value of `CNI_PATH`.
    pub fn path(&self) -> String {
        self.dir.display().to_string()
    }

    /// `plugin` is the real one.
    pub fn real(&self, plugin: &str) {
        std::os::unix::fs::symlink(Path::new(PLUGIN_DIR).join(plugin), self.dir.join(plugin))
            .unwrap();
    }

    /// `plugin` appends `<CNI_COMMAND> <cniVersion>` to `log`; its DEL fails with a CNI error
    /// when `del_fails`, everything else succeeds without a result.
    pub fn logging(&self, plugin: &str, log: &Path, del_fails: bool) {
        let del = if del_fails {
            r#"if [ "$CNI_COMMAND" = DEL ]; then echo '{"code": 7, "msg": "stand-in refuses DEL"}'; exit 1; fi"#
        } else {
            ""
        };
        self.script(
            plugin,
            &format!(
                "version=$(grep -o '\"cniVersion\":\"[^\"]*\"' | head -n 1 | cut -d '\"' -f 4)\necho \"$CNI_COMMAND $version\" >> '{}'\n{del}\n",
                log.display()
            ),
        );
    }

    /// `plugin` stops at `stop` of its run, writes its pid to `marker` and waits until killed.
    pub fn blocking(&self, plugin: &str, stop: Stop, marker: &Path) {
        let real = match stop {
            Stop::Before => String::new(),
            // Its result is swallowed: tether never gets to read it.
            Stop::After => format!(
                "'{}' > /dev/null || exit 1\n",
                Path::new(PLUGIN_DIR).join(plugin).display()
            ),
        };
        self.script(
            plugin,
            &format!(
                "{real}echo $$ > '{m}.tmp' && mv '{m}.tmp' '{m}'\nexec sleep 3600\n",
                m = marker.display()
            ),
        );
    }

    fn script(&self, plugin: &str, body: &str) {
        let path = self.dir.join(plugin);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// The pid a blocking stand-in wrote to `marker`, once it has, failing the test at `limit`.
pub fn wait_for_marker(marker: &Path, limit: Duration) -> u32 {
    let start = Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(marker)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            start.elapsed() < limit,
            "no stand-in reached {} within {limit:?}",
            marker.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
