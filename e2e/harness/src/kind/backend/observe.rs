//! Reading what happened: RBAC answers, the audit log, metrics, commands inside a node.

use super::KindBackend;
use crate::kind::error::KindError;
use crate::kind::exec::Executor;
use crate::kind::plan;

impl<E: Executor> KindBackend<E> {
    /// The API server's audit log from the control-plane container (`None` in a dry run).
    pub fn audit_log(&mut self) -> Result<Option<String>, KindError> {
        self.exec.run(&plan::read_audit_log(&self.config))
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
