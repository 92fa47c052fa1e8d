//! CHECK: the recorded delegates verify their work is still in place.

use crate::config::NetConf;
use crate::error::{CniError, Code};
use crate::invocation::{Command, Invocation, Target};
use crate::state::StateDir;

pub(super) fn check(
    invocation: &Invocation,
    conf: &NetConf,
    target: &Target,
) -> Result<(), CniError> {
    if !conf.cni_version.has_check() {
        return Err(CniError::new(
            Code::IncompatibleVersion,
            "CHECK needs cniVersion 0.4.0 or later",
        )
        .with_details(format!("the configuration says {}", conf.cni_version)));
    }
    let prev = super::prev_result(conf, Command::Check)?;
    if invocation.pod()?.is_none() {
        // ADD passed such a container through and recorded nothing to check.
        return Ok(());
    }
    let state = StateDir::new(&conf.state_dir);
    let record = state
        .load(&target.container_id, &target.ifname)?
        .ok_or_else(|| {
            CniError::new(
                Code::UnknownContainer,
                format!(
                    "no ADD recorded for container {} interface {}",
                    target.container_id, target.ifname
                ),
            )
            .with_details(format!(
                "expected {}",
                state.path(&target.container_id, &target.ifname).display()
            ))
        })?;
    if record.netns != target.netns {
        return Err(CniError::new(
            Code::UnknownContainer,
            "the runtime's network namespace is not the one ADD saw",
        )
        .with_details(format!(
            "ADD recorded {:?}, CNI_NETNS is {:?}",
            record.netns, target.netns
        )));
    }
    let version = super::recorded_version(&record)?;
    let prev = prev.to_value(version);
    let runner = super::runner(invocation, conf, target);
    for delegate in &record.delegates {
        runner.run(Command::Check, version, delegate, Some(&prev), None)?;
    }
    Ok(())
}
