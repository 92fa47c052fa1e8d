//! DEL: replay what ADD recorded, without the agent; succeeds when everything is gone already.
//! A record it cannot replay exactly (corrupt, of an unknown format or delegate version) never
//! blocks it: the runtime could otherwise never remove the sandbox.

use crate::config::NetConf;
use crate::delegate::delegate_version;
use crate::error::{CniError, Code};
use crate::invocation::{Invocation, Target};
use crate::spec::CniResult;
use crate::state::StateDir;

pub(super) fn del(
    invocation: &Invocation,
    conf: &NetConf,
    target: &Target,
) -> Result<(), CniError> {
    let state = StateDir::new(&conf.state_dir);
    let record = match state.load(&target.container_id, &target.ifname) {
        Ok(Some(record)) => record,
        Ok(None) => return Ok(()),
        Err(e) if e.code == Code::Decode => {
            // An unreadable record can never be replayed; keeping it would fail every DEL
            // and leave the pod stuck terminating.
            eprintln!("tether: {e}; removing it without undoing its delegates");
            return state.remove(&target.container_id, &target.ifname);
        }
        Err(e) => return Err(e),
    };
    // DEL's prevResult is optional and only informative for bandwidth and tuning.
    let prev = conf
        .prev_result
        .clone()
        .and_then(|p| CniResult::from_value(p).ok());
    super::replay_del(
        &super::runner(invocation, conf, target),
        &record,
        delegate_version(conf.cni_version),
        prev.as_ref(),
    )?;
    state.remove(&target.container_id, &target.ifname)
}
