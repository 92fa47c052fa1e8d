//! [`KindBackend`]: the steps of the kind tier, executing the plan through an [`Executor`].
//! Cluster-wide steps are here; per-node steps in `nodes.rs`, reads in `observe.rs`.

mod nodes;
mod observe;

use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::cmd::Cmd;
use super::config::KindConfig;
use super::error::KindError;
use super::exec::{AnyExecutor, DryRunExecutor, Executor, RealExecutor};
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

impl KindBackend<AnyExecutor> {
    /// Reads `TETHER_E2E_DRY_RUN=1` (print, run nothing) and `TETHER_E2E_REUSE=1` (keep a
    /// running cluster) from the environment.
    pub fn from_env(mut config: KindConfig) -> Result<KindBackend<AnyExecutor>, KindError> {
        let flag = |name: &str| std::env::var(name).is_ok_and(|v| v == "1");
        config.reuse = config.reuse || flag("TETHER_E2E_REUSE");
        // before the dry run writes its transcript: bad input changes nothing
        config.validate()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_waits_for_the_condition_and_times_out_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("ready");
        let test = Cmd::new("test", ["-e", flag.to_str().unwrap()]);
        let writer = {
            let flag = flag.clone();
            std::thread::spawn(move || {
                sleep(Duration::from_millis(1500));
                std::fs::write(flag, "").unwrap();
            })
        };
        poll(&mut RealExecutor, "the flag", &test, 60, |_| true).unwrap();
        writer.join().unwrap();
        assert!(flag.exists());
        let never = Cmd::new("false", Vec::<String>::new());
        match poll(&mut RealExecutor, "never", &never, 1, |_| true) {
            Err(KindError::Timeout { what, seconds }) => {
                assert_eq!((what.as_str(), seconds), ("never", 1))
            }
            other => panic!("{other:?}"),
        }
    }
}
