//! What a node's init fixes in its container before containerd can run pods, as kind's
//! entrypoint does for a kind node: Docker mounts the cgroup controllers and `/proc/sys`
//! read-only, but runc creates a cgroup per container and the `tuning` plugin writes
//! sysctls in pod namespaces. Each is remounted read-write (`mount -o remount,bind,rw`).
//! The container has its own cgroup namespace, so what runc creates lives under the node's
//! cgroup and goes with the container.

use std::fs;

use anyhow::Context;
use rustix::mount::{MountFlags, mount_remount};

/// One line of `/proc/self/mountinfo`: the mount point, its per-mount options and the
/// filesystem type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted.
    pub point: String,
    /// Per-mount options (`ro`, `nosuid`, …).
    pub options: Vec<String>,
    /// Filesystem type (`cgroup`, `cgroup2`, `proc`, …).
    pub fstype: String,
}

impl Mount {
    fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

/// Parses `/proc/self/mountinfo` (proc(5)); lines it cannot read are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            Some(Mount {
                point: fields.get(4)?.replace("\\040", " "),
                options: fields.get(5)?.split(',').map(str::to_string).collect(),
                fstype: fields.get(sep + 1)?.to_string(),
            })
        })
        .collect()
}

/// The read-only mounts runc and the CNI plugins need to write to: cgroup hierarchies under
/// `/sys/fs/cgroup` and `/proc/sys`.
pub fn to_remount(mounts: &[Mount]) -> Vec<&Mount> {
    mounts
        .iter()
        .filter(|m| m.read_only())
        .filter(|m| {
            let cgroup = (m.fstype == "cgroup" || m.fstype == "cgroup2")
                && m.point.starts_with("/sys/fs/cgroup");
            cgroup || m.point == "/proc/sys"
        })
        .collect()
}

/// Remounts what [`to_remount`] names read-write, keeping `nosuid`, `nodev`, `noexec`.
pub fn prepare() -> anyhow::Result<()> {
    let text = fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    let mounts = parse_mountinfo(&text);
    for mount in to_remount(&mounts) {
        let mut flags = MountFlags::BIND;
        for (option, flag) in [
            ("nosuid", MountFlags::NOSUID),
            ("nodev", MountFlags::NODEV),
            ("noexec", MountFlags::NOEXEC),
        ] {
            if mount.options.iter().any(|o| o == option) {
                flags |= flag;
            }
        }
        mount_remount(mount.point.as_str(), flags, "")
            .with_context(|| format!("remounting {} read-write", mount.point))?;
        println!("tether-node: {} remounted read-write", mount.point);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured in a node container on a cgroup v1 host.
    const MOUNTINFO: &str = "\
73 72 0:42 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
77 76 0:46 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
81 77 0:32 / /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
86 77 0:37 / /sys/fs/cgroup/systemd ro,nosuid,nodev,noexec,relatime - cgroup systemd rw,name=systemd
52 73 0:42 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
53 73 0:42 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw
";

    #[test]
    fn cgroup_controllers_and_proc_sys_are_remounted_nothing_else() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 6);
        let points: Vec<&str> = to_remount(&mounts)
            .iter()
            .map(|m| m.point.as_str())
            .collect();
        assert_eq!(
            points,
            [
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/systemd",
                "/proc/sys"
            ]
        );
    }

    #[test]
    fn garbage_lines_are_skipped() {
        assert!(parse_mountinfo("nonsense\n\n1 2 3").is_empty());
    }
}
