//! [`KindBackend`]: the steps of the kind tier, executing the plan through an [`Executor`].
//! Cluster-wide steps are here; per-node steps in `nodes.rs`, the APF squeeze in `limits.rs`,
//! reads in `observe.rs`.

mod limits;
mod nodes;
mod observe;

pub use nodes::SandboxAttachment;

use std::path::{Path, PathBuf};

use super::config::KindConfig;
use super::error::KindError;
use super::exec::{Executor, Until};
use super::files::{self, PlannedFile, paths};
use super::versions::Versions;
use super::{plan, preflight};

/// A Kind + OpenYurt cluster with tether, driven step by step.
#[derive(Debug)]
pub struct KindBackend<E: Executor> {
    config: KindConfig,
    versions: Versions,
    exec: E,
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
        self.exec
            .run(&plan::helm_template_yurthub_cfg(config, versions))?;
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
            // yurt-manager uncordons last: `.spec.unschedulable` empty or false
            let schedulable = Until::Is(vec![String::new(), "false".into()]);
            self.exec.poll(
                &format!("{node} uncordoned"),
                &plan::get_unschedulable(config, &node),
                &schedulable,
                120,
            )?;
            self.exec.run(&plan::yurthub_service_active(&node))?;
            self.exec.poll(
                &format!("yurthub healthy on {node}"),
                &plan::yurthub_healthz(&node),
                &Until::Succeeds,
                60,
            )?;
        }
        Ok(())
    }

    /// Loads the local tether image into kind (through an archive under Docker's containerd
    /// image store), applies deploy/ through the overlay and waits for the DaemonSet. With
    /// [`KindConfig::clear_earlier_runs`] (a reused test cluster) it also removes what earlier
    /// runs left: their priority-level squeeze and contention load, their profiles, pods and
    /// Events.
    pub fn install_tether(&mut self) -> Result<(), KindError> {
        self.exec.note(&format!(
            "tether: loading {} and applying deploy/",
            self.config.image
        ));
        let store = self.exec.run(&plan::docker_image_store())?;
        let containerd = store
            .as_deref()
            .is_some_and(plan::is_containerd_image_store);
        if store.is_none() {
            self.exec.note(
                "under Docker's containerd image store the image goes through `docker save --platform` and `kind load image-archive` instead (kind#3795)",
            );
        }
        for cmd in plan::load_image(&self.config, containerd) {
            self.exec.run(&cmd)?;
        }
        self.write(&files::tether_overlay(&self.config)?)?;
        if self.config.clear_earlier_runs {
            self.exec
                .note("reused cluster: removing what earlier runs left behind");
            self.exec.run(&plan::delete_contention(&self.config))?;
            self.exec
                .run(&plan::delete_agent_priority_level(&self.config))?;
        }
        self.exec.run(&plan::apply_tether(&self.config))?;
        self.exec.run(&plan::wait_tether_rollout(&self.config))?;
        if self.config.clear_earlier_runs {
            for cmd in plan::delete_scenario_objects(&self.config) {
                self.exec.run(&cmd)?;
            }
        }
        Ok(())
    }

    /// The demo NetworkProfile and one pod per edge node (hack/up.sh).
    pub fn apply_demo(&mut self) -> Result<(), KindError> {
        self.write(&files::demo(&self.config)?)?;
        self.exec
            .run(&plan::kubectl_apply_file(&self.config, paths::DEMO))?;
        self.exec.run(&plan::wait_pods_ready(
            &self.config,
            testkit::demo::NAMESPACE,
        ))?;
        Ok(())
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
