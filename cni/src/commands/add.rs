//! ADD: ask the agent for the pod's profile, record the plan, run the delegates.

use crate::agent_client::AgentClient;
use crate::config::{FailurePolicy, NetConf};
use crate::delegate::{self, Delegate, Runner};
use crate::error::{CniError, Code};
use crate::invocation::{Command, Invocation, PodIdentity, Target};
use crate::protocol::{AddRequest, AddResponse};
use crate::spec::{CniResult, CniVersion};
use crate::state::{FORMAT, Record, StateDir};

pub(super) fn add(
    invocation: &Invocation,
    conf: &NetConf,
    target: &Target,
) -> Result<String, CniError> {
    let prev = super::prev_result(conf, Command::Add)?;
    let Some(pod) = invocation.pod()? else {
        // Not a Kubernetes pod (podman, nerdctl): no profile can apply, and failing would
        // keep the container from starting on a node whose conf dir chains tether.
        eprintln!(
            "tether: container {} has no Kubernetes identity in CNI_ARGS; passing it through",
            target.container_id
        );
        return Ok(conf.prev_result.clone().unwrap_or_default().to_string());
    };
    let answer = ask_agent(conf, target, &pod)?;
    let delegates = answer.as_ref().map(delegate::plan).unwrap_or_default();
    let version = delegate::delegate_version(conf.cni_version);
    let record = Record {
        format: FORMAT,
        container_id: target.container_id.clone(),
        ifname: target.ifname.clone(),
        netns: target.netns.clone(),
        network: conf.name.clone(),
        delegate_version: version.as_str().into(),
        cni_args: invocation.cni_args.clone(),
        profile: answer.as_ref().and_then(|a| a.profile.clone()),
        source: answer.as_ref().map(|a| a.source),
        delegates,
    };
    // Recorded before the delegates run, so a DEL after a crash mid-ADD still undoes them.
    let state = StateDir::new(&conf.state_dir);
    state.save(&record)?;
    if record.delegates.is_empty() {
        return Ok(conf.prev_result.clone().unwrap_or_default().to_string());
    }
    let runner = super::runner(invocation, conf, target);
    let output = match run_delegates(&runner, version, &record.delegates, &prev) {
        Ok(output) => output,
        Err(e) => {
            let _ = state.remove(&target.container_id, &target.ifname);
            return Err(e);
        }
    };
    let mut result = if version == conf.cni_version {
        output
    } else {
        prev
    };
    if conf.cni_version >= CniVersion::V1_1_0
        && let Some(mtu) = answer.and_then(|a| a.mtu)
    {
        result
            .interfaces
            .iter_mut()
            .filter(|i| i.name == target.ifname && i.sandbox.is_some())
            .for_each(|i| i.mtu = Some(mtu));
    }
    Ok(result.to_value(conf.cni_version).to_string())
}

/// The agent's answer, `None` when it gave none and the policy lets the pod come up anyway.
fn ask_agent(
    conf: &NetConf,
    target: &Target,
    pod: &PodIdentity,
) -> Result<Option<AddResponse>, CniError> {
    let client = AgentClient::new(&conf.agent_socket, conf.agent_timeout);
    let request = AddRequest {
        container_id: target.container_id.clone(),
        ifname: target.ifname.clone(),
        netns: target
            .netns
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        pod_namespace: pod.namespace.clone(),
        pod_name: pod.name.clone(),
        pod_uid: pod.uid.clone(),
    };
    match client.add(&request) {
        Ok(answer) => Ok(Some(answer)),
        Err(e) => match conf.failure_policy {
            FailurePolicy::Ignore => {
                eprintln!(
                    "tether: {e}; pod {}/{} comes up without a profile (failurePolicy: ignore)",
                    pod.namespace, pod.name
                );
                Ok(None)
            }
            FailurePolicy::Fail => Err(CniError::new(
                Code::TryAgainLater,
                format!(
                    "tether agent gave no profile for pod {}/{}",
                    pod.namespace, pod.name
                ),
            )
            .with_details(format!("{e} (failurePolicy: fail)"))),
        },
    }
}

/// Runs each delegate's ADD on the previous one's result; on a failure, undoes the ones
/// that ran (the failing one included: it may have applied part of its work).
fn run_delegates(
    runner: &Runner<'_>,
    version: CniVersion,
    delegates: &[Delegate],
    prev: &CniResult,
) -> Result<CniResult, CniError> {
    let original = prev.to_value(version);
    let mut current = original.clone();
    for (i, delegate) in delegates.iter().enumerate() {
        let step = runner
            .run(Command::Add, version, delegate, Some(&current), None)
            .and_then(|out| {
                CniResult::from_value(out.unwrap_or_default()).map_err(|e| {
                    CniError::new(
                        Code::Decode,
                        format!("{} ADD printed an invalid result", delegate.plugin),
                    )
                    .with_details(e.to_string())
                })
            });
        match step {
            Ok(result) => current = result.to_value(version),
            Err(e) => {
                for done in delegates[..=i].iter().rev() {
                    if let Err(undo) =
                        runner.run(Command::Del, version, done, Some(&original), None)
                    {
                        eprintln!("tether: undoing {} after a failed ADD: {undo}", done.plugin);
                    }
                }
                return Err(e);
            }
        }
    }
    CniResult::from_value(current)
        .map_err(|e| CniError::new(Code::Decode, "delegate result").with_details(e.to_string()))
}
