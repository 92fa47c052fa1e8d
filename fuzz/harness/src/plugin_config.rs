//! `plugin_config`: the plugin's stdin and its `CNI_*` variables, through everything
//! `tether-cni` does with them before it execs a delegate or opens the agent's socket.
//!
//! Input: NUL-separated fields: stdin, then `CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`,
//! `CNI_IFNAME`, `CNI_ARGS`, `CNI_PATH`; a missing field is an unset variable.
//!
//! Invariants: what `Invocation::from_env` accepts obeys the spec's rules for the command
//! (a target for ADD/CHECK/DEL, a valid container ID and interface name, an absolute netns),
//! and its `CNI_ARGS` yields a pod identity without error; what `NetConf::parse` accepts has a
//! name, absolute paths and a timeout in range; every error is the spec's error JSON in every
//! version.

use cni::config::{MAX_AGENT_TIMEOUT_MS, NetConf};
use cni::error::CniError;
use cni::invocation::{Command, Invocation};
use cni::spec::{CniResult, CniVersion};

use crate::input::Fields;

const VARS: [&str; 6] = [
    "CNI_COMMAND",
    "CNI_CONTAINERID",
    "CNI_NETNS",
    "CNI_IFNAME",
    "CNI_ARGS",
    "CNI_PATH",
];

/// Runs one input; panics on a broken invariant.
pub fn plugin_config(data: &[u8]) {
    let mut fields = Fields::new(data);
    let stdin = fields.bytes().unwrap_or_default();
    let env: Vec<(&str, Option<String>)> = VARS.iter().map(|v| (*v, fields.text())).collect();
    let get = |name: &str| {
        env.iter()
            .find(|(var, _)| *var == name)
            .and_then(|(_, value)| value.clone())
    };
    match Invocation::from_env(get) {
        Ok(invocation) => check_invocation(&invocation, &get),
        Err(e) => check_error_json(&e),
    }
    let _ = NetConf::sniff_version(stdin);
    match NetConf::parse(stdin) {
        Ok(conf) => check_conf(&conf),
        Err(e) => check_error_json(&e),
    }
}

fn check_invocation(invocation: &Invocation, get: &impl Fn(&str) -> Option<String>) {
    let command = get("CNI_COMMAND").unwrap_or_default();
    assert_eq!(invocation.command.as_str(), command);
    assert_eq!(invocation.cni_args, get("CNI_ARGS").unwrap_or_default());
    let needs_target = matches!(
        invocation.command,
        Command::Add | Command::Check | Command::Del
    );
    assert_eq!(invocation.target.is_some(), needs_target, "{invocation:?}");
    if let Some(target) = &invocation.target {
        assert_eq!(Some(&target.container_id), get("CNI_CONTAINERID").as_ref());
        let mut id = target.container_id.chars();
        assert!(id.next().is_some_and(|c| c.is_ascii_alphanumeric()));
        assert!(id.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')));
        assert!(target.ifname.len() <= 15 && !target.ifname.is_empty());
        assert!(target.ifname != "." && target.ifname != "..");
        assert!(
            !target
                .ifname
                .chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace())
        );
        assert!(target.netns.as_ref().is_none_or(|ns| ns.is_absolute()));
        assert!(target.netns.is_some() || invocation.command == Command::Del);
    }
    if invocation.command != Command::Status && invocation.command != Command::Version {
        assert!(
            invocation
                .cni_path
                .iter()
                .all(|d| !d.as_os_str().is_empty())
        );
    }
    // from_env already parsed CNI_ARGS: reading the pod from it again cannot fail.
    match invocation.pod() {
        Ok(Some(pod)) => assert!(!pod.namespace.is_empty() && !pod.name.is_empty()),
        Ok(None) => {}
        Err(e) => panic!("CNI_ARGS accepted by from_env, refused by pod(): {e}"),
    }
}

fn check_conf(conf: &NetConf) {
    assert!(!conf.name.is_empty());
    assert!(conf.agent_socket.is_absolute());
    assert!(conf.state_dir.is_absolute());
    let ms = conf.agent_timeout.as_millis();
    assert!((1..=u128::from(MAX_AGENT_TIMEOUT_MS)).contains(&ms));
    if let Some(prev) = &conf.prev_result
        && let Ok(result) = CniResult::from_value(prev.clone())
    {
        // What ADD passes on: the previous result in the configuration's version.
        let out = result.to_value(conf.cni_version);
        assert_eq!(out["cniVersion"], conf.cni_version.as_str());
    }
}

fn check_error_json(e: &CniError) {
    for version in CniVersion::ALL {
        let wire: serde_json::Value = serde_json::from_str(&e.to_json(version))
            .unwrap_or_else(|err| panic!("error JSON of {e:?} does not parse: {err}"));
        assert_eq!(wire["cniVersion"], version.as_str());
        assert_eq!(wire["code"], e.code.number());
        assert_eq!(wire["msg"], e.msg.as_str());
        assert_eq!(wire["details"], e.details.as_str());
    }
}
