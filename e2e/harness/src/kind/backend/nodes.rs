//! Steps on one edge node: cut it off and back, restart the agent, recreate pod sandboxes.

use std::path::PathBuf;

use super::{KindBackend, poll};
use crate::kind::error::KindError;
use crate::kind::exec::Executor;
use crate::kind::plan;

impl<E: Executor> KindBackend<E> {
    fn address_record(&self, node: &str) -> PathBuf {
        self.config
            .work_dir
            .join("disconnected")
            .join(format!("{node}.ipv4"))
    }

    /// Cuts an edge node (alias or kind name) off: `docker network disconnect kind <node>`,
    /// after recording its address so `reconnect` can check it comes back the same.
    pub fn disconnect(&mut self, node: &str) -> Result<(), KindError> {
        let node = self.config.node_name(node)?;
        if let Some(address) = self.exec.run(&plan::node_address(&self.config, &node))? {
            let record = self.address_record(&node);
            self.exec.write_file(&record, address.trim())?;
        }
        let network = &self.config.network;
        self.exec
            .note(&format!("cutting {node} off docker network {network}"));
        self.exec.run(&plan::disconnect(&self.config, &node))?;
        Ok(())
    }

    /// Reconnects a node and waits for it to be Ready; fails if it came back on another address.
    pub fn reconnect(&mut self, node: &str) -> Result<(), KindError> {
        let node = self.reconnect_network(node)?;
        self.exec.run(&plan::wait_node_ready(&self.config, &node))?;
        Ok(())
    }

    /// The docker half of [`Self::reconnect`]: `docker network connect`, then the node's address
    /// must be the one recorded at the disconnect (kubelet, kindnet and the API server's view
    /// of the node all hold it). Returns the node's name.
    pub fn reconnect_network(&mut self, node: &str) -> Result<String, KindError> {
        let node = self.config.node_name(node)?;
        let network = &self.config.network;
        self.exec
            .note(&format!("reconnecting {node} to docker network {network}"));
        self.exec.run(&plan::reconnect(&self.config, &node))?;
        let after = self.exec.run(&plan::node_address(&self.config, &node))?;
        let record = self.address_record(&node);
        // no record: disconnected by hand, or a dry run; nothing to compare with
        if let (Ok(before), Some(after)) = (std::fs::read_to_string(&record), after) {
            let (before, after) = (before.trim().to_owned(), after.trim().to_owned());
            std::fs::remove_file(&record).map_err(|source| KindError::Write {
                path: record,
                source,
            })?;
            if before != after {
                return Err(KindError::AddressChanged {
                    node,
                    before,
                    after,
                });
            }
        }
        Ok(node)
    }

    /// Restarts the agent's container on a node with crictl (works while the node is cut off:
    /// kubelet restarts it from local state) and waits for a new one to run.
    pub fn restart_agent(&mut self, node: &str) -> Result<(), KindError> {
        let node = self.config.node_name(node)?;
        let list = plan::agent_containers(&self.config, &node, "running");
        let Some(out) = self.exec.run(&list)? else {
            self.exec.note(
                "then `crictl stop` each listed container and poll the list until a new id runs",
            );
            return Ok(());
        };
        let old: Vec<String> = out.split_whitespace().map(str::to_owned).collect();
        if old.is_empty() {
            return Err(KindError::Failed {
                command: list.to_string(),
                status: "no output".into(),
                stderr: format!("no running agent container on {node}"),
            });
        }
        for id in &old {
            self.exec.run(&plan::stop_container(&node, id))?;
        }
        poll(
            &mut self.exec,
            &format!("a new agent container on {node}"),
            &list,
            120,
            |out| {
                out.split_whitespace()
                    .any(|id| !old.iter().any(|o| o == id))
            },
        )
    }

    /// Stops and removes every ready pod sandbox of `namespace` on a node, so kubelet recreates
    /// them and CNI ADD runs again (while the node is cut off, through the agent's cache).
    /// Returns how many were removed (`None` in a dry run).
    pub fn recreate_sandboxes(
        &mut self,
        node: &str,
        namespace: &str,
    ) -> Result<Option<usize>, KindError> {
        let node = self.config.node_name(node)?;
        if !crate::kind::config::is_dns_label(namespace) {
            return Err(KindError::InvalidConfig(format!(
                "{namespace:?} is not a namespace name"
            )));
        }
        let Some(out) = self.exec.run(&plan::pod_sandboxes(&node, namespace))? else {
            self.exec
                .note("then, for each listed sandbox id: crictl stopp <id>; crictl rmp <id>");
            return Ok(None);
        };
        let ids: Vec<&str> = out.split_whitespace().collect();
        for id in &ids {
            for cmd in plan::remove_sandbox(&node, id) {
                self.exec.run(&cmd)?;
            }
        }
        Ok(Some(ids.len()))
    }
}
