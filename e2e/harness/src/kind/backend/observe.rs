//! Reading what happened: RBAC answers, the audit log, metrics, commands inside a node.

use super::KindBackend;
use crate::backend::Request;
use crate::kind::audit;
use crate::kind::error::KindError;
use crate::kind::exec::Executor;
use crate::kind::plan;

impl<E: Executor> KindBackend<E> {
    /// The API server's audit log from the control-plane container (`None` in a dry run).
    pub fn audit_log(&mut self) -> Result<Option<String>, KindError> {
        self.exec.run(&plan::read_audit_log(&self.config))
    }

    /// Every request the audit log holds, once each (`None` in a dry run).
    pub fn audit_requests(&mut self) -> Result<Option<Vec<Request>>, KindError> {
        self.audit_log()?
            .map(|log| audit::requests(&log))
            .transpose()
    }

    /// Requests of `user` answered 429, as the audit log has them (`None` in a dry run). Not the
    /// API server's `apiserver_flowcontrol_rejected_requests_total`: it counts by priority level
    /// and flow schema, not by user, and `limit`'s contention load shares the agent's level.
    pub fn rejected(&mut self, user: &str) -> Result<Option<u64>, KindError> {
        Ok(self
            .audit_requests()?
            .map(|requests| audit::rejected(&requests, user)))
    }

    /// The API server's Prometheus metrics (`None` in a dry run).
    pub fn apiserver_metrics(&mut self) -> Result<Option<String>, KindError> {
        self.exec.run(&plan::apiserver_metrics(&self.config))
    }

    /// `kubectl auth can-i … --as=<tether-agent>` (`None` in a dry run).
    pub fn can_i(
        &mut self,
        verb: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<Option<bool>, KindError> {
        let cmd = plan::can_i(&self.config, verb, resource, namespace);
        let Some(out) = self.exec.output(&cmd)? else {
            return Ok(None);
        };
        match out.stdout.trim() {
            "yes" => Ok(Some(true)),
            "no" => Ok(Some(false)),
            _ => Err(KindError::Failed {
                command: cmd.to_string(),
                status: out.status,
                stderr: out.stderr,
            }),
        }
    }

    /// Runs a command inside a node (tc, ip, crictl) and returns its output (`None` in a dry run).
    pub fn exec_on_node(&mut self, node: &str, argv: &[&str]) -> Result<Option<String>, KindError> {
        let node = match node == self.config.control_plane() {
            true => node.to_owned(),
            false => self.config.node_name(node)?,
        };
        self.exec.run(&plan::node_exec(&node, argv.iter().copied()))
    }
}
