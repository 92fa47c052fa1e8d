//! The `CNI_*` environment of one plugin invocation, validated as the spec demands.

use std::path::PathBuf;

use crate::error::{CniError, Code};

/// A CNI command (`CNI_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Attach: apply the pod's profile.
    Add,
    /// Detach: undo what ADD applied.
    Del,
    /// Verify that what ADD applied is still in place.
    Check,
    /// Report whether the plugin is ready for ADD.
    Status,
    /// Drop state of attachments the runtime no longer knows.
    Gc,
    /// Report the supported versions.
    Version,
}

impl Command {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            "VERSION" => Command::Version,
            _ => return None,
        })
    }

    /// The command as `CNI_COMMAND` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Status => "STATUS",
            Command::Gc => "GC",
            Command::Version => "VERSION",
        }
    }
}

/// The pod behind a sandbox, from the `K8S_POD_*` keys of `CNI_ARGS`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodIdentity {
    /// `K8S_POD_NAMESPACE`.
    pub namespace: String,
    /// `K8S_POD_NAME`.
    pub name: String,
    /// `K8S_POD_UID` (empty when absent).
    pub uid: String,
}

/// One attachment's identity: container and interface, as every command but VERSION names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_NETNS`; optional for DEL.
    pub netns: Option<PathBuf>,
}

/// Everything the environment says about this invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `CNI_COMMAND`.
    pub command: Command,
    /// Container, interface and namespace for ADD, DEL and CHECK.
    pub target: Option<Target>,
    /// `CNI_PATH`, split into directories.
    pub cni_path: Vec<PathBuf>,
    /// Raw `CNI_ARGS`, handed on to delegates unchanged.
    pub cni_args: String,
}

fn env_error(var: &str, problem: &str) -> CniError {
    CniError::new(Code::InvalidEnvironment, format!("{var} {problem}")).with_details(format!(
        "the container runtime sets {var}; see the CNI spec, section \"Parameters\""
    ))
}

impl Invocation {
    /// Reads and validates the variables `command` needs; `get` looks one up.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, CniError> {
        let raw = get("CNI_COMMAND")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| env_error("CNI_COMMAND", "is not set"))?;
        let command = Command::parse(&raw).ok_or_else(|| {
            CniError::new(
                Code::InvalidEnvironment,
                format!("CNI_COMMAND {raw:?} is not a CNI command"),
            )
            .with_details("expected ADD, DEL, CHECK, STATUS, GC or VERSION")
        })?;
        let required = |var: &str| {
            get(var)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| env_error(var, "is not set"))
        };
        let target = match command {
            Command::Add | Command::Check | Command::Del => {
                let container_id = required("CNI_CONTAINERID")?;
                validate_container_id(&container_id)?;
                let ifname = required("CNI_IFNAME")?;
                validate_ifname(&ifname)?;
                let netns = match command {
                    Command::Del => get("CNI_NETNS").filter(|s| !s.is_empty()),
                    _ => Some(required("CNI_NETNS")?),
                };
                let netns = netns.map(PathBuf::from);
                if let Some(ns) = &netns
                    && !ns.is_absolute()
                {
                    return Err(env_error(
                        "CNI_NETNS",
                        &format!("{ns:?} is not an absolute path"),
                    ));
                }
                Some(Target {
                    container_id,
                    ifname,
                    netns,
                })
            }
            Command::Status | Command::Gc | Command::Version => None,
        };
        let cni_path = match command {
            Command::Add | Command::Check | Command::Del | Command::Gc => required("CNI_PATH")?
                .split(':')
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .collect(),
            Command::Status | Command::Version => Vec::new(),
        };
        let cni_args = get("CNI_ARGS").unwrap_or_default();
        // Malformed CNI_ARGS is an error on every command that reads it, not only ADD.
        parse_cni_args(&cni_args)?;
        Ok(Invocation {
            command,
            target,
            cni_path,
            cni_args,
        })
    }

    /// The pod's identity from `CNI_ARGS`, which Kubernetes runtimes pass; `None` for a
    /// container without one (podman passes `K8S_POD_NAME` alone, nerdctl neither), which
    /// tether passes through untouched.
    pub fn pod(&self) -> Result<Option<PodIdentity>, CniError> {
        let pairs = parse_cni_args(&self.cni_args)?;
        let find = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
                .filter(|v| !v.is_empty())
        };
        let (Some(namespace), Some(name)) = (find("K8S_POD_NAMESPACE"), find("K8S_POD_NAME"))
        else {
            return Ok(None);
        };
        Ok(Some(PodIdentity {
            namespace,
            name,
            uid: find("K8S_POD_UID").unwrap_or_default(),
        }))
    }
}

/// Splits `CNI_ARGS` (`K1=V1;K2=V2`) into pairs.
fn parse_cni_args(args: &str) -> Result<Vec<(&str, &str)>, CniError> {
    args.split(';')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| {
                    env_error("CNI_ARGS", &format!("has {pair:?}, which is not KEY=VALUE"))
                })
        })
        .collect()
}

/// The spec's container ID rule: an alphanumeric, then alphanumerics, `_`, `.` or `-`.
fn validate_container_id(id: &str) -> Result<(), CniError> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        Ok(())
    } else {
        Err(env_error(
            "CNI_CONTAINERID",
            &format!("{id:?} must be alphanumeric, then alphanumerics, '_', '.' or '-'"),
        ))
    }
}

/// The kernel's interface name rule, as the spec states it.
fn validate_ifname(name: &str) -> Result<(), CniError> {
    let ok = name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(env_error(
            "CNI_IFNAME",
            &format!(
                "{name:?} is not a valid interface name (at most 15 bytes, no '/', ':' or spaces)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const ADD: &[(&str, &str)] = &[
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "abc123"),
        ("CNI_NETNS", "/var/run/netns/p1"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"),
        (
            "CNI_ARGS",
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_UID=u-1",
        ),
    ];

    fn with(
        base: &[(&'static str, &'static str)],
        key: &'static str,
        value: Option<&'static str>,
    ) -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<_> = base.iter().copied().filter(|(k, _)| *k != key).collect();
        if let Some(value) = value {
            v.push((key, value));
        }
        v
    }

    #[test]
    fn add_reads_everything() {
        let inv = Invocation::from_env(env(ADD)).unwrap();
        assert_eq!(inv.command, Command::Add);
        let target = inv.target.clone().unwrap();
        assert_eq!(target.container_id, "abc123");
        assert_eq!(target.ifname, "eth0");
        assert_eq!(target.netns, Some(PathBuf::from("/var/run/netns/p1")));
        assert_eq!(
            inv.cni_path,
            vec![PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")]
        );
        assert_eq!(
            inv.pod().unwrap(),
            Some(PodIdentity {
                namespace: "default".into(),
                name: "web-0".into(),
                uid: "u-1".into()
            })
        );
    }

    #[test]
    fn del_does_not_need_a_netns() {
        let vars = with(&with(ADD, "CNI_COMMAND", Some("DEL")), "CNI_NETNS", None);
        let inv = Invocation::from_env(env(&vars)).unwrap();
        assert_eq!(inv.target.unwrap().netns, None);
    }

    #[test]
    fn version_and_status_need_only_the_command() {
        for cmd in ["VERSION", "STATUS"] {
            let inv = Invocation::from_env(env(&[("CNI_COMMAND", cmd)])).unwrap();
            assert!(inv.target.is_none());
        }
        assert!(
            Invocation::from_env(env(&[("CNI_COMMAND", "GC")]))
                .unwrap_err()
                .msg
                .contains("CNI_PATH")
        );
    }

    #[test]
    fn every_bad_variable_is_named() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (with(ADD, "CNI_COMMAND", None), "CNI_COMMAND"),
            (with(ADD, "CNI_COMMAND", Some("ATTACH")), "CNI_COMMAND"),
            (with(ADD, "CNI_CONTAINERID", None), "CNI_CONTAINERID"),
            (
                with(ADD, "CNI_CONTAINERID", Some("-abc")),
                "CNI_CONTAINERID",
            ),
            (
                with(ADD, "CNI_CONTAINERID", Some("a/../b")),
                "CNI_CONTAINERID",
            ),
            (with(ADD, "CNI_IFNAME", None), "CNI_IFNAME"),
            (
                with(ADD, "CNI_IFNAME", Some("averyveryverylongname")),
                "CNI_IFNAME",
            ),
            (with(ADD, "CNI_IFNAME", Some("eth/0")), "CNI_IFNAME"),
            (with(ADD, "CNI_IFNAME", Some("..")), "CNI_IFNAME"),
            (with(ADD, "CNI_NETNS", None), "CNI_NETNS"),
            (with(ADD, "CNI_NETNS", Some("netns/p1")), "CNI_NETNS"),
            (with(ADD, "CNI_PATH", None), "CNI_PATH"),
            (with(ADD, "CNI_ARGS", Some("K8S_POD_NAME")), "CNI_ARGS"),
            (with(ADD, "CNI_ARGS", Some("=x")), "CNI_ARGS"),
        ];
        for (vars, var) in cases {
            let err = Invocation::from_env(env(&vars)).unwrap_err();
            assert_eq!(err.code, Code::InvalidEnvironment, "{var}: {err}");
            assert!(err.msg.contains(var), "{var}: {err}");
        }
    }

    #[test]
    fn a_container_without_kubernetes_identity_has_no_pod() {
        for args in [
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default",
            // podman (CNI backend)
            "IgnoreUnknown=1;K8S_POD_NAME=web",
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=;K8S_POD_NAME=web",
            "",
        ] {
            let vars = with(ADD, "CNI_ARGS", Some(args));
            let pod = Invocation::from_env(env(&vars)).unwrap().pod().unwrap();
            assert_eq!(pod, None, "{args:?}");
        }
    }
}
