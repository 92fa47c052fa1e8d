//! STATUS: ready unless the policy is `fail` and the agent does not answer its health check.

use crate::agent_client::AgentClient;
use crate::config::{FailurePolicy, NetConf};
use crate::error::{CniError, Code};

pub(super) fn status(conf: &NetConf) -> Result<(), CniError> {
    if !conf.cni_version.has_status_and_gc() {
        return Err(
            CniError::new(Code::IncompatibleVersion, "STATUS needs cniVersion 1.1.0")
                .with_details(format!("the configuration says {}", conf.cni_version)),
        );
    }
    // With `ignore`, ADD succeeds without the agent, so the plugin is ready either way.
    if conf.failure_policy == FailurePolicy::Ignore {
        return Ok(());
    }
    AgentClient::new(&conf.agent_socket, conf.agent_timeout)
        .healthz()
        .map_err(|e| {
            CniError::new(
                Code::NotAvailable,
                "tether agent is not serving and failurePolicy is fail",
            )
            .with_details(e.to_string())
        })
}
