//! Network namespaces a test makes (`ip netns add`) and removes on drop, as a runtime makes
//! one per pod sandbox.

use std::process::Command;

/// Why `ip netns` failed.
#[derive(Debug, thiserror::Error)]
#[error("ip netns {action} {name}: {message}")]
pub struct NetnsError {
    action: &'static str,
    name: String,
    message: String,
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    /// Its name under `/var/run/netns`.
    pub name: String,
}

fn ip_netns(action: &'static str, name: &str) -> Result<(), NetnsError> {
    let out = Command::new("ip")
        .args(["netns", action, name])
        .output()
        .map_err(|e| NetnsError {
            action,
            name: name.to_string(),
            message: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError {
            action,
            name: name.to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

impl Netns {
    /// Creates the namespace `name` (needs root).
    pub fn new(name: impl Into<String>) -> Result<Netns, NetnsError> {
        let name = name.into();
        ip_netns("add", &name)?;
        Ok(Netns { name })
    }

    /// Its path, as a runtime passes it in `CNI_NETNS`.
    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// Deletes it now, as a runtime does when a sandbox dies before DEL.
    pub fn delete(&self) -> Result<(), NetnsError> {
        ip_netns("del", &self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Already gone after delete(); nothing else to report from a destructor.
        let _ = ip_netns("del", &self.name);
    }
}
