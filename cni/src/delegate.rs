//! Delegation to the standard `bandwidth` and `tuning` plugins: what to hand them for a
//! profile, and running them from `CNI_PATH` as a runtime would.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{CniError, Code};
use crate::invocation::Command;
use crate::plugin_run::run_to_end;
use crate::protocol::AddResponse;
use crate::spec::CniVersion;

/// The delegate that shapes traffic on the host-side veth and an ifb device.
pub const BANDWIDTH: &str = "bandwidth";
/// The delegate that sets the MTU and sysctls inside the pod's namespace.
pub const TUNING: &str = "tuning";

/// One delegate plugin and its own configuration keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delegate {
    /// Plugin type, found as a binary of that name in `CNI_PATH`.
    pub plugin: String,
    /// Keys of its configuration besides `cniVersion`, `name`, `type` and `prevResult`.
    pub conf: Map<String, Value>,
}

/// The delegates that apply `answer`, in ADD order: shaping first, then the interface.
pub fn plan(answer: &AddResponse) -> Vec<Delegate> {
    let mut delegates = Vec::new();
    if let Some(bw) = &answer.bandwidth {
        let keys = [
            ("ingressRate", bw.ingress_rate),
            ("ingressBurst", bw.ingress_burst),
            ("egressRate", bw.egress_rate),
            ("egressBurst", bw.egress_burst),
        ];
        let conf: Map<String, Value> = keys
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.into())))
            .collect();
        if !conf.is_empty() {
            delegates.push(Delegate {
                plugin: BANDWIDTH.into(),
                conf,
            });
        }
    }
    if answer.mtu.is_some() || !answer.sysctls.is_empty() {
        let mut conf = Map::new();
        if let Some(mtu) = answer.mtu {
            conf.insert("mtu".into(), mtu.into());
        }
        if !answer.sysctls.is_empty() {
            conf.insert("sysctl".into(), json!(answer.sysctls));
        }
        delegates.push(Delegate {
            plugin: TUNING.into(),
            conf,
        });
    }
    delegates
}

/// The version delegates are run at for a configuration of `version`. Their ADD, DEL and
/// CHECK are the same at 1.0.0 and 1.1.0, and plugins older than v1.5 (Debian ships v1.1.1)
/// reject 1.1.0, so 1.1.0 is lowered to 1.0.0.
pub fn delegate_version(version: CniVersion) -> CniVersion {
    version.min(CniVersion::V1_0_0)
}

/// How to run delegates for one invocation.
#[derive(Debug, Clone)]
pub struct Runner<'a> {
    /// Directories searched for plugins (`CNI_PATH`).
    pub cni_path: &'a [PathBuf],
    /// Network name handed on.
    pub network: &'a str,
    /// `CNI_CONTAINERID`, or `None` for GC.
    pub container_id: Option<&'a str>,
    /// `CNI_IFNAME`, or `None` for GC.
    pub ifname: Option<&'a str>,
    /// `CNI_NETNS`, when there is one.
    pub netns: Option<&'a Path>,
    /// `CNI_ARGS`, handed on unchanged.
    pub cni_args: &'a str,
}

impl Runner<'_> {
    /// Finds `plugin` in `CNI_PATH`.
    pub fn find(&self, plugin: &str) -> Result<PathBuf, CniError> {
        self.cni_path
            .iter()
            .map(|dir| dir.join(plugin))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                let path = self
                    .cni_path
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":");
                CniError::new(
                    Code::DelegateNotFound,
                    format!("delegate plugin {plugin:?} not found"),
                )
                .with_details(format!(
                    "searched CNI_PATH={path}; install the containernetworking plugins there"
                ))
            })
    }

    /// Runs `command` of `delegate` at `version`; returns the result it printed, if any.
    pub fn run(
        &self,
        command: Command,
        version: CniVersion,
        delegate: &Delegate,
        prev_result: Option<&Value>,
        extra: Option<(&str, Value)>,
    ) -> Result<Option<Value>, CniError> {
        let binary = self.find(&delegate.plugin)?;
        let mut conf = delegate.conf.clone();
        conf.insert("cniVersion".into(), version.as_str().into());
        conf.insert("name".into(), self.network.into());
        conf.insert("type".into(), delegate.plugin.clone().into());
        if let Some(prev) = prev_result {
            conf.insert("prevResult".into(), prev.clone());
        }
        if let Some((key, value)) = extra {
            conf.insert(key.into(), value);
        }
        let stdin = serde_json::to_vec(&conf).unwrap_or_default();
        let mut process = Process::new(&binary);
        process
            .env("CNI_COMMAND", command.as_str())
            .env(
                "CNI_PATH",
                std::env::join_paths(self.cni_path).unwrap_or_default(),
            )
            .env("CNI_ARGS", self.cni_args);
        for (var, value) in [
            ("CNI_CONTAINERID", self.container_id),
            ("CNI_IFNAME", self.ifname),
        ] {
            match value {
                Some(v) => process.env(var, v),
                None => process.env_remove(var),
            };
        }
        match self.netns {
            Some(ns) => process.env("CNI_NETNS", ns),
            None => process.env_remove("CNI_NETNS"),
        };
        let output = run_to_end(&mut process, &stdin).map_err(|e| cannot_run(&binary, &e))?;
        let who = format!("{} {}", delegate.plugin, command.as_str());
        if !output.status.success() {
            return Err(delegate_failure(
                &who,
                &output.stdout,
                &output.stderr,
                output.status,
            ));
        }
        if command != Command::Add {
            return Ok(None);
        }
        serde_json::from_slice(&output.stdout)
            .map(Some)
            .map_err(|e| {
                CniError::new(Code::Decode, format!("{who} printed no result")).with_details(
                    format!(
                        "{e}; stdout: {}",
                        String::from_utf8_lossy(&output.stdout).trim()
                    ),
                )
            })
    }

    /// The versions `plugin` supports, from its VERSION command.
    pub fn supported_versions(&self, plugin: &str) -> Result<Vec<String>, CniError> {
        #[derive(Deserialize)]
        struct VersionInfo {
            #[serde(rename = "supportedVersions")]
            supported_versions: Vec<String>,
        }
        let binary = self.find(plugin)?;
        let output = run_to_end(Process::new(&binary).env("CNI_COMMAND", "VERSION"), b"")
            .map_err(|e| cannot_run(&binary, &e))?;
        let info: VersionInfo = serde_json::from_slice(&output.stdout).map_err(|e| {
            CniError::new(
                Code::Decode,
                format!("{plugin} VERSION printed no version info"),
            )
            .with_details(e.to_string())
        })?;
        Ok(info.supported_versions)
    }
}

fn cannot_run(binary: &Path, e: &std::io::Error) -> CniError {
    CniError::new(
        Code::DelegateFailed,
        format!("cannot run delegate {}", binary.display()),
    )
    .with_details(e.to_string())
}

/// The delegate's own error, passed through with its code, or a description of the failure.
fn delegate_failure(
    who: &str,
    stdout: &[u8],
    stderr: &[u8],
    status: std::process::ExitStatus,
) -> CniError {
    #[derive(Deserialize)]
    struct Wire {
        code: u32,
        msg: String,
        #[serde(default)]
        details: String,
    }
    match serde_json::from_slice::<Wire>(stdout) {
        Ok(wire) => CniError::new(Code::Other(wire.code), format!("{who}: {}", wire.msg))
            .with_details(wire.details),
        Err(_) => CniError::new(Code::DelegateFailed, format!("{who} failed ({status})"))
            .with_details(format!(
                "stdout: {}; stderr: {}",
                String::from_utf8_lossy(stdout).trim(),
                String::from_utf8_lossy(stderr).trim()
            )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::protocol::{Bandwidth, ProfileRef, Source};

    fn answer() -> AddResponse {
        AddResponse {
            profile: Some(ProfileRef {
                name: "camera".into(),
                generation: 4,
            }),
            bandwidth: Some(Bandwidth {
                ingress_rate: Some(10_000_000),
                ingress_burst: Some(1_000_000),
                egress_rate: None,
                egress_burst: None,
            }),
            mtu: Some(1400),
            sysctls: BTreeMap::from([("net.ipv4.tcp_keepalive_time".into(), "60".into())]),
            source: Source::Live,
        }
    }

    #[test]
    fn a_full_profile_becomes_bandwidth_then_tuning() {
        let plan = plan(&answer());
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].plugin, "bandwidth");
        assert_eq!(
            Value::Object(plan[0].conf.clone()),
            json!({"ingressRate": 10_000_000, "ingressBurst": 1_000_000})
        );
        assert_eq!(plan[1].plugin, "tuning");
        assert_eq!(
            Value::Object(plan[1].conf.clone()),
            json!({"mtu": 1400, "sysctl": {"net.ipv4.tcp_keepalive_time": "60"}})
        );
    }

    #[test]
    fn only_what_the_profile_sets_is_delegated() {
        let mut only_mtu = answer();
        only_mtu.bandwidth = None;
        only_mtu.sysctls.clear();
        let plan = plan(&only_mtu);
        assert_eq!(plan.len(), 1);
        assert_eq!(Value::Object(plan[0].conf.clone()), json!({"mtu": 1400}));
        assert!(super::plan(&AddResponse::default()).is_empty());
    }

    #[test]
    fn delegates_never_see_1_1_0() {
        assert_eq!(delegate_version(CniVersion::V1_1_0), CniVersion::V1_0_0);
        assert_eq!(delegate_version(CniVersion::V0_3_1), CniVersion::V0_3_1);
    }

    #[test]
    fn delegate_errors_keep_their_code() {
        let status = Process::new("false").status().unwrap();
        let err = delegate_failure(
            "tuning ADD",
            br#"{"code": 7, "msg": "bad sysctl", "details": "x"}"#,
            b"",
            status,
        );
        assert_eq!(
            (err.code, err.msg.as_str(), err.details.as_str()),
            (Code::Other(7), "tuning ADD: bad sysctl", "x")
        );
        let err = delegate_failure("tuning ADD", b"panic", b"goroutine 1", status);
        assert_eq!(err.code, Code::DelegateFailed);
        assert!(err.details.contains("goroutine 1"));
    }
}
