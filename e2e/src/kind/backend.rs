//! [`KindBackend`]: the steps of the kind tier, executing the plan through an [`Executor`].

use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::cmd::Cmd;
use super::config::KindConfig;
use super::error::KindError;
use super::exec::{DryRunExecutor, Executor, Output, RealExecutor};
use super::files::{self, PlannedFile, paths};
use super::versions::Versions;
use super::{plan, preflight};

/// The real or the dry-run executor, chosen from the environment.
#[derive(Debug)]
pub enum AnyExecutor {
    /// Runs commands.
    Real(RealExecutor),
    /// Prints them (`TETHER_E2E_DRY_RUN=1`).
    DryRun(DryRunExecutor),
}

impl Executor for AnyExecutor {
    fn is_dry_run(&self) -> bool {
        matches!(self, AnyExecutor::DryRun(_))
    }
    fn output(&mut self, cmd: &Cmd) -> Result<Option<Output>, KindError> {
        match self {
            AnyExecutor::Real(e) => e.output(cmd),
            AnyExecutor::DryRun(e) => e.output(cmd),
        }
    }
    fn write_file(&mut self, path: &Path, contents: &str) -> Result<(), KindError> {
        match self {
            AnyExecutor::Real(e) => e.write_file(path, contents),
            AnyExecutor::DryRun(e) => e.write_file(path, contents),
        }
    }
    fn note(&mut self, message: &str) {
        match self {
            AnyExecutor::Real(e) => e.note(message),
            AnyExecutor::DryRun(e) => e.note(message),
        }
    }
}

/// A Kind + OpenYurt cluster with tether, driven step by step.
#[derive(Debug)]
pub struct KindBackend<E: Executor> {
    config: KindConfig,
    versions: Versions,
    exec: E,
}

impl KindBackend<AnyExecutor> {
    /// Reads `TETHER_E2E_DRY_RUN=1` (print, run nothing) and `TETHER_E2E_REUSE=1` (keep a
    /// running cluster) from the environment.
    pub fn from_env(mut config: KindConfig) -> Result<KindBackend<AnyExecutor>, KindError> {
        let flag = |name: &str| std::env::var(name).is_ok_and(|v| v == "1");
        config.reuse = config.reuse || flag("TETHER_E2E_REUSE");
        let exec = match flag("TETHER_E2E_DRY_RUN") {
            true => AnyExecutor::DryRun(DryRunExecutor::new(config.work_dir.clone())?),
            false => AnyExecutor::Real(RealExecutor),
        };
        KindBackend::new(config, exec)
    }
}

impl<E: Executor> KindBackend<E> {
    /// Validates the configuration and the pins; runs nothing.
    pub fn new(config: KindConfig, exec: E) -> Result<KindBackend<E>, KindError> {
        config.validate()?;
        Ok(KindBackend {
            config,
            versions: Versions::pinned()?,
            exec,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &KindConfig {
        &self.config
    }

    /// The executor (tests read a dry run's commands from it).
    pub fn executor(&self) -> &E {
        &self.exec
    }

    /// The kubeconfig of the cluster, for kube clients and kubectl.
    pub fn kubeconfig(&self) -> PathBuf {
        self.config.kubeconfig()
    }

    fn write(&mut self, file: &PlannedFile) -> Result<(), KindError> {
        self.exec
            .write_file(&self.config.work_dir.join(&file.rel), &file.contents)
    }

    /// Preflight, the cluster (reused if asked and running), OpenYurt, and every edge node
    /// converted with yurthub healthy.
    pub fn up(&mut self) -> Result<(), KindError> {
        self.exec.note("preflight: docker, kind, kubectl, helm");
        preflight::run(&mut self.exec, &self.versions)?;
        for file in files::all(&self.config, &self.versions)? {
            self.write(&file)?;
        }
        let running = self.exec.run(&plan::kind_get_clusters())?;
        let exists =
            running.is_some_and(|out| out.lines().any(|l| l.trim() == self.config.cluster_name));
        match (exists, self.config.reuse) {
            (true, true) => {
                self.exec.note(&format!(
                    "reusing running kind cluster {}",
                    self.config.cluster_name
                ));
                self.exec.run(&plan::kind_export_kubeconfig(&self.config))?;
            }
            (exists, _) => {
                if exists {
                    self.exec.note(&format!(
                        "deleting stale kind cluster {} (set TETHER_E2E_REUSE=1 to keep it)",
                        self.config.cluster_name
                    ));
                    self.exec.run(&plan::kind_delete(&self.config))?;
                }
                self.exec.note(&format!(
                    "creating kind cluster {} ({})",
                    self.config.cluster_name, self.versions.kind_node_image
                ));
                self.exec
                    .run(&plan::kind_create(&self.config, &self.versions))?;
            }
        }
        self.install_openyurt()
    }

    fn install_openyurt(&mut self) -> Result<(), KindError> {
        let (config, versions) = (&self.config, &self.versions);
        self.exec.note(&format!(
            "OpenYurt {}: yurt-manager, yurthub config, NodePools",
            versions.openyurt
        ));
        self.exec.run(&plan::annotate_autonomy(config))?;
        self.exec
            .run(&plan::helm_install_yurt_manager(config, versions))?;
        let template = plan::helm_template_yurthub_cfg(config, versions);
        if let Some(rendered) = self.exec.run(&template)? {
            self.exec
                .write_file(&config.work_dir.join(paths::YURTHUB_CFG), &rendered)?;
        } else {
            self.exec
                .note(&format!("(its output is saved as {})", paths::YURTHUB_CFG));
        }
        self.exec
            .run(&plan::kubectl_apply_file(config, paths::YURTHUB_CFG))?;
        self.exec
            .run(&plan::kubectl_apply_file(config, paths::NODEPOOLS))?;
        for (node, pool) in config.pool_assignments() {
            self.exec.run(&plan::label_nodepool(config, &node, &pool))?;
        }
        for node in config.worker_names() {
            self.exec
                .note(&format!("waiting for {node} to become an edge node"));
            self.exec.run(&plan::wait_edge_worker(config, &node))?;
            self.exec.run(&plan::wait_conversion_job(config, &node))?;
            let unschedulable = plan::get_unschedulable(config, &node);
            poll(
                &mut self.exec,
                &format!("{node} uncordoned"),
                &unschedulable,
                120,
                |out| matches!(out.trim(), "" | "false"),
            )?;
            self.exec.run(&plan::yurthub_service_active(&node))?;
            poll(
                &mut self.exec,
                &format!("yurthub healthy on {node}"),
                &plan::yurthub_healthz(&node),
                60,
                |_| true,
            )?;
        }
        Ok(())
    }

    /// Loads the local tether image into kind, applies deploy/ through the overlay and waits
    /// for the DaemonSet.
    pub fn install_tether(&mut self) -> Result<(), KindError> {
        self.exec.note(&format!(
            "tether: loading {} and applying deploy/",
            self.config.image
        ));
        self.exec.run(&plan::kind_load_image(&self.config))?;
        self.write(&files::tether_overlay(&self.config)?)?;
        self.exec.run(&plan::apply_tether(&self.config))?;
        self.exec.run(&plan::wait_tether_rollout(&self.config))?;
        Ok(())
    }

    /// The demo NetworkProfile and one pod per edge node (hack/up.sh).
    pub fn apply_demo(&mut self) -> Result<(), KindError> {
        self.write(&files::demo(&self.config)?)?;
        self.exec
            .run(&plan::kubectl_apply_file(&self.config, paths::DEMO))?;
        self.exec
            .run(&plan::wait_pods_ready(&self.config, "demo"))?;
        Ok(())
    }

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
        if let Some(address) = self.exec.run(&plan::node_address(&node))? {
            let record = self.address_record(&node);
            self.exec.write_file(&record, address.trim())?;
        }
        self.exec
            .note(&format!("cutting {node} off the kind network"));
        self.exec.run(&plan::disconnect(&node))?;
        Ok(())
    }

    /// Reconnects a node and waits for it to be Ready; fails if it came back on another address.
    pub fn reconnect(&mut self, node: &str) -> Result<(), KindError> {
        let node = self.config.node_name(node)?;
        self.exec
            .note(&format!("reconnecting {node} to the kind network"));
        self.exec.run(&plan::reconnect(&node))?;
        let record = self.address_record(&node);
        if let (Ok(before), Some(after)) = (
            std::fs::read_to_string(&record),
            self.exec.run(&plan::node_address(&node))?,
        ) {
            let (before, after) = (before.trim().to_owned(), after.trim().to_owned());
            if before != after {
                return Err(KindError::AddressChanged {
                    node,
                    before,
                    after,
                });
            }
            std::fs::remove_file(&record).map_err(|source| KindError::Write {
                path: record,
                source,
            })?;
        }
        self.exec.run(&plan::wait_node_ready(&self.config, &node))?;
        Ok(())
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

    /// `kind export logs <dir>`: every node's logs, kept when a scenario fails.
    pub fn export_logs(&mut self, dir: &Path) -> Result<(), KindError> {
        self.exec.run(&plan::kind_export_logs(
            &self.config,
            &dir.display().to_string(),
        ))?;
        Ok(())
    }

    /// Deletes the cluster, unless it is being reused.
    pub fn down(&mut self) -> Result<(), KindError> {
        if self.config.reuse {
            self.exec.note(&format!(
                "keeping kind cluster {} (TETHER_E2E_REUSE=1)",
                self.config.cluster_name
            ));
            return Ok(());
        }
        self.exec.run(&plan::kind_delete(&self.config))?;
        Ok(())
    }
}

/// Runs `cmd` until it succeeds with an output `done` accepts, or fails after `seconds`. A dry
/// run prints it once.
fn poll<E: Executor>(
    exec: &mut E,
    what: &str,
    cmd: &Cmd,
    seconds: u64,
    done: impl Fn(&str) -> bool,
) -> Result<(), KindError> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let Some(out) = exec.output(cmd)? else {
            exec.note(&format!("(repeated until {what}, at most {seconds}s)"));
            return Ok(());
        };
        if out.success && done(&out.stdout) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(KindError::Timeout {
                what: what.to_owned(),
                seconds,
            });
        }
        sleep(Duration::from_secs(1));
    }
}
