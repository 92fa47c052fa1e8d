//! GC: undo and forget attachments the runtime no longer lists, then let delegates that
//! know GC do theirs.

use std::collections::HashSet;

use serde_json::{Map, json};

use crate::config::NetConf;
use crate::delegate::{BANDWIDTH, Delegate, Runner, TUNING, delegate_version};
use crate::error::{CniError, Code};
use crate::invocation::{Command, Invocation};
use crate::spec::CniVersion;
use crate::state::StateDir;

pub(super) fn gc(invocation: &Invocation, conf: &NetConf) -> Result<(), CniError> {
    if !conf.cni_version.has_status_and_gc() {
        return Err(
            CniError::new(Code::IncompatibleVersion, "GC needs cniVersion 1.1.0")
                .with_details(format!("the configuration says {}", conf.cni_version)),
        );
    }
    let valid = conf.valid_attachments.as_ref().ok_or_else(|| {
        CniError::new(Code::InvalidConfig, "GC needs cni.dev/valid-attachments").with_details(
            "the runtime lists the attachments to keep; without it nothing can be collected safely",
        )
    })?;
    let keep: HashSet<(&str, &str)> = valid
        .iter()
        .map(|a| (a.container_id.as_str(), a.ifname.as_str()))
        .collect();
    let state = StateDir::new(&conf.state_dir);
    for (container_id, ifname, record) in state.list()? {
        if keep.contains(&(container_id.as_str(), ifname.as_str())) {
            continue;
        }
        match record {
            Ok(record) => {
                let runner = Runner {
                    cni_path: &invocation.cni_path,
                    network: &record.network,
                    container_id: Some(&record.container_id),
                    ifname: Some(&record.ifname),
                    netns: record.netns.as_deref(),
                    cni_args: &record.cni_args,
                };
                // The attachment is gone for the runtime: undo what can be undone, forget it anyway.
                let fallback = delegate_version(conf.cni_version);
                if let Err(e) = super::replay_del(&runner, &record, fallback, None) {
                    eprintln!("tether: GC of {container_id}@{ifname}: {e}");
                }
            }
            Err(e) => eprintln!("tether: GC of {container_id}@{ifname}: {e}"),
        }
        state.remove(&container_id, &ifname)?;
    }
    delegate_gc(invocation, conf)
}

/// GC for delegates that speak 1.1.0; older ones (Debian ships v1.1.1) have no GC.
fn delegate_gc(invocation: &Invocation, conf: &NetConf) -> Result<(), CniError> {
    let runner = Runner {
        cni_path: &invocation.cni_path,
        network: &conf.name,
        container_id: None,
        ifname: None,
        netns: None,
        cni_args: &invocation.cni_args,
    };
    let attachments = json!(
        conf.valid_attachments
            .iter()
            .flatten()
            .map(|a| json!({"containerID": a.container_id, "ifname": a.ifname}))
            .collect::<Vec<_>>()
    );
    for plugin in [BANDWIDTH, TUNING] {
        if runner.find(plugin).is_err() {
            continue;
        }
        if !runner
            .supported_versions(plugin)?
            .iter()
            .any(|v| v == CniVersion::V1_1_0.as_str())
        {
            continue;
        }
        let delegate = Delegate {
            plugin: plugin.into(),
            conf: Map::new(),
        };
        runner.run(
            Command::Gc,
            CniVersion::V1_1_0,
            &delegate,
            None,
            Some(("cni.dev/valid-attachments", attachments.clone())),
        )?;
    }
    Ok(())
}
