//! The network configuration `tether-cni` reads on stdin: its own keys (DESIGN.md, "tether-cni
//! configuration") plus what the runtime adds (`cniVersion`, `name`, `prevResult`, GC's
//! `cni.dev/valid-attachments`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{CniError, Code};
use crate::protocol::DEFAULT_SOCKET;
use crate::spec::CniVersion;

/// Largest configuration accepted on stdin; a runtime never sends anything near it.
pub const MAX_STDIN_BYTES: usize = 1 << 20;
/// Default state directory of the plugin.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/tether/cni";
/// Default deadline for the agent's answer.
pub const DEFAULT_AGENT_TIMEOUT_MS: u64 = 2000;
/// Longest deadline accepted; kubelet's own CNI deadline is in this range.
pub const MAX_AGENT_TIMEOUT_MS: u64 = 60_000;

/// What to do when the agent cannot answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Bring the pod up without a profile and say so on stderr.
    #[default]
    Ignore,
    /// Fail the command with code 11 so the runtime tries again.
    Fail,
}

/// One `{containerID, ifname}` entry of `cni.dev/valid-attachments`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
pub struct Attachment {
    /// Container ID of a live attachment.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// Interface name of that attachment.
    pub ifname: String,
}

/// The parsed network configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    /// `cniVersion`, which every answer uses.
    pub cni_version: CniVersion,
    /// `name` of the network, handed on to delegates.
    pub name: String,
    /// `agentSocket`.
    pub agent_socket: PathBuf,
    /// `agentTimeoutMs`.
    pub agent_timeout: Duration,
    /// `failurePolicy`.
    pub failure_policy: FailurePolicy,
    /// `stateDir`.
    pub state_dir: PathBuf,
    /// `prevResult`, as the previous plugin wrote it.
    pub prev_result: Option<Value>,
    /// `cni.dev/valid-attachments` (GC only).
    pub valid_attachments: Option<Vec<Attachment>>,
}

/// Reads one key, naming it when its value has the wrong type.
fn field<T: DeserializeOwned>(obj: &Map<String, Value>, key: &str) -> Result<Option<T>, CniError> {
    obj.get(key)
        .filter(|v| !v.is_null())
        .map(|v| {
            T::deserialize(v).map_err(|e| {
                CniError::new(
                    Code::Decode,
                    format!("network configuration key {key:?} is invalid"),
                )
                .with_details(e.to_string())
            })
        })
        .transpose()
}

impl NetConf {
    /// Parses stdin. Keys tether does not know are ignored, as every CNI plugin does, because
    /// runtimes add their own (`runtimeConfig`, `args`, ...).
    pub fn parse(stdin: &[u8]) -> Result<Self, CniError> {
        if stdin.len() > MAX_STDIN_BYTES {
            return Err(
                CniError::new(Code::Decode, "network configuration too large")
                    .with_details(format!("stdin has more than {MAX_STDIN_BYTES} bytes")),
            );
        }
        let obj: Map<String, Value> = serde_json::from_slice(stdin).map_err(|e| {
            CniError::new(
                Code::Decode,
                "cannot decode the network configuration on stdin",
            )
            .with_details(e.to_string())
        })?;
        let version: String = field(&obj, "cniVersion")?.ok_or_else(|| {
            CniError::new(Code::Decode, "network configuration has no cniVersion")
                .with_details(format!("tether supports {}", supported_list()))
        })?;
        let cni_version = CniVersion::parse(&version).ok_or_else(|| {
            CniError::new(Code::IncompatibleVersion, "unsupported cniVersion").with_details(
                format!(
                    "cniVersion {version:?}; tether supports {}",
                    supported_list()
                ),
            )
        })?;
        let invalid = |details: String| {
            CniError::new(Code::InvalidConfig, "invalid network configuration")
                .with_details(details)
        };
        let name = match field::<String>(&obj, "name")? {
            Some(name) if !name.is_empty() => name,
            _ => return Err(invalid("\"name\" is required".into())),
        };
        let agent_socket =
            field::<PathBuf>(&obj, "agentSocket")?.unwrap_or_else(|| DEFAULT_SOCKET.into());
        if !agent_socket.is_absolute() {
            return Err(invalid(format!(
                "agentSocket {agent_socket:?} is not an absolute path"
            )));
        }
        let timeout_ms = field(&obj, "agentTimeoutMs")?.unwrap_or(DEFAULT_AGENT_TIMEOUT_MS);
        if !(1..=MAX_AGENT_TIMEOUT_MS).contains(&timeout_ms) {
            return Err(invalid(format!(
                "agentTimeoutMs {timeout_ms} is outside 1..={MAX_AGENT_TIMEOUT_MS}"
            )));
        }
        let state_dir =
            field::<PathBuf>(&obj, "stateDir")?.unwrap_or_else(|| DEFAULT_STATE_DIR.into());
        if !state_dir.is_absolute() {
            return Err(invalid(format!(
                "stateDir {state_dir:?} is not an absolute path"
            )));
        }
        Ok(NetConf {
            cni_version,
            name,
            agent_socket,
            agent_timeout: Duration::from_millis(timeout_ms),
            failure_policy: field(&obj, "failurePolicy")?.unwrap_or_default(),
            state_dir,
            prev_result: obj.get("prevResult").filter(|v| !v.is_null()).cloned(),
            valid_attachments: field(&obj, "cni.dev/valid-attachments")?,
        })
    }

    /// Reads only `cniVersion`, to answer a configuration that fails to parse in its version.
    pub fn sniff_version(stdin: &[u8]) -> Option<CniVersion> {
        #[derive(Deserialize)]
        struct Sniff {
            #[serde(rename = "cniVersion")]
            cni_version: String,
        }
        let sniff: Sniff = serde_json::from_slice(stdin).ok()?;
        CniVersion::parse(&sniff.cni_version)
    }
}

fn supported_list() -> String {
    CniVersion::ALL.map(CniVersion::as_str).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<NetConf, CniError> {
        NetConf::parse(s.as_bytes())
    }

    #[test]
    fn defaults_fill_every_optional_key() {
        let conf =
            parse(r#"{"cniVersion": "0.3.1", "name": "kindnet", "type": "tether"}"#).unwrap();
        assert_eq!(conf.cni_version, CniVersion::V0_3_1);
        assert_eq!(conf.agent_socket, PathBuf::from("/run/tether/agent.sock"));
        assert_eq!(conf.agent_timeout, Duration::from_secs(2));
        assert_eq!(conf.failure_policy, FailurePolicy::Ignore);
        assert_eq!(conf.state_dir, PathBuf::from("/var/lib/tether/cni"));
        assert_eq!(conf.prev_result, None);
    }

    #[test]
    fn every_key_is_read() {
        let conf = parse(
            r#"{"cniVersion": "1.1.0", "name": "n", "type": "tether", "agentSocket": "/tmp/a.sock",
                "agentTimeoutMs": 150, "failurePolicy": "fail", "stateDir": "/tmp/st",
                "prevResult": {"cniVersion": "1.1.0"}, "runtimeConfig": {"x": 1},
                "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}]}"#,
        )
        .unwrap();
        assert_eq!(conf.agent_socket, PathBuf::from("/tmp/a.sock"));
        assert_eq!(conf.agent_timeout, Duration::from_millis(150));
        assert_eq!(conf.failure_policy, FailurePolicy::Fail);
        assert_eq!(conf.state_dir, PathBuf::from("/tmp/st"));
        assert!(conf.prev_result.is_some());
        let valid = conf.valid_attachments.unwrap();
        assert_eq!(
            valid,
            vec![Attachment {
                container_id: "c1".into(),
                ifname: "eth0".into()
            }]
        );
    }

    #[test]
    fn errors_carry_the_spec_code_and_name_the_key() {
        let cases = [
            ("not json", Code::Decode, "expected"),
            (r#"{"name": "n"}"#, Code::Decode, "cniVersion"),
            (
                r#"{"cniVersion": "0.2.0", "name": "n"}"#,
                Code::IncompatibleVersion,
                "0.2.0",
            ),
            (r#"{"cniVersion": "1.0.0"}"#, Code::InvalidConfig, "name"),
            (
                r#"{"cniVersion": "1.0.0", "name": "n", "agentSocket": "rel.sock"}"#,
                Code::InvalidConfig,
                "agentSocket",
            ),
            (
                r#"{"cniVersion": "1.0.0", "name": "n", "agentTimeoutMs": 0}"#,
                Code::InvalidConfig,
                "agentTimeoutMs",
            ),
            (
                r#"{"cniVersion": "1.0.0", "name": "n", "agentTimeoutMs": -5}"#,
                Code::Decode,
                "agentTimeoutMs",
            ),
            (
                r#"{"cniVersion": "1.0.0", "name": "n", "failurePolicy": "retry"}"#,
                Code::Decode,
                "retry",
            ),
            (
                r#"{"cniVersion": "1.0.0", "name": "n", "stateDir": "state"}"#,
                Code::InvalidConfig,
                "stateDir",
            ),
        ];
        for (input, code, mentions) in cases {
            let err = parse(input).unwrap_err();
            assert_eq!(err.code, code, "{input}: {err}");
            assert!(err.to_string().contains(mentions), "{input}: {err}");
        }
    }

    #[test]
    fn oversized_stdin_is_refused_before_parsing() {
        let mut big = br#"{"cniVersion": "1.0.0", "name": "n", "pad": ""#.to_vec();
        big.resize(MAX_STDIN_BYTES + 1, b' ');
        let err = NetConf::parse(&big).unwrap_err();
        assert_eq!(err.code, Code::Decode);
        assert!(err.details.contains("1048576"));
    }

    #[test]
    fn version_is_sniffed_from_otherwise_bad_configs() {
        assert_eq!(
            NetConf::sniff_version(br#"{"cniVersion": "0.4.0", "agentTimeoutMs": "x"}"#),
            Some(CniVersion::V0_4_0)
        );
        assert_eq!(NetConf::sniff_version(b"{"), None);
    }
}
